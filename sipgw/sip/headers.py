"""Header fields: names, the Headers multi-map and structured values (RFC 3261 §7.3, §20).

:class:`Headers` holds a message's fields under canonical names; its
:meth:`Headers.parse` unfolds a header section and splits list headers, so
each entry is ONE value (``Via: a, b`` becomes two, §7.3.1).

Each structured type parses one such value. Parsers accept the linear
whitespace RFC 3261 §25.1 allows around separators (``SIP / 2.0 / UDP``,
``tag = x``) and raise :class:`~sipgw.sip.errors.MessageParseError` (status_hint
400) on anything else.

Generic parameters (``;name=value``) are kept in dicts in wire order, names
lower-cased, values verbatim (a quoted-string value keeps its quotes, so it is
written back unchanged), ``None`` for a parameter without a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from sipgw.sip.errors import LocalProtocolError, MessageParseError
from sipgw.sip.uri import Uri, copy_uri, format_host, parse_hostport, parse_uri, remembered

__all__ = [
    "COMPACT_FORMS",
    "CSeq",
    "Headers",
    "NameAddr",
    "Via",
    "canonical_name",
    "split_header_list",
]

_TOKEN = r"[A-Za-z0-9.!%*_+`'~\-]+"
_TOKEN_RE = re.compile(_TOKEN)
_VIA_RE = re.compile(
    rf"[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]+([^;]*)(.*)", re.S
)
_COLON_LWS_RE = re.compile(r"[ \t]*:[ \t]*")
_CSEQ_RE = re.compile(rf"[ \t]*([0-9]+)[ \t]+({_TOKEN})[ \t]*")
_WS_RE = re.compile(r"[ \t]")
# A quoted string from its opening quote: qdtext / quoted-pair (RFC 3261 §25.1).
_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_UNESCAPE_RE = re.compile(r"\\(.)", re.S)
# Display names that can be written without quotes: tokens separated by one SP.
_PLAIN_DISPLAY_RE = re.compile(rf"{_TOKEN}(?: {_TOKEN})*")
_NEEDS_ESCAPE_RE = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')

CSEQ_MAX = 2**31 - 1
"""Largest CSeq sequence number (RFC 3261 §8.1.1.5: less than 2**31)."""


def _fail(message: str) -> MessageParseError:
    return MessageParseError(message, 400)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    """Split on ``sep`` except inside quoted strings and ``<...>``."""
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    start = 0
    i = 0
    n = len(text)
    angle = False
    while i < n:
        c = text[i]
        if c == '"' and not angle:
            m = _QUOTED_RE.match(text, i)
            if m is None:
                raise _fail(f"unterminated quoted string in {text!r}")
            i = m.end()
            continue
        if c == "<":
            angle = True
        elif c == ">":
            angle = False
        elif c == sep and not angle:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def split_header_list(value: str) -> list[str]:
    """Split a header field value at top-level commas (RFC 3261 §7.3.1).

    Commas inside quoted strings and ``<...>`` do not split. Each element is
    stripped of surrounding whitespace; empty elements are dropped.

    Raises:
        MessageParseError: an unterminated quoted string.
    """
    if "," not in value:
        value = value.strip(" \t")
        return [value] if value else []
    parts = [s.strip(" \t") for s in _split_outside_quotes(value, ",")]
    return [p for p in parts if p]


# RFC 3261 §7.3.3 and the RFCs that added compact forms since.
COMPACT_FORMS: dict[str, str] = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",  # RFC 6665
    "r": "Refer-To",  # RFC 3515
    "b": "Referred-By",  # RFC 3892
    "u": "Allow-Events",  # RFC 6665
    "x": "Session-Expires",  # RFC 4028
    "a": "Accept-Contact",  # RFC 3841
    "j": "Reject-Contact",  # RFC 3841
    "d": "Request-Disposition",  # RFC 3841
    "y": "Identity",  # RFC 8224
    "n": "Identity-Info",  # RFC 4474
}

_KNOWN_NAMES = (
    "Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events "
    "Authentication-Info Authorization Call-ID Call-Info Contact Content-Disposition "
    "Content-Encoding Content-Language Content-Length Content-Transfer-Encoding Content-Type "
    "CSeq Date Diversion Error-Info Event Expires Flow-Timer From History-Info Identity "
    "Identity-Info In-Reply-To Join Max-Breadth Max-Forwards MIME-Version Min-Expires Min-SE "
    "Organization P-Asserted-Identity P-Charging-Vector P-Preferred-Identity Path Priority "
    "Privacy Proxy-Authenticate Proxy-Authorization Proxy-Require RAck Reason Record-Route "
    "Refer-Sub Refer-To Referred-By Reject-Contact Remote-Party-ID Replaces Reply-To "
    "Request-Disposition Require Retry-After Route RSeq Security-Client Security-Server "
    "Security-Verify Server Service-Route Session-Expires SIP-ETag SIP-If-Match Subject "
    "Subscription-State Supported Target-Dialog Timestamp To Unsupported User-Agent Via "
    "Warning WWW-Authenticate"
).split()

# lower-case name (long or compact) -> canonical spelling, and -> lookup key
_CANONICAL: dict[str, str] = {n.lower(): n for n in _KNOWN_NAMES}
_CANONICAL.update(COMPACT_FORMS)
_KEYS: dict[str, str] = {low: name.lower() for low, name in _CANONICAL.items()}
_NAMES: dict[str, tuple[str, str]] = {low: (name, name.lower()) for low, name in _CANONICAL.items()}

# Headers whose values are comma-separated lists (RFC 3261 §7.3.1). Never the
# auth headers, Date or unknown headers: their values contain commas.
_LIST_HEADERS = frozenset(
    n.lower()
    for n in (
        "Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events "
        "Call-Info Contact Content-Encoding Content-Language Diversion Error-Info History-Info "
        "In-Reply-To P-Asserted-Identity P-Preferred-Identity Path Proxy-Require Reason "
        "Record-Route Reject-Contact Request-Disposition Require Route Security-Client "
        "Security-Server Security-Verify Service-Route Supported Unsupported Via Warning"
    ).split()
)


def canonical_name(name: str) -> str:
    """Return the canonical spelling of a header name.

    Compact forms are expanded (``"v"`` -> ``"Via"``), known names get their
    RFC spelling (``"cseq"`` -> ``"CSeq"``), unknown names keep their own.
    """
    return _CANONICAL.get(name.lower(), name)


def _key(name: str) -> str:
    low = name.lower()
    return _KEYS.get(low, low)


def _check_field(name: str, value: str) -> None:
    if not _TOKEN_RE.fullmatch(name):
        raise LocalProtocolError(f"invalid header name {name!r}")
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"CR or LF in the value of {name}")


class Headers:
    """An ordered multi-map of header fields with case-insensitive names.

    Names are stored canonically (see :func:`canonical_name`), so lookups by
    compact or long name in any case find the same fields. Each entry is one
    value: the parser splits list headers, but :meth:`add` does not (use
    :func:`split_header_list`).

    Raises:
        LocalProtocolError: from the mutators, for a name that is not a token
            or a value containing CR or LF (header injection).
    """

    __slots__ = ("_items", "_keys")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        self._keys: list[str] = []
        for name, value in items:
            self.add(name, value)

    @classmethod
    def parse(cls, text: str) -> Headers:
        """Parse a header section: field lines separated by LF or CRLF.

        Continuation lines are unfolded into one SP, names are canonicalised
        and list headers split (RFC 3261 §7.3.1). Also suits MIME body parts.

        Raises:
            MessageParseError: a line without a colon, an invalid name, or a
                continuation line before any field.
        """
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n") if text else []
        if "\n " in text or "\n\t" in text or text[:1] in (" ", "\t"):
            fields: list[str] = []
            for line in lines:
                if line[:1] in (" ", "\t"):
                    if not fields:
                        raise MessageParseError("continuation line before any header field")
                    fields[-1] += " " + line.lstrip(" \t")
                else:
                    fields.append(line)
            lines = fields
        items: list[tuple[str, str]] = []
        keys: list[str] = []
        lookup = _NAMES.get
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise MessageParseError(f"header line without a colon: {line[:40]!r}")
            name = name.rstrip(" \t")  # HCOLON = *( SP / HTAB ) ":" SWS
            low = name.lower()
            known = lookup(low)
            if known is None:
                if not _TOKEN_RE.fullmatch(name):
                    raise MessageParseError(f"invalid header name {name[:40]!r}")
                canonical, key = name, low
            else:
                canonical, key = known
            value = value.strip(" \t")
            if key in _LIST_HEADERS and "," in value:
                for part in split_header_list(value):
                    items.append((canonical, part))
                    keys.append(key)
            else:
                items.append((canonical, value))
                keys.append(key)
        return cls._trusted(items, keys)

    @classmethod
    def _trusted(cls, items: list[tuple[str, str]], keys: list[str]) -> Headers:
        headers = cls.__new__(cls)
        headers._items = items
        headers._keys = keys
        return headers

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of ``name``, or ``default``."""
        key = _key(name)
        if key not in self._keys:
            return default
        return self._items[self._keys.index(key)][1]

    def get_all(self, name: str) -> list[str]:
        """Return every value of ``name``, in order."""
        key = _key(name)
        if key not in self._keys:
            return []
        return [item[1] for k, item in zip(self._keys, self._items, strict=True) if k == key]

    def count(self, name: str) -> int:
        """Return how many values ``name`` has."""
        return self._keys.count(_key(name))

    def add(self, name: str, value: str) -> None:
        """Append one field."""
        _check_field(name, value)
        canonical = canonical_name(name)
        self._items.append((canonical, value))
        self._keys.append(canonical.lower())

    def add_first(self, name: str, value: str) -> None:
        """Insert one field before the first field of that name (or at the end)."""
        _check_field(name, value)
        canonical = canonical_name(name)
        key = canonical.lower()
        i = self._keys.index(key) if key in self._keys else len(self._keys)
        self._items.insert(i, (canonical, value))
        self._keys.insert(i, key)

    def set(self, name: str, value: str) -> None:
        """Replace all fields of ``name`` by one, at the first one's position."""
        _check_field(name, value)
        canonical = canonical_name(name)
        key = canonical.lower()
        if key not in self._keys:
            self.add(name, value)
            return
        first = self._keys.index(key)
        self.remove(name)
        self._items.insert(first, (canonical, value))
        self._keys.insert(first, key)

    def remove(self, name: str) -> None:
        """Remove every field of ``name`` (no error if there is none)."""
        key = _key(name)
        if key in self._keys:
            pairs = [(k, i) for k, i in zip(self._keys, self._items, strict=True) if k != key]
            self._keys = [k for k, _ in pairs]
            self._items = [i for _, i in pairs]

    def replace_first(self, name: str, value: str) -> None:
        """Replace the value of the first field of ``name`` (append if none)."""
        _check_field(name, value)
        key = _key(name)
        if key not in self._keys:
            self.add(name, value)
            return
        i = self._keys.index(key)
        self._items[i] = (self._items[i][0], value)

    def copy(self) -> Headers:
        """Return an independent copy."""
        return Headers._trusted(list(self._items), list(self._keys))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._keys

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _parse_params(text: str, context: str) -> dict[str, str | None]:
    """Parse ``*( SEMI generic-param )``; ``text`` must be empty or start with ";"."""
    text = text.strip(" \t")
    params: dict[str, str | None] = {}
    if not text:
        return params
    if text[0] != ";":
        raise _fail(f"expected ';' in {context} {text!r}")
    for item in _split_outside_quotes(text[1:], ";"):
        name, eq, value = item.partition("=")
        name = name.strip(" \t")
        if not _TOKEN_RE.fullmatch(name):
            raise _fail(f"invalid parameter {item!r} in {context}")
        if not eq:
            params[name.lower()] = None
            continue
        value = value.strip(" \t")
        if value.startswith('"'):
            m = _QUOTED_RE.match(value)
            if m is None or m.end() != len(value):
                raise _fail(f"invalid quoted parameter value {value!r} in {context}")
        elif not value or _WS_RE.search(value) or '"' in value:
            raise _fail(f"invalid value for parameter {name!r} in {context}")
        params[name.lower()] = value
    return params


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


_ADDRESS_CACHE_SIZE = 2048
"""Texts remembered by Via.parse and NameAddr.parse each (cleared when full)."""


@dataclass(slots=True)
class Via:
    """One Via header field value (RFC 3261 §20.42).

    Attributes:
        transport: upper-cased transport (``"UDP"``, ``"TCP"``, ``"TLS"``, or
            any token, RFC 4475 §3.1.1.10).
        host: sent-by host, IPv6 without brackets.
        port: sent-by port, or ``None``.
        params: via-params in order, names lower-cased.
        protocol: ``"SIP/2.0"`` (name upper-cased, version as sent).
    """

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one via-parm (remembered per text, a fresh copy returned, as NameAddr).

        Raises:
            MessageParseError: not a valid Via value.
        """
        known = _known_via(text)
        return cls(known.transport, known.host, known.port, dict(known.params), known.protocol)

    @classmethod
    def _parse(cls, text: str) -> Via:
        m = _VIA_RE.fullmatch(text)
        if m is None:
            raise _fail(f"invalid Via {text!r}")
        name, version, transport, sent_by, rest = m.groups()
        sent_by = sent_by.strip(" \t")
        if _WS_RE.search(sent_by):  # COLON = SWS ":" SWS (RFC 3261 §25.1)
            sent_by = _COLON_LWS_RE.sub(":", sent_by)
        host, port = parse_hostport(sent_by)
        params = _parse_params(rest, "Via")
        return cls(transport.upper(), host, port, params, f"{name.upper()}/{version}")

    def __str__(self) -> str:
        host = format_host(self.host)
        if self.port is not None:
            host = f"{host}:{self.port}"
        return f"{self.protocol}/{self.transport} {host}{_format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        """The branch parameter (transaction id, RFC 3261 §8.1.1.7), or None."""
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The received parameter (RFC 3261 §18.2.1), or None."""
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The rport value (RFC 3581); None if absent, valueless or not a port."""
        value = self.params.get("rport")
        if value is None or not value.isdigit() or len(value) > 5:
            return None
        return int(value)

    @property
    def has_rport(self) -> bool:
        """Whether ``;rport`` is present, with or without a value (RFC 3581)."""
        return "rport" in self.params

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """``(host, port)`` of the sent-by."""
        return self.host, self.port


def _quote_display(name: str) -> str:
    if name and _PLAIN_DISPLAY_RE.fullmatch(name):
        return name
    # quoted-pair cannot carry CR or LF (RFC 3261 §25.1); they never survive
    # unfolding anyway, so they become SP.
    name = name.replace("\r", " ").replace("\n", " ")
    return '"' + _NEEDS_ESCAPE_RE.sub(lambda m: "\\" + m.group(0), name) + '"'


_known_via = remembered(Via._parse, _ADDRESS_CACHE_SIZE)


@dataclass(slots=True)
class NameAddr:
    """A name-addr or addr-spec with header parameters (RFC 3261 §20.10, §20.20).

    Used for From, To, Contact, Route, Record-Route, Refer-To and the like.
    ``NameAddr.parse("*")`` raises: the Contact ``*`` of a REGISTER is handled
    by ``SipRequest.contact_is_star``.

    Attributes:
        uri: the URI (a :class:`~sipgw.sip.uri.SipUri` or
            :class:`~sipgw.sip.uri.AbsoluteUri`).
        display_name: the display name with quotes removed and quoted-pairs
            decoded; ``None`` when absent.
        params: header parameters in order, names lower-cased. For a bare
            addr-spec (no ``<>``) everything after the first ``;`` is a header
            parameter, never a URI parameter (RFC 3261 §20.10; RFC 4475
            §3.3.12).
    """

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        """Parse one name-addr or addr-spec with its parameters.

        The result of each text is remembered and a fresh copy returned, as
        :func:`~sipgw.sip.uri.parse_uri` does (From, To and Contact are read many
        times per call).

        Raises:
            MessageParseError: not a valid value.
        """
        known = _known_address(text)
        return cls(copy_uri(known.uri), known.display_name, dict(known.params))

    @classmethod
    def _parse(cls, text: str) -> NameAddr:
        text = text.strip(" \t")
        display: str | None = None
        if text.startswith('"'):
            m = _QUOTED_RE.match(text)
            if m is None:
                raise _fail(f"unterminated quoted display name in {text!r}")
            display = m.group(1)
            if "\\" in display:
                display = _UNESCAPE_RE.sub(r"\1", display)
            lt = m.end()
            while lt < len(text) and text[lt] in " \t":
                lt += 1
            if not text.startswith("<", lt):
                raise _fail(f"expected '<' after display name in {text!r}")
        else:
            lt = text.find("<")
            if lt >= 0:
                tokens = text[:lt].split()
                for token in tokens:
                    # RFC 4475 §3.1.2.15: unquoted non-token characters are
                    # invalid; §3.1.1.6: no LWS is needed before "<".
                    if not _TOKEN_RE.fullmatch(token):
                        raise _fail(f"invalid display name in {text!r}")
                display = " ".join(tokens) if tokens else None
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise _fail(f"missing '>' in {text!r}")
            uri_text = text[lt + 1 : gt]
            rest = text[gt + 1 :]
        else:
            # addr-spec: the URI ends at the first ";" and may not contain
            # "?" or "," (RFC 3261 §20.10; RFC 4475 §3.1.2.13).
            uri_text, semi, params_text = text.partition(";")
            uri_text = uri_text.rstrip(" \t")
            if "?" in uri_text:
                raise _fail(f"URI with headers must be in <> in {text!r}")
            rest = semi + params_text
        if not uri_text or uri_text != uri_text.strip():
            raise _fail(f"invalid URI in {text!r}")  # RFC 4475 §3.1.2.14
        return cls(parse_uri(uri_text), display, _parse_params(rest, "address"))

    def __str__(self) -> str:
        uri = f"<{self.uri}>"
        if self.display_name is not None:
            uri = f"{_quote_display(self.display_name)} {uri}"
        return uri + _format_params(self.params)

    @property
    def tag(self) -> str | None:
        """The tag parameter (RFC 3261 §19.3), or None."""
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        """Return a copy with ``;tag=tag`` (replacing any existing tag)."""
        return replace(self, params={**self.params, "tag": tag})


_known_address = remembered(NameAddr._parse, _ADDRESS_CACHE_SIZE)


@dataclass(frozen=True, slots=True)
class CSeq:
    """A CSeq value (RFC 3261 §20.16).

    Attributes:
        number: the sequence number, 0 to 2**31 - 1.
        method: the method, a case-sensitive token.
    """

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse ``number LWS method``.

        Raises:
            MessageParseError: not a CSeq, or the number is 2**31 or more
                (RFC 4475 §3.1.2.4).
        """
        m = _CSEQ_RE.fullmatch(text)
        if m is None:
            raise _fail(f"invalid CSeq {text!r}")
        digits = m.group(1).lstrip("0") or "0"
        if len(digits) > 10 or int(digits) > CSEQ_MAX:
            raise _fail(f"CSeq number out of range in {text!r}")
        return cls(int(digits), m.group(2))

    def __str__(self) -> str:
        return f"{self.number} {self.method}"
