"""The seam to the ``twiml`` agent (sipgw/app/twilio/api/seam.py): the body of the placed call
and the CallSid. Placing through it is tests/interop/test_twilio_rest_peers.py (the agent's)."""

from __future__ import annotations

import re

from sipgw.app.twilio.api.seam import TWIML_AGENT, call_sid, placed_call_body


def test_a_created_call_is_a_placed_call_of_the_twiml_agent() -> None:
    by_url = placed_call_body("+15557650002", "+15551230001", "https://app/voice", None, 30)
    assert by_url == {
        "target": "+15557650002", "caller_id": "+15551230001", "agent": TWIML_AGENT,
        "ring_timeout": 30, "twiml_url": "https://app/voice",
    }  # fmt: skip
    by_twiml = placed_call_body("a", "b", None, "<Response/>", 60)
    assert by_twiml["twiml"] == "<Response/>" and "twiml_url" not in by_twiml


def test_the_call_sid_is_twilios_form_and_the_same_for_one_call() -> None:
    sid = call_sid("abc@127.0.0.1")
    assert re.fullmatch(r"CA[0-9a-f]{32}", sid)
    assert sid == call_sid("abc@127.0.0.1") != call_sid("abd@127.0.0.1")
