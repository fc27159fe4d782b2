"""Test audio, one module for all of it: tones, G.711 frames, levels, tone detection, WAV files.

Levels use the RMS convention ``dBFS = 20*log10(rms / 32768)``: a full-scale sine is -3.01 dBFS
and sox's ``vol 0.5`` sine is -9.03 dBFS. Every tone comes from :func:`tone_samples`; G.711
goes through :mod:`sipgw.media.g711` (``audioop``). Frames are 20 ms (160 samples at 8 kHz).

* Synthesis: :func:`tone_samples`, :func:`tone_frames` (a phone's "speech"),
  :func:`tone_frame` (one repeating frame), :func:`write_tone`, :func:`write_pattern`.
* One received frame: :func:`tone_share` (Goertzel power of a frequency relative to the
  frame's energy), :func:`dominant_tone` (which of several tones a frame carries).
* A recording: :func:`analyse` / :class:`AudioReport`; a frame is *active* when its RMS is
  above ``active_threshold_dbfs`` (-40 dBFS by default).
"""

from __future__ import annotations

import array
import math
import random
import struct
import sys
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from sipgw.media import g711

__all__ = [
    "FRAME_SAMPLES",
    "RATE",
    "AudioReport",
    "analyse",
    "analyse_samples",
    "decode",
    "dominant_tone",
    "encode",
    "first_audio_after",
    "goertzel_dbfs",
    "goertzel_power",
    "noise_frame",
    "read_wav",
    "rms_dbfs",
    "tone_frame",
    "tone_frames",
    "tone_samples",
    "tone_share",
    "tone_spans",
    "wav_has_begun",
    "wav_is_complete",
    "write_pattern",
    "write_tone",
    "write_wav",
]

RATE = 8000
FULL_SCALE = 32768.0
FRAME_SECONDS = 0.02
FRAME_SAMPLES = 160
FLOOR_DBFS = -120.0

Segment = tuple[float | None, float] | tuple[float | None, float, float]


# --------------------------------------------------------------------------- WAV I/O


class _WavLayout(NamedTuple):
    channels: int
    rate: int
    width: int
    data_at: int
    declared: int  # data size in the header
    available: int  # data bytes actually in the file


def _wav_layout(path: Path) -> _WavLayout:
    """Parse a RIFF/WAVE file's chunks without trusting the data size (recorders patch it last)."""
    raw = path.read_bytes()
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos, fmt = 12, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], int.from_bytes(raw[pos + 4 : pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            tag, channels, rate = struct.unpack_from("<HHI", raw, body)
            bits = struct.unpack_from("<H", raw, body + 14)[0]
            if tag not in (1, 0xFFFE):
                raise ValueError(f"{path}: not PCM (format tag {tag})")
            fmt = (channels, rate, bits // 8)
        elif cid == b"data":
            if fmt is None:
                raise ValueError(f"{path}: data chunk before fmt chunk")
            return _WavLayout(*fmt, body, size, len(raw) - body)
        pos = body + size + (size & 1)
    raise ValueError(f"{path}: no data chunk")


def read_wav(path: str | Path) -> tuple[list[int], int]:
    """Samples of the first channel of a 16-bit PCM WAV, and its sample rate.

    Reads the data actually present, whatever the header claims: a file still being recorded
    (data size 0) or one whose size the recorder got wrong (linphonec counts its header in) reads
    fine.
    """
    path = Path(path)
    lay = _wav_layout(path)
    if lay.width != 2:
        raise ValueError(f"{path}: only 16-bit PCM is supported (sample width {lay.width})")
    size = lay.available if lay.declared in (0, 0xFFFFFFFF) else min(lay.declared, lay.available)
    frame = lay.width * lay.channels
    with path.open("rb") as f:
        f.seek(lay.data_at)
        raw = f.read(size - size % frame)
    data = array.array("h", raw)
    if sys.byteorder == "big":
        data.byteswap()
    return data.tolist()[:: lay.channels], lay.rate


def wav_has_begun(path: str | Path) -> bool:
    """True once a recorder has written a WAV's header (its ``fmt`` and ``data`` chunks): the
    file reads (:func:`read_wav`), if only as no samples so far.

    A recorder creates the file, then writes the header: in between (a moment, longer on a
    loaded machine) the file exists with fewer bytes than a header, and is not a WAV yet.
    """
    try:
        _wav_layout(Path(path))
    except (OSError, ValueError, struct.error):
        return False
    return True


def wav_is_complete(path: str | Path) -> bool:
    """True once a recorder has finished a WAV: its header's data size covers the file's data.

    Also accepts linphonec's final header, whose data size includes the 44-byte header.
    """
    path = Path(path)
    try:
        lay = _wav_layout(path)
        riff = int.from_bytes(path.read_bytes()[4:8], "little")
    except (OSError, ValueError, struct.error):
        return False
    size = lay.data_at + lay.available
    if lay.declared == lay.available and riff == size - 8:
        return True
    return lay.declared > 0 and lay.declared == size  # mediastreamer's off-by-header sizes


def _s16(samples: Iterable[int]) -> array.array[int]:
    """``samples`` as 16-bit ints, clipped. Ints already within 16 bits (all that the
    synthesis here makes) go into the array at once; the rest one by one."""
    given = samples if isinstance(samples, list | array.array) else list(samples)
    try:
        return array.array("h", given)
    except (OverflowError, TypeError):
        return array.array("h", (max(-32768, min(32767, int(s))) for s in given))


def write_wav(path: str | Path, samples: Iterable[int], rate: int = RATE) -> Path:
    """Write mono s16le samples (clipped to 16 bits) as a WAV file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _s16(samples)
    if sys.byteorder == "big":
        data.byteswap()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


# --------------------------------------------------------------------------- synthesis


def _amplitude(dbfs: float) -> float:
    return FULL_SCALE * math.sqrt(2.0) * math.pow(10.0, dbfs / 20.0)


def tone_samples(
    hz: float, seconds: float, dbfs: float = -9.0, rate: int = RATE, phase: float = 0.0
) -> list[int]:
    """A sine of RMS level ``dbfs``, ``round(seconds * rate)`` samples long."""
    amp = _amplitude(dbfs)
    step = 2.0 * math.pi * hz / rate
    n = round(seconds * rate)
    sin = math.sin
    if amp < 32767.5:  # never rounds past 16 bits: no clipping to do
        return [round(amp * sin(phase + step * i)) for i in range(n)]
    return [max(-32768, min(32767, round(amp * sin(phase + step * i)))) for i in range(n)]


def write_tone(
    path: str | Path,
    hz: float,
    seconds: float,
    dbfs: float = -9.0,
    lead_silence: float = 0.0,
    tail_silence: float = 0.0,
) -> Path:
    """Write an 8 kHz mono s16 WAV: silence, a ``hz`` sine of ``seconds`` at ``dbfs``, silence."""
    return write_pattern(path, [(None, lead_silence), (hz, seconds, dbfs), (None, tail_silence)])


def write_pattern(path: str | Path, segments: Sequence[Segment], dbfs: float = -9.0) -> Path:
    """Write consecutive segments ``(hz or None, seconds[, dbfs])``; None is digital silence."""
    out: list[int] = []
    for seg in segments:
        hz, seconds = seg[0], seg[1]
        level = seg[2] if len(seg) == 3 else dbfs
        if hz is None:
            out.extend([0] * round(seconds * RATE))
        else:
            out.extend(tone_samples(hz, seconds, level))
    return write_wav(path, out)


# --------------------------------------------------------------------------- G.711 frames


def encode(samples: Iterable[int], codec: str = "PCMU") -> bytes:
    """G.711-encode s16 samples (clipped to 16 bits); ``codec`` is "PCMU" or "PCMA"."""
    pcm = _s16(samples)
    if sys.byteorder == "big":
        pcm.byteswap()
    data = pcm.tobytes()
    return g711.linear_to_alaw(data) if codec.upper() == "PCMA" else g711.linear_to_ulaw(data)


def decode(data: bytes, codec: str = "PCMU") -> list[int]:
    """G.711-decode to s16 samples."""
    pcm = array.array(
        "h", g711.alaw_to_linear(data) if codec.upper() == "PCMA" else g711.ulaw_to_linear(data)
    )
    if sys.byteorder == "big":
        pcm.byteswap()
    return pcm.tolist()


def tone_frames(
    hz: float, seconds: float, dbfs: float = -15.0, codec: str = "PCMU", phase: float = 0.0
) -> list[bytes]:
    """20 ms G.711 frames of a continuous sine of RMS level ``dbfs`` (``round(seconds / 0.02)``)."""
    count = round(seconds / FRAME_SECONDS)
    data = encode(tone_samples(hz, count * FRAME_SECONDS, dbfs, phase=phase), codec)
    return [data[i : i + FRAME_SAMPLES] for i in range(0, len(data), FRAME_SAMPLES)]


def tone_frame(hz: float, dbfs: float = -15.0, codec: str = "PCMU", phase: float = 0.0) -> bytes:
    """One 20 ms frame; repeated, it is a clean tone when ``hz`` is a multiple of 50 Hz.

    ``phase=math.pi / 2`` gives a cosine, whose first μ-law byte is never silence (0xFF).
    """
    return tone_frames(hz, FRAME_SECONDS, dbfs, codec, phase)[0]


def noise_frame(dbfs: float, rng: random.Random, codec: str = "PCMU") -> bytes:
    """One 20 ms frame of white Gaussian noise of RMS level ``dbfs`` (line hiss, a fan)."""
    sigma = FULL_SCALE * math.pow(10.0, dbfs / 20.0)
    return encode((int(rng.gauss(0.0, sigma)) for _ in range(FRAME_SAMPLES)), codec)


def tone_share(frame: bytes, hz: float, codec: str = "PCMU") -> float:
    """How much of a frame's energy is at ``hz`` (Goertzel, no window), about 0..1."""
    pcm = decode(frame, codec)
    energy = sum(x * x for x in pcm) * len(pcm) / 2
    return goertzel_power(pcm, hz) / energy if energy else 0.0


def dominant_tone(
    frame: bytes, candidates: Iterable[float], share: float = 0.5, codec: str = "PCMU"
) -> float | None:
    """The candidate that carries most of a frame's energy, if it carries over ``share``."""
    shares = {hz: tone_share(frame, hz, codec) for hz in candidates}
    best = max(shares, key=shares.__getitem__, default=None)
    return best if best is not None and shares[best] > share else None


# --------------------------------------------------------------------------- measurements


def rms_dbfs(samples: Sequence[int]) -> float:
    """RMS level in dBFS (floored at -120 for silence or an empty sequence)."""
    if not samples:
        return FLOOR_DBFS
    ms = sum(s * s for s in samples) / len(samples)
    return max(FLOOR_DBFS, 10.0 * math.log10(ms / FULL_SCALE**2)) if ms > 0 else FLOOR_DBFS


def _hann(samples: Sequence[float]) -> list[float]:
    n = len(samples)
    if n < 2:
        return [float(s) for s in samples]
    k = 2.0 * math.pi / (n - 1)
    return [s * (0.5 - 0.5 * math.cos(k * i)) for i, s in enumerate(samples)]


def goertzel_power(samples: Sequence[float], hz: float, rate: int = RATE) -> float:
    """Squared magnitude of the DFT of ``samples`` at ``hz`` (no window applied)."""
    coeff = 2.0 * math.cos(2.0 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return max(0.0, s1 * s1 + s2 * s2 - coeff * s1 * s2)


def goertzel_dbfs(samples: Sequence[int], hz: float, rate: int = RATE) -> float:
    """RMS level (dBFS) of the ``hz`` component, Hann-windowed.

    A pure sine at ``hz`` of level L dBFS reads L (exactly when ``hz`` falls on a DFT bin of the
    block, within 1.5 dB otherwise); other components leak in only within about two bins.
    """
    n = len(samples)
    if n == 0:
        return FLOOR_DBFS
    power = goertzel_power(_hann(samples), hz, rate)
    amplitude = 4.0 * math.sqrt(power) / n  # Hann coherent gain is 0.5
    rms = amplitude / math.sqrt(2.0)
    return max(FLOOR_DBFS, 20.0 * math.log10(rms / FULL_SCALE)) if rms > 0 else FLOOR_DBFS


def _energy_fraction(
    windowed: Sequence[float], hz: float, rate: int, tolerance_hz: float = 0.0
) -> float:
    n = len(windowed)
    if n == 0:
        return 0.0
    total = sum(x * x for x in windowed) * n / 2.0
    if total <= 0:
        return 0.0
    bin_hz = rate / n
    k = 1 + math.ceil(tolerance_hz / bin_hz)
    power = sum(goertzel_power(windowed, hz + d * bin_hz, rate) for d in range(-k, k + 1))
    return min(1.0, power / total)


def _dominant(samples: Sequence[int], rate: int) -> float | None:
    """Strongest frequency: coarse 10 Hz scan of a 0.1 s slice, then 1 Hz around the peak."""
    if len(samples) < rate // 50 or not any(samples):
        return None
    coarse_n = min(len(samples), rate // 10)
    mid = (len(samples) - coarse_n) // 2
    coarse = _hann(samples[mid : mid + coarse_n])
    top = rate / 2 - 50
    grid = [float(f) for f in range(50, int(top) + 1, 10)]
    best = max(grid, key=lambda f: goertzel_power(coarse, f, rate))
    fine = _hann(samples)
    candidates = [best + d for d in range(-12, 13) if 20 <= best + d <= top]
    return float(max(candidates, key=lambda f: goertzel_power(fine, f, rate)))


@dataclass(frozen=True)
class AudioReport:
    """Analysis of one mono recording (see :func:`analyse`)."""

    path: Path | None
    rate: int
    duration: float
    rms_dbfs: float | None  # over the active frames only; None when nothing is active
    active_seconds: float
    dominant_hz: float | None  # of the loudest 0.5 s window
    loudest_window: tuple[float, float]  # (start, end) seconds of that window
    frame_dbfs: tuple[float, ...] = field(repr=False)  # one level per 20 ms frame
    samples: tuple[int, ...] = field(repr=False)
    active_threshold_dbfs: float = -40.0

    def onset(self, threshold_dbfs: float = -30.0) -> float | None:
        """Start time (s) of the first 20 ms frame whose RMS exceeds ``threshold_dbfs``."""
        for i, level in enumerate(self.frame_dbfs):
            if level > threshold_dbfs:
                return round(i * FRAME_SECONDS, 6)
        return None

    def _window(self, start: float | None, length: float) -> Sequence[int]:
        if start is None:
            start = self.loudest_window[0]
            length = self.loudest_window[1] - start
        a = max(0, round(start * self.rate))
        b = min(len(self.samples), a + round(length * self.rate))
        return self.samples[a:b]

    def fraction_at(
        self, hz: float, start: float | None = None, length: float = 0.5, tolerance_hz: float = 0.0
    ) -> float:
        """Share (0..1) of a window's energy within one DFT bin (+tolerance) of ``hz``.

        The window is the loudest 0.5 s unless ``start`` (and ``length``) seconds are given.
        """
        return _energy_fraction(
            _hann(self._window(start, length)), hz, self.rate, tolerance_hz=tolerance_hz
        )

    def level_at(self, hz: float, start: float | None = None, length: float = 0.5) -> float:
        """Level (dBFS) of the ``hz`` component in a window (default: the loudest 0.5 s)."""
        return goertzel_dbfs(self._window(start, length), hz, self.rate)

    def slice(self, start: float, end: float | None = None) -> AudioReport:
        """Analysis of the part from ``start`` to ``end`` seconds."""
        a = max(0, round(start * self.rate))
        b = len(self.samples) if end is None else max(a, round(end * self.rate))
        return analyse_samples(
            self.samples[a:b], self.rate, active_threshold_dbfs=self.active_threshold_dbfs
        )

    def describe(self) -> str:
        """One line for assertion messages."""
        rms = "n/a" if self.rms_dbfs is None else f"{self.rms_dbfs:.2f}dBFS"
        hz = "n/a" if self.dominant_hz is None else f"{self.dominant_hz:.0f}Hz"
        return (
            f"{self.path or '<samples>'}: duration={self.duration:.3f}s "
            f"active={self.active_seconds:.2f}s rms={rms} dominant={hz} onset={self.onset()}"
        )


def analyse_samples(
    samples: Sequence[int],
    rate: int = RATE,
    *,
    path: Path | None = None,
    active_threshold_dbfs: float = -40.0,
) -> AudioReport:
    """Analyse s16 samples; see :class:`AudioReport`."""
    samples = tuple(samples)
    flen = max(1, round(rate * FRAME_SECONDS))
    frames = [samples[i : i + flen] for i in range(0, len(samples), flen)]
    levels = tuple(rms_dbfs(f) for f in frames)
    active = [f for f, lv in zip(frames, levels, strict=True) if lv > active_threshold_dbfs]
    active_samples = [s for f in active for s in f]
    # loudest window of 25 frames (0.5 s), by a sliding sum of frame energies
    energies = [sum(s * s for s in f) for f in frames]
    wframes = min(len(frames), round(0.5 / FRAME_SECONDS))
    best_i, best_e = 0, -1.0
    running = float(sum(energies[:wframes]))
    for i in range(0, max(1, len(frames) - wframes + 1)):
        if i > 0:
            running += energies[i + wframes - 1] - energies[i - 1]
        if running > best_e:
            best_i, best_e = i, running
    wa = best_i * flen
    wb = min(len(samples), wa + wframes * flen)
    dominant = _dominant(samples[wa:wb], rate) if active else None
    return AudioReport(
        path=path,
        rate=rate,
        duration=len(samples) / rate,
        rms_dbfs=rms_dbfs(active_samples) if active else None,
        active_seconds=round(len(active_samples) / rate, 6),
        dominant_hz=dominant,
        loudest_window=(wa / rate, wb / rate),
        frame_dbfs=levels,
        samples=samples,
        active_threshold_dbfs=active_threshold_dbfs,
    )


def analyse(path: str | Path, *, active_threshold_dbfs: float = -40.0) -> AudioReport:
    """Read a 16-bit WAV (first channel) and analyse it."""
    samples, rate = read_wav(path)
    return analyse_samples(
        samples, rate, path=Path(path), active_threshold_dbfs=active_threshold_dbfs
    )


def tone_spans(report: AudioReport, hz: float, step: float = 0.1) -> list[tuple[float, float]]:
    """(start, end) seconds of the recording where ``hz`` dominates (``step`` s windows):
    a window with a 20 ms frame above -40 dBFS whose energy is more than half ``hz``'s."""
    found: list[tuple[float, float]] = []
    start = None
    t = 0.0
    rate, samples, levels = report.rate, report.samples, report.frame_dbfs
    while t + step <= report.duration:
        a, b = round(t * rate), round((t + step) * rate)
        first, last = round(t / FRAME_SECONDS), round((t + step) / FRAME_SECONDS)
        loud = any(level > -40 for level in levels[first:last])
        present = loud and _energy_fraction(_hann(samples[a:b]), hz, rate) > 0.5
        if present and start is None:
            start = t
        elif not present and start is not None:
            found.append((start, t))
            start = None
        t += step
    if start is not None:
        found.append((start, t))
    return found


def first_audio_after(
    report: AudioReport, at: float, threshold_dbfs: float = -40.0
) -> float | None:
    """When the recording is next audible (a 20 ms frame above ``threshold_dbfs``) at or
    after ``at`` seconds; None if it stays quiet to its end."""
    first = max(0, int(at / FRAME_SECONDS))
    for i in range(first, len(report.frame_dbfs)):
        if report.frame_dbfs[i] > threshold_dbfs:
            return max(at, i * FRAME_SECONDS)
    return None
