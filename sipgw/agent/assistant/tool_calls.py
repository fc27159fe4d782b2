"""A reply's tool calls: each round's calls run in parallel, each in its own task under its
``tool`` span, their results yielded as each finishes; calls still running when the reply is
abandoned are cancelled and answered with an "interrupted" error, so the history stays valid
(:mod:`sipgw.agent.assistant.history`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from sipgw.agent.assistant.replyturn import ReplyEvent, ReplyToolCall, ReplyToolResult, ReplyTurn
from sipgw.agent.assistant.transcript import TranscriptRecorder
from sipgw.agent.tools.registry import ToolContext, ToolRegistry, ToolResult
from sipgw.foundation.tracing import CURRENT_SPAN, Span

__all__ = ["INTERRUPTED_RESULT", "TOOL_LIMIT_RESULT", "ToolCalls", "reap", "task_result"]

log = logging.getLogger("sipgw.agent.conversation")

INTERRUPTED_RESULT = '{"error": "not finished: the caller interrupted"}'
"""What the model sees of a call the caller's barge-in left unfinished."""
TOOL_LIMIT_RESULT = '{"error": "not run: too many tool rounds in one reply"}'
"""What the model sees of a call asked for after the last round."""


class ToolCalls:
    """Runs a reply's tool calls (see the module docstring).

    Args:
        tools: the tools the model may call.
        ctx: this call, as the tools see it.
        transcript: where each call and its result is recorded.
    """

    def __init__(
        self, tools: ToolRegistry, ctx: ToolContext, transcript: TranscriptRecorder
    ) -> None:
        self.tools = tools
        self.ctx = ctx
        self.transcript = transcript

    async def run(self, turn: ReplyTurn) -> AsyncGenerator[ReplyEvent, None]:
        """Start the round's calls (``turn.calls``); yield :class:`ReplyToolCall` for each,
        then :class:`ReplyToolResult` as each finishes (results in ``turn.results``)."""
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
                result = task_result(task)
                turn.results[index] = result
                call = turn.calls[index]
                self.transcript.tool(call, result)
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

    @staticmethod
    def stop(turn: ReplyTurn) -> None:
        """The reply was abandoned: the results of the calls done are kept, the calls still
        running cancelled (:func:`reap` waits for them)."""
        for task, index in turn.tasks.items():
            if task.done() and not task.cancelled() and index not in turn.results:
                turn.results[index] = task_result(task)
            elif not task.done():
                task.cancel()
                turn.cancelled.append(task)


def task_result(task: asyncio.Task[ToolResult]) -> ToolResult:
    """The task's result; a bug in the registry becomes an error result too."""
    if task.cancelled():
        return ToolResult(ok=False, content=INTERRUPTED_RESULT, elapsed=0.0)
    exc = task.exception()
    if exc is not None:
        log.error("tool task failed", exc_info=exc)
        return ToolResult(ok=False, content='{"error": "internal error"}', elapsed=0.0)
    return task.result()


async def reap(turn: ReplyTurn) -> None:
    """Wait for cancelled tool tasks to finish, so none outlives the reply."""
    tasks, turn.cancelled = turn.cancelled, []
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
