"""What to check when a placed call is refused (sipgw.app.calls.hints)."""

from __future__ import annotations

from sipgw.app.calls.hints import HINTS, Refused, hint
from sipgw.sip.finalreply import FinalReply


def test_every_common_refusal_has_a_hint() -> None:
    assert set(HINTS) == {401, 403, 404, 407, 480, 486, 488, 503}
    assert "--caller-id +15551234567" in hint(403) and "--auth-password" in hint(407)
    assert hint(500) == "" and hint(None) == ""


def test_a_refusal_keeps_the_far_ends_words_then_our_hint() -> None:
    reply = FinalReply(
        403, "Caller Origination Number is Invalid D35", ("Q.850 cause 21: Call Rejected",),
        ("399 sbc.example: caller id not allowed",),
    )  # fmt: skip
    refused = Refused.of(reply)
    assert refused.detail == (
        "Reason: Q.850 cause 21: Call Rejected; Warning: 399 sbc.example: caller id not allowed"
    )
    assert refused.describe() == (
        f"SIP 403 Caller Origination Number is Invalid D35 [{refused.detail}] - {hint(403)}"
    )
    assert refused.fields() == {
        "sip_status": 403, "sip_reason": "Caller Origination Number is Invalid D35",
        "sip_detail": refused.detail, "hint": hint(403),
    }  # fmt: skip
    bare = Refused.of(FinalReply(500, ""))
    assert bare.describe() == "SIP 500"
    assert bare.fields() == {
        "sip_status": 500,
        "sip_reason": "Server Internal Error",
        "sip_detail": None,
        "hint": None,
    }
    plivo = Refused.of(FinalReply(403, "Forbidden", carrier=("X-ZT-Hangup-Code: 4190",)))
    assert plivo.detail == "X-ZT-Hangup-Code: 4190"
