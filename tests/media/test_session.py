"""MediaSession: symmetric RTP with strict latching, codec edges, hold, timeouts."""

from __future__ import annotations

from media import g711
from media.rtp import RtpPacket
from media.session import RELATCH_PACKETS, RELATCH_SILENCE, MediaSession, StreamParams

PEER = ("192.0.2.10", 40000)
NATTED = ("203.0.113.7", 52000)
ATTACKER = ("198.51.100.66", 9999)
TONE = bytes(range(160))


def packet(seq: int, pt: int = 0, payload: bytes = TONE, ssrc: int = 1) -> bytes:
    return RtpPacket(payload_type=pt, sequence_number=seq, timestamp=seq * 160, ssrc=ssrc,
                     payload=payload).serialize()  # fmt: skip


def session(**params: object) -> MediaSession:
    values: dict[str, object] = {"remote": PEER, "telephone_event_pt": 101}
    values.update(params)
    return MediaSession(StreamParams(**values), now=0.0)  # type: ignore[arg-type]


def test_sends_to_sdp_address_until_rtp_arrives_then_latches_source() -> None:
    s = session()
    assert s.remote == PEER and s.latched is None
    s.receive(packet(1), NATTED, 0.1)
    assert s.remote == NATTED and s.latched == NATTED  # symmetric RTP (RFC 4961)


def test_foreign_source_is_dropped_while_latched_source_is_active() -> None:
    s = session()
    s.receive(packet(1), PEER, 0.0)
    for n in range(10):
        s.receive(packet(100 + n, ssrc=9), ATTACKER, 0.02 * n)
        s.receive(packet(2 + n), PEER, 0.02 * n)
    assert s.remote == PEER and s.stats.foreign == 10


def test_new_source_takes_over_after_silence_and_in_sequence_packets() -> None:
    s = session()
    s.receive(packet(1), PEER, 0.0)
    t = RELATCH_SILENCE + 0.1
    for n in range(RELATCH_PACKETS - 1):
        s.receive(packet(50 + n), NATTED, t + 0.02 * n)
        assert s.remote == PEER
    s.receive(packet(50 + RELATCH_PACKETS - 1), NATTED, t + 0.1)
    assert s.remote == NATTED and s.stats.relatches == 1


def test_out_of_sequence_newcomer_does_not_take_over() -> None:
    s = session()
    s.receive(packet(1), PEER, 0.0)
    for n in range(10):
        s.receive(packet(50 + 2 * n), NATTED, RELATCH_SILENCE + 0.1 + 0.02 * n)
    assert s.remote == PEER


def test_unknown_payloads_and_garbage_are_ignored() -> None:
    s = session()
    s.receive(b"\x00" * 5, PEER, 0.0)
    s.receive(packet(1, pt=13), PEER, 0.0)  # comfort noise
    s.receive(b"\x80\xc8" + b"\x00" * 26, PEER, 0.0)  # RTCP SR on the RTP port
    s.receive(b"\x80\xc9\x00\x01" + b"\x00" * 4, PEER, 0.0)  # an empty RR: 8 octets
    stun = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"\x07" * 12  # a STUN Binding request
    s.receive(stun, PEER, 0.0)
    assert s.latched is None and s.stats.invalid == 1 and s.stats.unknown_payload == 1
    assert s.stats.rtcp == 2 and s.stats.stun == 1 and s.stats.packets_in == 5


def test_rfc4733_digit_is_reported_once() -> None:
    s = session()
    for n, (end, duration) in enumerate([(False, 160), (True, 320), (True, 320), (True, 320)]):
        payload = bytes([9, (0x80 if end else 0) | 10]) + duration.to_bytes(2, "big")
        s.receive(RtpPacket(payload_type=101, sequence_number=n, timestamp=999,
                            payload=payload).serialize(), PEER, 0.02 * n)  # fmt: skip
    assert s.digits_pending
    assert s.take_digits() == ["9"] and s.take_digits() == []
    assert not s.digits_pending


def test_pcma_is_converted_for_the_agent_and_back() -> None:
    s = session(codec="PCMA", payload_type=8)
    alaw = g711.ulaw_to_alaw(TONE)
    for n in range(6):
        s.receive(packet(n, pt=8, payload=alaw), PEER, 0.02 * n)
    frames = [s.caller_frame(0.02 * n + 0.1) for n in range(6)]
    assert any(f == g711.alaw_to_ulaw(alaw) for f in frames)
    (out,) = s.packets_for(TONE)
    parsed = RtpPacket.parse(out)
    assert parsed.payload_type == 8 and parsed.payload == alaw


def test_recvonly_sends_nothing_and_hold_suspends_the_rtp_timeout() -> None:
    s = session(send=False)
    before = s.sender.timestamp
    assert s.packets_for(TONE) == []
    assert s.sender.timestamp == (before + 160) % 2**32  # still on wall time
    held = session(receive=False)
    assert held.idle_for(100.0) == 0.0
    active = session()
    assert active.idle_for(100.0) == 100.0


def test_back_from_hold_the_idle_clock_starts_again() -> None:
    s = session(receive=False)  # on hold (a=inactive): no RTP expected
    s.update(StreamParams(remote=PEER), 50.0)  # resumed at t = 50 s
    assert s.idle_for(60.0) == 10.0  # counted from the resume, not from the start
    s.update(StreamParams(remote=PEER), 70.0)  # already receiving: the clock runs on
    assert s.idle_for(80.0) == 30.0


def test_update_keeps_stream_continuity_and_applies_new_address() -> None:
    s = session()
    first = RtpPacket.parse(s.packets_for(None)[0])
    s.receive(packet(1), PEER, 0.0)
    s.update(StreamParams(remote=NATTED, payload_type=0, telephone_event_pt=101), 1.0)
    assert s.remote == NATTED and s.latched is None
    second = RtpPacket.parse(s.packets_for(None)[0])
    assert second.ssrc == first.ssrc
    assert second.sequence_number == (first.sequence_number + 1) & 0xFFFF
    # c=0.0.0.0 (hold) does not redirect our RTP anywhere.
    s.update(StreamParams(remote=("0.0.0.0", 40000), send=False), 2.0)
    assert s.remote == NATTED


def test_early_send_only_at_a_talkspurt_start_with_20_ms_packets() -> None:
    s = session()
    assert s.can_send_early()  # nothing sent yet: silence
    s.packets_for(TONE)
    assert not s.can_send_early()  # talking
    s.packets_for(None)
    assert s.can_send_early()
    s.send_dtmf("1")
    assert not s.can_send_early()  # a DTMF event is playing
    assert not session(ptime_ms=40).can_send_early()
    assert not session(send=False).can_send_early()
