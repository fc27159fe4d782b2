"""body_within (sipgw/foundation/http_body.py): a body read up to a limit, no further."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp

from sipgw.foundation.http_body import body_within


class _Content:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.read = 0

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read += 1
            yield chunk


class _Response:
    def __init__(self, chunks: list[bytes], content_length: int | None) -> None:
        self.content = _Content(chunks)
        self.content_length = content_length


def _read(response: _Response, max_bytes: int) -> bytes | None:
    given = cast(aiohttp.ClientResponse, cast(Any, response))
    return asyncio.run(body_within(given, max_bytes))


def test_a_body_up_to_the_limit_is_read_whole() -> None:
    assert _read(_Response([b"ab", b"cd"], 4), 4) == b"abcd"
    assert _read(_Response([b"ab", b"cd"], None), 4) == b"abcd"  # chunked: no length
    assert _read(_Response([], 0), 4) == b""


def test_a_content_length_over_the_limit_is_refused_before_reading() -> None:
    response = _Response([b"abcde"], 5)
    assert _read(response, 4) is None
    assert response.content.read == 0


def test_a_chunked_body_over_the_limit_stops_being_read_there() -> None:
    response = _Response([b"abc", b"de", b"never read"], None)
    assert _read(response, 4) is None
    assert response.content.read == 2
