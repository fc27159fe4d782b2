"""Packet-loss concealment for G.711 by pitch waveform substitution, sans-IO.

In the spirit of ITU-T G.711 Appendix I; written for this project's
frame-at-a-time receive paths (the playout jitter buffer and the listeners'
ingress tap), so it adds no delay:

* **Good audio is only remembered**, as the encoded chunks themselves (one
  slot of a ring per chunk): nothing is decoded until a loss happens.
* **At the start of a loss** the last 48.75 ms of output (390 samples at
  8 kHz) are decoded and the pitch period is estimated by normalized
  cross-correlation of the newest 20 ms against the audio 40..120 samples
  (66..200 Hz) earlier: a coarse search on every other sample, refined at
  full resolution around its peaks; among near-equal peaks the shortest lag
  wins (no octave errors on clean tones).
* **The lost audio is the last pitch period repeated.** The period's last
  quarter is cross-faded into the samples one period earlier, so its end
  flows into its start. G.711 Appendix I delays its output by 3.75 ms to
  overlap-add the same quarter period at the start of the loss; here the
  first synthetic quarter period instead carries the difference between the
  last real sample and the sample the period predicts, fading linearly
  (triangular) to zero, so the join is continuous without the delay.
* **Long losses** repeat more periods: after each 10 ms one more period is
  taken from the history (up to three), entered at the same phase with a
  quarter-period overlap-add, which keeps the substitute from buzzing.
  The first 10 ms are at full level; after that the level falls linearly to
  silence at ``max_samples`` (60 ms by default: 20 % per 10 ms).
* **The first good audio after a loss** is overlap-added with the continued
  substitute over a quarter period plus 4 ms per further 10 ms lost (at most
  10 ms), so it fades in after a long gap instead of clicking.

Audio is G.711 (μ-law or A-law) in and out; the output of a concealed chunk
is decoded, synthesized in 16-bit linear and encoded back. Deterministic: the
same input always gives the same output.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from functools import lru_cache
from operator import mul
from typing import Final

from sipgw.media import g711
from sipgw.media.codecs.base import Codec
from sipgw.media.codecs.g711 import PCMU

__all__ = ["Concealer", "estimate_pitch"]

HISTORY_SAMPLES: Final = 390  # 48.75 ms at 8 kHz: three periods of the lowest pitch plus margin
RECENT: Final = 16  # chunks remembered at most (enough for 390 samples of chunks of 26 or more)
MIN_PITCH: Final = 40  # samples: 200 Hz at 8 kHz
MAX_PITCH: Final = 120  # samples: 66.7 Hz at 8 kHz
CORRELATION_WINDOW: Final = 160  # the newest 20 ms are matched against earlier audio
MAX_PERIODS: Final = 3  # periods repeated at most in a long loss
_PEAK_TOLERANCE: Final = 0.97  # a shorter lag within this fraction of the best peak wins
_BIG_ENDIAN: Final = sys.byteorder == "big"


def _decode(chunk: bytes, codec: Codec) -> list[int]:
    lin = array("h", codec.decode(chunk))
    if _BIG_ENDIAN:
        lin.byteswap()
    return lin.tolist()


def _encode(samples: list[float], codec: Codec) -> bytes:
    try:
        lin = array("h", map(int, samples))
    except OverflowError:
        lin = array(
            "h", [-32768 if s < -32768 else 32767 if s > 32767 else int(s) for s in samples]
        )
    if _BIG_ENDIAN:
        lin.byteswap()
    raw = lin.tobytes()
    return codec.encode(raw)


def _scores(raw: bytes, window: int, lags: Iterable[int]) -> dict[int, float]:
    """Squared normalized cross-correlation of the newest ``window`` samples of ``raw``
    (native 16-bit) with those ``lag`` earlier, per lag; 0 for a negative correlation or
    silence."""
    end = len(raw)
    newest = raw[end - 2 * window :]
    fit = g711.linear_fit
    scores = {}
    for lag in lags:
        stop = end - 2 * lag
        factor, rms = fit(newest, raw[stop - 2 * window : stop])
        # factor > 0 is False for NaN (an all-zero source); factor² rms² = corr² / energy
        scores[lag] = factor * factor * rms * rms if factor > 0.0 else 0.0
    return scores


def estimate_pitch(
    x: list[int],
    min_lag: int = MIN_PITCH,
    max_lag: int = MAX_PITCH,
    window: int = CORRELATION_WINDOW,
) -> int:
    """Return the lag in ``min_lag..max_lag`` that best predicts the newest ``window`` samples.

    The score of a lag is the squared normalized cross-correlation of the
    newest ``window`` samples with the ``window`` samples ``lag`` earlier
    (only positive correlations count; the sums run in C,
    :func:`sipgw.media.g711.linear_fit`). A coarse search scores even lags on the
    signal taken every other sample; each strong coarse peak is refined at
    full resolution (an odd period falls between two coarse lags). Among the
    refined peaks the shortest lag scoring within 3 % of the best wins, so a
    multiple of the period is not taken for it. ``x`` shorter than ``window +
    max_lag`` shrinks the window; silence gives ``max_lag``.
    """
    window = min(window, len(x) - max_lag)
    if window < min_lag:
        return max_lag
    full = array("h", x).tobytes()  # native order, as audioop wants
    half = array("h", x[len(x) % 2 :: 2]).tobytes()  # ends with the newest sample
    lo, hi = (min_lag + 1) // 2, max_lag // 2
    coarse = _scores(half, window // 2, range(lo, hi + 1))
    best = max(coarse.values())
    if best <= 0.0:
        return max_lag
    peaks: list[tuple[int, float]] = []
    for m, score in coarse.items():
        if score < best * 0.5 or score < coarse.get(m - 1, 0.0) or score < coarse.get(m + 1, 0.0):
            continue
        near = _scores(full, window, range(max(min_lag, 2 * m - 1), min(max_lag, 2 * m + 1) + 1))
        peaks.append(max(near.items(), key=_by_score))
    top = max(score for _, score in peaks)
    if top <= 0.0:
        return max_lag
    return min(lag for lag, score in peaks if score >= top * _PEAK_TOLERANCE)


def _by_score(item: tuple[int, float]) -> float:
    return item[1]


@lru_cache(maxsize=8)
def _gains(max_samples: int, fade_from: int, extra: int) -> tuple[float, ...]:
    """Level of the substitute per sample of a loss: 1 until ``fade_from``, then linear to 0."""
    step = 1.0 / max(1, max_samples - fade_from)
    return tuple(
        1.0 if i < fade_from else max(0.0, 1.0 - (i - fade_from) * step)
        for i in range(max_samples + extra)
    )


class Concealer:
    """Remembers the audio of one stream and synthesizes what is missing.

    Call :meth:`played` with every chunk of real audio in order (it returns
    the chunk to pass on: the same object, except just after a loss) and
    :meth:`conceal` for each missing chunk.

    Args:
        codec: the stream's codec (one octet a sample); chunks in and out are in it.
        max_samples: samples synthesized per loss before :meth:`conceal`
            returns ``None`` (the level reaches zero there); 0 disables
            concealment.
        clock_rate: samples per second; the codec's clock rate when None.

    Attributes:
        concealed_samples: samples synthesized so far, over all losses.
    """

    __slots__ = (
        "_codec", "_crossfade", "_fade_from", "_faded", "_gain_table", "_history", "_lost",
        "_max", "_offset", "_ola_extra", "_periods", "_phase", "_pitch", "_recent",
        "_recent_count", "_recent_next", "_region", "_span", "_step10", "concealed_samples",
    )  # fmt: skip

    def __init__(
        self, codec: Codec = PCMU, max_samples: int = 480, clock_rate: int | None = None
    ) -> None:
        if max_samples < 0:
            raise ValueError("max_samples must not be negative")
        if clock_rate is None:
            clock_rate = codec.clock_rate
        self._codec = codec
        self._max = max_samples
        self._step10 = clock_rate // 100  # 10 ms
        self._ola_extra = clock_rate // 250  # 4 ms
        self._fade_from = min(self._step10, max_samples // 2)
        self._gain_table = _gains(max_samples, self._fade_from, self._step10)
        # The last chunks played, a ring of slots (a list and two indices, which compiled
        # are C operations, where a deque's append costs a cold block now and then).
        self._recent: list[bytes] = [b""] * RECENT
        self._recent_next = 0  # the slot the next chunk goes to
        self._recent_count = 0
        # Slots in use: as few as hold the history (4 for 20 ms chunks), so that the chunk
        # a new one replaces was played 80 ms ago, not 320: dropping the reference to a
        # chunk long gone from the CPU's caches was 2 % of the echo gateway's CPU.
        self._span = 1
        self.concealed_samples = 0
        self._reset_loss()

    def _reset_loss(self) -> None:
        self._lost = 0  # samples synthesized in the current loss (0: none)
        self._history: list[int] = []
        self._pitch = 0
        self._periods = 0
        self._region: list[float] = []
        self._phase = 0
        self._offset: list[float] = []
        self._crossfade: list[float] = []
        self._faded = 0

    def reset(self) -> None:
        """Forget the stream (a new one starts: no history, no loss in progress)."""
        self._recent = [b""] * RECENT
        self._recent_next = self._recent_count = 0
        self._span = 1
        self._reset_loss()

    def _remember(self, chunk: bytes) -> None:
        """Keep ``chunk`` as the newest of the recent audio (the oldest in use goes)."""
        size = len(chunk)
        if size and size * (self._span - 1) < HISTORY_SAMPLES and self._span < RECENT:
            self._widen(size)
        slot = self._recent_next
        self._recent[slot] = chunk
        self._recent_next = 0 if slot + 1 == self._span else slot + 1
        if self._recent_count < self._span:
            self._recent_count += 1

    def _widen(self, size: int) -> None:
        """Use enough slots that chunks of ``size`` samples, one more than the history
        takes, fit (chunks may be shorter now and then: a partial frame, a concealment)."""
        span = min(RECENT, -(-HISTORY_SAMPLES // size) + 1)
        if span <= self._span:
            return
        old = self._recent[self._recent_next : self._span] + self._recent[: self._recent_next]
        self._recent = old + [b""] * (RECENT - len(old))
        self._recent_next = len(old) % span
        self._span = span

    def _recent_audio(self) -> bytes:
        """The recent chunks, oldest first, as one (slots not filled yet are empty)."""
        recent, oldest = self._recent, self._recent_next
        return b"".join(recent[oldest : self._span] + recent[:oldest])

    @property
    def in_loss(self) -> bool:
        """Whether the last call was :meth:`conceal` (the next good chunk is joined)."""
        return self._lost > 0

    def played(self, chunk: bytes) -> bytes:
        """Remember real audio; after a loss, fade it in over the substitute.

        Returns:
            ``chunk`` itself, or after a loss a copy whose start is
            overlap-added with the continued substitute.
        """
        if self._lost:
            chunk = self._join(chunk)
        self._remember(chunk)
        return chunk

    def conceal(self, samples: int) -> bytes | None:
        """Return ``samples`` of substitute, or ``None`` once the loss outlasts ``max_samples``.

        The substitute is also remembered as output (it becomes history if
        another loss follows soon).
        """
        if samples <= 0:
            return None
        if self._lost >= self._max:
            if self._lost:  # exhausted: silence, and the next good chunk fades in
                self._remember(self._silence(samples))
            return None
        if not self._lost:
            if not self._recent_count:
                return None
            self._start()
        out = self._synthesize(samples)
        chunk = _encode(out, self._codec)
        self._remember(chunk)
        self.concealed_samples += samples
        return chunk

    # -- internals

    def _silence(self, samples: int) -> bytes:
        return self._codec.silence(samples)

    def _start(self) -> None:
        """Decode the history, find the pitch, and prepare one period to repeat."""
        joined = self._recent_audio()[-HISTORY_SAMPLES:]
        x = _decode(joined, self._codec)
        if len(x) < HISTORY_SAMPLES:
            x = [0] * (HISTORY_SAMPLES - len(x)) + x
        self._history = x
        self._pitch = estimate_pitch(x)
        self._periods = 1
        self._region = self._looped(1)
        self._phase = 0
        # Triangular fade of the offset between the last real sample and the
        # sample the period puts in its place (the region's end).
        quarter = max(1, self._pitch // 4)
        offset = x[-1] - self._region[-1]
        self._offset = [offset * (quarter - k) / (quarter + 1) for k in range(quarter)]
        self._crossfade = []

    def _looped(self, periods: int) -> list[float]:
        """The newest ``periods`` pitch periods, the last quarter faded into the one before."""
        x = self._history
        n = len(x)
        span = periods * self._pitch
        quarter = max(1, self._pitch // 4)
        region: list[float] = list(x[n - span : n - quarter])
        for k in range(quarter):
            w = (k + 1) / (quarter + 1)
            region.append(x[n - quarter + k] * (1.0 - w) + x[n - span - quarter + k] * w)
        return region

    def _grow(self) -> None:
        """Repeat one more period, entered at the same phase, overlap-adding a quarter period."""
        pitch = self._pitch
        quarter = max(1, pitch // 4)
        old, phase = self._region, self._phase
        # The old loop's continuation, faded out while the new one fades in.
        self._crossfade = [old[(phase + k) % len(old)] for k in range(quarter)]
        self._faded = 0
        self._periods += 1
        self._region = self._looped(self._periods)
        self._phase = phase % pitch  # the same phase, in the oldest period now repeated

    def _synthesize(self, samples: int) -> list[float]:
        """The next ``samples`` of substitute: period loop, joins and level.

        Made in stretches that end at the 10 ms marks, where a period is added.
        """
        out: list[float] = []
        lost = self._lost
        step10 = self._step10
        gains = self._gain_table
        while len(out) < samples:
            if lost and lost % step10 == 0 and self._periods < MAX_PERIODS:
                self._grow()
            size = min(samples - len(out), step10 - lost % step10)
            part = self._loop(size)
            if self._crossfade:
                fade, quarter = self._crossfade, len(self._crossfade) + self._faded
                for k in range(min(size, len(fade))):
                    w = (self._faded + 1) / (quarter + 1)
                    part[k] = fade.pop(0) * (1.0 - w) + part[k] * w
                    self._faded += 1
            offset = self._offset
            for k in range(lost, min(lost + size, len(offset))):
                part[k - lost] += offset[k]
            if lost + size > self._fade_from:
                level = gains[lost : lost + size]
                if len(level) < size:
                    level += (0.0,) * (size - len(level))
                part = list(map(mul, part, level))
            out += part
            lost += size
        self._lost = lost
        return out

    def _loop(self, size: int) -> list[float]:
        """The next ``size`` samples of the repeated region, from the current phase."""
        region = self._region
        phase = self._phase
        part: list[float] = []
        while len(part) < size:
            take = region[phase : phase + size - len(part)]
            part += take
            phase = (phase + len(take)) % len(region)
        self._phase = phase
        return part

    def _join(self, chunk: bytes) -> bytes:
        """Overlap-add the start of the first good chunk after a loss with the substitute."""
        lost = self._lost
        quarter = max(1, self._pitch // 4) if self._pitch else self._step10 // 4
        length = quarter + self._ola_extra * ((lost - 1) // self._step10)
        length = min(length, self._step10, len(chunk))
        if self._region:
            substitute = self._synthesize(length)
        else:
            substitute = [0.0] * length  # nothing to go on: fade in from silence
        good = _decode(chunk[:length], self._codec)
        mixed = []
        for k in range(length):
            w = (k + 1) / (length + 1)
            mixed.append(substitute[k] * (1.0 - w) + good[k] * w)
        self._reset_loss()
        return _encode(mixed, self._codec) + chunk[length:]
