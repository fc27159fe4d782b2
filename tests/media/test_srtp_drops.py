"""SRTP drops named and explained: which libsrtp error, what the packet looked like; plain
RTCP (baresip's BYE at hangup) told apart from SRTCP and not counted as an SRTP failure."""

from __future__ import annotations

import struct

import pylibsrtp
import pytest

from sipgw.media.rtcp import build_compound, build_rr, build_sdes
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams
from sipgw.media.srtp import (
    KEY_LENGTH,
    SUITES,
    SrtpContext,
    SrtpKeying,
    describe_packet,
    is_plain_rtcp,
)

KEY_A = bytes(range(KEY_LENGTH))
KEY_B = bytes(range(100, 100 + KEY_LENGTH))
PEER = ("192.0.2.10", 40000)
TONE = bytes(range(160))


def rtp(seq: int, ssrc: int = 0x1234, payload: bytes = TONE) -> bytes:
    return RtpPacket(0, seq & 0xFFFF, seq * 160, ssrc, False, payload).serialize()


def libre_bye(ssrc: int, cname: str) -> bytes:
    """The RTCP BYE libre (baresip's stack) sends when a stream ends: BYE with the
    reason "Adjo", then SDES CNAME (re src/rtp/sess.c, send_bye_packet). baresip
    removes its SRTP hook before that, so it goes out unprotected."""
    reason = b"Adjo"
    body = struct.pack("!IB", ssrc, len(reason)) + reason
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!BBH", 0x81, 203, len(body) // 4) + body + build_sdes(ssrc, cname)


def call(mki: bytes = b"", **params: object) -> tuple[MediaSession, SrtpContext]:
    """Our side of an SRTP call and the peer's context."""
    ours, theirs = SrtpKeying(SUITES[0], KEY_A, mki), SrtpKeying(SUITES[0], KEY_B, mki)
    session = MediaSession(
        StreamParams(remote=PEER, srtp=(ours, theirs), **params),  # type: ignore[arg-type]
        now=0.0,
    )
    return session, SrtpContext(outbound=theirs, inbound=ours)


# The E flag's octet (length - 14) falls in the CNAME text (E clear: libsrtp says
# cant_check) or in the SSRC (E set: libsrtp tries the tag, authentication failure).
BYES = [
    libre_bye(0xDEADBEEF, "caller@127.0.0.1"),
    libre_bye(0xDEADBEEF, "aaaaaaa"),
    libre_bye(0x12345678, "0123456789abcdef@x"),
]


def test_libsrtp_alone_refuses_the_plain_bye_as_cant_check() -> None:
    """Why it used to be an unexplained "other" drop (seen once in CI): no E flag."""
    policy = pylibsrtp.Policy(key=KEY_B, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    with pytest.raises(pylibsrtp.Error, match="unable to perform desired validation"):
        pylibsrtp.Session(policy).unprotect_rtcp(BYES[0])


@pytest.mark.parametrize("bye", BYES)
@pytest.mark.parametrize("mki", [b"", b"\x00\x01"])
def test_plain_rtcp_bye_at_hangup_is_ignored_not_an_srtp_drop(bye: bytes, mki: bytes) -> None:
    session, peer = call(mki)
    session.receive_rtcp(bye, 3.0, PEER)
    srtp = session.srtp
    assert srtp is not None and srtp.stats.plain_rtcp == 1 and srtp.stats.dropped == 0
    assert srtp.stats.last_plain.startswith(f"RTCP {len(bye)} bytes, v2, pt 203, ssrc ")
    assert session.rtcp.reports_received == 0  # never parsed
    genuine = peer.protect_rtcp(build_compound(build_rr(77), 77, "peer"))
    assert genuine is not None
    session.receive_rtcp(genuine, 3.1, PEER)  # the SRTCP state was not touched
    assert srtp.stats.rtcp_unprotected == 1 and session.rtcp.reports_received == 1


def test_plain_rtcp_on_the_rtp_port_with_rtcp_mux_is_ignored_too() -> None:
    session, peer = call(rtcp_mux=True)
    session.receive(peer.protect(rtp(1)) or b"", PEER, 0.0)
    session.receive(BYES[0], PEER, 0.02)
    assert session.srtp is not None and session.srtp.stats.plain_rtcp == 1
    assert session.srtp.stats.dropped == 0 and session.srtp.stats.unprotected == 1


def test_srtcp_whose_e_flag_was_cleared_is_an_other_drop_named_cant_check() -> None:
    session, peer = call()
    genuine = peer.protect_rtcp(build_compound(build_rr(77), 77, "peer"))
    assert genuine is not None
    tampered = bytearray(genuine)
    tampered[-14] &= 0x7F  # the E flag (RFC 3711 §3.4): not plain RTCP, not SRTCP either
    session.receive_rtcp(bytes(tampered), 1.0, PEER)
    stats = session.srtp.stats if session.srtp else None
    assert stats is not None and stats.other_errors == 1 and stats.plain_rtcp == 0
    assert stats.other_kinds == {"cant_check": 1}
    assert stats.last_other == f"cant_check: RTCP {len(genuine)} bytes, v2, pt 201, " + (
        "ssrc 0x0000004d, E 0, index 1"
    )


def test_rtp_shorter_than_its_tag_is_an_other_drop_with_its_headers() -> None:
    session, peer = call()
    session.receive(rtp(5, ssrc=0xCAFE, payload=b"\x01\x02\x03"), PEER, 0.0)  # 15 bytes
    stats = session.srtp.stats if session.srtp else None
    assert stats is not None and stats.other_errors == 1 and stats.dropped == 1
    assert stats.other_kinds == {"parse_err": 1}
    assert stats.last_other == (
        "parse_err: RTP 15 bytes, v2, pt 0, seq 5, ssrc 0x0000cafe, cc 0, x 0"
    )
    assert session.latched is None


def test_plain_rtp_fails_authentication_and_a_new_ssrc_is_fine() -> None:
    session, peer = call()
    session.receive(rtp(1), PEER, 0.0)  # plain RTP cannot be told from SRTP: a bad tag
    session.receive(peer.protect(rtp(2, ssrc=0x1111)) or b"", PEER, 0.02)
    session.receive(peer.protect(rtp(3, ssrc=0x2222)) or b"", PEER, 0.04)  # another SSRC
    stats = session.srtp.stats if session.srtp else None
    assert stats is not None and stats.auth_failed == 1 and stats.other_errors == 0
    assert stats.unprotected == 2


def test_stun_and_empty_datagrams_never_reach_srtp() -> None:
    session, _ = call()
    stun = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + bytes(12)  # RFC 7983: first byte 0..3
    for data in (stun, b"", b"\x00", b"\x80\x00"):
        session.receive(data, PEER, 0.0)
    assert session.stats.stun == 1 and session.stats.invalid == 3
    assert session.srtp is not None and session.srtp.stats.dropped == 0


def test_protect_failure_is_named() -> None:
    ours = SrtpContext(SrtpKeying(SUITES[0], KEY_A), SrtpKeying(SUITES[0], KEY_B))
    assert ours.protect(rtp(7)) is not None
    assert ours.protect(rtp(7)) is None  # the same index twice: libsrtp refuses
    assert ours.stats.other_kinds == {"protect:replay_fail": 1}
    assert ours.stats.last_other.startswith("protect:replay_fail: RTP 172 bytes, v2, pt 0, seq 7")
    assert ours.protect(rtp(8, payload=bytes(1400))) is None  # past pylibsrtp's buffer
    assert ours.stats.other_kinds["protect:too_long"] == 1 and ours.stats.other_errors == 2


def test_is_plain_rtcp() -> None:
    assert all(is_plain_rtcp(bye) for bye in BYES)
    assert is_plain_rtcp(build_rr(1)) and is_plain_rtcp(build_compound(build_rr(1), 1, "x"))
    peer = SrtpContext(SrtpKeying(SUITES[0], KEY_A), SrtpKeying(SUITES[0], KEY_B))
    srtcp = [peer.protect_rtcp(build_compound(build_rr(n), n, "peer")) for n in range(200)]
    assert not any(is_plain_rtcp(packet or b"") for packet in srtcp)
    assert not is_plain_rtcp(BYES[0][:-4]) and not is_plain_rtcp(BYES[0] + bytes(4))
    assert not is_plain_rtcp(rtp(1)) and not is_plain_rtcp(b"")


def test_describe_packet_shows_headers_only() -> None:
    assert describe_packet(b"", rtcp=False) == "RTP 0 bytes"
    assert describe_packet(build_rr(0xAB), rtcp=True) == "RTCP 8 bytes, v2, pt 201, ssrc 0x000000ab"
    text = describe_packet(rtp(9, payload=KEY_A), rtcp=False)
    assert KEY_A.hex() not in text and "seq 9" in text
