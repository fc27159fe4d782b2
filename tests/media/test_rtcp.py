"""RTCP build/parse round trips, reception statistics and RTT (the reporter: test_reporting.py)."""

from __future__ import annotations

import pytest

from sipgw.media.rtcp import (
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    RtcpParseError,
    SenderInfo,
    SenderReport,
    build_compound,
    build_rr,
    build_sdes,
    build_sr,
    middle_ntp,
    ntp_timestamp,
    parse_compound,
    report_interval,
    round_trip_time,
)
from sipgw.media.rtp import is_rtcp

BLOCK = ReportBlock(0x11223344, 25, -3, 0x0001_0005, 160, 0xAABBCCDD, 0x00010000)


def test_sr_round_trip_with_block_and_sdes() -> None:
    info = SenderInfo(ntp_timestamp(1_700_000_000.25), 123456, 50, 8000)
    data = build_compound(build_sr(0xCAFEBABE, info, (BLOCK,)), 0xCAFEBABE, "x@sipgw")
    assert len(data) % 4 == 0 and is_rtcp(data)
    (report,) = parse_compound(data)
    assert report == SenderReport(0xCAFEBABE, info, (BLOCK,))


def test_rr_round_trip_and_empty_rr() -> None:
    (report,) = parse_compound(build_rr(7, (BLOCK,)))
    assert report == ReceiverReport(7, (BLOCK,))
    empty = build_rr(7)
    assert len(empty) == 8
    assert parse_compound(empty) == [ReceiverReport(7, ())]


def test_sdes_is_padded_and_skipped() -> None:
    sdes = build_sdes(9, "abc")
    assert len(sdes) % 4 == 0 and sdes[1] == 202
    assert parse_compound(sdes) == []


def test_rejects_bad_version_and_lengths() -> None:
    data = bytearray(build_rr(7, (BLOCK,)))
    with pytest.raises(RtcpParseError):
        parse_compound(bytes(data[:-4]))
    data[0] = 0x41
    with pytest.raises(RtcpParseError):
        parse_compound(bytes(data))
    with pytest.raises(RtcpParseError):
        parse_compound(b"\x80")


def test_round_trip_time_from_lsr_and_dlsr() -> None:
    sent = ntp_timestamp(1000.0)
    arrival = ntp_timestamp(1000.0 + 0.5 + 0.080)  # peer held it 0.5 s, 80 ms on the wire
    block = ReportBlock(1, 0, 0, 0, 0, middle_ntp(sent), int(0.5 * 65536))
    rtt = round_trip_time(block, arrival)
    assert rtt is not None and rtt == pytest.approx(0.080, abs=1e-3)
    assert round_trip_time(ReportBlock(1, 0, 0, 0, 0, 0, 0), arrival) is None
    assert round_trip_time(block, sent) is None  # far under zero: bogus
    # A round trip shorter than the clocks resolve (whole milliseconds: the loop's time, the
    # peer's DLSR) can come out a little under zero (baresip on loopback): 0, not none.
    quick = ReportBlock(1, 0, 0, 0, 0, middle_ntp(sent), int(0.5015 * 65536))
    assert round_trip_time(quick, ntp_timestamp(1000.5)) == 0.0
    late = ReportBlock(1, 0, 0, 0, 0, middle_ntp(sent), int(0.5025 * 65536))
    assert round_trip_time(late, ntp_timestamp(1000.5)) is None


def test_report_interval_is_randomized_around_five_seconds() -> None:
    assert report_interval(0.0) == 2.5
    assert report_interval(0.999) == pytest.approx(7.495)


def test_reception_counts_loss_wrap_and_jitter() -> None:
    stats = ReceptionStats()
    seq, ts = 65530, 1000
    now = 0.0
    for i in range(20):
        if i not in (3, 4):  # two lost
            stats.packet(5, (seq + i) & 0xFFFF, ts + 160 * i, now + 0.02 * i)
    assert stats.expected == 20 and stats.lost == 2
    assert stats.extended_max == (1 << 16) + 13
    assert stats.jitter_seconds == pytest.approx(0.0, abs=1e-9)
    block = stats.block(1.0)
    assert block is not None
    assert block.fraction_lost == (2 << 8) // 20 and block.cumulative_lost == 2
    assert block.lsr == 0 and block.dlsr == 0
    later = stats.block(2.0)
    assert later is not None and later.fraction_lost == 0  # nothing new lost


def test_reception_jitter_grows_with_irregular_arrival() -> None:
    stats = ReceptionStats()
    for i in range(200):
        stats.packet(5, i, 160 * i, 0.02 * i + (0.01 if i % 2 else 0.0))
    assert stats.jitter_seconds == pytest.approx(0.01, rel=0.1)
