"""What the admin server's JSON endpoints share: an error reply, a request's JSON object,
and whether a request comes from this site's own page (a change the dashboard's pages may
make on their session cookie)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["json_error", "json_object", "same_site"]


def json_error(status: int, message: str) -> web.Response:
    """``{"error": message}`` with ``status``."""
    return web.json_response({"error": message}, status=status)


async def json_object(
    request: web.Request, shape: str = "a JSON object"
) -> dict[str, Any] | web.Response:
    """The request's body, a JSON object; else the 400 to answer (``body must be JSON``, or
    ``body must be`` ``shape``)."""
    try:
        body: Any = await request.json()
    except ValueError:
        return json_error(400, "body must be JSON")
    if not isinstance(body, dict):
        return json_error(400, f"body must be {shape}")
    return body


def same_site(request: web.Request) -> bool:
    """Whether the request comes from this site's own page: the browser says so
    (``Sec-Fetch-Site: same-origin``), or, from one that does not send it, its ``Origin``
    is this host."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc == request.host
