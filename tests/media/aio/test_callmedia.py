"""One SIP call's 20 ms media step (media.aio.callmedia): a real session and endpoint, a peer
socket as the phone, a scripted agent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from media.aio.callmedia import CallMedia
from media.aio.rtp_endpoint import RtpEndpoint, open_rtp_endpoint
from media.ports import PortAllocator
from media.rtp import RtpPacket
from media.session import MediaSession, StreamParams

pytestmark = pytest.mark.timeout(30)

LOUD = bytes([0x10]) * 160


class Agent:
    """Plays ``frames`` in order (then silence); keeps what the caller said."""

    def __init__(self, *frames: bytes | None) -> None:
        self.frames = list(frames)
        self.heard: list[bytes | None] = []

    def on_caller_frame(self, frame: bytes | None) -> None:
        self.heard.append(frame)

    def next_frame(self) -> bytes | None:
        return self.frames.pop(0) if self.frames else None


@pytest.fixture
def phone() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture
async def endpoint() -> AsyncIterator[RtpEndpoint]:
    opened = await open_rtp_endpoint("127.0.0.1", PortAllocator(40000, 60000))
    assert opened is not None
    yield opened
    opened.close()


def step(
    endpoint: RtpEndpoint, phone: socket.socket, agent: Agent, *, send: bool = True,
    confirmed: bool = True,
) -> CallMedia:  # fmt: skip
    params = StreamParams(remote=phone.getsockname(), send=send)
    endpoint.session = MediaSession(params, now=0.0, confirmed=confirmed)
    return CallMedia(endpoint.session, agent, endpoint)


async def received(phone: socket.socket, wait: float = 0.05) -> list[RtpPacket]:
    await asyncio.sleep(wait)
    packets = []
    while True:
        try:
            packets.append(RtpPacket.parse(phone.recv(2048)))
        except BlockingIOError:
            return packets


def caller_packet(seq: int) -> bytes:
    return RtpPacket(0, seq, seq * 160, 7, False, LOUD).serialize()


async def test_each_tick_takes_the_callers_frame_and_sends_the_agents(
    endpoint: RtpEndpoint, phone: socket.socket
) -> None:
    agent = Agent(LOUD, None)
    media = step(endpoint, phone, agent)
    for n in range(1, 6):  # the caller's audio fills the jitter buffer's first wait
        media.session.receive(caller_packet(n), phone.getsockname(), 0.02 * n)
    for n in range(6):
        media.tick(0.1 + 0.02 * n)
    sent = await received(phone)
    assert len(sent) == 6  # silence goes out too
    assert sent[0].payload == LOUD and sent[0].marker  # a talkspurt's first packet
    assert media.agent_frame is None  # the last tick's: silence
    assert LOUD in agent.heard and len(agent.heard) == 6


async def test_nothing_goes_out_before_the_ack_or_on_hold_and_the_agents_audio_waits(
    endpoint: RtpEndpoint, phone: socket.socket
) -> None:
    for how in ({"confirmed": False}, {"send": False}):
        agent = Agent(LOUD)
        media = step(endpoint, phone, agent, **how)
        media.tick(0.02)
        media.tick(0.04)
        assert await received(phone) == [] and agent.frames == [LOUD]  # never asked for
        assert media.agent_frame is None and len(agent.heard) == 2


async def test_a_talkspurt_goes_out_ahead_and_its_tick_sends_nothing_more(
    endpoint: RtpEndpoint, phone: socket.socket
) -> None:
    media = step(endpoint, phone, Agent(None, LOUD, LOUD))
    media.tick(0.02)  # silence
    assert media.send_ahead(0.03)  # the agent's audio starts between two ticks
    assert not media.send_ahead(0.035)  # once per tick
    sent = await received(phone)
    assert len(sent) == 2 and sent[1].payload == LOUD
    media.tick(0.04)  # its packet went early: nothing more now
    assert await received(phone) == [] and media.agent_frame == LOUD  # recorded all the same
    media.tick(0.06)
    sent += await received(phone)
    assert len(sent) == 3 and media.early_sends == 1
    assert [p.sequence_number - sent[0].sequence_number for p in sent] == [0, 1, 2]


async def test_no_early_send_while_talking_or_with_nothing_to_say(
    endpoint: RtpEndpoint, phone: socket.socket
) -> None:
    assert not step(endpoint, phone, Agent(None)).send_ahead(0.01)  # nothing to say
    media = step(endpoint, phone, Agent(LOUD, LOUD))
    media.tick(0.02)  # talking now
    assert not media.send_ahead(0.03)
