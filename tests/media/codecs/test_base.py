"""media/codecs/base.py and the registry (media/codecs/__init__.py): what a codec declares."""

from __future__ import annotations

import math

import pytest

from sipgw.media import g711
from sipgw.media.codecs import (
    CODECS,
    G722,
    OPUS,
    PCM16_16K,
    PCMA,
    PCMU,
    ULAW_8K,
    AudioFormat,
    Codec,
    codec_named,
)


def test_the_registry_resolves_names_as_an_rtpmap_writes_them() -> None:
    assert list(CODECS) == ["PCMU", "PCMA", "G722", "OPUS"]  # our default preference
    assert codec_named("pcma") is PCMA and codec_named("PCMU") is PCMU
    assert codec_named("g722") is G722 and codec_named("opus") is OPUS
    ours = r"\(we carry PCMU, PCMA, G722, OPUS\)"
    with pytest.raises(ValueError, match=rf"unknown codec 'G729' {ours}"):
        codec_named("G729")


def test_silence_is_the_codecs_own_and_cached() -> None:
    assert PCMU.silence(160) == b"\xff" * 160 and PCMA.silence(80) == b"\xd5" * 80
    assert PCMU.silence(160) is PCMU.silence(160)
    assert PCMU.silence(0) == b""
    with pytest.raises(ValueError):
        PCMU.silence(-1)


def test_frame_size_follows_the_rtp_clock() -> None:
    assert (PCMU.frame_bytes, PCMU.clock_rate, PCMU.sample_rate) == (160, 8000, 8000)
    wide = Codec("L16", None, clock_rate=16000, sample_rate=16000, silence_octet=0)
    assert wide.frame_bytes == 320 and repr(wide) == "<Codec L16/16000>"


def test_a_codec_without_a_decoder_says_which() -> None:
    bare = Codec("X", None, 8000, 8000, 0)
    with pytest.raises(NotImplementedError, match="X has no decoder"):
        bare.decode(b"\x00")
    with pytest.raises(NotImplementedError, match="X has no encoder"):
        bare.encode(b"\x00\x00")


@pytest.mark.parametrize("codec", [PCMU, PCMA])
def test_level_is_the_decoded_audios(codec: Codec) -> None:
    loud = codec.encode((8000).to_bytes(2, "little", signed=True) * 160)
    assert codec.rms_dbfs(loud) == pytest.approx(g711.rms_dbfs(loud, codec.name))
    assert codec.rms_dbfs(loud) == pytest.approx(20 * math.log10(8000 / 32768), abs=0.2)
    assert codec.rms_dbfs(b"") == -math.inf


def test_audio_formats_are_checked_and_sized() -> None:
    assert ULAW_8K.frame_bytes == 160 and PCM16_16K.frame_bytes == 640
    with pytest.raises(ValueError, match="audio encoding 'alaw'"):
        AudioFormat("alaw", 8000)
    with pytest.raises(ValueError, match="ulaw is 8000 Hz, not 16000"):
        AudioFormat("ulaw", 16000)
    with pytest.raises(ValueError, match="sample rate 11025"):
        AudioFormat("pcm_s16le", 11025)
