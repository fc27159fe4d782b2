"""The phone line between a callee and the gateway: tones, noise, μ-law, lost packets.

Everything here is seeded by the caller's :class:`random.Random`:

* :func:`tone`: a sine with 5 ms raised-cosine ramps (a beep, a SIT segment);
* :func:`noise`: white noise (line hiss) or, with ``room``, noise with more
  energy low in the telephone band (a room, a street: white noise through a
  one-pole high-pass at about 300 Hz and a one-pole low-pass at about 1 kHz,
  as a phone's microphone and codec pass it); or, by ``kind``, pink noise (3 dB
  an octave down: Paul Kellet's filter of white noise, a fan, a crowd far off) or
  brown noise (6 dB an octave: leaky integrated white, traffic, wind), each high-passed
  at about 300 Hz as the line passes it;
* :func:`mix` and :func:`scale_to`: levels in dBFS (RMS, ``20 log10(rms / 32768)``);
* :func:`transmit`: μ-law frames of 20 ms, each packet lost with a probability
  (in bursts: a loss makes the next more likely, as Gilbert's two-state model does)
  and concealed as sipgw's receive path does it for an agent's listeners
  (:class:`sipgw.media.plc.Concealer`, 60 ms at most, then silence).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from sipgw.app.evaluation.audio import encode
from sipgw.media import g711
from sipgw.media.plc import Concealer

__all__ = ["FRAME_SAMPLES", "RATE", "mix", "noise", "rms_dbfs", "scale_to", "tone", "transmit"]

RATE = 8000
FRAME_SAMPLES = 160
_RAMP = 40  # 5 ms


def rms_dbfs(samples: Sequence[float]) -> float:
    """RMS level of ``samples`` in dBFS (``-inf`` for silence)."""
    if not samples:
        return -math.inf
    power = sum(s * s for s in samples) / len(samples)
    return 10.0 * math.log10(power / 32768.0**2) if power > 0 else -math.inf


def scale_to(samples: Sequence[float], dbfs: float) -> list[float]:
    """``samples`` scaled to an RMS level of ``dbfs`` (silence stays silence)."""
    level = rms_dbfs(samples)
    if level == -math.inf:
        return [0.0] * len(samples)
    gain = 10 ** ((dbfs - level) / 20)
    return [s * gain for s in samples]


def tone(hz: float, seconds: float, dbfs: float, phase: float = 0.0) -> list[float]:
    """A sine of RMS level ``dbfs`` with 5 ms raised-cosine ramps at both ends."""
    n = round(seconds * RATE)
    amplitude = 32768.0 * 10 ** (dbfs / 20) * math.sqrt(2)
    w = 2 * math.pi * hz / RATE
    out = []
    for i in range(n):
        ramp = min(1.0, i / _RAMP, (n - 1 - i) / _RAMP)
        gain = 0.5 - 0.5 * math.cos(math.pi * ramp)
        out.append(amplitude * gain * math.sin(w * i + phase))
    return out


def noise(
    count: int, dbfs: float, rng: random.Random, room: bool = False, kind: str = "room"
) -> list[float]:
    """``count`` samples of noise at RMS level ``dbfs``: white, or ``room`` coloured as
    ``kind`` says ("room", "pink", "brown")."""
    raw = [rng.gauss(0.0, 1.0) for _ in range(count)]
    if room and kind in ("pink", "brown"):
        raw = _pink(raw) if kind == "pink" else _brown(raw)
        high, previous = 0.0, 0.0
        for i, v in enumerate(raw):
            high = 0.79 * (high + v - previous)  # high-pass, ~300 Hz
            previous = v
            raw[i] = high
    elif room:
        low, high, previous = 0.0, 0.0, 0.0
        for i, v in enumerate(raw):
            high = 0.79 * (high + v - previous)  # high-pass, ~300 Hz
            previous = v
            low += 0.55 * (high - low)  # low-pass, ~1 kHz
            raw[i] = low
    power = sum(v * v for v in raw) / max(1, count)
    gain = 32768.0 * 10 ** (dbfs / 20) / math.sqrt(power) if power > 0 else 0.0
    return [v * gain for v in raw]


def _pink(white: list[float]) -> list[float]:
    """Paul Kellet's economical pink filter (within 0.5 dB of -3 dB an octave)."""
    b0 = b1 = b2 = 0.0
    out = []
    for w in white:
        b0 = 0.99765 * b0 + w * 0.0990460
        b1 = 0.96300 * b1 + w * 0.2965164
        b2 = 0.57000 * b2 + w * 1.0526913
        out.append(b0 + b1 + b2 + w * 0.1848)
    return out


def _brown(white: list[float]) -> list[float]:
    """Leaky integration of white noise: -6 dB an octave above about 10 Hz."""
    level, out = 0.0, []
    for w in white:
        level = 0.992 * level + w
        out.append(level)
    return out


def mix(*signals: Sequence[float]) -> list[float]:
    """The sum of ``signals``, as long as the longest."""
    out = [0.0] * max((len(s) for s in signals), default=0)
    for signal in signals:
        for i, v in enumerate(signal):
            out[i] += v
    return out


def transmit(
    samples: Sequence[float], rng: random.Random, loss: float = 0.0, burst: float = 0.3
) -> tuple[list[bytes], int]:
    """``samples`` as the 20 ms μ-law frames a listener on sipgw gets; and the frames lost.

    Each packet is lost with probability ``loss`` after a delivered one and
    ``burst`` after a lost one (so the average loss is a little higher than
    ``loss``); a lost frame is concealed from the audio before it.
    """
    clipped = [max(-32768, min(32767, round(v))) for v in samples]
    clipped += [0] * (-len(clipped) % FRAME_SAMPLES)
    ulaw = encode(clipped)
    concealer = Concealer()
    silence = g711.silence_frame("PCMU")
    frames, lost, previous_lost = [], 0, False
    for i in range(0, len(ulaw), FRAME_SAMPLES):
        chance = burst if previous_lost else loss
        previous_lost = loss > 0.0 and rng.random() < chance
        if previous_lost:
            lost += 1
            frames.append(concealer.conceal(FRAME_SAMPLES) or silence)
        else:
            frames.append(concealer.played(ulaw[i : i + FRAME_SAMPLES]))
    return frames, lost
