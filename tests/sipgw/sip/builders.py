"""Builders for SIP test messages as a UAC would send them (a scripted peer)."""

from __future__ import annotations

import itertools

from sipgw.sip.errors import MessageParseError
from sipgw.sip.message import RequestParseError, SipRequest, SipResponse, parse_message


def partial_of(error: MessageParseError) -> SipRequest | None:
    """The request a parse error still lets a UAS answer, or None."""
    return error.partial if isinstance(error, RequestParseError) else None


CALLER = ("192.0.2.10", 5062)
GATEWAY = ("192.0.2.1", 5060)

SDP_OFFER = (
    "v=0\r\n"
    "o=caller 1 1 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)

_branches = itertools.count(1)


def branch() -> str:
    """A fresh RFC 3261 branch."""
    return f"z9hG4bKtest{next(_branches)}"


def request(
    method: str,
    *,
    call_id: str = "call-1@192.0.2.10",
    cseq: int = 1,
    cseq_method: str | None = None,
    from_tag: str = "caller-tag",
    to_tag: str | None = None,
    via_branch: str | None = None,
    uri: str = "sip:agent@192.0.2.1:5060",
    body: str = "",
    content_type: str | None = "application/sdp",
    extra: str = "",
    contact: bool = True,
    rport: bool = True,
) -> bytes:
    """A request from the caller at :data:`CALLER`."""
    to = "<sip:agent@192.0.2.1>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {CALLER[0]}:{CALLER[1]};branch={via_branch or branch()}"
        + (";rport" if rport else ""),
        "Max-Forwards: 70",
        f'From: "Caller" <sip:+15551234567@192.0.2.10>;tag={from_tag}',
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
    ]
    if contact:
        lines.append(f"Contact: <sip:caller@{CALLER[0]}:{CALLER[1]}>")
    if body and content_type:
        lines.append(f"Content-Type: {content_type}")
    if extra:
        lines.extend(extra.strip("\r\n").split("\r\n"))
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def invite(**kwargs: object) -> bytes:
    """An INVITE with :data:`SDP_OFFER` unless ``body`` is given."""
    kwargs.setdefault("body", SDP_OFFER)
    return request("INVITE", **kwargs)  # type: ignore[arg-type]


def parse_request(data: bytes) -> SipRequest:
    """Parse bytes that must be a request."""
    message = parse_message(data)
    assert isinstance(message, SipRequest), message
    return message


def parse_response(data: bytes) -> SipResponse:
    """Parse bytes that must be a response."""
    message = parse_message(data)
    assert isinstance(message, SipResponse), message
    return message


def ack_for(response: SipResponse, *, cseq: int = 1, body: str = "") -> bytes:
    """The caller's ACK for a 2xx (a new transaction, new branch)."""
    return request(
        "ACK",
        call_id=response.call_id,
        cseq=cseq,
        to_tag=response.to.tag,
        body=body,
        content_type="application/sdp" if body else None,
    )
