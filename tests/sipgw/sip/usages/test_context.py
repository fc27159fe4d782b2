"""What every dialog usage shares (sipgw.sip.usages.context): the call table, ending a call
exactly once, and the responses and requests the usages send, without a user agent."""

from __future__ import annotations

import pytest

from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallInfo, CallState
from sipgw.sip.errors import RemoteProtocolError, SdpError
from sipgw.sip.events import CallEnded, EndReason, MediaUpdated
from sipgw.sip.message import Headers, SipRequest, SipResponse, make_response, parse_message
from sipgw.sip.offeranswer import LocalMedia, answer_offer
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.usages.context import ACCEPT, ALLOW, SUPPORTED, Rejection, reason_phrase
from tests.sipgw.sip.builders import CALLER, SDP_OFFER, invite, parse_request, request
from tests.sipgw.sip.usages.parts import incoming_call, received, sent_responses, usage_context


def joined(headers: Headers, name: str) -> str:
    """A header field's values as one comma-separated list (RFC 3261 §7.3.1)."""
    return ", ".join(headers.get_all(name))


# --------------------------------------------------------------------------- reason phrases


@pytest.mark.parametrize(
    ("status", "detail", "phrase"),
    [
        (200, None, "OK"),
        (488, None, "Not Acceptable Here"),
        (400, "bad Via", "Bad Request (bad Via)"),
        (400, "", "Bad Request"),
        (500, "tab\there\r\nand CRLF", "Server Internal Error (tab?here??and CRLF)"),
        (499, None, "Unknown"),
        (400, "x" * 200, "Bad Request (" + "x" * 120 + ")"),
    ],
)
def test_reason_phrase_says_what_was_wrong_on_one_printable_line(
    status: int, detail: str | None, phrase: str
) -> None:
    assert reason_phrase(status, detail) == phrase


# --------------------------------------------------------------------------- plain responses


def answered(method: str, status: int, **ctx_settings: object) -> SipResponse:
    ctx = usage_context()
    for name, value in ctx_settings.items():
        setattr(ctx, name, value)
    tx, req = received(ctx, request(method, content_type=None))
    ctx.respond(tx, req, status, 0.0)
    (response,) = sent_responses(ctx)
    return response


@pytest.mark.parametrize(
    ("method", "status", "allow", "accept", "supported"),
    [
        ("OPTIONS", 200, True, True, True),
        ("FOO", 501, True, False, False),
        ("REGISTER", 405, True, False, False),
        ("INFO", 415, False, True, False),
        ("BYE", 200, False, False, False),
        ("BYE", 481, False, False, False),
    ],
)
def test_plain_responses_carry_what_their_status_needs(
    method: str, status: int, allow: bool, accept: bool, supported: bool
) -> None:
    """Allow with 405/501 (RFC 3261 §21.4.6, §21.5.2), Accept with 415 (§21.4.13), all three
    and Accept-Encoding for OPTIONS (§11.2)."""
    headers = answered(method, status).headers
    assert (joined(headers, "Allow") == ALLOW) is allow
    assert (joined(headers, "Accept") == ACCEPT) is accept
    assert (joined(headers, "Supported") == SUPPORTED) is supported
    assert (headers.get("Accept-Encoding") == "identity") is (method == "OPTIONS")
    assert "Server" not in headers  # by default nothing names the software (issue 39)
    assert answered(method, status).to.tag  # a final response names our side


def test_the_server_header_is_the_configured_one() -> None:
    ctx = usage_context(user_agent="acme-voice/2")
    tx, req = received(ctx, request("OPTIONS", content_type=None))
    ctx.respond(tx, req, 200, 0.0)
    (response,) = sent_responses(ctx)
    assert response.headers.get_all("Server") == ["acme-voice/2"]


def test_a_100_gets_no_to_tag() -> None:
    """§8.2.6.1: the 100 Trying is hop-by-hop and does not name a dialog."""
    ctx = usage_context()
    tx, req = received(ctx, invite())
    ctx.respond(tx, req, 100, 0.0)
    (trying,) = sent_responses(ctx)
    assert trying.status == 100 and trying.to.tag is None


@pytest.mark.parametrize(
    ("draining", "overload", "retry_after"),
    [(False, None, "30"), (False, 7, "7"), (True, 7, "30"), (True, None, "30")],
)
def test_every_503_says_when_to_retry(
    draining: bool, overload: int | None, retry_after: str
) -> None:
    """§21.5.4; a draining gateway's own wait wins over an overload's shorter one."""
    response = answered("OPTIONS", 503, draining=draining, overload_retry_after=overload)
    assert response.headers.get_all("Retry-After") == [retry_after]


# --------------------------------------------------------------------------- refusals


def refused(exc: RemoteProtocolError, data: bytes | None = None) -> SipResponse:
    ctx = usage_context()
    tx, req = received(ctx, data or invite())
    ctx.respond_error(tx, req, exc, 0.0)
    (response,) = sent_responses(ctx)
    return response


def test_a_rejection_adds_its_own_header_fields() -> None:
    response = refused(Rejection("too small", 422, [("Min-SE", "90")]))
    assert (response.status, response.headers.get("Min-SE")) == (422, "90")
    assert response.reason == "Session Interval Too Small"


def test_a_400_or_500_names_the_problem_and_a_500_says_when_to_retry() -> None:
    bad = refused(RemoteProtocolError("no Max-Forwards"))
    assert (bad.status, bad.reason) == (400, "Bad Request (no Max-Forwards)")
    broken = refused(RemoteProtocolError("CSeq out of order", 500))
    assert broken.reason == "Server Internal Error (CSeq out of order)"
    assert 0 <= int(broken.headers.get("Retry-After") or "-1") <= 10  # §21.5.1


def test_an_unusable_offer_gets_a_warning_and_406_lists_what_we_accept() -> None:
    no_codec = refused(SdpError("no common codec", 488))
    assert no_codec.reason == "Not Acceptable Here"  # the detail goes into Warning
    assert no_codec.headers.get("Warning") == '304 192.0.2.1 "no common codec"'  # §20.43
    not_sdp = refused(RemoteProtocolError("Accept does not include application/sdp", 406))
    assert (not_sdp.headers.get("Warning") or "").startswith("399 192.0.2.1 ")
    assert joined(not_sdp.headers, "Accept") == ACCEPT


def test_a_request_already_answered_gets_no_second_response() -> None:
    ctx = usage_context()
    tx, req = received(ctx, request("OPTIONS", content_type=None))
    ctx.respond(tx, req, 200, 0.0)
    sent_responses(ctx)
    ctx.respond_error(tx, req, RemoteProtocolError("late", 500), 0.0)
    assert ctx.transactions.datagrams_to_send() == []


# --------------------------------------------------------------------------- the call table


def test_the_call_table_finds_a_call_by_its_invite_and_by_its_dialog() -> None:
    ctx = usage_context()
    session = incoming_call(ctx)
    ctx.add(session)
    assert ctx.find_incoming(session.invite.call_id, "caller-tag") is session
    assert ctx.find_incoming(session.invite.call_id, "other-tag") is None
    local_tag = session.dialog.local_tag
    in_dialog = parse_request(request("BYE", cseq=2, to_tag=local_tag, content_type=None))
    assert ctx.find_dialog(in_dialog) is session
    other_caller = request("BYE", cseq=2, to_tag=local_tag, from_tag="x", content_type=None)
    assert ctx.find_dialog(parse_request(other_caller)) is None  # §12.2.2: both tags match
    assert ctx.session_of(session.info) is session
    lookalike = CallInfo(session.info.key, session.info.caller, session.info.called)
    assert ctx.session_of(lookalike) is None  # the application's own view, not a copy


def test_a_call_ends_once_and_is_forgotten_once() -> None:
    ctx = usage_context()
    session = incoming_call(ctx)
    ctx.add(session)
    ctx.end(session, EndReason.LOCAL_BYE, keep_dialog=True)
    assert ctx.calls == {session.key: session}  # its BYE is still to go out
    ctx.end(session, EndReason.REMOTE_BYE, 200)
    assert list(ctx.events) == [CallEnded(session.info, EndReason.LOCAL_BYE, None)]
    assert ctx.calls == {} and session.state is CallState.ENDED
    assert ctx.find_incoming(session.invite.call_id, "caller-tag") is None
    ctx.forget(session)  # idempotent
    assert ctx.session_of(session.info) is None


def test_our_bye_ends_the_dialog_when_it_completes() -> None:
    ctx = usage_context()
    session = incoming_call(ctx)
    ctx.add(session)
    ctx.hang_up(session, EndReason.SESSION_EXPIRED, 1.0, 408)
    assert session.state is CallState.ENDING
    assert list(ctx.events) == [CallEnded(session.info, EndReason.SESSION_EXPIRED, 408)]
    ((data, flow),) = ctx.transactions.datagrams_to_send()
    bye = parse_message(data)
    assert isinstance(bye, SipRequest) and bye.method == "BYE" and flow.address == CALLER
    assert session.key in ctx.calls  # until the BYE completes
    ctx.transactions.receive_response(make_response(bye, 200), Flow("UDP", CALLER), 1.1)
    assert ctx.calls == {}


def test_new_media_is_recorded_and_reported() -> None:
    ctx = usage_context()
    session = incoming_call(ctx)
    offer = SessionDescription.parse(SDP_OFFER.encode())
    _, media = answer_offer(
        offer, LocalMedia("192.0.2.1", 30000, session_id="1", session_version=1)
    )
    ctx.set_media(session, media)
    assert session.info.media is media
    assert list(ctx.events) == [MediaUpdated(session.info, media)]


def test_tags_are_fresh_48_bit_hex() -> None:
    ctx = usage_context()
    tags = {ctx.new_tag() for _ in range(100)}
    assert len(tags) == 100 and all(len(t) == 12 and int(t, 16) >= 0 for t in tags)


# --------------------------------------------------------------------------- our Contact


@pytest.mark.parametrize(
    ("uri", "extra", "transport", "contact"),
    [
        ("sip:agent@192.0.2.1", "", None, "<sip:agent@192.0.2.1:5060>"),
        ("sip:192.0.2.1", "", None, "<sip:192.0.2.1:5060>"),  # no user: none of ours
        ("sip:agent@192.0.2.1", "", "tcp", "<sip:agent@192.0.2.1:5060;transport=tcp>"),
        ("sip:agent@192.0.2.1", "", "TLS", "<sip:agent@192.0.2.1:5061;transport=tls>"),
        ("sips:agent@192.0.2.1", "", "TLS", "<sips:agent@192.0.2.1:5061>"),
        ("sip:agent@192.0.2.1", "Record-Route: <sips:p.example;lr>", "TLS",
         "<sips:agent@192.0.2.1:5061>"),
        ("sips:agent@192.0.2.1", "", "TCP", "<sip:agent@192.0.2.1:5060;transport=tcp>"),
    ],
)  # fmt: skip
def test_our_contact_follows_the_request_uri_transport_and_sips(
    uri: str, extra: str, transport: str | None, contact: str
) -> None:
    """The user part of the Request-URI; SIPS over TLS for a SIPS request (§12.1.1)."""
    ctx = usage_context(listeners=(("UDP", 5060), ("TCP", 5060), ("TLS", 5061)))
    req = parse_request(request("INVITE", uri=uri, extra=extra, content_type=None))
    assert ctx.contact(req, transport) == contact


def test_a_dialog_response_carries_the_dialogs_headers() -> None:
    """§12.1.1: To tag, Record-Route copied, Contact; a 2xx also says what we allow."""
    ctx = usage_context()
    data = invite(extra="Record-Route: <sip:p2.example;lr>\r\nRecord-Route: <sip:p1.example;lr>")
    session = incoming_call(ctx, data)
    ringing = ctx.dialog_response(session, 180)
    ok = ctx.dialog_response(session, 200)
    for response in (ringing, ok):
        assert response.to.tag == session.dialog.local_tag
        assert response.headers.get_all("Record-Route") == [
            "<sip:p2.example;lr>", "<sip:p1.example;lr>",
        ]  # fmt: skip
        assert response.headers.get("Contact") == "<sip:agent@192.0.2.1:5060>"
    assert ringing.headers.get("Allow") is None
    assert joined(ok.headers, "Allow") == ALLOW and joined(ok.headers, "Supported") == SUPPORTED
