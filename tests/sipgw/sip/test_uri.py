"""Tests for sipgw.sip.uri (RFC 3261 §19.1, §25.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipgw.sip.errors import MessageParseError
from sipgw.sip.uri import (
    AbsoluteUri,
    SipUri,
    format_host,
    parse_hostport,
    parse_uri,
    remembered,
)

# (text, scheme, user, password, host, port, params, headers)
SIP_CASES = [
    ("sip:alice@example.com", "sip", "alice", None, "example.com", None, {}, []),
    ("SIPS:Alice@Example.COM:5061", "sips", "Alice", None, "example.com", 5061, {}, []),
    ("sip:example.com", "sip", None, None, "example.com", None, {}, []),
    ("sip:192.0.2.1:5060;lr", "sip", None, None, "192.0.2.1", 5060, {"lr": None}, []),
    (
        "sip:+15551234567@gw.example.com;user=phone;Transport=TCP",
        "sip",
        "+15551234567",
        None,
        "gw.example.com",
        None,
        {"user": "phone", "transport": "TCP"},
        [],
    ),
    ("sip:bob:s3cret@[2001:DB8::1]:5070", "sip", "bob", "s3cret", "2001:db8::1", 5070, {}, []),
    ("sip:[::1]", "sip", None, None, "::1", None, {}, []),
    # RFC 4475 §3.1.1.9 semiuri: ";" inside the user part, escaped "@".
    (
        "sip:user;par=u%40example.net@example.com",
        "sip",
        "user;par=u%40example.net",
        None,
        "example.com",
        None,
        {},
        [],
    ),
    # RFC 4475 §3.1.1.2 intmeth: "?" "," "/" ";" "*" in the user part, a password.
    (
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
        "(doesn't-it)@example.com",
        "sip",
        "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",
        "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)",
        "example.com",
        None,
        {},
        [],
    ),
    # RFC 4475 §3.1.1.4 escnull: escapes are kept verbatim.
    ("sip:null-%00-null@example.com", "sip", "null-%00-null", None, "example.com", None, {}, []),
    (
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
        "sip",
        "user",
        None,
        "example.com",
        None,
        {},
        [("Route", "%3Csip:sip.example.com%3E")],
    ),
    (
        "sip:a@b.example?subject=hi&priority=urgent&empty=",
        "sip",
        "a",
        None,
        "b.example",
        None,
        {},
        [("subject", "hi"), ("priority", "urgent"), ("empty", "")],
    ),
    # feature codes: "*" and "#" unescaped, as real phones send them
    ("sip:*72#@pbx.example.net", "sip", "*72#", None, "pbx.example.net", None, {}, []),
    (
        "sip:host_with_underscore.example",
        "sip",
        None,
        None,
        "host_with_underscore.example",
        None,
        {},
        [],
    ),
]


@pytest.mark.parametrize(
    ("text", "scheme", "user", "password", "host", "port", "params", "headers"), SIP_CASES
)
def test_parse_sip_uri(text, scheme, user, password, host, port, params, headers):
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        scheme,
        user,
        password,
        host,
        port,
    )
    assert uri.params == params
    assert uri.headers == headers
    assert SipUri.parse(text) == uri
    # canonical serialization parses back to the same value
    assert parse_uri(str(uri)) == uri


@pytest.mark.parametrize(
    ("text", "scheme", "rest"),
    [
        ("tel:+1-201-555-0123", "tel", "+1-201-555-0123"),
        (
            "TEL:+15551234567;phone-context=example.com",
            "tel",
            "+15551234567;phone-context=example.com",
        ),
        ("urn:service:sos", "urn", "service:sos"),
        ("http://www.example.com", "http", "//www.example.com"),
        ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),  # RFC 4475 §3.3.3
        (
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "nobodyknowsthisscheme",
            "totallyopaquecontent",
        ),
        ("isbn:2983792873", "isbn", "2983792873"),
        ("name:John_Smith", "name", "John_Smith"),
    ],
)
def test_parse_absolute_uri(text, scheme, rest):
    uri = parse_uri(text)
    assert uri == AbsoluteUri(scheme, rest)
    assert str(uri) == f"{scheme}:{rest}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip",
        ":foo",
        "<sip:user@example.com>",  # RFC 4475 §3.1.2.7 ltgtruri
        "sip:user@example.com; lr",  # RFC 4475 §3.1.2.8 lwsruri
        " sip:t.watson@example.org ",  # RFC 4475 §3.1.2.14 badaspec
        "sip:",
        "sip:@example.com",
        "sip:user@",
        "sip:user@exa mple.com",
        "sip:user@example.com:",
        "sip:user@example.com:99999",
        "sip:user@example.com:50x",
        "sip:user@[2001:db8::1",
        "sip:user@[not-v6]",
        "sip:user@[::1]x",
        "sip:user@2001:db8::1",
        "sip:us%4ger@example.com",
        "sip:user@example.com;;lr",
        "sip:user@example.com;=x",
        "sip:user@example.com?=x",
        'sip:"q"@example.com',
        "sip:a@b@c",
        "sip:user@-bad-.example",
        "1tel:123",
        "tel:",
        "tel:has space",
        "foo bar:x",
    ],
)
def test_parse_uri_rejects(text):
    with pytest.raises(MessageParseError) as info:
        parse_uri(text)
    assert info.value.status_hint == 400


def test_sip_uri_parse_rejects_other_schemes():
    with pytest.raises(MessageParseError):
        SipUri.parse("tel:+15551234567")


def test_str_and_host_port():
    uri = SipUri(
        user="alice",
        host="2001:db8::1",
        port=5060,
        params={"transport": "tcp", "lr": None},
        headers=[("Subject", "hi")],
    )
    assert str(uri) == "sip:alice@[2001:db8::1]:5060;transport=tcp;lr?Subject=hi"
    assert uri.host_port == "[2001:db8::1]:5060"
    assert SipUri(host="example.com").host_port == "example.com"
    assert str(SipUri(scheme="sips", user="u", password="p", host="h.example")) == (
        "sips:u:p@h.example"
    )


def test_hostport_helpers():
    assert parse_hostport("Example.COM:5060") == ("example.com", 5060)
    assert parse_hostport("[2001:DB8::1]") == ("2001:db8::1", None)
    assert format_host("2001:db8::1") == "[2001:db8::1]"
    assert format_host("192.0.2.1") == "192.0.2.1"


_label = st.from_regex(r"[a-z0-9]([a-z0-9\-]{0,8}[a-z0-9])?", fullmatch=True)
_user = st.from_regex(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,12}", fullmatch=True).filter(
    lambda s: ":" not in s
)
_param_name = st.from_regex(r"[a-z0-9\-_.!~*'()]{1,8}", fullmatch=True)
_param_value = st.none() | st.from_regex(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$]{1,8}", fullmatch=True)


@given(
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | _user,
    host=st.lists(_label, min_size=1, max_size=3).map(".".join),
    port=st.none() | st.integers(0, 65535),
    params=st.dictionaries(_param_name, _param_value, max_size=3),
)
def test_sip_uri_round_trip(scheme, user, host, port, params):
    uri = SipUri(scheme=scheme, user=user, host=host, port=port, params=params)
    assert parse_uri(str(uri)) == uri


@given(st.text(max_size=60))
def test_parse_uri_never_raises_anything_else(text):
    try:
        parse_uri(text)
    except MessageParseError:
        pass


def test_a_parsed_uri_is_a_fresh_copy_every_time():
    # parse_uri remembers texts; what it hands out must not share mutable state.
    text = "sip:alice@example.com:5070;transport=tcp?subject=x"
    first = parse_uri(text)
    assert isinstance(first, SipUri)
    first.params["lr"] = None
    first.headers.append(("priority", "urgent"))
    first.host = "evil.example"
    again = parse_uri(text)
    assert again == SipUri(
        "sip", "alice", None, "example.com", 5070, {"transport": "tcp"}, [("subject", "x")]
    )
    assert again is not first


def test_remembered_parses_each_text_once_and_forgets_all_when_full() -> None:
    calls: list[str] = []

    def parse(text: str) -> list[str]:
        calls.append(text)
        if text == "bad":
            raise ValueError(text)
        return [text]

    parsed = remembered(parse, size=2)
    first = parsed("a")
    assert parsed("a") is first and calls == ["a"]  # remembered: the same result
    parsed("b")
    parsed("c")  # two known: all forgotten, then c kept
    assert calls == ["a", "b", "c"]
    parsed("c")
    parsed("a")
    assert calls == ["a", "b", "c", "a"]
    for _ in range(2):  # a failure is not remembered
        with pytest.raises(ValueError):
            parsed("bad")
    assert calls.count("bad") == 2
