"""The model's tool calls, run through the tool registry the assistant uses.

Each :class:`~sipgw.agent.services.s2s.base.ToolCallRequested` runs as a task of the call:
its arguments checked against the tool's schema, the dial allow-list applied
(:class:`sipgw.agent.tools.registry.ToolRegistry`), the tool seeing the call through
:class:`sipgw.agent.assistant.call_actions.ToolCallContext` (so ``transfer_to_human`` and
``end_call`` act after their line, :mod:`sipgw.agent.s2s.actions`). The call and its
result go to the call record (``tool_call``), the result back to the session,
which sends it when the service wants it. A slow round of calls gets a filler line
(:mod:`sipgw.agent.s2s.fillers`). Each call is a ``tool`` trace span under the
turn of the reply that made it (:mod:`sipgw.agent.s2s.turn_spans`).
"""

from __future__ import annotations

import logging

from sipgw.agent.conversation.dialing import ToolCallContext
from sipgw.agent.s2s.fillers import S2sFillers
from sipgw.agent.s2s.replies import Reply, Speaking
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.s2s.turn_spans import TurnSpans
from sipgw.agent.s2s.waiting import ReplyWait
from sipgw.agent.services.s2s.base import ToolCallRequested
from sipgw.agent.tools.registry import ToolRegistry
from sipgw.foundation.redact import Redactor
from sipgw.foundation.tracing import CURRENT_SPAN, Span

__all__ = ["ToolCalls"]

log = logging.getLogger("sipgw.agent")


class ToolCalls:
    """One call's tool calls (see the module docstring).

    Args:
        scope: the call's record, tasks and session.
        tools: the tools the model may call.
        context: the call as the tools see it.
        speaking: the live replies (each counts its tool calls).
        redactor: masks the caller's data in log lines.
        wait: the caller's wait for a reply (a tool's run is not the model's delay).
        spans: the call's turn spans (each call is a ``tool`` span under its reply's turn).
        fillers: told when tools start and end (a slow round gets a filler line).
    """

    __slots__ = (
        "_context", "_fillers", "_redactor", "_running", "_scope", "_spans", "_speaking",
        "_tools", "_wait",
    )  # fmt: skip

    def __init__(
        self,
        scope: SessionScope,
        tools: ToolRegistry,
        context: ToolCallContext,
        speaking: Speaking,
        redactor: Redactor,
        wait: ReplyWait,
        spans: TurnSpans,
        fillers: S2sFillers | None = None,
    ) -> None:
        self._scope = scope
        self._tools = tools
        self._context = context
        self._speaking = speaking
        self._redactor = redactor
        self._wait = wait
        self._spans = spans
        self._fillers = fillers
        self._running = 0

    @property
    def running(self) -> bool:
        """A tool call is under way (its result not back yet)."""
        return self._running > 0

    def requested(self, event: ToolCallRequested) -> None:
        """The model calls a tool: run it as a task of the call."""
        self._running += 1
        self._wait.tool_running()
        if self._fillers is not None:
            tool = self._tools.get(event.name)
            self._fillers.tool_called(tool.filler if tool is not None else "")
        reply = next((r for r in self._speaking.live if r.id == event.reply_id), None)
        if reply is not None:
            reply.tool_calls += 1
        span = self._spans.tool_started(reply, event.name)  # before the reply's end comes
        self._scope.spawn(self._run(event, reply, span))

    async def _run(self, event: ToolCallRequested, reply: Reply | None, span: Span) -> None:
        CURRENT_SPAN.set(span)  # the task's own context: its requests carry the tool's span
        scope = self._scope
        log.info("[%s] tool %s(%s)", scope.log_id, event.name,
                 self._redactor.redact(event.arguments)[:120])  # fmt: skip
        result = await self._tools.call(event.name, event.arguments, self._context)
        scope.write(
            {"type": "tool_call", "id": event.call_id, "name": event.name,
             "arguments": event.arguments, "result": result.content, "ok": result.ok,
             **({"refused": result.refused} if result.refused else {}),
             **({"source": result.source} if result.source else {}),
             "elapsed": round(result.elapsed, 4)}
        )  # fmt: skip
        outcome = "ok" if result.ok else (result.refused or "error")
        log.info("[%s] tool %s -> %s in %.0f ms", scope.log_id, event.name,
                 outcome, result.elapsed * 1000)  # fmt: skip
        scope.observer.tool_called(result.source or "unknown", outcome, result.elapsed)
        self._spans.tool_ended(reply, span, result.ok, result.source, result.refused)
        self._running -= 1
        if self._fillers is not None:
            self._fillers.tool_returned()
        if not scope.closed:
            scope.session.send_tool_result(event.call_id, result.content)
            if not self._running:
                self._wait.tool_answered()  # the model's reply to the results is due now
