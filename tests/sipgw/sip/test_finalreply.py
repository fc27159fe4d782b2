"""How the far end refused a call (sipgw.sip.finalreply): reason phrase, Reason, Warning."""

from __future__ import annotations

from sipgw.sip.finalreply import MAX_HEADERS, MAX_TEXT, FinalReply, printable
from sipgw.sip.message import parse_message


def response(status_line: str, *extra: str) -> FinalReply:
    lines = [
        status_line,
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
        "From: <sip:a@x>;tag=1",
        "To: <sip:b@y>;tag=2",
        "Call-ID: c",
        "CSeq: 1 INVITE",
        *extra,
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    return FinalReply.of(message)  # type: ignore[arg-type]


def test_the_telnyx_caller_id_refusal_keeps_its_phrase() -> None:
    """developers.telnyx.com/docs/voice/sip-trunking/configuration/caller-id-policy."""
    reply = response("SIP/2.0 403 Caller Origination Number is Invalid D35")
    assert reply == FinalReply(403, "Caller Origination Number is Invalid D35")
    assert reply.describe() == "403 Caller Origination Number is Invalid D35"


def test_reason_and_warning_headers_are_read() -> None:
    """RFC 3326 §2 (Reason) and RFC 3261 §20.43 (Warning)."""
    reply = response(
        "SIP/2.0 603 Decline",
        'Reason: Q.850;cause=21;text="Call Rejected", SIP;cause=603',
        'Warning: 399 sbc.example "caller id \\"+1555\\" not allowed"',
    )
    assert reply.reasons == ("Q.850 cause 21: Call Rejected", "SIP cause 603")
    assert reply.warnings == ('399 sbc.example: caller id "+1555" not allowed',)
    assert reply.describe() == (
        "603 Decline; Reason: Q.850 cause 21: Call Rejected, SIP cause 603; "
        'Warning: 399 sbc.example: caller id "+1555" not allowed'
    )


def test_a_warning_that_does_not_parse_is_shown_as_sent() -> None:
    assert response("SIP/2.0 488 Not Acceptable Here", "Warning: 304 whatever").warnings == (
        "304 whatever",
    )


def test_hostile_text_is_made_printable_and_bounded() -> None:
    long = "x" * 500
    reply = response(
        f"SIP/2.0 403 {long}", *[f'Reason: Q.850;cause={n};text="{long}"' for n in range(9)]
    )
    assert len(reply.phrase) == MAX_TEXT and reply.phrase.endswith("...")
    assert len(reply.reasons) == MAX_HEADERS and all(len(r) <= MAX_TEXT for r in reply.reasons)
    assert printable("fake\x1b[31mlog\x00line") == "fake?[31mlog?line"


def test_a_carriers_own_error_header_is_kept() -> None:
    """Plivo Zentrunk names its hangup code in ``X-ZT-Hangup-Code`` (4190
    ``unknown_caller_id``: plivo.com/docs/sip-trunking/troubleshooting/zentrunk-hangup-codes),
    Twilio its error in ``X-Twilio-Error`` (its 2022-07-11 changelog: 603 to an inactive
    account); other X- headers are not shown, and the value is made printable."""
    plivo = response("SIP/2.0 403 Forbidden", "X-ZT-Hangup-Code: 4190", "X-Other: noise")
    assert plivo.carrier == ("X-ZT-Hangup-Code: 4190",)
    assert plivo.describe() == "403 Forbidden; X-ZT-Hangup-Code: 4190"
    twilio = response("SIP/2.0 603 Decline", "x-twilio-error: 10001 \x1b[2J")
    assert twilio.carrier == ("X-Twilio-Error: 10001 ?[2J",)
    assert response("SIP/2.0 403 Forbidden", "X-ZT-Hangup-Code: ").carrier == ()


def test_every_x_header_is_kept_as_sent_for_the_application() -> None:
    """Each ``X-`` header's name as sent and its first value (a TwiML ``<Dial><Sip>``'s
    ``DialSipHeader_<name>``); nothing else."""
    reply = response(
        "SIP/2.0 486 Busy Here", "X-Agent-State: away", "x-queue: sales", "X-Agent-State: 2",
        "Reason: SIP;cause=486",
    )  # fmt: skip
    assert reply.custom == (("X-Agent-State", "away"), ("x-queue", "sales"))
    assert response("SIP/2.0 486 Busy Here").custom == ()
