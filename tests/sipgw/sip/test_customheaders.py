"""Custom headers in and out (sipgw.sip.customheaders): X- headers, the allow-list, User-to-User."""

from __future__ import annotations

import pytest

from sipgw.sip.customheaders import (
    MAX_HEADERS,
    MAX_RECEIVED,
    MAX_RECEIVED_VALUE,
    MAX_UUI_OCTETS,
    MAX_VALUE,
    HeaderAllowList,
    check_custom_header,
    check_custom_headers,
    embed_in_uri,
    received_custom_headers,
    user_to_user,
)
from sipgw.sip.headers import NameAddr
from sipgw.sip.uri import SipUri


def test_a_good_header_passes_trimmed() -> None:
    assert check_custom_header(" X-Ticket-Id ", " T-1234 ") == ("X-Ticket-Id", "T-1234")
    assert check_custom_header("x-campaign", "spring 2026, wave 2") == (
        "x-campaign",
        "spring 2026, wave 2",
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("Ticket", "1", "must start with X-"),
        ("P-Asserted-Identity", "<sip:x@y>", "must start with X-"),
        ("X-", "1", "must start with X-"),
        ("X-Bad Name", "1", "must start with X-"),
        ("X-Bad:Name", "1", "must start with X-"),
        ("X-Ticket", "1\r\nBYE sip:x SIP/2.0", "one line of printable text"),
        ("X-Ticket", "a\nVia: forged", "one line of printable text"),
        ("X-Ticket", "nul\x00", "one line of printable text"),
        ("X-Ticket", "x" * (MAX_VALUE + 1), "longer than"),
        ("X-" + "a" * 70, "1", "at most 64 characters"),
    ],
)
def test_header_injection_is_refused_with_the_reason(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_custom_header(name, value)


def test_a_set_of_headers_is_bounded_and_names_are_unique() -> None:
    assert check_custom_headers({"X-A": "1", "X-B": "2"}) == (("X-A", "1"), ("X-B", "2"))
    with pytest.raises(ValueError, match="X-a is given twice"):
        check_custom_headers([("X-A", "1"), ("X-a", "2")])
    with pytest.raises(ValueError, match=f"at most {MAX_HEADERS}"):
        check_custom_headers({f"X-H{n}": "v" for n in range(MAX_HEADERS + 1)})


def test_the_allow_list_names_headers_and_prefixes_case_insensitively() -> None:
    allow = HeaderAllowList.parse("X-Ticket-Id, x-campaign-*")
    assert allow.allows("x-ticket-id") and allow.allows("X-Campaign-Name")
    assert not allow.allows("X-Ticket-Idx") and not allow.allows("X-Other")
    seen = [
        ("X-Ticket-Id", "T1"),
        ("X-Other", "no"),
        ("X-Campaign-Id", "c\x07"),
        ("X-Ticket-Id", "T2"),
    ]
    assert allow.pick(seen) == {"X-Ticket-Id": "T1", "X-Campaign-Id": "c?"}
    assert HeaderAllowList().pick(seen) == {}


@pytest.mark.parametrize("entry", ["Ticket", "X-Bad Name", "X-*-x", "*"])
def test_the_allow_list_refuses_what_is_no_x_header(entry: str) -> None:
    with pytest.raises(ValueError, match="is not an X- header name"):
        HeaderAllowList.parse(entry)


def test_user_to_user_is_hex_with_its_encoding_and_bounded() -> None:
    """RFC 7433 §4.1: uui-data with encoding=hex; 128 octets as ISDN carries (RFC 7434 §6)."""
    assert user_to_user("Hi") == "4869;encoding=hex"
    assert user_to_user("Hi", "isdn-uui") == "4869;encoding=hex;purpose=isdn-uui"
    long = user_to_user("é" * 100)  # 200 octets: cut at a character boundary
    data = bytes.fromhex(long.split(";")[0])
    assert len(data) <= MAX_UUI_OCTETS and data.decode("utf-8") == "é" * 62 + "…"
    summary = (
        "Ada Lovelace wants a refund of order 1234, charged twice on 3 May; she asked for a "
        "manager and would like a call back if the line drops."
    )
    data = bytes.fromhex(user_to_user(summary).split(";")[0])  # cut after a whole word
    assert len(data) <= MAX_UUI_OCTETS
    assert data.decode() == (
        "Ada Lovelace wants a refund of order 1234, charged twice on 3 May; she asked for a "
        "manager and would like a call back if the…"
    )
    exact = "a" * (MAX_UUI_OCTETS - 4) + " bcd"  # fits: kept whole, its spaces folded
    assert bytes.fromhex(user_to_user(exact.replace(" ", "\n ")).split(";")[0]) == exact.encode()
    with pytest.raises(ValueError, match="not a token"):
        user_to_user("x", "bad purpose")


def test_a_header_embedded_in_a_refer_to_uri_is_escaped() -> None:
    """RFC 3261 §19.1.1: hvalue characters outside hnv-unreserved/unreserved are %-escaped."""
    uri = embed_in_uri(SipUri.parse("sip:2000@pbx.example"), "User-to-User", "4869;encoding=hex")
    assert str(uri) == "sip:2000@pbx.example?User-to-User=4869%3Bencoding%3Dhex"
    assert NameAddr.parse(f"<{uri}>").uri == uri  # it still parses as a URI


def test_received_x_headers_are_kept_as_sent_first_value_bounded() -> None:
    headers = [("X-A", "1"), ("Via", "SIP/2.0/UDP h"), ("x-a", "2"), ("x-b", "v" * 5000)]
    assert received_custom_headers(headers) == (("X-A", "1"), ("x-b", "v" * MAX_RECEIVED_VALUE))
    many = [(f"X-H{n}", "v") for n in range(MAX_RECEIVED + 5)]
    assert len(received_custom_headers(many)) == MAX_RECEIVED
