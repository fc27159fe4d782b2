"""One SIP call's 20 ms media step (media.callmedia), on a real session and fake ends."""

from __future__ import annotations

from media.callmedia import CallMedia
from media.rtp import RtpPacket
from media.session import MediaSession, StreamParams

PEER = ("192.0.2.7", 40000)
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


class Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.rtcp_asked: list[float] = []

    def send(self, packets: list[bytes]) -> None:
        self.sent += packets

    def send_rtcp(self, now: float) -> None:
        self.rtcp_asked.append(now)


def step(*frames: bytes | None, send: bool = True, confirmed: bool = True) -> CallMedia:
    session = MediaSession(StreamParams(remote=PEER, send=send), now=0.0, confirmed=confirmed)
    return CallMedia(session, Agent(*frames), Sink())


def caller_packet(seq: int) -> bytes:
    return RtpPacket(0, seq, seq * 160, 7, False, LOUD).serialize()


def test_each_tick_takes_the_callers_frame_and_sends_the_agents() -> None:
    media = step(LOUD, None)
    sink, agent = media.sink, media.agent
    assert isinstance(sink, Sink) and isinstance(agent, Agent)
    for n in range(1, 6):  # the caller's audio fills the jitter buffer's first wait
        media.session.receive(caller_packet(n), PEER, 0.02 * n)
    for n in range(6):
        media.tick(0.1 + 0.02 * n)
    assert len(sink.sent) == 6 and len(sink.rtcp_asked) == 6  # silence goes out too
    first = RtpPacket.parse(sink.sent[0])
    assert first.payload == LOUD and first.marker  # a talkspurt's first packet
    assert media.agent_frame is None  # the last tick's: silence
    assert LOUD in agent.heard and len(agent.heard) == 6


def test_nothing_goes_out_before_the_ack_or_on_hold_and_the_agents_audio_waits() -> None:
    for media in (step(LOUD, confirmed=False), step(LOUD, send=False)):
        media.tick(0.02)
        media.tick(0.04)
        sink, agent = media.sink, media.agent
        assert isinstance(sink, Sink) and isinstance(agent, Agent)
        assert sink.sent == [] and agent.frames == [LOUD]  # never asked for
        assert media.agent_frame is None and len(agent.heard) == 2


def test_a_talkspurt_goes_out_ahead_and_its_tick_sends_nothing_more() -> None:
    media = step(None, LOUD, LOUD)
    sink = media.sink
    assert isinstance(sink, Sink)
    media.tick(0.02)  # silence
    assert media.send_ahead(0.03)  # the agent's audio starts between two ticks
    assert not media.send_ahead(0.035)  # once per tick
    assert len(sink.sent) == 2 and RtpPacket.parse(sink.sent[1]).payload == LOUD
    media.tick(0.04)  # its packet went early: nothing more now
    assert len(sink.sent) == 2 and media.agent_frame == LOUD  # the recording gets it
    media.tick(0.06)
    assert len(sink.sent) == 3 and media.early_sends == 1
    sequence = [RtpPacket.parse(p).sequence_number for p in sink.sent]
    assert sequence == [sequence[0], sequence[0] + 1, sequence[0] + 2]  # continuous


def test_no_early_send_while_talking_or_with_nothing_to_say() -> None:
    media = step(None)
    assert not media.send_ahead(0.01)  # the agent has nothing
    media = step(LOUD, LOUD)
    media.tick(0.02)  # talking now
    assert not media.send_ahead(0.03)
