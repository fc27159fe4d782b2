"""An HTTP response's body read up to a limit: a server cannot make us hold more.

The webhooks' TwiML, the HTTP tools' answers and the STIR/SHAKEN certificates are read so.
A ``Content-Length`` over the limit is refused before anything is read; a body without one
(chunked) is read until it passes the limit, and no further.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

__all__ = ["body_within"]

_CHUNK = 16384


async def body_within(response: aiohttp.ClientResponse, max_bytes: int) -> bytes | None:
    """The body of ``response``; None when it is longer than ``max_bytes``."""
    length = response.content_length
    if length is not None and length > max_bytes:
        return None
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            return None
    return bytes(body)
