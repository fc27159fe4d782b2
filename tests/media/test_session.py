"""MediaSession: symmetric RTP with strict latching, codec edges, hold, sending, timeouts."""

from __future__ import annotations

import gc
import math
import struct
import tracemalloc
from typing import Any

from sipgw.media import g711
from sipgw.media.codecs import G722, OPUS, PCM16_16K, PCMA
from sipgw.media.latching import RELATCH_WINDOW
from sipgw.media.liveness import LivenessConfig
from sipgw.media.rtcp import ReportBlock, build_compound, build_rr
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams, deliverable

PEER = ("192.0.2.10", 40000)
NATTED = ("203.0.113.7", 52000)
ATTACKER = ("198.51.100.66", 9999)
TONE = bytes(range(160))


def packet(seq: int, pt: int = 0, payload: bytes = TONE, ssrc: int = 1) -> bytes:
    return RtpPacket(payload_type=pt, sequence_number=seq, timestamp=seq * 160, ssrc=ssrc,
                     payload=payload).serialize()  # fmt: skip


def session(liveness: LivenessConfig | None = None, **params: object) -> MediaSession:
    values: dict[str, object] = {"remote": PEER, "telephone_event_pt": 101}
    values.update(params)
    return MediaSession(StreamParams(**values), now=0.0, liveness=liveness)  # type: ignore[arg-type]


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


def test_another_source_takes_over_only_by_continuing_the_stream() -> None:
    """The caller's NAT mapping changed: same SSRC, the sequence a little further on."""
    s = session()
    s.receive(packet(1), PEER, 0.0)
    s.receive(packet(50, ssrc=2), NATTED, 5.0)  # another stream: even after a silence, no
    s.receive(packet(2 + RELATCH_WINDOW + 1), NATTED, 5.1)  # too far ahead to be ours
    assert s.remote == PEER and s.stats.foreign == 2
    s.receive(packet(5), NATTED, 5.2)  # three packets lost on the way: continues the stream
    assert s.remote == NATTED and s.latch.relatches == 1
    s.receive(packet(3), PEER, 5.3)  # the SDP's address always wins back
    assert s.remote == PEER and s.latch.relatches == 2


def test_a_quiet_caller_keeps_its_media_whatever_a_sprayer_sends() -> None:
    """RTP bleed (issue 21): the caller goes quiet, someone sprays packets at its port."""
    s = session()
    s.receive(packet(1), PEER, 0.0)
    for n in range(200):  # 4 s of in-sequence packets from elsewhere, its own SSRC
        s.receive(packet(1000 + n, ssrc=0xBAD), ATTACKER, 1.0 + 0.02 * n)
    assert s.remote == PEER and s.stats.foreign == 200 and s.latch.relatches == 0


def test_behind_a_nat_the_first_audio_from_elsewhere_latches() -> None:
    """Nothing came from the SDP's address: the caller's RTP comes through its NAT."""
    s = session()
    s.receive(packet(1, pt=101, payload=bytes(4)), NATTED, 0.0)  # not the audio type: no
    assert s.latched is None
    s.receive(packet(2), NATTED, 0.02)
    assert s.latched == NATTED
    s.receive(packet(500, ssrc=0xBAD), ATTACKER, 0.04)  # a second stranger: no
    assert s.latched == NATTED


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
    s = session(codec=PCMA, payload_type=8)
    alaw = g711.ulaw_to_alaw(TONE)
    for n in range(6):
        s.receive(packet(n, pt=8, payload=alaw), PEER, 0.02 * n)
    frames = [s.caller_frame(0.02 * n + 0.1) for n in range(6)]
    assert any(f == g711.alaw_to_ulaw(alaw) for f in frames)
    (out,) = s.packets_for(TONE, 0.2)
    parsed = RtpPacket.parse(out)
    assert parsed.payload_type == 8 and parsed.payload == alaw


def test_the_listeners_tap_of_a_pcma_call_hears_the_agents_format() -> None:
    s = session(codec=PCMA, payload_type=8)
    heard: list[bytes] = []
    s.on_audio = heard.append
    alaw = g711.ulaw_to_alaw(TONE)
    for n in range(3):
        s.receive(packet(n, pt=8, payload=alaw), PEER, 0.02 * n)
    s.poll_ingress(0.2)  # a gap after them: concealed, in μ-law too
    assert heard[:3] == [g711.alaw_to_ulaw(alaw)] * 3 and len(heard) > 3


def test_an_agent_that_declares_16_bit_audio_gets_and_gives_it() -> None:
    s = MediaSession(StreamParams(PEER), now=0.0, agent_format=PCM16_16K)
    heard: list[bytes] = []
    s.on_audio = heard.append
    for n in range(8):
        s.receive(packet(n), PEER, 0.02 * n)
    frames = [f for f in (s.caller_frame(0.02 * n + 0.1) for n in range(8)) if f is not None]
    assert frames and all(len(f) == 640 for f in frames[1:])  # 20 ms of 16 kHz s16le
    assert heard and all(len(f) == 640 for f in heard[1:])
    (out,) = s.packets_for(b"\x00\x00" * 320, 0.3)  # 20 ms of 16 kHz digital silence
    parsed = RtpPacket.parse(out)
    assert parsed.payload_type == 0 and len(parsed.payload) == 160
    assert g711.rms_dbfs(parsed.payload) == float("-inf")


def test_a_g722_call_gives_a_16_khz_agent_its_audio_and_sends_g722() -> None:
    # RFC 3551 §4.5.2: 160 octets a 20 ms packet, timestamps 160 apart (8000 Hz clock).
    encoder = G722.encoder()
    wire = [encoder.encode(g711.ulaw_to_linear(TONE) * 2) for _ in range(8)]
    s = MediaSession(StreamParams(PEER, codec=G722, payload_type=9), now=0.0,
                     agent_format=PCM16_16K)  # fmt: skip
    heard: list[bytes] = []
    s.on_audio = heard.append
    for n in range(8):
        s.receive(packet(n, pt=9, payload=wire[n]), PEER, 0.02 * n)
    frames = [f for f in (s.caller_frame(0.02 * n + 0.1) for n in range(8)) if f is not None]
    assert frames and all(len(f) == 640 for f in frames)
    assert heard and all(len(f) == 640 for f in heard)
    assert max(g711.linear_dbfs(f) for f in frames) > -20  # the tone, decoded
    first, second = s.packets_for(frames[-1], 0.3), s.packets_for(frames[-1], 0.32)
    one, two = RtpPacket.parse(first[0]), RtpPacket.parse(second[0])
    assert (one.payload_type, len(one.payload)) == (9, 160)
    assert (two.timestamp - one.timestamp) % 2**32 == 160


def test_dtmf_works_on_a_g722_call_both_ways() -> None:
    # RFC 4733 telephone-event/8000 shares G.722's 8000 Hz RTP clock (RFC 3551 §4.5.2).
    s = MediaSession(StreamParams(PEER, codec=G722, payload_type=9, telephone_event_pt=101),
                     now=0.0, agent_format=PCM16_16K)  # fmt: skip
    s.receive(packet(0, pt=9, payload=G722.encoder().encode(bytes(640))), PEER, 0.0)
    assert dtmf_both_ways(s, clock_per_frame=160, timestamp=160) == 160


def dtmf_both_ways(s: MediaSession, clock_per_frame: int, timestamp: int) -> int:
    """A "5" received as RFC 4733 events (its end sent three times, §2.5.1.4) is taken; a
    "7" sent goes out as an event. Returns the duration of the first event sent."""
    for n, end in enumerate([False, True, True, True], start=1):
        payload = bytes([5, (0x80 if end else 0) | 10]) + (clock_per_frame * n).to_bytes(2, "big")
        s.receive(RtpPacket(payload_type=101, sequence_number=n, timestamp=timestamp,
                            payload=payload).serialize(), PEER, 0.02 * n)  # fmt: skip
    assert s.take_digits() == ["5"]
    s.send_dtmf("7")
    (out,) = s.packets_for(bytes(640), 0.1)
    sent = RtpPacket.parse(out)
    assert sent.payload_type == 101 and sent.payload[0] == 7
    return int.from_bytes(sent.payload[2:4], "big")


def test_a_g722_call_with_an_8_khz_agent_resamples_both_ways() -> None:
    s = MediaSession(StreamParams(PEER, codec=G722, payload_type=9), now=0.0)
    encoder = G722.encoder()
    for n in range(6):
        s.receive(packet(n, pt=9, payload=encoder.encode(bytes(640))), PEER, 0.02 * n)
    frames = [f for f in (s.caller_frame(0.02 * n + 0.1) for n in range(6)) if f is not None]
    assert frames and all(len(f) == 160 for f in frames)  # μ-law 8 kHz
    (out,) = s.packets_for(TONE, 0.3)
    assert len(RtpPacket.parse(out).payload) == 160


def test_recvonly_sends_nothing_and_hold_suspends_the_rtp_timeout() -> None:
    s = session(send=False)
    before = s.sender.timestamp
    assert s.packets_for(TONE, 0.0) == []
    assert s.sender.timestamp == (before + 160) % 2**32  # still on wall time
    held = session(send=False, receive=False)  # a=inactive: nothing flows either way
    assert held.idle_for(100.0) == 0.0
    active = session()
    assert active.idle_for(100.0) == 100.0


def test_back_from_hold_the_idle_clock_starts_again() -> None:
    s = session(send=False, receive=False)  # on hold (a=inactive): no RTP expected
    s.update(StreamParams(remote=PEER), 50.0)  # resumed at t = 50 s
    assert s.idle_for(60.0) == 10.0  # counted from the resume, not from the start
    s.update(StreamParams(remote=PEER), 70.0)  # already receiving: the clock runs on
    assert s.idle_for(80.0) == 30.0


def test_a_gap_after_a_resume_is_not_concealed_from_the_hold_music() -> None:
    """Seen on the wire from SIPp (tests/interop/test_hold_music_sipp.py): the music's last
    packet, the resume 25 ms later, then silence whose timestamps jumped 24 ms (the sender
    re-anchored them on its new file). Concealed, that gap was 40 ms of fading music heard
    after the resume: a barge-in and a turn from nobody."""
    s = session(send=False)  # the caller holds the call (we are recvonly) and plays music
    heard: list[bytes] = []
    s.on_audio = heard.append
    pcm = [round(8000 * math.sin(2 * math.pi * 523.25 * i / 8000)) for i in range(160)]
    music = g711.linear_to_ulaw(struct.pack("<160h", *pcm))  # a note at -12 dBFS
    for n in range(10):
        s.receive(packet(n, payload=music), PEER, 0.02 * n)
    s.update(StreamParams(remote=PEER, telephone_event_pt=101), 0.205)  # resumed
    resumed = len(heard)
    silence = RtpPacket(payload_type=0, sequence_number=10, timestamp=10 * 160 + 192, ssrc=1,
                        payload=g711.silence_frame("PCMU")).serialize()  # fmt: skip
    s.receive(silence, PEER, 0.217)
    for tick in range(1, 8):
        s.poll_ingress(0.217 + 0.02 * tick)
    after = heard[resumed:]
    assert after and max(g711.rms_dbfs(f) for f in after) == float("-inf")


def test_update_keeps_stream_continuity_and_applies_new_address() -> None:
    s = session()
    first = RtpPacket.parse(s.packets_for(None, 0.0)[0])
    s.receive(packet(1), PEER, 0.0)
    s.update(StreamParams(remote=NATTED, payload_type=0, telephone_event_pt=101), 1.0)
    assert s.remote == NATTED and s.latched is None
    second = RtpPacket.parse(s.packets_for(None, 1.0)[0])
    assert second.ssrc == first.ssrc
    assert second.sequence_number == (first.sequence_number + 1) & 0xFFFF
    # c=0.0.0.0 (hold) does not redirect our RTP anywhere.
    s.update(StreamParams(remote=("0.0.0.0", 40000), send=False), 2.0)
    assert s.remote == NATTED


def test_early_send_only_at_a_talkspurt_start_with_20_ms_packets() -> None:
    s = session()
    assert s.can_send_early(0.0)  # nothing sent yet: silence
    s.packets_for(TONE, 0.0)
    assert not s.can_send_early(0.02)  # talking
    assert s.can_send_early(0.02, continuing=True)  # real-time audio that had run out
    s.packets_for(None, 0.02)
    assert s.can_send_early(0.04)
    s.send_dtmf("1")
    assert not s.can_send_early(0.06)  # a DTMF event is playing
    assert not s.can_send_early(0.06, continuing=True)
    assert not session(ptime_ms=40).can_send_early(0.0)
    assert not session(send=False).can_send_early(0.0)


def report_about(s: MediaSession) -> bytes:
    """An RTCP RR from the peer (SSRC 1) with a report block about our stream."""
    block = ReportBlock(s.sender.ssrc, 0, 0, 1, 8, 0, 0)
    return build_compound(build_rr(1, (block,)), 1, "peer")


def test_nothing_is_sent_before_the_dialog_is_confirmed() -> None:
    s = MediaSession(StreamParams(remote=PEER), now=0.0, confirmed=False)
    assert s.packets_for(None, 0.0) == [] and s.rtcp_report(10.0) is None
    assert not s.may_send(0.5) and not s.can_send_early(0.5)
    s.confirm(1.0)  # the ACK
    assert len(s.packets_for(None, 1.0)) == 1
    assert s.liveness.withheld == 1


def test_sending_pauses_while_the_peer_is_silent_and_resumes_when_it_is_back() -> None:
    s = session(liveness=LivenessConfig(pause_after=8.0, first_sign=2.0))
    assert s.packets_for(None, 1.9)  # the first sign's grace since the start
    assert s.packets_for(None, 2.0) == [] and s.liveness.paused and s.liveness.pauses == 1
    assert not s.can_send_early(2.5) and s.rtcp_report(20.0) is None
    s.receive(packet(1), PEER, 3.0)  # the peer is there
    assert s.packets_for(None, 3.0) and not s.liveness.paused
    assert s.packets_for(None, 10.9) and s.packets_for(None, 11.0) == []  # then pause_after
    assert s.liveness.pauses == 2 and s.idle_for(11.0) == 8.0


def test_a_peer_that_never_sends_gets_the_first_signs_grace_only() -> None:
    """Issue 21 (audit): an INVITE and its ACK (about 1 KB) from someone who never sends
    drew 401 packets (8 s, about 69 KB) at the SDP's address; now 100 (2 s)."""
    s = session(liveness=LivenessConfig(pause_after=8.0, first_sign=2.0))
    sent = sum(len(s.packets_for(None, tick * 0.02)) for tick in range(1500))  # 30 s
    assert sent == 100 and s.liveness.pauses == 1
    listener = session(liveness=LivenessConfig(pause_after=8.0, first_sign=2.0), receive=False)
    sent = sum(len(listener.packets_for(None, tick * 0.02)) for tick in range(1500))
    assert sent == 400  # a=recvonly: its first sign is an RTCP report, due within 7.5 s
    never = session(liveness=LivenessConfig(pause_after=0, first_sign=2.0))
    assert never.packets_for(None, 100.0)  # 0: never pause, first sign included


def test_a_new_address_must_show_itself_and_hold_is_no_sign() -> None:
    """A re-INVITE moving the media to another address gives that one the first sign's
    grace, not the call's; a call that was inactive (a=inactive, c=anything) has shown
    nothing by being so."""
    s = session(liveness=LivenessConfig(pause_after=8.0, first_sign=2.0))
    s.receive(packet(1), PEER, 0.0)
    moved = StreamParams(remote=("198.51.100.9", 5004), telephone_event_pt=101)
    s.update(moved, 1.0)
    assert s.packets_for(None, 2.9) and s.packets_for(None, 3.0) == []
    inactive = session(
        liveness=LivenessConfig(pause_after=8.0, first_sign=2.0), send=False, receive=False
    )
    for t in range(10):
        assert inactive.idle_for(float(t)) == 0.0  # no RTP timeout while nothing flows
    inactive.update(StreamParams(remote=PEER, telephone_event_pt=101), 10.0)  # resumed
    assert inactive.packets_for(None, 11.9) and inactive.packets_for(None, 12.0) == []


def test_a_listen_only_peer_is_kept_alive_by_rtcp_about_our_stream() -> None:
    """a=recvonly sends no RTP: its receiver reports on our SSRC show it is there."""
    s = session(receive=False)  # the peer offered recvonly: we send, it listens
    for t in (5.0, 11.0, 17.0):
        assert s.receive_rtcp(report_about(s), t, (PEER[0], PEER[1] + 1))
    assert s.packets_for(None, 24.5) and s.idle_for(24.5) == 7.5
    assert s.idle_for(47.0) == 30.0  # quiet since 17 s: the RTP timeout applies, recvonly or not


def test_rtcp_that_proves_nothing_keeps_nothing_alive() -> None:
    s = session()
    stranger = ("198.51.100.66", 40001)
    assert not s.receive_rtcp(report_about(s), 5.0, stranger)  # another host: not taken
    assert s.receive_rtcp(build_compound(build_rr(1), 1, "peer"), 6.0, (PEER[0], 40001))
    assert s.idle_for(8.0) == 8.0 and s.packets_for(None, 8.0) == []  # no block about us
    assert s.stats.foreign == 1 and s.stats.rtcp == 1


def test_on_hold_any_report_from_the_peer_counts() -> None:
    s = session(send=False)  # we send nothing: a report cannot be about us, nor aimed anywhere
    s.receive_rtcp(build_compound(build_rr(1), 1, "peer"), 20.0, (PEER[0], 40001))
    assert s.idle_for(25.0) == 5.0


def test_comfort_noise_from_the_latched_source_keeps_the_peer_alive() -> None:
    """A phone with voice activity detection sends comfort noise (RFC 3389, PT 13) in its
    silences: it is dropped, but it shows the caller is there."""
    s = session()
    s.receive(packet(1), PEER, 0.0)
    s.receive(packet(2, pt=13, payload=bytes(1)), PEER, 7.0)
    s.receive(packet(3, pt=13, payload=bytes(1)), ATTACKER, 14.0)  # not from the caller
    assert s.stats.unknown_payload == 2 and s.idle_for(14.5) == 7.5


def test_deliverable_destinations_are_ip_literals_with_a_port() -> None:
    """Linux delivers a datagram sent to 0.0.0.0 (or ::) to this host itself."""
    for nowhere in (("0.0.0.0", 5000), ("::", 5000), ("0:0::0", 5000), ("::ffff:0.0.0.0", 5000),
                    ("[::]", 5000), ("192.0.2.10", 0), ("192.0.2.10", 65536),
                    ("media.example.com", 5000)):  # fmt: skip
        assert not deliverable(nowhere), nowhere
    for somewhere in (("192.0.2.10", 1), ("192.0.2.10", 65535), ("[2001:db8::1]", 5000)):
        assert deliverable(somewhere), somewhere


def test_a_call_s_addresses_are_not_kept_after_it() -> None:
    """Every call brings its own RTP and RTCP addresses: judging them (is it somewhere a
    packet may go?) must keep nothing once the call is gone, or a gateway's memory grows
    with every call it carries (a cache of 4096 addresses filled for most of an hour)."""

    def calls(first: int, count: int) -> None:
        for n in range(first, first + count):
            s = session(remote=(f"192.0.2.{n % 250 + 1}", 10_000 + 2 * n))
            assert s.remote_deliverable() and s.rtcp_destination(None) is not None

    calls(0, 50)  # what the first calls leave (imports, interned names) is not counted
    gc.collect()
    tracemalloc.start()
    try:
        calls(50, 3000)
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept < 64 * 1024, f"{kept} bytes kept after 3000 calls"


def test_nothing_goes_to_the_unspecified_address_or_port_zero() -> None:
    """Issue 21 (audit): with ``c=0.0.0.0`` (hold, RFC 3264 §8.4) our RTCP went to
    (0.0.0.0, RTP port + 1), or the ``a=rtcp`` port the caller chose, which is this host;
    ``a=inactive`` exempts the call from the RTP timeout, so it went on for the whole call."""
    cases: list[dict[str, Any]] = [
        {"remote": ("0.0.0.0", 40000), "send": False, "receive": False},  # a=inactive
        {"remote": ("0.0.0.0", 40000), "send": False, "receive": False, "rtcp_port": 5060},
        {"remote": ("0.0.0.0", 40000), "rtcp_mux": True},
        {"remote": ("0.0.0.0", 40000)},  # sendrecv, as the SDP layer never leaves it
        {"remote": ("::", 40000)},
        {"remote": (PEER[0], 0)},
        {"remote": (PEER[0], 65535)},  # RTP may go; RTCP (65536) may not
    ]
    for params in cases:
        s = session(**params)
        assert s.rtcp_destination(None) is None, params
        if params["remote"] != (PEER[0], 65535):
            assert s.packets_for(None, 1.0) == [] and not s.can_send_early(1.0), params
    assert session().rtcp_destination(None) == (PEER[0], PEER[1] + 1)
    assert session(rtcp_port=41000).rtcp_destination(None) == (PEER[0], 41000)
    learnt = (PEER[0], 50001)
    assert session().rtcp_destination(learnt) == learnt  # symmetric RTCP
    assert session(rtcp_mux=True).rtcp_destination(learnt) == PEER
    on_hold = session()
    on_hold.receive(packet(1), NATTED, 0.0)  # latched; then hold with c=0.0.0.0
    on_hold.update(StreamParams(remote=("0.0.0.0", 40000), send=False, receive=False), 1.0)
    assert on_hold.rtcp_destination(None) == (NATTED[0], NATTED[1] + 1)  # the peer, not us


def test_the_destination_is_judged_again_whenever_it_moves() -> None:
    """The send path judges the address once per change, not once a packet: a call
    offered on hold (``c=0.0.0.0``) sends nothing, the re-INVITE that resumes it to a real
    address starts the packets, and a relatch to the caller's NAT address is sent to."""
    s = session(remote=("0.0.0.0", 40000))
    assert s.packets_for(TONE, 0.02) == [] and not s.remote_deliverable()
    s.update(StreamParams(remote=PEER, telephone_event_pt=101), 0.04)
    assert s.remote == PEER and s.remote_deliverable() and s.packets_for(TONE, 0.06)
    s.receive(packet(1), PEER, 0.07)
    s.receive(packet(2), NATTED, 0.09)  # continues the stream from elsewhere: relatched
    assert s.remote == NATTED and s.remote_deliverable() and s.packets_for(TONE, 0.1)
    assert s.latch.version == 3  # the resume, the first latch, the relatch


def opus_packet(seq: int, payload: bytes, pt: int = 111) -> bytes:
    """An Opus packet of 20 ms: timestamps 960 apart (48000 Hz clock, RFC 7587 §4.1)."""
    return RtpPacket(payload_type=pt, sequence_number=seq, timestamp=10_000 + 960 * seq, ssrc=1,
                     payload=payload).serialize()  # fmt: skip


def test_an_opus_call_gives_a_16_khz_agent_its_audio_and_sends_one_packet_a_tick() -> None:
    encoder = OPUS.encoder(16000)
    loud = g711.ulaw_to_linear(TONE) * 2  # 20 ms at 16 kHz
    s = MediaSession(StreamParams(PEER, codec=OPUS, payload_type=111), now=0.0,
                     agent_format=PCM16_16K)  # fmt: skip
    heard: list[bytes] = []
    s.on_audio = heard.append
    for n in range(10):
        s.receive(opus_packet(n, encoder.encode(loud)), PEER, 0.02 * n)
    frames = [f for f in (s.caller_frame(0.02 * n + 0.1) for n in range(10)) if f is not None]
    assert len(frames) >= 6 and all(len(f) == 640 for f in frames)
    assert heard and all(len(f) == 640 for f in heard)
    assert max(g711.linear_dbfs(f) for f in frames) > -20  # decoded at the edge
    assert s.jitter_config.clock_rate == 16000 and s.rtcp.reception.clock_rate == 48000
    sent = [RtpPacket.parse(p) for t in range(3) for p in s.packets_for(frames[-1], 0.3)]
    sent += [RtpPacket.parse(p) for p in s.packets_for(None, 0.36)]  # silence: still Opus
    assert [p.payload_type for p in sent] == [111] * 4
    assert [(p.timestamp - sent[0].timestamp) % 2**32 for p in sent] == [0, 960, 1920, 2880]
    check = OPUS.edge_decoder()
    assert all(len(check.decode(p.payload)) == 320 for p in sent)  # 20 ms each
    assert s.quality().codec == "OPUS"


def test_an_opus_call_with_an_8_khz_agent_and_a_packet_it_cannot_decode() -> None:
    s = MediaSession(StreamParams(PEER, codec=OPUS, payload_type=111), now=0.0)
    encoder = OPUS.encoder(16000)
    for n in range(6):
        s.receive(opus_packet(n, encoder.encode(bytes(640))), PEER, 0.02 * n)
    s.receive(opus_packet(6, b"\xff\xff\xff"), PEER, 0.12)
    assert s.stats.undecodable == 1
    frames = [f for f in (s.caller_frame(0.02 * n + 0.1) for n in range(6)) if f is not None]
    assert frames and all(len(f) == 160 for f in frames)  # μ-law 8 kHz
    (out,) = s.packets_for(TONE, 0.3)
    assert RtpPacket.parse(out).payload_type == 111


def test_dtmf_works_on_an_opus_call_both_ways_at_48_khz() -> None:
    # RFC 4733 §2.1: telephone-event/48000 beside Opus, durations in 48 kHz ticks
    s = MediaSession(StreamParams(PEER, codec=OPUS, payload_type=111, telephone_event_pt=101),
                     now=0.0, agent_format=PCM16_16K)  # fmt: skip
    s.receive(opus_packet(0, OPUS.encoder().encode(bytes(640))), PEER, 0.0)
    # 20 ms of a 48 kHz clock
    assert dtmf_both_ways(s, clock_per_frame=960, timestamp=10_960) == 960


def test_a_reinvite_from_pcmu_to_opus_switches_the_edge_and_the_clock() -> None:
    s = session()
    (first,) = s.packets_for(TONE, 0.0)
    s.update(StreamParams(PEER, codec=OPUS, payload_type=111, telephone_event_pt=101), 0.02)
    assert s.jitter_config.codec is OPUS.carried
    s.receive(opus_packet(0, OPUS.encoder().encode(bytes(640))), PEER, 0.04)
    (second,) = s.packets_for(None, 0.04)
    one, two = RtpPacket.parse(first), RtpPacket.parse(second)
    assert (two.payload_type, two.ssrc, two.sequence_number) == (
        111,
        one.ssrc,
        one.sequence_number + 1,
    )
    assert two.marker  # another clock: the stream starts a new talkspurt
    assert s.rtcp.reception.clock_rate == 48000
    s.update(StreamParams(PEER, telephone_event_pt=101), 0.06)  # and back to PCMU
    assert (s.jitter_config.clock_rate, s.jitter_config.frame_samples) == (8000, 160)
    assert s.rtcp.reception.clock_rate == 8000


def test_a_lost_opus_packet_is_concealed_by_opus_itself_and_a_late_one_dropped() -> None:
    encoder = OPUS.encoder(16000)
    loud = g711.ulaw_to_linear(TONE) * 2
    s = MediaSession(StreamParams(PEER, codec=OPUS, payload_type=111), now=0.0,
                     agent_format=PCM16_16K)  # fmt: skip
    wire = [encoder.encode(loud) for _ in range(20)]
    frames: list[bytes | None] = []
    for n in range(20):
        if n not in (8, 14, 15, 16, 17):  # one lost, then four (more than EDGE_CONCEALED)
            s.receive(opus_packet(n, wire[n]), PEER, 0.02 * n)
        frames.append(s.caller_frame(0.02 * n + 0.001))
    s.receive(opus_packet(8, wire[8]), PEER, 0.4)  # the lost one, late: never decoded
    # one concealed by Opus; the four left to the jitter buffer (its silence)
    assert (s.stats.edge_concealed, s.stats.edge_late) == (1, 1)
    # the concealed 20 ms continues the tone, where silence would have filled it
    played = [f for f in frames if f is not None]
    assert min(g711.linear_dbfs(f) for f in played[3:8]) > -30
