"""An agent that plays a recorded message once and hangs up (no AI service involved).

The gateway answers with it when it will not put a call through to its agent:
while an AI service the agent needs is down for everyone (its circuit breaker is
open) and the operator configured a message instead of a 503
(``SIPGW_BREAKER_MESSAGE``). The message is G.711 μ-law in 160-byte frames; the
caller's audio is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence

from sipgw.agent.base import Agent, CallControl

__all__ = ["AnnouncementAgent"]


class AnnouncementAgent(Agent):
    """Plays ``frames`` from the answer on, then hangs up."""

    def __init__(self, call: CallControl, frames: Sequence[bytes]) -> None:
        self.call = call
        self._frames = frames
        self._next = 0
        self._answered = False
        self._hung_up = False

    def on_answered(self) -> None:
        """The message starts now."""
        self._answered = True
        self.call.audio_ready()

    def on_caller_frame(self, frame: bytes | None) -> None:
        """Unused: nobody listens."""

    def next_frame(self) -> bytes | None:
        """The message's next frame; after its last one, the hang-up."""
        if not self._answered:
            return None
        if self._next < len(self._frames):
            frame = self._frames[self._next]
            self._next += 1
            return frame
        if not self._hung_up:
            self._hung_up = True
            self.call.hangup()
        return None
