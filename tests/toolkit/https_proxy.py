"""A TLS reverse proxy in front of the admin server, as nginx or Caddy would be (tests only).

::

    async with HttpsProxy("http://127.0.0.1:8081", cert, key) as proxy:
        ...  # https://gw.example.test:{proxy.port}/dashboard/phone (the name mapped to 127.0.0.1)

Every request is passed on to ``upstream`` with its method, path, body and headers, ``Host``
kept (nginx's ``proxy_set_header Host $host``), plus ``X-Forwarded-Proto: https`` and
``X-Forwarded-For`` with the client's address appended to what the client sent (nginx's
``$proxy_add_x_forwarded_for``); hop-by-hop headers are not passed
(RFC 9110 §7.6.1). Responses are streamed back as they come, so the dashboard's event stream
(SSE) goes through. No WebSocket upgrade (the call page does not use one).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from types import TracebackType

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from sipgw.app.evaluation.ports import free_port

__all__ = ["HttpsProxy"]

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length",
})  # fmt: skip
"""Headers that concern one connection only, not passed on (content-length: re-framed)."""


class HttpsProxy:
    """TLS on a free loopback port, plain HTTP to ``upstream``; see the module docstring."""

    def __init__(self, upstream: str, cert: Path, key: Path, bind: str = "127.0.0.1") -> None:
        self.upstream = upstream.rstrip("/")
        self.bind = bind
        self.port = 0
        self.requests: list[tuple[str, str, int]] = []
        """(method, path, status) of each request passed on, in order."""
        self.set_cookies: list[str] = []
        """The ``Set-Cookie`` headers the upstream sent, in order."""
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(cert, key)
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpsProxy:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> int:
        """Listen; the port."""
        self._client = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10), auto_decompress=False
        )
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._pass)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, self.bind, self.port, ssl_context=self._tls).start()
        return self.port

    async def stop(self) -> None:
        """Stop listening and close the upstream connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _pass(self, request: web.Request) -> web.StreamResponse:
        assert self._client is not None
        headers = CIMultiDict(
            (name, value) for name, value in request.headers.items()
            if name.lower() not in HOP_BY_HOP
        )  # fmt: skip
        headers["X-Forwarded-Proto"] = "https"
        hops = [*request.headers.getall("X-Forwarded-For", []), request.remote or ""]
        headers["X-Forwarded-For"] = ", ".join(hops)
        body = await request.read()
        async with self._client.request(
            request.method, self.upstream + request.path_qs, headers=headers,
            data=body or None, allow_redirects=False,
        ) as upstream:  # fmt: skip
            self.requests.append((request.method, request.path, upstream.status))
            self.set_cookies += upstream.headers.getall("Set-Cookie", [])
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
