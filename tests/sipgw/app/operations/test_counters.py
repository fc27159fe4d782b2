"""The gateway's counters (sipgw/app/operations/counters.py): counted once, read in one snapshot."""

from __future__ import annotations

import logging
from dataclasses import fields

import pytest

from sipgw.app.operations.counters import CallCounters, Counters, MediaTotals, read_counters
from sipgw.app.operations.stats import gateway_stats
from sipgw.app.security.access import RefusalLog
from sipgw.media.ports import PortAllocator
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams
from tests.toolkit.gateway_in_process import running_gateway

PEER = ("192.0.2.10", 40000)


def session_with(packets: int) -> MediaSession:
    session = MediaSession(StreamParams(remote=PEER), now=0.0)
    for seq in range(packets):
        data = RtpPacket(payload_type=0, sequence_number=seq, timestamp=seq * 160, ssrc=1,
                         payload=bytes(160)).serialize()  # fmt: skip
        session.receive(data, PEER, 0.02 * seq)
    return session


def test_media_totals_add_sessions_and_plus_leaves_them_alone() -> None:
    totals = MediaTotals()
    totals.add(session_with(3))
    assert totals.rtp_in == 3
    more = totals.plus([session_with(2), session_with(4)])
    assert more.rtp_in == 9 and totals.rtp_in == 3


def test_call_counters_change_only_through_their_methods() -> None:
    counted = CallCounters()
    counted.call_started()
    counted.call_started()
    counted.early_send()
    counted.refused_dial()
    counted.media_ended(session_with(5))
    assert (counted.calls_total, counted.early_sends, counted.dial_refused) == (2, 1, 1)
    assert counted.ended_media.rtp_in == 5
    counted.ended_media.rtp_in = 0  # a copy: the counters keep theirs
    assert counted.ended_media.rtp_in == 5
    with pytest.raises(AttributeError):
        counted.dial_refused = 0  # type: ignore[misc]


def test_a_reading_before_the_start_has_zeros_for_what_has_not_started() -> None:
    counted = CallCounters()
    counted.call_started()
    counted.media_ended(session_with(2))
    ports = PortAllocator(40000, 40010)
    ports.allocate()
    now = read_counters(
        counted, live=[session_with(3)], calls=1, ports=ports,
        refusals=RefusalLog(logging.getLogger("test")), overloaded=True, sip=None,
    )  # fmt: skip
    media = MediaTotals(rtp_in=5)
    assert now == Counters(calls=1, calls_total=1, rtp_ports_in_use=1, media=media, overloaded=1)


def test_the_stats_line_logs_every_counter_in_order() -> None:
    names = [f.name for f in fields(Counters)]
    at = names.index("media")
    names[at : at + 1] = [f.name for f in fields(MediaTotals)]
    assert list(Counters().as_dict()) == names
    assert names[:5] == ["calls", "calls_total", "rtp_ports_in_use", "rtp_in", "rtp_out"]
    counters = Counters(dial_refused=1, media=MediaTotals(jb_lost=2))
    assert counters.as_dict()["dial_refused"] == 1 and counters.as_dict()["jb_lost"] == 2


async def test_a_running_gateway_reads_its_parts() -> None:
    async with running_gateway() as (gateway, new_phone):
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        during = gateway.counters()
        assert during.calls == 1 and during.calls_total == 1 and during.rtp_ports_in_use == 1
        await phone.play([bytes(160)] * 5)
        assert await phone.bye()
        after = gateway.counters()
        stats = gateway_stats(gateway)
    assert after.calls == 0 and after.rtp_ports_in_use == 0 and after.media.rtp_in == 5
    assert {k: stats[k] for k in after.as_dict()} == after.as_dict()
