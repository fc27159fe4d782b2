"""Tests for sipgw.sip.headers: Via, NameAddr, CSeq, split_header_list."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipgw.sip import headers as headers_module
from sipgw.sip import uri as uri_module
from sipgw.sip.errors import MessageParseError
from sipgw.sip.headers import CSEQ_MAX, CSeq, Headers, NameAddr, Via, split_header_list
from sipgw.sip.uri import AbsoluteUri, SipUri

# -- Headers.parse -----------------------------------------------------------


def test_headers_parse_section():
    text = (
        "v: SIP/2.0/UDP a;branch=z9hG4bK1 ,SIP/2.0/UDP b\r\n"
        "Content-Type : text/plain\r\n"
        "X-Folded: one\r\n two\r\n\tthree\n"
        "Allow: INVITE,\r\n ACK\r\n"
        "Subject:\r\n"
        'WWW-Authenticate: Digest realm="r", nonce="n"'
    )
    h = Headers.parse(text)
    assert list(h) == [
        ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"),
        ("Via", "SIP/2.0/UDP b"),
        ("Content-Type", "text/plain"),
        ("X-Folded", "one two three"),
        ("Allow", "INVITE"),
        ("Allow", "ACK"),
        ("Subject", ""),
        ("WWW-Authenticate", 'Digest realm="r", nonce="n"'),
    ]
    assert len(Headers.parse("")) == 0


@pytest.mark.parametrize(
    "text", [" folded: first", "NoColon", "Bad Name: x", ": empty", 'Contact: "open, <sip:a@b>']
)
def test_headers_parse_rejects(text):
    with pytest.raises(MessageParseError):
        Headers.parse(text)


@pytest.mark.parametrize("module", [headers_module, uri_module])
def test_all_is_accurate(module):
    for name in module.__all__:
        assert hasattr(module, name), name


# -- Via ----------------------------------------------------------------------

# (text, transport, host, port, params, protocol)
VIA_CASES = [
    (
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport",
        "UDP",
        "192.0.2.1",
        5060,
        {"branch": "z9hG4bK776asdhds", "rport": None},
        "SIP/2.0",
    ),
    ("sip/2.0/tcp Host.Example.COM", "TCP", "host.example.com", None, {}, "SIP/2.0"),
    # RFC 4475 §3.1.1.1 wsinv: LWS around "/" and around "=" (after unfolding)
    (
        "SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw",
        "UDP",
        "192.0.2.2",
        None,
        {"branch": "390skdjuw"},
        "SIP/2.0",
    ),
    (
        "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8",
        "TCP",
        "spindle.example.com",
        None,
        {"branch": "z9hG4bK9ikj8"},
        "SIP/2.0",
    ),
    ("SIP/2.0/UDP host : 5070", "UDP", "host", 5070, {}, "SIP/2.0"),  # COLON = SWS ":" SWS
    (
        "SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bK1;received=2001:db8::10;rport=5061",
        "TLS",
        "2001:db8::9",
        5061,
        {"branch": "z9hG4bK1", "received": "2001:db8::10", "rport": "5061"},
        "SIP/2.0",
    ),
    (
        "SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
        "UNKNOWN",
        "t4.example.com",
        None,
        {"branch": "z9hG4bKasd0f3en"},
        "SIP/2.0",
    ),
    (
        "SIP/7.0/UDP c.example.com;Branch=X",
        "UDP",
        "c.example.com",
        None,
        {"branch": "X"},
        "SIP/7.0",
    ),
    (
        'SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK;x="a;b"',
        "WSS",
        "df7jal23ls0d.invalid",
        None,
        {"branch": "z9hG4bK", "x": '"a;b"'},
        "SIP/2.0",
    ),
]


@pytest.mark.parametrize(("text", "transport", "host", "port", "params", "protocol"), VIA_CASES)
def test_via_parse(text, transport, host, port, params, protocol):
    via = Via.parse(text)
    assert (via.transport, via.host, via.port, via.protocol) == (transport, host, port, protocol)
    assert via.params == params
    assert list(via.params) == list(params)  # order preserved
    assert Via.parse(str(via)) == via


def test_via_accessors():
    via = Via.parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;rport=61000;received=203.0.113.9")
    assert via.branch == "z9hG4bKx"
    assert via.received == "203.0.113.9"
    assert via.rport == 61000
    assert via.has_rport
    assert via.sent_by == ("192.0.2.1", 5060)
    flag = Via.parse("SIP/2.0/UDP 192.0.2.1;rport")
    assert flag.rport is None and flag.has_rport and flag.branch is None
    assert not Via.parse("SIP/2.0/UDP h").has_rport
    assert Via.parse("SIP/2.0/UDP h;rport=abc").rport is None


def test_via_str():
    via = Via("UDP", "2001:db8::1", 5060, {"branch": "z9hG4bKa", "rport": None})
    assert str(via) == "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa;rport"
    via.params["rport"] = "5060"
    via.params["received"] = "1.2.3.4"
    assert str(via) == "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa;rport=5060;received=1.2.3.4"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SIP/2.0/UDP",
        "SIP/2.0 192.0.2.1",
        "SIP/2.0/UDP192.0.2.1",
        "SIP/2.0/UDP 192.0.2.15;;",  # RFC 4475 §3.1.2.1 badinv01
        "SIP/2.0/UDP 192.0.2.15;branch=",
        "SIP/2.0/UDP 192.0.2.15;branch=a b",
        "SIP/2.0/UDP 192.0.2.15 junk",
        "SIP/2.0/UDP 192.0.2.15:port",
        "SIP/2.0/UDP [::1;branch=x",
        'SIP/2.0/UDP h;x="unterminated',
        "SIP/2.0/U DP h",
    ],
)
def test_via_rejects(text):
    with pytest.raises(MessageParseError):
        Via.parse(text)


# -- NameAddr -----------------------------------------------------------------

# (text, display_name, uri text, params)
NAMEADDR_CASES = [
    (
        '"Alice" <sip:alice@example.com>;tag=1928301774',
        "Alice",
        "sip:alice@example.com",
        {"tag": "1928301774"},
    ),
    ("<sip:bob@example.com>", None, "sip:bob@example.com", {}),
    ("sip:bob@example.com", None, "sip:bob@example.com", {}),
    # §20.10: params after a bare addr-spec are header params (RFC 4475 §3.3.12)
    (
        "sip:+19725552222@gw1.example.net;unknownparam",
        None,
        "sip:+19725552222@gw1.example.net",
        {"unknownparam": None},
    ),
    (
        "<sip:+19725552222@gw1.example.net;unknownparam>",
        None,
        "sip:+19725552222@gw1.example.net;unknownparam",
        {},
    ),
    # RFC 4475 §3.1.1.1: LWS around ";" and "=", escaped quotes
    (
        "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
        None,
        "sip:vivekg@chair-dnrc.example.com",
        {"tag": "1918181833n"},
    ),
    (
        '"J Rosenberg \\\\\\""       <sip:jdrosen@example.com> ; tag = 98asjd8',
        'J Rosenberg \\"',
        "sip:jdrosen@example.com",
        {"tag": "98asjd8"},
    ),
    (
        '"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; '
        "q = 0.33",
        'Quoted string ""',
        "sip:jdrosen@example.com",
        {"newparam": "newvalue", "secondparam": None, "q": "0.33"},
    ),
    # RFC 4475 §3.1.1.6 lwsdisp: no LWS before "<"
    ("caller<sip:caller@example.com>;tag=323", "caller", "sip:caller@example.com", {"tag": "323"}),
    (
        "A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe",
        "A. Bell",
        "sip:a.g.bell@example.com",
        {"tag": "qweoiqpe"},
    ),
    (
        "token1~` token2'+_   token3*%!.- <sip:mundane@example.com>",
        "token1~` token2'+_ token3*%!.-",
        "sip:mundane@example.com",
        {},
    ),
    ('"" <sip:x@example.com>', "", "sip:x@example.com", {}),
    ('"%Z%45" <sip:resource@example.com>', "%Z%45", "sip:resource@example.com", {}),
    ('"BEL:\\\x07 NUL:\\\x00" <sip:x@example.com>', "BEL:\x07 NUL:\x00", "sip:x@example.com", {}),
    # quoted param values keep their quotes; ";" and "," inside quotes don't split
    (
        '<sip:bob@192.0.2.81;transport=tcp>;+sip.instance="<urn:uuid:5f0a;x>";+org.x="a,b";Expires=60',
        None,
        "sip:bob@192.0.2.81;transport=tcp",
        {"+sip.instance": '"<urn:uuid:5f0a;x>"', "+org.x": '"a,b"', "expires": "60"},
    ),
    ("isbn:2983792873", None, "isbn:2983792873", {}),  # RFC 4475 §3.3.4
    ("<http://www.example.com>;tag=3234233", None, "http://www.example.com", {"tag": "3234233"}),
    ("<tel:+15551230000>", None, "tel:+15551230000", {}),
    (
        "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>",
        None,
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
        {},
    ),
]


@pytest.mark.parametrize(("text", "display", "uri", "params"), NAMEADDR_CASES)
def test_nameaddr_parse(text, display, uri, params):
    addr = NameAddr.parse(text)
    assert addr.display_name == display
    assert str(addr.uri) == uri
    assert addr.params == params
    assert NameAddr.parse(str(addr)) == addr


@pytest.mark.parametrize(
    "text",
    [
        "",
        "*",
        '"Mr. J. User <sip:j.user@example.com>',  # RFC 4475 §3.1.2.6 quotbal
        '"Watson, Thomas" < sip:t.watson@example.org >',  # §3.1.2.14 badaspec
        "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # §3.1.2.15 baddn
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # §3.1.2.13 regbadct
        '"Joe" <sip:joe@example.org>;;;;',  # §3.1.2.1 badinv01 Contact
        "<sip:joe@example.org",
        '"Joe" sip:joe@example.org',
        "<sip:joe@example.org> junk",
        "<sip:joe@example.org>;tag=",
        '<sip:joe@example.org>;x="unterminated',
        '<sip:joe@example.org>;x="a"b',
        "<>",
        "<not a uri>",
        "Alice sip:alice@example.com",
    ],
)
def test_nameaddr_rejects(text):
    with pytest.raises(MessageParseError) as info:
        NameAddr.parse(text)
    assert info.value.status_hint == 400


def test_nameaddr_str_quotes_when_needed():
    uri = SipUri(user="a", host="example.com")
    assert str(NameAddr(uri)) == "<sip:a@example.com>"
    assert str(NameAddr(uri, "Alice")) == "Alice <sip:a@example.com>"
    assert str(NameAddr(uri, "Alice Smith")) == "Alice Smith <sip:a@example.com>"
    assert str(NameAddr(uri, "Smith, Alice")) == '"Smith, Alice" <sip:a@example.com>'
    assert str(NameAddr(uri, 'say "hi" \\o/')) == '"say \\"hi\\" \\\\o/" <sip:a@example.com>'
    assert str(NameAddr(uri, "")) == '"" <sip:a@example.com>'
    assert str(NameAddr(uri, "Zoë")) == '"Zoë" <sip:a@example.com>'
    assert str(NameAddr(uri, "nul\x00")) == '"nul\\\x00" <sip:a@example.com>'
    tel = NameAddr(AbsoluteUri("tel", "+15551234567"), params={"tag": "x", "lr": None})
    assert str(tel) == "<tel:+15551234567>;tag=x;lr"


def test_tag_and_with_tag():
    addr = NameAddr.parse("<sip:a@example.com>;foo=bar")
    assert addr.tag is None
    tagged = addr.with_tag("abc")
    assert tagged.tag == "abc"
    assert addr.tag is None  # copy, not mutation
    assert str(tagged) == "<sip:a@example.com>;foo=bar;tag=abc"
    assert tagged.with_tag("def").tag == "def"


# -- CSeq ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number", "method"),
    [
        ("1 INVITE", 1, "INVITE"),
        ("0009 INVITE", 9, "INVITE"),  # wsinv: leading zeros, folded LWS
        ("  0 ACK  ", 0, "ACK"),
        ("29344 RE%47IST%45R", 29344, "RE%47IST%45R"),  # esc02: % is not an escape
        (f"{CSEQ_MAX} BYE", CSEQ_MAX, "BYE"),
        (
            "139122385 !interesting-Method0123456789_*+`.%indeed'~",
            139122385,
            "!interesting-Method0123456789_*+`.%indeed'~",
        ),
        ("1\tinvite", 1, "invite"),  # method stays case-sensitive
    ],
)
def test_cseq_parse(text, number, method):
    cseq = CSeq.parse(text)
    assert (cseq.number, cseq.method) == (number, method)
    assert CSeq.parse(str(cseq)) == cseq


@pytest.mark.parametrize(
    "text",
    [
        "",
        "INVITE",
        "1",
        "-1 INVITE",
        "1INVITE",
        "1 INV ITE",
        f"{CSEQ_MAX + 1} INVITE",
        "36893488147419103232 REGISTER",  # RFC 4475 §3.1.2.4 scalar02
        "9" * 5000 + " INVITE",  # must not hit int()'s digit limit
    ],
)
def test_cseq_rejects(text):
    with pytest.raises(MessageParseError):
        CSeq.parse(text)


def test_cseq_frozen():
    cseq = CSeq(1, "INVITE")
    with pytest.raises(AttributeError):
        cseq.number = 2  # type: ignore[misc]


# -- split_header_list --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        ("INVITE, ACK,BYE", ["INVITE", "ACK", "BYE"]),
        ("single", ["single"]),
        ("", []),
        ("  ", []),
        ("a,,b,", ["a", "b"]),
        ('"Smith, Alice" <sip:a@x>, <sip:b@y>', ['"Smith, Alice" <sip:a@x>', "<sip:b@y>"]),
        ("<sip:a@x;p=1,2>, <sip:b@y>", ["<sip:a@x;p=1,2>", "<sip:b@y>"]),
        ('<sip:a@x>;+x="a,b", <sip:b@y>', ['<sip:a@x>;+x="a,b"', "<sip:b@y>"]),
        ('"q \\", still quoted" <sip:a@x>, b', ['"q \\", still quoted" <sip:a@x>', "b"]),
        ("SIP/2.0/UDP 192.0.2.15;;,;,,", ["SIP/2.0/UDP 192.0.2.15;;", ";"]),
    ],
)
def test_split_header_list(value, parts):
    assert split_header_list(value) == parts


def test_split_header_list_unterminated_quote():
    with pytest.raises(MessageParseError):
        split_header_list('"abc, def')


_token = st.from_regex(r"[A-Za-z0-9.!%*_+`'~\-]{1,10}", fullmatch=True)
_host = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,2}", fullmatch=True)


@given(
    transport=_token,
    host=_host,
    port=st.none() | st.integers(0, 65535),
    params=st.dictionaries(_token.map(str.lower), st.none() | _token, max_size=4),
)
def test_via_round_trip(transport, host, port, params):
    via = Via(transport.upper(), host, port, params)
    assert Via.parse(str(via)) == via


@given(
    display=st.none() | st.text(st.characters(exclude_characters="\r\n"), max_size=20),
    user=st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True),
    params=st.dictionaries(_token.map(str.lower), st.none() | _token, max_size=3),
)
def test_nameaddr_round_trip(display, user, params):
    addr = NameAddr(SipUri(user=user, host="example.com"), display, params)
    parsed = NameAddr.parse(str(addr))
    assert parsed.uri == addr.uri
    assert parsed.params == addr.params
    if display is not None and display.strip(" \t") == display and "  " not in display:
        assert parsed.display_name == display


@given(st.text(max_size=80))
def test_parsers_raise_only_message_parse_error(text):
    for parse in (Via.parse, NameAddr.parse, CSeq.parse, split_header_list):
        try:
            parse(text)
        except MessageParseError:
            pass


def test_parsed_addresses_and_vias_are_fresh_copies_every_time():
    # NameAddr.parse and Via.parse remember texts; mutating a result must not
    # change what the next parse of the same text returns.
    text = '"Alice" <sip:alice@example.com;transport=tcp>;tag=abc'
    first = NameAddr.parse(text)
    first.params["tag"] = "changed"
    first.uri.params["lr"] = None
    first.display_name = "Mallory"
    again = NameAddr.parse(text)
    assert again.display_name == "Alice"
    assert again.params == {"tag": "abc"}
    assert again.uri.params == {"transport": "tcp"}
    via_text = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport"
    via = Via.parse(via_text)
    via.params["received"] = "198.51.100.7"
    via.host = "203.0.113.9"
    assert Via.parse(via_text) == Via(
        "UDP", "192.0.2.1", 5060, {"branch": "z9hG4bK1", "rport": None}
    )
