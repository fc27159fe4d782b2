"""SIP messages: parse and serialize (RFC 3261 §7, §18.3, §20).

Theory of operation
-------------------
``parse_message`` takes one complete message: a UDP datagram, or the bytes
of one message that :class:`sipgw.sip.framing.StreamConnection` cut out of a
TCP/TLS stream by its Content-Length. A message is parsed in three steps:

1. Framing: find the empty line that ends the header section and take the body
   from Content-Length (§18.3). A missing Content-Length means "the rest of the
   datagram" and octets beyond it are discarded (RFC 4475 §3.1.1.8); on a
   stream Content-Length is required, which ``sipgw.sip.framing`` enforces.
2. Header fields: unfold continuation lines, expand compact names, store
   canonical names, and split list headers so each stored entry is one value
   (§7.3.1). The header text is decoded as UTF-8 with ``surrogateescape`` so
   any octets survive a round trip; bodies stay bytes.
3. Validation, limited to what must hold to process the message at all: the
   start line, Content-Length, and the presence, uniqueness and syntax of Via,
   From, To, Call-ID and CSeq (plus Max-Forwards when present, and the CSeq
   method of a request). Everything else is parsed lazily by the accessors,
   so a bad Date or Contact does not lose the request (RFC 4475 §3.1.2.12).

When a request fails step 3 (or its request line is malformed but still
recognisably a SIP request), the parser raises :class:`RequestParseError`, a
:class:`~sipgw.sip.errors.MessageParseError` that carries ``status_hint`` and
``partial``, the request as parsed, so a UAS can answer it with
:func:`make_response`. Anything else that fails (a response, bytes that are
no SIP at all) raises a plain ``MessageParseError`` and is dropped. No other
exception ever escapes the parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipgw.sip.errors import LocalProtocolError, MessageParseError
from sipgw.sip.headers import COMPACT_FORMS, CSeq, Headers, NameAddr, Via, canonical_name
from sipgw.sip.limits import DEFAULT_LIMITS, MessageLimits, head_violation
from sipgw.sip.uri import SipUri, Uri, parse_uri

__all__ = [
    "COMPACT_FORMS",
    "KNOWN_METHODS",
    "REASON_PHRASES",
    "Headers",
    "RequestParseError",
    "SipMessage",
    "SipRequest",
    "SipResponse",
    "canonical_name",
    "make_response",
    "parse_message",
]

KNOWN_METHODS = frozenset(
    "ACK BYE CANCEL INFO INVITE MESSAGE NOTIFY OPTIONS PRACK PUBLISH REFER REGISTER "
    "SUBSCRIBE UPDATE".split()
)
"""Methods defined by RFC 3261 and its extensions; others get 501 hints."""

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    433: "Anonymity Disallowed",
    436: "Bad Identity Info",
    437: "Unsupported Credential",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    469: "Bad Info Package",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
    608: "Rejected",
}
_CLASS_PHRASES = {
    1: "Provisional",
    2: "Success",
    3: "Redirection",
    4: "Client Error",
    5: "Server Error",
    6: "Global Failure",
}

_TOKEN_RE = re.compile(r"[A-Za-z0-9.!%*_+`'~\-]+")
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_HEAD_END_RE = re.compile(rb"\r?\n\r?\n")
_CALL_ID_RE = re.compile(r"[^\x00-\x20\x7f]+")
_TAG_PARAM_RE = re.compile(r";[ \t]*tag[ \t]*=", re.IGNORECASE)
_DIGITS_RE = re.compile(r"[0-9]+")


class _Accessors:
    """Typed header accessors shared by requests and responses."""

    __slots__ = ()
    headers: Headers

    def _error(self, message: str) -> MessageParseError:
        return MessageParseError(message, 400)

    def _one(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise self._error(f"missing {name} header")
        return value

    def _address(self, name: str) -> NameAddr:
        try:
            return NameAddr.parse(self._one(name))
        except MessageParseError as exc:
            raise self._error(f"{name}: {exc}") from None

    def _addresses(self, name: str) -> list[NameAddr]:
        try:
            return [NameAddr.parse(v) for v in self.headers.get_all(name)]
        except MessageParseError as exc:
            raise self._error(f"{name}: {exc}") from None

    @property
    def call_id(self) -> str:
        """The Call-ID (RFC 3261 §20.8)."""
        value = self._one("Call-ID")
        if not _CALL_ID_RE.fullmatch(value):
            raise self._error(f"invalid Call-ID {value!r}")
        return value

    @property
    def cseq(self) -> CSeq:
        """The CSeq (RFC 3261 §20.16)."""
        try:
            return CSeq.parse(self._one("CSeq"))
        except MessageParseError as exc:
            raise self._error(str(exc)) from None

    @property
    def vias(self) -> list[Via]:
        """All Via values, top first (RFC 3261 §20.42); at least one."""
        values = self.headers.get_all("Via")
        if not values:
            raise self._error("missing Via header")
        try:
            return [Via.parse(v) for v in values]
        except MessageParseError as exc:
            raise self._error(str(exc)) from None

    @property
    def top_via(self) -> Via:
        """The topmost Via value."""
        try:
            return Via.parse(self._one("Via"))
        except MessageParseError as exc:
            raise self._error(str(exc)) from None

    @property
    def from_(self) -> NameAddr:
        """The From value (RFC 3261 §20.20)."""
        return self._address("From")

    @property
    def to(self) -> NameAddr:
        """The To value (RFC 3261 §20.39)."""
        return self._address("To")

    @property
    def contact_is_star(self) -> bool:
        """Whether Contact is the single wildcard ``*`` (REGISTER, RFC 3261 §10.2.2)."""
        return self.headers.get_all("Contact") == ["*"]

    @property
    def contacts(self) -> list[NameAddr]:
        """All Contact values; ``[]`` if absent or ``*`` (see contact_is_star)."""
        if self.contact_is_star:
            return []
        return self._addresses("Contact")

    @property
    def record_routes(self) -> list[NameAddr]:
        """All Record-Route values, top first; ``[]`` if absent."""
        return self._addresses("Record-Route")

    @property
    def routes(self) -> list[NameAddr]:
        """All Route values, top first; ``[]`` if absent."""
        return self._addresses("Route")

    @property
    def content_type(self) -> str | None:
        """The media type without parameters, lower-cased, or None if absent."""
        value = self.headers.get("Content-Type")
        if value is None:
            return None
        media = "".join(value.partition(";")[0].split()).lower()  # SLASH = SWS "/" SWS
        kind, slash, sub = media.partition("/")
        if not (slash and _TOKEN_RE.fullmatch(kind) and _TOKEN_RE.fullmatch(sub)):
            raise self._error(f"invalid Content-Type {value!r}")
        return media

    def _serialize(self, start_line: str, body: bytes) -> bytes:
        lines = [start_line]
        length_written = False
        for name, value in self.headers._items:
            if name == "Content-Length":
                if length_written:
                    continue
                value = str(len(body))
                length_written = True
            lines.append(f"{name}: {value}")
        if not length_written:
            lines.append(f"Content-Length: {len(body)}")
        lines += ("", "")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body


class RequestParseError(MessageParseError):
    """A request that breaks the rules but can still be answered (RFC 3261 §8.2.6).

    Attributes:
        partial: the request as far as it was understood: its start line and
            header fields, enough for :func:`make_response` to copy Via, From,
            To, Call-ID and CSeq and answer with ``status_hint``.
    """

    def __init__(self, message: str, status_hint: int, partial: SipRequest) -> None:
        super().__init__(message, status_hint)
        self.partial = partial


@dataclass(slots=True)
class SipRequest(_Accessors):
    """A SIP request.

    Attributes:
        method: the method, case-sensitive.
        uri: the Request-URI text as received (see :attr:`request_uri`).
        headers: the header fields.
        body: the body, never decoded.
        version: the SIP version, ``"SIP/2.0"``.

    The typed accessors raise :class:`~sipgw.sip.errors.MessageParseError`
    (status_hint 400, ``partial`` = this request) if their header is missing or
    malformed.
    """

    method: str
    uri: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"

    def _error(self, message: str) -> MessageParseError:
        return RequestParseError(message, 400, self)

    @property
    def request_uri(self) -> Uri:
        """The parsed Request-URI (any scheme)."""
        try:
            return parse_uri(self.uri)
        except MessageParseError as exc:
            raise self._error(f"Request-URI: {exc}") from None

    @property
    def request_sip_uri(self) -> SipUri:
        """The Request-URI as a SIP URI.

        Raises:
            MessageParseError: status_hint 416 for any other scheme (RFC 3261
                §8.2.2.1, RFC 4475 §3.3.2), 400 if it does not parse.
        """
        uri = self.request_uri
        if not isinstance(uri, SipUri):
            raise RequestParseError(f"unsupported URI scheme {uri.scheme!r}", 416, self)
        return uri

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards (0-255, RFC 3261 §20.22), or None if absent."""
        value = self.headers.get("Max-Forwards")
        if value is None:
            return None
        if not _DIGITS_RE.fullmatch(value) or len(value.lstrip("0")) > 3 or int(value) > 255:
            raise self._error(f"invalid Max-Forwards {value!r}")
        return int(value)

    def serialize(self) -> bytes:
        """Return the wire form: CRLF line ends, one line per value, correct Content-Length."""
        return self._serialize(f"{self.method} {self.uri} {self.version}", self.body)

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(slots=True)
class SipResponse(_Accessors):
    """A SIP response.

    Attributes:
        status: the status code, 100-699.
        reason: the reason phrase (may be empty, RFC 4475 §3.1.1.13).
        headers: the header fields.
        body: the body, never decoded.
        version: the SIP version, ``"SIP/2.0"``.
    """

    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"

    def serialize(self) -> bytes:
        """Return the wire form: CRLF line ends, one line per value, correct Content-Length."""
        return self._serialize(f"{self.version} {self.status} {self.reason}", self.body)

    def __bytes__(self) -> bytes:
        return self.serialize()


SipMessage = SipRequest | SipResponse


# -- parsing ------------------------------------------------------------------


@dataclass(slots=True)
class _Head:
    """A start line and header fields, before validation."""

    start: str
    headers: Headers


def _parse_head(raw: bytes) -> _Head:
    """Decode the header section and split it into start line and fields."""
    text = raw.decode("utf-8", "surrogateescape")
    start, _, fields = text.partition("\n")
    if start.endswith("\r"):
        start = start[:-1]
    return _Head(start, Headers.parse(fields))


def _find_head_end(data: bytes, within: int) -> tuple[int, int] | None:
    """Return (end of header section, start of body), tolerating bare LF line ends; the
    blank line is looked for in the first ``within`` octets only."""
    i = data.find(b"\r\n\r\n", 0, within)
    limit = i if i >= 0 else min(len(data), within)
    if data.find(b"\n\n", 0, limit) < 0 and data.find(b"\n\r\n", 0, limit) < 0:
        return None if i < 0 else (i, i + 4)
    m = _HEAD_END_RE.search(data, 0, within)
    return None if m is None else (m.start(), m.end())


def _content_length(headers: Headers) -> int | None:
    """Content-Length, or None if absent; raises on a bad or repeated value."""
    n = headers.count("Content-Length")
    if n == 0:
        return None
    if n > 1:
        raise MessageParseError("more than one Content-Length")  # RFC 4475 §3.3.9
    value = headers.get("Content-Length") or ""
    if not _DIGITS_RE.fullmatch(value):
        raise MessageParseError(f"invalid Content-Length {value!r}")  # RFC 4475 §3.1.2.3
    digits = value.lstrip("0") or "0"
    if len(digits) > 9:
        raise MessageParseError(f"Content-Length too large: {value[:20]}")
    return int(digits)


def _validate_common(msg: _Accessors) -> CSeq:
    """Presence, uniqueness and syntax of the fields every message needs."""
    for name in ("From", "To", "Call-ID", "CSeq"):
        n = msg.headers.count(name)
        if n != 1:
            what = "missing" if n == 0 else "more than one"  # RFC 4475 §3.3.1, §3.3.8
            raise MessageParseError(f"{what} {name} header")
    _ = (msg.vias, msg.from_, msg.to, msg.call_id)  # each parses or raises
    return msg.cseq


def _request_line(start: str) -> list[str]:
    """The parts of a request line, or raise if it is not one."""
    parts = [p for p in start.split(" ") if p]  # liberal, RFC 4475 §3.1.2.9/10
    if len(parts) < 3 or not _TOKEN_RE.fullmatch(parts[0]) or not _VERSION_RE.fullmatch(parts[-1]):
        raise MessageParseError(f"invalid start line {start[:60]!r}")
    return parts


def _build_request(
    head: _Head, body: bytes | None, error: _FramingError | None, limits: MessageLimits
) -> SipRequest:
    """Validate a request; ``body`` None means framing failed with ``error``."""
    parts = _request_line(head.start)
    method, version = parts[0], parts[-1].upper()
    uri = " ".join(parts[1:-1])
    request = SipRequest(method, uri, head.headers, body or b"", version)
    try:
        if version != "SIP/2.0":
            raise MessageParseError(f"unsupported version {version}", 505)  # RFC 4475 §3.1.2.16
        if len(uri) > limits.max_uri_length:
            request.uri = uri[: limits.max_uri_length]  # the partial keeps a bounded copy
            raise MessageParseError(f"Request-URI too long ({len(uri)} characters)", 414)
        if body is None:
            reason, status = error or ("bad framing", 400)
            raise MessageParseError(reason, status)
        if len(parts) != 3:
            raise MessageParseError(f"whitespace in Request-URI {uri!r}")  # RFC 4475 §3.1.2.8
        request_uri = parse_uri(uri)
        if isinstance(request_uri, SipUri) and request_uri.headers:
            raise MessageParseError("headers in Request-URI")  # RFC 4475 §3.1.2.11
        cseq = _validate_common(request)
        if head.headers.count("Max-Forwards") > 1:
            raise MessageParseError("more than one Max-Forwards header")
        _ = request.max_forwards
        if cseq.method != method:
            # RFC 4475 §3.1.2.17/18: 400, or 501 for a method we don't know.
            hint = 400 if method in KNOWN_METHODS else 501
            raise MessageParseError(f"CSeq method {cseq.method!r} != {method!r}", hint)
    except MessageParseError as exc:
        raise RequestParseError(str(exc), exc.status_hint, request) from None
    return request


def _build_response(head: _Head, body: bytes | None, error: _FramingError | None) -> SipResponse:
    version, _, rest = head.start.partition(" ")
    code, _, reason = rest.partition(" ")
    if version.upper() != "SIP/2.0":
        raise MessageParseError(f"unsupported version in {head.start[:60]!r}")
    if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
        raise MessageParseError(f"invalid status code {code[:20]!r}")  # RFC 4475 §3.1.2.19
    if body is None:
        raise MessageParseError(error[0] if error else "bad framing")
    response = SipResponse(int(code), reason, head.headers, body, "SIP/2.0")
    _validate_common(response)
    return response


_FramingError = tuple[str, int]
"""Why a body could not be taken, and the status that answers it."""


def _build(
    head: _Head,
    body: bytes | None,
    error: _FramingError | None = None,
    limits: MessageLimits = DEFAULT_LIMITS,
) -> SipMessage:
    if head.start[:4].upper() == "SIP/":
        return _build_response(head, body, error)
    return _build_request(head, body, error, limits)


_ESSENTIAL_NAMES = frozenset({"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"})


def _oversized(head_bytes: bytes, reason: str, limits: MessageLimits) -> MessageParseError:
    """The error for a message over a size bound: 513 to a request, else a drop.

    The partial request is built from the start line and the Via, From, To,
    Call-ID and CSeq lines alone (see :mod:`sipgw.sip.limits`), so the work stays
    bounded whatever else the header section holds.
    """
    start, _, rest = head_bytes.partition(b"\n")
    try:
        parts = _request_line(start.rstrip(b"\r").decode("utf-8", "surrogateescape"))
    except MessageParseError:
        return MessageParseError(reason, 513)  # a response or no SIP at all: dropped
    kept: list[bytes] = []
    for line in rest.split(b"\n"):
        name = line.partition(b":")[0].strip(b" \t").lower()
        if name.decode("latin-1") in _ESSENTIAL_NAMES and len(line) <= limits.max_line_length:
            kept.append(line.rstrip(b"\r"))
            if len(kept) >= 64:
                break
    headers = Headers.parse(b"\n".join(kept).decode("utf-8", "surrogateescape"))
    uri = " ".join(parts[1:-1])[: limits.max_uri_length]
    partial = SipRequest(parts[0], uri, headers)
    if any(headers.count(name) == 0 for name in ("Via", "From", "To", "Call-ID", "CSeq")):
        return MessageParseError(reason, 513)  # cannot be answered: dropped
    return RequestParseError(reason, 513, partial)


def parse_message(data: bytes, limits: MessageLimits = DEFAULT_LIMITS) -> SipMessage:
    """Parse one complete SIP message, such as a UDP datagram.

    Leading CRLFs are ignored (RFC 3261 §7.5). Without Content-Length the body
    is the rest of the datagram; octets beyond Content-Length are discarded
    (§18.3). A datagram whose last header line ends without the empty line is
    accepted as having no body. ``limits`` bound the message (see
    :mod:`sipgw.sip.limits` for what a request over them is answered with).

    Raises:
        MessageParseError: the only exception this function raises; see the
            module docstring for ``status_hint`` and ``partial``.
    """
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    if not data:
        raise MessageParseError("empty message")
    # A header section longer than max_header_size is over its bound whatever follows, so
    # the blank line is looked for in that many octets only: a flood of 60 KB datagrams
    # then costs what 16 KB ones do (the search was most of their parsing).
    within = limits.max_header_size + 4
    found = _find_head_end(data, within)
    if found is not None:
        head_bytes, body_start = data[: found[0]], found[1]
    elif len(data) > within:
        whole_lines = data[: data.rfind(b"\n", 0, within) + 1].rstrip(b"\r\n")
        reason = f"header section too large (over {limits.max_header_size} octets)"
        raise _oversized(whole_lines, reason, limits)
    elif data.endswith(b"\n"):
        head_bytes, body_start = data.rstrip(b"\r\n"), len(data)
    else:
        raise MessageParseError("no end of header section")
    violation = head_violation(head_bytes, limits)
    if violation is None and len(data) > limits.max_message_size:
        violation = f"message too large ({len(data)} octets)"
    if violation is not None:
        raise _oversized(head_bytes, violation, limits)
    head = _parse_head(head_bytes)
    available = len(data) - body_start
    try:
        length = _content_length(head.headers)
    except MessageParseError as exc:
        return _build(head, None, (str(exc), 400), limits)
    if length is None:
        length = available
    elif length > available:
        # RFC 4475 §3.1.2.2: over UDP, 400.
        error = (f"Content-Length {length} > {available} octets of body", 400)
        return _build(head, None, error, limits)
    if length > limits.max_body_size:
        return _build(head, None, (f"body too large ({length} octets)", 413), limits)
    return _build(head, data[body_start : body_start + length], None, limits)


def make_response(
    request: SipRequest, status: int, reason: str | None = None, *, to_tag: str | None = None
) -> SipResponse:
    """Build a response to ``request`` (RFC 3261 §8.2.6).

    Via (all values, in order), From, To, Call-ID and CSeq are copied verbatim
    as raw strings, so this works on the ``partial`` of a MessageParseError
    whose headers are malformed; missing ones are left out, never invented.
    ``;tag=to_tag`` is appended to To unless it already has a tag. A 100 also
    copies Timestamp (§8.2.6.1).

    Args:
        request: the request being answered.
        status: the status code, 100-699.
        reason: the reason phrase; default from :data:`REASON_PHRASES`.
        to_tag: the UAS tag for the To header.

    Raises:
        LocalProtocolError: status out of range.
    """
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"invalid status code {status}")
    if reason is None:
        reason = REASON_PHRASES.get(status) or _CLASS_PHRASES[status // 100]
    src = request.headers
    items: list[tuple[str, str]] = [("Via", v) for v in src.get_all("Via")]
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = src.get(name)
        if value is None:
            continue
        if name == "To" and to_tag is not None and not _has_tag(value):
            value = f"{value};tag={to_tag}"
        items.append((name, value))
    if status == 100:
        items += [("Timestamp", v) for v in src.get_all("Timestamp")]
    headers = Headers._trusted(items, [n.lower() for n, _ in items])
    return SipResponse(status, reason, headers)


def _has_tag(value: str) -> bool:
    try:
        return NameAddr.parse(value).tag is not None
    except MessageParseError:
        # Malformed To (a partial request): look after the URI for a tag.
        return _TAG_PARAM_RE.search(value.rpartition(">")[2]) is not None
