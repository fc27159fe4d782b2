"""Which route a call takes (sipgw/app/lines/match.py): called, caller, account, source."""

from __future__ import annotations

import ipaddress

import pytest

from sipgw.app.lines.match import Route, UserPattern, first_match, user_of
from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallInfo
from sipgw.sip.headers import NameAddr
from sipgw.sip.verification import NOT_VERIFIED, CallerVerification


def call(
    to: str = "<sip:+15550100@trunk.example>",
    caller: str = "<sip:+15551234567@trunk.example>",
    request_uri: str = "",
    source: str | None = "203.0.113.7",
    verification: CallerVerification = NOT_VERIFIED,
) -> CallInfo:
    flow = Flow("UDP", (source, 5060)) if source else None
    return CallInfo(
        ("c", "t"), NameAddr.parse(caller), NameAddr.parse(to),
        request_uri=request_uri, source=flow, verification=verification,
    )  # fmt: skip


def test_a_pattern_is_a_number_pattern_a_user_or_anything() -> None:
    assert UserPattern.parse("+1555010[0-9]").matches("+15550104")
    assert UserPattern.parse("+1800*").matches("+1 (800) 555-0100")  # read as a number
    assert not UserPattern.parse("+15550100").matches("+155501000")
    assert UserPattern.parse("15550100").matches("15550100")
    assert UserPattern.parse("sales").matches("sales")
    assert not UserPattern.parse("sales").matches("Sales")  # a SIP user is case-sensitive
    assert UserPattern.parse("*").matches("")
    with pytest.raises(ValueError, match="digit set"):
        UserPattern.parse("+1555[a]")
    with pytest.raises(ValueError, match="empty"):
        UserPattern.parse("  ")


def test_the_called_number_is_in_to_or_in_the_request_uri() -> None:
    route = Route("sales", called=(UserPattern.parse("+15550100"),))
    assert route.matches(call(), None)
    moved = call(to="<sip:gw@192.0.2.1>", request_uri="sip:+15550100@192.0.2.1:5060")
    assert route.matches(moved, None)
    assert not route.matches(call(to="<sip:+15550199@trunk.example>"), None)


def test_every_criterion_must_match_and_any_value_of_one() -> None:
    route = Route(
        "support",
        called=(UserPattern.parse("+1555010[0-9]"),),
        accounts=("trunk", "backup"),
        sources=(ipaddress.ip_network("203.0.113.0/24"),),
        callers=(UserPattern.parse("+1555*"), UserPattern.parse("anonymous")),
    )
    assert route.matches(call(), "backup")
    assert route.matches(call(caller="<sip:anonymous@anonymous.invalid>"), "trunk")
    assert not route.matches(call(), "office")  # another account
    assert not route.matches(call(), None)  # through no account
    assert not route.matches(call(source="198.51.100.1"), "trunk")  # another source
    assert not route.matches(call(source=None), "trunk")  # a call we placed has none
    assert not route.matches(call(caller="<sip:+4420@x>"), "trunk")


def test_the_first_match_wins_and_an_empty_route_takes_everything() -> None:
    routes = [
        Route("vip", callers=(UserPattern.parse("+15551234567"),)),
        Route("sales", called=(UserPattern.parse("+15550100"),)),
        Route("rest"),
    ]
    assert first_match(routes, call(), None) is routes[0]
    assert first_match(routes, call(caller="<sip:+1999@x>"), None) is routes[1]
    assert first_match(routes, call(to="<sip:other@x>", caller="<sip:+1999@x>"), None) is routes[2]
    assert first_match(routes[:2], call(to="<sip:other@x>", caller="<sip:+19@x>"), None) is None


def test_a_route_can_ask_for_the_carriers_verification_and_attestation() -> None:
    passed_a = CallerVerification("verstat", "TN-Validation-Passed-A", "A")
    failed = CallerVerification("verstat", "TN-Validation-Failed")
    claimed_b = CallerVerification("identity", attestation="B", signature="unverified")
    strict = Route("strict", verified=("failed", "none"))
    assert strict.matches(call(verification=failed), None)
    assert strict.matches(call(), None)  # nothing asserted
    assert strict.matches(call(verification=claimed_b), None)  # a PASSporT alone is a claim
    assert not strict.matches(call(verification=passed_a), None)
    full = Route("vip", attestations=("A",))
    assert full.matches(call(verification=passed_a), None)
    assert not full.matches(call(verification=claimed_b), None)
    assert not full.matches(call(), None)  # no level asserted matches none
    routes = [Route("open", verified=("passed",)), Route("strict")]
    assert first_match(routes, call(verification=failed), None) is routes[1]


def test_user_of_reads_sip_uris_only() -> None:
    assert user_of("sip:alice@example.com;transport=tcp") == "alice"
    assert user_of("tel:+15550100") == ""
    assert user_of("not a uri") == ""
