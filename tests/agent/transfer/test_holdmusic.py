"""Hold music (agent/transfer/holdmusic.py): the operator's file read once, or the built-in
pattern."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from sipgw.agent.transfer.holdmusic import MAX_SECONDS, HoldMusic, load_hold_music, tone_pattern
from sipgw.app.evaluation.audio import write_wav
from sipgw.media import g711


def wav(path: Path, code: int, bits: int, data: bytes, rate: int = 8000, channels: int = 1) -> Path:
    fmt = struct.pack("<HHIIHH", code, channels, rate, rate * bits // 8, bits // 8, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"LIST" + struct.pack("<I", 5) + b"extra\0"  # a chunk to skip, padded
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_the_built_in_pattern_is_soft_music_with_rests() -> None:
    audio = tone_pattern()
    assert len(audio) == pytest.approx(3.6 * 8000, abs=1)
    frames = [audio[i : i + 160] for i in range(0, len(audio) - 159, 160)]
    levels = [g711.rms_dbfs(frame) for frame in frames]
    assert max(levels) < -20 and max(levels) > -30  # about -24 dBFS: soft
    assert sum(level < -60 for level in levels) >= 50  # rests (over a second)


def test_a_mulaw_wav_is_played_as_it_is(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10
    assert load_hold_music(wav(tmp_path / "m.wav", 7, 8, data)) == data[: 2560 - 2560 % 160]


def test_a_16_bit_wav_is_converted_once(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "pcm.wav", [1000 * (n % 8) for n in range(8000)])
    audio = load_hold_music(path)
    assert len(audio) == 8000 and audio == g711.linear_to_ulaw(
        struct.pack("<8000h", *[1000 * (n % 8) for n in range(8000)])
    )


def test_raw_mulaw_and_a_cap_on_length(tmp_path: Path) -> None:
    raw = tmp_path / "music.ul"
    raw.write_bytes(b"\x55" * (MAX_SECONDS * 8000 + 4000))
    assert len(load_hold_music(raw)) == MAX_SECONDS * 8000


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("song.mp3", b"ID3...", "not a WAV file nor raw"),
        ("stereo.wav", None, "hold music must be 8 kHz mono"),
        ("float.wav", "float", "WAV format 3, 32 bits"),
        ("tiny.ul", b"\xff" * 100, "no audio"),
        ("missing.wav", "missing", "cannot read it"),
    ],
)
def test_what_cannot_be_played_is_refused_naming_the_file(
    tmp_path: Path, name: str, content: object, message: str
) -> None:
    path = tmp_path / name
    if content is None:
        wav(path, 1, 16, b"\0" * 640, rate=8000, channels=2)
    elif content == "float":
        wav(path, 3, 32, b"\0" * 640)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as caught:
        load_hold_music(path)
    assert str(path) in str(caught.value)


def test_frames_loop_for_ever() -> None:
    music = HoldMusic(b"".join(bytes([k]) * 160 for k in range(3)))
    assert [next(music)[0] for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert music.played == 7
    with pytest.raises(ValueError):
        HoldMusic(b"\xff" * 100)
