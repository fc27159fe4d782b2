"""Voicemail beeps and special information tones in μ-law frames, sans-IO.

Theory of operation
-------------------
A voicemail system ends its greeting with a *beep*: one steady sine, commonly
400-2000 Hz, lasting 0.1-1.5 s, then silence while it records. FreeSWITCH's
beep detector ``mod_avmd`` looks for a single frequency in 440-2000 Hz, its
predecessor ``mod_vmd`` in 600-1100 Hz; jambonz runs ``mod_avmd`` for its
answering-machine detection. A carrier's "cannot be completed" announcement
may start with a *special information tone* (SIT): three tones rising from
about 950 to 1400 to 1800 Hz (ITU-T: ±50 Hz, 330 ± 70 ms each, at most 30 ms
apart; the North American ones are 913.8/985.2, 1370.6/1428.5 and 1776.7 Hz
of 274 or 380 ms).

Each 20 ms frame is measured on its own (:func:`measure_tone`):

1. *Which frequency would a single sine have?* For a sine in white noise the
   autocorrelations at lags 0, 1 and 2 are ``P + σ²``, ``P cos ω`` and
   ``P cos 2ω``; the last two give the sine's power ``P`` and ``cos ω``
   without the noise's bias (Pisarenko's harmonic decomposition of order one).
   Low frequencies change ``cos ω`` little, so the estimate is refined at the
   lag ``k`` where ``kω`` is nearest a quarter turn: ``r(k) = P cos kω``.
2. *How much of the frame is that sine?* The frame's Hann-windowed Fourier
   coefficient at that frequency (on a 5 Hz grid) against the frame's energy:
   1.0 for a pure sine, about 0.02 for white noise, about 0.9 for a sine 10 dB
   above white noise. Two tones at once (DTMF, a dial tone) put the estimate
   of step 1 between them, where the coefficient is near zero. For a frame
   that is mostly a sine, the frequency is then taken from the windowed
   spectrum's peak (a parabola through three points 10 Hz apart): step 1's
   estimate drifts with the sine's phase in a 20 ms frame by up to 1 % at
   400 Hz, which would look like a glide.

All of it is a few dot products over 160 samples, computed in C
(:func:`sipgw.media.g711.linear_fit`): about ten microseconds per frame.

A frame is *tonal* when that share reaches ``min_share``, its level
``min_level_dbfs`` and its frequency lies in the configured band. Tonal frames
at the same frequency (within ``max_drift``) make a *segment*; a change of
frequency starts a new segment of the same *group*; up to ``max_gap_frames``
non-tonal frames inside a segment are bridged (a lost packet concealed
badly). A group ends after more than ``max_gap_frames`` non-tonal frames, and
is then judged:

* three segments that match the SIT pattern: :class:`SpecialInfoToneDetected`;
* otherwise a *beep candidate* when its longest segment lasts at least
  ``min_seconds`` and is *steady*: three quarters of its frames within
  ``steady_db`` of its loudest (a vowel swells and fades), its second half's
  frequency within ``max_glide`` of its first half's (a voice's pitch glides),
  and on average ``min_mean_share`` of its frames' energy in the sine; and the
  whole group lasts at most ``max_seconds``. It becomes a
  beep (:class:`BeepDetected`) once the ``quiet_after`` seconds after it (the
  tone's last, partial frame aside) have all stayed ``quiet_after_db`` below
  the tone: a machine records in silence after its beep, while a drawn-out
  vowel runs on into more speech.

Speech keeps changing its pitch and spreads its energy over harmonics, so its
frames seldom pass; the few that do (a high voice's steady vowel) are too short
or run on into more speech. The costs are a delay before a beep is reported
(``quiet_after`` plus a frame: 120 ms by default), and tones that really are
beeps by this definition but are no voicemail beep (a 425 Hz ring-back tone
played after the answer, a sustained musical note): see ``docs/amd.md``.

Times: the caller passes, with each frame, the time ``now`` at which its 20 ms
of audio end (a live call: its arrival). Events carry the tone's start and end
on that time line.
"""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, TypeAlias

from sipgw.media import g711

__all__ = [
    "FRAME_SECONDS",
    "BeepConfig",
    "BeepDetected",
    "BeepDetector",
    "BeepEvent",
    "SpecialInfoToneDetected",
    "ToneMeasurement",
    "measure_tone",
]

FRAME_SECONDS: Final = 0.02
RATE: Final = 8000
FRAME_SAMPLES: Final = 160
GRID_HZ: Final = 5.0
"""The reference sines are made on this grid (cached): 5 Hz off costs < 1 % of the share."""
SIT_BANDS = ((900.0, 1000.0), (1350.0, 1450.0), (1750.0, 1850.0))
"""ITU-T special information tone segments: 950, 1400, 1800 Hz, each ± 50 Hz."""
SIT_SEGMENT_SECONDS = (0.2, 0.45)
"""330 ± 70 ms (ITU-T), with a frame of slack either side."""
_BIG_ENDIAN: Final = sys.byteorder == "big"
_MAX_LAG: Final = 12
_REFINE_SHARE: Final = 0.5  # frames this tonal get their frequency from the spectrum's peak
_STEP_HZ: Final = 10.0
_REFERENCE_AMPLITUDE: Final = 16000.0
_HANN: Final = [0.5 - 0.5 * math.cos(2.0 * math.pi * (i + 0.5) / FRAME_SAMPLES) for i in range(160)]
_HANN_SUM: Final = sum(_HANN, 0.0)


@dataclass(frozen=True, slots=True)
class BeepConfig:
    """What counts as a beep.

    Attributes:
        min_hz: lowest beep frequency.
        max_hz: highest beep frequency.
        min_seconds: shortest beep (its longest steady segment).
        max_seconds: longest beep (a longer tone is something else: a dial tone).
        min_share: share of a frame's energy the sine must carry.
        min_level_dbfs: quieter frames are never tonal.
        max_drift: relative frequency change allowed within one segment.
        steady_db: a beep's frames are this close to its loudest one (three quarters of them).
        max_glide: relative frequency change from a beep's first half to its second.
        min_mean_share: the share a beep's frames have on average.
        max_gap_frames: non-tonal frames bridged inside a tone; one more ends it.
        quiet_after: how long the audio right after a beep must stay quiet.
        quiet_after_db: how much quieter than the tone it must be.
    """

    min_hz: float = 400.0
    max_hz: float = 2100.0
    min_seconds: float = 0.1
    max_seconds: float = 1.5
    min_share: float = 0.7
    min_level_dbfs: float = -45.0
    max_drift: float = 0.02
    steady_db: float = 3.0
    max_glide: float = 0.015
    min_mean_share: float = 0.8
    max_gap_frames: int = 2
    quiet_after: float = 0.1
    quiet_after_db: float = 6.0


@dataclass(frozen=True, slots=True)
class ToneMeasurement:
    """One frame, seen as a single sine (:func:`measure_tone`)."""

    frequency_hz: float
    """The sine's frequency (0.0 when the frame is silent)."""
    share: float
    """Part of the frame's energy at that frequency: 1.0 for a pure sine."""
    level_dbfs: float
    """The frame's RMS level."""


@dataclass(frozen=True, slots=True)
class BeepDetected:
    """A beep ended (reported once the ``quiet_after`` after it have been quiet)."""

    start: float
    end: float
    frequency_hz: float
    """Of its longest segment."""
    level_dbfs: float

    @property
    def duration(self) -> float:
        """Seconds from start to end."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class SpecialInfoToneDetected:
    """Three rising tones: a carrier's announcement of a call that cannot be completed."""

    start: float
    end: float
    frequencies: tuple[float, float, float]


BeepEvent: TypeAlias = BeepDetected | SpecialInfoToneDetected
"""Everything :meth:`BeepDetector.receive_frame` reports."""


@lru_cache(maxsize=512)
def _references(hz: float) -> tuple[bytes, bytes, float, float]:
    """Hann-windowed cosine and sine at ``hz`` (native 16-bit) and their energies."""
    w = 2.0 * math.pi * hz / RATE
    cos = array(
        "h", [round(_REFERENCE_AMPLITUDE * h * math.cos(w * i)) for i, h in enumerate(_HANN)]
    )
    sin = array(
        "h", [round(_REFERENCE_AMPLITUDE * h * math.sin(w * i)) for i, h in enumerate(_HANN)]
    )
    return (
        cos.tobytes(),
        sin.tobytes(),
        sum((v * v for v in cos), 0.0),
        sum((v * v for v in sin), 0.0),
    )


def _mean_product(target: bytes, source: bytes) -> float:
    """Mean of target[n] * source[n] (native 16-bit, equal lengths); 0.0 when source is silent."""
    factor, rms = g711.linear_fit(target, source)
    return factor * rms * rms if factor == factor else 0.0  # NaN: an all-zero source


def measure_tone(frame: bytes) -> ToneMeasurement:
    """Measure one μ-law frame (160 bytes) as a single sine: frequency, share, level."""
    lin = g711.ulaw_to_linear(frame)
    if _BIG_ENDIAN:
        swapped = array("h", lin)
        swapped.byteswap()
        lin = swapped.tobytes()
    _, rms = g711.linear_fit(lin, lin)
    r0 = float(rms * rms)
    if r0 <= 0.0:
        return ToneMeasurement(0.0, 0.0, -math.inf)
    level = 20.0 * math.log10(rms / 32768.0)
    r1 = _mean_product(lin[2:], lin[:-2])
    r2 = _mean_product(lin[4:], lin[:-4])
    # Pisarenko: r1 = P cos w, r2 = P (2 cos² w - 1)  =>  P² + r2 P - 2 r1² = 0
    power = (-r2 + math.sqrt(r2 * r2 + 8.0 * r1 * r1)) / 2.0
    if power <= 0.0:
        return ToneMeasurement(0.0, 0.0, level)
    w = math.acos(max(-1.0, min(1.0, r1 / power)))
    lag = round(math.pi / 2.0 / w) if w > 0.0 else 1
    if 2 <= lag <= _MAX_LAG:  # refine: cos kw changes fastest near a quarter turn
        rk = _mean_product(lin[2 * lag :], lin[: -2 * lag])
        w = math.acos(max(-1.0, min(1.0, rk / power))) / lag
    hz = w * RATE / (2.0 * math.pi)
    grid = round(hz / GRID_HZ) * GRID_HZ
    if not _STEP_HZ <= grid <= RATE / 2 - _STEP_HZ:
        return ToneMeasurement(hz, 0.0, level)  # at 0 Hz or 4 kHz: no tone we look for
    centre = _power(lin, grid)
    # A pure sine of amplitude A: |X|² = A² (Σw)² / 4 and r0 = A² / 2, so the share is 1.
    share = 2.0 * centre / (_HANN_SUM * _HANN_SUM * r0)
    if share >= _REFINE_SHARE:
        # The windowed spectrum's peak, by a parabola through its log at three grid points:
        # the autocorrelation estimate drifts with the sine's phase in a 20 ms frame.
        below, above = _power(lin, grid - _STEP_HZ), _power(lin, grid + _STEP_HZ)
        if below > 0.0 and above > 0.0:
            lb, lc, la = math.log(below), math.log(centre), math.log(above)
            curvature = lb - 2.0 * lc + la
            if curvature < 0.0:  # near the peak the log spectrum is a parabola
                offset = 0.5 * (lb - la) / curvature
                hz = grid + _STEP_HZ * max(-2.0, min(2.0, offset))
    return ToneMeasurement(hz, share, level)


def _power(lin: bytes, hz: float) -> float:
    """|X(hz)|² of the Hann-windowed frame (native 16-bit samples)."""
    cos_ref, sin_ref, cos_energy, sin_energy = _references(hz)
    re = g711.linear_fit(lin, cos_ref)[0] * cos_energy / _REFERENCE_AMPLITUDE
    im = g711.linear_fit(lin, sin_ref)[0] * sin_energy / _REFERENCE_AMPLITUDE
    return re * re + im * im


@dataclass(slots=True)
class _Segment:
    start: float
    end: float
    hz: list[float]
    levels: list[float]
    shares: list[float]

    @property
    def frames(self) -> int:
        return len(self.levels)

    @property
    def frequency(self) -> float:
        return sum(self.hz, 0.0) / len(self.hz)

    @property
    def level(self) -> float:
        return sum(self.levels, 0.0) / len(self.levels)

    def steady(self, config: BeepConfig) -> bool:
        """Level, frequency and purity held (see the module docstring)."""
        top = max(self.levels)
        if 4 * sum(level >= top - config.steady_db for level in self.levels) < 3 * len(self.levels):
            return False
        half = len(self.hz) // 2
        first, second = self.hz[:half], self.hz[len(self.hz) - half :]
        if (
            half
            and abs(sum(second, 0.0) - sum(first, 0.0)) > config.max_glide * self.frequency * half
        ):
            return False
        return sum(self.shares, 0.0) >= config.min_mean_share * len(self.shares)


class BeepDetector:
    """Feed every frame in order with :meth:`receive_frame`; it returns the tones that ended.

    Attributes:
        in_tone: the current frame is part of a tone group that has had three tonal
            frames or more (a listener can leave it out of its speech).
        frames: frames received.
    """

    __slots__ = (
        "_candidate", "_config", "_gap", "_group", "_quiet_count", "_quiet_frames", "_segment",
        "frames", "in_tone",
    )  # fmt: skip

    def __init__(self, config: BeepConfig | None = None) -> None:
        self._config = config or BeepConfig()
        self._segment: _Segment | None = None
        self._group: list[_Segment] = []
        self._gap: list[float] = []  # levels of the non-tonal frames since the last tonal one
        self._candidate: BeepDetected | None = None  # a beep waiting for its quiet_after
        self._quiet_count = 0  # quiet frames after it so far (its last, partial frame aside)
        self._quiet_frames = max(1, math.ceil(self._config.quiet_after / FRAME_SECONDS - 1e-9))
        self.in_tone = False
        self.frames = 0

    @property
    def config(self) -> BeepConfig:
        """The thresholds."""
        return self._config

    @property
    def sounding(self) -> float:
        """Seconds of the tone sounding now, one steady segment (level, frequency and purity
        held, as a beep's), or 0.0: a beep before it ends and is confirmed (a long vowel can
        be one too; only the quiet after it, :class:`BeepDetected`, tells them apart)."""
        segment = self._segment
        if segment is None or self._gap or not segment.steady(self._config):
            return 0.0
        return segment.end - segment.start

    def receive_frame(self, frame: bytes | None, now: float) -> tuple[BeepEvent, ...]:
        """Process the 20 ms that end at ``now`` (None: nothing received, as silence)."""
        self.frames += 1
        config = self._config
        tone = measure_tone(frame) if frame else None
        tonal = (
            tone is not None
            and tone.share >= config.min_share
            and tone.level_dbfs >= config.min_level_dbfs
            and config.min_hz <= tone.frequency_hz <= config.max_hz
        )
        level = tone.level_dbfs if tone is not None else -math.inf
        if self._candidate is not None:
            found = self._quiet_after(level)
            if found is not None:
                return (found,)
        if tone is not None and tonal:
            return self._tonal(tone, now)
        if self._segment is None:
            self.in_tone = False
            return ()
        self._gap.append(level)
        if len(self._gap) <= config.max_gap_frames:
            return ()  # bridged: in_tone stays as it was
        self.in_tone = False
        return self._close_group()

    def _quiet_after(self, level: float) -> BeepDetected | None:
        """One more frame after a beep candidate: the beep, once enough of them were quiet."""
        candidate = self._candidate
        assert candidate is not None
        if level > candidate.level_dbfs - self._config.quiet_after_db:
            self._candidate = None  # it ran on into something loud: not a beep
            return None
        self._quiet_count += 1
        if self._quiet_count < self._quiet_frames:
            return None
        self._candidate = None
        return candidate

    def _tonal(self, tone: ToneMeasurement, now: float) -> tuple[BeepEvent, ...]:
        segment = self._segment
        hz = tone.frequency_hz
        if segment is not None and abs(hz - segment.frequency) <= self._config.max_drift * hz:
            segment.end = now
            segment.hz.append(hz)
            segment.levels.append(tone.level_dbfs)
            segment.shares.append(tone.share)
        else:
            if segment is not None:
                self._group.append(segment)
            start = now - FRAME_SECONDS
            segment = self._segment = _Segment(start, now, [hz], [tone.level_dbfs], [tone.share])
        self._gap.clear()
        self.in_tone = segment.frames + sum(s.frames for s in self._group) >= 3
        return ()

    def _close_group(self) -> tuple[BeepEvent, ...]:
        assert self._segment is not None
        group = [*self._group, self._segment]
        gap = self._gap
        self._segment, self._group, self._gap = None, [], []
        sit = _special_info_tone(group)
        if sit is not None:
            return (sit,)
        config = self._config
        longest = max(group, key=lambda s: s.frames)
        duration = group[-1].end - group[0].start
        # Its tonal frames, not its span (bridged gaps are no tone). A tone's first and last
        # frames are partly silence and fall short of min_share: a segment may have a frame
        # and a half fewer than the tone.
        if (longest.frames + 1.5) * FRAME_SECONDS < config.min_seconds - 1e-9:
            return ()
        if not longest.steady(config):
            return ()
        if duration > config.max_seconds + FRAME_SECONDS / 2:
            return ()
        self._candidate = BeepDetected(
            group[0].start, group[-1].end, longest.frequency, longest.level
        )
        self._quiet_count = 0
        for level in gap[1:]:  # the first may still hold the tone's end
            found = self._quiet_after(level)
            if found is not None:
                return (found,)
            if not self._waiting():
                break
        return ()

    def _waiting(self) -> bool:
        """A beep found waits for the quiet after it (read afresh: ``_quiet_after`` may end it)."""
        return self._candidate is not None


def _special_info_tone(group: list[_Segment]) -> SpecialInfoToneDetected | None:
    """The group as a SIT (ITU-T E.180 / North American intercept tones), or None.

    Segments of one or two frames are left out: a frame that holds the end of one
    tone and the start of the next measures as a tone between the two.
    """
    group = [s for s in group if s.frames >= 3]
    if len(group) != 3:
        return None
    low, high = SIT_SEGMENT_SECONDS
    for segment, (min_hz, max_hz) in zip(group, SIT_BANDS, strict=True):
        if not (
            min_hz <= segment.frequency <= max_hz and low <= segment.end - segment.start <= high
        ):
            return None
    frequencies = (group[0].frequency, group[1].frequency, group[2].frequency)
    return SpecialInfoToneDetected(group[0].start, group[2].end, frequencies)
