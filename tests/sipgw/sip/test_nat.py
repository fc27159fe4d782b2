"""NAT behaviour of the UA core: the public address in what we send, rport, what peers see."""

from __future__ import annotations

from sipgw.sip.addressing import Flow
from sipgw.sip.events import PublicAddressObserved
from sipgw.sip.message import SipRequest, make_response
from sipgw.sip.sdp import SessionDescription
from tests.sipgw.sip.builders import CALLER, ack_for, invite
from tests.sipgw.sip.ua_harness import Harness, answered_call

PUBLIC = "203.0.113.5"


def hung_up_call(h: Harness, call_id: str) -> SipRequest:
    """Answer a call, confirm it, hang up; the BYE we sent."""
    call, ok = answered_call(h, call_id=call_id)
    h.feed(ack_for(ok))
    h.act(h.ua.hangup, call)
    (bye,) = h.take()
    assert isinstance(bye, SipRequest) and bye.method == "BYE"
    return bye


def answer_seen_from(
    h: Harness, bye: SipRequest, received: str | None, rport: int | None, transport: str = "UDP"
) -> list[PublicAddressObserved]:
    """Feed the BYE's 200 as a peer that saw it come from ``received``:``rport``."""
    response = make_response(bye, 200)
    via = response.top_via
    if received is not None:
        via.params["received"] = received
    via.params["rport"] = None if rport is None else str(rport)
    response.headers.replace_first("Via", str(via))
    h.events.clear()
    h.feed(response.serialize(), Flow(transport, CALLER))
    return [e for e in h.events if isinstance(e, PublicAddressObserved)]


def test_the_public_address_is_in_via_contact_and_sdp() -> None:
    h = Harness(public_host=PUBLIC, sip_port=5070)
    call, ok = answered_call(h)
    assert ok.contacts[0].uri.host == PUBLIC and ok.contacts[0].uri.port == 5070
    sdp = SessionDescription.parse(ok.body)
    assert sdp.connection is not None and sdp.connection.address == PUBLIC
    assert sdp.origin.address == PUBLIC
    h.feed(ack_for(ok))
    h.act(h.ua.hangup, call)
    (bye,) = h.take()
    assert isinstance(bye, SipRequest)
    via = bye.top_via
    assert (via.host, via.port) == (PUBLIC, 5070)
    assert via.has_rport and via.rport is None  # RFC 3581 §3: an empty rport asks for it


def test_a_peer_that_sees_another_address_is_reported_once() -> None:
    h = Harness(public_host=PUBLIC)
    bye = hung_up_call(h, "nat-1")
    (seen,) = answer_seen_from(h, bye, "198.51.100.1", 40000)
    assert seen.announced == (PUBLIC, 5060)
    assert seen.observed == ("198.51.100.1", 40000) and seen.peer == CALLER
    # The same observation again (another transaction) is not news.
    assert answer_seen_from(h, hung_up_call(h, "nat-2"), "198.51.100.1", 40000) == []
    # The NAT picks another mapping: reported again.
    (moved,) = answer_seen_from(h, hung_up_call(h, "nat-3"), "198.51.100.1", 40002)
    assert moved.observed == ("198.51.100.1", 40002)


def test_what_matches_the_announced_address_is_not_reported() -> None:
    h = Harness(public_host=PUBLIC)
    assert answer_seen_from(h, hung_up_call(h, "same-1"), PUBLIC, 5060) == []
    assert answer_seen_from(h, hung_up_call(h, "same-2"), None, None) == []  # no rport filled
    # Back to our address after a difference, then a difference again: reported again.
    assert len(answer_seen_from(h, hung_up_call(h, "same-3"), "198.51.100.1", 5060)) == 1
    assert answer_seen_from(h, hung_up_call(h, "same-4"), PUBLIC, 5060) == []
    assert len(answer_seen_from(h, hung_up_call(h, "same-5"), "198.51.100.1", 5060)) == 1


def test_over_a_stream_only_the_host_counts() -> None:
    h = Harness(public_host=PUBLIC)
    # Over TCP, rport is our connection's ephemeral port: nothing to report about the port.
    assert answer_seen_from(h, hung_up_call(h, "tcp-1"), PUBLIC, 49152, "TCP") == []
    (seen,) = answer_seen_from(h, hung_up_call(h, "tcp-2"), "198.51.100.1", 49153, "TCP")
    assert seen.observed == ("198.51.100.1", 5060)


def test_responses_go_back_to_the_source_port_of_a_caller_behind_nat() -> None:
    h = Harness(public_host=PUBLIC)
    h.feed(invite(), Flow("UDP", ("198.51.100.20", 31000)))  # Via says 192.0.2.10:5062
    (_, data, flow) = h.sent[0]
    assert flow.address == ("198.51.100.20", 31000)  # RFC 3581 §4: the source, not the Via
    (trying,) = h.responses()
    assert trying.top_via.received == "198.51.100.20" and trying.top_via.rport == 31000
