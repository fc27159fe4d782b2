"""Custom header fields a call carries in and out: ``X-`` headers and User-to-User (RFC 7433).

Carriers and PBXs pass a ticket number, a campaign id or a CRM key in ``X-`` headers.
Out, a call we place (or a REFER we send) may carry some; in, an INVITE's ``X-`` headers
reach the application only through an operator's allow-list (:class:`HeaderAllowList`),
so a caller cannot stuff arbitrary text into an agent's prompt.

Header injection: a header we send is checked by :func:`check_custom_header`. Its name
must be ``X-`` and a token (RFC 3261 §25.1: no separators, no spaces); its value one
line of printable text, no CR, LF or other control characters, at most
:data:`MAX_VALUE` characters; at most :data:`MAX_HEADERS` of them per call.

User-to-User (RFC 7433): an opaque value a transfer hands to the next party, for a
human agent's PBX the call's summary. :func:`user_to_user` encodes text as RFC 7433
§4.1 ``hex`` data with an ``encoding=hex`` parameter, bounded to :data:`MAX_UUI_OCTETS`
(the ISDN UUI limit RFC 7434 §6 notes; a longer text is cut after a whole word), and
:func:`embed_in_uri` puts a header into a Refer-To URI (RFC 3261 §19.1.1, RFC 7433 §4.2)
so the transferee copies it into its INVITE to the target.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from sipgw.sip.uri import SipUri

__all__ = [
    "MAX_HEADERS",
    "MAX_UUI_OCTETS",
    "MAX_VALUE",
    "HeaderAllowList",
    "check_custom_header",
    "check_custom_headers",
    "embed_in_uri",
    "received_custom_headers",
    "user_to_user",
]

MAX_HEADERS = 16
"""Custom headers one call (or one REFER) may carry."""
MAX_VALUE = 256
"""Characters of one custom header's value."""
MAX_NAME = 64
"""Characters of one custom header's name."""
MAX_RECEIVED = 64
"""``X-`` headers kept of one message received (the message limits bound the rest)."""
MAX_RECEIVED_VALUE = 1024
"""Characters kept of one received ``X-`` header's value."""
MAX_UUI_OCTETS = 128
"""Octets of User-to-User data before hex encoding (RFC 7434 §6: ISDN carries 128)."""

_ELLIPSIS = "…".encode()
_NAME = re.compile(r"[Xx]-[A-Za-z0-9.!%*_+`'~-]+")
_PATTERN = re.compile(r"[Xx]-[A-Za-z0-9.!%_+`'~-]*\*?")  # a "*" only at the end


def check_custom_header(name: str, value: str) -> tuple[str, str]:
    """The header as it will be sent, or ValueError saying what is wrong with it.

    Raises:
        ValueError: the name is not ``X-`` plus a token, or the value has a control
            character (CR and LF included) or is too long.
    """
    name = name.strip()
    if not _NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise ValueError(
            f"header name {name!r} must start with X- followed by letters, digits or "
            f"-.!%*_+`'~ (at most {MAX_NAME} characters)"
        )
    value = value.strip(" \t")
    if any(not ch.isprintable() for ch in value):
        raise ValueError(f"header {name}: the value must be one line of printable text")
    if len(value) > MAX_VALUE:
        raise ValueError(f"header {name}: the value is longer than {MAX_VALUE} characters")
    return name, value


def check_custom_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """Every header checked (:func:`check_custom_header`), at most :data:`MAX_HEADERS`,
    each name once (case-insensitive).

    Raises:
        ValueError: one is bad, a name repeats, or there are too many.
    """
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    if len(items) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} custom headers per call ({len(items)} given)")
    checked: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in items:
        name, value = check_custom_header(name, value)
        if name.lower() in seen:
            raise ValueError(f"header {name} is given twice")
        seen.add(name.lower())
        checked.append((name, value))
    return tuple(checked)


def received_custom_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The ``X-`` headers of a message received (an INVITE, or the final response to ours):
    each name as sent with its first value, in order, at most :data:`MAX_RECEIVED`, each
    value cut to :data:`MAX_RECEIVED_VALUE` characters. Never raises."""
    custom: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in headers:
        low = name.lower()
        if not low.startswith("x-") or low in seen or len(custom) >= MAX_RECEIVED:
            continue
        seen.add(low)
        custom.append((name, value[:MAX_RECEIVED_VALUE]))
    return tuple(custom)


@dataclass(frozen=True, slots=True)
class HeaderAllowList:
    """The ``X-`` headers of incoming INVITEs the application may see.

    Attributes:
        patterns: header names, case-insensitive; a name ending in ``*`` is a prefix
            (``X-Campaign-*``). Empty: none.
    """

    patterns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> HeaderAllowList:
        """``X-Ticket-Id, X-Campaign-*`` -> the list.

        Raises:
            ValueError: an entry is not an ``X-`` header name (or prefix with ``*``).
        """
        patterns = tuple(part.strip() for part in text.split(",") if part.strip())
        for pattern in patterns:
            if not _PATTERN.fullmatch(pattern) or len(pattern) > MAX_NAME:
                raise ValueError(
                    f"{pattern!r} is not an X- header name (X-Name, or X-Prefix-* for every "
                    "header that starts so)"
                )
        return cls(patterns)

    def allows(self, name: str) -> bool:
        """Whether ``name`` is on the list."""
        low = name.lower()
        for pattern in self.patterns:
            wanted = pattern.lower()
            if wanted.endswith("*") and low.startswith(wanted[:-1]):
                return True
            if low == wanted:
                return True
        return False

    def pick(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The allowed ones of a request's headers, by name as sent (first value of each,
        made printable and bounded like the ones we send)."""
        picked: dict[str, str] = {}
        if not self.patterns:
            return picked
        for name, value in headers:
            if len(picked) >= MAX_HEADERS or name in picked or not self.allows(name):
                continue
            text = "".join(ch if ch.isprintable() else "?" for ch in value)
            picked[name] = text[:MAX_VALUE]
        return picked


def user_to_user(text: str, purpose: str = "") -> str:
    """A User-to-User value carrying ``text`` (RFC 7433 §4.1): UTF-8, hex-encoded, with
    ``encoding=hex`` (and ``purpose=`` when given), at most :data:`MAX_UUI_OCTETS` octets
    of data: a longer text is cut at its last word that fits and ends with ``…``."""
    text = " ".join(text.split())
    data = text.encode("utf-8")
    if len(data) > MAX_UUI_OCTETS:
        room = MAX_UUI_OCTETS - len(_ELLIPSIS)
        kept = data[:room].decode("utf-8", "ignore")  # whole characters only
        if not text[len(kept)].isspace() and " " in kept:  # not in the middle of a word
            kept = kept.rsplit(" ", 1)[0]
        data = kept.rstrip(" ,;:.").encode("utf-8") + _ELLIPSIS
    value = f"{data.hex()};encoding=hex"
    if purpose:
        if not re.fullmatch(r"[A-Za-z0-9.!%*_+`'~-]+", purpose):
            raise ValueError(f"User-to-User purpose {purpose!r} is not a token")
        value += f";purpose={purpose}"
    return value


def embed_in_uri(uri: SipUri, name: str, value: str) -> SipUri:
    """A copy of ``uri`` with ``?name=value`` among its headers, the value %-escaped
    (RFC 3261 §19.1.1: hvalue is hnv-unreserved / unreserved / escaped)."""
    escaped = quote(value, safe="[]/?:+$-_.!~*'()")
    return SipUri(
        uri.scheme, uri.user, uri.password, uri.host, uri.port, dict(uri.params),
        [*uri.headers, (name, escaped)],
    )  # fmt: skip
