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

Keypad input: :meth:`add_dtmf` appends a user message worded by
``ConversationSettings.dtmf_template``, by default
``"[The caller pressed keypad keys: 1 2 3 #]"``. Call ``reply(None)`` to have the
agent respond to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from typing import Any

from sipgw.agent.llm.base import ChatLLM, LlmError, LlmEvent, LlmTextDelta, LlmToolCall
from sipgw.agent.llm.sentences import FIRST_CLAUSE_CHARS, SentenceSplitter
from sipgw.agent.tools.registry import ToolContext, ToolRegistry, ToolResult
from sipgw.agent.tracing import CURRENT_SPAN, Span

__all__ = [
    "Conversation",
    "ConversationSettings",
    "ReplyDone",
    "ReplyEvent",
    "ReplySentence",
    "ReplyTimings",
    "ReplyToolCall",
    "ReplyToolResult",
]

log = logging.getLogger("sipgw.agent.conversation")

RecordHook = Callable[[dict[str, Any]], None]
"""Receives one JSON-serializable dict per transcript event."""

_INTERRUPTED_RESULT = '{"error": "not finished: the caller interrupted"}'
_TOOL_LIMIT_RESULT = '{"error": "not run: too many tool rounds in one reply"}'


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


@dataclass(frozen=True, slots=True)
class ReplySentence:
    """A complete sentence to speak."""

    text: str
    fallback: bool = False
    """The fallback phrase, said because the LLM failed (the agent may play it from memory)."""


@dataclass(frozen=True, slots=True)
class ReplyToolCall:
    """The model called a tool; it is running now."""

    id: str
    name: str
    arguments: str
    filler: str = ""
    """The tool's own filler line ("" = the next of the filler lines)."""


@dataclass(frozen=True, slots=True)
class ReplyToolResult:
    """A tool call finished; ``content`` is what the model sees."""

    id: str
    name: str
    ok: bool
    content: str
    elapsed: float
    source: str = ""
    """The tool's source (``builtin``, ``python``, ``http``, ``mcp``; "" if unknown)."""
    refused: str = ""
    """Why it was refused (:attr:`sipgw.agent.tools.registry.ToolResult.refused`)."""


@dataclass(frozen=True, slots=True)
class ReplyTimings:
    """When things happened, in event-loop time (``loop.time()``)."""

    started_at: float
    first_token_at: float | None
    """The first text delta or tool call of the reply."""
    first_sentence_at: float | None
    finished_at: float
    llm_rounds: int
    tool_calls: int

    @property
    def first_token_latency(self) -> float | None:
        """Seconds from the start to the first token."""
        return None if self.first_token_at is None else self.first_token_at - self.started_at

    @property
    def first_sentence_latency(self) -> float | None:
        """Seconds from the start to the first sentence."""
        if self.first_sentence_at is None:
            return None
        return self.first_sentence_at - self.started_at


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The reply is complete; always the last event."""

    text: str
    """Everything spoken in this reply (the sentences, joined)."""
    timings: ReplyTimings
    failed: bool = False
    """The LLM failed; the fallback phrase was spoken."""
    error: str | None = None
    error_kind: str | None = None
    """The :class:`~sipgw.agent.llm.base.LlmError` kind when ``failed`` (timeout, http ...)."""
    error_status: int | None = None
    """Its HTTP status, if the server answered with one."""
    usage: dict[str, int] | None = None
    """Token counts summed over the reply's LLM rounds."""


ReplyEvent = ReplySentence | ReplyToolCall | ReplyToolResult | ReplyDone
"""What :meth:`Conversation.reply` yields."""


@dataclass(eq=False)
class _Turn:
    """The state of one reply while it runs."""

    started_at: float
    spoken: list[str] = field(default_factory=list)
    assistant_messages: list[dict[str, Any]] = field(default_factory=list)
    round_text: list[str] = field(default_factory=list)
    round_spoken: list[str] = field(default_factory=list)
    calls: list[LlmToolCall] = field(default_factory=list)
    results: dict[int, ToolResult] = field(default_factory=dict)
    tasks: dict[asyncio.Task[ToolResult], int] = field(default_factory=dict)
    cancelled: list[asyncio.Task[ToolResult]] = field(default_factory=list)
    first_token_at: float | None = None
    first_sentence_at: float | None = None
    llm_rounds: int = 0
    tool_calls: int = 0
    usage: dict[str, int] | None = None
    failed: bool = False
    error: str | None = None
    error_kind: str | None = None
    error_status: int | None = None
    closed: bool = False
    first_round: AsyncGenerator[LlmEvent, None] | None = None

    def begin_round(self) -> None:
        self.round_text.clear()
        self.round_spoken.clear()
        self.calls.clear()
        self.results.clear()
        self.tasks.clear()
        self.llm_rounds += 1

    def add_usage(self, usage: Mapping[str, int] | None) -> None:
        if usage is None:
            return
        total = self.usage if self.usage is not None else {}
        for key, value in usage.items():
            if isinstance(value, int):
                total[key] = total.get(key, 0) + value
        self.usage = total

    def timings(self, finished_at: float) -> ReplyTimings:
        return ReplyTimings(
            started_at=self.started_at,
            first_token_at=self.first_token_at,
            first_sentence_at=self.first_sentence_at,
            finished_at=finished_at,
            llm_rounds=self.llm_rounds,
            tool_calls=self.tool_calls,
        )


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
        self.tools = tools
        self.ctx = ctx
        self.settings = settings
        self.on_record = on_record
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": settings.system_prompt}
        ]
        self._active: _Turn | None = None
        self._last: _Turn | None = None

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
            self._record({"type": "user", "text": user_text})
        turn = _Turn(started_at=_now(), first_round=first_round)
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
                await _reap(turn)
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
        remaining = " ".join(heard_text.split())
        for message in list(turn.assistant_messages):
            content = " ".join(str(message.get("content") or "").split())
            if not content:
                continue
            if len(remaining) >= len(content):
                remaining = remaining[len(content) :].lstrip()
                continue
            heard, remaining = remaining.rstrip(), ""
            self._cut(turn, message, heard + self.settings.interrupted_suffix if heard else "")
        self._record({"type": "heard", "text": heard_text})

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
        self._record({"type": "dtmf", "digits": "".join(keys), "text": text})

    # -- the rounds ------------------------------------------------------------

    async def _rounds(self, turn: _Turn) -> AsyncGenerator[ReplyEvent, None]:
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
                async with aclosing(self._run_tools(turn)) as events:
                    async for event in events:
                        yield event
                if turn.closed:
                    return
                self._commit_tool_round(turn, interrupted=False)
        except LlmError as exc:
            log.warning("call %s: %s", self.ctx.call_id, exc)
            turn.failed, turn.error, turn.error_kind = True, str(exc), exc.kind
            turn.error_status = exc.status
            turn.calls.clear()  # not dispatched: the round is void
            yield self._speak(turn, self.settings.fallback_phrase, fallback=True)
            return
        # The model still wants tools after the last round: answer them with an
        # error, and say the fallback if nothing was said at all.
        self._commit_tool_round(turn, interrupted=False, missing=_TOOL_LIMIT_RESULT)
        turn.error = "tool round limit reached"
        if not turn.spoken:
            turn.failed = True
            yield self._speak(turn, self.settings.fallback_phrase, fallback=True)

    async def _llm_round(
        self, turn: _Turn, tools_allowed: bool
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

    async def _run_tools(self, turn: _Turn) -> AsyncGenerator[ReplyEvent, None]:
        for index, call in enumerate(turn.calls):
            span = CURRENT_SPAN.get().child("tool", {"tool.name": call.name})
            coro = self._call_tool(call.name, call.arguments, span)
            task = asyncio.create_task(coro, name=f"tool {call.name} {call.id}")
            turn.tasks[task] = index
        turn.tool_calls += len(turn.calls)
        for call in list(turn.calls):
            tool = self.tools.get(call.name)
            filler = tool.filler if tool is not None else ""
            yield ReplyToolCall(call.id, call.name, call.arguments, filler)
        pending: set[asyncio.Task[ToolResult]] = set(turn.tasks)
        while pending and not turn.closed:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if turn.closed:
                return  # superseded while waiting: _interrupt answered the calls
            for task in sorted(done, key=turn.tasks.__getitem__):
                index = turn.tasks[task]
                result = _task_result(task)
                turn.results[index] = result
                call = turn.calls[index]
                self._record_tool(call, result)
                yield ReplyToolResult(
                    call.id, call.name, result.ok, result.content, result.elapsed,
                    result.source, result.refused,
                )  # fmt: skip

    async def _call_tool(self, name: str, arguments: str, span: Span) -> ToolResult:
        """Run one tool call in its own task, whose requests carry its ``tool`` span."""
        CURRENT_SPAN.set(span)  # the task's context is its own copy
        try:
            result = await self.tools.call(name, arguments, self.ctx)
            if span.recording:
                span.set_attribute("tool.ok", result.ok)
                if result.source:
                    span.set_attribute("tool.source", result.source)
                if not result.ok:
                    span.set_error(result.refused or "error")
            return result
        finally:
            span.end()

    # -- history ---------------------------------------------------------------

    def _speak(self, turn: _Turn, sentence: str, *, fallback: bool = False) -> ReplySentence:
        if turn.first_sentence_at is None:
            turn.first_sentence_at = _now()
        turn.spoken.append(sentence)
        turn.round_spoken.append(sentence)
        return ReplySentence(sentence, fallback)

    @staticmethod
    def _first_token(turn: _Turn) -> None:
        if turn.first_token_at is None:
            turn.first_token_at = _now()

    def _round_content(self, turn: _Turn, interrupted: bool) -> str:
        """The assistant text of the current round for the history."""
        if interrupted or turn.failed:
            return " ".join(turn.round_spoken)
        return "".join(turn.round_text).strip()

    def _commit_tool_round(
        self, turn: _Turn, *, interrupted: bool, missing: str = _INTERRUPTED_RESULT
    ) -> None:
        """Append the assistant ``tool_calls`` message and every tool result."""
        message: dict[str, Any] = {"role": "assistant"}
        content = self._round_content(turn, interrupted)
        if content:
            message["content"] = content
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in turn.calls
        ]
        self.messages.append(message)
        turn.assistant_messages.append(message)
        for index, call in enumerate(turn.calls):
            result = turn.results.get(index)
            if result is None:
                self._record_tool(call, ToolResult(ok=False, content=missing, elapsed=0.0))
            self.messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": result.content if result is not None else missing,
                }
            )
        turn.calls.clear()
        turn.results.clear()
        turn.tasks.clear()
        turn.round_text.clear()
        turn.round_spoken.clear()

    def _commit_text(self, turn: _Turn, *, interrupted: bool) -> None:
        content = self._round_content(turn, interrupted)
        if content:
            message = {"role": "assistant", "content": content}
            self.messages.append(message)
            turn.assistant_messages.append(message)

    def _finish(self, turn: _Turn) -> None:
        """The reply ran to its end: append its last text and close it."""
        if turn.closed:
            return
        self._commit_text(turn, interrupted=False)
        self._close(turn, interrupted=False)

    def _interrupt(self, turn: _Turn) -> None:
        """The reply was abandoned: keep the history valid with what was done."""
        if turn.closed:
            return
        for task, index in turn.tasks.items():
            if task.done() and not task.cancelled() and index not in turn.results:
                turn.results[index] = _task_result(task)
            elif not task.done():
                task.cancel()
                turn.cancelled.append(task)
        if turn.calls:
            self._commit_tool_round(turn, interrupted=True)
        else:
            self._commit_text(turn, interrupted=True)
        self._close(turn, interrupted=True)

    def _interrupt_active(self) -> None:
        if self._active is not None:
            self._interrupt(self._active)

    def _close(self, turn: _Turn, *, interrupted: bool) -> None:
        turn.closed = True
        if self._active is turn:
            self._active = None
        self._record(
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

    def _cut(self, turn: _Turn, message: dict[str, Any], content: str) -> None:
        if content:
            message["content"] = content
        elif "tool_calls" in message:
            message.pop("content", None)
        else:
            turn.assistant_messages.remove(message)
            for position, candidate in enumerate(self.messages):
                if candidate is message:
                    del self.messages[position]
                    break

    # -- records ---------------------------------------------------------------

    def _record_tool(self, call: LlmToolCall, result: ToolResult) -> None:
        self._record(
            {
                "type": "tool_call",
                "id": call.id,
                "name": call.name,
                "arguments": call.arguments,
                "result": result.content,
                "ok": result.ok,
                **({"refused": result.refused} if result.refused else {}),
                **({"source": result.source} if result.source else {}),
                "elapsed": round(result.elapsed, 4),
            }
        )

    def _record(self, record: dict[str, Any]) -> None:
        if self.on_record is None:
            return
        record = {"ts": time.time(), "call_id": self.ctx.call_id, **record}
        try:
            self.on_record(record)
        except Exception:
            log.exception("call %s: the record hook failed", self.ctx.call_id)


def _now() -> float:
    return asyncio.get_running_loop().time()


def _task_result(task: asyncio.Task[ToolResult]) -> ToolResult:
    """The task's result; a bug in the registry becomes an error result too."""
    if task.cancelled():
        return ToolResult(ok=False, content=_INTERRUPTED_RESULT, elapsed=0.0)
    exc = task.exception()
    if exc is not None:
        log.error("tool task failed", exc_info=exc)
        return ToolResult(ok=False, content='{"error": "internal error"}', elapsed=0.0)
    return task.result()


async def _reap(turn: _Turn) -> None:
    """Wait for cancelled tool tasks to finish, so none outlives the reply."""
    tasks, turn.cancelled = turn.cancelled, []
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
