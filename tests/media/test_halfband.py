"""16 kHz to 8 kHz through the half-band low-pass (media/halfband.py): kept below 3.4 kHz,
nothing folded from above 5 kHz, frames joined without a seam."""

from __future__ import annotations

import math
import struct

import pytest

from sipgw.media import g711
from sipgw.media.halfband import HALF, Decimator


def sine(freq: float, n: int, rate: int = 16000, amplitude: int = 16000) -> bytes:
    return struct.pack(
        f"<{n}h", *(round(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(n))
    )


def rms(pcm: bytes) -> float:
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def through(pcm: bytes, frame: int = 320) -> bytes:
    down = Decimator()
    return b"".join(down.convert(pcm[i : i + 2 * frame]) for i in range(0, len(pcm), 2 * frame))


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_the_band_below_3khz_passes_at_its_level(freq: float) -> None:
    out = through(sine(freq, 3200))
    assert len(out) == 3200
    assert rms(out[4 * HALF :]) == pytest.approx(16000 / math.sqrt(2), rel=0.03)


@pytest.mark.parametrize("freq", [5500.0, 6000.0, 7000.0])
def test_what_lies_above_5khz_is_not_folded_down(freq: float) -> None:
    out = through(sine(freq, 3200))
    assert rms(out[4 * HALF :]) < 16000 / math.sqrt(2) / 100  # 40 dB down at least
    folded, _ = g711.resample(sine(freq, 3200), 16000, 8000, None)  # what ratecv gives
    assert rms(folded) > 16000 / math.sqrt(2) / 2


def test_frames_of_any_even_length_join_as_one_stream() -> None:
    pcm = sine(1234.0, 3200)
    assert through(pcm, 320) == through(pcm, 160) == through(pcm, 3200)


def test_full_scale_saturates_rather_than_wraps() -> None:
    square = struct.pack("<640h", *([32767] * 40 + [-32768] * 40) * 8)
    out = struct.unpack("<320h", through(square))
    assert max(out) <= 32767 and min(out) >= -32768
    assert max(out) > 30000 and min(out) < -30000
