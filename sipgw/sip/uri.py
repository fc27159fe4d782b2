"""SIP URIs and other absolute URIs (RFC 3261 §19.1, §25.1).

``parse_uri`` turns URI text into a :class:`SipUri` for the ``sip:`` and
``sips:`` schemes and into an opaque :class:`AbsoluteUri` for every other
scheme (``tel:``, ``urn:``, ``http:``, or one nobody has heard of). Escapes
(``%HH``) are validated but kept verbatim: RFC 4475 §3.1.1.3 warns that
unescaping must happen once, by the application, and never recursively.

The parser is deliberately liberal about which printable characters appear in
the user part (real phones send ``#`` and ``*`` unescaped in feature codes) but
strict about what breaks framing or meaning: whitespace, control characters,
``<``, ``>`` and ``"`` never appear in a URI, and a ``%`` must start an escape.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sipgw.sip.errors import MessageParseError

__all__ = [
    "AbsoluteUri",
    "SipUri",
    "Uri",
    "format_host",
    "parse_hostport",
    "parse_uri",
    "remembered",
]

T = TypeVar("T")

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
# Printable ASCII minus the characters that delimit a URI inside a header.
_BAD_CHAR_RE = re.compile(r'[^\x21-\x7e]|[<>"]')
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# hostname / IPv4address (RFC 3261 §25.1), liberal about "_" which DNS allows.
_HOST_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_.])?")
_PORT_RE = re.compile(r"[0-9]{1,5}")


def _fail(message: str) -> MessageParseError:
    return MessageParseError(message, 400)


def format_host(host: str) -> str:
    """Return ``host`` as it is written in a URI or Via: IPv6 in brackets."""
    return f"[{host}]" if ":" in host else host


def parse_hostport(text: str) -> tuple[str, int | None]:
    """Parse ``host[:port]`` (RFC 3261 §25.1 hostport).

    Args:
        text: the hostport, without surrounding whitespace.

    Returns:
        ``(host, port)``: IPv6 without brackets, hostnames lower-cased, port
        ``None`` when absent.

    Raises:
        MessageParseError: not a valid hostport.
    """
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise _fail(f"unterminated IPv6 reference in {text!r}")
        host = text[1:end]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _fail(f"invalid IPv6 address {host!r}") from None
        host = host.lower()
        rest = text[end + 1 :]
        if not rest:
            return host, None
        if rest[0] != ":":
            raise _fail(f"junk after IPv6 reference in {text!r}")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.partition(":")
        if not _HOST_RE.fullmatch(host):
            raise _fail(f"invalid host {host!r}")
        host = host.lower()
        if not colon:
            return host, None
    if not _PORT_RE.fullmatch(port_text) or int(port_text) > 65535:
        raise _fail(f"invalid port {port_text!r}")
    return host, int(port_text)


def _check_escapes(text: str, what: str) -> None:
    if "%" in text and _BAD_ESCAPE_RE.search(text):
        raise _fail(f"invalid %-escape in URI {what} {text!r}")


@dataclass(slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1.1).

    Attributes:
        scheme: ``"sip"`` or ``"sips"``, lower-cased.
        user: the user part as on the wire (escapes kept), or ``None``.
        password: the password part as on the wire, or ``None``.
        host: hostname, IPv4 or IPv6 address (no brackets); hostnames and
            IPv6 addresses lower-cased.
        port: the port, or ``None`` when absent.
        params: uri-parameters in order; names lower-cased, values verbatim,
            ``None`` for a flag such as ``;lr``.
        headers: the ``?hname=hvalue&...`` part, values verbatim.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a SIP or SIPS URI.

        Raises:
            MessageParseError: the text is not a SIP or SIPS URI.
        """
        scheme, colon, rest = text.partition(":")
        scheme = scheme.lower()
        if not colon or scheme not in ("sip", "sips"):
            raise _fail(f"not a SIP URI: {text!r}")
        return cls._parse(scheme, rest, text)

    @classmethod
    def _parse(cls, scheme: str, rest: str, text: str) -> SipUri:
        if _BAD_CHAR_RE.search(rest):
            raise _fail(f"illegal character in URI {text!r}")
        user: str | None = None
        password: str | None = None
        # "@" is legal only as the end of userinfo: user, password, params and
        # headers all exclude it unescaped (RFC 3261 §25.1), while "?", ";" and
        # "/" may appear inside the user part (RFC 4475 §3.1.1.2, §3.1.1.9).
        at = rest.find("@")
        if at >= 0:
            user, colon, pw = rest[:at].partition(":")
            if not user:
                raise _fail(f"empty user part in {text!r}")
            _check_escapes(user, "user")
            if colon:
                _check_escapes(pw, "password")
                password = pw
            rest = rest[at + 1 :]
        rest, question, header_text = rest.partition("?")
        hostport, *param_items = rest.split(";")
        host, port = parse_hostport(hostport)
        params: dict[str, str | None] = {}
        for item in param_items:
            name, eq, value = item.partition("=")
            if not name:
                raise _fail(f"empty URI parameter in {text!r}")
            _check_escapes(item, "parameter")
            params[name.lower()] = value if eq else None
        headers: list[tuple[str, str]] = []
        if question:
            for item in header_text.split("&"):
                name, _, value = item.partition("=")
                if not name:
                    raise _fail(f"empty URI header in {text!r}")
                _check_escapes(item, "header")
                headers.append((name, value))
        return cls(scheme, user, password, host, port, params, headers)

    @property
    def host_port(self) -> str:
        """``host[:port]``, with IPv6 in brackets."""
        host = format_host(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += (":", self.password)
            parts.append("@")
        parts.append(self.host_port)
        for name, value in self.params.items():
            parts += (";", name) if value is None else (";", name, "=", value)
        if self.headers:
            parts += ("?", "&".join(f"{n}={v}" for n, v in self.headers))
        return "".join(parts)


@dataclass(slots=True)
class AbsoluteUri:
    """Any URI whose scheme is not ``sip``/``sips`` (RFC 3261 §25.1 absoluteURI).

    Attributes:
        scheme: the scheme, lower-cased (``"tel"``, ``"urn"``, ...).
        rest: everything after ``scheme:``, verbatim.
    """

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | AbsoluteUri


_CACHE_SIZE = 2048
"""Texts remembered by :func:`parse_uri` (cleared when full: a flood of new URIs costs nothing)."""


def remembered(parse: Callable[[str], T], size: int = _CACHE_SIZE) -> Callable[[str], T]:
    """``parse`` with its result of each text remembered, up to ``size`` texts, all
    forgotten at once when that many are (a flood of new texts holds at most ``size``;
    :func:`parse_uri`, ``Via.parse`` and ``NameAddr.parse``). The results are shared: the
    callers hand out copies. A text that does not parse is not remembered."""
    known: dict[str, T] = {}

    def parsed(text: str) -> T:
        found = known.get(text)
        if found is None:
            found = parse(text)
            if len(known) >= size:
                known.clear()
            known[text] = found
        return found

    return parsed


def copy_uri(uri: Uri) -> Uri:
    """A copy of ``uri`` that shares nothing mutable with it."""
    if isinstance(uri, SipUri):
        return SipUri(
            uri.scheme,
            uri.user,
            uri.password,
            uri.host,
            uri.port,
            dict(uri.params),
            list(uri.headers),
        )
    return AbsoluteUri(uri.scheme, uri.rest)


def parse_uri(text: str) -> Uri:
    """Parse a URI as it appears in a Request-URI or a name-addr.

    One call's messages carry the same few URIs dozens of times, so the result
    of each text is remembered and a fresh copy returned (the objects are
    mutable; a copy costs about a tenth of a parse).

    Args:
        text: the URI, without surrounding whitespace or angle brackets.

    Returns:
        A :class:`SipUri` for ``sip:``/``sips:``, else an :class:`AbsoluteUri`.
        An unknown scheme is not an error here: RFC 4475 §3.3.2 requires a
        parser to accept it, and the UA answers 416 (see
        ``SipRequest.request_sip_uri``).

    Raises:
        MessageParseError: not a URI at all (status_hint 400).
    """
    return copy_uri(_known_uri(text))


def _parse_uri(text: str) -> Uri:
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME_RE.fullmatch(scheme):
        raise _fail(f"not a URI: {text!r}")
    lower = scheme.lower()
    if lower in ("sip", "sips"):
        return SipUri._parse(lower, rest, text)
    if not rest or _BAD_CHAR_RE.search(rest):
        raise _fail(f"invalid {lower}: URI {text!r}")
    return AbsoluteUri(lower, rest)


_known_uri = remembered(_parse_uri)
