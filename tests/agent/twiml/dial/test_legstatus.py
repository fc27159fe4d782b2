"""A dialled leg's call progress forms and screening parameters, sans-IO (Twilio's
``<Number statusCallback statusCallbackEvent>`` and ``<Number url>``)."""

from __future__ import annotations

import email.utils

import pytest

from sipgw.agent.twiml.dial.legstatus import LegStatus, leg_call_status
from sipgw.twilio.document import DialTarget

NOON = 1_764_158_400.0  # 2025-11-26 12:00:00 UTC


def leg(events: frozenset[str] = frozenset({"completed"}), callback: str = "/leg") -> LegStatus:
    target = DialTarget("number", "+15550100", status_callback=callback,
                        status_callback_events=events)  # fmt: skip
    return LegStatus(target, "CA" + "1" * 32, "CA" + "2" * 32, "AC" + "3" * 32)


def test_only_the_events_asked_for_are_posted_each_numbered_in_turn() -> None:
    status = leg(frozenset({"ringing", "completed"}))
    status.caller = "sip:+15557654321@gw.example"
    assert status.form("initiated", NOON) is None
    ringing = status.form("ringing", NOON)
    assert status.form("answered", NOON + 1) is None
    completed = status.form("completed", NOON + 9, "completed", (("CallDuration", "8"),))
    assert ringing is not None and completed is not None
    assert (ringing["SequenceNumber"], completed["SequenceNumber"]) == ("0", "1")
    assert (ringing["CallStatus"], completed["CallStatus"]) == ("ringing", "completed")
    assert completed["CallDuration"] == "8" and "CallDuration" not in ringing
    assert ringing["CallSid"] == completed["CallSid"] == "CA" + "1" * 32
    assert ringing["ParentCallSid"] == "CA" + "2" * 32
    assert ringing["Direction"] == "outbound-dial"
    assert ringing["CallbackSource"] == "call-progress-events"
    assert (ringing["From"], ringing["To"]) == ("+15557654321", "+15550100")
    stamp = email.utils.parsedate_to_datetime(ringing["Timestamp"])
    assert stamp.timestamp() == NOON and ringing["Timestamp"].endswith("+0000")


def test_answered_is_in_progress_and_a_leg_without_a_callback_posts_nothing() -> None:
    status = leg(frozenset({"answered"}))
    form = status.form("answered", NOON)
    assert form is not None and form["CallStatus"] == "in-progress"
    silent = leg(frozenset({"answered", "completed"}), callback="")
    assert silent.form("answered", NOON) is None and silent.form("completed", NOON) is None


def test_the_screening_fetch_carries_the_legs_parameters() -> None:
    status = leg()
    status.caller = "sip:gw@gw.example"  # no number in it: the URI
    params = dict(status.screen_params())
    assert params["CallStatus"] == "in-progress" and params["Direction"] == "outbound-dial"
    assert params["From"] == "sip:gw@gw.example" and params["To"] == "+15550100"
    assert params["ParentCallSid"] == "CA" + "2" * 32 and params["CallSid"] == status.sid
    assert status.sequence == 0  # a fetch is no status callback


@pytest.mark.parametrize(
    ("answered", "kind", "ended_by", "status"),
    [
        (True, "answered", "called", "completed"),
        (True, "answered", "screening", "completed"),  # answered, then refused the bridge
        (False, "failed", "caller", "canceled"),
        (False, "failed", "lost", "canceled"),  # another target answered first
        (False, "busy", "", "busy"),
        (False, "declined", "", "busy"),
        (False, "no-answer", "", "no-answer"),
        (False, "unreachable", "", "failed"),
        (False, None, "", "failed"),
    ],
)
def test_the_legs_own_final_status(answered: bool, kind: str | None, ended_by: str,
                                   status: str) -> None:  # fmt: skip
    assert leg_call_status(answered, kind, ended_by) == status


def test_a_number_is_to_without_its_separators_a_sip_uri_as_written() -> None:
    number = LegStatus(DialTarget("number", "+1 (555) 010-0"), "CA1", "CA2", "AC3")
    sip = LegStatus(DialTarget("sip", "sip:+15550100@pbx.example"), "CA1", "CA2", "AC3")
    assert (number.called, sip.called) == ("+15550100", "sip:+15550100@pbx.example")
