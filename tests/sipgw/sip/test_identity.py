"""Caller identity in and out (sipgw.sip.identity): P-Asserted-Identity, Privacy, our caller id."""

from __future__ import annotations

import pytest

from sipgw.sip.headers import Headers, NameAddr
from sipgw.sip.identity import (
    ANONYMOUS_URI,
    AssertedIdentity,
    IdentityHeader,
    asserted_identity,
    identity_headers,
    is_anonymous,
    parse_privacy,
)


def headers(*fields: tuple[str, str]) -> Headers:
    return Headers.parse("\r\n".join(f"{name}: {value}" for name, value in fields))


def test_the_sip_uri_of_p_asserted_identity_wins_over_the_tel_one() -> None:
    """RFC 3325 §9.1: one SIP URI and at most one tel URI; either order, either line."""
    value = '<tel:+15551230000>, "Ada" <sip:+15551234567@carrier.example;user=phone>'
    found = asserted_identity(headers(("P-Asserted-Identity", value)))
    assert found == AssertedIdentity(
        "sip:+15551234567@carrier.example;user=phone", "+15551234567", "Ada", withheld=False
    )
    only_tel = asserted_identity(
        headers(("P-Asserted-Identity", "<tel:+15551230000;cpc=ordinary>"))
    )
    assert (only_tel.uri, only_tel.number) == ("tel:+15551230000;cpc=ordinary", "+15551230000")


def test_telnyx_adds_verstat_to_the_asserted_identity_and_it_is_kept() -> None:
    """developers.telnyx.com/docs/voice/stir-shaken/sip-header-parameters: the verstat parameter."""
    value = '"John Doe" <sip:+18889809750@sip.telnyx.com;verstat=TN-Validation-Passed>'
    found = asserted_identity(headers(("P-Asserted-Identity", value)))
    assert found.number == "+18889809750" and "verstat=TN-Validation-Passed" in found.uri


@pytest.mark.parametrize(
    ("values", "withheld"),
    [
        (["id"], True),
        (["header; user"], True),
        (["none"], False),
        (["critical;id"], True),
        ([], False),
    ],
)
def test_privacy_id_header_or_user_withholds_the_identity(
    values: list[str], withheld: bool
) -> None:
    fields = [("P-Asserted-Identity", "<sip:+15551234567@carrier.example>")]
    fields += [("Privacy", value) for value in values]
    assert asserted_identity(headers(*fields)).withheld is withheld


def test_privacy_values_are_tokens_lower_cased() -> None:
    assert parse_privacy(["Id ; HEADER", "bad value!"]) == {"id", "header"}


def test_garbage_identities_are_left_out_never_an_error() -> None:
    found = asserted_identity(headers(("P-Asserted-Identity", "<<not a uri"), ("Privacy", "id")))
    assert found == AssertedIdentity(withheld=True)


@pytest.mark.parametrize(
    ("text", "anonymous"),
    [
        ('"Anonymous" <sip:anonymous@anonymous.invalid>', True),
        ("<sip:anonymous@carrier.example>", True),
        ("<sip:+15551234567@carrier.example>", False),
        ("<tel:+15551234567>", False),
    ],
)
def test_an_anonymous_from(text: str, anonymous: bool) -> None:
    assert is_anonymous(NameAddr.parse(text)) is anonymous


def test_our_caller_id_in_the_from_only_by_default() -> None:
    assert identity_headers("sip:+15551234567@gw.example", None, IdentityHeader.NONE, False) == (
        "sip:+15551234567@gw.example", None, [],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("which", "header"),
    [(IdentityHeader.PAI, "P-Asserted-Identity"), (IdentityHeader.PPI, "P-Preferred-Identity")],
)
def test_our_caller_id_also_where_the_trunk_reads_it(which: IdentityHeader, header: str) -> None:
    """Telnyx reads P-Preferred-Identity, then P-Asserted-Identity, then From
    (developers.telnyx.com/docs/voice/sip-trunking/configuration/caller-id-policy)."""
    from_uri, display, extra = identity_headers("sip:+15551234567@gw.example", "Shop", which, False)
    assert (from_uri, display) == ("sip:+15551234567@gw.example", "Shop")
    assert extra == [(header, "Shop <sip:+15551234567@gw.example>")]


def test_a_withheld_caller_id_makes_the_from_anonymous_and_says_privacy_id() -> None:
    """RFC 3323 §4.1.1.3 and RFC 3325 §9.3; Telnyx: 'Privacy: id' with a valid number."""
    from_uri, display, extra = identity_headers(
        "sip:+15551234567@gw.example", None, IdentityHeader.NONE, True
    )
    assert (from_uri, display) == (ANONYMOUS_URI, "Anonymous")
    assert extra == [("P-Asserted-Identity", "<sip:+15551234567@gw.example>"), ("Privacy", "id")]
    ppi = identity_headers("sip:+15551234567@gw.example", None, IdentityHeader.PPI, True)[2]
    assert ppi[0][0] == "P-Preferred-Identity"
