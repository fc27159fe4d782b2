"""RTP packets (RFC 3550 §5.1) and RTP/RTCP demultiplexing (RFC 5761 §4)."""

from __future__ import annotations

import types

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipgw.media.rtp import RtpPacket, RtpParseError, is_rtcp

# A PCMU packet as a softphone sends it: M=1, PT 0, seq 0x1234, ts 0x56789abc.
SIMPLE = bytes.fromhex("8080123456789abc11223344") + b"\xff" * 160


def test_parse_simple() -> None:
    p = RtpPacket.parse(SIMPLE)
    assert p == RtpPacket(
        payload_type=0,
        sequence_number=0x1234,
        timestamp=0x56789ABC,
        ssrc=0x11223344,
        marker=True,
        payload=b"\xff" * 160,
    )
    assert bytes(p) == SIMPLE
    assert p.serialize() == SIMPLE


def test_parse_all_header_features() -> None:
    data = (
        bytes.fromhex("b208ffffffffffff00000001")  # V=2 P X CC=2, PT 8
        + bytes.fromhex("0000000a0000000b")  # CSRC
        + bytes.fromhex("bede000110ff0000")  # one-byte header extension, 1 word
        + b"\xd5" * 160
        + b"\x00\x00\x03"  # 3 octets of padding
    )
    p = RtpPacket.parse(data)
    assert p.payload_type == 8
    assert not p.marker
    assert p.sequence_number == 0xFFFF
    assert p.timestamp == 0xFFFFFFFF
    assert p.csrc == (10, 11)
    assert p.extension_profile == 0xBEDE
    assert p.extension == bytes.fromhex("10ff0000")
    assert p.payload == b"\xd5" * 160
    assert p.padding_size == 3
    assert p.serialize() == data


def test_empty_extension_and_payload() -> None:
    p = RtpPacket(extension_profile=0x1000)
    data = p.serialize()
    assert data[0] == 0x90
    assert RtpPacket.parse(data) == p


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "RTP packet length is less than 12 bytes"),
        (b"\x80\x00" + bytes(9), "RTP packet length is less than 12 bytes"),
        (b"\x40\x00" + bytes(10), "RTP packet has invalid version"),
        (b"\x00\x00" + bytes(10), "RTP packet has invalid version"),
        (b"\xc0\x00" + bytes(10), "RTP packet has invalid version"),
        (b"\x81\x00" + bytes(10), "RTP packet has truncated CSRC"),
        (b"\x8f\x00" + bytes(10) + bytes(56), "RTP packet has truncated CSRC"),
        (b"\x90\x00" + bytes(10), "RTP packet has truncated extension profile / length"),
        (
            b"\x90\x00" + bytes(10) + b"\xbe\xde",
            "RTP packet has truncated extension profile / length",
        ),
        (
            b"\x90\x00" + bytes(10) + b"\xbe\xde\x00\x02" + bytes(7),
            "RTP packet has truncated extension value",
        ),
        (b"\xa0\x00" + bytes(10), "RTP packet padding length is invalid"),
        (b"\xa0\x00" + bytes(10) + b"\x00", "RTP packet padding length is invalid"),
        (b"\xa0\x00" + bytes(10) + b"\x02", "RTP packet padding length is invalid"),
        (b"\xa1\x00" + bytes(10) + bytes(3) + b"\x04", "RTP packet has truncated CSRC"),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(RtpParseError) as exc_info:
        RtpPacket.parse(data)
    assert str(exc_info.value) == message


def test_padding_may_cover_whole_payload() -> None:
    data = b"\xa0\x00" + bytes(10) + b"\x00\x00\x03"
    p = RtpPacket.parse(data)
    assert p.payload == b""
    assert p.padding_size == 3


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(payload_type=128),
        RtpPacket(sequence_number=65536),
        RtpPacket(timestamp=-1),
        RtpPacket(csrc=tuple(range(16))),
        RtpPacket(csrc=(2**32,)),
        RtpPacket(extension_profile=0x10000),
        RtpPacket(extension_profile=1, extension=b"abc"),
        RtpPacket(padding_size=256),
        RtpPacket(padding_size=-1),
    ],
)
def test_serialize_rejects_out_of_range(packet: RtpPacket) -> None:
    with pytest.raises(ValueError):
        packet.serialize()


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    marker=st.booleans(),
    payload=st.binary(max_size=300),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension_profile=st.none() | st.integers(0, 0xFFFF),
    extension=st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4]),
    padding_size=st.integers(0, 255),
)


@given(packets)
def test_round_trip(packet: RtpPacket) -> None:
    if packet.extension_profile is None:
        packet.extension = b""
    data = packet.serialize()
    assert RtpPacket.parse(data) == packet
    assert bytes(RtpPacket.parse(data)) == data


@given(st.binary(max_size=200))
def test_parse_raises_only_rtp_parse_error(data: bytes) -> None:
    """Either a packet or RtpParseError, never another exception (fuzz invariant)."""
    try:
        packet = RtpPacket.parse(data)
    except RtpParseError:
        return
    assert RtpPacket.parse(packet.serialize()) == packet


@pytest.mark.parametrize("second", range(256))
def test_is_rtcp_second_octet(second: int) -> None:
    assert is_rtcp(bytes((0x80, second)) + bytes(6)) is (192 <= second <= 223)


def test_is_rtcp_real_packets() -> None:
    sender_report = bytes.fromhex("80c80006") + bytes(24)
    receiver_report = bytes.fromhex("81c90007") + bytes(28)
    assert is_rtcp(sender_report)
    assert is_rtcp(receiver_report)
    assert not is_rtcp(SIMPLE)
    assert not is_rtcp(RtpPacket(payload_type=8, marker=True).serialize())
    assert not is_rtcp(RtpPacket(payload_type=101, marker=True).serialize())
    assert not is_rtcp(b"\x80")


def test_a_packet_compares_and_prints_as_its_fields() -> None:
    one = RtpPacket(0, 1, 160, 7, True, b"ab")
    assert one == RtpPacket(0, 1, 160, 7, True, b"ab") and one != RtpPacket(0, 1, 160, 7)
    assert one != (0, 1, 160, 7, True, b"ab")
    assert repr(one) == (
        "RtpPacket(payload_type=0, sequence_number=1, timestamp=160, ssrc=7, marker=True, "
        "payload=b'ab', csrc=(), extension_profile=None, extension=b'', padding_size=0)"
    )
    with pytest.raises(TypeError):
        hash(one)  # mutable: no hash, as a dataclass with eq


def test_built_natively_a_packet_is_made_without_interpreted_code() -> None:
    """One packet is parsed per datagram received: compiled, its constructor must be
    native code (a dataclass's generated ``__init__`` stayed interpreted, a third of the
    parse's cost). On the pure-Python path it is a plain function, as everything is."""
    import sipgw.media.rtp

    compiled = not sipgw.media.rtp.__file__.endswith(".py")
    assert isinstance(RtpPacket.__init__, types.FunctionType) is not compiled
