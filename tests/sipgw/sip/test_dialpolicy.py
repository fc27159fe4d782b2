"""The dial allow-list (sipgw/sip/dialpolicy.py): its syntax, and one reading of each target.

The allow-list used to read SIP URIs with a regex of its own, ``(sips?):([^@]+)@([^;?]+)(.*)``,
while REFER and INVITE went through ``sipgw/sip/uri.py``. ``DISAGREEMENTS`` lists targets the
two read differently (found by running both over random URI-like text): each is now
judged on what ``sipgw/sip/uri.py`` reads, and the REFER tests below show that what leaves is
the very URI that was judged.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.sip.dialpolicy import DialPolicy, PhoneNumber, parse_call_template, parse_dial_target
from sipgw.sip.message import SipRequest
from sipgw.sip.uri import AbsoluteUri, SipUri, parse_uri
from tests.sipgw.sip.ua_harness import Harness, confirmed_call

CASES = [
    # entry, action, target, allowed
    ("sip:support@pbx.example.com", "transfer", "sip:support@pbx.example.com", True),
    ("sip:support@pbx.example.com", "transfer", "<sip:support@PBX.example.com>", True),
    ("sip:support@pbx.example.com", "transfer", "sip:Support@pbx.example.com", False),
    ("sip:support@pbx.example.com", "transfer", "sip:support@pbx.example.com:5080", False),
    ("sip:support@pbx.example.com", "transfer", "sips:support@pbx.example.com", False),
    ("sip:support@pbx.example.com", "transfer", "sip:support@evil.example", False),
    ("sip:support@pbx.example.com", "transfer", "sip:support@pbx.example.com;maddr=evil", False),
    ("sip:support@pbx.example.com", "transfer", "sip:support@pbx.example.com?Route=x", False),
    ("sip:support@pbx.example.com", "transfer", "sip:support@pbx.example.com;transport=tcp", True),
    ("sip:*@pbx.example.com", "transfer", "sip:anyone@pbx.example.com", True),
    ("sip:*@pbx.example.com", "transfer", "sip:anyone@pbx.example.com.evil", False),
    ("sip:+1800*@pbx.example.com", "call", "sip:+18005550100@pbx.example.com", True),
    ("sip:+1800*@pbx.example.com", "call", "sip:+19005550100@pbx.example.com", False),
    ("+1800*", "call", "+1 (800) 555-0100", True),
    ("+1800*", "call", "tel:+18005550100", True),
    ("+1800*", "call", "0018005550100", True),
    ("+1800*", "call", "+19005550100", False),
    ("+1800*", "call", "sip:+18005550100@evil.example", False),  # a number entry is no host
    ("+1555010[0-9]", "call", "+15550105", True),
    ("+1555010[0-9]", "call", "+155501050", False),
    ("+1555010[13]", "call", "+15550102", False),
    ("+15550100", "call", "+15550100", True),
    ("+15550100", "call", "+155501001", False),
    ("1#", "dtmf", "1#", True),
    ("1#", "dtmf", "1#9", False),
    ("*72", "dtmf", "*72", True),
    ("9*", "dtmf", "9001234#", True),
]


@pytest.mark.parametrize(("entry", "action", "target", "allowed"), CASES)
def test_entry_matches(entry: str, action: str, target: str, allowed: bool) -> None:
    assert DialPolicy.parse(entry).allows(action, target) is allowed


DISAGREEMENTS = [
    # entry, action, target, allowed now; what the old regex read, and what sipgw/sip/uri.py reads
    pytest.param(
        "sip:*@pbx.example.com", "transfer", "sip:support:secret@pbx.example.com", False,
        id="password: regex user 'support:secret'; uri.py user 'support' with a password",
    ),
    pytest.param(
        "sip:support@pbx.example.com", "transfer", "sip:support:x@pbx.example.com", False,
        id="password to an exact entry: not the same URI",
    ),
    pytest.param(
        "sip:*@pbx.example.com", "transfer", "sip:any one@pbx.example.com", False,
        id="blank in the user: regex allowed it; uri.py reads no URI (nothing could be sent)",
    ),
    pytest.param(
        "sip:*@pbx.example.com", "transfer", 'sip:a"b@pbx.example.com', False,
        id="quote in the user: regex allowed it; uri.py reads no URI",
    ),
    pytest.param(
        "sip:*@pbx.example.com", "transfer", "sip:x?Route=<sip:evil>@pbx.example.com", False,
        id="angle brackets in the user: regex allowed it; uri.py reads no URI",
    ),
    pytest.param(
        "sip:*@pbx.example.com:5060", "transfer", "sip:a@pbx.example.com:05060", True,
        id="port 05060: regex compared text; uri.py reads port 5060, and 5060 is sent",
    ),
    pytest.param(
        "sip:desk@[2001:db8::1]", "transfer", "sip:desk@[2001:DB8:0::1]", True,
        id="IPv6 written longer: regex compared text; the same address",
    ),
    pytest.param(
        "sip:desk@[2001:db8::1]", "transfer", "sip:desk@[2001:db8::2]", False,
        id="IPv6: another address",
    ),
    pytest.param(
        "sip:support@pbx.example.com", "transfer", "SIP:support@PBX.EXAMPLE.COM", True,
        id="upper-case scheme and host: both case-insensitive (RFC 3261 19.1.4)",
    ),
    pytest.param(
        "sip:support@pbx.example.com", "transfer", "sip:%73upport@pbx.example.com", False,
        id="escaped user: escapes compared as written, by the policy and the stack",
    ),
    pytest.param(
        "sip:*@pbx.example.com", "transfer", "sip:evil%40attacker.example@pbx.example.com", True,
        id="escaped @ in the user: the host both read is pbx.example.com",
    ),
    pytest.param(
        "sip:desk@pbx.example.com;maddr=10.0.0.1", "transfer",
        "sip:desk@PBX.example.com;MADDR=10.0.0.1", True,
        id="an entry with maddr: the same URI however it is cased (regex compared text)",
    ),
    pytest.param(
        "sip:desk@pbx.example.com;maddr=10.0.0.1", "transfer",
        "sip:desk@pbx.example.com;maddr=10.0.0.2", False,
        id="an entry with maddr: another maddr",
    ),
    pytest.param(
        "+15550100", "transfer", "<tel:+15550100>", True,
        id="tel: in angle brackets: the regex path never saw the number",
    ),
    pytest.param(
        "+44*", "dtmf", "0044123", False,
        id="DTMF 0044: judged as +44 before, but 0 0 4 4 is what gets keyed",
    ),
    pytest.param(
        "00*", "dtmf", "0044123", True,
        id="DTMF 0044 against an entry for 00: refused before, it is what gets keyed",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("entry", "action", "target", "allowed"), DISAGREEMENTS)
def test_targets_the_old_regex_read_otherwise(
    entry: str, action: str, target: str, allowed: bool
) -> None:
    assert DialPolicy.parse(entry).allows(action, target) is allowed


def test_empty_allows_nothing() -> None:
    policy = DialPolicy.parse("")
    for action, target in [("transfer", "sip:a@b"), ("call", "+15550100"), ("dtmf", "1")]:
        assert not policy.allows(action, target)
        assert not policy.allows(action, parse_dial_target(target))


def test_per_action_entries_apply_to_that_action_only() -> None:
    policy = DialPolicy(
        per_action={"transfer": ["sip:desk@pbx.example"], "call": ["+1*"]},
        call_templates=["sip:{number}@pbx.example"],
    )
    assert policy.allows("transfer", "sip:desk@pbx.example")
    assert not policy.allows("call", "sip:desk@pbx.example")
    assert policy.allows("call", "+15550100") and not policy.allows("dtmf", "15550100")
    assert not policy.allows("transfer", "+15550100")
    # the operator's callback template filled with an allowed number
    assert policy.allows("call", "sip:+15550100@pbx.example")
    assert not policy.allows("call", "sip:+44207946@pbx.example")
    assert not policy.allows("call", "sip:+15550100@pbx.example;maddr=evil.example")
    assert not policy.allows("transfer", "sip:+15550100@pbx.example")  # templates: calls only


def test_call_templates_are_read_by_the_uri_parser() -> None:
    policy = DialPolicy(
        per_action={"call": ["+1*"]}, call_templates=["sip:9{number}@pbx;user=phone"]
    )
    assert policy.allows("call", "sip:9+15550100@pbx;user=phone")
    assert policy.allows("call", "sip:9+15550100@PBX;User=PHONE")  # RFC 3261 19.1.4
    assert not policy.allows("call", "sip:+15550100@pbx;user=phone")  # not the template's user
    assert not policy.allows("call", "sip:9+15550100@pbx")  # a parameter less: another URI
    assert not policy.allows("call", "sip:9@pbx;user=phone")  # no number in it
    # The old regex took "+1 555 0100" for the number; no SIP parser reads that as a URI.
    assert not policy.allows("call", "sip:9+1 555 0100@pbx;user=phone")


@pytest.mark.parametrize("bad", ["sip:nohost", "+1[a-z]", "+1-800-x", "1+2", "sip:x@h, ", "[]"])
def test_bad_entries_are_named(bad: str) -> None:
    text = bad.split(",")[0]
    if text == "sip:x@h":
        DialPolicy.parse(bad)  # a trailing comma is fine
        return
    with pytest.raises(ValueError, match="'"):
        DialPolicy.parse(bad)


@pytest.mark.parametrize(
    "bad",
    ["sip:pbx.example.com", "sip:agent@{number}.example", "tel:{number}", "sip:{number}{number}@h"],
)
def test_bad_templates_are_named(bad: str) -> None:
    with pytest.raises(ValueError, match="user part"):
        parse_call_template(bad)
    with pytest.raises(ValueError):
        DialPolicy(call_templates=[bad])


def test_numbers_are_read_once() -> None:
    assert parse_dial_target(" +1 (555) 010-0 ") == PhoneNumber("+15550100")
    assert PhoneNumber("0044123").international == "+44123"
    assert PhoneNumber("0012").international == "0012"  # too short to be a country code
    assert PhoneNumber("*72#").keyed and not PhoneNumber("+1555").keyed
    assert parse_dial_target("1 2 3a") == PhoneNumber("123A")  # what DTMF keys
    tel = parse_dial_target("<tel:+15550100;phone-context=x>")
    assert isinstance(tel, AbsoluteUri) and tel.scheme == "tel"
    assert isinstance(parse_dial_target("SIP:a@B"), SipUri)
    for bad in ("", "hello", "sip:", "<sip:a@b"):
        with pytest.raises(ValueError, match="neither"):
            parse_dial_target(bad)


def test_dtmf_is_judged_as_keyed() -> None:
    policy = DialPolicy.parse("9*,+44*")
    assert policy.allows("dtmf", "9 001")  # blanks dropped: 9001 is keyed
    assert not policy.allows("dtmf", "+44123")  # no + key
    assert not policy.allows("dtmf", "sip:9@pbx")


# --------------------------------------------------------------------------- judged == sent

ALLOWED_TRANSFERS = [
    ("sip:support@pbx.example.com", "<sip:support@PBX.example.com>"),
    ("sip:*@pbx.example.com", "SIP:Alice@pbx.example.com;transport=TCP"),
    ("sip:*@[2001:db8::1]:5070", "sip:desk@[2001:DB8::1]:5070"),
    ("sip:*@pbx.example.com:5060", "sip:a@pbx.example.com:05060"),
    ("+1555*", "tel:+15550100"),
]


@pytest.mark.parametrize(("entry", "given"), ALLOWED_TRANSFERS)
def test_the_refer_carries_the_uri_that_was_judged(entry: str, given: str) -> None:
    """The gateway hands the core the judged object; Refer-To, read back, is that URI."""
    judged = parse_dial_target(given)
    assert DialPolicy.parse(entry).allows("transfer", judged)
    h = Harness()
    call, _ = confirmed_call(h)
    h.act(h.ua.refer, call, judged)
    (refer,) = h.take()
    assert isinstance(refer, SipRequest) and refer.method == "REFER"
    refer_to = (refer.headers.get("Refer-To") or "").removeprefix("<").removesuffix(">")
    assert refer_to == str(judged)
    assert DialPolicy.parse(entry).allows("transfer", parse_uri(refer_to))


PIECES = [*'ab1+@:;?=&%<>[]" ./#*-', "sip:", "SIP:", "pbx", ":5060", "maddr=x", "%40", "[::1]"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
URI_TEXT = st.one_of(
    st.tuples(
        st.sampled_from(["sip:", "SIP:", "sips:", "<sip:", " sip:"]),
        st.one_of(st.sampled_from(["a", "+15550100", "b:pw", "x%40y", "a;b=c", "a?b", "*"]), TEXT),
        st.sampled_from(["@pbx", "@PBX", "@[::1]", "@[0:0::1]", "@pbx:5060", "@pbx.evil", "@"]),
        st.sampled_from(["", ";transport=TCP", ";maddr=x", "?h=v", ";user=phone", ">", ":"]),
        st.sampled_from(["", ";lr", "?x=<y>", ">", " "]),
    ).map("".join),
    TEXT.map(lambda text: "sip:" + text),
)


@settings(max_examples=300)
@given(URI_TEXT, st.sampled_from(["sip:*@pbx", "sip:*@[::1]", "sip:+1*@pbx", "sip:a@pbx"]))
def test_a_target_is_judged_as_the_sip_stack_reads_it(text: str, entry: str) -> None:
    """Text and its one reading get one verdict; an allowed URI, written out as it is sent
    and read again (by the receiving side's parser), is the same URI and still allowed."""
    policy = DialPolicy.parse(entry)
    verdict = policy.allows("transfer", text)
    try:
        target = parse_dial_target(text)
    except ValueError:
        assert not verdict
        return
    assert policy.allows("transfer", target) is verdict
    if verdict:
        assert isinstance(target, SipUri)
        sent = parse_uri(str(target))
        assert str(sent) == str(target) and policy.allows("transfer", sent)


WELL_FORMED = st.builds(
    "{}:{}@{}{}{}".format,
    st.sampled_from(["sip", "SIP", "Sip"]),
    st.text(alphabet="abAB19+-._~*#;?/&=$,%", min_size=1, max_size=10).filter(
        lambda user: "%" not in user or re.search(r"%[0-9A-F]{2}", user) is not None
    ),
    st.sampled_from(["pbx", "PBX", "[::1]", "[0:0::1]"]),
    st.sampled_from(["", ":5060", ":05060"]),
    st.sampled_from(["", ";transport=TCP", ";user=phone", ";transport=udp;user=ip"]),
)


@settings(max_examples=100)
@given(WELL_FORMED, st.sampled_from(["sip:*@pbx", "sip:*@[::1]", "sip:*@pbx:5060"]))
def test_an_allowed_uri_is_the_uri_the_refer_carries(text: str, entry: str) -> None:
    """Any URI the wildcard admits goes out in Refer-To as judged, and reads back the same."""
    policy = DialPolicy.parse(entry)
    try:
        target = parse_dial_target(text)
    except ValueError:
        assert not policy.allows("transfer", text)
        return
    if not policy.allows("transfer", target):
        return
    h = Harness()
    call, _ = confirmed_call(h)
    h.act(h.ua.refer, call, target)
    (refer,) = h.take()
    assert isinstance(refer, SipRequest)
    sent = parse_uri((refer.headers.get("Refer-To") or "")[1:-1])
    assert isinstance(sent, SipUri) and isinstance(target, SipUri)
    assert (sent.user, sent.host, sent.port, sent.params) == (
        target.user, target.host, target.port, target.params,
    )  # fmt: skip
    assert policy.allows("transfer", sent)


@pytest.mark.parametrize(
    ("keyed", "allowed"),
    [
        ("1", True), ("12", True), ("12#", True),  # an allowed sequence and its beginnings
        ("1#", False), ("12#1", False), ("21", False),
        ("9", True), ("9004412345", True),  # 9* allows what follows a 9
        ("3", True), ("35", True), ("355", False),  # [13]5
        ("+1", False), ("", False), ("1 2", True),
    ],
)  # fmt: skip
def test_keyed_digits_are_judged_as_one_sequence(keyed: str, allowed: bool) -> None:
    """Issue 21: DTMF was judged per string, so keys allowed one by one added up to any
    number; DialPolicy.allows_keyed judges all a call has keyed."""
    policy = DialPolicy.parse("1,2,#,12#,9*,[13]5")
    assert policy.allows_keyed(keyed) is allowed
