"""Which caller identity the gateway may believe, sans-IO.

The From of an INVITE is whatever its sender wrote: it proves nothing (RFC 3261
§20.20, and RFC 3325 §1). ``P-Asserted-Identity`` (RFC 3325 §9.1, read by
:mod:`sipgw.sip.identity`) is the identity a network vouches for after it authenticated
the caller, and it means something only inside a trust domain: when the request comes
from an element that domain trusts (§4, §5). For the gateway that is a source the
access policy admits by address because the operator named it (the trunk, the PBX,
the registrar or proxy of an account): the user agent core takes
:func:`trusted_number` of such a request only; from anyone else (``--allow-from
any``, a softphone with digest credentials, a lab) the header is not believed.

Only a telephone number counts (digits, an optional leading ``+``; visual separators
dropped): an asserted name or a user part that is no number gives "".
"""

from __future__ import annotations

import re

from sipgw.sip.errors import SipError
from sipgw.sip.headers import Headers, NameAddr, split_header_list
from sipgw.sip.identity import uri_number

__all__ = ["phone_number", "trusted_number"]

_NUMBER = re.compile(r"\+?[0-9][0-9().\-]{1,30}")


def phone_number(text: str) -> str:
    """``text`` as a telephone number (``+1 (555) 010-0`` is not one: no blanks;
    ``+1(555)010-0`` gives ``+15550100``); "" when it is none."""
    return re.sub(r"[().\-]", "", text) if _NUMBER.fullmatch(text) else ""


def trusted_number(headers: Headers) -> str:
    """The number asserted in a request from a trusted source ("" when it holds none).

    Of the P-Asserted-Identity values (§9.1 allows a SIP and a ``tel:`` one), the first
    whose URI holds a telephone number counts (:func:`sipgw.sip.identity.uri_number`).
    Privacy (``Privacy: id``) does not matter here: it asks not to show the number
    beyond the trust domain, and the operator's own lookups are inside it.
    """
    for value in headers.get_all("P-Asserted-Identity"):
        for part in split_header_list(value):
            try:
                uri = NameAddr.parse(part).uri
            except SipError:
                continue  # left out, never an error for the call
            number = phone_number(uri_number(uri))
            if number:
                return number
    return ""
