"""A conversation's transcript: one JSON-serializable dict per event, for a per-call JSONL
record (``"type"``: ``user``, ``dtmf``, ``tool_call``, ``assistant``, ``heard``), each
stamped with the time and the call; a hook that fails is logged, never raised."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sipgw.agent.services.llm.base import LlmToolCall
from sipgw.agent.tools.registry import ToolContext, ToolResult

__all__ = ["RecordHook", "TranscriptRecorder"]

log = logging.getLogger("sipgw.agent.conversation")

RecordHook = Callable[[dict[str, Any]], None]
"""Receives one JSON-serializable dict per transcript event."""


class TranscriptRecorder:
    """Hands a conversation's records to its hook (none: they are dropped).

    Args:
        on_record: the hook.
        ctx: the call, whose id each record carries.
    """

    def __init__(self, on_record: RecordHook | None, ctx: ToolContext) -> None:
        self.on_record = on_record
        self.ctx = ctx

    def tool(self, call: LlmToolCall, result: ToolResult) -> None:
        """A tool call and its result (``tool_call``)."""
        self.record(
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

    def record(self, record: dict[str, Any]) -> None:
        """``record``, stamped with the time and the call, to the hook."""
        if self.on_record is None:
            return
        record = {"ts": time.time(), "call_id": self.ctx.call_id, **record}
        try:
            self.on_record(record)
        except Exception:
            log.exception("call %s: the record hook failed", self.ctx.call_id)
