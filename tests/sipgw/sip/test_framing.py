"""Stream framing (RFC 3261 §18.3, RFC 5626 §3.5.1): bytes in, messages, pongs and errors out.

Each case is fed whole, one byte at a time, and split at every offset.
"""

from __future__ import annotations

import pytest

from sipgw.sip.framing import (
    FramingFailed,
    FramingLimits,
    MessageFramed,
    PingReceived,
    PongReceived,
    StreamConnection,
    StreamEvent,
)
from sipgw.sip.message import SipRequest, SipResponse, parse_message
from tests.sipgw.sip.builders import SDP_OFFER, invite, request


def drain(conn: StreamConnection) -> list[StreamEvent]:
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def feed_chunks(data: bytes, chunks: list[int]) -> tuple[list[StreamEvent], bytes]:
    """Feed ``data`` cut at ``chunks`` offsets; return the events and what was sent."""
    conn = StreamConnection()
    events: list[StreamEvent] = []
    out = b""
    start = 0
    for end in [*chunks, len(data)]:
        conn.receive_data(data[start:end])
        events += drain(conn)
        out += conn.data_to_send()
        start = end
    return events, out


def every_way(data: bytes) -> list[tuple[list[StreamEvent], bytes]]:
    ways = [feed_chunks(data, []), feed_chunks(data, list(range(1, len(data))))]
    ways += [feed_chunks(data, [cut]) for cut in range(1, len(data), 7)]
    return ways


INVITE = invite()
BYE = request("BYE", cseq=2, to_tag="gw", content_type=None)
OK = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\n"
    b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
    b"Content-Length: 0\r\n\r\n"
)


@pytest.mark.parametrize(
    ("stream", "expected", "sent"),
    [
        (INVITE, [MessageFramed(INVITE)], b""),
        (INVITE + BYE + OK, [MessageFramed(INVITE), MessageFramed(BYE), MessageFramed(OK)], b""),
        # RFC 3261 §7.5: a CRLF before a message is skipped, not a keep-alive.
        (b"\r\n" + INVITE, [MessageFramed(INVITE)], b""),
        # RFC 5626 §3.5.1: CRLFCRLF is a ping, answered with one CRLF.
        (b"\r\n\r\n", [PingReceived()], b"\r\n"),
        (BYE + b"\r\n\r\n" + OK, [MessageFramed(BYE), PingReceived(), MessageFramed(OK)], b"\r\n"),
        (b"\r\n\r\n\r\n\r\n", [PingReceived(), PingReceived()], b"\r\n\r\n"),
    ],
    ids=["one", "three-merged", "leading-crlf", "ping", "ping-between", "two-pings"],
)
def test_framing(stream: bytes, expected: list[StreamEvent], sent: bytes) -> None:
    for events, out in every_way(stream):
        assert events == expected
        assert out == sent


def test_framed_bytes_parse_as_the_message() -> None:
    (event,) = feed_chunks(INVITE + b"\r\n", [])[0]
    assert isinstance(event, MessageFramed)
    message = parse_message(event.data)
    assert isinstance(message, SipRequest) and message.body == SDP_OFFER.encode()


def test_waits_for_the_body() -> None:
    conn = StreamConnection()
    conn.receive_data(INVITE[:-5])
    assert conn.next_event() is None and conn.buffered == len(INVITE) - 5
    conn.receive_data(INVITE[-5:])
    assert conn.next_event() == MessageFramed(INVITE)
    assert conn.buffered == 0


def test_pong_after_our_ping() -> None:
    conn = StreamConnection()
    conn.send_ping()
    assert conn.data_to_send() == b"\r\n\r\n"
    conn.receive_data(b"\r\n")
    assert drain(conn) == [PongReceived()]
    conn.receive_data(b"\r\n\r\n")  # the peer's own ping, later
    assert drain(conn) == [PingReceived()]
    assert conn.data_to_send() == b"\r\n"


@pytest.mark.parametrize(
    ("header", "length"),
    [
        ("Content-Length: 4", 4),
        ("l: 4", 4),
        ("content-length   :   0004", 4),
        ("Content-Length:\r\n 4", 4),  # folded (§7.3.1)
    ],
)
def test_content_length_forms(header: str, length: int) -> None:
    head = f"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n{header}\r\n\r\n".encode()
    events, _ = feed_chunks(head + b"abcdEXTRA", [])
    assert events == [MessageFramed(head + b"abcd")]


def bad_request(header: str, method: str = "INVITE") -> bytes:
    data = request(method, content_type=None).replace(b"Content-Length: 0\r\n", b"")
    return data.replace(b"\r\n\r\n", f"\r\n{header}\r\n\r\n".encode() if header else b"\r\n\r\n")


@pytest.mark.parametrize(
    ("data", "reason", "status"),
    [
        (bad_request(""), "no Content-Length on a stream transport", 400),
        (bad_request("Content-Length: -4"), "invalid Content-Length '-4'", 400),
        (bad_request("Content-Length: 2\r\nl: 2"), "more than one Content-Length", 400),
        (bad_request("Content-Length: 99999999999"), "Content-Length too large", 400),
        (bad_request("Content-Length: 300000"), "body too large (300000 octets)", 413),
    ],
    ids=["missing", "negative", "two", "huge", "over-limit"],
)
def test_bad_content_length_is_answered_then_fatal(data: bytes, reason: str, status: int) -> None:
    for events, out in every_way(data + INVITE):
        assert events == [FramingFailed(reason, answered=True)]
        answer = parse_message(out)
        assert isinstance(answer, SipResponse) and answer.status == status
        # a 400 says what is malformed; a 413 names no limit (nothing about our defences)
        assert (reason in answer.reason) is (status == 400)
        assert answer.call_id == "call-1@192.0.2.10"


def test_nothing_after_a_failure() -> None:
    conn = StreamConnection(server="sipgw/test")
    conn.receive_data(bad_request(""))
    assert drain(conn) == [FramingFailed("no Content-Length on a stream transport", True)]
    assert b"Server: sipgw/test\r\n" in conn.data_to_send()
    conn.receive_data(INVITE)
    assert drain(conn) == [] and conn.failed and conn.buffered == 0


@pytest.mark.parametrize(
    "data",
    [
        bad_request("", method="ACK"),  # never answer an ACK
        OK.replace(b"Content-Length: 0\r\n", b""),  # a response
        b"NOT SIP AT ALL\r\n\r\n",
    ],
    ids=["ack", "response", "garbage"],
)
def test_unanswerable_framing_errors_only_close(data: bytes) -> None:
    events, out = feed_chunks(data, [])
    assert events == [FramingFailed("no Content-Length on a stream transport", False)]
    assert out == b""


def test_header_section_limit() -> None:
    conn = StreamConnection(FramingLimits(max_header_size=100))
    conn.receive_data(b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X: " + b"y" * 60)
    assert conn.next_event() is None  # under the limit: wait
    conn.receive_data(b"y" * 20)
    assert conn.next_event() == FramingFailed("header section too large", False)
    assert conn.buffered == 0
    conn = StreamConnection(FramingLimits(max_header_size=100))
    conn.receive_data(b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"y" * 100 + b"\r\n\r\n")
    assert conn.next_event() == FramingFailed("header section too large", False)


def test_buffer_stays_bounded_under_a_flood() -> None:
    limits = FramingLimits(max_header_size=1000, max_body_size=1000)
    conn = StreamConnection(limits)
    for _ in range(100):
        conn.receive_data(b"z" * 64)
        drain(conn)
        assert conn.buffered <= 1000 + 64
    assert conn.failed
    conn = StreamConnection()
    for _ in range(10000):  # keep-alives never accumulate
        conn.receive_data(b"\r\n\r\n")
        drain(conn)
        conn.data_to_send()
    assert conn.buffered == 0
