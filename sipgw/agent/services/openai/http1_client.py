"""A small HTTP/1.1 keep-alive client on asyncio's own transports, for the LLM's requests.

Theory of operation
-------------------
:class:`HttpClient` sends a ``POST`` and hands back a :class:`Response` once the status
line and headers are in; the body is read piece by piece (:meth:`Response.read_chunk`,
as the server's chunks arrive) or whole (:meth:`Response.aread`). Each connection is an
:class:`asyncio.Protocol` feeding a sans-IO
:class:`sipgw.agent.services.openai.http1.ResponseParser`:
a received segment is parsed in ``data_received`` and wakes the one reader, so a streamed
response costs a parse and a future per segment, where a general client (``httpx`` over
``anyio``) costs a stack of stream layers per read (docs/performance.md, "What would move
it"). It reads no clock except for the idle connections' expiry.

Connections are pooled per origin (scheme, host, port): at most ``max_connections`` in
use or idle, at most ``max_keepalive`` idle, an idle one dropped after
``keepalive_expiry`` seconds or as soon as the server closes it (``connection_lost``), a
request beyond the bound waiting for a connection to come back. A response goes back to
the pool only when read to its end and reusable
(:attr:`sipgw.agent.services.openai.http1.ResponseParser.reusable`); :meth:`Response.close` before
that closes its connection at once (a barge-in's cancelled reply). ``https`` runs over
:mod:`ssl` with ``httpx2.create_ssl_context()`` (the system's trust store,
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set: what the ``httpx2`` client checked
certificates against) and ALPN ``http/1.1``. An ``http://`` proxy is used as ``httpx`` used the
environment's (:func:`proxy_for`): a ``CONNECT`` tunnel for ``https``, the absolute URL
for ``http``, ``Proxy-Authorization: Basic`` from the proxy URL's user and password.

There are no timeouts here: the caller bounds every await (agent/services/openai/chat.py's
``_Budget``); a cancelled await closes what it was waiting on.

Errors: :class:`HttpConnectError` (the connection could not be made, or the proxy refused
the tunnel), :class:`HttpReadError` (the connection broke, or the server broke HTTP/1.1,
while the request was out), both :class:`HttpError`.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, cast

from sipgw.agent.services.openai.http1 import (
    RemoteProtocolError,
    ResponseHead,
    ResponseParser,
    request_head,
)

__all__ = [
    "HttpClient",
    "HttpConnectError",
    "HttpError",
    "HttpReadError",
    "Response",
    "Url",
    "proxy_for",
]

_PAUSE_AT: Final = 256 * 1024
"""Unread body bytes at which the socket stops being read until the reader catches up."""
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class HttpError(Exception):
    """A request failed below HTTP's statuses."""


class HttpConnectError(HttpError):
    """The connection could not be made (refused, unreachable, TLS, the proxy said no)."""


class HttpReadError(HttpError):
    """The connection broke, or the server broke HTTP/1.1, with the request out."""


@dataclass(frozen=True, slots=True)
class Url:
    """An ``http`` or ``https`` URL, split once for every request to it."""

    scheme: str
    host: str
    """The host name or address, without brackets."""
    port: int
    target: str
    """The path and query, as sent in the request line."""
    authority: str
    """The ``Host`` header: the host, and the port when it is not the scheme's default."""

    @classmethod
    def parse(cls, url: str) -> Url:
        """Split ``url``.

        Raises:
            ValueError: not an absolute ``http`` or ``https`` URL.
        """
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http or https URL: {url!r}")
        port = parts.port or _DEFAULT_PORTS[scheme]
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        authority = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(scheme, host, port, target, authority)

    @property
    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port): what a pooled connection is kept for."""
        return (self.scheme, self.host, self.port)

    def __str__(self) -> str:
        """The URL, rebuilt."""
        return f"{self.scheme}://{self.authority}{self.target}"


def proxy_for(url: Url, environ: Mapping[str, str] | None = None) -> Url | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``, then
    ``ALL_PROXY``, any case), unless ``NO_PROXY`` excludes the host (``*``, a host, a
    ``.domain`` or ``domain`` suffix, an address, ``localhost``); None for none.

    Raises:
        ValueError: the named proxy is not an ``http://`` URL (``https://`` and SOCKS
            proxies are not supported).
    """
    env = urllib.request.getproxies_environment() if environ is None else _lower(environ)
    proxy = env.get(url.scheme) or env.get("all")
    if not proxy:
        return None
    for entry in (env.get("no") or "").split(","):
        entry = entry.strip().lower()
        if entry == "*":
            return None
        if entry and _bypassed(url.host.lower(), entry):
            return None
    proxy = proxy if "://" in proxy else f"http://{proxy}"
    if not proxy.lower().startswith("http://"):
        scheme, _, rest = proxy.partition("://")
        shown = f"{scheme}://{rest.rpartition('@')[2]}"  # never the proxy's password
        name = f"{url.scheme.upper()}_PROXY" if env.get(url.scheme) else "ALL_PROXY"
        raise ValueError(f"{name}: only http:// proxies are supported, not {shown!r}")
    parsed = Url.parse(proxy)
    return Url(parsed.scheme, parsed.host, parsed.port, proxy, parsed.authority)


def _lower(environ: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in environ.items():  # the lower-case name wins, as urllib has it
        lowered = name.lower()
        if lowered.endswith("_proxy") and value and (name == lowered or lowered[:-6] not in out):
            out[lowered[:-6]] = value
    return out


def _bypassed(host: str, entry: str) -> bool:
    entry = entry.split("://", 1)[-1].strip("[]")
    if entry.startswith("."):
        return host.endswith(entry)
    return host == entry or host.endswith(f".{entry}")


def _proxy_authorization(proxy: Url) -> str | None:
    parts = urllib.parse.urlsplit(proxy.target)
    if parts.username is None:
        return None
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class _Connection(asyncio.Protocol):
    """One socket: feeds the response parser, wakes the reader."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None
        self.error: HttpError | None = None
        self.closed = False
        self.idle_since = 0.0
        self.origin: tuple[str, str, int] = ("", "", 0)
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:  # nothing was asked: the connection cannot be trusted again
            self.close()
            return
        try:
            parser.receive_data(data)
        except RemoteProtocolError as exc:
            self._fail(HttpReadError(str(exc)))
            return
        if parser.buffered > _PAUSE_AT and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        parser = self.parser
        if parser is not None and not parser.complete:
            try:
                parser.receive_eof()
            except RemoteProtocolError as exc:
                self._fail(HttpReadError(str(exc)))
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        parser = self.parser
        if parser is not None and not parser.complete and self.error is None:
            if exc is not None:
                self.error = HttpReadError(f"{type(exc).__name__}: {exc}")
            else:
                try:
                    parser.receive_eof()
                except RemoteProtocolError as eof:
                    self.error = HttpReadError(str(eof))
        self._wake()

    def _fail(self, error: HttpError) -> None:
        self.error = error
        self.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self) -> None:
        """Until something arrives (data, the end, an error)."""
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        await waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Response:
    """A response whose head is in; its body is read with :meth:`read_chunk` or :meth:`aread`."""

    def __init__(self, head: ResponseHead, connection: _Connection, client: HttpClient) -> None:
        self.status = head.status
        """The status code."""
        self.headers = head.headers
        """Header values by lower-cased name."""
        self.http_version = head.http_version
        """``HTTP/1.1`` or ``HTTP/1.0``."""
        self._connection: _Connection | None = connection
        self._client = client

    async def read_chunk(self) -> bytes:
        """The body bytes that arrived since the last read (waiting for some); b"" at the end.

        Raises:
            HttpReadError: the connection broke, or the server broke HTTP/1.1.
        """
        connection = self._connection
        while connection is not None:
            parser = connection.parser
            assert parser is not None
            data = parser.take_body()
            if data:
                return data
            if parser.complete:
                self._release()
                return b""
            if connection.error is not None:
                self.close()
                raise connection.error
            if connection.closed:
                self.close()
                raise HttpReadError("the connection closed mid-response")
            await connection.wait()
        return b""

    async def aread(self) -> bytes:
        """The rest of the body.

        Raises:
            HttpReadError: as :meth:`read_chunk`.
        """
        parts = []
        while data := await self.read_chunk():
            parts.append(data)
        return b"".join(parts)

    def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client._release(connection)

    def close(self) -> None:
        """Done with it: a response not read to its end closes its connection at once."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        parser = connection.parser
        if parser is not None and parser.complete:
            self._client._release(connection)
        else:
            connection.close()
            self._client._release(connection)

    async def aclose(self) -> None:
        """:meth:`close`, awaitable."""
        self.close()


class HttpClient:
    """A pool of HTTP/1.1 connections (see the module docstring)."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        max_keepalive: int = 100,
        keepalive_expiry: float = 5.0,
        ssl_context: object | None = None,
        proxy: Url | None = None,
    ) -> None:
        """An empty pool; ``ssl_context`` None takes ``httpx2``'s default when an https
        connection is first made (or :meth:`prepare_tls`); ``proxy`` (:func:`proxy_for`)
        carries every request."""
        self._max_connections = max_connections
        self._max_keepalive = max_keepalive
        self._expiry = keepalive_expiry
        self._ssl = ssl_context
        self._proxy = proxy
        self._idle: dict[tuple[str, str, int], collections.deque[_Connection]] = {}
        self._idle_count = 0
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    async def post(self, url: Url, headers: Iterable[tuple[str, str]], body: bytes) -> Response:
        """Send ``body`` and return the response once its head is in.

        ``headers`` go out after ``Host`` and before ``Content-Length``, in order.

        Raises:
            HttpConnectError: no connection could be made.
            HttpReadError: the connection broke before the response's head.
        """
        fields = list(headers)
        if self._proxy is not None and url.scheme == "http":
            target = str(url)
            authorization = _proxy_authorization(self._proxy)
            if authorization is not None:
                fields.append(("Proxy-Authorization", authorization))
        else:
            target = url.target
        fields.append(("Content-Length", str(len(body))))
        message = request_head("POST", target, url.authority, fields) + body
        connection = await self._acquire(url)
        try:
            connection.parser = ResponseParser()
            assert connection.transport is not None
            connection.transport.write(message)
            parser = connection.parser
            while parser.head is None:
                if connection.error is not None:
                    raise connection.error
                if connection.closed:
                    raise HttpReadError("Server disconnected without sending a response.")
                await connection.wait()
        except BaseException:
            connection.close()
            self._release(connection)
            raise
        return Response(parser.head, connection, self)

    async def _acquire(self, url: Url) -> _Connection:
        if self._closed:
            raise HttpConnectError("the client is closed")
        idle = self._idle.get(url.origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if not connection.closed and now - connection.idle_since < self._expiry:
                return connection
            connection.close()
            self._open -= 1
        while self._open >= self._max_connections:
            if not self._drop_an_idle():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                return await self._acquire(url)
        self._open += 1
        try:
            return await self._connect(url)
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise

    async def _connect(self, url: Url) -> _Connection:
        loop = asyncio.get_running_loop()
        peer = self._proxy or url
        try:
            _, connection = await loop.create_connection(_Connection, peer.host, peer.port)
        except OSError as exc:
            raise HttpConnectError(f"{type(exc).__name__}: {exc}") from exc
        connection.origin = url.origin
        try:
            if url.scheme == "https":
                if self._proxy is not None:
                    await self._tunnel(connection, url)
                await self._start_tls(connection, url)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _tunnel(self, connection: _Connection, url: Url) -> None:
        authority = f"{url.host}:{url.port}" if ":" not in url.host else f"[{url.host}]:{url.port}"
        fields = []
        authorization = _proxy_authorization(self._proxy) if self._proxy else None
        if authorization is not None:
            fields.append(("Proxy-Authorization", authorization))
        parser = ResponseParser()
        connection.parser = parser
        assert connection.transport is not None
        connection.transport.write(request_head("CONNECT", authority, authority, fields))
        while parser.head is None:
            if connection.error is not None or connection.closed:
                raise HttpConnectError(f"the proxy closed the tunnel to {authority}")
            await connection.wait()
        if not 200 <= parser.head.status < 300:
            raise HttpConnectError(f"the proxy refused the tunnel: {parser.head.status}")
        connection.parser = None

    def prepare_tls(self) -> None:
        """Make the TLS context now (loading the trust store: tens of milliseconds; call
        it in a thread), not at the first ``https`` connection."""
        if self._ssl is None:
            from httpx2 import create_ssl_context

            context = create_ssl_context()  # what httpx2.AsyncClient() verified with
            context.set_alpn_protocols(["http/1.1"])
            self._ssl = context

    async def _start_tls(self, connection: _Connection, url: Url) -> None:
        import ssl

        self.prepare_tls()
        assert isinstance(self._ssl, ssl.SSLContext) and connection.transport is not None
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                connection.transport, connection, self._ssl, server_hostname=url.host
            )
        except (OSError, ssl.SSLError) as exc:
            raise HttpConnectError(f"{type(exc).__name__}: {exc}") from exc
        connection.transport = cast(asyncio.Transport, transport)

    def _release(self, connection: _Connection) -> None:
        parser = connection.parser
        reusable = parser is not None and parser.reusable and not connection.closed
        connection.parser = None
        if reusable and not self._closed and self._idle_count < self._max_keepalive:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, collections.deque()).append(connection)
            self._idle_count += 1
            self._wake_one()
            return
        connection.close()
        self._open -= 1
        self._wake_one()

    def _drop_an_idle(self) -> bool:
        for idle in self._idle.values():
            if idle:
                idle.popleft().close()
                self._idle_count -= 1
                self._open -= 1
                return True
        return False

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        """Close every idle connection; responses still open close with their readers."""
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
                self._open -= 1
        self._idle.clear()
        self._idle_count = 0
