"""SrtpContext: round trips with both SDES suites, drops counted, MKI, lifetime, rekeying."""

from __future__ import annotations

import struct

import pytest

from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams
from sipgw.media.srtp import KEY_LENGTH, SUITES, SrtpContext, SrtpKeying

KEY_A = bytes(range(KEY_LENGTH))
KEY_B = bytes(range(100, 100 + KEY_LENGTH))
TONE = bytes(range(160))


def rtp(seq: int, ssrc: int = 0x1234) -> bytes:
    return RtpPacket(0, seq & 0xFFFF, seq * 160, ssrc, False, TONE).serialize()


def rtcp_rr(ssrc: int = 0x1234) -> bytes:
    # A receiver report with no report blocks (RFC 3550 §6.4.2): V=2, PT=201, length 1.
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


def pair(suite: str, **keying: object) -> tuple[SrtpContext, SrtpContext]:
    """Two ends of one call: alice's outbound key is bob's inbound one and back."""
    a = SrtpKeying(suite, KEY_A, **keying)  # type: ignore[arg-type]
    b = SrtpKeying(suite, KEY_B, **keying)  # type: ignore[arg-type]
    return SrtpContext(outbound=a, inbound=b), SrtpContext(outbound=b, inbound=a)


@pytest.mark.parametrize(("suite", "tag"), [(SUITES[0], 10), (SUITES[1], 4)])
def test_round_trip_both_directions(suite: str, tag: int) -> None:
    alice, bob = pair(suite)
    for seq in range(1, 50):
        sent = alice.protect(rtp(seq))
        assert sent is not None and len(sent) == 172 + tag
        assert sent[12:172] != TONE  # the payload is encrypted
        assert bob.unprotect(sent) == rtp(seq)
        back = bob.protect(rtp(seq, ssrc=77))
        assert back is not None and alice.unprotect(back) == rtp(seq, ssrc=77)
    assert alice.stats.protected == bob.stats.unprotected == 49
    assert alice.stats.dropped == bob.stats.dropped == 0


@pytest.mark.parametrize("suite", SUITES)
def test_rtcp_round_trip(suite: str) -> None:
    alice, bob = pair(suite)
    sent = alice.protect_rtcp(rtcp_rr())
    assert sent is not None and len(sent) == 8 + 4 + 10  # E+index and an 80-bit tag
    assert bob.unprotect_rtcp(sent) == rtcp_rr()
    assert bob.stats.rtcp_unprotected == 1


def test_tampered_packet_is_dropped_and_counted() -> None:
    alice, bob = pair(SUITES[0])
    sent = alice.protect(rtp(1))
    assert sent is not None
    tampered = bytearray(sent)
    tampered[20] ^= 1
    assert bob.unprotect(bytes(tampered)) is None
    assert bob.stats.auth_failed == 1 and bob.stats.dropped == 1
    assert bob.unprotect(sent) == rtp(1)  # the genuine one still passes


def test_wrong_key_and_plain_rtp_are_dropped() -> None:
    alice, _ = pair(SUITES[1])
    stranger = SrtpContext(SrtpKeying(SUITES[1], KEY_B), SrtpKeying(SUITES[1], bytes(30)))
    sent = alice.protect(rtp(1))
    assert sent is not None
    assert stranger.unprotect(sent) is None
    assert stranger.unprotect(rtp(2)) is None  # not SRTP at all
    assert stranger.unprotect(b"\x80") is None  # truncated
    assert stranger.stats.auth_failed + stranger.stats.other_errors == 3


def test_replayed_packet_is_dropped_and_counted() -> None:
    alice, bob = pair(SUITES[0])
    first = alice.protect(rtp(1))
    second = alice.protect(rtp(2))
    assert first is not None and second is not None
    assert bob.unprotect(first) is not None and bob.unprotect(second) is not None
    assert bob.unprotect(first) is None
    assert bob.stats.replayed == 1 and bob.stats.unprotected == 2


def test_mki_is_inserted_before_the_tag_and_checked() -> None:
    alice, bob = pair(SUITES[0], mki=b"\x01\x02")
    sent = alice.protect(rtp(1))
    assert sent is not None and len(sent) == 172 + 2 + 10
    assert sent[172:174] == b"\x01\x02"
    assert bob.unprotect(sent) == rtp(1)
    second = alice.protect(rtp(2))
    assert second is not None
    wrong = bytearray(second)
    wrong[172] = 9
    assert bob.unprotect(bytes(wrong)) is None and bob.stats.auth_failed == 1
    rtcp = alice.protect_rtcp(rtcp_rr())
    assert rtcp is not None and bob.unprotect_rtcp(rtcp) == rtcp_rr()


def test_lifetime_stops_a_key_at_its_limit() -> None:
    alice, bob = pair(SUITES[0], lifetime=3)
    sent = [alice.protect(rtp(n)) for n in range(1, 5)]
    assert sent[3] is None and alice.stats.expired == 1
    assert [bob.unprotect(p or b"") is not None for p in sent[:3]] == [True] * 3


def test_rekey_keeps_an_unchanged_direction() -> None:
    alice, bob = pair(SUITES[0])
    for seq in range(1, 5):
        assert bob.unprotect(alice.protect(rtp(seq)) or b"") is not None
    replay = alice.protect(rtp(5))
    assert replay is not None and bob.unprotect(replay) is not None
    new_key = SrtpKeying(SUITES[0], KEY_B[::-1])
    bob.rekey(outbound=new_key, inbound=bob.inbound)  # only bob's own key changes
    assert bob.unprotect(replay) is None  # same inbound session: replay window kept
    alice.rekey(outbound=alice.outbound, inbound=new_key)
    assert alice.unprotect(bob.protect(rtp(9)) or b"") == rtp(9)


def test_keys_never_in_repr() -> None:
    keying = SrtpKeying(SUITES[0], KEY_A)
    context = SrtpContext(keying, keying)
    for text in (repr(keying), repr(context), str(keying)):
        assert KEY_A.hex() not in text and repr(KEY_A) not in text
    assert "key" not in repr(keying)


@pytest.mark.parametrize(
    ("suite", "key", "mki", "lifetime"),
    [
        ("AES_256_CM_HMAC_SHA1_80", KEY_A, b"", None),
        (SUITES[0], KEY_A[:29], b"", None),
        (SUITES[0], KEY_A, bytes(129), None),
        (SUITES[0], KEY_A, b"", 0),
    ],
)
def test_unusable_keying_is_refused(suite: str, key: bytes, mki: bytes, lifetime: int) -> None:
    with pytest.raises(ValueError):
        SrtpKeying(suite, key, mki, lifetime)


# -- MediaSession with SRTP

PEER = ("192.0.2.10", 40000)
ATTACKER = ("198.51.100.66", 9999)


def srtp_session(ours: SrtpKeying, theirs: SrtpKeying) -> MediaSession:
    return MediaSession(StreamParams(remote=PEER, srtp=(ours, theirs)), now=0.0)


def test_session_unprotects_what_it_receives_and_protects_what_it_sends() -> None:
    ours, theirs = SrtpKeying(SUITES[0], KEY_A), SrtpKeying(SUITES[0], KEY_B)
    session = srtp_session(ours, theirs)
    peer = SrtpContext(outbound=theirs, inbound=ours)
    for seq in range(1, 4):
        session.receive(peer.protect(rtp(seq)) or b"", PEER, 0.02 * seq)
    assert session.latched == PEER and session.srtp is not None
    assert session.srtp.stats.unprotected == 3 and session.jitter.stats.received == 3
    sent = session.packets_for(TONE, 0.1)
    assert len(sent) == 1 and RtpPacket.parse(peer.unprotect(sent[0]) or b"").payload == TONE


def test_session_drops_forged_and_plain_packets_without_latching() -> None:
    ours, theirs = SrtpKeying(SUITES[1], KEY_A), SrtpKeying(SUITES[1], KEY_B)
    session = srtp_session(ours, theirs)
    forger = SrtpContext(outbound=SrtpKeying(SUITES[1], bytes(30)), inbound=ours)
    session.receive(forger.protect(rtp(1)) or b"", ATTACKER, 0.0)
    session.receive(rtp(2), ATTACKER, 0.02)
    assert session.latched is None and session.jitter.stats.received == 0
    assert session.srtp is not None and session.srtp.stats.dropped == 2


def test_session_update_rekeys_and_can_fall_back_to_plain_rtp() -> None:
    ours, theirs = SrtpKeying(SUITES[0], KEY_A), SrtpKeying(SUITES[0], KEY_B)
    session = srtp_session(ours, theirs)
    new_theirs = SrtpKeying(SUITES[0], KEY_B[::-1])
    session.update(StreamParams(remote=PEER, srtp=(ours, new_theirs)), now=1.0)
    peer = SrtpContext(outbound=new_theirs, inbound=ours)
    session.receive(peer.protect(rtp(1)) or b"", PEER, 1.0)
    assert session.srtp is not None and session.srtp.stats.unprotected == 1
    session.update(StreamParams(remote=PEER), now=2.0)
    assert session.srtp is None
    session.receive(rtp(2), PEER, 2.0)
    assert session.jitter.stats.received == 2  # the plain packet was taken
    assert RtpPacket.parse(session.packets_for(TONE, 2.0)[0]).payload == TONE  # sent in the clear
