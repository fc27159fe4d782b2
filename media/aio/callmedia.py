"""One SIP call's 20 ms media step: the caller's frame to the agent, the agent's to RTP.

The ticker runs it for every call (sipgw/app/callhandle.py), so it is the per-frame path
of every call and is compiled on the native path, with the session (media/session.py) that
does the RTP and the endpoint (media/aio/rtp_endpoint.py) that sends it: compiled code
calls compiled code directly, without a Python-level method call. The agent is reached
through a small protocol (agent/base.py ``Agent``).

Talkspurt fast path: when the agent's audio starts between two ticks
(:meth:`CallMedia.send_ahead`), the next tick's packet goes out at once and that tick
then sends nothing more, so pacing holds (RTP timestamps follow the ticks).
"""

from __future__ import annotations

from typing import Protocol

from media.aio.rtp_endpoint import RtpEndpoint
from media.session import MediaSession

__all__ = ["CallMedia", "FrameAgent"]


class FrameAgent(Protocol):
    """The agent's two per-frame calls (agent/base.py ``Agent``)."""

    def on_caller_frame(self, frame: bytes | None) -> None: ...

    def next_frame(self) -> bytes | None: ...


class CallMedia:
    """A call's session, agent and sockets, stepped once a tick.

    Attributes:
        caller_frame: the caller's frame of the last tick (None: silence or nothing).
        agent_frame: the agent's frame sent at the last tick (None: silence, or nothing
            sent: on hold, before the ACK, while the peer is silent).
        early_sends: packets sent ahead of their tick (talkspurt starts).
    """

    __slots__ = (
        "agent", "agent_frame", "caller_frame", "early_frame", "early_sends", "sent_ahead",
        "session", "sink",
    )  # fmt: skip

    def __init__(self, session: MediaSession, agent: FrameAgent, sink: RtpEndpoint) -> None:
        self.session = session
        self.agent = agent
        self.sink = sink
        self.caller_frame: bytes | None = None
        self.agent_frame: bytes | None = None
        self.early_frame: bytes | None = None
        self.sent_ahead = False
        self.early_sends = 0

    def tick(self, now: float) -> None:
        """One 20 ms step (the ticker's)."""
        session = self.session
        session.poll_ingress(now)
        caller_frame = session.caller_frame(now)
        self.caller_frame = caller_frame
        agent = self.agent
        agent.on_caller_frame(caller_frame)
        agent_frame: bytes | None = None
        if self.sent_ahead:
            self.sent_ahead = False  # this tick's packet already went out early
            agent_frame = self.early_frame
            self.early_frame = None
        elif session.params.send and session.may_send(now):
            agent_frame = agent.next_frame()
            packets = session.packets_for(agent_frame, now)
            if packets:
                self.sink.send(packets)
        else:
            # On hold, before the ACK, or while the peer is silent (media/liveness.py):
            # nothing goes out and the agent's audio waits.
            session.packets_for(None, now)
        self.agent_frame = agent_frame
        self.sink.send_rtcp(now)

    def send_ahead(self, now: float) -> bool:
        """The agent's audio just started: send the next tick's packet now, if it may go."""
        session = self.session
        if self.sent_ahead or not session.can_send_early(now):
            return False
        frame = self.agent.next_frame()
        if frame is None:
            return False
        self.sink.send(session.packets_for(frame, now))
        self.sent_ahead = True
        self.early_frame = frame
        self.early_sends += 1
        return True
