"""media/codecs/g711.py: PCMU and PCMA as codecs, on media/g711.py's laws."""

from __future__ import annotations

from sipgw.media import g711
from sipgw.media.codecs import PCMA, PCMU, ULAW_8K

RAMP = b"".join(v.to_bytes(2, "little", signed=True) for v in range(-32000, 32000, 400))


def test_payload_types_and_clock_are_rfc_3551s() -> None:
    assert (PCMU.name, PCMU.payload_type, PCMU.clock_rate) == ("PCMU", 0, 8000)
    assert (PCMA.name, PCMA.payload_type, PCMA.clock_rate) == ("PCMA", 8, 8000)


def test_decode_and_encode_are_the_laws() -> None:
    assert PCMU.encode(RAMP) == g711.linear_to_ulaw(RAMP)
    assert PCMA.encode(RAMP) == g711.linear_to_alaw(RAMP)
    codes = bytes(range(256))
    assert PCMU.decode(codes) == g711.ulaw_to_linear(codes)
    assert PCMA.decode(codes) == g711.alaw_to_linear(codes)


def test_mu_law_is_the_default_agent_format_as_is_and_a_law_translates() -> None:
    assert PCMU.native_format == ULAW_8K and PCMU.to_ulaw is None
    assert PCMA.native_format is None
    codes = bytes(range(256))
    assert PCMA.to_ulaw is not None and PCMA.from_ulaw is not None
    assert codes.translate(PCMA.to_ulaw) == g711.alaw_to_ulaw(codes)
    assert codes.translate(PCMA.from_ulaw) == g711.ulaw_to_alaw(codes)
