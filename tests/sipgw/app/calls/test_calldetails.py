"""What an agent learns of its call (sipgw.app.calls.calldetails): the INVITE's details,
filtered."""

from __future__ import annotations

import pytest

from sipgw.agent.base import CallDetails, Forwarded
from sipgw.app.calls.calldetails import call_details, party_number, with_numbers
from sipgw.sip.call import CallInfo
from sipgw.sip.customheaders import HeaderAllowList
from sipgw.sip.headers import Headers, NameAddr
from sipgw.sip.invitedetails import InviteDetails
from sipgw.sip.trustedid import trusted_number
from sipgw.sip.verification import caller_verification


def call_with(*fields: str, trusted: bool = True) -> CallInfo:
    """A call whose INVITE had ``fields``; ``trusted``: from a source in the allow list."""
    headers = Headers.parse("\r\n".join(fields))
    caller, called = NameAddr.parse("<sip:a@x>"), NameAddr.parse("<sip:b@y>")
    identity = trusted_number(headers) if trusted else ""  # as the SIP core finds it
    return CallInfo(
        ("c", "t"), caller, called, details=InviteDetails.of(headers), trusted_identity=identity
    )


def test_the_agent_sees_the_asserted_number_forwarding_and_allowed_headers() -> None:
    call = call_with(
        "P-Asserted-Identity: <sip:+15557654321@carrier.example>",
        "History-Info: <sip:+15550001111@carrier.example?Reason=SIP%3Bcause%3D486>;index=1",
        "X-Ticket-Id: T-42",
        "X-Other: no",
    )
    allow = HeaderAllowList.parse("X-Ticket-Id")
    assert call_details(call, allow, {"line": "sales"}) == CallDetails(
        variables={"line": "sales"},
        asserted_identity="+15557654321",
        forwarded=(Forwarded("+15550001111", "user-busy"),),
        headers={"X-Ticket-Id": "T-42"},
    )


def test_an_assertion_from_a_source_not_allowed_is_not_given_to_the_agent() -> None:
    """Issue 21: anyone can write P-Asserted-Identity; only a trusted trunk's counts."""
    call = call_with("P-Asserted-Identity: <sip:+15557654321@carrier.example>", trusted=False)
    assert call_details(call, HeaderAllowList()).asserted_identity == ""


def test_a_withheld_number_is_not_given_to_the_agent() -> None:
    call = call_with("P-Asserted-Identity: <sip:+15557654321@carrier.example>", "Privacy: id")
    details = call_details(call, HeaderAllowList())
    assert details.withheld and details.asserted_identity == ""


@pytest.mark.parametrize(
    ("address", "number"),
    [
        ("<sip:+15551234567@trunk.example;user=phone>", "+15551234567"),
        ('"Bob" <sips:alice@example.com;transport=tls>', "alice"),
        ("<tel:+4930123456;phone-context=x>", "+4930123456"),
        ("<sip:trunk.example>", ""),  # no user part: no number (once the URI itself)
        ("<sip:anonymous@anonymous.invalid>", ""),  # RFC 3323 §4.1.1.3
        ("<sip:Restricted@carrier.example>", ""),
        ("<sip:unknown@carrier.example>", ""),
        ("<browser:203.0.113.9:5000>", ""),  # a leg's address of our own
    ],
)
def test_the_number_of_an_address_is_read_by_the_sip_parser(address: str, number: str) -> None:
    """Was three hand-written readers in agent/ (caller_context.uri_number,
    tools.builtin.caller_number, callback_store.dialable_number's URI stripping)."""
    assert party_number(NameAddr.parse(address)) == number


def test_a_calls_details_get_its_caller_and_called_numbers() -> None:
    call = CallInfo(
        ("c", "t"), NameAddr.parse("<sip:+15557654321@carrier.example>"),
        NameAddr.parse("<sip:sales@pbx.example>"),
    )  # fmt: skip
    details = with_numbers(CallDetails(variables={"a": "b"}), call)
    assert (details.caller_number, details.called_number) == ("+15557654321", "sales")
    assert details.variables == {"a": "b"}


def test_the_carriers_verification_is_given_to_the_agent_when_asserted() -> None:
    headers = Headers.parse("P-Asserted-Identity: <tel:+15557654321;verstat=TN-Validation-Failed>")
    caller, called = NameAddr.parse("<sip:+15557654321@x>"), NameAddr.parse("<sip:b@y>")
    verification = caller_verification(headers, str(caller.uri), ("+15557654321",))
    call = CallInfo(("c", "t"), caller, called, verification=verification)
    assert call_details(call, HeaderAllowList()).caller_verification == {
        "status": "failed", "source": "verstat", "verstat": "TN-Validation-Failed",
    }  # fmt: skip
    assert call_details(call_with(), HeaderAllowList()).caller_verification == {}
