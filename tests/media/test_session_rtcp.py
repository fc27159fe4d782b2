"""MediaSession's RTCP: reports due on the §6.2 interval, the peer's parsed, SRTCP."""

from __future__ import annotations

import random

from sipgw.media.liveness import LivenessConfig
from sipgw.media.rtcp import (
    ReceiverReport,
    ReportBlock,
    SenderReport,
    build_compound,
    build_rr,
    middle_ntp,
    parse_compound,
)
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams
from sipgw.media.srtp import KEY_LENGTH, SUITES, SrtpContext, SrtpKeying

PEER = ("192.0.2.10", 40000)
TONE = bytes(range(160))
NEVER_PAUSE = LivenessConfig(pause_after=0)


def rtp(seq: int, ssrc: int = 77) -> bytes:
    return RtpPacket(0, seq, seq * 160, ssrc, False, TONE).serialize()


def first_report(session: MediaSession, start: float) -> tuple[float, bytes]:
    now = start
    while (report := session.rtcp_report(now)) is None:
        now += 0.02
    return now, report


def test_rr_before_sending_then_sr_and_the_interval_is_randomized() -> None:
    session = MediaSession(
        StreamParams(remote=PEER), now=0.0, rng=random.Random(3), liveness=NEVER_PAUSE
    )
    for seq in range(10):
        if seq != 4:
            session.receive(rtp(seq), PEER, 0.02 * seq)
    when, report = first_report(session, 0.2)
    assert 2.5 <= when <= 7.5 + 0.02
    rr = parse_compound(report)[0]
    assert isinstance(rr, ReceiverReport) and rr.ssrc == session.sender.ssrc
    (block,) = rr.blocks
    assert block.ssrc == 77 and block.cumulative_lost == 1 and block.highest_seq == 9
    assert session.rtcp_report(when + 0.02) is None
    session.packets_for(TONE, when + 0.02)
    when2, report2 = first_report(session, when + 0.02)
    assert 2.5 <= when2 - when <= 7.5 + 0.02
    sr = parse_compound(report2)[0]
    assert isinstance(sr, SenderReport) and sr.sender.packets == 1


def test_peer_report_on_the_rtp_port_gives_rtt_and_peer_loss() -> None:
    session = MediaSession(StreamParams(remote=PEER, rtcp_mux=True), now=0.0, liveness=NEVER_PAUSE)
    session.packets_for(TONE, 0.0)
    when, report = first_report(session, 0.0)
    sr = parse_compound(report)[0]
    assert isinstance(sr, SenderReport)
    block = ReportBlock(session.sender.ssrc, 0, 0, 1, 8, middle_ntp(sr.sender.ntp), 32768)
    session.receive(build_compound(build_rr(77, (block,)), 77, "peer"), PEER, when + 0.6)
    quality = session.quality()
    assert session.stats.rtcp == 1 and quality.reports_received == 1
    assert quality.rtt_ms is not None and abs(quality.rtt_ms - 100) < 1
    assert quality.peer_loss_percent == 0.0 and quality.peer_jitter_ms == 1.0
    assert session.jitter.stats.received == 0  # RTCP never reaches the audio path


def test_srtcp_both_ways() -> None:
    ours = SrtpKeying(SUITES[0], bytes(range(KEY_LENGTH)))
    theirs = SrtpKeying(SUITES[0], bytes(range(100, 100 + KEY_LENGTH)))
    session = MediaSession(
        StreamParams(remote=PEER, srtp=(ours, theirs)), now=0.0, liveness=NEVER_PAUSE
    )
    peer = SrtpContext(outbound=theirs, inbound=ours)
    _, report = first_report(session, 0.0)
    plain = peer.unprotect_rtcp(report)
    assert plain is not None and isinstance(parse_compound(plain)[0], ReceiverReport)
    protected = peer.protect_rtcp(build_compound(build_rr(77), 77, "peer"))
    assert protected is not None
    session.receive_rtcp(protected, 8.0, PEER)
    session.receive_rtcp(build_rr(77), 8.0, PEER)  # plain RTCP on an SRTP call: dropped
    assert session.rtcp.reports_received == 1 and session.rtcp.invalid == 1
    assert session.srtp is not None and session.srtp.stats.rtcp_unprotected == 1
    # Plain compound RTCP, long enough to be SRTCP: ignored, counted as plain, not an SRTP drop.
    session.receive_rtcp(build_compound(build_rr(77), 77, "peer"), 9.0, PEER)
    assert session.srtp.stats.plain_rtcp == 1 and session.rtcp.reports_received == 1
    forger = SrtpContext(outbound=ours, inbound=theirs)
    forged = [forger.protect_rtcp(build_rr(77) * 3) for _ in range(5)][-1]  # an unseen index
    session.receive_rtcp(forged or b"", 9.5, PEER)  # SRTCP with the wrong key: an auth drop
    assert session.srtp.stats.auth_failed == 1 and session.srtp.stats.dropped == 1
    assert session.rtcp.reports_received == 1


def test_rtcp_on_the_rtp_port_from_a_foreign_source_is_dropped() -> None:
    session = MediaSession(StreamParams(remote=PEER, rtcp_mux=True), now=0.0)
    session.receive(rtp(0), PEER, 0.0)
    session.receive(build_rr(66), ("198.51.100.66", 9999), 0.1)
    assert session.stats.foreign == 1 and session.rtcp.reports_received == 0
    session.receive(build_rr(77), PEER, 0.2)
    assert session.rtcp.reports_received == 1
