"""One call's conversation with the LLM: history, streamed sentences, the tool loop.

Theory of operation
-------------------
:meth:`Conversation.reply` answers one caller turn. It appends the user
message, then runs up to ``max_tool_rounds + 1`` LLM rounds:

1. Stream the LLM. Text deltas go through a :class:`SentenceSplitter`; each
   sentence is yielded as :class:`ReplySentence` the moment it is complete, so
   text-to-speech starts long before the model finishes. Whatever is left when
   the stream ends is yielded too.
2. If the model asked for tools: yield :class:`ReplyToolCall` for each, run
   them all in parallel through the :class:`ToolRegistry`, yield
   :class:`ReplyToolResult` as each finishes, append the assistant message with
   ``tool_calls`` and one ``tool`` message per call (docs/cloud-apis.md,
   "OpenAI streamed tool calls", the tool-result messages), and go to the
   next round. The last round is sent with ``tool_choice="none"`` so the
   model has to answer in words.
3. Otherwise append the assistant message and yield :class:`ReplyDone`.

History invariants (``messages`` is always valid to send to the API):

* An assistant message with ``tool_calls`` is only ever appended together with
  a ``tool`` message for every one of its calls.
* On :class:`LlmError` the caller hears ``fallback_phrase``, and the assistant
  message holds what was spoken (including the fallback).
* On cancellation (barge-in) the assistant message holds only the sentences
  already yielded; tool calls still running are cancelled and answered with an
  "interrupted" error. This happens when the generator is closed, or at the
  latest when the next :meth:`reply`, :meth:`record_heard` or :meth:`add_dtmf`
  call notices the unfinished reply. Consume replies with
  ``contextlib.aclosing`` so it happens at once.

After a barge-in, :meth:`record_heard` cuts the reply's assistant messages
down to what the caller actually heard, with ``interrupted_suffix`` appended.

The conversation runs the rounds; its parts are its collaborators: the tool
calls (:class:`~sipgw.agent.assistant.tool_calls.ToolCalls`), the history
(:class:`~sipgw.agent.assistant.history.ChatHistory`), the transcript records
(:class:`~sipgw.agent.assistant.transcript.TranscriptRecorder`); the events
and the reply's state are :mod:`sipgw.agent.assistant.replyturn`'s.

Keypad input: :meth:`add_dtmf` appends a user message worded by
``ConversationSettings.dtmf_template``, by default
``"[The caller pressed keypad keys: 1 2 3 #]"``. Call ``reply(None)`` to have the
agent respond to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import asdict, dataclass

from sipgw.agent.assistant.history import ChatHistory
from sipgw.agent.assistant.replyturn import (
    ReplyDone,
    ReplyEvent,
    ReplySentence,
    ReplyTimings,
    ReplyToolCall,
    ReplyToolResult,
    ReplyTurn,
)
from sipgw.agent.assistant.tool_calls import TOOL_LIMIT_RESULT, ToolCalls, reap
from sipgw.agent.assistant.transcript import RecordHook, TranscriptRecorder
from sipgw.agent.services.llm.base import ChatLLM, LlmError, LlmEvent, LlmTextDelta, LlmToolCall
from sipgw.agent.services.llm.sentences import FIRST_CLAUSE_CHARS, SentenceSplitter
from sipgw.agent.tools.registry import ToolContext, ToolRegistry

__all__ = [
    "Conversation",
    "ConversationSettings",
    "RecordHook",
    "ReplyDone",
    "ReplyEvent",
    "ReplySentence",
    "ReplyTimings",
    "ReplyToolCall",
    "ReplyToolResult",
]

log = logging.getLogger("sipgw.agent.conversation")


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    """How a conversation behaves."""

    system_prompt: str
    """The first message of every conversation."""
    max_tool_rounds: int = 4
    """Rounds of tool calls per reply; one more round then must answer in words."""
    fallback_phrase: str = "Sorry, I'm having trouble right now. Could you say that again?"
    """Spoken when the LLM fails or times out."""
    interrupted_suffix: str = "…"
    """Appended to an assistant message cut short by a barge-in (see record_heard)."""
    early_comma_chars: int | None = FIRST_CLAUSE_CHARS
    """The first sentence of a round may end at a comma once this long (None: never)."""
    dtmf_template: str = "[The caller pressed keypad keys: {digits}]"
    """How keypad input reads to the model; ``{digits}`` is the keys, space-separated."""


class Conversation:
    """The LLM side of one call. Never share one between calls."""

    def __init__(
        self,
        llm: ChatLLM,
        tools: ToolRegistry,
        ctx: ToolContext,
        settings: ConversationSettings,
        on_record: RecordHook | None = None,
    ) -> None:
        """Start a conversation holding only the system prompt.

        Args:
            llm: the (shareable) LLM client.
            tools: the tools the model may call.
            ctx: this call, as the tools see it.
            settings: prompt and behaviour.
            on_record: called with a JSON-serializable dict for every user
                turn, keypad input, tool call, assistant reply and heard-text
                correction (``"type"``: ``user``, ``dtmf``, ``tool_call``,
                ``assistant``, ``heard``), for a per-call JSONL transcript.
        """
        self.llm = llm
        self.ctx = ctx
        self.settings = settings
        self.transcript = TranscriptRecorder(on_record, ctx)
        self.history = ChatHistory(settings.system_prompt, self.transcript)
        self.messages = self.history.messages
        """The history (:attr:`ChatHistory.messages`): always valid to send to the API."""
        self.tool_calls = ToolCalls(tools, ctx, self.transcript)
        self._active: ReplyTurn | None = None
        self._last: ReplyTurn | None = None

    @property
    def tools(self) -> ToolRegistry:
        """The tools the model may call (the agent may give it others before it runs)."""
        return self.tool_calls.tools

    @tools.setter
    def tools(self, tools: ToolRegistry) -> None:
        self.tool_calls.tools = tools

    @property
    def on_record(self) -> RecordHook | None:
        """The transcript's hook (see :class:`TranscriptRecorder`)."""
        return self.transcript.on_record

    @on_record.setter
    def on_record(self, on_record: RecordHook | None) -> None:
        self.transcript.on_record = on_record

    # -- public API ------------------------------------------------------------

    async def reply(
        self,
        user_text: str | None = None,
        *,
        first_round: AsyncGenerator[LlmEvent, None] | None = None,
    ) -> AsyncGenerator[ReplyEvent, None]:
        """Answer the caller; see the module docstring.

        Args:
            user_text: the caller's finished turn; None to answer what is in
                the history already (after :meth:`add_dtmf`, or for a greeting).
            first_round: an LLM stream already started on the messages the first
                round would send (an adopted preemptive request,
                :mod:`sipgw.agent.assistant.preemptive`); used instead of a new request. Its tool
                calls run here, in the tool loop, like any round's.

        Yields:
            :class:`ReplySentence`, :class:`ReplyToolCall` and
            :class:`ReplyToolResult` events, then one :class:`ReplyDone`.
        """
        self._interrupt_active()
        if user_text is not None:
            self.messages.append({"role": "user", "content": user_text})
            self.transcript.record({"type": "user", "text": user_text})
        turn = ReplyTurn(started_at=_now(), first_round=first_round)
        self._active = self._last = turn
        completed = False
        try:
            async with aclosing(self._rounds(turn)) as events:
                async for event in events:
                    yield event
            self._finish(turn)
            completed = True
        finally:
            if not completed:
                self._interrupt(turn)
                await reap(turn)
        yield ReplyDone(
            text=" ".join(turn.spoken),
            timings=turn.timings(_now()),
            failed=turn.failed,
            error=turn.error,
            error_kind=turn.error_kind,
            error_status=turn.error_status,
            usage=turn.usage,
        )

    def record_heard(self, heard_text: str) -> None:
        """After a barge-in: keep only what the caller heard of the last reply.

        The reply's assistant messages are cut to ``heard_text`` (a prefix of
        the reply's spoken text, as computed from the audio played). The
        message where hearing stopped gets ``interrupted_suffix``; later ones
        lose their text: plain messages are dropped, messages with
        ``tool_calls`` keep their calls (and their tool messages stay), so the
        history stays valid.
        """
        self._interrupt_active()
        turn = self._last
        if turn is None:
            return
        self.history.cut_to_heard(turn, heard_text, self.settings.interrupted_suffix)
        self.transcript.record({"type": "heard", "text": heard_text})

    def add_dtmf(self, digits: str) -> None:
        """Keypad input: append it as a user message (see ``dtmf_template``).

        It does not start a reply; call ``reply(None)`` for that.
        """
        keys = [key for key in digits if not key.isspace()]
        if not keys:
            return
        self._interrupt_active()
        text = self.settings.dtmf_template.format(digits=" ".join(keys))
        self.messages.append({"role": "user", "content": text})
        self.transcript.record({"type": "dtmf", "digits": "".join(keys), "text": text})

    # -- the rounds ------------------------------------------------------------

    async def _rounds(self, turn: ReplyTurn) -> AsyncGenerator[ReplyEvent, None]:
        try:
            for number in range(self.settings.max_tool_rounds + 1):
                tools_allowed = number < self.settings.max_tool_rounds
                async with aclosing(self._llm_round(turn, tools_allowed)) as events:
                    async for event in events:
                        yield event
                if turn.closed or not turn.calls:
                    return  # closed: superseded by a newer reply, history is final
                if not tools_allowed:
                    break
                async with aclosing(self.tool_calls.run(turn)) as events:
                    async for event in events:
                        yield event
                if turn.closed:
                    return
                self.history.commit_tool_round(turn, interrupted=False)
        except LlmError as exc:
            log.warning("call %s: %s", self.ctx.call_id, exc)
            turn.failed, turn.error, turn.error_kind = True, str(exc), exc.kind
            turn.error_status = exc.status
            turn.calls.clear()  # not dispatched: the round is void
            yield self._speak(turn, self.settings.fallback_phrase, fallback=True)
            return
        # The model still wants tools after the last round: answer them with an
        # error, and say the fallback if nothing was said at all.
        self.history.commit_tool_round(turn, interrupted=False, missing=TOOL_LIMIT_RESULT)
        turn.error = "tool round limit reached"
        if not turn.spoken:
            turn.failed = True
            yield self._speak(turn, self.settings.fallback_phrase, fallback=True)

    async def _llm_round(
        self, turn: ReplyTurn, tools_allowed: bool
    ) -> AsyncGenerator[ReplyEvent, None]:
        turn.begin_round()
        splitter = SentenceSplitter(
            early_comma_chars=self.settings.early_comma_chars, eager_end=True
        )
        schemas = self.tools.schemas()
        tool_choice = None if tools_allowed or not schemas else "none"
        stream, turn.first_round = turn.first_round, None
        if stream is None:
            stream = self.llm.stream(self.messages, schemas, tool_choice=tool_choice)
        async with aclosing(stream) as events:
            async for event in events:
                if turn.closed:
                    return
                if isinstance(event, LlmTextDelta):
                    self._first_token(turn)
                    turn.round_text.append(event.text)
                    for sentence in splitter.push(event.text):
                        yield self._speak(turn, sentence)
                elif isinstance(event, LlmToolCall):
                    self._first_token(turn)
                    turn.calls.append(event)
                else:
                    turn.add_usage(event.usage)
        rest = splitter.flush()
        if rest:
            yield self._speak(turn, rest)

    # -- the reply ------------------------------------------------------------

    def _speak(self, turn: ReplyTurn, sentence: str, *, fallback: bool = False) -> ReplySentence:
        if turn.first_sentence_at is None:
            turn.first_sentence_at = _now()
        turn.spoken.append(sentence)
        turn.round_spoken.append(sentence)
        return ReplySentence(sentence, fallback)

    @staticmethod
    def _first_token(turn: ReplyTurn) -> None:
        if turn.first_token_at is None:
            turn.first_token_at = _now()

    def _finish(self, turn: ReplyTurn) -> None:
        """The reply ran to its end: append its last text and close it."""
        if turn.closed:
            return
        self.history.commit_text(turn, interrupted=False)
        self._close(turn, interrupted=False)

    def _interrupt(self, turn: ReplyTurn) -> None:
        """The reply was abandoned: keep the history valid with what was done."""
        if turn.closed:
            return
        self.tool_calls.stop(turn)
        if turn.calls:
            self.history.commit_tool_round(turn, interrupted=True)
        else:
            self.history.commit_text(turn, interrupted=True)
        self._close(turn, interrupted=True)

    def _interrupt_active(self) -> None:
        if self._active is not None:
            self._interrupt(self._active)

    def _close(self, turn: ReplyTurn, *, interrupted: bool) -> None:
        turn.closed = True
        if self._active is turn:
            self._active = None
        self.transcript.record(
            {
                "type": "assistant",
                "text": " ".join(turn.spoken),
                "failed": turn.failed,
                "interrupted": interrupted,
                "error": turn.error,
                "timings": asdict(turn.timings(_now())),
                "usage": turn.usage,
            }
        )


def _now() -> float:
    return asyncio.get_running_loop().time()
