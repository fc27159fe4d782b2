"""A recording's waveform for the dashboard (sipgw.app.admin.waveform)."""

from __future__ import annotations

import struct
import wave
from collections.abc import Sequence
from pathlib import Path

import pytest

from sipgw.app.admin.waveform import wav_peaks


def write_wav(
    path: Path, frames: Sequence[tuple[int, ...]], rate: int = 8000, width: int = 2
) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(len(frames[0]) if frames else 2)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        if width == 2:
            wav.writeframes(b"".join(struct.pack(f"<{len(f)}h", *f) for f in frames))
        else:
            wav.writeframes(bytes(len(frames) * len(frames[0]) * width))
    return path


def test_peaks_per_channel_caller_left_agent_right(tmp_path: Path) -> None:
    # first half: the caller loud; second half: the agent at half scale, negative
    frames = [(32767, 0)] * 400 + [(0, -16384)] * 400
    peaks = wav_peaks(write_wav(tmp_path / "call.wav", frames), buckets=4)
    assert peaks["seconds"] == 0.1
    assert peaks["channels"]["caller"] == [1.0, 1.0, 0.0, 0.0]
    assert peaks["channels"]["agent"] == [0.0, 0.0, 0.5, 0.5]


def test_fewer_buckets_than_asked_when_the_file_is_short(tmp_path: Path) -> None:
    peaks = wav_peaks(write_wav(tmp_path / "short.wav", [(100, 100)] * 3), buckets=400)
    assert len(peaks["channels"]["caller"]) == 3
    empty = wav_peaks(write_wav(tmp_path / "empty.wav", []), buckets=400)
    assert empty == {"seconds": 0.0, "channels": {"caller": [], "agent": []}}


def test_other_channel_counts_are_named_by_number(tmp_path: Path) -> None:
    peaks = wav_peaks(write_wav(tmp_path / "mono.wav", [(16384,)] * 8), buckets=2)
    assert peaks["channels"] == {"ch0": [0.5, 0.5]}


def test_only_16_bit_pcm_is_read(tmp_path: Path) -> None:
    with pytest.raises(wave.Error, match="16-bit"):
        wav_peaks(write_wav(tmp_path / "8bit.wav", [(0, 0)] * 8, width=1))
