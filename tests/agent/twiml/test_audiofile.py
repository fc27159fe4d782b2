"""<Play> files: WAV (μ-law, A-law, 16-bit PCM at any rate) and raw μ-law; others refused
with what they are."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from sipgw.agent.twiml.audiofile import AudioFileError, decode_audio
from sipgw.media.g711 import alaw_to_ulaw, linear_to_ulaw, ulaw_to_alaw


def pcm_wav(samples: bytes, rate: int = 8000, channels: int = 1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples)
    return out.getvalue()


def g711_wav(code: int, body: bytes) -> bytes:
    fmt = struct.pack("<HHIIHH", code, 1, 8000, 8000, 1, 8)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST\x04\x00\x00\x00abcd"
    chunks += b"data" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


PCM = struct.pack("<4h", 0, 1000, -1000, 8000)


def test_pcm_wav_is_encoded_to_ulaw() -> None:
    assert decode_audio(pcm_wav(PCM)) == linear_to_ulaw(PCM)


def test_pcm_at_16k_is_resampled_to_8k() -> None:
    assert len(decode_audio(pcm_wav(b"\x00\x01" * 1600, rate=16000))) == 800


def test_g711_wavs_and_raw_ulaw() -> None:
    ulaw = linear_to_ulaw(PCM)
    assert decode_audio(g711_wav(7, ulaw)) == ulaw  # chunks other than fmt and data skipped
    alaw = ulaw_to_alaw(ulaw)
    assert decode_audio(g711_wav(6, alaw)) == alaw_to_ulaw(alaw)
    assert decode_audio(ulaw, "audio/basic; rate=8000") == ulaw


@pytest.mark.parametrize(
    ("data", "kind", "says"),
    [
        (b"ID3\x03mp3 data", "audio/mpeg", "audio/mpeg file of 12 bytes"),
        (pcm_wav(PCM * 2, channels=2), "audio/x-wav", "2 channels"),
        (g711_wav(85, b"x"), "audio/x-wav", "format 85"),
        (b"RIFF\x04\x00\x00\x00WAVE", "", "without its fmt"),
    ],
)
def test_other_files_are_refused_saying_what_they_are(data: bytes, kind: str, says: str) -> None:
    with pytest.raises(AudioFileError, match=says):
        decode_audio(data, kind)
