"""The echo paths: the first arrival's delay and level, the reflections, the drift."""

from __future__ import annotations

import dataclasses

import numpy as np

from tests.toolkit.echo_paths import PATHS, PhoneEcho, decode, encode, varied


def click(samples: int = 8000, at: int = 800) -> np.ndarray:
    out = np.zeros(samples)
    out[at] = 10000.0
    return out


def test_the_first_arrival_is_late_and_down_by_the_paths_figures() -> None:
    path = varied(PATHS["hybrid"], 40.0, 6.0)
    echo = path.apply(click())
    first = int(np.argmax(np.abs(echo) > 1.0))
    assert first == 800 + 320  # 40 ms at 8 kHz
    assert abs(20 * np.log10(abs(echo[first]) / 10000.0) + 6.0) < 0.1


def test_the_speakerphone_rings_on() -> None:
    echo = PATHS["speakerphone"].apply(click())
    late = echo[800 + 960 + 8 * 150 :]  # 150 ms after the first arrival
    assert np.abs(late).max() > 10.0


def test_a_drifting_delay_grows() -> None:
    path = dataclasses.replace(PATHS["hybrid"], drift_ms_per_s=10.0)
    assert path.delay_at(2.0) == 60.0
    echo = path.apply(click(24000, 16000))  # the click at 2 s: 60 ms late
    assert abs(int(np.argmax(np.abs(echo) > 1.0)) - (16000 + 480)) <= 8  # the delay then


def test_the_phone_returns_what_its_speaker_played() -> None:
    phone = PhoneEcho(varied(PATHS["hybrid"], 40.0, 0.0))
    tone = encode(8000 * np.sin(2 * np.pi * 400 * np.arange(160) / 8000))
    silence = b"\xff" * 160
    returned = []
    for _ in range(10):
        phone.played(tone)
        returned.append(phone.returned(silence))
    assert np.abs(decode(returned[-1])).max() > 4000  # the tone, 40 ms late, as loud
    assert decode(encode(np.zeros(160))).max() == 0
