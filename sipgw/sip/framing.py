"""SIP over a byte stream (TCP, TLS), sans-IO: bytes in, whole messages out.

Theory of operation
-------------------
One :class:`StreamConnection` per TCP or TLS connection. The adapter passes
every received chunk to :meth:`~StreamConnection.receive_data`, takes events
from :meth:`~StreamConnection.next_event` until it returns None, and writes
what :meth:`~StreamConnection.data_to_send` returns. Events:

* :class:`MessageFramed`: the exact bytes of one message, ready for
  :meth:`sipgw.sip.useragent.UserAgent.receive_datagram`. Messages are cut by
  Content-Length, which a stream must carry (RFC 3261 §18.3); CRLFs before a
  message are skipped (§7.5). Whether the message is valid is the parser's
  business: a framed message never breaks the stream.
* :class:`PingReceived`: a double CRLF between messages (RFC 5626 §3.5.1);
  the single-CRLF pong is already queued in :meth:`data_to_send`.
* :class:`PongReceived`: a CRLF after our own ping (:meth:`send_ping`).
* :class:`FramingFailed`, last: a missing or invalid Content-Length, or a
  header section or body over :class:`FramingLimits`. Nothing after it can be
  framed, so the connection must be closed once :meth:`data_to_send` (a 400,
  or 413 for a body too large, when the header section was a request that can
  be answered) has been written. Later data is ignored.

The limits bound what one peer can make us buffer: at most one header
section of ``max_header_size`` octets, or one header section plus a body of
``max_body_size`` octets, beyond what a single read brings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipgw.sip.errors import MessageParseError
from sipgw.sip.message import RequestParseError, SipRequest, make_response, parse_message

__all__ = [
    "FramingFailed",
    "FramingLimits",
    "MessageFramed",
    "PingReceived",
    "PongReceived",
    "StreamConnection",
    "StreamEvent",
]

CRLF = b"\r\n"
PING = b"\r\n\r\n"
"""RFC 5626 §3.5.1 keep-alive request: a double CRLF."""
PONG = b"\r\n"
"""RFC 5626 §3.5.1 keep-alive response: a single CRLF."""

_HEAD_END_RE = re.compile(rb"\r?\n\r?\n")
_DIGITS_RE = re.compile(rb"[0-9]+")
_LENGTH_NAMES = frozenset({b"content-length", b"l"})  # l = compact form (§7.3.3)


@dataclass(frozen=True, slots=True)
class FramingLimits:
    """How much one connection may make us buffer.

    Attributes:
        max_header_size: the largest header section (start line and header
            fields), in octets.
        max_body_size: the largest Content-Length accepted, in octets.
    """

    max_header_size: int = 65536
    max_body_size: int = 262144


@dataclass(frozen=True, slots=True)
class MessageFramed:
    """One whole message arrived.

    Attributes:
        data: its bytes, from the start line to the end of the body.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class PingReceived:
    """The peer sent a keep-alive ping (CRLFCRLF); our pong is queued."""


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The peer answered our keep-alive ping with a CRLF."""


@dataclass(frozen=True, slots=True)
class FramingFailed:
    """The stream cannot be framed any more; close the connection.

    Attributes:
        reason: what was wrong, for the log.
        answered: whether an error response was queued in ``data_to_send``.
    """

    reason: str
    answered: bool


StreamEvent = MessageFramed | PingReceived | PongReceived | FramingFailed


class StreamConnection:
    """The framing state of one stream connection; see the module docstring.

    Args:
        limits: the buffering limits.
        server: the Server header of error responses (None = none).
    """

    def __init__(self, limits: FramingLimits | None = None, server: str | None = None) -> None:
        self.limits = limits or FramingLimits()
        self.server = server
        self._buffer = bytearray()
        self._outbox = bytearray()
        self._scanned = 0  # the header-end search resumes near here
        self._message_end: int | None = None  # set once a header section is framed
        self._crlfs = 0  # CRLFs in a row between messages
        self._awaiting_pong = False
        self._failed = False

    @property
    def failed(self) -> bool:
        """Whether a framing error ended the stream."""
        return self._failed

    @property
    def in_message(self) -> bool:
        """Whether part of a message (not just keep-alive CRLFs) waits for more data.

        Meaningful once :meth:`next_event` has returned None; the adapter times
        how long a message takes to arrive from this (a slow sender is closed).
        """
        buf = self._buffer
        return not self._failed and bool(buf) and buf != b"\r"

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned in an event."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the peer (ignored once the stream failed)."""
        if not self._failed:
            self._buffer += data

    def send_ping(self) -> None:
        """Queue a keep-alive ping; the next CRLF from the peer is its pong."""
        self._outbox += PING
        self._awaiting_pong = True

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer (pongs, a final error response)."""
        out = bytes(self._outbox)
        self._outbox.clear()
        return out

    def next_event(self) -> StreamEvent | None:
        """The next event, or None when more data is needed."""
        if self._failed:
            return None  # FramingFailed was the last event
        buf = self._buffer
        if self._message_end is None:
            event = self._keepalive()
            if event is not None or not buf or buf == b"\r":
                return event
            failure = self._frame_head()
            if failure is not None:
                return failure
            if self._message_end is None:
                return None
        end = self._message_end
        if len(buf) < end:
            return None
        data = bytes(buf[:end])
        del buf[:end]
        self._message_end = None
        self._scanned = 0
        return MessageFramed(data)

    # -- internals

    def _keepalive(self) -> StreamEvent | None:
        """Consume CRLFs between messages; report a ping or a pong."""
        buf = self._buffer
        while buf[:2] == CRLF:
            del buf[:2]
            if self._awaiting_pong:
                self._awaiting_pong = False
                self._crlfs = 0
                return PongReceived()
            self._crlfs += 1
            if self._crlfs == 2:
                self._crlfs = 0
                self._outbox += PONG
                return PingReceived()
        if buf and buf != b"\r":
            self._crlfs = 0  # a lone CRLF before a message is only a leading CRLF (§7.5)
        return None

    def _frame_head(self) -> FramingFailed | None:
        """Find the end of the header section and the message's length."""
        buf = self._buffer
        limit = self.limits.max_header_size
        found = _HEAD_END_RE.search(buf, max(0, self._scanned - 3))
        if found is None:
            self._scanned = len(buf)
            if len(buf) > limit:
                return self._fail("header section too large", None, 0)
            return None
        head_end, body_start = found.start(), found.end()
        if head_end > limit:
            return self._fail("header section too large", None, 0)
        head = bytes(buf[:head_end])
        try:
            length = _content_length(head)
        except MessageParseError as exc:
            return self._fail(str(exc), head, 400)
        if length is None:
            return self._fail("no Content-Length on a stream transport", head, 400)
        if length > self.limits.max_body_size:
            return self._fail(f"body too large ({length} octets)", head, 413)
        self._message_end = body_start + length
        return None

    def _fail(self, reason: str, head: bytes | None, status: int) -> FramingFailed:
        answered = head is not None and self._answer(head, reason, status)
        self._failed = True
        self._buffer.clear()
        return FramingFailed(reason, answered)

    def _answer(self, head: bytes, reason: str, status: int) -> bool:
        """Queue an error response to a request whose framing failed, if one can be built."""
        try:
            request = parse_message(head + b"\r\n\r\n")
        except RequestParseError as exc:
            request = exc.partial
        except MessageParseError:
            return False
        if not isinstance(request, SipRequest) or request.method == "ACK":
            return False
        try:
            # A 400 says what is malformed; a 413 not which limit was passed.
            phrase = f"Bad Request ({reason})" if status == 400 else "Request Entity Too Large"
            response = make_response(request, status, phrase)
        except MessageParseError:
            return False
        if self.server:
            response.headers.add("Server", self.server)
        self._outbox += response.serialize()
        return True


def _content_length(head: bytes) -> int | None:
    """The Content-Length of a header section, None if absent.

    Header fields folded over several lines are joined (§7.3.1), and the
    compact form ``l`` counts.

    Raises:
        MessageParseError: more than one Content-Length, or a value that is
            not a number of octets.
    """
    values: list[bytes] = []
    current: bytes | None = None
    for line in head.split(b"\n")[1:]:
        line = line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current += b" " + line.strip()
            continue
        if current is not None:
            values.append(current)
            current = None
        name, colon, value = line.partition(b":")
        if colon and name.strip(b" \t").lower() in _LENGTH_NAMES:
            current = value.strip(b" \t")
    if current is not None:
        values.append(current)
    if not values:
        return None
    if len(values) > 1:
        raise MessageParseError("more than one Content-Length")
    value = values[0].strip(b" \t")
    if not _DIGITS_RE.fullmatch(value):
        shown = value[:20].decode("ascii", "replace")
        raise MessageParseError(f"invalid Content-Length {shown!r}")
    digits = value.lstrip(b"0") or b"0"
    if len(digits) > 9:
        raise MessageParseError("Content-Length too large")
    return int(digits)
