"""Tests for sipgw.sip.message: parsing, serialization, framing, responses.

Table tests in the style of h11's ``tr()``: every case is fed whole to
``parse_message``, one byte at a time through ``sipgw.sip.framing.StreamConnection``
(each framed message then parsed), and with trailing data (a second message, or
junk after Content-Length).
"""

from __future__ import annotations

import ast
import importlib.util
import timeit
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipgw.sip import message as message_module
from sipgw.sip.errors import LocalProtocolError, MessageParseError
from sipgw.sip.framing import (
    FramingFailed,
    FramingLimits,
    MessageFramed,
    PingReceived,
    StreamConnection,
    StreamEvent,
)
from sipgw.sip.headers import CSeq
from sipgw.sip.message import (
    COMPACT_FORMS,
    REASON_PHRASES,
    Headers,
    SipMessage,
    SipRequest,
    SipResponse,
    canonical_name,
    make_response,
    parse_message,
)
from sipgw.sip.uri import AbsoluteUri, SipUri
from tests.sipgw.sip.builders import partial_of

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "data" / "sip"


def crlf(text: str) -> bytes:
    """Test helper: a message written with "\\n" line ends, sent with CRLF."""
    return text.replace("\n", "\r\n").encode()


def stream_events(
    data: bytes, chunk: int = 0, conn: StreamConnection | None = None
) -> list[StreamEvent]:
    """Feed ``data`` to a StreamConnection whole (chunk 0) or ``chunk`` octets at a time."""
    conn = conn if conn is not None else StreamConnection()
    step = chunk or max(len(data), 1)
    events: list[StreamEvent] = []
    for i in range(0, len(data), step):
        conn.receive_data(data[i : i + step])
        while (event := conn.next_event()) is not None:
            events.append(event)
    return events


def parse_framed(events: list[StreamEvent]) -> list[SipMessage]:
    """Parse every framed message; a framing failure fails the test."""
    out: list[SipMessage] = []
    for event in events:
        assert not isinstance(event, FramingFailed), event.reason
        if isinstance(event, MessageFramed):
            out.append(parse_message(event.data))
    return out


def feed_bytewise(data: bytes) -> list[SipMessage]:
    return parse_framed(stream_events(data, chunk=1))


def feed_whole(data: bytes) -> list[SipMessage]:
    return parse_framed(stream_events(data))


OPTIONS = crlf(
    "OPTIONS sip:gw.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKopt1\n"
    "From: <sip:probe@example.com>;tag=p1\n"
    "To: <sip:gw.example.com>\n"
    "Call-ID: opt-1\n"
    "CSeq: 1 OPTIONS\n"
    "Max-Forwards: 70\n"
    "Content-Length: 0\n"
    "\n"
)

INVITE = crlf(
    "INVITE sip:agent@gw.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv1;rport\n"
    "Via: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKinv0, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKinvX\n"
    'From: "Alice" <sip:alice@example.com>;tag=a1\n'
    "To: <sip:agent@gw.example.com>\n"
    "Call-ID: inv-1@192.0.2.1\n"
    "CSeq: 7 INVITE\n"
    "Contact: <sip:alice@192.0.2.1:5060>\n"
    "Max-Forwards: 70\n"
    "Content-Type: application/sdp\n"
    "Content-Length: 10\n"
    "\n"
    "v=0\no=x\n"
)

COMPACT = crlf(
    "\n\n"  # leading CRLFs are ignored (RFC 3261 §7.5)
    "MESSAGE sip:agent@gw.example.com SIP/2.0\n"
    "v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKmsg\n"
    "f: <sip:alice@example.com>;tag=m1\n"
    "t: <sip:agent@gw.example.com>\n"
    "i: msg-1\n"
    "cseq: 2\n"
    "  MESSAGE\n"
    "c: text/plain;charset=utf-8\n"
    "Subject: folded\n"
    "\tsubject\n"
    "l: 5\n"
    "\n"
    "hello"
)

RESPONSE = crlf(
    "SIP/2.0 180 Ringing\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv1;rport=5060;received=192.0.2.1\n"
    'From: "Alice" <sip:alice@example.com>;tag=a1\n'
    "To: <sip:agent@gw.example.com>;tag=b2\n"
    "Call-ID: inv-1@192.0.2.1\n"
    "CSeq: 7 INVITE\n"
    "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\n"
    "Content-Length: 0\n"
    "\n"
)

NO_REASON = crlf(
    "SIP/2.0 100 \n"
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnr\n"
    "From: <sip:a@example.com>;tag=1\n"
    "To: <sip:b@example.com>\n"
    "Call-ID: nr\n"
    "CSeq: 1 INVITE\n"
    "Content-Length: 0\n"
    "\n"
)

BINARY_BODY = (
    crlf(
        "INFO sip:agent@gw.example.com SIP/2.0\n"
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKinfo\n"
        "From: <sip:a@example.com>;tag=1\n"
        "To: <sip:agent@gw.example.com>;tag=2\n"
        "Call-ID: info-1\n"
        "CSeq: 3 INFO\n"
        "Content-Type: application/octet-stream\n"
        "Content-Length: 8\n"
        "\n"
    )
    + b"\x00\r\n\r\n\xff\x00\x01"
)


def _expect_request(method, call_id, n_vias, body=b""):
    def check(msg: SipMessage) -> None:
        assert isinstance(msg, SipRequest)
        assert msg.method == method
        assert msg.call_id == call_id
        assert len(msg.vias) == n_vias
        assert msg.body == body

    return check


def _expect_response(status, reason, call_id, body=b""):
    def check(msg: SipMessage) -> None:
        assert isinstance(msg, SipResponse)
        assert (msg.status, msg.reason) == (status, reason)
        assert msg.call_id == call_id
        assert msg.body == body

    return check


CASES: list[tuple[bytes, Callable[[SipMessage], None]]] = [
    (OPTIONS, _expect_request("OPTIONS", "opt-1", 1)),
    (INVITE, _expect_request("INVITE", "inv-1@192.0.2.1", 3, b"v=0\r\no=x\r\n")),
    (COMPACT, _expect_request("MESSAGE", "msg-1", 1, b"hello")),
    (RESPONSE, _expect_response(180, "Ringing", "inv-1@192.0.2.1")),
    (NO_REASON, _expect_response(100, "", "nr")),
    (BINARY_BODY, _expect_request("INFO", "info-1", 1, b"\x00\r\n\r\n\xff\x00\x01")),
]


@pytest.mark.parametrize(("data", "check"), CASES)
def test_case_whole(data, check):
    check(parse_message(data))


@pytest.mark.parametrize(("data", "check"), CASES)
def test_case_byte_at_a_time(data, check):
    messages = feed_bytewise(data)
    assert len(messages) == 1
    check(messages[0])
    assert messages[0] == parse_message(data)


@pytest.mark.parametrize(("data", "check"), CASES)
def test_case_with_trailing_data(data, check):
    # UDP: octets after Content-Length are discarded (RFC 3261 §18.3)
    check(parse_message(data + b"INVITE sip:junk SIP/2.0\r\n\r\n"))
    # stream: the second message comes out next, whole or byte by byte
    for feed in (feed_whole, feed_bytewise):
        first, second = feed(data + OPTIONS)
        check(first)
        _expect_request("OPTIONS", "opt-1", 1)(second)


def test_parsed_fields_of_cases():
    msg = parse_message(INVITE)
    assert isinstance(msg, SipRequest)
    assert msg.uri == "sip:agent@gw.example.com"
    assert msg.request_uri == SipUri(user="agent", host="gw.example.com")
    assert msg.request_sip_uri == msg.request_uri
    assert msg.version == "SIP/2.0"
    assert msg.cseq == CSeq(7, "INVITE")
    assert [v.host for v in msg.vias] == ["192.0.2.1", "10.0.0.1", "10.0.0.2"]
    assert msg.headers.get_all("Via")[1] == "SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKinv0"
    assert msg.top_via.branch == "z9hG4bKinv1" and msg.top_via.has_rport
    assert msg.from_.display_name == "Alice" and msg.from_.tag == "a1"
    assert msg.to.tag is None
    assert [str(c.uri) for c in msg.contacts] == ["sip:alice@192.0.2.1:5060"]
    assert msg.max_forwards == 70
    assert msg.content_type == "application/sdp"
    assert msg.routes == [] and msg.record_routes == []

    compact = parse_message(COMPACT)
    assert isinstance(compact, SipRequest)
    assert [name for name, _ in compact.headers] == [
        "Via", "From", "To", "Call-ID", "CSeq", "Content-Type", "Subject", "Content-Length",
    ]  # fmt: skip
    assert compact.headers.get("cseq") == "2 MESSAGE"
    assert compact.headers.get("subject") == "folded subject"
    assert compact.content_type == "text/plain"
    assert compact.max_forwards is None

    response = parse_message(RESPONSE)
    assert isinstance(response, SipResponse)
    assert [str(r.uri) for r in response.record_routes] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
    ]
    assert response.top_via.rport == 5060 and response.top_via.received == "192.0.2.1"


# -- error cases ----------------------------------------------------------------

_HEADERS = (
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKe\n"
    "From: <sip:a@example.com>;tag=1\n"
    "To: <sip:b@example.com>\n"
    "Call-ID: err-1\n"
    "CSeq: 1 OPTIONS\n"
)


def _req(start="OPTIONS sip:b@example.com SIP/2.0", headers=_HEADERS, extra="", cl="0", body=""):
    length = f"Content-Length: {cl}\n" if cl is not None else ""
    return crlf(f"{start}\n{headers}{extra}{length}\n{body}")


# What StreamConnection does with a case followed by OPTIONS on a stream:
FRAMED = "framed"  # framed by its Content-Length; the parser rejects it; OPTIONS comes next
FATAL = "fatal"  # FramingFailed (the Content-Length is unusable): the stream is over
WAITS = "waits"  # Content-Length promises more octets than there are: wait for them
MERGED = "merged"  # no header end of its own: it and OPTIONS frame as one bad message

# (data, status_hint, partial expected, what a stream does with it)
ERROR_CASES = [
    (b"", 400, False, FRAMED),
    (b"\r\n\r\n", 400, False, FRAMED),
    (b"garbage\r\n", 400, False, MERGED),
    (_req(start="OPTIONS sip:b@example.com"), 400, False, FRAMED),
    (_req(start="GET / HTTP/1.1"), 400, False, FRAMED),
    (_req(start="OPT IONS sip:b@example.com SIP/2.0 x"), 400, False, FRAMED),
    (_req(start="OPTIONS sip:b@example.com SIP/3.0"), 505, True, FRAMED),
    (_req(start="OPTIONS <sip:b@example.com> SIP/2.0"), 400, True, FRAMED),
    (_req(start="OPTIONS sip:b@example.com; lr SIP/2.0"), 400, True, FRAMED),
    (_req(start="OPTIONS sip:b@example.com?Route=x SIP/2.0"), 400, True, FRAMED),
    (_req(headers=_HEADERS.replace("Call-ID: err-1\n", "")), 400, True, FRAMED),
    (
        _req(headers=_HEADERS.replace("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKe\n", "")),
        400,
        True,
        FRAMED,
    ),
    (_req(extra="Call-ID: err-2\n"), 400, True, FRAMED),
    (_req(extra="Max-Forwards: 70\nMax-Forwards: 69\n"), 400, True, FRAMED),
    (_req(extra="Max-Forwards: 256\n"), 400, True, FRAMED),
    (_req(extra="Max-Forwards: seventy\n"), 400, True, FRAMED),
    (_req(headers=_HEADERS.replace("1 OPTIONS", "1 INVITE")), 400, True, FRAMED),
    (
        _req(start="FOO sip:b@example.com SIP/2.0", headers=_HEADERS.replace("OPTIONS", "BAR")),
        501,
        True,
        FRAMED,
    ),
    (
        _req(headers=_HEADERS.replace("<sip:b@example.com>", '"b <sip:b@example.com>')),
        400,
        True,
        FRAMED,
    ),
    (_req(cl="-1"), 400, True, FATAL),
    (_req(cl="five"), 400, True, FATAL),
    (_req(cl="5", body="abc"), 400, True, WAITS),  # UDP: 400; stream: waits
    (_req(cl=None, extra="Content-Length: 0\nContent-Length: 0\n"), 400, True, FATAL),
    (_req(extra="Bad Header: x\n"), 400, False, FRAMED),
    (_req(extra="NoColon\n"), 400, False, FRAMED),
    (
        crlf("OPTIONS sip:b@example.com SIP/2.0\n folded-first: x\nContent-Length: 0\n\n"),
        400,
        False,
        FRAMED,
    ),
    (RESPONSE.replace(b"180 Ringing", b"4294967301 better not break"), 400, False, FRAMED),
    (RESPONSE.replace(b"180 Ringing", b"099 Low"), 400, False, FRAMED),
    (RESPONSE.replace(b"SIP/2.0 180", b"SIP/3.0 180"), 400, False, FRAMED),
    (
        RESPONSE.replace(b"CSeq: 7 INVITE", b"CSeq: 9292394834772304023312 OPTIONS"),
        400,
        False,
        FRAMED,
    ),
    (RESPONSE.replace(b"Call-ID: inv-1@192.0.2.1\r\n", b""), 400, False, FRAMED),
    (RESPONSE.replace(b"Content-Length: 0", b"Content-Length: 99"), 400, False, WAITS),
]


@pytest.mark.parametrize(("data", "status", "partial", "on_stream"), ERROR_CASES)
def test_error_case_whole(data, status, partial, on_stream):
    with pytest.raises(MessageParseError) as info:
        parse_message(data)
    assert info.value.status_hint == status
    request = partial_of(info.value)
    assert (request is not None) == partial
    if request is not None:
        response = make_response(request, info.value.status_hint)
        assert response.status == status
        assert response.headers.get("Via") == partial_of(info.value).headers.get("Via")


@pytest.mark.parametrize(("data", "status", "partial", "on_stream"), ERROR_CASES)
def test_error_case_on_stream(data, status, partial, on_stream):
    conn = StreamConnection()
    if on_stream == WAITS:  # Content-Length promises more than there is
        assert stream_events(data, conn=conn) == []
        assert not conn.failed and conn.buffered == len(data)
        return
    events = stream_events(data + OPTIONS, conn=conn)
    if data.strip(b"\r\n") == b"":  # nothing, or a keep-alive ping, before OPTIONS
        assert events[-1] == MessageFramed(OPTIONS)
        assert parse_framed(events) == [parse_message(OPTIONS)]
        return
    if on_stream == FATAL:
        assert len(events) == 1 and isinstance(events[0], FramingFailed)
        assert conn.failed
        assert events[0].answered == partial  # the 400 goes out before the close
        assert conn.data_to_send().startswith(f"SIP/2.0 {status} ".encode())
        conn.receive_data(OPTIONS)
        assert conn.next_event() is None  # nothing is framed after the failure
        return
    assert not conn.failed
    first = events[0]
    assert isinstance(first, MessageFramed)
    with pytest.raises(MessageParseError) as info:
        parse_message(first.data)
    assert info.value.status_hint == status
    assert (partial_of(info.value) is not None) == partial
    if on_stream == MERGED:  # OPTIONS became this message's header fields
        assert events == [MessageFramed(data + OPTIONS)]
    else:  # the stream goes on
        assert events == [MessageFramed(data), MessageFramed(OPTIONS)]


def test_udp_without_content_length_takes_rest_of_datagram():
    # RFC 3261 §18.3; RFC 4475 §3.4.1 inv2543
    msg = parse_message(_req(cl=None, body="v=0\n"))
    assert msg.body == b"v=0\r\n"
    assert "Content-Length" not in msg.headers
    assert b"Content-Length: 5\r\n" in msg.serialize()


def test_udp_without_final_empty_line():
    # RFC 4475 §3.1.2.15 baddn.dat ends after its last header line
    msg = parse_message(_req()[:-2])
    assert isinstance(msg, SipRequest) and msg.body == b""
    with pytest.raises(MessageParseError):
        parse_message(_req()[:-3])  # cut inside a line: not a message


def test_stream_requires_content_length():
    conn = StreamConnection()
    [event] = stream_events(_req(cl=None), conn=conn)
    assert isinstance(event, FramingFailed) and "Content-Length" in event.reason
    assert conn.failed


def test_bare_lf_line_ends_are_tolerated():
    data = INVITE.replace(b"\r\n", b"\n").replace(b"Length: 10", b"Length: 8")
    msg = parse_message(data)
    assert isinstance(msg, SipRequest) and msg.body == b"v=0\no=x\n"
    assert feed_bytewise(data) == [msg]


def test_request_line_extra_spaces_are_tolerated():
    # RFC 4475 §3.1.2.9 lwsstart and §3.1.2.10 trws: liberal, normalised on output
    msg = parse_message(_req(start="OPTIONS  sip:b@example.com  SIP/2.0  "))
    assert isinstance(msg, SipRequest)
    assert msg.serialize().startswith(b"OPTIONS sip:b@example.com SIP/2.0\r\n")


def test_accessor_errors_carry_partial():
    msg = parse_message(_req(extra="Contact: <sip:x@example.com>;;\nContent-Type: foo\n"))
    assert isinstance(msg, SipRequest)
    for getter in (lambda: msg.contacts, lambda: msg.content_type):
        with pytest.raises(MessageParseError) as info:
            getter()
        assert info.value.status_hint == 400 and partial_of(info.value) is msg
    msg.headers.remove("Call-ID")
    with pytest.raises(MessageParseError):
        _ = msg.call_id
    msg.uri = "tel:+15551234567"
    assert msg.request_uri == AbsoluteUri("tel", "+15551234567")
    with pytest.raises(MessageParseError) as info:
        _ = msg.request_sip_uri
    assert info.value.status_hint == 416
    msg.uri = "<bad>"
    with pytest.raises(MessageParseError):
        _ = msg.request_uri


def test_contact_star():
    msg = parse_message(_req(extra="Contact: *\nExpires: 0\n"))
    assert isinstance(msg, SipRequest)
    assert msg.contact_is_star and msg.contacts == []
    assert not parse_message(OPTIONS).contact_is_star


def test_date_is_not_validated():
    # RFC 4475 §3.1.2.12 baddate: only what is needed to process the request
    msg = parse_message(_req(extra="Date: Fri, 01 Jan 2010 16:00:00 EST\n"))
    assert msg.headers.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"


def test_never_split_headers():
    auth = 'Digest username="a", realm="r", nonce="n,1", uri="sip:x", response="0"'
    extra = (
        f"Authorization: {auth}\nDate: Tue, 03 Mar 2026 10:15:00 GMT\n"
        "X-Custom: a, b\nAllow: INVITE, ACK\n"
    )
    msg = parse_message(_req(extra=extra))
    assert msg.headers.get_all("Authorization") == [auth]
    assert msg.headers.get_all("Date") == ["Tue, 03 Mar 2026 10:15:00 GMT"]
    assert msg.headers.get_all("X-Custom") == ["a, b"]
    assert msg.headers.get_all("Allow") == ["INVITE", "ACK"]


def test_non_utf8_header_octets_round_trip():
    data = _req(extra="X-Latin1: caf\xe9\n".replace("\xe9", "@")).replace(b"caf@", b"caf\xe9")
    msg = parse_message(data)
    assert msg.headers.get("X-Latin1") == "caf\udce9"
    assert b"X-Latin1: caf\xe9\r\n" in msg.serialize()


# -- fixtures: realistic messages from phones, PBXs and trunks -------------------

FIXTURE_FILES = sorted(FIXTURES.glob("*.sip"))

# file -> (start, call-id, vias, content type, body length, extra checks)
FIXTURE_EXPECT: dict[str, tuple[str, str, int, str | None, int]] = {
    "asterisk_200_ok.sip": ("200", "5b8c1d2e3f40@198.51.100.7", 1, "application/sdp", 218),
    "baresip_invite.sip": ("INVITE", "91c4f6e2a7b3d8c5", 1, "application/sdp", 222),
    "bye_with_route.sip": ("BYE", "5b8c1d2e3f40@198.51.100.7", 1, None, 0),
    "cancel_with_timestamp.sip": ("CANCEL", "91c4f6e2a7b3d8c5", 1, None, 0),
    "compact_folded_invite.sip": ("INVITE", "7f3e2d1c@192.0.2.90", 2, "application/sdp", 218),
    "linphone_invite_tcp.sip": ("INVITE", "0e5gOaK2ab", 1, "application/sdp", 221),
    "multipart_sipi_invite.sip": ("INVITE", "sipi-5d1e2f3a4b@203.0.113.33", 1,
                                  "multipart/mixed", 446),
    "notify_sipfrag.sip": ("NOTIFY", "dlg-1@198.51.100.7", 1, "message/sipfrag", 16),
    "options_ping.sip": ("OPTIONS", "4e3d2c1b0a99887766554433221100ff", 1, None, 0),
    "refer_replaces.sip": ("REFER", "dlg-1@198.51.100.7", 1, None, 0),
    "register_401.sip": ("401", "reg-3f2e1d0c@198.51.100.7", 1, None, 0),
    "register_auth.sip": ("REGISTER", "reg-3f2e1d0c@198.51.100.7", 1, None, 0),
    "ringing_180_ipv6.sip": ("180", "v6-call-1@2001:db8::7", 2, None, 0),
    "trunk_invite.sip": ("INVITE", "3a7c0b5d9e1f2a4b6c8d0e2f4a6b8c0d@0.0.0.0", 2,
                         "application/sdp", 224),
}  # fmt: skip


def test_every_fixture_has_expectations():
    assert {p.name for p in FIXTURE_FILES} == set(FIXTURE_EXPECT)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture(path):
    data = path.read_bytes()
    start, call_id, n_vias, content_type, body_len = FIXTURE_EXPECT[path.name]
    msg = parse_message(data)
    if isinstance(msg, SipRequest):
        assert msg.method == start and msg.cseq.method == start
        _ = (msg.request_sip_uri, msg.max_forwards)
    else:
        assert str(msg.status) == start
    assert msg.call_id == call_id
    assert len(msg.vias) == n_vias
    assert msg.content_type == content_type
    assert len(msg.body) == body_len
    _ = (msg.from_, msg.to, msg.contacts, msg.record_routes)
    # three ways, and round trips
    assert feed_bytewise(data) == [msg]
    assert feed_whole(data + data) == [msg, msg]
    assert parse_message(msg.serialize()) == msg
    assert parse_message(msg.serialize()).serialize() == msg.serialize()


def test_fixture_details():
    def load(name: str) -> SipMessage:
        return parse_message((FIXTURES / name).read_bytes())

    linphone = load("linphone_invite_tcp.sip")
    (contact,) = linphone.contacts  # the quoted "groupchat/1.1,lime" did not split
    assert contact.params["+org.linphone.specs"] == '"groupchat/1.1,lime"'
    assert contact.params["+sip.instance"] == '"<urn:uuid:5f0a0b1e-3c2d-4e5f-8a9b-0c1d2e3f4a5b>"'
    assert linphone.to.display_name is None and str(linphone.to.uri) == "sip:agent@198.51.100.7"
    assert linphone.top_via.params == {"alias": None, "branch": "z9hG4bK.Wc2pMk8Qx", "rport": None}
    assert len(linphone.headers.get_all("Allow")) == 12

    compact = load("compact_folded_invite.sip")
    assert compact.vias[1].received == "192.0.2.91"
    assert compact.from_.tag == "a1b2c3"
    assert compact.headers.get("Subject") == "call from the lobby"
    assert compact.headers.get_all("Supported") == ["timer", "100rel"]
    assert compact.max_forwards == 69

    multipart = load("multipart_sipi_invite.sip")
    assert multipart.headers.get("Content-Type") == "multipart/mixed;boundary=unique-boundary-1"
    assert b"\x00\x0a\x03\x13" in multipart.body and multipart.body.endswith(b"--\r\n")
    assert multipart.request_sip_uri.params == {"user": "phone"}

    challenge = load("register_401.sip")
    assert len(challenge.headers.get_all("WWW-Authenticate")) == 2
    assert challenge.to.tag == "srv-9f8e7d"

    v6 = load("ringing_180_ipv6.sip")
    assert [v.sent_by for v in v6.vias] == [("2001:db8::7", 5060), ("2001:db8:0:1::20", None)]
    assert str(v6.record_routes[0].uri) == "sip:[2001:db8:0:1::20];transport=tcp;lr"
    assert v6.contacts[0].uri == SipUri(user="carol", host="2001:db8:0:2::55", port=5080)

    trunk = load("trunk_invite.sip")
    pai = trunk.headers.get_all("P-Asserted-Identity")
    assert pai == ["<sip:+15551230000@trunk.example.com>", "<tel:+15551230000>"]
    assert trunk.record_routes[0].uri.params == {"lr": None, "twnat": "sip:198.51.100.7:5060"}

    refer = load("refer_replaces.sip")
    assert isinstance(refer, SipRequest)
    refer_to = refer.headers.get("Refer-To")
    assert refer_to is not None and "Replaces=dlg-9%40192.0.2.66" in refer_to

    bye = load("bye_with_route.sip")
    assert [str(r.uri) for r in bye.routes] == [
        "sip:203.0.113.20;lr;ftag=4d5e6f",
        "sip:10.0.0.5;lr;ftag=4d5e6f",
    ]


# -- Headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("call-id", "Call-ID"),
        ("CALL-ID", "Call-ID"),
        ("cseq", "CSeq"),
        ("www-authenticate", "WWW-Authenticate"),
        ("v", "Via"),
        ("V", "Via"),
        ("i", "Call-ID"),
        ("mime-version", "MIME-Version"),
        ("X-Custom-Thing", "X-Custom-Thing"),
        ("x-custom-thing", "x-custom-thing"),
        ("z", "z"),
    ],
)
def test_canonical_name(name, canonical):
    assert canonical_name(name) == canonical


def test_compact_forms_table():
    assert sorted(COMPACT_FORMS) == sorted("imelcfskt vorbuxajdyn".replace(" ", ""))
    assert COMPACT_FORMS["k"] == "Supported" and COMPACT_FORMS["u"] == "Allow-Events"


def test_headers_multimap():
    h = Headers([("via", "a"), ("From", "f"), ("v", "b"), ("X-Odd", "1")])
    assert list(h) == [("Via", "a"), ("From", "f"), ("Via", "b"), ("X-Odd", "1")]
    assert len(h) == 4
    assert h.get("VIA") == "a" and h.get("v") == "a"
    assert h.get_all("Via") == ["a", "b"] and h.count("via") == 2
    assert h.get("missing") is None and h.get("missing", "d") == "d"
    assert h.get_all("missing") == []
    assert "x-odd" in h and "t" not in h and 3 not in h

    h.add("Via", "c")
    h.add_first("Via", "top")
    assert h.get_all("Via") == ["top", "a", "b", "c"]
    h.replace_first("Via", "TOP")
    assert h.get_all("Via") == ["TOP", "a", "b", "c"]
    h.set("Via", "only")
    assert list(h)[0] == ("Via", "only") and h.get_all("Via") == ["only"]
    h.set("To", "t")  # absent: appended
    assert list(h)[-1] == ("To", "t")
    h.replace_first("Contact", "<sip:c@x>")
    assert h.get("m") == "<sip:c@x>"
    h.add_first("Route", "<sip:r@x>")
    assert list(h)[-1] == ("Route", "<sip:r@x>")

    copy = h.copy()
    assert copy == h and copy is not h
    copy.remove("via")
    assert "Via" not in copy and "Via" in h and copy != h
    copy.remove("never-there")
    assert h != object() and repr(h).startswith("Headers(")


@pytest.mark.parametrize(
    ("name", "value"),
    [("Bad Name", "x"), ("", "x"), ("X:Y", "x"), ("X-Inject", "a\r\nVia: evil"), ("X", "a\nb")],
)
def test_headers_reject_injection(name, value):
    h = Headers()
    for mutate in (h.add, h.set, h.replace_first, h.add_first):
        with pytest.raises(LocalProtocolError):
            mutate(name, value)
    with pytest.raises(LocalProtocolError):
        Headers([(name, value)])


# -- serialization -----------------------------------------------------------------


def test_serialize_request_writes_correct_content_length():
    req = SipRequest(
        "MESSAGE",
        "sip:b@example.com",
        Headers([("Via", "SIP/2.0/UDP h;branch=z9hG4bKs"), ("l", "999"), ("Content-Length", "1")]),
        body=b"hi",
    )
    assert req.serialize() == (
        b"MESSAGE sip:b@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP h;branch=z9hG4bKs\r\n"
        b"Content-Length: 2\r\n"
        b"\r\n"
        b"hi"
    )
    assert bytes(req) == req.serialize()


def test_serialize_response_appends_content_length():
    resp = SipResponse(200, "OK", Headers([("CSeq", "1 BYE")]))
    assert bytes(resp) == b"SIP/2.0 200 OK\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"


def test_serialize_is_one_line_per_value():
    msg = parse_message(INVITE)
    out = msg.serialize()
    assert out.count(b"\r\nVia: ") == 3
    assert b"\r\nContent-Length: 10\r\n\r\nv=0" in out


# -- make_response -----------------------------------------------------------------


def test_make_response_copies_headers_verbatim():
    req = parse_message(INVITE)
    assert isinstance(req, SipRequest)
    resp = make_response(req, 180, to_tag="uas1")
    assert (resp.status, resp.reason, resp.body) == (180, "Ringing", b"")
    assert resp.headers.get_all("Via") == req.headers.get_all("Via")
    assert resp.headers.get("From") == req.headers.get("From")
    assert resp.headers.get("To") == "<sip:agent@gw.example.com>;tag=uas1"
    assert [n for n, _ in resp.headers] == ["Via", "Via", "Via", "From", "To", "Call-ID", "CSeq"]
    assert resp.to.tag == "uas1" and resp.cseq == CSeq(7, "INVITE")
    wire = resp.serialize()
    assert wire.endswith(b"CSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n")
    assert parse_message(wire).serialize() == wire


def test_make_response_keeps_existing_to_tag_and_reason():
    req = parse_message(
        RESPONSE.replace(b"SIP/2.0 180 Ringing", b"BYE sip:x@y SIP/2.0").replace(
            b"7 INVITE", b"8 BYE"
        )
    )
    assert isinstance(req, SipRequest)
    resp = make_response(req, 200, "Fine", to_tag="other")
    assert resp.headers.get("To") == "<sip:agent@gw.example.com>;tag=b2"
    assert resp.reason == "Fine"
    assert make_response(req, 299).reason == "Success"
    assert make_response(req, 699).reason == "Global Failure"
    assert make_response(req, 481).reason == "Call/Transaction Does Not Exist"


def test_make_response_100_copies_timestamp():
    req = parse_message((FIXTURES / "cancel_with_timestamp.sip").read_bytes())
    assert isinstance(req, SipRequest)
    assert make_response(req, 100).headers.get("Timestamp") == "1772532900.25"
    assert "Timestamp" not in make_response(req, 200).headers


def test_make_response_on_partial_request():
    # RFC 4475 §3.3.1 insuf: no From/To/Call-ID; nothing is invented
    data = _req(headers="Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\nCSeq: 1 OPTIONS\n")
    with pytest.raises(MessageParseError) as info:
        parse_message(data)
    partial = partial_of(info.value)
    assert partial is not None
    resp = make_response(partial, info.value.status_hint, to_tag="t")
    assert [n for n, _ in resp.headers] == ["Via", "CSeq"]
    # a malformed To is copied raw and tagged by appending
    bad_to = '"Mr. J. User <sip:j.user@example.com>'
    with pytest.raises(MessageParseError) as info:
        parse_message(_req(headers=_HEADERS.replace("<sip:b@example.com>", bad_to)))
    partial = partial_of(info.value)
    assert partial is not None
    resp = make_response(partial, 400, to_tag="t")
    assert resp.headers.get("To") == bad_to + ";tag=t"
    tagged = bad_to + ">;tag=x"
    with pytest.raises(MessageParseError) as info:
        parse_message(_req(headers=_HEADERS.replace("<sip:b@example.com>", tagged)))
    partial = partial_of(info.value)
    assert partial is not None
    assert make_response(partial, 400, to_tag="t").headers.get("To") == tagged


def test_make_response_rejects_bad_status():
    req = parse_message(OPTIONS)
    assert isinstance(req, SipRequest)
    for status in (99, 700):
        with pytest.raises(LocalProtocolError):
            make_response(req, status)


def test_reason_phrases():
    assert REASON_PHRASES[200] == "OK"
    assert REASON_PHRASES[422] == "Session Interval Too Small"
    assert REASON_PHRASES[489] == "Bad Event"
    assert REASON_PHRASES[491] == "Request Pending"
    assert all(100 <= code <= 699 for code in REASON_PHRASES)


# -- stream framing (StreamConnection) -----------------------------------------------


def test_keepalives_are_reported_and_skipped():
    data = b"\r\n\r\n" + OPTIONS + b"\r\n" + b"\r\n\r\n\r\n\r\n" + OPTIONS
    for chunk in (0, 1):
        events = stream_events(data, chunk)
        assert parse_framed(events) == [parse_message(OPTIONS)] * 2
        # a ping before the first OPTIONS; the five CRLFs after it are two pings and
        # a leading CRLF of the second OPTIONS (RFC 3261 §7.5)
        assert events.count(PingReceived()) == 3
    conn = StreamConnection()
    assert stream_events(b"\r\n\r\n", conn=conn) == [PingReceived()]
    assert conn.data_to_send() == b"\r\n"  # the pong (RFC 5626 §3.5.1)
    assert stream_events(b"\r\n", conn=conn) == []  # half a ping
    assert stream_events(b"\r", conn=conn) == []  # a CRLF cut in two
    events = stream_events(b"\n\r\n" + OPTIONS, conn=conn)
    assert events == [PingReceived(), MessageFramed(OPTIONS)]
    assert conn.buffered == 0


def test_bytewise_keepalive_count_matches_whole():
    data = b"\r\n\r\n\r\n" + OPTIONS + b"\r\n\r\n"
    whole, single = StreamConnection(), StreamConnection()
    events = stream_events(data, conn=whole)
    assert events == stream_events(data, 1, conn=single)
    assert events == [PingReceived(), MessageFramed(OPTIONS), PingReceived()]
    assert whole.data_to_send() == single.data_to_send() == b"\r\n\r\n"


def test_framer_limits():
    conn = StreamConnection(FramingLimits(max_header_size=100))
    [event] = stream_events(b"OPTIONS sip:x SIP/2.0\r\nX-Long: " + b"a" * 200, conn=conn)
    assert isinstance(event, FramingFailed) and "too large" in event.reason
    assert conn.failed
    conn = StreamConnection(FramingLimits(max_header_size=100))
    [event] = stream_events(_req(extra="X-Long: " + "a" * 200 + "\n"), conn=conn)
    assert isinstance(event, FramingFailed) and "too large" in event.reason
    conn = StreamConnection(FramingLimits(max_body_size=4))
    [event] = stream_events(_req(cl="5", body="hello"), conn=conn)
    assert isinstance(event, FramingFailed) and "body too large" in event.reason
    assert conn.failed


def test_framer_waits_for_body():
    conn = StreamConnection()
    conn.receive_data(INVITE[:-3])
    assert conn.next_event() is None
    assert conn.next_event() is None
    conn.receive_data(INVITE[-3:])
    assert conn.next_event() == MessageFramed(INVITE)
    assert conn.next_event() is None


# -- Hypothesis: "parse succeeds or raises MessageParseError, never anything else" --

SEEDS = [OPTIONS, INVITE, COMPACT, RESPONSE, NO_REASON, BINARY_BODY] + [
    p.read_bytes() for p in FIXTURE_FILES
]


def _parse_or_reject(data: bytes) -> SipMessage | None:
    try:
        return parse_message(data)
    except MessageParseError as exc:
        if (partial := partial_of(exc)) is not None:
            make_response(partial, exc.status_hint, to_tag="x").serialize()
        return None


def _check_round_trip(msg: SipMessage) -> None:
    wire = msg.serialize()
    again = parse_message(wire)
    assert again.serialize() == wire


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "special"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif op == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 40))]
        else:
            token = draw(
                st.sampled_from(
                    [
                        b"\r\n",
                        b"\r\n ",
                        b"\n",
                        b":",
                        b";",
                        b",",
                        b'"',
                        b"<",
                        b">",
                        b"%",
                        b"@",
                        b"[",
                        b"]",
                        b"\\",
                        b"\x00",
                        b"\xff",
                        b" ",
                        b"\t",
                        b"99999999999999999999",
                        b"Content-Length: 3\r\n",
                        b"l: -1\r\n",
                        b"v: SIP/2.0/UDP [::1\r\n",
                    ]
                )
            )
            data[pos:pos] = token
    return bytes(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_parse_or_message_parse_error(data):
    msg = _parse_or_reject(data)
    if msg is not None:
        _check_round_trip(msg)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_messages_parse_or_message_parse_error(data):
    msg = _parse_or_reject(data)
    if msg is not None:
        _check_round_trip(msg)
        # accessors raise only MessageParseError too
        for name in (
            "call_id",
            "cseq",
            "vias",
            "from_",
            "to",
            "contacts",
            "record_routes",
            "content_type",
            "request_uri",
            "max_forwards",
            "routes",
        ):
            try:
                getattr(msg, name, None)
            except MessageParseError:
                pass


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=4), st.data())
def test_random_chunking_matches_whole_parse(messages, data):
    stream = b"".join(b"\r\n\r\n" * (i % 2) + m for i, m in enumerate(messages))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    conn = StreamConnection()
    events: list[StreamEvent] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        conn.receive_data(stream[last:cut])
        last = cut
        while (event := conn.next_event()) is not None:
            events.append(event)
    assert parse_framed(events) == [parse_message(m) for m in messages]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.integers(1, 64))
def test_mutated_stream_parse_or_message_parse_error(data, chunk):
    conn = StreamConnection(FramingLimits(max_header_size=2048, max_body_size=4096))
    for event in stream_events(data, chunk, conn=conn):
        if isinstance(event, FramingFailed):
            assert conn.failed
            return
        if isinstance(event, MessageFramed):
            try:
                parse_message(event.data)
            except MessageParseError:
                pass


# -- the atheris harness, and house rules ------------------------------------------


def test_fuzz_harness_is_importable_and_runs():
    path = REPO / "tests" / "fuzz" / "fuzz_sip_parser.py"
    spec = importlib.util.spec_from_file_location("fuzz_sip_parser", path)
    assert spec is not None and spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    for seed in [b"", b"\x00", b"\x01garbage", *(bytes([m]) + s for m in (0, 1) for s in SEEDS)]:
        harness.fuzz_one_input(seed)


@pytest.mark.parametrize("module", ["uri", "headers", "message"])
def test_core_modules_do_no_io(module):
    tree = ast.parse((REPO / "sipgw" / "sip" / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"asyncio", "socket", "selectors", "trio"}


def test_all_is_accurate():
    for name in message_module.__all__:
        assert hasattr(message_module, name), name


if __name__ == "__main__":
    # Parse time per typical INVITE (printed, not asserted).
    data = (FIXTURES / "baresip_invite.sip").read_bytes()
    n = 20000
    best = min(timeit.repeat(lambda: parse_message(data), number=n, repeat=5))
    print(f"parse_message: {best / n * 1e6:.1f} us per INVITE ({len(data)} octets)")
    msg = parse_message(data)
    best = min(timeit.repeat(msg.serialize, number=n, repeat=5))
    print(f"serialize:     {best / n * 1e6:.1f} us")
