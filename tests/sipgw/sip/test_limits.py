"""Message bounds (sipgw.sip.limits): 413, 414 and 513 where RFC 3261 §21 asks, drops otherwise."""

from __future__ import annotations

import random
import time

import pytest

from sipgw.sip.addressing import Flow
from sipgw.sip.errors import MessageParseError
from sipgw.sip.limits import DEFAULT_LIMITS, MessageLimits, head_violation
from sipgw.sip.message import RequestParseError, SipResponse, make_response, parse_message
from sipgw.sip.useragent import UserAgent, UserAgentConfig
from tests.sipgw.sip.builders import CALLER, invite, request

SMALL = MessageLimits(
    max_message_size=4000,
    max_header_size=2000,
    max_header_fields=20,
    max_line_length=300,
    max_uri_length=200,
    max_body_size=1000,
)


def status_of(data: bytes, limits: MessageLimits = SMALL) -> int:
    """The status a UAS answers (the partial must be answerable), or raise if dropped."""
    with pytest.raises(MessageParseError) as info:
        parse_message(data, limits)
    assert isinstance(info.value, RequestParseError), f"dropped: {info.value}"
    response = make_response(info.value.partial, info.value.status_hint, to_tag="x")
    assert response.call_id == "call-1@192.0.2.10"
    assert response.vias[0].branch is not None
    return info.value.status_hint


def test_a_normal_invite_is_within_the_default_and_small_limits():
    assert parse_message(invite(), SMALL).method == "INVITE"
    assert parse_message(invite()).method == "INVITE"
    assert head_violation(invite().partition(b"\r\n\r\n")[0], DEFAULT_LIMITS) is None


def test_request_uri_too_long_is_414():
    long_uri = "sip:" + "a" * 250 + "@192.0.2.1"
    assert status_of(request("OPTIONS", uri=long_uri)) == 414
    assert len(parse_message(request("OPTIONS", uri=long_uri[:150]), SMALL).uri) < 200


def test_body_too_large_is_413():
    assert status_of(invite(body="v=0\r\n" + "a=x\r\n" * 300)) == 413


def test_too_many_header_fields_is_513():
    extra = "\r\n".join(f"X-H{i}: {i}" for i in range(30))
    assert status_of(request("OPTIONS", extra=extra)) == 513


def test_a_header_line_too_long_is_513():
    assert status_of(request("OPTIONS", extra="Subject: " + "s" * 400)) == 513


def test_header_section_too_large_is_513():
    extra = "\r\n".join(f"X-H{i}: " + "v" * 200 for i in range(15))
    assert status_of(request("OPTIONS", extra=extra)) == 513


def test_message_too_large_is_513():
    limits = MessageLimits(max_message_size=400)
    assert len(invite()) > 400
    assert status_of(invite(), limits) == 513


def test_an_oversized_response_or_garbage_is_dropped():
    response = make_response(parse_message(request("OPTIONS")), 200)  # type: ignore[arg-type]
    response.headers.add("Subject", "s" * 400)
    for data in (response.serialize(), b"x" * 5000 + b"\r\n\r\n"):
        with pytest.raises(MessageParseError) as info:
            parse_message(data, SMALL)
        assert not isinstance(info.value, RequestParseError)


def test_an_oversized_request_without_its_essential_headers_is_dropped():
    data = b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 40 + b"\r\n"
    with pytest.raises(MessageParseError) as info:
        parse_message(data, SMALL)
    assert not isinstance(info.value, RequestParseError)


def test_a_header_section_is_read_no_further_than_its_bound():
    """The blank line is looked for in the first max_header_size octets only: past them the
    header section is over its bound whatever follows, and the datagram's tail is not read."""
    tail = b"X-Pad: " + b"p" * 250 + b"\r\n"
    no_end = request("OPTIONS").removesuffix(b"\r\n") + tail * 20  # no blank line at all
    assert len(no_end) > 2 * SMALL.max_header_size
    assert status_of(no_end) == 513  # answered from the lines within the bound
    with pytest.raises(RequestParseError) as info:
        parse_message(no_end, SMALL)
    assert "over 2000 octets" in str(info.value)


def test_an_essential_line_past_the_header_bound_is_not_seen():
    start, _, rest = request("OPTIONS").partition(b"\r\n")
    padded = start + b"\r\n" + (b"X-Pad: " + b"p" * 250 + b"\r\n") * 8 + rest
    assert padded.find(b"Via:") > SMALL.max_header_size
    with pytest.raises(MessageParseError) as info:
        parse_message(padded, SMALL)
    assert not isinstance(info.value, RequestParseError)  # the Via was past the bound: dropped


def test_a_too_long_via_line_is_not_copied_and_the_request_is_dropped():
    data = request("OPTIONS").replace(b";rport", b";rport;x=" + b"v" * 400)
    with pytest.raises(MessageParseError) as info:
        parse_message(data, SMALL)
    assert not isinstance(info.value, RequestParseError)


def test_a_flood_of_header_lines_is_rejected_in_linear_time():
    data = request("OPTIONS", extra="X: y\r\n" * 10_000)  # ~60 KB, just under a datagram
    start = time.perf_counter()
    with pytest.raises(RequestParseError) as info:
        parse_message(data)
    assert info.value.status_hint == 513
    assert time.perf_counter() - start < 0.5  # generous: a shared, slow machine


def test_the_user_agent_answers_with_its_configured_limits():
    ua = UserAgent(
        UserAgentConfig(public_host="192.0.2.1", sip_port=5060, limits=SMALL),
        rng=random.Random(1),
    )
    flow = Flow("UDP", CALLER)
    ua.receive_datagram(invite(body="v=0\r\n" + "a=x\r\n" * 300), flow, 0.0)
    ua.receive_datagram(request("OPTIONS", uri="sip:" + "u" * 300 + "@h"), flow, 0.0)
    ua.receive_datagram(request("OPTIONS", extra="X: y\r\n" * 40), flow, 0.0)
    ack = request("ACK", extra="X: y\r\n" * 40)
    ua.receive_datagram(ack, flow, 0.0)  # an ACK is never answered
    sent = [parse_message(data) for data, _ in ua.datagrams_to_send()]
    assert [m.status for m in sent if isinstance(m, SipResponse)] == [413, 414, 513]
    assert len(sent) == 3
    assert ua.next_event() is None  # no call was offered
