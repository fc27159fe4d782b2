"""Who a call is from, as the network asserts it, and what we assert on calls we place.

Read (an INVITE that reached us): ``P-Asserted-Identity`` (RFC 3325 §9.1), the identity
a trusted network vouches for, one SIP URI and at most one ``tel:`` URI; ``Privacy``
(RFC 3323 §4.2), whether the caller asked for it to be withheld (``id``: RFC 3325 §9.3;
``header``/``user``: the From itself is anonymous). Both are read leniently: a value
that does not parse is left out, never an error for the call.

Written (an INVITE we send): the caller id a trunk checks is the From's user, or the
user of ``P-Preferred-Identity`` / ``P-Asserted-Identity`` where the trunk reads those
first (Telnyx checks P-Preferred-Identity, then P-Asserted-Identity, then
Remote-Party-ID, then From). :func:`identity_headers` adds the one the account asks
for; with privacy ``id`` the From becomes the anonymous URI of RFC 3323 §4.1.1.3 and
the real number travels in the identity header only, with ``Privacy: id``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from sipgw.sip.errors import SipError
from sipgw.sip.headers import Headers, NameAddr, split_header_list
from sipgw.sip.uri import AbsoluteUri, SipUri

__all__ = [
    "ANONYMOUS_FROM",
    "ANONYMOUS_URI",
    "AssertedIdentity",
    "IdentityHeader",
    "asserted_identity",
    "identity_headers",
    "is_anonymous",
    "parse_privacy",
    "uri_number",
]

ANONYMOUS_URI = "sip:anonymous@anonymous.invalid"
"""The From URI of a caller who withholds their identity (RFC 3323 §4.1.1.3)."""
ANONYMOUS_FROM = f'"Anonymous" <{ANONYMOUS_URI}>'
"""The whole anonymous From (display name and URI), as RFC 3323 recommends."""

PRIVACY_VALUES = frozenset({"header", "session", "user", "none", "critical", "id", "history"})
"""priv-value tokens of RFC 3323 §4.2 and RFC 3325 §9.3 (``id``), RFC 7044 (``history``)."""

_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")


class IdentityHeader(Enum):
    """Which header carries our caller id besides the From (what a trunk reads first)."""

    NONE = "none"
    """The From only."""
    PAI = "pai"
    """``P-Asserted-Identity`` (RFC 3325 §9.1): the trunk trusts us (IP or credentials)."""
    PPI = "ppi"
    """``P-Preferred-Identity`` (RFC 3325 §9.2): we ask the trunk to assert this one."""

    @property
    def header(self) -> str | None:
        """The header's name, or None."""
        if self is IdentityHeader.PAI:
            return "P-Asserted-Identity"
        if self is IdentityHeader.PPI:
            return "P-Preferred-Identity"
        return None


def uri_number(uri: SipUri | AbsoluteUri) -> str:
    """The user part of a SIP URI, or the number of a ``tel:`` URI (RFC 3966), without
    its parameters; "" when there is none."""
    if isinstance(uri, SipUri):
        return (uri.user or "").split(";", 1)[0]
    if uri.scheme == "tel":
        return uri.rest.split(";", 1)[0]
    return ""


def parse_privacy(values: list[str]) -> frozenset[str]:
    """The priv-values of ``Privacy`` header values (``id; header`` -> {id, header});
    unknown tokens are kept lower-cased, anything that is not a token is left out."""
    found: set[str] = set()
    for value in values:
        for item in value.split(";"):
            token = item.strip(" \t").lower()
            if _TOKEN.fullmatch(token):
                found.add(token)
    return frozenset(found)


def is_anonymous(caller: NameAddr) -> bool:
    """Whether a From is the anonymous one of RFC 3323 §4.1.1.3 (any ``anonymous`` user
    at ``anonymous.invalid``, or a ``sip:anonymous@...`` some networks send)."""
    uri = caller.uri
    if not isinstance(uri, SipUri):
        return False
    return (uri.user or "").lower() == "anonymous" or uri.host == "anonymous.invalid"


@dataclass(frozen=True, slots=True)
class AssertedIdentity:
    """The identity a trusted network asserted for the caller (RFC 3325).

    Attributes:
        uri: the asserted SIP (or ``tel:``) URI, as text; "" when none was asserted.
        number: its user part / telephone number, e.g. ``+15551234567``.
        display_name: the asserted display name, if any.
        withheld: the caller asked for privacy (``Privacy: id``, ``user`` or
            ``header``): show the identity to nobody, use it only where the operator must.
    """

    uri: str = ""
    number: str = ""
    display_name: str | None = None
    withheld: bool = False


def asserted_identity(headers: Headers) -> AssertedIdentity:
    """The P-Asserted-Identity of a request (the SIP URI one first), and its privacy."""
    privacy = parse_privacy(headers.get_all("Privacy"))
    withheld = bool(privacy & {"id", "user", "header"})
    found: list[NameAddr] = []
    for value in headers.get_all("P-Asserted-Identity"):
        for part in split_header_list(value):
            try:
                found.append(NameAddr.parse(part))
            except SipError:
                continue
    if not found:
        return AssertedIdentity(withheld=withheld)
    found.sort(key=lambda name_addr: not isinstance(name_addr.uri, SipUri))
    best = found[0]
    return AssertedIdentity(str(best.uri), uri_number(best.uri), best.display_name, withheld)


def identity_headers(
    caller: str, display_name: str | None, which: IdentityHeader, withhold: bool
) -> tuple[str, str | None, list[tuple[str, str]]]:
    """The From and the identity headers of an INVITE we place.

    Args:
        caller: our caller id as a SIP URI (``sip:+15551234567@trunk.example``).
        display_name: its display name, if any.
        which: the identity header the trunk reads (:class:`IdentityHeader`).
        withhold: hide our number from the callee (``Privacy: id``): the From becomes
            anonymous and the number goes in the identity header (P-Asserted-Identity
            when the account names none: the trunk must still learn who calls).

    Returns:
        The From URI, its display name, and the extra header fields, in order.
    """
    value = str(NameAddr(SipUri.parse(caller), display_name))
    if withhold:
        header = which.header or "P-Asserted-Identity"
        return ANONYMOUS_URI, "Anonymous", [(header, value), ("Privacy", "id")]
    extra = [(which.header, value)] if which.header else []
    return caller, display_name, extra
