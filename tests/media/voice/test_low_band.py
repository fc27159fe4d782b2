"""The 100-300 Hz level of a μ-law frame (media/voice/low_band.py), sans-IO."""

from __future__ import annotations

import math

import numpy as np

from sipgw.media import g711
from sipgw.media.voice import low_band
from sipgw.media.voice.low_band import HIGH_HZ, LOW_HZ, SILENT_DBFS, LowBand

RATE = 8000


def tone(hz: float, dbfs: float, seconds: float = 0.4) -> list[bytes]:
    """A sine at ``dbfs`` (RMS, a full-scale square wave 0), as 20 ms μ-law frames."""
    amplitude = 32768.0 * 10 ** (dbfs / 20) * math.sqrt(2)
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = np.round(amplitude * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes()
    ulaw = g711.linear_to_ulaw(pcm)
    return [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]


def settled(frames: list[bytes]) -> float:
    """The last frame's band level, the filter run over the frames before it."""
    band = LowBand()
    levels = [band.level(frame) for frame in frames]
    return levels[-1]


def test_a_150_hz_tone_is_in_the_band_and_a_1_khz_tone_is_not() -> None:
    assert abs(settled(tone(150, -20.0)) - -20.0) < 1.5
    assert settled(tone(1000, -20.0)) < -20.0 - 35.0  # 24 dB an octave over 300 Hz
    assert settled(tone(500, -20.0)) < -20.0 - 15.0
    assert settled(tone(40, -20.0)) < -20.0 - 10.0  # under the high-pass


def test_the_edges_are_3_db_down() -> None:
    for hz in (LOW_HZ, HIGH_HZ):
        assert abs(settled(tone(hz, -20.0)) - -23.0) < 1.0


def test_the_level_follows_the_tones_level() -> None:
    assert abs(settled(tone(200, -40.0)) - settled(tone(200, -20.0)) + 20.0) < 0.5


def test_silence_and_an_empty_frame_are_silent() -> None:
    band = LowBand()
    assert band.level(b"\xff" * 160) == SILENT_DBFS
    assert band.level(b"") == SILENT_DBFS


def test_the_filter_runs_on_across_frames_until_reset() -> None:
    frames = tone(150, -20.0, 0.1)
    band = LowBand()
    levels = [band.level(frame) for frame in frames]
    band.reset()
    # The first frame from rest holds the filter's rise; a frame after others does not.
    assert band.level(frames[-1]) < levels[-1] - 0.5
    # The state carries: two detectors fed the same frames decide the same.
    other = LowBand()
    assert [other.level(frame) for frame in frames] == levels


def test_the_coefficients_are_the_cookbooks() -> None:
    def section(high_pass: bool, hz: float, q: float) -> tuple[float, float, float]:
        w = 2 * math.pi * hz / RATE
        alpha = math.sin(w) / (2 * q)
        b0 = ((1 + math.cos(w)) if high_pass else (1 - math.cos(w))) / 2
        return b0 / (1 + alpha), -2 * math.cos(w) / (1 + alpha), (1 - alpha) / (1 + alpha)

    expected = [
        section(False, HIGH_HZ, 1 / (2 * math.cos(math.pi / 8))),
        section(False, HIGH_HZ, 1 / (2 * math.cos(3 * math.pi / 8))),
        section(True, LOW_HZ, 1 / math.sqrt(2)),
    ]
    found = [
        (low_band._LP1_B0, low_band._LP1_A1, low_band._LP1_A2),  # noqa: SLF001
        (low_band._LP2_B0, low_band._LP2_A1, low_band._LP2_A2),  # noqa: SLF001
        (low_band._HP_B0, low_band._HP_A1, low_band._HP_A2),  # noqa: SLF001
    ]
    for want, got in zip(expected, found, strict=True):
        assert np.allclose(want, got, rtol=1e-12)
