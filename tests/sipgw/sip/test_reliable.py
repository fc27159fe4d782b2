"""Reliable provisional responses' headers and order (sipgw.sip.reliable, RFC 3262)."""

from __future__ import annotations

import pytest

from sipgw.sip.message import SipRequest, make_response, parse_message
from sipgw.sip.reliable import RSEQ_MAX, Rack, next_in_order, requires_reliable, rseq_of

INVITE = (
    b"INVITE sip:bob@192.0.2.20 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
    b"From: <sip:a@192.0.2.1>;tag=a\r\nTo: <sip:bob@192.0.2.20>\r\n"
    b"Call-ID: c1\r\nCSeq: 7 INVITE\r\nMax-Forwards: 70\r\n%s"
    b"Content-Length: 0\r\n\r\n"
)


def invite(headers: bytes = b"") -> SipRequest:
    message = parse_message(INVITE % headers)
    assert isinstance(message, SipRequest)
    return message


@pytest.mark.parametrize(
    ("headers", "wanted"),
    [
        (b"", False),
        (b"Supported: timer, 100rel\r\n", False),  # supported only: the usual 1xx
        (b"Supported: timer\r\nRequire: 100REL\r\n", True),
        (b"Supported: timer\r\n", False),
    ],
)
def test_a_request_requires_reliable_responses_with_require_100rel(
    headers: bytes, wanted: bool
) -> None:
    assert requires_reliable(invite(headers)) is wanted


@pytest.mark.parametrize(
    ("status", "headers", "rseq"),
    [
        (183, [("Require", "100rel"), ("RSeq", "4711")], 4711),
        (180, [("Require", "timer, 100rel"), ("RSeq", " 1 ")], 1),
        (100, [("Require", "100rel"), ("RSeq", "4711")], None),  # §4: a 100 never is
        (183, [("RSeq", "4711")], None),  # no Require: sent the usual way
        (183, [("Require", "100rel")], None),  # no RSeq
        (183, [("Require", "100rel"), ("RSeq", "0")], None),  # §7.1: 1 to 2**31 - 1
        (183, [("Require", "100rel"), ("RSeq", str(RSEQ_MAX + 1))], None),
        (183, [("Require", "100rel"), ("RSeq", "-3")], None),
    ],
)
def test_the_rseq_of_a_reliable_1xx(status: int, headers: list[tuple[str, str]],
                                    rseq: int | None) -> None:  # fmt: skip
    response = make_response(invite(), status, to_tag="b")
    for name, value in headers:
        response.headers.add(name, value)
    assert rseq_of(response) == rseq


def test_reliable_1xx_are_taken_in_order_only() -> None:
    assert next_in_order(None, 90210)  # the first: any number
    assert next_in_order(90210, 90211)
    assert not next_in_order(90211, 90211)  # the UAS's retransmission
    assert not next_in_order(90211, 90213)  # one missing: it comes again, in order


def test_an_rack_names_the_1xx_and_the_invite() -> None:
    assert str(Rack(776656, 1)) == "776656 1 INVITE"
    assert Rack.parse("776656  1 invite") == Rack(776656, 1, "INVITE")
    assert Rack.parse("776656 INVITE") is None and Rack.parse("x 1 INVITE") is None
