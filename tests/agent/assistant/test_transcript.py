"""The conversation's transcript records: stamped with the time and the call, a tool call
with what it returned, a failing hook logged and never raised."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from sipgw.agent.assistant.transcript import TranscriptRecorder
from sipgw.agent.services.llm.base import LlmToolCall
from sipgw.agent.tools.registry import ToolContext, ToolResult


@dataclass
class Call:
    call_id: str = "rec-call@test"


def ctx() -> ToolContext:
    return Call()  # type: ignore[return-value]  # the recorder reads only the id


def test_records_are_stamped_and_a_tool_call_says_what_it_returned() -> None:
    records: list[dict[str, Any]] = []
    recorder = TranscriptRecorder(records.append, ctx())
    recorder.record({"type": "user", "text": "Hi"})
    recorder.tool(LlmToolCall("c1", "look_up", '{"id": 1}'),
                  ToolResult(ok=False, content='{"error": "no"}', elapsed=0.123456,
                             refused="schema", source="http"))  # fmt: skip
    assert [r["call_id"] for r in records] == ["rec-call@test"] * 2
    assert all(r["ts"] > 1e9 for r in records)
    assert records[0]["type"] == "user" and records[0]["text"] == "Hi"
    tool = {k: v for k, v in records[1].items() if k not in ("ts", "call_id")}
    assert tool == {"type": "tool_call", "id": "c1", "name": "look_up", "arguments": '{"id": 1}',
                    "result": '{"error": "no"}', "ok": False, "refused": "schema",
                    "source": "http", "elapsed": 0.1235}  # fmt: skip


def test_without_a_hook_nothing_and_a_failing_hook_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    TranscriptRecorder(None, ctx()).record({"type": "user", "text": "Hi"})

    def explode(record: dict[str, Any]) -> None:
        raise RuntimeError("disk full")

    with caplog.at_level(logging.ERROR, "sipgw.agent.conversation"):
        TranscriptRecorder(explode, ctx()).record({"type": "user", "text": "Hi"})
    assert "rec-call@test: the record hook failed" in caplog.text
