"""What a call is placed with (sipgw.app.upstream.callrequest): the API's body, --var/--header, a
line's defaults."""

from __future__ import annotations

import pytest

from sipgw.agent.amd.settings import AmdMode, AmdRequest
from sipgw.app.upstream.callrequest import (
    MAX_AMD_MESSAGE,
    CallDefaults,
    CallRequest,
    TwimlSource,
    amd_request,
    assignments,
    call_request,
    ivr_goal,
)


def test_a_full_request() -> None:
    request = call_request({
        "target": " +15557654321 ", "caller_id": "+15551230000", "agent": "assistant",
        "account": "telnyx", "ring_timeout": 20, "wait": True,
        "variables": {"first_name": "Ada"}, "headers": {"X-Campaign": "spring"},
    })  # fmt: skip
    assert request == CallRequest(
        "+15557654321", "+15551230000", {"first_name": "Ada"}, (("X-Campaign", "spring"),),
        "assistant", "telnyx", 20.0,
    )  # fmt: skip


def test_only_the_target_is_needed() -> None:
    assert call_request({"target": "sip:bob@pbx.example"}) == CallRequest("sip:bob@pbx.example")
    on_line = call_request({"target": "1", "line": "reminders"})
    assert on_line.line == "reminders" and on_line.over(CallDefaults()).line == "reminders"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, '"target" must be a phone number or SIP URI'),
        ({"target": 5}, '"target" must be'),
        ({"target": "1", "caller_id": ""}, '"caller_id" must be a non-empty string'),
        (
            {"target": "1", "headers": {"X-A": 1}},
            '"headers": header X-A: the value must be a string',
        ),
        ({"target": "1", "variables": {"n": 1}}, '"variables": variable n: the value must be'),
        ({"target": "1", "ring_timeout": True}, '"ring_timeout"'),
        ({"target": "1", "ring_timeout": 601}, '"ring_timeout"'),
        ({"target": "1", "from": "x"}, 'unknown field "from" (fields: target, caller_id'),
        ({"target": "1", "line": ""}, '"line" must be a non-empty string'),
    ],
)
def test_bad_fields_are_named(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        call_request(body)
    assert message in str(caught.value)


def test_a_lines_defaults_fill_what_the_request_leaves_open() -> None:
    """Issue 27: a line supplies a caller id, variables, headers, an agent and an account."""
    line = CallDefaults(
        caller_id="+15551230000", variables={"clinic": "Main St", "first_name": "?"},
        headers=(("X-Line", "reminders"), ("X-Campaign", "default")), agent="assistant",
        account="telnyx",
    )  # fmt: skip
    request = CallRequest(
        "+15557654321", variables={"first_name": "Ada"}, headers=(("x-campaign", "spring"),)
    ).over(line)
    assert request == CallRequest(
        "+15557654321", "+15551230000", {"clinic": "Main St", "first_name": "Ada"},
        (("X-Line", "reminders"), ("x-campaign", "spring")), "assistant", "telnyx",
    )  # fmt: skip
    own = CallRequest("1", caller_id="+1999", agent="echo", account="twilio").over(line)
    assert (own.caller_id, own.agent, own.account) == ("+1999", "echo", "twilio")


def test_assignments_from_the_command_line() -> None:
    assert assignments(["first_name=Ada", "note=a=b", "empty="], "--var") == {
        "first_name": "Ada", "note": "a=b", "empty": "",
    }  # fmt: skip
    with pytest.raises(ValueError, match="--header 'X-A': must be NAME=VALUE"):
        assignments(["X-A"], "--header")


@pytest.mark.parametrize(
    ("body", "amd"),
    [
        ({}, None),
        ({"amd": "hang_up"}, AmdRequest(AmdMode.HANG_UP)),
        ({"amd": "off"}, AmdRequest(AmdMode.OFF)),
        ({"amd": "leave-message", "amd_message": " Call us. "},
         AmdRequest(AmdMode.LEAVE_MESSAGE, "Call us.")),
        ({"amd_message": "Call us."}, AmdRequest(AmdMode.LEAVE_MESSAGE, "Call us.")),
    ],
)  # fmt: skip
def test_answering_machine_detection_per_call(body: dict[str, object], amd: object) -> None:
    assert call_request({"target": "1", **body}).amd == amd
    assert amd_request(body) == amd


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"amd": "voicemail"}, '"amd" must be one of off, detect, leave_message, hang_up'),
        ({"amd": 1}, '"amd" must be off, detect, leave_message or hang_up'),
        ({"amd_message": 5}, '"amd_message" must be text'),
        ({"amd_message": "x" * (MAX_AMD_MESSAGE + 1)}, "at most 1000 characters"),
    ],
)
def test_answering_machine_detection_refused_naming_the_field(
    body: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call_request({"target": "1", **body})


def test_a_campaign_s_detection_is_every_call_s_unless_the_call_says_otherwise() -> None:
    campaign = CallDefaults(amd=AmdRequest(AmdMode.LEAVE_MESSAGE, "Your appointment is Tuesday."))
    assert CallRequest("1").over(campaign).amd == campaign.amd
    own = CallRequest("1", amd=AmdRequest(AmdMode.HANG_UP)).over(campaign)
    assert own.amd == AmdRequest(AmdMode.HANG_UP)


def test_a_calls_own_twiml() -> None:
    """``twiml_url`` or ``twiml`` (docs/twilio-apps.md): one of them, checked before the call."""
    doc = "<Response><Connect><Stream url='wss://b.example/s'/></Connect></Response>"
    assert call_request({"target": "+1555", "twiml": doc}).twiml == TwimlSource(document=doc)
    url = "https://b.example/outbound-twiml"
    assert call_request({"target": "+1555", "twiml_url": url}).twiml == TwimlSource(url=url)
    assert call_request({"target": "+1555"}).twiml is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"twiml_url": "ftp://x/y"}, '"twiml_url" must be an http'),
        ({"twiml_url": "https://a/x", "twiml": "<Response/>"}, "not both"),
        ({"twiml": "<Response><Say>x</Response>"}, '"twiml": not well-formed'),
        ({"twiml": '<!DOCTYPE x [<!ENTITY a "b">]><Response/>'}, '"twiml": a DOCTYPE'),
        ({"twiml": 5}, '"twiml" must be a TwiML document'),
    ],
)
def test_a_bad_twiml_is_refused_naming_the_field(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call_request({"target": "+1555", **body})


def test_a_goal_behind_a_phone_menu_per_call_or_per_line() -> None:
    """``ivr_goal`` (docs/ivr.md): the call's own, else its line's; "" asks for none."""
    request = call_request({"target": "1", "ivr_goal": " reach  billing "})
    assert request.ivr_goal == "reach billing"
    assert call_request({"target": "1"}).ivr_goal is None and ivr_goal({}) is None
    line = CallDefaults(ivr_goal="reach sales")
    assert CallRequest("1").over(line).ivr_goal == "reach sales"
    assert CallRequest("1", ivr_goal="").over(line).ivr_goal == ""
    assert request.over(line).ivr_goal == "reach billing"
    with pytest.raises(ValueError, match='"ivr_goal" must be text of at most 500'):
        call_request({"target": "1", "ivr_goal": ["billing"]})
