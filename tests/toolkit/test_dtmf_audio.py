"""The in-band DTMF test audio: tones at the level, frequency and length asked for."""

from __future__ import annotations

import cmath
import math
import wave
from pathlib import Path

import pytest

from tests.toolkit.amdset.speech import Voice
from tests.toolkit.dtmf_audio import (
    _ESPEAK_VOICES,
    dbm0_amplitude,
    key_tones,
    noise,
    talk_off_set,
    write_wav,
)
from tests.toolkit.voice_identity import same_audio


def _amplitude(samples: list[int], freq: float, rate: int = 8000) -> float:
    """The amplitude of ``freq`` in ``samples`` (a DFT bin over all of them)."""
    total = sum(s * cmath.exp(-2j * math.pi * freq * n / rate) for n, s in enumerate(samples))
    return 2 * abs(total) / len(samples)


def test_a_press_is_its_two_tones_at_their_levels_for_its_length() -> None:
    tone = key_tones("5", 100, 0, level_dbm0=-10, twist_db=3, lead_ms=0)
    assert len(tone) == 800
    assert _amplitude(tone, 770) == pytest.approx(dbm0_amplitude(-10), rel=0.02)
    assert _amplitude(tone, 1336) == pytest.approx(dbm0_amplitude(-13), rel=0.02)
    assert _amplitude(tone, 852) < 0.1 * dbm0_amplitude(-10)


def test_frequency_errors_move_the_tones() -> None:
    tone = key_tones("1", 1000, 0, low_error=0.02, lead_ms=0)
    assert _amplitude(tone, 697 * 1.02) > 10 * _amplitude(tone, 697)


def test_presses_pauses_and_lead() -> None:
    samples = key_tones("12", 40, 60, lead_ms=25)
    assert len(samples) == 200 + 2 * (320 + 480)
    assert not any(samples[:200]) and any(samples[200:520]) and not any(samples[520:1000])


def test_noise_is_at_the_snr_asked_for() -> None:
    clean = key_tones("8", 500, 0, lead_ms=0)
    noisy = noise(clean, 15.0)
    signal = sum(s * s for s in clean)
    added = sum((a - b) ** 2 for a, b in zip(noisy, clean, strict=True))
    assert 10 * math.log10(signal / added) == pytest.approx(15.0, abs=0.3)


def test_a_wav_for_a_peer(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "keys.wav", key_tones("9", 50, 50))
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == 8000 and wav.getsampwidth() == 2 and wav.getnframes() == 1200


def test_the_music_of_the_talk_off_set() -> None:
    music = talk_off_set(["music"])
    assert len(music) >= 30 and all(s.group == "music" and s.seconds > 0.3 for s in music)
    assert len({s.name for s in music}) == len(music)
    assert all(max(abs(v) for v in s.samples) > 8000 for s in music)  # loud, not silence


def test_the_talk_off_sets_espeak_voices_are_each_their_own() -> None:
    """By their samples (this espeak-ng ignores the variants of ``en-gb``)."""
    assert same_audio(Voice(name, pitch=pitch) for name, pitch in _ESPEAK_VOICES) == []
