"""SIPREC against a real Session Recording Server: SIPp (tests/toolkit/peers/scenarios/srs.xml).

An in-process gateway answers a scripted caller (a 700 Hz tone) with an agent saying
1100 Hz, and records the call to SIPp: SIPp checks the INVITE is a Session Recording
Client's (RFC 7866: ``Require: siprec``, ``+sip.src``, the multipart body with the two
labelled ``sendonly`` streams and the RFC 7865 metadata; a failed check fails its call),
answers both streams ``recvonly`` and echoes their RTP (``-rtp_echo``), which tells the
test each stream arrived and carried its side (the caller's tone on the first, the agent's
on the second). The stop sends the BYE SIPp waits for; its call then succeeded.
About 3 s. The same with a scripted SRS: tests/sipgw/app/calls/test_siprecfork.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sipgw.agent.base import Agent, CallControl
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.evaluation.audio import dominant_tone, tone_frames
from sipgw.media.rtp import RtpPacket
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.peers.sipp import scenario, start_sipp

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

CALLER_HZ, AGENT_HZ = 700, 1100


class Talking(Agent):
    """Says a steady 1100 Hz tone."""

    built: list[Talking] = []

    def __init__(self, call: CallControl) -> None:
        self.call = call
        self.frames: Iterator[bytes] = itertools.cycle(tone_frames(AGENT_HZ, 1.0, -12.0))
        Talking.built.append(self)

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return next(self.frames)


async def until(condition: Callable[[], bool], within: float, what: Callable[[], str]) -> None:
    """Re-check ``condition`` every 20 ms for ``within`` seconds (the loop keeps running)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, f"not within {within} s: {what()}"
        await asyncio.sleep(0.02)


class Echoes(asyncio.DatagramProtocol):
    """Counts the RTP SIPp echoes back to one stream's socket, by the tone each carries."""

    def __init__(self) -> None:
        self.tones: dict[float | None, int] = {}

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = RtpPacket.parse(data)
        tone = dominant_tone(packet.payload, (CALLER_HZ, AGENT_HZ))
        self.tones[tone] = self.tones.get(tone, 0) + 1


async def test_sipp_as_srs_takes_the_src_invite_and_both_sides_streams(tmp_workdir: Path) -> None:
    Talking.built = []
    with start_sipp(["-sf", scenario("srs.xml"), "-m", "1", "-rtp_echo"], timeout=20,
                    cwd=tmp_workdir, name="srs") as srs:  # fmt: skip
        srs.wait_ready()
        async with running_gateway(Talking) as (_, new_phone):
            caller = await new_phone()
            assert (await caller.invite()).status == 200
            caller.start_audio()
            caller.say(tone_frames(CALLER_HZ, 5.0, -12.0))
            (agent,) = Talking.built
            handle = agent.call
            assert isinstance(handle, CallHandle)
            await asyncio.wait_for(handle.start_siprec(f"sip:srs@{srs.target}", "rec"), 5)
            (fork,) = handle.forks.up.values()
            echoes = [Echoes(), Echoes()]
            for transport, echo in zip(fork.transports, echoes, strict=True):
                transport.set_protocol(echo)
            await until(
                lambda: echoes[0].tones.get(CALLER_HZ, 0) >= 50
                and echoes[1].tones.get(AGENT_HZ, 0) >= 50,
                5.0, lambda: f"echoed tones {[e.tones for e in echoes]}",
            )  # fmt: skip
            # each stream carries its own side only
            assert not echoes[0].tones.get(AGENT_HZ) and not echoes[1].tones.get(CALLER_HZ)
            assert handle.stop_siprec("rec")
            await until(lambda: not handle.forks.up, 3.0, lambda: "the session is still up")
            await caller.bye()
        result = srs.wait(10)
    assert result.ok, result.describe()
    assert result.successful == 1
