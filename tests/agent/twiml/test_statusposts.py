"""A callback's URL resolved, or refused with a warning (sipgw/agent/twiml/statusposts.py;
the poster itself runs with the twiml agent in tests/agent/twiml/test_agent.py)."""

from __future__ import annotations

import logging

import pytest

from sipgw.agent.twiml.statusposts import callback_url

BASE = "https://app.example.com/voice/start.xml"


def test_a_callback_url_is_resolved_against_the_document() -> None:
    assert callback_url(BASE, "status", "c1", "<Gather partialResultCallback>") == (
        "https://app.example.com/voice/status"
    )
    assert callback_url("", "http://other.example/s", "c1", "<Dial referUrl>") == (
        "http://other.example/s"
    )


def test_a_callback_url_that_is_no_http_url_is_none_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="sipgw.agent"):
        assert callback_url("", "status", "c1", "<Stream statusCallback>") is None
        assert callback_url(BASE, "ftp://files.example/x", "c1", "<Record action>") is None
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("[c1] <Stream statusCallback>: URL 'status' is not an absolute")
    assert lines[1].startswith("[c1] <Record action>: URL 'ftp://files.example/x'")
