"""The agent's LLM replies: a turn (or a note for the model) in, the model's sentences spoken.

:class:`Responder` begins a reply through the :class:`sipgw.agent.assistant.speaker.Speaker`
(cutting off the active one), then runs the conversation's tool loop
(:meth:`sipgw.agent.assistant.conversation.Conversation.reply`) and sends each sentence to TTS
as soon as it is complete. Before the first LLM request the caller context is
put into the system prompt (:class:`sipgw.agent.conversation.caller_context.CallerContextPrompt`).
At the end of turn a preemptive request that the final transcript confirms is
adopted as the reply's first LLM round
(:class:`sipgw.agent.assistant.preemptive.PreemptiveReplies`); a slow tool round gets a filler line
(:mod:`sipgw.agent.assistant.fillers`); each reply that played to its end is measured
(:mod:`sipgw.agent.assistant.turn_metrics`).
"""

from __future__ import annotations

import logging
from contextlib import aclosing

from sipgw.agent.assistant.conversation import (
    Conversation,
    ReplyDone,
    ReplySentence,
    ReplyToolCall,
    ReplyToolResult,
)
from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.assistant.fillers import Fillers
from sipgw.agent.assistant.preemptive import PreemptiveReplies, PreemptiveRequest
from sipgw.agent.assistant.reply import Reply
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.assistant.turn_metrics import TurnMetrics
from sipgw.agent.callscope import CallScope
from sipgw.agent.conversation.caller_context import CallerContextPrompt
from sipgw.agent.turns.machine import Cause, StartReply
from sipgw.foundation.redact import Redactor
from sipgw.foundation.tracing import CURRENT_SPAN

__all__ = ["Responder"]

log = logging.getLogger("sipgw.agent")


class Responder:
    """One call's LLM replies (see the module docstring)."""

    __slots__ = (
        "_context", "_conversation", "_failures", "_fillers", "_metrics", "_preemptive",
        "_redactor", "_scope", "_speaker",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        speaker: Speaker,
        conversation: Conversation,
        context: CallerContextPrompt,
        preemptive: PreemptiveReplies,
        fillers: Fillers,
        metrics: TurnMetrics,
        failures: ServiceFailures,
        redactor: Redactor,
    ) -> None:
        self._scope = scope
        self._speaker = speaker
        self._conversation = conversation
        self._context = context
        self._preemptive = preemptive
        self._fillers = fillers
        self._metrics = metrics
        self._failures = failures
        self._redactor = redactor

    def answer(self, turn: StartReply) -> None:
        """The caller's turn ended: reply to it, adopting the preemptive request if it
        said the same words."""
        self.reply_to(
            turn.text, speech_end_at=turn.speech_end_at, stt_final_at=turn.stt_final_at,
            preemptive=self._preemptive.adopt(turn.text),
        )  # fmt: skip

    def reply_to_keypad(self, digits: str) -> None:
        """Keypad input (:class:`sipgw.agent.conversation.keypad.Keypad`): one user message, then a
        reply."""
        self._conversation.add_dtmf(digits)
        self.reply_to(None)

    def reply_to_note(self, note: str) -> Reply:
        """Add ``note`` to the history as a user message and let the model reply to it
        (e.g. "[The transfer failed: ... offer to take a message or to schedule a callback.]")."""
        self._conversation.messages.append({"role": "user", "content": note})
        return self.reply_to(None)

    def reply_to(
        self,
        user_text: str | None,
        *,
        speech_end_at: float | None = None,
        stt_final_at: float | None = None,
        preemptive: PreemptiveRequest | None = None,
    ) -> Reply:
        """Start an LLM reply (to ``user_text``, or to the history as it is)."""
        speaker = self._speaker
        speaker.cut_current(Cause.NEW_TURN)
        if preemptive is None:
            self._preemptive.drop("new reply")
        held = None if preemptive is None else preemptive.held
        replies = self._preemptive
        reply = speaker.begin(
            "reply", speech_end_at=speech_end_at, stt_final_at=stt_final_at,
            preemptive=preemptive, wasted=replies.take_wasted(), held=held,
            wasted_chars=replies.take_wasted_chars(),
        )  # fmt: skip
        if held is not None:
            reply.first_sentence_at = held.started_at  # its TTS started then
        scope = self._scope
        if scope.span.recording:  # the turn from the caller's end of speech
            start = speech_end_at if speech_end_at is not None else stt_final_at
            reply.span = scope.span.child("turn", {"turn": reply.turn}, start=start)
        reply.task = self._scope.spawn(self._run(reply, user_text))
        return reply

    async def _run(self, reply: Reply, user_text: str | None) -> None:
        CURRENT_SPAN.set(reply.span)  # its tool calls' spans go under it
        try:
            await self._speaker.speak(reply, self._converse(reply, user_text))
        finally:
            self._metrics.reply_done(reply)
            if reply.preemptive is not None:  # maybe cut off before its stream was read
                await reply.preemptive.drop()

    async def _converse(self, reply: Reply, user_text: str | None) -> None:
        """Run the conversation's reply and send each sentence to TTS as it completes."""
        await self._context.add()
        watch = self._fillers.watch(reply)
        try:
            early = reply.preemptive
            replying = self._conversation.reply(
                user_text, first_round=None if early is None else early.events()
            )
            # the turn is in the conversation from the generator's first step, which runs
            # before anything here awaits
            reply.conversing = True
            async with aclosing(replying) as events:
                async for event in events:
                    if isinstance(event, ReplyToolCall):
                        watch.tool_called(event.filler)
                        reply.tools_started(self._scope.now())
                    elif isinstance(event, ReplyToolResult):
                        watch.tool_returned()
                        reply.tool_returned(self._scope.now())
                    await self._carry_out(reply, event)
        finally:
            watch.close()

    async def _carry_out(
        self, reply: Reply, event: ReplySentence | ReplyToolCall | ReplyToolResult | ReplyDone
    ) -> None:
        """Carry out one event of the conversation's reply."""
        scope = self._scope
        if isinstance(event, ReplySentence):
            if reply.first_sentence_at is None:
                reply.first_sentence_at = scope.now()
            if event.fallback:  # the LLM failed: the policy's line, from memory
                self._failures.llm_fallback(reply)
                return
            await self._speaker.send_sentence(reply, event.text)
        elif isinstance(event, ReplyToolCall):
            log.info("[%s] tool %s(%s)", scope.log_id, event.name,
                     self._redactor.redact(event.arguments)[:120])  # fmt: skip
        elif isinstance(event, ReplyToolResult):
            outcome = "ok" if event.ok else (event.refused or "error")
            log.info("[%s] tool %s -> %s in %.0f ms", scope.log_id,
                     event.name, outcome, event.elapsed * 1000)  # fmt: skip
            scope.observer.tool_called(event.source or "unknown", outcome, event.elapsed)
        elif isinstance(event, ReplyDone):
            reply.text = event.text
            reply.first_token_at = event.timings.first_token_at
            reply.llm_done_at = scope.now()
            if event.failed:
                self._failures.llm_failed(event)
            else:
                self._failures.llm_answered()
