"""Echo paths: what a phone or PBX returns of what it is sent, for tests and benchmarks.

An :class:`EchoPath` is an impulse response at 8 kHz: a first arrival ``delay_ms`` late and
``gain_db`` down, reflections after it (each some ms later and some dB under the first), a
diffuse tail (noise decaying by 60 dB in ``rt60_ms``, starting ``tail_db`` under the first)
and, optionally, a delay that drifts (``drift_ms_per_s``). :meth:`EchoPath.apply` returns a
whole signal's echo; :class:`PhoneEcho` returns it frame by frame, for a phone that mixes
its speaker's echo into what it sends (:class:`sipgw.app.evaluation.phone.Phone`'s ``echo``).

:data:`PATHS` is the labelled set: the speakerphone (about 12 dB down, 120 ms late, several
reflections and a room), the 2-wire hybrid (about 6 dB down, 40 ms late, a few ms of
dispersion) and the loud handset (20-30 dB down, 10-20 ms late). :func:`varied` gives one at
another delay and level.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sipgw.media import g711

__all__ = ["PATHS", "EchoPath", "PhoneEcho", "decode", "encode", "varied"]

RATE = 8000
Samples = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EchoPath:
    """One echo path (module docstring)."""

    name: str
    delay_ms: float
    gain_db: float
    reflections: tuple[tuple[float, float], ...] = ()
    """(ms after the first arrival, dB under it) of each reflection."""
    rt60_ms: float = 0.0
    """The diffuse tail's decay (0: none)."""
    tail_db: float = -20.0
    """The tail's start under the first arrival."""
    drift_ms_per_s: float = 0.0
    """How fast the delay drifts (ms each second of the call)."""
    seed: int = 7

    def response(self) -> Samples:
        """The impulse response after the bulk delay (the first arrival at sample 0)."""
        length = 1 + round(max([r[0] for r in self.reflections] + [0.0]) * RATE / 1000)
        if self.rt60_ms:
            length = max(length, round(self.rt60_ms * RATE / 1000))
        h = np.zeros(length)
        first = 10 ** (self.gain_db / 20)
        h[0] = first
        for ms, db in self.reflections:
            h[round(ms * RATE / 1000)] += first * 10 ** (db / 20)
        if self.rt60_ms:
            n = np.arange(1, length)
            decay = 10 ** (-3 * n / (self.rt60_ms * RATE / 1000))  # -60 dB at rt60
            noise = np.random.default_rng(self.seed).standard_normal(length - 1)
            h[1:] += first * 10 ** (self.tail_db / 20) * decay * noise
        return h

    def delay_at(self, seconds: float) -> float:
        """The bulk delay (ms) ``seconds`` into the call."""
        return self.delay_ms + self.drift_ms_per_s * seconds

    def apply(self, reference: Samples) -> Samples:
        """The echo of ``reference`` (8 kHz samples), as long as it."""
        smeared = np.convolve(reference, self.response())[: len(reference)]
        n = np.arange(len(reference))
        delay = np.round(np.array([self.delay_at(t) for t in n / RATE]) * RATE / 1000)
        source = n - delay.astype(np.int64)
        out = np.zeros(len(reference))
        ok = source >= 0
        out[ok] = smeared[source[ok]]
        return out


def varied(path: EchoPath, delay_ms: float, down_db: float) -> EchoPath:
    """``path`` with its first arrival ``delay_ms`` late and ``down_db`` down."""
    return dataclasses.replace(
        path, name=f"{path.name} {down_db:g} dB {delay_ms:g} ms", delay_ms=delay_ms,
        gain_db=-down_db,
    )  # fmt: skip


PATHS: dict[str, EchoPath] = {
    "speakerphone": EchoPath(
        "speakerphone", 120.0, -12.0, ((25.0, -4.0), (60.0, -8.0), (110.0, -12.0)),
        rt60_ms=400.0, tail_db=-14.0,
    ),
    "hybrid": EchoPath("hybrid", 40.0, -6.0, ((1.25, -6.0), (2.5, -12.0))),
    "handset": EchoPath("handset", 15.0, -25.0, ((3.0, -6.0), (8.0, -10.0))),
}  # fmt: skip


def decode(ulaw: bytes) -> Samples:
    """μ-law to samples."""
    return np.frombuffer(g711.ulaw_to_linear(ulaw), dtype="<i2").astype(np.float64)


def encode(samples: Samples) -> bytes:
    """Samples to μ-law (clipped)."""
    pcm = np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()
    return g711.linear_to_ulaw(pcm)


class PhoneEcho:
    """A phone's speaker-to-microphone path, frame by frame: :meth:`played` each μ-law
    frame it received (its speaker plays them in turn), :meth:`returned` each frame it
    sends (its microphone picks up the speaker's echo with it)."""

    def __init__(self, path: EchoPath, frame: int = 160) -> None:
        self.path = path
        self._h = path.response()
        self._frame = frame
        self._keep = len(self._h) + round(1.2 * RATE)  # the delay may drift up to 1.2 s
        self._speaker = np.zeros(self._keep)
        self._sent = 0  # frames sent: the call's time

    def played(self, ulaw: bytes) -> None:
        """A frame the phone received, played now."""
        self._speaker = np.concatenate([self._speaker, decode(ulaw)])[-self._keep :]

    def returned(self, ulaw: bytes) -> bytes:
        """``ulaw`` with the echo of what the speaker played mixed in."""
        frame = self._frame
        seconds = self._sent * frame / RATE
        self._sent += 1
        delay = round(self.path.delay_at(seconds) * RATE / 1000)
        h = self._h
        end = len(self._speaker) - delay
        start = end - frame - len(h) + 1
        if start < 0:
            return ulaw
        echo = np.convolve(self._speaker[start:end], h, mode="valid")
        return encode(decode(ulaw) + echo)
