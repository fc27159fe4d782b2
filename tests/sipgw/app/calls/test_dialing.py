"""The gateway's dial gate (sipgw/app/calls/dialing.py): read once, judged, counted, sent
as judged."""

from __future__ import annotations

import logging

import pytest

from sipgw.agent.dialpolicy import REFUSED, DialRefused
from sipgw.app.calls.dialing import DialGate
from sipgw.app.operations.counters import CallCounters
from sipgw.sip.dialpolicy import DialPolicy, PhoneNumber
from sipgw.sip.uri import SipUri, parse_uri

log = logging.getLogger("test.dialing")


def gate(entries: str) -> tuple[DialGate, CallCounters]:
    counted = CallCounters()
    return DialGate(DialPolicy.parse(entries), counted), counted


def test_an_allowed_target_comes_back_as_the_object_to_send() -> None:
    dial, counted = gate("sip:*@pbx.example.com,9*")
    uri = dial.admit("transfer", " <SIP:Desk@PBX.example.com> ", log)
    assert isinstance(uri, SipUri) and str(uri) == "sip:Desk@pbx.example.com"
    assert dial.admit("dtmf", "9 00", log) == PhoneNumber("900")  # the digits keyed
    assert counted.dial_refused == 0


def test_a_refusal_is_logged_counted_and_names_what_the_agent_gave(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dial, counted = gate("sip:*@pbx.example.com")
    for given in ("sip:x@pbx.example.com;maddr=evil.example", "not a target", "+4420"):
        with pytest.raises(DialRefused) as refused:
            dial.admit("transfer", given, log)
        assert (refused.value.target, refused.value.reason) == (given, REFUSED)
    assert counted.dial_refused == 3
    assert "refused the agent's transfer to 'not a target'" in caplog.text


def test_what_the_gateway_made_of_the_text_is_judged() -> None:
    """A call's Request-URI is judged, not the text it came from (``alice@...`` has no scheme)."""
    dial, counted = gate("sip:*@pbx.example.com")
    sent = parse_uri("sip:alice@pbx.example.com")
    assert dial.admit("call", "alice@pbx.example.com", log, sent) is sent
    with pytest.raises(DialRefused):
        dial.admit("call", "sip:alice@pbx.example.com", log, parse_uri("sip:alice@evil.example"))
    assert counted.dial_refused == 1


def test_dtmf_is_judged_with_what_the_call_keyed_before(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dial, counted = gate("1,2,#,12#")
    assert dial.admit_keyed("", "1", log) == PhoneNumber("1")
    assert dial.admit_keyed("1", " 2 ", log) == PhoneNumber("2")  # "12" begins "12#"
    with caplog.at_level(logging.WARNING), pytest.raises(DialRefused):
        dial.admit_keyed("1", "#", log)  # "1#" is not allowed, though "#" is
    assert "refused the agent's dtmf '#' after '1'" in caplog.text
    with pytest.raises(DialRefused):
        dial.admit_keyed("", "+44", log)  # not keyed
    assert counted.dial_refused == 2
