"""G.711 tables against audioop, for all 256 codes."""

from __future__ import annotations

import math
import warnings

import pytest

from sipgw.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL = bytes(range(256))


def test_silence_codes_decode_to_near_zero() -> None:
    assert audioop.ulaw2lin(bytes([g711.ULAW_SILENCE]), 2) == b"\x00\x00"
    assert (
        abs(int.from_bytes(audioop.alaw2lin(bytes([g711.ALAW_SILENCE]), 2), "little", signed=True))
        == 8
    )


def test_silence_frame_cached() -> None:
    assert g711.silence_frame("PCMU") == b"\xff" * 160
    assert g711.silence_frame("PCMA", 80) == b"\xd5" * 80
    assert g711.silence_frame("pcmu") == b"\xff" * 160
    assert g711.silence_frame("PCMU") is g711.silence_frame("PCMU")
    with pytest.raises(ValueError):
        g711.silence_frame("G729")
    with pytest.raises(ValueError):
        g711.silence_frame("PCMU", -1)


@pytest.mark.parametrize("code", range(256))
def test_transcoding_tables_match_audioop(code: int) -> None:
    b = bytes([code])
    assert g711.ulaw_to_alaw(b) == audioop.lin2alaw(audioop.ulaw2lin(b, 2), 2)
    assert g711.alaw_to_ulaw(b) == audioop.lin2ulaw(audioop.alaw2lin(b, 2), 2)


def test_whole_frames() -> None:
    assert g711.ulaw_to_alaw(ALL) == audioop.lin2alaw(audioop.ulaw2lin(ALL, 2), 2)
    assert g711.alaw_to_ulaw(ALL) == audioop.lin2ulaw(audioop.alaw2lin(ALL, 2), 2)
    assert g711.ulaw_to_alaw(b"\xff" * 160) == b"\xd5" * 160


def test_linear_is_s16le() -> None:
    lin = g711.ulaw_to_linear(b"\x00\xff")  # most negative, zero
    assert int.from_bytes(lin[0:2], "little", signed=True) == -32124
    assert lin[2:] == b"\x00\x00"
    assert g711.linear_to_ulaw(lin) == b"\x00\xff"
    alin = g711.alaw_to_linear(ALL)
    assert g711.linear_to_alaw(alin) == ALL
    assert g711.linear_to_ulaw(g711.ulaw_to_linear(ALL)) == audioop.lin2ulaw(
        audioop.ulaw2lin(ALL, 2), 2
    )


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_attenuate_halves_amplitude(codec: str) -> None:
    decode = g711.ulaw_to_linear if codec == "PCMU" else g711.alaw_to_linear
    encode = g711.linear_to_ulaw if codec == "PCMU" else g711.linear_to_alaw
    loud = encode((12000).to_bytes(2, "little", signed=True) * 160)
    assert g711.attenuate(loud, codec, 0) is loud
    one = int.from_bytes(decode(g711.attenuate(loud, codec, 1))[:2], "little", signed=True)
    two = int.from_bytes(decode(g711.attenuate(loud, codec, 2))[:2], "little", signed=True)
    assert 5500 < one < 6500
    assert 2700 < two < 3300
    level = g711.rms_dbfs(loud, codec)
    assert g711.rms_dbfs(g711.attenuate(loud, codec, 1), codec) == pytest.approx(
        level - 6.0, abs=0.5
    )
    with pytest.raises(ValueError):
        g711.attenuate(loud, codec, -1)


def test_rms_dbfs() -> None:
    assert g711.rms_dbfs(b"") == -math.inf
    assert g711.rms_dbfs(g711.silence_frame("PCMU")) == -math.inf
    full = g711.linear_to_ulaw((32767).to_bytes(2, "little", signed=True) * 160)
    assert g711.rms_dbfs(full) == pytest.approx(-0.1, abs=0.2)
    assert g711.rms_dbfs(g711.silence_frame("PCMA"), "PCMA") < -70


def test_mix_ulaw_sums_and_clips() -> None:
    quiet = g711.linear_to_ulaw((1000).to_bytes(2, "little", signed=True) * 80)
    loud = g711.linear_to_ulaw((30000).to_bytes(2, "little", signed=True) * 80)
    silent = bytes([g711.ULAW_SILENCE]) * 80
    assert g711.mix_ulaw(quiet, silent) == quiet
    both = g711.ulaw_to_linear(g711.mix_ulaw(quiet, quiet))
    assert abs(int.from_bytes(both[:2], "little", signed=True) - 2000) < 100
    clipped = g711.ulaw_to_linear(g711.mix_ulaw(loud, loud))
    assert int.from_bytes(clipped[:2], "little", signed=True) > 30000  # clipped, not wrapped
    with pytest.raises(ValueError, match="80 octets with 79"):
        g711.mix_ulaw(quiet, quiet[:79])
