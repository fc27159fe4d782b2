"""The summary request to the chat model, and the reading of its answer (pure functions).

Without an extraction schema the request is plain: instructions, then the transcript, and the
model's text is the summary. With one (a line's ``extract_schema``), the request offers one
tool, ``record_call_summary``, whose parameters are ``summary`` (text) and ``extraction``
(the schema), and asks for it (``tool_choice="required"``); its arguments are the result. A
transcript longer than the limit keeps its start and its end.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["TOOL_NAME", "messages", "read_arguments", "summary_tool", "transcript_text"]

TOOL_NAME = "record_call_summary"
_SPEAKERS = {"caller": "Caller", "agent": "Agent"}


def transcript_text(said: Sequence[Mapping[str, Any]], max_chars: int) -> str:
    """``Caller: ...`` / ``Agent: ...`` lines; past ``max_chars`` the middle is cut out."""
    text = "\n".join(
        f"{_SPEAKERS.get(str(line.get('speaker')), 'Someone')}: {line.get('text', '')}"
        for line in said
    )
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters left out ...]\n{text[-half:]}"


def messages(prompt: str, transcript: str, line: str) -> list[dict[str, str]]:
    """The conversation sent: the instructions, then the call."""
    about = f" on the line {line!r}" if line else ""
    return [
        {"role": "system", "content": prompt},
        {"role": "user", "content": f"The transcript of a call{about}:\n\n{transcript}"},
    ]


def summary_tool(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The one tool of a request with an extraction: its parameters hold the schema."""
    return {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": "Record the call's summary and the fields extracted from it.",
            "parameters": {
                "type": "object",
                "properties": {
                    "summary": {"type": "string", "description": "Two to four sentences."},
                    "extraction": dict(schema),
                },
                "required": ["summary", "extraction"],
                "additionalProperties": False,
            },
        },
    }


def read_arguments(arguments: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The result in a tool call's arguments: ``summary``, ``extraction`` and, when the
    extraction lacks fields the schema requires or is not an object, ``extraction_problem``.

    Raises:
        ValueError: the arguments are not a JSON object.
    """
    try:
        found = json.loads(arguments)
    except ValueError:
        raise ValueError("the model's arguments are not JSON") from None
    if not isinstance(found, dict):
        raise ValueError("the model's arguments are not a JSON object")
    result: dict[str, Any] = {"summary": str(found.get("summary") or "")}
    extraction = found.get("extraction")
    result["extraction"] = extraction
    if not isinstance(extraction, dict):
        result["extraction_problem"] = "not an object"
    else:
        missing = [name for name in schema.get("required", ()) if name not in extraction]
        if missing:
            result["extraction_problem"] = f"missing {', '.join(map(str, missing))}"
    return result
