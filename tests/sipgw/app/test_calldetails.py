"""What an agent learns of its call (sipgw.app.calldetails): the INVITE's details, filtered."""

from __future__ import annotations

import pytest

from agent.base import CallDetails, Forwarded
from sipgw.app.calldetails import CallHeadersSection, call_details
from sipgw.app.settings import ConfigError, Sources, load
from sipgw.call import CallInfo
from sipgw.customheaders import HeaderAllowList
from sipgw.headers import Headers, NameAddr
from sipgw.invitedetails import InviteDetails


def call_with(*fields: str) -> CallInfo:
    details = InviteDetails.of(Headers.parse("\r\n".join(fields)))
    caller, called = NameAddr.parse("<sip:a@x>"), NameAddr.parse("<sip:b@y>")
    return CallInfo(("c", "t"), caller, called, details=details)


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


def test_a_withheld_number_is_not_given_to_the_agent() -> None:
    call = call_with("P-Asserted-Identity: <sip:+15557654321@carrier.example>", "Privacy: id")
    details = call_details(call, HeaderAllowList())
    assert details.withheld and details.asserted_identity == ""


def test_the_settings() -> None:
    section = load(
        CallHeadersSection,
        Sources({"SIPGW_PASS_HEADERS": "X-Ticket-Id, X-Campaign-*"}, {"--transfer-summary": "on"}),
    )
    assert section.pass_headers.patterns == ("X-Ticket-Id", "X-Campaign-*")
    assert section.transfer_summary
    assert load(CallHeadersSection, Sources()) == CallHeadersSection()
    with pytest.raises(ConfigError, match="^SIPGW_PASS_HEADERS=Ticket: 'Ticket' is not an X-"):
        load(CallHeadersSection, Sources({"SIPGW_PASS_HEADERS": "Ticket"}))
