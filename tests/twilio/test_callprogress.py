"""Twilio's call progress events read as Twilio reads them (sipgw/twilio/callprogress.py)."""

from __future__ import annotations

import pytest

from sipgw.twilio.callprogress import EVENTS, parse_events


def test_the_events_asked_for() -> None:
    assert parse_events([]) == {"completed"}
    assert parse_events(["initiated ringing", "answered,completed"]) == set(EVENTS)
    with pytest.raises(ValueError, match="'hangup'"):
        parse_events(["completed hangup"])
