"""Reading a 3xx's Contacts into the targets a redirected call tries (sipgw.sip.redirect)."""

from __future__ import annotations

from sipgw.sip.message import SipResponse, parse_message
from sipgw.sip.redirect import redirect_targets, target_key
from sipgw.sip.uri import SipUri, parse_uri
from tests.sipgw.sip.usages.test_outbound import Far, reply


def moved_response() -> SipResponse:
    """A 302 to a placed call's INVITE, no Contact yet."""
    return reply(Far().invite, 302, contact="")


def targets(*contacts: str, seen: tuple[str, ...] = ()) -> list[str]:
    response = moved_response()
    for contact in contacts:
        response.headers.add("Contact", contact)
    parsed = parse_message(response.serialize())  # as it comes off the wire: lists split
    assert isinstance(parsed, SipResponse)
    return [str(uri) for uri in redirect_targets(parsed, seen)]


def test_a_contact_s_method_and_headers_are_left_out_and_other_schemes_skipped() -> None:
    assert targets(
        "<tel:+15551230000>",
        "<sip:carol@192.0.2.50;method=INVITE?X-Evil=1>;q=0.5",
        "<sip:CAROL@192.0.2.50>;q=0.4",  # another user: kept
        "<sip:carol@EXAMPLE.com>;q=0.3, <sip:carol@example.COM>",  # one host: its best place
    ) == ["sip:carol@example.com", "sip:carol@192.0.2.50", "sip:CAROL@192.0.2.50"]


def test_q_orders_them_and_equal_ones_keep_their_order() -> None:
    assert targets(
        "<sip:a@192.0.2.1>;q=0.1", "<sip:b@192.0.2.2>", "<sip:c@192.0.2.3>;q=0.7, <sip:d@192.0.2.4>"
    ) == ["sip:b@192.0.2.2", "sip:d@192.0.2.4", "sip:c@192.0.2.3", "sip:a@192.0.2.1"]
    # an unreadable or out-of-range q ranks last, never first
    odd = ("<sip:a@192.0.2.1>;q=7", "<sip:b@192.0.2.2>;q=x", "<sip:c@192.0.2.3>;q=0.01")
    assert targets(*odd) == ["sip:c@192.0.2.3", "sip:a@192.0.2.1", "sip:b@192.0.2.2"]


def test_targets_already_tried_are_left_out() -> None:
    tried = parse_uri("sip:bob@Example.COM")
    assert isinstance(tried, SipUri)
    assert targets(
        "<sip:bob@example.com>", "<sip:carol@example.com>", seen=(target_key(tried),)
    ) == ["sip:carol@example.com"]
