"""One thing the agent says, from its start to its last frame, and the agent's side of the turn.

A :class:`Reply` is an LLM reply to a turn (``reply``) or a fixed line said
without the LLM (``greeting``, ``notice``, ``goodbye``): its text-to-speech
stream, the task that feeds it, and the times its metrics need. The
:class:`SpeakingState` holds the reply in progress and the playout; it is what
the turn-taking machine reads (:class:`sipgw.agent.turns.machine.AgentState`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, TypeAlias

from sipgw.agent.assistant.preemptive import PreemptiveRequest
from sipgw.agent.assistant.speculative import HeldSpeech
from sipgw.agent.playout import Playout, PlayoutState
from sipgw.agent.resilience.line_cache import LineAudio
from sipgw.agent.services.tts.base import TtsReply
from sipgw.foundation.tracing import NO_SPAN, Span

__all__ = ["FillerLine", "Reply", "ReplyKind", "SpeakingState"]

ReplyKind: TypeAlias = Literal["greeting", "reply", "notice", "goodbye"]
"""An LLM reply (``reply``), or a fixed line: the opening, a notice, the drain's goodbye."""


@dataclass(eq=False)
class FillerLine:
    """A filler line said while a reply's tool round runs (:mod:`sipgw.agent.assistant.fillers`)."""

    tts: TtsReply
    text: str
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class Reply:
    """One reply in flight.

    Attributes:
        kind: what it is.
        tts: its text-to-speech stream (its ``id`` names it in the playout).
        turn: the number of LLM replies so far, this one included if it is one.
        task: feeds its text to TTS and its audio to the playout.
        started_at: loop time it started.
        speech_end_at: the caller's end of speech it answers (VAD), if known.
        stt_final_at: when the STT's end of turn it answers arrived.
        first_token_at: the LLM's first token.
        first_sentence_at: when its first sentence went to TTS.
        text: what it says (the LLM's whole reply once done).
        preemptive: the preemptive LLM request it adopted (its first round).
        wasted: preemptive requests cancelled since the previous reply.
        held: the adopted request's first clause, synthesized before the turn was
            confirmed (its TTS reply is this reply's ``tts``).
        wasted_chars: held characters discarded since the previous reply.
        heard: what the caller heard of it, once a barge-in cut it.
        tts_failed: TTS failed while it spoke (what arrived was played).
        filler: the filler line said while its tools run, until its answer comes.
        fallback: a fallback line from memory, said at its end (the LLM or TTS failed;
            agent/assistant/failures.py); None once queued.
        released_at: when an opening held while answering-machine detection listened
            was let out (:meth:`sipgw.agent.assistant.greeting.Greeter.open`): it starts then for
            the turn-taking machine, so the callee's speech before it (the turn it answers)
            is no barge-in.
        tools_seconds: how long its tool rounds ran (the first call of each round to its
            last answer; the waterfall's ``tools`` stage).
        tools_running: its tool calls running now.
        tools_since: when the running round began.
        llm_done_at: when the LLM's whole reply was in (its last round's end).
        span: its turn's trace span (:mod:`sipgw.agent.assistant.turn_spans`).
        conversing: its turn is in the conversation (the LLM reply began; a barge-in
            before then has nothing of it to cut there).
    """

    kind: ReplyKind
    tts: TtsReply
    turn: int
    task: asyncio.Task[None] | None = None
    started_at: float = 0.0
    speech_end_at: float | None = None
    stt_final_at: float | None = None
    first_token_at: float | None = None
    first_sentence_at: float | None = None
    text: str = ""
    preemptive: PreemptiveRequest | None = None
    wasted: int = 0
    held: HeldSpeech | None = None
    wasted_chars: int = 0
    heard: str | None = None
    tts_failed: bool = False
    filler: FillerLine | None = None
    fallback: LineAudio | None = None
    released_at: float | None = None
    tools_seconds: float | None = None
    tools_running: int = 0
    tools_since: float = 0.0
    llm_done_at: float | None = None
    span: Span = NO_SPAN
    conversing: bool = False

    def tools_started(self, now: float) -> None:
        """One of its tool calls started at ``now``."""
        if self.tools_running == 0:
            self.tools_since = now
        self.tools_running += 1

    def tool_returned(self, now: float) -> None:
        """One of its tool calls answered at ``now``."""
        self.tools_running = max(0, self.tools_running - 1)
        if self.tools_running == 0:
            self.tools_seconds = (self.tools_seconds or 0.0) + now - self.tools_since


class SpeakingState(PlayoutState):
    """The agent's side: its playout and its current reply
    (:class:`sipgw.agent.turns.machine.AgentState`)."""

    __slots__ = ("heard_last", "reply")

    def __init__(self, playout: Playout) -> None:
        super().__init__(playout)
        self.reply: Reply | None = None
        self.heard_last: Reply | None = None
        """The latest reply or line whose first frame the caller heard."""

    def last_said(self) -> str:
        """What the agent said last: the words of :attr:`heard_last` (what the caller heard
        of it, if it was cut off; while an LLM reply is still written, its words so far);
        "" before anything was heard. The turn-taking machine reads it at a tentative end
        (a short answer to the agent's question ends the turn)."""
        reply = self.heard_last
        if reply is None:
            return ""
        if reply.heard is not None:
            return reply.heard
        return reply.text or self.playout.heard_text(reply.tts.id)

    def active(self, reply: Reply | None) -> bool:
        """The reply is still generating or still has audio to play."""
        if reply is None:
            return False
        running = reply.task is not None and not reply.task.done()
        return running or not self.playout.finished(reply.tts.id)

    def active_reply_started_at(self) -> float | None:
        """When the current reply started (or was let out, if it was held for answering-
        machine detection), while it is active; None otherwise."""
        reply = self.reply
        if reply is None or not self.active(reply):
            return None
        released = reply.released_at
        return reply.started_at if released is None else released
