"""The HTTP/1.1 response parser, sans-IO: each case whole, a byte at a time, and split
at every point (agent/services/openai/http1.py)."""

from __future__ import annotations

import gzip
import random
import zlib

import pytest

from sipgw.agent.services.openai.http1 import (
    MAX_HEAD,
    RemoteProtocolError,
    ResponseParser,
    request_head,
)


def _feed(pieces: list[bytes], *, eof: bool = False) -> tuple[ResponseParser, bytes]:
    parser = ResponseParser()
    body = b""
    for piece in pieces:
        parser.receive_data(piece)
        body += parser.take_body()
    if eof:
        parser.receive_eof()
        body += parser.take_body()
    return parser, body


def _ways(data: bytes) -> list[list[bytes]]:
    """Whole; a byte at a time; in two at a few split points."""
    ways = [[data], [data[i : i + 1] for i in range(len(data))]]
    for cut in sorted({1, 7, len(data) // 3, len(data) // 2, len(data) - 3}):
        if 0 < cut < len(data):
            ways.append([data[:cut], data[cut:]])
    return ways


GZIPPED = gzip.compress(b"data: {}\n\n", mtime=0)  # fixed bytes: every xdist worker, one id

# (wire bytes, status, body, reusable, needs the connection's end)
CASES: list[tuple[bytes, int, bytes, bool, bool]] = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello", True, False),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n1A\r\n" + b"x" * 26 + b"\r\n0\r\nX-Trailer: t\r\n\r\n",
        200, b"hello" + b"x" * 26, True, False,
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "
        + str(len(GZIPPED)).encode() + b"\r\n\r\n" + GZIPPED,
        200, b"data: {}\n\n", True, False,
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(zlib.compress(b'abc')):x}".encode() + b"\r\n" + zlib.compress(b"abc")
        + b"\r\n0\r\n\r\n",
        200, b"abc", True, False,
    ),
    (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", True, False),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, b"ok",
     True, False),
    (b"HTTP/1.1 429 Too Many\r\nContent-Length: 0\r\n\r\n", 429, b"", True, False),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 200, b"ok", False,
     False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, b"ok", False, False),
    (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\nuntil the end", 200,
     b"until the end", False, True),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", 200, b"ok", True, False),
]  # fmt: skip


@pytest.mark.parametrize(("data", "status", "body", "reusable", "eof"), CASES)
def test_responses_parse_whole_bytewise_and_split(
    data: bytes, status: int, body: bytes, reusable: bool, eof: bool
) -> None:
    for pieces in _ways(data):
        parser, got = _feed(pieces, eof=eof)
        assert parser.head is not None and parser.head.status == status
        assert (got, parser.complete, parser.reusable) == (body, True, reusable)


def test_bytes_after_the_response_make_the_connection_unusable() -> None:
    parser, body = _feed([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"])
    assert body == b"ok" and parser.complete and parser.trailing and not parser.reusable
    parser, _ = _feed([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"late"])
    assert parser.trailing and not parser.reusable


def test_headers_by_lower_case_name_repeated_ones_joined() -> None:
    parser, _ = _feed(
        [b"HTTP/1.1 503 Slow Down\r\nRetry-After: 1\r\nX-A: 1\r\nx-a:  2 \r\nEmpty:\r\n"
         b"Content-Length: 0\r\n\r\n"]
    )  # fmt: skip
    assert parser.head is not None
    assert (parser.head.status, parser.head.reason, parser.head.http_version) == (
        503, "Slow Down", "HTTP/1.1",
    )  # fmt: skip
    assert dict(parser.head.headers) == {
        "retry-after": "1", "x-a": "1, 2", "empty": "", "content-length": "0",
    }  # fmt: skip


def test_the_body_is_handed_out_as_it_arrives() -> None:
    parser = ResponseParser()
    parser.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    assert parser.take_body() == b"abc" and not parser.complete and parser.buffered == 0
    parser.receive_data(b"2\r\nde")
    assert parser.buffered == 2 and parser.take_body() == b"de" and parser.take_body() == b""
    parser.receive_data(b"\r\n0\r\n\r\n")
    assert parser.complete and parser.reusable


MALFORMED = [
    (b"HTTP/2 200 OK\r\n\r\n", "not an HTTP/1.1 status line"),
    (b"HTTP/1.1 20 OK\r\n\r\n", "not an HTTP/1.1 status line"),
    (b"ICY 200 OK\r\n\r\n", "not an HTTP/1.1 status line"),
    (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "malformed header line"),
    (b"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", "malformed header line"),
    (b"HTTP/1.1 200 OK\r\nBad name: 1\r\n\r\n", "malformed header line"),
    (b"HTTP/1.1 101 Switching\r\n\r\n", "switched protocols"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "bad chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", "bad chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "bad chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5_0\r\n", "bad chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n",
     "bad chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
     "chunk data longer than its size"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
     "body does not decode"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "message"), MALFORMED)
def test_malformed_responses_raise_the_one_error(data: bytes, message: str) -> None:
    for pieces in _ways(data):
        with pytest.raises(RemoteProtocolError, match=message):
            _feed(pieces)


TRUNCATED = [
    (b"", "Server disconnected without sending a response."),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "Server disconnected without sending a response."),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", "without sending complete message"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
     "without sending complete message"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
     "without sending complete message"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n",
     "without sending complete message"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "message"), TRUNCATED)
def test_a_connection_closed_mid_message_is_an_error(data: bytes, message: str) -> None:
    for pieces in _ways(data) if data else [[]]:
        with pytest.raises(RemoteProtocolError, match=message):
            _feed(pieces, eof=True)


def test_the_head_is_bounded() -> None:
    long = b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * MAX_HEAD + b"\r\n\r\n"
    with pytest.raises(RemoteProtocolError, match="response head longer than"):
        _feed([long])
    with pytest.raises(RemoteProtocolError, match="response head longer than"):
        _feed([long[:-4]])  # without its end: refused before the end arrives
    parser = ResponseParser(max_head=64)
    with pytest.raises(RemoteProtocolError, match="longer than 64 bytes"):
        for byte in long[:200]:
            parser.receive_data(bytes([byte]))
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * (MAX_HEAD + 8)
    with pytest.raises(RemoteProtocolError, match="chunk size line longer than"):
        _feed([chunked])
    fits = (
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * (MAX_HEAD - 100) + b"\r\nContent-Length: 0\r\n\r\n"
    )
    assert _feed([fits])[0].complete


def test_the_request_head_keeps_order_and_case_and_refuses_line_breaks() -> None:
    head = request_head("POST", "/v1/x", "h:1", [("Accept", "a"), ("X-Y", "b c")])
    assert head == b"POST /v1/x HTTP/1.1\r\nHost: h:1\r\nAccept: a\r\nX-Y: b c\r\n\r\n"
    for name, value in (("X", "a\r\nInjected: 1"), ("X\n", "a"), ("Bad Name", "a"), ("", "a")):
        with pytest.raises(ValueError, match="cannot be sent"):
            request_head("POST", "/", "h", [(name, value)])


def test_any_bytes_parse_or_raise_the_one_error() -> None:
    """Mutated responses (bytes flipped, cut, repeated), fed in random pieces: the parser
    either reads them or raises :class:`RemoteProtocolError`, never anything else."""
    rng = random.Random(20261127)
    for _ in range(3000):
        data = bytearray(rng.choice(CASES)[0])
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            how = rng.randrange(3)
            if how == 0:
                data[at] = rng.randrange(256)
            elif how == 1:
                del data[at : at + rng.randint(1, 8)]
            else:
                data[at:at] = data[at : at + rng.randint(1, 8)]
        cuts = (
            sorted(rng.sample(range(1, len(data)), min(3, len(data) - 1))) if len(data) > 1 else []
        )
        pieces = [bytes(data[a:b]) for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        try:
            _feed(pieces, eof=rng.random() < 0.5)
        except RemoteProtocolError:
            pass
