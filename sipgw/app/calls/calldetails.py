"""What an agent learns of its call besides caller and called, and what a transfer carries.

A SIP call's :class:`sipgw.agent.base.CallDetails` come from its INVITE
(:class:`sipgw.sip.invitedetails.InviteDetails`): the number the caller's network asserts
(P-Asserted-Identity, only from a source the operator named, :mod:`sipgw.sip.trustedid`, and
unless the caller withheld it), how the call was forwarded (History-Info or Diversion),
the ``X-`` headers on the operator's allow-list (``SIPGW_PASS_HEADERS``) and what the caller's
carrier asserts it verified of the caller's number (STIR/SHAKEN verstat or PASSporT, again
only from a named source: :mod:`sipgw.sip.verification`); a call the gateway
placed brings its own variables. The ``headers`` section
(:class:`~sipgw.app.calls.settings.CallHeadersSection`) also says whether a transfer's
summary goes to the human's PBX as User-to-User data (``SIPGW_TRANSFER_SUMMARY``, RFC 7433).

Every call's details (a SIP call's, either direction, and another leg's) also carry the
numbers of its caller's and called addresses, read once here with the SIP core's URI
parser (:func:`with_numbers`): the agent reads no URI itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from sipgw.agent.base import CallDetails, Forwarded
from sipgw.sip.call import CallInfo
from sipgw.sip.customheaders import HeaderAllowList
from sipgw.sip.headers import NameAddr
from sipgw.sip.identity import is_anonymous, uri_number
from sipgw.sip.verification import NOT_VERIFIED

__all__ = ["WITHHELD_USERS", "call_details", "party_number", "with_numbers"]

WITHHELD_USERS = frozenset({"anonymous", "unknown", "restricted"})
"""User parts that stand for no number: what networks put in the From of a caller who
withholds theirs (RFC 3323 §4.1.1.3's ``anonymous``, and the words carriers use)."""


def call_details(
    call: CallInfo, allow: HeaderAllowList, variables: Mapping[str, str] | None = None
) -> CallDetails:
    """The details an incoming call's agent sees (its ``variables``, e.g. a line's)."""
    invite = call.details
    identity = invite.identity
    return CallDetails(
        variables=dict(variables or {}),
        # believed only from a trusted source: anyone can write the header
        asserted_identity="" if identity.withheld else call.trusted_identity,
        withheld=identity.withheld,
        forwarded=tuple(
            Forwarded(step.number or step.by, step.reason) for step in invite.forwarded
        ),
        headers=allow.pick(invite.custom),
        caller_verification=(
            call.verification.as_dict() if call.verification != NOT_VERIFIED else {}
        ),
    )


def party_number(party: NameAddr) -> str:
    """The number (or user name) of ``party``'s URI: a SIP URI's user part, a ``tel:`` URI's
    number (RFC 3966), without parameters; "" for an anonymous party or a URI without one."""
    number = uri_number(party.uri)
    if is_anonymous(party) or number.lower() in WITHHELD_USERS:
        return ""
    return number


def with_numbers(details: CallDetails, call: CallInfo) -> CallDetails:
    """``details`` with the numbers of ``call``'s caller and called addresses."""
    return dataclasses.replace(
        details, caller_number=party_number(call.caller), called_number=party_number(call.called)
    )
