"""One SIP call's 20 ms media step: the caller's frame to the agent, the agent's to RTP.

The ticker runs it for every call: it is the ticker's participant for a SIP call
(sipgw/app/calls/callpath.py adds it), so it is the per-frame path of every call and is compiled
on the native path, with the session (media/session.py) that does the RTP and the endpoint
(media/aio/rtp_endpoint.py) that sends it: compiled code calls compiled code directly,
without a Python-level method call, and nothing interpreted runs per call per tick. The
agent is reached through a small protocol (agent/base.py ``Agent``), the call's recorder
and its RFC 4733 digits through two more; the call sets a new agent with
:meth:`CallMedia.set_agent` (a bridge takes over).

Talkspurt fast path: when the agent's audio starts between two ticks
(:meth:`CallMedia.send_ahead`), the next tick's packet goes out at once and that tick
then sends nothing more, so pacing holds (RTP timestamps follow the ticks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sipgw.media.aio.rtp_endpoint import RtpEndpoint
from sipgw.media.session import MediaSession

__all__ = ["CallMedia", "FrameAgent", "FrameRecorder"]


class FrameAgent(Protocol):
    """The agent's two per-frame calls (agent/base.py ``Agent``)."""

    def on_caller_frame(self, frame: bytes | None) -> None: ...

    def next_frame(self) -> bytes | None: ...


class FrameRecorder(Protocol):
    """Takes both sides' frames of each tick (sipgw/app/calls/recording.py ``CallRecorder``)."""

    def tick(self, caller: bytes | None, agent: bytes | None) -> None: ...


def _no_frame() -> bytes | None:
    return None


def _drop_frame(frame: bytes | None) -> None:
    return None


class CallMedia:
    """A call's session, agent and sockets, stepped once a tick.

    Attributes:
        agent: the call's agent; None until it is ready (the call's media waits: nothing
            is read from the jitter buffer, nothing is sent, the RTP timestamps keep to
            wall time).
        recorder: gets both frames of every tick (None: the call is not recorded).
        on_digit: gets each RFC 4733 digit the session decoded, at the tick that took it.
        caller_frame: the caller's frame of the last tick (None: silence or nothing).
        agent_frame: the agent's frame sent at the last tick (None: silence, or nothing
            sent: on hold, before the ACK, while the peer is silent).
        early_sends: packets sent ahead of their tick (talkspurt starts).
    """

    __slots__ = (
        "_next_frame", "_on_caller_frame", "agent", "agent_frame", "caller_frame",
        "early_frame", "early_sends", "on_digit", "recorder", "sent_ahead", "session", "sink",
    )  # fmt: skip

    def __init__(
        self,
        session: MediaSession,
        agent: FrameAgent | None,
        sink: RtpEndpoint,
        recorder: FrameRecorder | None = None,
        on_digit: Callable[[str], None] | None = None,
    ) -> None:
        self.session = session
        self.sink = sink
        self.recorder = recorder
        self.on_digit = on_digit
        self.caller_frame: bytes | None = None
        self.agent_frame: bytes | None = None
        self.early_frame: bytes | None = None
        self.sent_ahead = False
        self.early_sends = 0
        self.agent: FrameAgent | None = None
        self._on_caller_frame: Callable[[bytes | None], None] = _drop_frame
        self._next_frame: Callable[[], bytes | None] = _no_frame
        self.set_agent(agent)

    def set_agent(self, agent: FrameAgent | None) -> None:
        """The call's agent from now on (None: none, the media waits)."""
        self.agent = agent
        # Its two per-frame methods, bound once: a call through the protocol looks the
        # method up on the agent's type at every tick (1 % of the echo gateway's CPU).
        if agent is None:
            self._on_caller_frame, self._next_frame = _drop_frame, _no_frame
        else:
            self._on_caller_frame, self._next_frame = agent.on_caller_frame, agent.next_frame
        self.sent_ahead = False
        self.early_frame = None

    def tick(self, now: float) -> None:
        """One 20 ms step (the ticker's)."""
        if self.agent is None:
            # The agent is not ready (being prepared: seconds on a loaded machine): nothing
            # is read or sent, but the media clock runs on, so the next packet's timestamp
            # says the time that passed (RFC 3550 §5.1) and it carries the marker bit.
            self.session.skip(1)
            return
        session = self.session
        session.poll_ingress(now)
        caller_frame = session.caller_frame(now)
        self.caller_frame = caller_frame
        self._on_caller_frame(caller_frame)
        agent_frame: bytes | None = None
        if self.sent_ahead:
            self.sent_ahead = False  # this tick's packet already went out early
            agent_frame = self.early_frame
            self.early_frame = None
        elif session.params.send and session.may_send(now):
            agent_frame = self._next_frame()
            packets = session.packets_for(agent_frame, now)
            if packets:
                self.sink.send(packets)
        else:
            # On hold, before the ACK, or while the peer is silent (media/liveness.py):
            # nothing goes out and the agent's audio waits.
            session.packets_for(None, now)
        self.agent_frame = agent_frame
        self.sink.send_rtcp(now)
        recorder = self.recorder
        if recorder is not None:
            recorder.tick(caller_frame, agent_frame)
        if session.digits_pending:
            digits = session.take_digits()  # taken either way: nobody listening drops them
            on_digit = self.on_digit
            if on_digit is not None:
                for digit in digits:
                    on_digit(digit)

    def skip(self, ticks: int) -> None:
        """``ticks`` were dropped after a stall: RTP timestamps stay on wall time."""
        self.session.skip(ticks)

    def send_ahead(self, now: float, continuing: bool = False) -> bool:
        """The agent's audio just started (``continuing``: or came again after running out
        within a talkspurt): send the next tick's packet now, if it may go."""
        session = self.session
        if self.agent is None or self.sent_ahead or not session.can_send_early(now, continuing):
            return False
        frame = self._next_frame()
        if frame is None:
            return False
        self.sink.send(session.packets_for(frame, now))
        self.sent_ahead = True
        self.early_frame = frame
        self.early_sends += 1
        return True
