"""Via, Contact and next hop per transport: the UA core over UDP, TCP and TLS flows."""

from __future__ import annotations

import ipaddress

import pytest

from sipgw.sip.addressing import Flow, ip_literal, is_ip, uri_flow
from sipgw.sip.config import UserAgentConfig
from sipgw.sip.message import SipRequest, parse_message
from sipgw.sip.uri import SipUri
from tests.sipgw.sip.builders import CALLER, ack_for, invite, request
from tests.sipgw.sip.ua_harness import Harness, answered_call

LISTENERS = (("UDP", 5060), ("TCP", 5060), ("TLS", 5071))


def over(transport: str, data: bytes) -> bytes:
    """The builders' request as sent over ``transport`` (its Via names it)."""
    return data.replace(b"SIP/2.0/UDP", f"SIP/2.0/{transport}".encode(), 1)


def test_config_names_each_transports_port() -> None:
    config = UserAgentConfig(public_host="192.0.2.1", sip_port=5060, listeners=LISTENERS)
    assert config.sent_by_for("tls") == "192.0.2.1:5071"
    assert config.sent_by_for("TCP") == "192.0.2.1:5060"
    assert config.sent_by_for("SCTP") == "192.0.2.1:5060"  # not listed: the SIP port
    assert config.contact("a", "UDP") == "<sip:a@192.0.2.1:5060>"
    assert config.contact("a", "TCP") == "<sip:a@192.0.2.1:5060;transport=tcp>"
    assert config.contact("a", "TLS") == "<sip:a@192.0.2.1:5071;transport=tls>"
    assert config.contact("a", "TLS", secure=True) == "<sips:a@192.0.2.1:5071>"
    assert config.contact("a", "TCP", secure=True) == "<sip:a@192.0.2.1:5060;transport=tcp>"
    v6 = UserAgentConfig(public_host="2001:db8::1", sip_port=5060, listeners=LISTENERS)
    assert v6.sent_by_for("TLS") == "[2001:db8::1]:5071"


@pytest.mark.parametrize(
    ("uri", "flow"),
    [
        ("sip:a@pbx.example", Flow("UDP", ("pbx.example", 5060))),
        ("sip:a@pbx.example;transport=tcp", Flow("TCP", ("pbx.example", 5060))),
        ("sip:a@pbx.example;transport=TLS", Flow("TLS", ("pbx.example", 5061))),
        ("sips:a@pbx.example", Flow("TLS", ("pbx.example", 5061))),
        ("sips:a@pbx.example:5081;transport=tcp", Flow("TLS", ("pbx.example", 5081))),
        ("sip:a@pbx.example;transport=tls;maddr=192.0.2.9", Flow("TLS", ("192.0.2.9", 5061))),
    ],
)
def test_uri_flow_picks_the_transport(uri: str, flow: Flow) -> None:
    assert uri_flow(SipUri.parse(uri)) == flow


def _bye_from_us(h: Harness, call: object) -> tuple[SipRequest, Flow]:
    h.act(h.ua.hangup, call)
    ((_, data, flow),) = [s for s in h.sent if s[1].startswith(b"BYE ")]
    h.sent.clear()
    bye = parse_message(data)
    assert isinstance(bye, SipRequest)
    return bye, flow


@pytest.mark.parametrize("transport", ["TCP", "TLS"])
def test_call_over_a_stream_answers_and_hangs_up_on_its_connection(transport: str) -> None:
    h = Harness(listeners=LISTENERS)
    conn = Flow(transport, (CALLER[0], 40123), connection_id=7)
    h.feed(over(transport, invite()), conn)
    call = h.offered()
    h.act(h.ua.ring, call)
    h.act(h.ua.answer, call, 30000)
    sent = list(h.sent)
    assert {flow for _, _, flow in sent} == {conn}  # §18.2.2: the same connection
    ok = [r for r in h.responses() if r.status == 200][0]
    port = 5071 if transport == "TLS" else 5060
    assert str(ok.contacts[0].uri) == f"sip:agent@192.0.2.1:{port};transport={transport.lower()}"
    h.feed(over(transport, ack_for(ok)), conn)
    bye, flow = _bye_from_us(h, call)
    assert flow == conn  # no Record-Route: the dialog's own connection is reused
    assert bye.top_via.transport == transport
    assert bye.top_via.sent_by == ("192.0.2.1", port)


def test_sips_request_uri_gets_a_sips_contact() -> None:
    h = Harness(listeners=LISTENERS)
    conn = Flow("TLS", (CALLER[0], 40123), connection_id=1)
    h.feed(over("TLS", invite(uri="sips:agent@192.0.2.1:5071")), conn)
    call = h.offered()
    h.act(h.ua.ring, call)
    (_trying, ringing) = h.responses()
    assert str(ringing.contacts[0].uri) == "sips:agent@192.0.2.1:5071"


def test_record_route_over_tls_sends_our_bye_over_tls() -> None:
    h = Harness(listeners=LISTENERS)
    conn = Flow("TCP", (CALLER[0], 40123), connection_id=2)
    rr = "Record-Route: <sip:proxy.example:5081;transport=tls;lr>"
    h.feed(over("TCP", invite(extra=rr)), conn)
    call = h.offered()
    h.act(h.ua.ring, call)
    h.act(h.ua.answer, call, 30000)
    ok = [r for r in h.responses() if r.status == 200][0]
    h.feed(over("TCP", ack_for(ok)), conn)
    bye, flow = _bye_from_us(h, call)
    assert flow == Flow("TLS", ("proxy.example", 5081))
    assert bye.top_via.transport == "TLS" and bye.top_via.sent_by == ("192.0.2.1", 5071)
    assert bye.headers.get_all("Route") == ["<sip:proxy.example:5081;transport=tls;lr>"]


def test_udp_call_keeps_plain_contact_and_udp_via() -> None:
    h = Harness(listeners=LISTENERS)
    call, ok = answered_call(h)
    assert str(ok.contacts[0].uri) == "sip:agent@192.0.2.1:5060"
    h.feed(ack_for(ok))
    bye, flow = _bye_from_us(h, call)
    assert flow.transport == "UDP" and bye.top_via.transport == "UDP"
    assert bye.top_via.sent_by == ("192.0.2.1", 5060)


def test_in_dialog_request_from_peer_is_answered_on_its_connection() -> None:
    h = Harness(listeners=LISTENERS)
    conn = Flow("TCP", (CALLER[0], 40123), connection_id=4)
    h.feed(over("TCP", invite()), conn)
    call = h.offered()
    h.act(h.ua.answer, call, 30000)
    ok = [r for r in h.responses() if r.status == 200][0]
    h.feed(over("TCP", ack_for(ok)), conn)
    h.sent.clear()
    h.feed(over("TCP", request("BYE", cseq=2, to_tag=ok.to.tag)), conn)
    assert [(parse_status(d), f) for _, d, f in h.sent] == [(200, conn)]


def parse_status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def test_is_ip_tells_addresses_from_names() -> None:
    assert is_ip("192.0.2.1") and is_ip("2001:db8::1")
    assert not is_ip("pbx.example.com") and not is_ip("[2001:db8::1]")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("2001:db8::7", "2001:db8::7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),  # as a dual-stack socket reports an IPv4 peer
        ("[::ffff:0.0.0.0]", "0.0.0.0"),
    ],
)
def test_ip_literal_reads_ip_literals_ipv4_mapped_as_ipv4(host: str, expected: str) -> None:
    assert ip_literal(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize("host", ["pbx.example.com", "", "192.0.2.7:5060", "1.2.3"])
def test_ip_literal_of_anything_else_is_none(host: str) -> None:
    assert ip_literal(host) is None
