"""Preemptive replies: an LLM request started on a stable partial transcript, held.

:class:`PreemptiveRequest` starts ``llm.stream`` on the history plus the
partial transcript as the user's message, and buffers every event it yields:
nothing is spoken and no tool runs while it is preemptive. At the end of turn
the agent either *adopts* it (the final says the same words,
:func:`agent.turns.same_words`, and the history did not change meanwhile):
:meth:`PreemptiveRequest.events` replays the buffer and then follows the live
stream, as the first LLM round of the real reply, so tool calls it asks for run
only then, through the usual tool loop; or *cancels* it: the task closes the
stream (the HTTP response is closed, the service stops generating) and the
reply starts afresh on the final transcript.

Tools: a call the stream asks for starts at once only if its tool is declared
``read_only`` (:attr:`agent.tools.registry.Tool.read_only`); its task is
handed to the reply's tool loop on adoption (:attr:`early_tools`) and
cancelled otherwise. Every other tool runs only after the final transcript
confirmed the request, in the reply's own tool loop.

:class:`PreemptiveReplies` keeps a call's one request in flight: it starts one
when the turn-taking machine says :class:`agent.turns.StartPreemptive` (not
before the caller context is known: the request must carry it), drops it
(*wasted*, counted until the next reply) and adopts it at the end of turn, and
writes each outcome to the call record and the observer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any, cast

from agent.caller_context import CallerContextPrompt
from agent.callscope import CallScope, ms_between
from agent.conversation import Conversation
from agent.llm.base import ChatLLM, LlmError, LlmEvent, LlmToolCall
from agent.tools.registry import ToolContext, ToolRegistry, ToolResult
from agent.turns import same_words

__all__ = ["PreemptiveReplies", "PreemptiveRequest"]

_END = object()


class PreemptiveRequest:
    """One LLM request started before the end of turn; see the module docstring.

    Attributes:
        text: the partial transcript it answers.
        history_length: how many messages of the history it was sent with
            (before the partial user message).
        started_at: loop time it started.
        early_tools: the read-only tool calls it started, by (name, arguments).
    """

    def __init__(
        self,
        llm: ChatLLM,
        history: Sequence[Mapping[str, Any]],
        text: str,
        tools: Sequence[Mapping[str, object]],
        tool_choice: str | None,
        tool_runner: tuple[ToolRegistry, ToolContext] | None = None,
        on_early_tool: Callable[[LlmToolCall], None] | None = None,
    ) -> None:
        self.text = text
        self.early_tools: dict[tuple[str, str], asyncio.Task[ToolResult]] = {}
        self._tool_runner = tool_runner
        self._on_early_tool = on_early_tool
        self.history_length = len(history)
        self._history = [dict(message) for message in history]
        loop = asyncio.get_running_loop()
        self.started_at = loop.time()
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        messages = [*history, {"role": "user", "content": text}]
        self._task = loop.create_task(self._consume(llm, messages, tools, tool_choice))

    async def _consume(
        self,
        llm: ChatLLM,
        messages: Sequence[Mapping[str, object]],
        tools: Sequence[Mapping[str, object]],
        tool_choice: str | None,
    ) -> None:
        try:
            async with aclosing(llm.stream(messages, tools, tool_choice=tool_choice)) as stream:
                async for event in stream:
                    if isinstance(event, LlmToolCall):
                        self._start_tool(event)
                    self._queue.put_nowait(event)
        except LlmError as exc:
            self._queue.put_nowait(exc)
        finally:
            self._queue.put_nowait(_END)

    def _start_tool(self, call: LlmToolCall) -> None:
        """Run a read-only tool call now; any other waits for the confirmation."""
        runner = self._tool_runner
        if runner is None or not runner[0].read_only(call.name):
            return
        key = (call.name, call.arguments)
        if key in self.early_tools:
            return
        tools, ctx = runner
        coro = tools.call(call.name, call.arguments, ctx)
        self.early_tools[key] = asyncio.get_running_loop().create_task(
            coro, name=f"early tool {call.name}"
        )
        if self._on_early_tool is not None:
            self._on_early_tool(call)

    def matches_history(self, history: Sequence[Mapping[str, Any]]) -> bool:
        """Whether ``history`` (before the user's final message) is what it was sent with."""
        return len(history) == self.history_length and all(
            dict(a) == b for a, b in zip(history, self._history, strict=True)
        )

    async def events(self) -> AsyncGenerator[LlmEvent, None]:
        """The stream's events: those buffered so far, then the live ones (adopt once).

        Raises:
            LlmError: as ``ChatLLM.stream`` would.
        """
        try:
            while True:
                item = await self._queue.get()
                if item is _END:
                    return
                if isinstance(item, LlmError):
                    raise item
                yield cast(LlmEvent, item)
        finally:
            await self.cancel()

    async def cancel(self) -> None:
        """Stop the request (closes its stream) and wait until it has stopped."""
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def drop(self) -> None:
        """Not used after all: stop the request and the tool calls it started."""
        await self.cancel()
        await self.cancel_tools()

    async def cancel_tools(self) -> None:
        """Cancel the early tool calls still running (nobody will read them)."""
        tasks = [task for task in self.early_tools.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class PreemptiveReplies:
    """One call's preemptive request: started, dropped or adopted (see the module docstring).

    Attributes:
        wasted: requests dropped since the last reply began (:meth:`take_wasted`).
    """

    __slots__ = ("_context", "_conversation", "_request", "_scope", "wasted")

    def __init__(
        self, scope: CallScope, conversation: Conversation, context: CallerContextPrompt
    ) -> None:
        self._scope = scope
        self._conversation = conversation
        self._context = context
        self._request: PreemptiveRequest | None = None
        self.wasted = 0

    @property
    def request(self) -> PreemptiveRequest | None:
        """The request in flight, if any."""
        return self._request

    def start(self, text: str) -> None:
        """Start the LLM on the partial transcript ``text``; its output waits for the end
        of turn. Not while the caller context is still being looked up (the first
        reply waits for it instead)."""
        self.drop("replaced")
        if not self._context.add_if_ready():
            return
        conversation = self._conversation
        schemas = conversation.tools.schemas()
        tool_choice = None if conversation.settings.max_tool_rounds > 0 or not schemas else "none"
        scope = self._scope
        self._request = PreemptiveRequest(
            conversation.llm, conversation.messages, text, schemas, tool_choice,
            tool_runner=(conversation.tools, conversation.ctx),
            on_early_tool=functools.partial(_record_early_tool, scope),
        )  # fmt: skip
        scope.write({"type": "preemptive", "outcome": "started", "text": text})
        scope.observer.preemptive("started")

    def drop(self, why: str) -> None:
        """Cancel the request, if any: one wasted LLM request."""
        request, self._request = self._request, None
        if request is None:
            return
        scope = self._scope
        scope.spawn(request.drop())
        self.wasted += 1
        scope.write({"type": "preemptive", "outcome": "wasted", "why": why,
                     "text": request.text})  # fmt: skip
        scope.observer.preemptive("wasted")

    def adopt(self, final: str) -> PreemptiveRequest | None:
        """The request, if the final transcript ``final`` confirms it; else drop it."""
        request = self._request
        if request is None:
            return None
        if not same_words(request.text, final):
            self.drop("final differs")
            return None
        if not request.matches_history(self._conversation.messages):
            self.drop("history changed")
            return None
        self._request = None
        scope = self._scope
        scope.write({"type": "preemptive", "outcome": "used", "text": request.text,
                     "lead_ms": ms_between(scope.now(), request.started_at)})  # fmt: skip
        scope.observer.preemptive("used")
        return request

    def take_wasted(self) -> int:
        """The requests wasted since the previous reply (a reply begins: the count restarts)."""
        wasted, self.wasted = self.wasted, 0
        return wasted


def _record_early_tool(scope: CallScope, call: LlmToolCall) -> None:
    scope.write({"type": "preemptive_tool", "name": call.name, "arguments": call.arguments})
