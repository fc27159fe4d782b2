"""One SIP call's 20 ms media step (sipgw.media.aio.callmedia): a real session and endpoint, a peer
socket as the phone, a scripted agent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from sipgw.media.aio.callmedia import CallMedia
from sipgw.media.aio.rtp_endpoint import RtpEndpoint, open_rtp_endpoint
from sipgw.media.ports import PortAllocator
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams

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


class Recorder:
    """Keeps both sides' frames of each tick."""

    def __init__(self) -> None:
        self.ticks: list[tuple[bytes | None, bytes | None]] = []

    def tick(self, caller: bytes | None, agent: bytes | None) -> None:
        self.ticks.append((caller, agent))


def step(
    endpoint: RtpEndpoint, phone: socket.socket, agent: Agent | None, *, send: bool = True,
    confirmed: bool = True, recorder: Recorder | None = None, digits: list[str] | None = None,
) -> CallMedia:  # fmt: skip
    params = StreamParams(remote=phone.getsockname(), send=send, telephone_event_pt=101)
    endpoint.session = MediaSession(params, now=0.0, confirmed=confirmed)
    on_digit = None if digits is None else digits.append
    return CallMedia(endpoint.session, agent, endpoint, recorder=recorder, on_digit=on_digit)


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
    for confirmed, send in ((False, True), (True, False)):
        agent = Agent(LOUD)
        media = step(endpoint, phone, agent, confirmed=confirmed, send=send)
        media.tick(0.02)
        media.tick(0.04)
        assert await received(phone) == [] and agent.frames == [LOUD]  # never asked for
        assert media.agent_frame is None and len(agent.heard) == 2


async def test_real_time_audio_within_a_talkspurt_goes_ahead_when_continuing(
    endpoint: RtpEndpoint, phone: socket.socket
) -> None:
    media = step(endpoint, phone, Agent(LOUD, LOUD, LOUD))
    media.tick(0.02)  # talking
    assert not media.send_ahead(0.03)  # not a talkspurt start
    assert media.send_ahead(0.03, continuing=True)  # real-time audio: its frame goes now
    assert not media.send_ahead(0.035, continuing=True)  # once per tick
    media.tick(0.04)  # its packet went early: nothing more now
    media.tick(0.06)
    sent = await received(phone)
    assert len(sent) == 3 and media.early_sends == 1
    assert [p.timestamp - sent[0].timestamp for p in sent] == [0, 160, 320]
    assert not any(p.marker for p in sent[1:])  # one talkspurt


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


def digit_packet(seq: int, digit: int, end: bool) -> bytes:
    """An RFC 4733 event packet (§2.3: event, E bit, volume, duration)."""
    payload = bytes([digit, (0x80 if end else 0) | 10]) + (320).to_bytes(2, "big")
    return RtpPacket(101, seq, 999 * 160, 7, False, payload).serialize()


async def test_the_recorder_gets_both_frames_and_digits_go_out_at_their_tick(
    endpoint: RtpEndpoint, phone: socket.socket
) -> None:
    recorder, digits = Recorder(), list[str]()
    media = step(endpoint, phone, Agent(LOUD, None), recorder=recorder, digits=digits)
    for n in range(1, 6):
        media.session.receive(caller_packet(n), phone.getsockname(), 0.02 * n)
    media.tick(0.12)
    assert recorder.ticks == [(media.caller_frame, LOUD)] and digits == []
    for n in (6, 7):  # the end packet and its retransmission: one digit
        media.session.receive(digit_packet(n, 5, end=True), phone.getsockname(), 0.125)
    media.tick(0.14)
    assert digits == ["5"] and recorder.ticks[-1][1] is None
    media.tick(0.16)
    assert digits == ["5"] and len(recorder.ticks) == 3


async def test_no_agent_no_media_and_a_new_agent_takes_over_at_the_next_tick(
    endpoint: RtpEndpoint, phone: socket.socket
) -> None:
    """Until the call's agent is ready nothing is read or sent (nor recorded); a bridge
    that takes over (set_agent) gets the caller's frames and its own go out."""
    recorder = Recorder()
    media = step(endpoint, phone, None, recorder=recorder)
    media.tick(0.02)
    assert not media.send_ahead(0.03)
    assert await received(phone) == [] and recorder.ticks == []
    first, second = Agent(LOUD, LOUD), Agent(b"\x22" * 160)
    media.set_agent(first)
    media.tick(0.04)
    media.set_agent(second)
    media.tick(0.06)
    sent = await received(phone)
    assert [p.payload for p in sent] == [LOUD, b"\x22" * 160]
    assert len(first.heard) == 1 and len(second.heard) == 1 and first.frames == [LOUD]
    assert [agent for _, agent in recorder.ticks] == [LOUD, b"\x22" * 160]


async def test_the_media_clock_runs_on_while_the_agent_is_prepared(
    endpoint: RtpEndpoint, phone: socket.socket
) -> None:
    """The first packet goes at the answer, then nothing until the agent is ready (an
    assistant's preparation took over a second on a loaded machine): the next packet's
    timestamp counts the ticks waited, with the marker bit of a pause (RFC 3550 §5.1,
    RFC 3551 §4.1). They stood still: the CI failure read a voicemail message sent 3.5 s
    into the call as 2.36 s in, by the gateway's timestamps, before the greeting ended."""
    media = step(endpoint, phone, None)
    endpoint.send(media.session.packets_for(None, 0.0))  # the first packet (callpath.py)
    for n in range(1, 51):  # one second without an agent
        media.tick(0.02 * n)
    media.set_agent(Agent(None, None))
    media.tick(1.02)
    media.tick(1.04)
    first, *after = await received(phone)
    assert [(p.timestamp - first.timestamp) // 160 for p in after] == [51, 52]
    assert [p.marker for p in after] == [True, False]
    assert [p.sequence_number - first.sequence_number for p in after] == [1, 2]
