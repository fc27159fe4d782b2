"""Which caller identity the core believes (sipgw/sip/trustedid.py): P-Asserted-Identity from a
source the operator named, never the From, never from anyone (RFC 3325 §4, §9.1)."""

from __future__ import annotations

import pytest

from sipgw.sip.access import AccessPolicy, AllowList
from sipgw.sip.events import CallOffered
from sipgw.sip.headers import Headers
from sipgw.sip.trustedid import phone_number, trusted_number
from tests.sipgw.sip.builders import invite
from tests.sipgw.sip.ua_harness import Harness


def headers(*values: str) -> Headers:
    return Headers([("P-Asserted-Identity", value) for value in values])


@pytest.mark.parametrize(
    ("values", "number"),
    [
        (["<sip:+15551234567@trunk.example;user=phone>"], "+15551234567"),
        (["<tel:+1-555-123-4567>"], "+15551234567"),
        (['"Ada" <sip:alice@trunk.example>, <tel:+4930123456>'], "+4930123456"),
        (["<sip:15551234567@10.0.0.1>"], "15551234567"),
        (["<sip:alice@trunk.example>"], ""),  # a name is no number
        (["not a name-addr <", "<mailto:a@b>"], ""),  # left out, never an error
        ([], ""),
    ],
)
def test_the_asserted_number(values: list[str], number: str) -> None:
    assert trusted_number(headers(*values)) == number


def test_a_phone_number() -> None:
    assert phone_number("+1(555)010-0") == "+15550100"
    assert phone_number("15550100") == "15550100"
    assert phone_number("support") == phone_number("") == phone_number("1 555") == ""


PAI = "P-Asserted-Identity: <tel:+15550009999>"


def offered(h: Harness, data: bytes) -> str:
    h.feed(data)
    (event,) = [e for e in h.events if isinstance(e, CallOffered)]
    return event.call.trusted_identity


def test_a_named_source_is_believed_and_the_from_never() -> None:
    named = Harness(access=AccessPolicy(AllowList.parse(["192.0.2.0/24"])))
    assert offered(named, invite(extra=PAI)) == "+15550009999"
    again = Harness(access=AccessPolicy(AllowList.parse(["192.0.2.0/24"])))
    assert offered(again, invite()) == ""  # the From's +15551234567 proves nothing


def test_a_source_admitted_as_anyone_is_not_believed() -> None:
    """``--allow-from any``: anyone can write the header."""
    assert offered(Harness(access=AccessPolicy.open()), invite(extra=PAI)) == ""
    assert offered(Harness(), invite(extra=PAI)) == ""  # the core's default: open


def test_a_source_admitted_by_a_default_nobody_chose_is_not_believed() -> None:
    """A lab's networks (loopback and private, admitted with nothing configured) are no
    trust domain: the operator named nobody."""
    lab = AllowList.parse(["127.0.0.0/8", "192.0.2.0/24"])  # the harness's caller among them
    assert offered(Harness(access=AccessPolicy(lab, named=False)), invite(extra=PAI)) == ""
    assert offered(Harness(access=AccessPolicy(lab)), invite(extra=PAI)) == "+15550009999"
