"""The conversation's history: a tool round committed with a ``tool`` message for every call
(an unanswered one an error), an interrupted round keeping only what was spoken, and a reply
cut down to what the caller heard."""

from __future__ import annotations

import json
from typing import Any

from sipgw.agent.assistant.history import ChatHistory
from sipgw.agent.assistant.replyturn import ReplyTurn
from sipgw.agent.assistant.tool_calls import INTERRUPTED_RESULT
from sipgw.agent.assistant.transcript import TranscriptRecorder
from sipgw.agent.services.llm.base import LlmToolCall
from sipgw.agent.tools.registry import ToolResult


class Call:
    call_id = "hist-call@test"


def history() -> tuple[ChatHistory, list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    ctx: Any = Call()
    return ChatHistory("Be brief.", TranscriptRecorder(records.append, ctx)), records


def test_every_tool_call_is_answered_even_unfinished() -> None:
    chat, records = history()
    turn = ReplyTurn(started_at=0.0)
    turn.round_text.extend(["Let me ", "check. "])
    turn.calls.extend([LlmToolCall("a", "look_up", "{}"), LlmToolCall("b", "nap", "{}")])
    turn.results[0] = ToolResult(ok=True, content='{"found": 1}', elapsed=0.1)
    chat.commit_tool_round(turn, interrupted=False)
    assert chat.messages[0] == {"role": "system", "content": "Be brief."}
    assistant, *tools = chat.messages[1:]
    assert assistant["content"] == "Let me check."
    assert [c["id"] for c in assistant["tool_calls"]] == ["a", "b"]
    assert tools == [
        {"role": "tool", "tool_call_id": "a", "content": '{"found": 1}'},
        {"role": "tool", "tool_call_id": "b", "content": INTERRUPTED_RESULT},
    ]
    assert [r["id"] for r in records] == ["b"] and not records[0]["ok"]
    assert not turn.calls and not turn.results and not turn.round_text
    assert json.loads(INTERRUPTED_RESULT)["error"]


def test_an_interrupted_round_keeps_what_was_spoken_and_is_cut_to_what_was_heard() -> None:
    chat, _ = history()
    turn = ReplyTurn(started_at=0.0)
    turn.round_text.append("One. Two. Three, and more")
    turn.round_spoken.extend(["One.", "Two."])
    chat.commit_text(turn, interrupted=True)
    assert chat.messages[-1] == {"role": "assistant", "content": "One. Two."}
    chat.cut_to_heard(turn, "One. T", "…")
    assert chat.messages[-1] == {"role": "assistant", "content": "One. T…"}
    chat.cut_to_heard(turn, "", "…")  # nothing heard: the plain message goes
    assert chat.messages == [{"role": "system", "content": "Be brief."}]
    assert not turn.assistant_messages
