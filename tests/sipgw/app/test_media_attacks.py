"""Media attacks of issue 21 against the gateway on loopback (a forged party is another 127.x).

- **RTP aimed at a victim**: an INVITE whose ``c=`` is a listening victim, from a caller
  that sends no RTP. Before: the victim got 50 packets a second from the 200 OK on, until
  the RTP timeout (30 s, 1,501 packets), and for ever with ``a=recvonly`` (2,005 in 40 s,
  the call still up); an INVITE never ACKed drew 1,501. Now no RTP goes out before the
  ACK (one NUL octet as the call is answered opens our NAT's mapping), sending pauses
  after ``first_sign`` seconds while a peer that is to send RTP has sent nothing, after
  ``pause_after`` seconds without a sign otherwise (a listen-only peer's first sign is an
  RTCP report), and the RTP timeout ends the call, recvonly or not; receiver reports keep
  a listen-only caller's call up (``bench.attacks``, "victim", has the figures with the
  default 2 s, 8 s and 30 s).
- **RTP bleed**: a caller talks, goes quiet, and another address sprays RTP at its port.
  Before: after 1 s of silence and 4 packets the sprayer had the call (198 of its 200
  packets answered, the caller heard nothing more). Now the sprayer gets nothing and the
  caller goes on hearing the agent.
"""

from __future__ import annotations

import asyncio
import struct
import time

import pytest

from sipgw.app.gateway import Gateway
from sipgw.media.liveness import LivenessConfig
from sipgw.media.rtcp import ReportBlock, build_compound, build_rr
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("virtual_clock")]
"""On the virtual clock (tests/toolkit/virtual_time.py): the timers' bounds are theirs."""

_RTP = struct.Struct("!BBHII")


class Counting(asyncio.DatagramProtocol):
    """RTP packets a victim gets (``times``), and the other datagrams (``other``: the one NUL
    octet that opens our NAT's mapping as a call is answered)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.other: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) >= 12:
            self.times.append(time.monotonic())
        else:
            self.other.append(data)


async def listener(host: str) -> tuple[asyncio.DatagramTransport, Counting]:
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        Counting, local_addr=(host, 0)
    )
    return transport, protocol


def live(gateway: Gateway, call_id: str) -> bool:
    return any(h.call.call_id == call_id for h in gateway.handles.values())


async def ended_within(gateway: Gateway, call_id: str, seconds: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if not live(gateway, call_id):
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    return None


@pytest.mark.parametrize("direction", ["sendrecv", "recvonly"])
async def test_rtp_aimed_at_a_victim_stops_and_the_call_ends(direction: str) -> None:
    pause, timeout = 1.0, 3.0
    async with running_gateway(rtp_timeout=timeout, rtp_pause_after=pause) as (
        gateway,
        new_phone,
    ):
        assert gateway.calls.liveness == LivenessConfig(pause_after=pause)  # the setting
        victim, heard = await listener("127.0.0.9")
        try:
            target = victim.get_extra_info("sockname")
            caller = await new_phone(sdp_address=target, direction=direction)
            assert (await caller.invite()).status == 200
            acked = time.monotonic()
            ended = await ended_within(gateway, caller.call_id, timeout + 3.0)
            assert ended is not None, "the RTP timeout did not end the call"
            assert timeout - 0.02 <= ended <= timeout + 0.05  # the timeout, seen by a poll
            # 50 packets a second for the pause (its first and last counted): then nothing.
            assert pause * 50 <= len(heard.times) <= pause * 50 + 1, len(heard.times)
            assert heard.times[-1] - acked <= pause + 0.02  # a tick at most
            assert heard.times[0] >= acked  # no RTP before the ACK
            assert heard.other == [b"\x00"]  # one octet as the call was answered
            counters = gateway.counters().media  # the stats line and /metrics show it
            assert counters.rtp_paused == 1 and counters.rtp_withheld >= 50
        finally:
            victim.close()


async def test_a_caller_that_never_sends_aims_only_the_first_signs_grace() -> None:
    """Issue 21 (audit): an admitted INVITE and its ACK (about 1 KB) drew 401 packets (the
    8 s of ``--rtp-pause-after``, about 69 KB) at its ``c=``. A caller that is to send RTP
    and has sent nothing gets ``--rtp-first-sign`` instead; a listen-only one (recvonly),
    whose first sign is an RTCP report, keeps the longer grace."""
    first, pause, timeout = 0.5, 2.0, 3.0
    async with running_gateway(
        rtp_timeout=timeout, rtp_pause_after=pause, rtp_first_sign=first
    ) as (gateway, new_phone):
        assert gateway.calls.liveness == LivenessConfig(pause_after=pause, first_sign=first)
        victims = {d: await listener("127.0.0.9") for d in ("sendrecv", "recvonly")}
        try:
            for direction, (victim, _) in victims.items():
                target = victim.get_extra_info("sockname")
                caller = await new_phone(sdp_address=target, direction=direction)
                assert (await caller.invite()).status == 200
            await asyncio.sleep(timeout + 0.5)
            sendrecv, recvonly = (len(heard.times) for _, heard in victims.values())
            assert 0 < sendrecv <= first * 50 + 1, sendrecv
            assert pause * 50 <= recvonly <= pause * 50 + 1, recvonly
        finally:
            for victim, _ in victims.values():
                victim.close()


async def test_rtcp_keeps_a_listen_only_callers_call_up_past_the_rtp_timeout() -> None:
    """a=recvonly: the caller sends no RTP, only receiver reports about our stream (RFC 3550
    §6.4.1: the report block names our SSRC); they keep its call and its audio going past
    the RTP timeout. Once they stop, the call ends at the timeout."""
    timeout = 2.0
    async with running_gateway(rtp_timeout=timeout, rtp_pause_after=1.5) as (gateway, new_phone):
        caller = await new_phone(direction="recvonly")
        assert (await caller.invite()).status == 200 and caller.remote_rtp is not None
        await caller.wait_heard(0.0, loud=False)
        ours = caller.packets()[0].ssrc
        gateway_rtcp = (caller.remote_rtp[0], caller.remote_rtp[1] + 1)
        reporter, _ = await listener("127.0.0.1")  # the caller's host: its reports count
        try:
            start = time.monotonic()
            heard_before, last_report = 0, start
            while time.monotonic() - start < 2 * timeout + 1.0:
                heard_before = len(caller.heard)
                block = ReportBlock(ours, 0, 0, heard_before, 4, 0, 0)
                reporter.sendto(build_compound(build_rr(0x5EED, (block,)), 0x5EED, "c"),
                                gateway_rtcp)  # fmt: skip
                last_report = time.monotonic()
                await asyncio.sleep(0.5)
            assert live(gateway, caller.call_id), "the RTP timeout ended a reporting caller"
            recent = len(caller.heard) - heard_before
            assert recent >= 0.5 * 50 - 1, recent  # still hearing us in the last 0.5 s
            assert await ended_within(gateway, caller.call_id, timeout + 2.0) is not None
            silent = time.monotonic() - last_report  # the reports stopped: then it ends
            assert timeout - 0.02 <= silent <= timeout + 0.07, silent  # a tick, a poll
        finally:
            reporter.close()


async def test_an_invite_never_acked_aims_nothing_at_the_victim() -> None:
    async with running_gateway(sip_t1=0.05) as (gateway, new_phone):
        victim, heard = await listener("127.0.0.9")
        try:
            caller = await new_phone(sdp_address=victim.get_extra_info("sockname"))
            caller.send(caller.request("INVITE", caller.sdp()))
            await asyncio.sleep(0.2)
            assert live(gateway, caller.call_id)
            assert await ended_within(gateway, caller.call_id, 6.0) is not None  # 64*T1
            assert heard.times == [] and heard.other == [b"\x00"]  # no RTP: one octet
        finally:
            victim.close()


def rtp(sequence: int, ssrc: int) -> bytes:
    header = _RTP.pack(0x80, 0, sequence & 0xFFFF, (160 * sequence) & 0xFFFFFFFF, ssrc)
    return header + b"\xff" * 160


async def test_rtp_sprayed_at_a_quiet_callers_port_reaches_nothing() -> None:
    async with running_gateway() as (gateway, new_phone):
        caller = await new_phone()
        assert (await caller.invite()).status == 200 and caller.remote_rtp is not None
        caller.start_audio()
        await asyncio.sleep(1.0)
        await caller.stop_audio()
        heard_before = len(caller.heard)
        sprayer, got = await listener("127.0.0.7")
        try:
            start = time.monotonic()
            for n in range(150):  # 3 s at 50 packets a second, in sequence, its own SSRC
                sprayer.sendto(rtp(n, 0xBAD0BAD0), caller.remote_rtp)
                await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))
            spray = time.monotonic() - start
            assert got.times == [], "the sprayer took the call's media"
            # The caller still hears the agent (silence frames of the echo) all along.
            assert len(caller.heard) - heard_before >= spray * 50 - 1  # 50 a second
            (handle,) = gateway.handles.values()
            assert handle.session is not None and handle.session.stats.foreign >= 150
            assert gateway.counters().media.rtp_foreign >= 150
        finally:
            sprayer.close()
        await caller.hang_up()
