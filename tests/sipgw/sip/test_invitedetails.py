"""What an INVITE says beyond From and To (sipgw.sip.invitedetails), as the application sees it."""

from __future__ import annotations

from sipgw.sip.headers import Headers
from sipgw.sip.invitedetails import MAX_CUSTOM, InviteDetails


def test_identity_forwarding_and_x_headers_are_read_together() -> None:
    headers = Headers.parse("\r\n".join([
        "P-Asserted-Identity: <sip:+15551234567@carrier.example>",
        "Diversion: <sip:+15550001111@carrier.example>;reason=no-answer",
        "X-Ticket-Id: T-1",
        "x-campaign: spring",
        "X-Ticket-Id: T-2",
        "Subject: not custom",
    ]))  # fmt: skip
    details = InviteDetails.of(headers)
    assert details.identity.number == "+15551234567" and not details.identity.withheld
    assert [step.reason for step in details.forwarded] == ["no-answer"]
    assert details.custom == (("X-Ticket-Id", "T-1"), ("x-campaign", "spring"))


def test_x_headers_kept_are_bounded() -> None:
    headers = Headers.parse("\r\n".join(f"X-H{n}: {'v' * 2000}" for n in range(MAX_CUSTOM + 10)))
    custom = InviteDetails.of(headers).custom
    assert len(custom) == MAX_CUSTOM and all(len(value) == 1024 for _, value in custom)


def test_an_invite_without_any_of_it() -> None:
    assert InviteDetails.of(Headers()) == InviteDetails()
