"""Message bodies the user agent understands (sipgw.sip.body): SDP, alone or inside a multipart
body (RFC 5621, RFC 2046 §5.1), and SIP INFO keypad digits."""

from __future__ import annotations

import pytest

from sipgw.sip.body import parse_dtmf_info, sdp_body
from sipgw.sip.errors import RemoteProtocolError
from sipgw.sip.message import make_response
from tests.sipgw.sip.builders import SDP_OFFER, invite, parse_request, request

SDP = SDP_OFFER.encode()
SDP_LF = SDP_OFFER.replace("\r\n", "\n")


def multipart(*parts: tuple[str | None, str], boundary: str = "b1", eol: str = "\r\n") -> str:
    """A MIME multipart body with a preamble and an epilogue around ``parts``."""
    body = f"preamble{eol}"
    for content_type, content in parts:
        head = f"Content-Type: {content_type}{eol}" if content_type else ""
        body += f"--{boundary}{eol}{head}{eol}{content}{eol}"
    return body + f"--{boundary}--{eol}epilogue{eol}"


ISUP = ("application/isup;version=itu-t92+", "\x01\x10\x00")
LOCATION = ("application/pidf+xml", "<presence/>")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/sdp", SDP_OFFER),
        ("Application/SDP; charset=utf-8", SDP_OFFER),
        (None, SDP_OFFER),  # no Content-Type: SDP is what an INVITE carries
        ("multipart/mixed;boundary=b1", multipart(ISUP, ("application/sdp", SDP_OFFER))),
        ('multipart/mixed; boundary="b 1"',
         multipart(("application/sdp", SDP_OFFER), boundary="b 1")),
        ("multipart/alternative;boundary=b1", multipart(LOCATION, ("application/sdp", SDP_OFFER))),
        ("multipart/mixed;boundary=b1", multipart(("application/sdp", SDP_LF), eol="\n")),
    ],
    ids=["sdp", "sdp-params", "no-type", "mixed", "quoted-boundary", "alternative", "lf-only"],
)  # fmt: skip
def test_the_sdp_of_a_request(content_type: str | None, body: str) -> None:
    req = parse_request(invite(body=body, content_type=content_type))
    expected = SDP_LF if "\r" not in body else SDP_OFFER
    assert sdp_body(req) == expected.encode()  # the part exactly, not one byte less


def test_no_body_is_no_sdp_and_a_response_carries_one_too() -> None:
    assert sdp_body(parse_request(invite(body=""))) is None
    response = make_response(parse_request(invite()), 200)
    response.body = SDP
    response.headers.set("Content-Type", "application/sdp")
    assert sdp_body(response) == SDP


@pytest.mark.parametrize(
    ("content_type", "body", "extra"),
    [
        ("text/plain", "hello", ""),
        ("application/sdp", SDP_OFFER, "Content-Encoding: gzip"),
        ("multipart/mixed;boundary=b1", multipart(ISUP, LOCATION), ""),
        ("multipart/mixed", multipart(("application/sdp", SDP_OFFER)), ""),  # no boundary
        ("multipart/mixed;boundary=b1", multipart((None, SDP_OFFER)), ""),  # text/plain part
        ("multipart/mixed;boundary=b1", "--b1--\r\n" + multipart(("application/sdp", SDP_OFFER)),
         ""),  # the SDP is after the close delimiter
    ],
    ids=["text", "gzip", "no-sdp-part", "no-boundary", "untyped-part", "after-close"],
)  # fmt: skip
def test_a_body_we_cannot_use_is_415(content_type: str, body: str, extra: str) -> None:
    """RFC 3261 §8.2.3: unsupported body type or encoding."""
    req = parse_request(invite(body=body, content_type=content_type, extra=extra))
    with pytest.raises(RemoteProtocolError) as refused:
        sdp_body(req)
    assert refused.value.status_hint == 415


def test_identity_encoding_is_no_encoding() -> None:
    req = parse_request(invite(extra="Content-Encoding: Identity"))
    assert sdp_body(req) == SDP


# --------------------------------------------------------------------------- INFO DTMF


def info(content_type: str | None, body: str):
    return parse_request(request("INFO", to_tag="t", body=body, content_type=content_type))


EVENTS = "0123456789*#ABCD!"
"""RFC 4733 §3.2 events 0-16, in order (16: flash-hook)."""


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", ("5", 160)),
        ("application/dtmf-relay", "signal= #\nduration=250", ("#", 250)),
        ("application/dtmf-relay", "Signal=a\r\n", ("A", None)),
        ("application/dtmf-relay", "Signal=5\r\nDuration=long\r\n", ("5", None)),
        ("application/dtmf-relay", "Signal=05\r\n", ("5", None)),
        ("Application/DTMF-Relay; charset=utf-8", "Signal=9", ("9", None)),
        ("application/dtmf", "7", ("7", None)),
        ("application/dtmf", " d \r\n", ("D", None)),
        ("application/dtmf", "16", ("!", None)),
    ],
)
def test_info_dtmf_bodies(content_type: str, body: str, expected: tuple[str, int | None]) -> None:
    assert parse_dtmf_info(info(content_type, body)) == expected


@pytest.mark.parametrize("event", range(10, 17))
def test_event_numbers_for_the_keys_that_are_not_digits(event: int) -> None:
    """Some devices send the RFC 4733 event number: 10 is ``*``, 16 the flash-hook."""
    digit, _ = parse_dtmf_info(info("application/dtmf-relay", f"Signal={event}\r\n"))
    assert digit == EVENTS[event]


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/dtmf-relay", "Signal=55\r\n", 400),
        ("application/dtmf-relay", "Signal=17\r\n", 400),
        ("application/dtmf-relay", "Duration=160\r\n", 400),
        ("application/dtmf", "x", 400),
        ("application/dtmf", "**", 400),
        ("text/plain", "5", 415),
        (None, "5", 415),
    ],
)
def test_info_bodies_we_cannot_read(content_type: str | None, body: str, status: int) -> None:
    with pytest.raises(RemoteProtocolError) as refused:
        parse_dtmf_info(info(content_type, body))
    assert refused.value.status_hint == status
