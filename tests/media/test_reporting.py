"""One call's RTCP side (sipgw.media.reporting): our SR or RR on RFC 3550's schedule, the peer's
reports read for round-trip time and loss, and the call's quality figures."""

from __future__ import annotations

import random

import pytest

from sipgw.media.quality import BPL_G711_PLC, mos_from_r, r_factor
from sipgw.media.reporting import RtcpReporter
from sipgw.media.rtcp import (
    ReceiverReport,
    ReportBlock,
    SenderInfo,
    SenderReport,
    build_compound,
    build_rr,
    ntp_timestamp,
    parse_compound,
)

OURS, THEIRS = 111, 222


def test_reporter_exchange_gives_rtt_and_peer_loss() -> None:
    ours = RtcpReporter("a@x", 0.0, rng=random.Random(1))
    theirs = RtcpReporter("b@x", 0.0, rng=random.Random(2))
    for i in range(50):
        ours.reception.packet(222, i, 160 * i, 0.02 * i)
        if i != 10:
            theirs.reception.packet(111, i, 160 * i, 0.02 * i + 0.03)
    sr = ours.report(111, SenderInfo(0, 8000, 50, 8000), 1.0)
    assert parse_compound(sr)[0].__class__ is SenderReport
    theirs.receive(sr, 222, 1.04)
    rr = theirs.report(222, None, 1.54)  # held 0.5 s
    assert isinstance(parse_compound(rr)[0], ReceiverReport)
    ours.receive(rr, 111, 1.58)
    assert ours.rtt == pytest.approx(0.08, abs=1e-3)
    quality = ours.quality()
    assert quality.peer_loss_percent == pytest.approx(100 * 5 / 256)
    assert quality.rtt_ms == pytest.approx(80, abs=1)
    assert quality.reports_sent == 1 and quality.reports_received == 1
    assert 1.0 < quality.mos < 4.5
    assert ours.due(1.0 + 7.6) and not ours.due(1.0 + 2.4)


def test_reporter_counts_garbage() -> None:
    reporter = RtcpReporter("a@x", 0.0)
    reporter.receive(b"\x00\x00", 1, 0.0)
    assert reporter.invalid == 1 and reporter.reports_received == 0


def test_reports_come_every_5_s_randomized_by_half_either_way() -> None:
    """RFC 3550 §6.2 minimum interval, §6.3.1 randomization (0.5 to 1.5 times)."""
    reporter = RtcpReporter("a@x", 100.0, rng=random.Random(3))
    gaps = [reporter.next_report - 100.0]
    now = 100.0
    for _ in range(200):
        now = reporter.next_report
        assert reporter.due(now) and not reporter.due(now - 0.001)
        reporter.report(OURS, None, now)
        gaps.append(reporter.next_report - now)
    assert all(2.5 <= gap < 7.5 for gap in gaps)
    assert min(gaps) < 3.0 and max(gaps) > 7.0  # the whole range is used
    assert reporter.reports_sent == 200


def test_an_sr_only_when_we_sent_rtp_since_the_last_report() -> None:
    """§6.4: a participant that sent since the last report sends an SR, else an RR."""
    reporter = RtcpReporter("a@x", 0.0, rng=random.Random(1))
    kinds = []
    for packets in (50, 50, 60, 0):
        sender = SenderInfo(0, 8000, packets, packets * 160) if packets else None
        first = parse_compound(reporter.report(OURS, sender, 5.0))[0]
        kinds.append(type(first).__name__)
    assert kinds == ["SenderReport", "ReceiverReport", "SenderReport", "ReceiverReport"]


def test_our_sr_carries_the_wall_clock_and_our_counts() -> None:
    reporter = RtcpReporter("a@x", 0.0, rng=random.Random(1))
    reporter.wall_offset = 1_700_000_000.0  # session clock 0 = that Unix time
    report = reporter.report(OURS, SenderInfo(0, 12345, 50, 8000), 2.5)
    (sr,) = parse_compound(report)
    assert isinstance(sr, SenderReport) and sr.ssrc == OURS
    assert sr.sender == SenderInfo(ntp_timestamp(1_700_000_002.5), 12345, 50, 8000)
    assert b"a@x" in report  # SDES CNAME follows the report (§6.1)


def test_our_report_blocks_are_about_the_stream_we_receive() -> None:
    reporter = RtcpReporter("a@x", 0.0, rng=random.Random(1))
    (empty,) = parse_compound(reporter.report(OURS, None, 1.0))
    assert isinstance(empty, ReceiverReport) and empty.blocks == ()  # nothing received yet
    for i in range(20):
        if i != 7:
            reporter.reception.packet(THEIRS, i, 160 * i, 0.02 * i)
    (rr,) = parse_compound(reporter.report(OURS, None, 2.0))
    (block,) = rr.blocks
    assert block.ssrc == THEIRS and block.cumulative_lost == 1


def test_blocks_about_other_sources_are_not_ours() -> None:
    """A peer (a conference bridge) may report on several sources: only ours counts."""
    reporter = RtcpReporter("a@x", 0.0, rng=random.Random(1))
    other = ReportBlock(999, 128, 40, 100, 80, 0, 0)
    reporter.receive(build_compound(build_rr(THEIRS, (other,)), THEIRS, "b@x"), OURS, 1.0)
    assert reporter.reports_received == 1
    assert reporter.peer_block is None and reporter.rtt is None
    assert reporter.quality().peer_loss_percent is None


def test_the_mos_counts_the_worse_direction_and_the_delay() -> None:
    """One-way delay: half the RTT plus packetization and our playout delay."""
    reporter = RtcpReporter("a@x", 0.0, rng=random.Random(1))
    for i in range(100):
        if i % 50 != 3:  # 2 % lost on our side
            reporter.reception.packet(THEIRS, i, 160 * i, 0.02 * i)
    reporter.peer_block = ReportBlock(OURS, 13, 5, 100, 80, 0, 0)  # about 5 % on theirs
    reporter.rtt = 0.1
    quality = reporter.quality(playout_delay=0.06)
    assert quality.loss_percent == pytest.approx(2.0)
    assert quality.peer_loss_percent == pytest.approx(100 * 13 / 256)
    assert quality.peer_jitter_ms == pytest.approx(10.0)
    one_way = 50.0 + 60.0 + 20.0
    assert quality.mos == pytest.approx(mos_from_r(r_factor(one_way, 100 * 13 / 256, BPL_G711_PLC)))


def test_no_reports_yet_is_no_loss() -> None:
    quality = RtcpReporter("a@x", 0.0).quality()
    assert (quality.packets_expected, quality.loss_percent, quality.rtt_ms) == (0, 0.0, None)
    assert quality.reports_sent == quality.reports_received == 0
    assert quality.mos == pytest.approx(mos_from_r(r_factor(20.0, 0.0, BPL_G711_PLC)))
