"""A fax machine's answer tone (sipgw/media/tones/faxtone.py): CED from synthetic tones, with the
ANSam variant's phase reversals, in line noise; not a voicemail beep, not other tones."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from sipgw.app.evaluation.audio import encode
from sipgw.media.tones.faxtone import FaxToneDetected, FaxToneDetector
from tests.toolkit.amdset.channel import mix, noise, tone

FRAME = 0.02


def frames_of(samples: Sequence[float]) -> list[bytes]:
    data = encode([round(s) for s in samples] + [0] * (-len(samples) % 160))
    return [data[i : i + 160] for i in range(0, len(data), 160)]


def silence(seconds: float) -> list[float]:
    return [0.0] * round(seconds * 8000)


def run(samples: Sequence[float]) -> list[FaxToneDetected]:
    detector = FaxToneDetector()
    found = []
    for n, frame in enumerate(frames_of(samples)):
        event = detector.receive_frame(frame, (n + 1) * FRAME)
        if event is not None:
            found.append(event)
    return found


def ansam(seconds: float, dbfs: float) -> list[float]:
    """V.8's ANSam: 2100 Hz, amplitude-modulated at 15 Hz (20 %), its phase reversed every
    450 ms."""
    n = round(seconds * 8000)
    amplitude = 32768.0 * 10 ** (dbfs / 20) * math.sqrt(2)
    return [
        amplitude * (1 + 0.2 * math.sin(2 * math.pi * 15 * i / 8000))
        * math.sin(2 * math.pi * 2100 * i / 8000 + math.pi * ((i // 3600) % 2))
        for i in range(n)
    ]  # fmt: skip


@pytest.mark.parametrize("hz", [2090.0, 2100.0, 2112.0])
def test_ced_is_reported_once_after_a_second(hz: float) -> None:
    found = run(silence(0.4) + tone(hz, 3.0, -20.0) + silence(0.5))
    assert len(found) == 1
    (event,) = found
    assert event.start == pytest.approx(0.4, abs=0.05)
    assert event.at == pytest.approx(1.4, abs=0.05)
    assert event.frequency_hz == pytest.approx(hz, abs=8)


def test_ansam_with_phase_reversals_and_line_noise_is_ced() -> None:
    signal = silence(0.3) + ansam(3.0, -22.0)
    noisy = mix(signal, noise(len(signal), -45.0, random.Random(7)))
    assert len(run(noisy)) == 1


@pytest.mark.parametrize(
    ("hz", "seconds"),
    [(1000.0, 3.0), (1100.0, 3.0), (1400.0, 1.0), (2100.0, 0.6), (440.0, 3.0)],
)
def test_other_tones_and_short_beeps_are_not_ced(hz: float, seconds: float) -> None:
    assert run(silence(0.3) + tone(hz, seconds, -20.0) + silence(1.0)) == []


def test_two_short_bursts_do_not_add_up() -> None:
    burst = tone(2100.0, 0.6, -20.0)
    assert run(burst + silence(0.3) + burst) == []


def test_white_noise_is_not_ced() -> None:
    assert run(noise(8000 * 3, -20.0, random.Random(3))) == []
