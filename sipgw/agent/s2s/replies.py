"""The speech-to-speech agent's side of the conversation: its replies and what plays now.

A reply is announced by the service (:class:`~sipgw.agent.services.s2s.base.ReplyStarted`), its
audio is queued in the playout as it arrives, and it is *live* until the service
said it is done and its last frame went out (or a barge-in dropped it). Several
can be live at once: the reply that called a tool may still be playing while the
reply to the tool's result arrives; the playout plays them in order.
:class:`Speaking` is what :class:`sipgw.agent.turns.machine.TurnTaker` reads of it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from sipgw.agent.playout import Playout, PlayoutState
from sipgw.foundation.tracing import NO_SPAN, Span

__all__ = ["Reply", "Speaking", "heard_prefix"]

_GONE_KEPT: Final = 64
"""Ended reply ids remembered, so that their late audio is dropped, not replayed."""


@dataclass(eq=False)
class Reply:
    """One reply of the model."""

    id: str
    turn: int
    started_at: float
    speech_end_at: float | None
    """The caller's last loud frame when the reply started (the speech it answers)."""
    kind: str = "reply"
    """``greeting`` (the first reply, before the caller spoke) or ``reply``."""
    first_audio_at: float | None = None
    received_ms: int = 0
    """Audio of it received so far."""
    played_ms: int | None = None
    """Set by a barge-in: how much of its audio went out."""
    text: str = ""
    done: bool = False
    status: str = ""
    heard: str | None = None
    """Set by a barge-in: what the caller heard of it."""
    tool_calls: int = 0
    line: str | None = None
    """A fallback line the agent plays itself (its name), not the model's reply."""
    finished: asyncio.Future[None] | None = field(default=None, repr=False)
    """Resolved when the service ended it (or a barge-in did)."""
    span: Span = field(default=NO_SPAN, repr=False)
    """Its ``turn`` trace span (:mod:`sipgw.agent.s2s.turn_spans`)."""
    speech_ended_at: float | None = None
    """The caller's end of speech its turn span is timed from (None: from its start)."""
    tools_running: int = 0
    """Its traced tool calls not answered yet (its turn span ends after them)."""


def heard_prefix(text: str, played_ms: int, received_ms: int) -> str:
    """The part of ``text`` the caller heard: its share of the audio received that was
    played, cut back to a whole word (a word half-said was not heard)."""
    text = text.strip()
    if received_ms <= 0 or played_ms >= received_ms:
        return text if played_ms >= received_ms > 0 else ""
    chars = len(text) * played_ms // received_ms
    cut = text[:chars]
    if chars < len(text) and not text[chars].isspace():
        cut = cut.rsplit(" ", 1)[0] if " " in cut else ""
    return cut.strip()


class Speaking(PlayoutState):
    """The live replies and the playout (sipgw.agent.turns.machine.AgentState)."""

    __slots__ = ("_gone", "_gone_set", "live")

    def __init__(self, playout: Playout) -> None:
        super().__init__(playout)
        self.live: list[Reply] = []
        self._gone: deque[str] = deque()
        self._gone_set: set[str] = set()

    def active_reply_started_at(self) -> float | None:
        """When the oldest live reply started (the agent has been replying since)."""
        self.prune()
        return self.live[0].started_at if self.live else None

    def is_live(self, reply: Reply) -> bool:
        """Still being generated, or audio of it still to play."""
        return reply.heard is None and (not reply.done or not self.playout.finished(reply.id))

    def prune(self) -> None:
        """Forget replies that are over."""
        if any(not self.is_live(reply) for reply in self.live):
            for reply in self.live:
                if not self.is_live(reply):
                    self.playout.forget(reply.id)
                    self.forget(reply.id)
            self.live = [reply for reply in self.live if self.is_live(reply)]

    def add(self, reply: Reply) -> None:
        self.prune()
        self.live.append(reply)
        self.playout.begin(reply.id)

    def gone(self, reply_id: str) -> bool:
        """The reply ended and was forgotten (late audio for it is dropped)."""
        return reply_id in self._gone_set

    def forget(self, reply_id: str) -> None:
        """Remember that ``reply_id`` is over."""
        if reply_id in self._gone_set:
            return
        self._gone.append(reply_id)
        self._gone_set.add(reply_id)
        if len(self._gone) > _GONE_KEPT:
            self._gone_set.discard(self._gone.popleft())
