"""What an incoming INVITE says about the call beyond From and To, for the application.

:class:`InviteDetails` is read once when the INVITE is offered: the asserted identity
and privacy (:mod:`sipgw.sip.identity`), how the call was forwarded
(:mod:`sipgw.sip.forwarding`) and its ``X-`` headers, which the application passes on only
through an allow-list (:class:`sipgw.sip.customheaders.HeaderAllowList`). Reading never
fails the call: what does not parse is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipgw.sip.customheaders import MAX_RECEIVED, received_custom_headers
from sipgw.sip.forwarding import Forwarding, forwarded
from sipgw.sip.headers import Headers
from sipgw.sip.identity import AssertedIdentity, asserted_identity

__all__ = ["MAX_CUSTOM", "InviteDetails"]

MAX_CUSTOM = MAX_RECEIVED
"""X- headers kept of one INVITE (the message limits bound the rest)."""


@dataclass(frozen=True, slots=True)
class InviteDetails:
    """The identity, forwarding and custom headers of an INVITE.

    Attributes:
        identity: P-Asserted-Identity and Privacy (RFC 3325, RFC 3323).
        forwarded: the forwarding steps, oldest first (History-Info or Diversion).
        custom: the ``X-`` headers, name as sent and first value, in order.
    """

    identity: AssertedIdentity = field(default_factory=AssertedIdentity)
    forwarded: tuple[Forwarding, ...] = ()
    custom: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, headers: Headers) -> InviteDetails:
        """Read them from a request's headers."""
        custom = received_custom_headers(headers)
        return cls(asserted_identity(headers), forwarded(headers), custom)
