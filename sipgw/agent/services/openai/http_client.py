"""The LLM's HTTP client: ``aiohttp``'s ``ClientSession``, behind the few calls the chat client
makes.

:class:`HttpClient` sends a ``POST`` and hands back a :class:`Response` once the status line
and headers are in; the body is read as it arrives (:meth:`Response.read_chunk`: what the
connection has buffered, at least one byte) or whole (:meth:`Response.aread`). ``aiohttp``
does the rest: keep-alive connections pooled per origin (at most ``max_connections``, an
idle one closed after ``keepalive_expiry`` seconds or when the server closes it), HTTP/1.1
on llhttp's parser, chunked bodies, ``gzip``/``deflate``, TLS, and an ``http://`` proxy
(a ``CONNECT`` tunnel for ``https``, the absolute URL for ``http``, ``Proxy-Authorization:
Basic`` from the proxy URL's user and password). A response read to its end gives its
connection back to the pool; :meth:`Response.close` before that closes the connection at
once (a barge-in's cancelled reply), as does a cancelled wait for the head.

The session is made at the first request (it belongs to the running loop); ``aiohttp``
itself (about 0.4 s and a hundred modules) and the TLS context (the trust store: tens of
milliseconds) are loaded by :meth:`HttpClient.prepare`, which the chat client runs in a
thread at the gateway's warm-up, not with this module. ``https`` runs with
``httpx2.create_ssl_context()`` (the system's trust store, ``SSL_CERT_FILE`` /
``SSL_CERT_DIR`` when set: what the ``openai`` SDK's client checks certificates against)
and ALPN ``http/1.1``. The proxy comes from the environment as the SDK's client reads it
(:func:`proxy_for`), once, not at every request (``aiohttp``'s ``trust_env`` reads the
environment, and ``~/.netrc``, in a thread per request).

There are no timeouts here: the caller bounds every await (agent/services/openai/chat.py's
``_Budget``). Redirects are not followed (a ``POST`` cannot follow one): the caller sees
their status.

Errors: :class:`HttpConnectError` (the connection could not be made, or the proxy refused
the tunnel), :class:`HttpReadError` (the connection broke, or the server broke HTTP/1.1,
while the request was out), both :class:`HttpError`.
"""

from __future__ import annotations

import ssl
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

__all__ = [
    "HttpClient",
    "HttpConnectError",
    "HttpError",
    "HttpReadError",
    "Response",
    "check_url",
    "proxy_for",
]

_SCHEMES: Final = ("http", "https")


class HttpError(Exception):
    """A request failed below HTTP's statuses."""


class HttpConnectError(HttpError):
    """The connection could not be made (refused, unreachable, TLS, the proxy said no)."""


class HttpReadError(HttpError):
    """The connection broke, or the server broke HTTP/1.1, with the request out."""


def check_url(url: str) -> str:
    """``url``, when it is an absolute ``http`` or ``https`` URL.

    Raises:
        ValueError: it is not.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        raise ValueError(f"not an http or https URL: {url!r}")
    return url


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``, then
    ``ALL_PROXY``, any case, the lower-case name first), unless ``NO_PROXY`` excludes the
    host (``*``, a host, a ``.domain`` or ``domain`` suffix, an address); None for none.
    As the ``openai`` SDK's client (``httpx``) reads them, by :mod:`urllib.request`'s rules.

    Raises:
        ValueError: the named proxy is not an ``http://`` URL (``https://`` and SOCKS
            proxies are not supported).
    """
    parts = urllib.parse.urlsplit(url)
    env = urllib.request.getproxies_environment()
    proxy = env.get(parts.scheme) or env.get("all")
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed
    if not proxy or bypass(parts.hostname or "", env):
        return None
    proxy = proxy if "://" in proxy else f"http://{proxy}"
    if not proxy.lower().startswith("http://"):
        scheme, _, rest = proxy.partition("://")
        shown = f"{scheme}://{rest.rpartition('@')[2]}"  # never the proxy's password
        name = f"{parts.scheme.upper()}_PROXY" if env.get(parts.scheme) else "ALL_PROXY"
        raise ValueError(f"{name}: only http:// proxies are supported, not {shown!r}")
    return proxy


class Response:
    """A response whose head is in; its body is read with :meth:`read_chunk` or :meth:`aread`."""

    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.status = response.status
        """The status code."""
        self.headers: Mapping[str, str] = response.headers
        """Header values by name, any case (a repeated field: its first value)."""
        self._response = response

    async def read_chunk(self) -> bytes:
        """The body bytes that arrived since the last read (waiting for some); b"" at the end.

        Raises:
            HttpReadError: the connection broke, or the server broke HTTP/1.1.
        """
        try:
            return await self._response.content.readany()
        except _errors.read as exc:
            self._response.close()
            raise HttpReadError(_describe(exc)) from exc

    async def aread(self) -> bytes:
        """The rest of the body.

        Raises:
            HttpReadError: as :meth:`read_chunk`.
        """
        try:
            return await self._response.read()
        except _errors.read as exc:
            self._response.close()
            raise HttpReadError(_describe(exc)) from exc

    def close(self) -> None:
        """Done with it: a response not read to its end closes its connection at once."""
        self._response.close()

    async def aclose(self) -> None:
        """:meth:`close`, awaitable."""
        self.close()


class _Errors:
    """``aiohttp``'s exceptions, once it is imported (:meth:`HttpClient.prepare`)."""

    connect: tuple[type[Exception], ...] = ()
    read: tuple[type[Exception], ...] = ()


_errors = _Errors()


class HttpClient:
    """A pool of keep-alive connections (see the module docstring)."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        keepalive_expiry: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        proxy: str | None = None,
    ) -> None:
        """An empty pool; ``ssl_context`` None takes ``httpx2``'s default (:meth:`prepare`);
        ``proxy`` (:func:`proxy_for`) carries every request."""
        self._max_connections = max_connections
        self._expiry = keepalive_expiry
        self._ssl = ssl_context
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}
        self._closed = False

    def prepare(self) -> None:
        """Import ``aiohttp`` and make the TLS context now (slow: call it in a thread), not
        at the first request."""
        import aiohttp

        if not _errors.read:
            _errors.connect = (aiohttp.ClientConnectorError, aiohttp.ClientHttpProxyError)
            _errors.read = (aiohttp.ClientError,)
        if self._ssl is None:
            from httpx2 import create_ssl_context

            context = create_ssl_context()  # what the SDK's httpx2 client verifies with
            context.set_alpn_protocols(["http/1.1"])
            self._ssl = context

    def _make_session(self) -> aiohttp.ClientSession:
        import aiohttp

        self.prepare()
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._expiry,
            ssl=self._ssl if self._ssl is not None else True,
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(),  # none: the caller bounds every await
            auto_decompress=True,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def post(self, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> Response:
        """Send ``body`` and return the response once its head is in.

        ``headers`` go out after ``Host`` and before ``Content-Length``, in order.

        Raises:
            HttpConnectError: no connection could be made.
            HttpReadError: the connection broke before the response's head.
        """
        session = self._session
        if session is None:
            if self._closed:
                raise HttpConnectError("the client is closed")
            session = self._session = self._make_session()
        target = self._urls.get(url)
        if target is None:
            from yarl import URL

            target = self._urls[url] = URL(url)
        try:
            response = await session.post(
                target, data=body, headers=headers, proxy=self._proxy, allow_redirects=False
            )
        except _errors.connect as exc:
            raise HttpConnectError(_describe(exc)) from exc
        except _errors.read as exc:
            raise HttpReadError(_describe(exc)) from exc
        return Response(response)

    async def aclose(self) -> None:
        """Close every connection; no request is sent after."""
        self._closed = True
        if self._session is not None:
            await self._session.close()


def _describe(exc: Exception) -> str:
    """``<the OS's or TLS's error's type>: <aiohttp's message>``."""
    cause = getattr(exc, "os_error", None)
    return f"{type(cause if isinstance(cause, OSError) else exc).__name__}: {exc}"
