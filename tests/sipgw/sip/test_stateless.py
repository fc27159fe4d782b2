"""StatelessResponder: the same To tag for a retransmission, responses trimmed to their budget."""

from __future__ import annotations

from sipgw.sip.message import SipResponse, parse_message
from sipgw.sip.stateless import StatelessResponder
from tests.sipgw.sip.builders import invite, parse_request, request


def test_a_retransmission_gets_the_same_tag_another_request_another() -> None:
    responder = StatelessResponder("sipgw/test", key=bytes(16))
    first = parse_request(invite(via_branch="z9hG4bKa"))
    again = parse_request(invite(via_branch="z9hG4bKa"))
    other = parse_request(invite(via_branch="z9hG4bKb"))
    assert responder.tag(first) == responder.tag(again) != responder.tag(other)
    assert StatelessResponder("x").tag(first) != StatelessResponder("x").tag(first)  # keyed
    response = responder.build(first, 403)
    assert response.to.tag == responder.tag(first)
    assert response.headers.get("Server") == "sipgw/test"
    in_dialog = parse_request(request("BYE", to_tag="theirs"))
    assert responder.build(in_dialog, 481).to.tag == "theirs"


def test_fit_drops_optional_headers_then_the_reasons_detail_then_gives_up() -> None:
    responder = StatelessResponder("sipgw/test")
    req = parse_request(request("OPTIONS"))
    whole = responder.build(req, 200, headers=[("Allow", "INVITE, ACK, BYE"), ("Accept", "x/y")])
    size = len(whole.serialize())
    assert responder.fit(whole, None) == whole.serialize()
    assert responder.fit(whole, size) == whole.serialize() and responder.trimmed == 0
    trimmed = responder.fit(whole, size - 1)
    assert trimmed is not None and b"Server:" not in trimmed and b"Allow:" in trimmed
    assert responder.trimmed == 1
    bad = responder.build(req, 400, "Bad Request (invalid CSeq 'one')")
    bare = len(bad.serialize()) - len("Server: sipgw/test\r\n") - len(" (invalid CSeq 'one')")
    out = responder.fit(bad, bare)
    assert out is not None and out.startswith(b"SIP/2.0 400 Bad Request\r\n")
    assert responder.fit(responder.build(req, 403), 100) is None and responder.too_large == 1


def test_fit_writes_compact_header_names_before_it_gives_up() -> None:
    # RFC 4475's mismatch01 (236 octets) and badvers: their bare 400/505, with a To tag and
    # the received of RFC 3261 §18.2.1, are a few octets longer than they are
    responder = StatelessResponder("sipgw/test")
    req = parse_request(request("OPTIONS"))
    bad = responder.build(req, 400)
    bare = len(bad.serialize()) - len("Server: sipgw/test\r\n")
    out = responder.fit(bad, bare - 1)
    assert out is not None and len(out) <= bare - 1 and responder.too_large == 0
    for line in (b"\r\nv:SIP/2.0/UDP ", b"\r\nf:", b"\r\nt:", b"\r\ni:call-1", b"\r\nl:0\r\n"):
        assert line in out
    parsed = parse_message(out)
    assert isinstance(parsed, SipResponse) and parsed.status == 400
    assert (parsed.call_id, parsed.from_.tag, parsed.vias) == (req.call_id, req.from_.tag, req.vias)
    assert parsed.to.tag == responder.tag(req)
