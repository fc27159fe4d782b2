"""An HTTP/1.1 response parser and the request head, sans-IO (the LLM client's wire).

Theory of operation
-------------------
:class:`ResponseParser` reads one response to a request the client wrote (a ``POST``:
agent/services/openai/http1_client.py writes it with :func:`request_head`). Feed it the bytes as
they arrive with :meth:`ResponseParser.receive_data` and the end of the connection with
:meth:`ResponseParser.receive_eof`; it sets :attr:`ResponseParser.head` once the status
line and headers are in, collects the body (de-chunked, decompressed) for
:meth:`ResponseParser.take_body`, and sets :attr:`ResponseParser.complete` at the end of
the message. It reads no clock and does no I/O.

What it accepts, after RFC 9112:

- a status line ``HTTP/1.x <3 digits> <reason>``; interim ``1xx`` responses (``100
  Continue``, ``103 Early Hints``) are skipped (section 4);
- header fields ``name: value``, without line folding (section 5.2 lets a client reject
  it); the status line and headers together at most ``max_head`` bytes, 16 KiB by
  default, the limit ``h11`` (under ``httpx``) applies;
- the body framed, in this order (section 6.3): none after ``204`` and ``304``;
  ``Transfer-Encoding`` ending in ``chunked`` (chunk extensions ignored, trailers read
  and dropped; a chunk-size line counts against ``max_head`` too); ``Content-Length``
  (several equal values are one; differing ones are an error); else everything up to
  the end of the connection, which then cannot be reused;
- ``Content-Encoding`` ``gzip`` or ``deflate`` decoded (the request offers them, as
  ``httpx`` did); any other coding passed through as it is, as ``httpx`` does.

Anything else raises :class:`RemoteProtocolError` (a :class:`ValueError`), the parser's
only exception: a malformed head or chunk, a head too long, the connection closed before
the message's end. :attr:`ResponseParser.reusable` says whether the connection can carry
another request once the response is complete (HTTP/1.1, no ``Connection: close``, not
framed by the connection's end, nothing sent after it).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final, Protocol

__all__ = [
    "MAX_HEAD",
    "RemoteProtocolError",
    "ResponseHead",
    "ResponseParser",
    "request_head",
]

MAX_HEAD: Final = 16 * 1024
"""Bytes of status line and headers (and of one chunk-size line) accepted: h11's default."""


_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
"""A chunk size: hex digits, at most 16 (RFC 9112 section 7.1)."""


class RemoteProtocolError(ValueError):
    """The server broke HTTP/1.1 framing, or closed the connection mid-message."""


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """A response's status line and headers."""

    status: int
    """The status code."""
    reason: str
    """The reason phrase (may be empty)."""
    http_version: str
    """``HTTP/1.1`` or ``HTTP/1.0``."""
    headers: Mapping[str, str]
    """Header values by lower-cased name; a repeated field's values joined with ``", "``
    (RFC 9110 section 5.3), as ``httpx``'s ``Headers.get`` gives them."""


class _Decoder(Protocol):
    """What ``zlib.decompressobj`` returns."""

    def decompress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


class _State(Enum):
    HEAD = auto()
    LENGTH = auto()
    CHUNK_SIZE = auto()
    CHUNK_DATA = auto()
    CHUNK_END = auto()
    TRAILERS = auto()
    UNTIL_EOF = auto()
    DONE = auto()


def request_head(method: str, target: str, host: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The request line and headers, ``Host`` first, ending with the blank line.

    Header names keep their case; values must not hold CR or LF.

    Raises:
        ValueError: a header name or value that would break the message.
    """
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers:
        if not name or any(c in name for c in ":\r\n \t") or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} cannot be sent")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


class ResponseParser:
    """Parses one HTTP/1.1 response (see the module docstring)."""

    def __init__(self, max_head: int = MAX_HEAD) -> None:
        """A parser waiting for a status line."""
        self._max_head = max_head
        self._buffer = b""
        self._state = _State.HEAD
        self._remaining = 0
        self._body: list[bytes] = []
        self.buffered = 0
        """Body bytes received and not yet taken."""
        self._decoder: _Decoder | None = None
        self._close_after = False
        self.head: ResponseHead | None = None
        """The status line and headers, once in."""
        self.complete = False
        """True once the whole message was read."""
        self.trailing = False
        """True when bytes came after the message (the connection is not reused)."""

    @property
    def reusable(self) -> bool:
        """Whether the connection may carry another request after this complete response."""
        return self.complete and not self._close_after and not self.trailing

    def take_body(self) -> bytes:
        """The body bytes received since the last call (de-chunked, decoded)."""
        if not self._body:
            return b""
        data = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self.buffered = 0
        return data

    def receive_data(self, data: bytes) -> None:
        """Parse ``data``, the next bytes from the server.

        Raises:
            RemoteProtocolError: the bytes break HTTP/1.1.
        """
        if self._state is _State.DONE:
            if data:
                self.trailing = True
            return
        buffer = self._buffer + data if self._buffer else data
        self._buffer = b""
        pos = 0
        end = len(buffer)
        while True:
            state = self._state
            if state is _State.DONE:
                self.trailing = self.trailing or pos < end
                return
            if pos >= end:
                break
            if state is _State.CHUNK_DATA or state is _State.LENGTH:
                take = min(self._remaining, end - pos)
                self._emit(buffer[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if state is _State.LENGTH:
                        self._finish()
                    else:
                        self._state = _State.CHUNK_END
                continue
            if state is _State.UNTIL_EOF:
                self._emit(buffer[pos:] if pos else buffer)
                pos = end
                continue
            if state is _State.HEAD:
                found = buffer.find(b"\r\n\r\n", pos)
                if found < 0:
                    self._keep(buffer, pos, "response head")
                    return
                if found - pos > self._max_head:
                    raise RemoteProtocolError(f"response head longer than {self._max_head} bytes")
                self._head(buffer[pos:found])
                pos = found + 4
                continue
            found = buffer.find(b"\r\n", pos)
            if found < 0:
                self._keep(buffer, pos, "chunk size line")
                return
            line = buffer[pos:found]
            pos = found + 2
            if state is _State.CHUNK_SIZE:
                self._chunk_size(line)
                stop = pos + self._remaining
                if self._remaining and stop + 2 <= end:  # the whole chunk is here: at once
                    if buffer[stop : stop + 2] != b"\r\n":
                        raise RemoteProtocolError("chunk data longer than its size")
                    self._emit(buffer[pos:stop])
                    pos = stop + 2
                    self._remaining = 0
                    self._state = _State.CHUNK_SIZE
            elif state is _State.CHUNK_END:
                if line:
                    raise RemoteProtocolError("chunk data longer than its size")
                self._state = _State.CHUNK_SIZE
            elif not line:  # _State.TRAILERS: the blank line ends them
                self._finish()
        self._buffer = b""

    def receive_eof(self) -> None:
        """The server closed the connection (nothing more will come).

        Raises:
            RemoteProtocolError: the message was not complete.
        """
        if self._state is _State.UNTIL_EOF:
            self._finish()
            return
        if self._state is _State.DONE:
            return
        if self._state is _State.HEAD and self.head is None:
            raise RemoteProtocolError("Server disconnected without sending a response.")
        raise RemoteProtocolError("peer closed connection without sending complete message body")

    def _keep(self, buffer: bytes, pos: int, what: str) -> None:
        rest = buffer[pos:]
        if len(rest) > self._max_head + 4:
            raise RemoteProtocolError(f"{what} longer than {self._max_head} bytes")
        self._buffer = rest

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                raise RemoteProtocolError(f"body does not decode: {exc}") from None
            if not data:
                return
        self._body.append(data)
        self.buffered += len(data)

    def _finish(self) -> None:
        if self._decoder is not None:
            try:
                rest = self._decoder.flush()
            except zlib.error as exc:
                raise RemoteProtocolError(f"body does not decode: {exc}") from None
            if rest:
                self._body.append(rest)
                self.buffered += len(rest)
        self._state = _State.DONE
        self.complete = True

    def _head(self, raw: bytes) -> None:
        lines = raw.split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        code, _, reason = rest.partition(b" ")
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
            raise RemoteProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
        status = int(code)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or b" " in name or b"\t" in name:
                raise RemoteProtocolError(f"malformed header line: {line[:80]!r}")
            key = name.decode("latin-1").lower()
            text = value.strip(b" \t").decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if 100 <= status < 200:
            if status == 101:
                raise RemoteProtocolError("the server switched protocols")
            return  # interim: the real response follows
        http_version = version.decode("ascii")
        self.head = ResponseHead(status, reason.decode("latin-1"), http_version, headers)
        connection = headers.get("connection", "").lower()
        self._close_after = http_version == "HTTP/1.0" or "close" in connection.split(", ")
        self._decoder = _decoder(headers.get("content-encoding", ""))
        self._framing(status, headers)

    def _framing(self, status: int, headers: Mapping[str, str]) -> None:
        if status in (204, 304):
            self._finish()
            return
        coding = headers.get("transfer-encoding")
        if coding is not None:
            if coding.lower().rsplit(",", 1)[-1].strip() != "chunked":
                raise RemoteProtocolError(f"unsupported Transfer-Encoding {coding!r}")
            self._state = _State.CHUNK_SIZE
            return
        length = headers.get("content-length")
        if length is None:
            self._state = _State.UNTIL_EOF
            self._close_after = True
            return
        values = {value.strip() for value in length.split(",")}
        if len(values) != 1 or not (value := values.pop()).isdigit():
            raise RemoteProtocolError(f"bad Content-Length {length!r}")
        self._remaining = int(value)
        if self._remaining == 0:
            self._finish()
        else:
            self._state = _State.LENGTH

    def _chunk_size(self, line: bytes) -> None:
        size = line.split(b";", 1)[0].strip(b" \t") if b";" in line else line
        if _HEX.fullmatch(size) is None:
            raise RemoteProtocolError(f"bad chunk size line {line[:40]!r}")
        self._remaining = int(size, 16)
        self._state = _State.CHUNK_DATA if self._remaining else _State.TRAILERS


def _decoder(coding: str) -> _Decoder | None:
    coding = coding.strip().lower()
    if coding == "gzip":
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if coding == "deflate":
        return zlib.decompressobj()  # zlib-wrapped, as RFC 9110 section 8.4.1.2 defines it
    return None
