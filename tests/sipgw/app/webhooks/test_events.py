"""The webhook events' JSON (sipgw/app/webhooks/events.py): envelope, call, size bound."""

from __future__ import annotations

import json

import pytest

from sipgw.app.calls.callfeed import CallEntry
from sipgw.app.webhooks.events import call_data, encode, envelope, iso, sip_status, transcript


def entry(**changes: object) -> CallEntry:
    base = CallEntry(
        id="abc", call_id="abc@host", caller="sip:+15551234567@trunk", caller_name="Bob",
        called="sip:+15550100@gw", direction="inbound", started=1700000000.0, line="sales",
        answered=1700000001.0, ended=1700000031.5, status=200, agent="assistant",
    )  # fmt: skip
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_every_event_says_which_call_and_its_place() -> None:
    data = call_data(entry(), 3, {"order": "1234"})
    assert data["sequence"] == 3 and data["variables"] == {"order": "1234"}
    call = data["call"]
    assert call["line"] == "sales" and call["direction"] == "inbound" and call["leg"] == "sip"
    assert call["started"] == "2023-11-14T22:13:20.000Z"
    assert call["ended"] == "2023-11-14T22:13:51.500Z"
    assert call_data(entry(line=""), 1, {})["call"]["line"] is None
    assert call_data(entry(leg="twilio"), 1, {})["call"]["leg"] == "twilio"
    assert iso(None) is None
    body = envelope("call.answered", data, now=1700000001.0)
    assert body["type"] == "call.answered" and body["timestamp"] == "2023-11-14T22:13:21.000Z"


def test_the_transcript_is_what_was_said() -> None:
    lines = [
        {"t": 0.1, "type": "assistant", "text": "Hello.", "greeting": True},
        {"t": 1.0, "type": "user", "text": "My card is [card]."},
        {"t": 1.5, "type": "tool_call", "name": "get_order_status"},
        {"t": 2.0, "type": "assistant", "text": ""},
    ]
    assert transcript(entry(transcript=lines)) == [
        {"t": 0.1, "speaker": "agent", "text": "Hello."},
        {"t": 1.0, "speaker": "caller", "text": "My card is [card]."},
    ]
    none = {"sip_detail": None, "hint": None}
    assert sip_status(entry(status=486)) == {"sip_status": 486, "sip_reason": "Busy Here", **none}
    assert sip_status(entry(status=None)) == {"sip_status": None, "sip_reason": None, **none}


def test_a_long_transcript_is_cut_from_its_start_to_fit() -> None:
    said = [{"t": n, "speaker": "caller", "text": "word " * 40} for n in range(200)]
    body = envelope("call.ended", {"call": {"id": "abc"}, "transcript": said}, now=0.0)
    raw = encode(body, 8192)
    assert len(raw) <= 8192
    data = json.loads(raw)["data"]
    assert data["transcript_truncated"] > 0
    assert data["transcript"][-1]["t"] == 199  # the end of the call is kept
    assert len(data["transcript"]) + data["transcript_truncated"] == 200
    assert encode({"type": "x", "data": {"a": 1}}, 100) == b'{"type":"x","data":{"a":1}}'
    with pytest.raises(ValueError, match="over 10"):
        encode({"type": "x", "data": {"call": "y" * 50}}, 10)
