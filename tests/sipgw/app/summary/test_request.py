"""The summary request and the reading of its answer (sipgw/app/summary/request.py)."""

from __future__ import annotations

import json

import pytest

from sipgw.app.summary.request import (
    TOOL_NAME,
    messages,
    read_arguments,
    summary_tool,
    transcript_text,
)

SCHEMA = {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}


def test_the_transcript_as_text_keeps_start_and_end() -> None:
    said = [{"speaker": "agent", "text": "Hello."}, {"speaker": "caller", "text": "Order 12."}]
    assert transcript_text(said, 1000) == "Agent: Hello.\nCaller: Order 12."
    long = [{"speaker": "caller", "text": f"line {n:03d}"} for n in range(200)]
    cut = transcript_text(long, 600)
    assert cut.startswith("Caller: line 000") and cut.endswith("Caller: line 199")
    assert "characters left out" in cut and len(cut) < 700


def test_the_request_and_its_tool() -> None:
    sent = messages("Summarize.", "Caller: hi", "sales")
    assert sent[0] == {"role": "system", "content": "Summarize."}
    assert "line 'sales'" in sent[1]["content"] and sent[1]["content"].endswith("Caller: hi")
    tool = summary_tool(SCHEMA)
    assert tool["function"]["name"] == TOOL_NAME
    assert tool["function"]["parameters"]["properties"]["extraction"] == SCHEMA


def test_reading_the_answer() -> None:
    good = read_arguments(json.dumps({"summary": "S.", "extraction": {"order": "12"}}), SCHEMA)
    assert good == {"summary": "S.", "extraction": {"order": "12"}}
    partial = read_arguments(json.dumps({"summary": "S.", "extraction": {}}), SCHEMA)
    assert partial["extraction_problem"] == "missing order"
    wrong = read_arguments(json.dumps({"summary": "S.", "extraction": "12"}), SCHEMA)
    assert wrong["extraction_problem"] == "not an object"
    with pytest.raises(ValueError, match="not JSON"):
        read_arguments("{", SCHEMA)
    with pytest.raises(ValueError, match="not a JSON object"):
        read_arguments("[1]", SCHEMA)
