"""The carrier's STIR/SHAKEN assertion (sipgw/sip/verification.py): verstat on PAI or From,
an RFC 8224 Identity header's PASSporT, and what is wrong with either, never a traceback."""

from __future__ import annotations

import base64

import pytest

from sipgw.sip.access import AccessPolicy, AllowList
from sipgw.sip.events import CallOffered
from sipgw.sip.headers import Headers
from sipgw.sip.passportcheck import SignatureCheck
from sipgw.sip.verification import (
    CallerVerification,
    caller_verification,
    parse_passport,
    same_number,
)
from tests.sipgw.sip.builders import invite
from tests.sipgw.sip.ua_harness import Harness
from tests.toolkit.passport import b64, shaken
from tests.toolkit.passport import identity_header as passport

CALLER = "+15551234567"
FROM = f"sip:{CALLER}@carrier.example"


def check(*fields: tuple[str, str], from_uri: str = FROM) -> CallerVerification:
    return caller_verification(Headers(list(fields)), from_uri, (CALLER, ""))


PAI = "P-Asserted-Identity"


@pytest.mark.parametrize(
    ("fields", "from_uri", "status", "attestation", "source"),
    [
        ([(PAI, f"<tel:{CALLER};verstat=TN-Validation-Passed>")], FROM, "passed", "", "verstat"),
        ([(PAI, f"<sip:{CALLER};verstat=TN-Validation-Failed@c.example;user=phone>")], FROM,
         "failed", "", "verstat"),
        ([(PAI, f"<tel:{CALLER};verstat=No-TN-Validation>")], FROM, "none", "", "verstat"),
        ([(PAI, f"<tel:{CALLER};verstat=TN-Validation-Passed-B>")], FROM, "passed", "B",
         "verstat"),
        ([], f"sip:{CALLER};verstat=TN-Validation-Passed-A@c.example", "passed", "A", "verstat"),
        ([], f"sip:{CALLER}@c.example;verstat=TN-Validation-Failed", "failed", "", "verstat"),
        ([], FROM, "none", "", ""),
        # a PASSporT alone is a claim: its signature is not checked here
        ([("Identity", passport(shaken("A")))], FROM, "none", "A", "identity"),
        # both: the verstat says passed, the PASSporT gives the level
        ([(PAI, f"<tel:{CALLER};verstat=TN-Validation-Passed>"),
          ("Identity", passport(shaken("C")))], FROM, "passed", "C", "verstat"),
        # a PASSporT for another number is never believed, whatever the verstat says
        ([(PAI, f"<tel:{CALLER};verstat=TN-Validation-Passed>"),
          ("Identity", passport(shaken("A", orig="15559990000")))], FROM, "failed", "",
         "verstat"),
    ],
)  # fmt: skip
def test_the_verification_of_an_invite(
    fields: list[tuple[str, str]], from_uri: str, status: str, attestation: str, source: str
) -> None:
    result = check(*fields, from_uri=from_uri)
    assert (result.status, result.attestation, result.source) == (status, attestation, source)


def test_a_passport_is_read_and_said_to_be_unverified() -> None:
    result = check(("Identity", passport(shaken("B"))))
    assert result.orig == "15551234567"
    assert result.dest == ("15550100",)
    assert result.signature == "unverified"
    assert result.as_dict() == {
        "status": "none",
        "source": "identity",
        "attestation": "B",
        "orig": "15551234567",
        "dest": ["15550100"],
        "signature": "unverified",
    }


def test_a_passport_names_its_certificate_and_the_check_sets_the_status() -> None:
    """The core keeps the token and the certificate URL for the application's check
    (sipgw/sip/passportcheck.py); what the check found decides the status with the verstat."""
    value = passport(shaken("B"), cert="https://sti.example/sp.pem")
    result = check(("Identity", value))
    assert result.needs_check and result.certificate_url == "https://sti.example/sp.pem"
    assert result.token == value.split(";", 1)[0] and "token" not in result.as_dict()
    verified = result.with_signature(SignatureCheck("verified"))
    assert (verified.status, verified.signature, verified.needs_check) == (
        "passed",
        "verified",
        False,
    )
    failed = result.with_signature(SignatureCheck("failed", "the signature does not match"))
    assert failed.status == "failed"
    assert failed.as_dict()["signature_reason"] == "the signature does not match"
    unverified = result.with_signature(SignatureCheck("unverified", "no trust anchors"))
    assert unverified.status == "none" and not unverified.needs_check
    carrier_failed = check(
        ("P-Asserted-Identity", f"<tel:{CALLER};verstat=TN-Validation-Failed>"), ("Identity", value)
    )
    assert carrier_failed.with_signature(SignatureCheck("verified")).status == "failed"


def test_a_passport_whose_orig_is_not_the_caller_fails() -> None:
    result = check(("Identity", passport(shaken("A", orig="15559990000"))))
    assert result.status == "failed"
    assert result.attestation == ""
    assert "orig 15559990000 is not the caller's number" in result.problem


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("garbage", "not a PASSporT"),
        ("a.b", "not a PASSporT"),
        ("..", "not a PASSporT"),
        ("!!!.###.x", "header is not base64url JSON"),
        (f"{b64({'alg': 'ES256'})}.bm90IGpzb24.sig", "payload is not base64url JSON"),
        (f"{b64([1, 2])}.{b64({})}.sig", "header is not a JSON object"),
        (f"{b64({})}.{b64('x')}.sig", "payload is not a JSON object"),
        (f"{b64({})}.{b64({})}.sig", "orig (none) is not the caller's number"),
        ("x" * 9000 + ".a.b", "too long"),
        (f"{b64({})}.{base64.urlsafe_b64encode(bytes([0xFF, 0xFE])).decode()}.s",
         "payload is not base64url JSON"),
    ],
)  # fmt: skip
def test_a_bad_identity_header_is_described(value: str, problem: str) -> None:
    result = check(("Identity", value))
    assert problem in result.problem
    assert result.status in ("none", "failed")


def test_an_unknown_attest_or_verstat_is_described() -> None:
    assert "attest 'Z'" in check(("Identity", passport(shaken("Z")))).problem
    odd = check((PAI, f"<tel:{CALLER};verstat=Maybe>"))
    assert (odd.status, odd.problem) == ("none", "unknown verstat 'Maybe'")


def test_parse_passport_raises_value_error_only() -> None:
    with pytest.raises(ValueError, match="PASSporT"):
        parse_passport("")
    assert parse_passport(passport(shaken()))["payload"]["attest"] == "A"


def test_numbers_are_compared_by_digits() -> None:
    assert same_number("+1 555 123 4567", "15551234567")
    assert not same_number("", "")
    assert not same_number("+15551234567", "+15551234568")


def offered(h: Harness, data: bytes) -> CallerVerification:
    h.feed(data)
    (event,) = [e for e in h.events if isinstance(e, CallOffered)]
    return event.call.verification


VERSTAT = f"P-Asserted-Identity: <tel:{CALLER};verstat=TN-Validation-Passed>"


def test_a_named_source_is_believed_and_anyone_not() -> None:
    named = Harness(access=AccessPolicy(AllowList.parse(["192.0.2.0/24"])))
    assert offered(named, invite(extra=VERSTAT)).status == "passed"
    anyone = offered(Harness(access=AccessPolicy.open()), invite(extra=VERSTAT))
    assert (anyone.status, anyone.source) == ("none", "")


def test_the_shaken_passport_is_read_beside_a_div_one() -> None:
    """A forwarding carrier adds a ``div`` PASSporT (RFC 8946); the SHAKEN one counts."""
    div = b64({"alg": "ES256", "ppt": "div", "typ": "passport", "x5u": "https://c/x"})
    div_value = f"{div}.{b64({'orig': {'tn': '15550000000'}, 'div': {'tn': '1'}})}.c2ln"
    result = check(("Identity", "garbage"), ("Identity", div_value),
                   ("Identity", passport(shaken("B"))))  # fmt: skip
    assert (result.status, result.attestation, result.problem) == ("none", "B", "")
    only_div = check(("Identity", div_value))
    assert only_div.status == "failed"  # its orig is not the caller's


def test_the_compact_form_of_identity_is_read() -> None:
    named = Harness(access=AccessPolicy(AllowList.parse(["192.0.2.0/24"])))
    result = offered(named, invite(extra=f"y: {passport(shaken('A'))}"))
    assert (result.source, result.attestation, result.signature) == ("identity", "A", "unverified")
