"""Dialogs (RFC 3261 §12) created from either side, and the requests they build."""

from __future__ import annotations

import pytest

from sipgw.sip.addressing import Flow
from sipgw.sip.dialog import Dialog
from sipgw.sip.errors import RemoteProtocolError
from sipgw.sip.headers import Via
from sipgw.sip.message import SipRequest, SipResponse, make_response
from sipgw.sip.uri import SipUri
from tests.sipgw.sip.builders import CALLER, GATEWAY, invite, parse_request, request

FROM_CALLER = Flow("UDP", CALLER)
FROM_CALLEE = Flow("UDP", GATEWAY)


def via(branch: str = "z9hG4bKdlg") -> Via:
    return Via(transport="UDP", host="192.0.2.10", port=5062, params={"branch": branch})


def uac_2xx(
    extra: list[tuple[str, str]], status: int = 200, to_tag: str | None = "callee"
) -> tuple[SipRequest, SipResponse]:
    """An INVITE as we (at CALLER) would send it, and the callee's response."""
    sent = parse_request(invite(via_branch="z9hG4bKuac", cseq=7))
    response = make_response(sent, status, to_tag=to_tag)
    for name, value in extra:
        response.headers.add(name, value)
    return sent, response


# --------------------------------------------------------------------------- UAS (§12.1.1)


def test_uas_dialog_from_the_invite() -> None:
    req = parse_request(
        invite(
            cseq=3, extra="Record-Route: <sip:p2.example;lr>\r\nRecord-Route: <sip:p1.example;lr>"
        )
    )
    dialog = Dialog.for_uas(req, FROM_CALLER, local_tag="ours", local_cseq=100, nat_fix=True)
    assert dialog.id == ("call-1@192.0.2.10", "ours", "caller-tag")
    assert dialog.route_set == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]  # in order
    assert str(dialog.remote_target) == f"sip:caller@{CALLER[0]}:{CALLER[1]}"  # the Contact
    assert dialog.local_uri == "<sip:agent@192.0.2.1>;tag=ours"
    assert dialog.remote_uri.endswith(";tag=caller-tag")
    assert dialog.remote_cseq == 3 and dialog.local_cseq == 100
    bye, flow = dialog.next_request("BYE", via(), user_agent="t")
    assert bye.uri == str(dialog.remote_target) and bye.cseq.number == 101
    assert bye.from_.tag == "ours" and bye.to.tag == "caller-tag"
    assert bye.headers.get_all("Route") == dialog.route_set
    assert flow == Flow("UDP", ("p2.example", 5060))  # the first route


def test_uas_dialog_without_contact_targets_the_from() -> None:
    req = parse_request(invite(contact=False))
    dialog = Dialog.for_uas(req, FROM_CALLER, local_tag="t", local_cseq=1, nat_fix=True)
    assert str(dialog.remote_target) == "sip:+15551234567@192.0.2.10"  # RFC 4475 §3.4.1


def test_remote_cseq_must_not_go_back() -> None:
    dialog = Dialog.for_uas(
        parse_request(invite(cseq=5)), FROM_CALLER, local_tag="t", local_cseq=1, nat_fix=True
    )
    dialog.check_remote_cseq(parse_request(request("INFO", cseq=5, to_tag="t")))  # equal: fine
    with pytest.raises(RemoteProtocolError) as raised:
        dialog.check_remote_cseq(parse_request(request("INFO", cseq=4, to_tag="t")))
    assert raised.value.status_hint == 500  # §12.2.2
    assert dialog.remote_cseq == 5


def test_strict_route_becomes_the_request_uri() -> None:
    req = parse_request(invite(extra="Record-Route: <sip:strict.example>"))  # no ;lr
    dialog = Dialog.for_uas(req, FROM_CALLER, local_tag="t", local_cseq=1, nat_fix=True)
    bye, flow = dialog.next_request("BYE", via(), user_agent="t")
    assert bye.uri == "sip:strict.example"  # §12.2.1.1
    assert bye.headers.get_all("Route") == [f"<sip:caller@{CALLER[0]}:{CALLER[1]}>"]
    assert flow == Flow("UDP", ("strict.example", 5060))


# --------------------------------------------------------------------------- UAC (§12.1.2)


def test_uac_dialog_from_our_invite_and_the_2xx() -> None:
    sent, ok = uac_2xx(
        [
            ("Record-Route", "<sip:p1.example;lr>"),  # nearest the callee
            ("Record-Route", "<sip:p2.example;lr>"),  # nearest us
            ("Contact", "<sip:callee@198.51.100.7:5070>"),
        ]
    )
    dialog = Dialog.for_uac(sent, ok, FROM_CALLEE)
    assert dialog.id == ("call-1@192.0.2.10", "caller-tag", "callee")
    assert dialog.route_set == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]  # reversed
    assert str(dialog.remote_target) == "sip:callee@198.51.100.7:5070"
    assert dialog.local_uri == sent.headers.get("From")
    assert dialog.remote_uri == ok.headers.get("To") and dialog.remote_uri.endswith(";tag=callee")
    assert dialog.local_cseq == 7 and dialog.remote_cseq is None
    # The ACK for the 2xx keeps the INVITE's CSeq number (§13.2.2.4); a BYE takes the next.
    ack, _ = dialog.next_request("ACK", via("z9hG4bKack"), user_agent="t")
    assert ack.cseq.number == 7 and ack.cseq.method == "ACK"
    bye, flow = dialog.next_request("BYE", via(), user_agent="t")
    assert bye.cseq.number == 8 and bye.uri == "sip:callee@198.51.100.7:5070"
    assert bye.from_.tag == "caller-tag" and bye.to.tag == "callee"
    assert bye.headers.get_all("Route") == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert flow == Flow("UDP", ("p2.example", 5060))
    # The first request from the callee sets the remote sequence, whatever its number.
    dialog.check_remote_cseq(parse_request(request("INFO", cseq=1, to_tag="caller-tag")))
    assert dialog.remote_cseq == 1


def test_uac_early_dialog_from_a_1xx_with_a_tag() -> None:
    sent, ringing = uac_2xx([], status=180)  # an RFC 2543 callee: no Contact
    dialog = Dialog.for_uac(sent, ringing, FROM_CALLEE)
    assert dialog.remote_tag == "callee" and dialog.route_set == []
    assert str(dialog.remote_target) == sent.uri  # the URI we called
    dialog.refresh_target(
        _with_contact(make_response(sent, 200, to_tag="callee"), "<sip:callee@198.51.100.9>")
    )
    assert str(dialog.remote_target) == "sip:callee@198.51.100.9"  # the 2xx refreshes it


def test_a_response_without_to_tag_creates_no_dialog() -> None:
    sent, trying = uac_2xx([], status=100, to_tag=None)
    with pytest.raises(RemoteProtocolError):
        Dialog.for_uac(sent, trying, FROM_CALLEE)


def test_nat_fix_sends_to_the_source_for_a_private_contact() -> None:
    sent, ok = uac_2xx([("Contact", "<sip:callee@10.0.0.7:5070>")])
    public = Flow("UDP", ("203.0.113.5", 40000))
    _, flow = Dialog.for_uac(sent, ok, public).next_request("BYE", via(), user_agent="t")
    assert flow == public
    _, flow = Dialog.for_uac(sent, ok, public, nat_fix=False).next_request(
        "BYE", via(), user_agent="t"
    )
    assert flow == Flow("UDP", ("10.0.0.7", 5070))
    assert isinstance(Dialog.for_uac(sent, ok, public).remote_target, SipUri)


def _with_contact(response: SipResponse, contact: str) -> SipResponse:
    response.headers.add("Contact", contact)
    return response
