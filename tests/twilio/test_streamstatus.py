"""Twilio's stream status callbacks, sans-IO (sipgw/twilio/streamstatus.py), and the
``statusCallbackMethod`` the document takes."""

from __future__ import annotations

import pytest

from sipgw.twilio.document import Start, TwimlError, parse_twiml
from sipgw.twilio.streamstatus import StreamStatus

SID = "MZ" + "1" * 32


def status(name: str = "") -> StreamStatus:
    return StreamStatus("https://app.example/s", "POST", "AC" + "2" * 32, "CA" + "3" * 32, SID,
                        name)  # fmt: skip


def test_each_event_once_in_order_with_twilios_fields() -> None:
    s = status("fork1")
    assert s.event("stream-stopped", 0.0) is None  # not started: nothing to stop
    started = s.event("stream-started", 1795637447.5)
    assert started == {
        "AccountSid": "AC" + "2" * 32, "CallSid": "CA" + "3" * 32, "StreamSid": SID,
        "StreamName": "fork1", "StreamEvent": "stream-started",
        "Timestamp": "2026-11-25T20:10:47.500Z",
    }  # fmt: skip
    assert s.event("stream-started", 2.0) is None
    stopped = s.event("stream-stopped", 3.0)
    assert stopped is not None and "StreamError" not in stopped
    assert s.event("stream-stopped", 4.0) is None and s.event("stream-error", 4.0) is None


def test_an_error_at_any_time_says_why_and_the_sid_names_an_unnamed_stream() -> None:
    s = status()
    error = s.event("stream-error", 0.0, "could not be opened" + "x" * 400)
    assert error is not None and error["StreamName"] == SID
    assert (
        error["StreamError"].startswith("could not be opened") and len(error["StreamError"]) == 300
    )
    assert s.event("stream-started", 1.0) is None


def test_the_callback_method_is_post_or_get() -> None:
    doc = '<Response><Start><Stream url="wss://a/b" statusCallback="/s" {m}/></Start></Response>'
    (verb,) = parse_twiml(doc.format(m='statusCallbackMethod="get"'))
    assert isinstance(verb, Start) and verb.stream.status_callback_method == "GET"
    (verb,) = parse_twiml(doc.format(m=""))
    assert isinstance(verb, Start) and verb.stream.status_callback_method == "POST"
    with pytest.raises(TwimlError, match="statusCallbackMethod='PUT'"):
        parse_twiml(doc.format(m='statusCallbackMethod="PUT"'))
