"""The simulated phone line: levels, tones, noise colours, packet loss concealed."""

from __future__ import annotations

import math
import random

import pytest

from sipgw.app.evaluation.audio import encode, goertzel_power
from sipgw.media import g711
from tests.toolkit.amdset.channel import mix, noise, rms_dbfs, scale_to, tone, transmit


def test_levels() -> None:
    assert rms_dbfs([]) == -math.inf and rms_dbfs([0, 0]) == -math.inf
    assert rms_dbfs(scale_to([100, -300, 50], -20.0)) == pytest.approx(-20.0)
    assert rms_dbfs(tone(1000, 0.5, -15.0)) == pytest.approx(-15.0, abs=0.2)


def test_a_tone_has_ramps() -> None:
    samples = tone(1000, 0.1, -10.0)
    assert len(samples) == 800
    assert abs(samples[0]) < 1.0 and abs(samples[-1]) < 1.0
    assert max(abs(s) for s in samples[:10]) < max(abs(s) for s in samples[100:110])


def test_room_noise_sits_in_the_telephone_band() -> None:
    rng = random.Random(1)
    room = [round(v) for v in noise(16000, -30.0, rng, room=True)]
    assert rms_dbfs(room) == pytest.approx(-30.0, abs=0.1)

    def band_power(hz: float) -> float:  # averaged over 100 frames: one is too noisy
        return sum(goertzel_power(room[i : i + 160], hz) for i in range(0, 16000, 160))

    rumble, voice, hiss = band_power(100), band_power(800), band_power(3500)
    assert voice > 4 * rumble  # a high-pass at about 300 Hz
    assert voice > 2 * hiss  # and a low-pass at about 1.5 kHz


def test_mix_is_as_long_as_the_longest() -> None:
    assert mix([1.0, 2.0], [1.0]) == [2.0, 2.0]


def test_transmit_loses_and_conceals_packets() -> None:
    samples = tone(440, 10.0, -20.0)
    frames, lost = transmit(samples, random.Random(2), loss=0.05)
    assert len(frames) == 500 and all(len(f) == 160 for f in frames)
    assert 10 <= lost <= 60
    clean, none = transmit(samples, random.Random(2), loss=0.0)
    assert none == 0 and b"".join(clean) == encode([round(v) for v in samples])
    silent = sum(f == g711.silence_frame("PCMU") for f in frames)
    assert silent < lost  # most lost frames were concealed, not silenced
