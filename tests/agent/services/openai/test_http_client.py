"""The LLM's HTTP client over real loopback sockets: the pool, a connection broken
mid-stream, a response closed early, the pool's bound, TLS and proxies, the errors
(agent/services/openai/http_client.py)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sipgw.agent.services.openai.http_client import (
    HttpClient,
    HttpConnectError,
    HttpReadError,
    check_url,
    proxy_for,
)
from tests.toolkit.tls import make_ca, make_server_cert

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Server:
    """A loopback server running ``handler`` per connection, counting connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.closed: asyncio.Event = asyncio.Event()
        self.connected = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.connected.set()
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self.closed.set()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)
        return int(self.server.sockets[0].getsockname()[1])


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


async def answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient()
    yield http
    await http.aclose()


async def post(http: HttpClient, port: int, scheme: str = "http") -> tuple[int, bytes]:
    response = await http.post(f"{scheme}://127.0.0.1:{port}/v1/x", [], b"{}")
    return response.status, await response.aread()


async def test_a_connection_is_kept_for_the_next_request(client: HttpClient) -> None:
    server = Server(answer_each)
    port = await server.start()
    for _ in range(3):
        assert await post(client, port) == (200, b"ok")
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_not_reused(client: HttpClient) -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()  # then closed

    server = Server(once)
    port = await server.start()
    assert await post(client, port) == (200, b"ok")
    await server.closed.wait()
    await asyncio.sleep(0.05)  # the client sees the close
    assert await post(client, port) == (200, b"ok")
    assert server.connections == 2


async def test_a_connection_closed_mid_stream_is_a_read_error(client: HttpClient) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\ndata: \r\n3\r\nab")
        await writer.drain()

    port = await Server(cut).start()
    response = await client.post(f"http://127.0.0.1:{port}/", [], b"")
    got = b""
    with pytest.raises(HttpReadError, match="ClientPayloadError: Response payload is not comp"):
        while True:
            got += await response.read_chunk()
    assert got == b"data: ab"  # what came before the break was handed out


async def test_a_connection_closed_before_the_response(client: HttpClient) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    port = await Server(hang_up).start()
    with pytest.raises(HttpReadError, match="ServerDisconnectedError: Server disconnected"):
        await post(client, port)


async def test_closing_a_response_early_closes_its_connection_at_once(client: HttpClient) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"4\r\ntick\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)

    server = Server(endless)
    port = await server.start()
    response = await client.post(f"http://127.0.0.1:{port}/", [], b"")
    assert await response.read_chunk()
    response.close()
    async with asyncio.timeout(2):
        await server.closed.wait()
    with pytest.raises(HttpReadError, match="Connection closed"):
        await response.read_chunk()  # closed: nothing more


async def test_a_cancelled_wait_for_the_head_closes_the_connection(client: HttpClient) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # until the client goes

    server = Server(silent)
    port = await server.start()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await post(client, port)
    async with asyncio.timeout(2):
        await server.closed.wait()


async def test_the_pool_bounds_the_connections() -> None:
    release = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await release.wait()
            writer.write(OK)
            await writer.drain()

    server = Server(slow)
    port = await server.start()
    http = HttpClient(max_connections=1)
    await asyncio.to_thread(http.prepare)  # as the chat client does, at its warm-up
    try:
        first = asyncio.create_task(post(http, port))
        second = asyncio.create_task(post(http, port))
        async with asyncio.timeout(5):
            await server.connected.wait()
        await asyncio.sleep(0.1)  # time for a second connection, were one allowed
        assert server.connections == 1 and not first.done() and not second.done()
        release.set()
        assert await first == (200, b"ok") and await second == (200, b"ok")
        assert server.connections == 1
    finally:
        await http.aclose()


async def test_a_refused_connection_is_a_connect_error(client: HttpClient) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(HttpConnectError, match="ConnectionRefusedError"):
        await post(client, port)


def _tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    ca = make_ca(tmp_path)
    cert = make_server_cert(ca, tmp_path, "llm", ips=["127.0.0.1"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert.cert, cert.key)
    return server, ca.cert


async def test_https_checks_the_certificate_against_the_trust_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_context, ca = _tls(tmp_path)
    port = await Server(answer_each).start(server_context)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    untrusting = HttpClient()
    with pytest.raises(HttpConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await post(untrusting, port, "https")
    await untrusting.aclose()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # honoured, as httpx honoured it
    trusting = HttpClient()
    assert await post(trusting, port, "https") == (200, b"ok")
    await trusting.aclose()


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD")


def proxy_in(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> str | None:
    """The proxy for OpenAI's URL with only ``environ``'s proxy variables set."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return proxy_for("https://api.openai.com/v1/chat/completions")


def test_the_environment_names_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    assert proxy_in(monkeypatch, {}) is None
    proxy = "http://user:p%40ss@proxy.lan:3128"
    assert proxy_in(monkeypatch, {"HTTPS_PROXY": proxy}) == proxy
    assert proxy_in(monkeypatch, {"ALL_PROXY": "proxy.lan:8080"}) == "http://proxy.lan:8080"
    assert proxy_in(monkeypatch, {"HTTP_PROXY": "http://proxy.lan"}) is None  # for http only
    assert proxy_in(monkeypatch, {"https_proxy": "http://a", "HTTPS_PROXY": "http://b"}) == (
        "http://a"  # the lower-case name first
    )
    for no_proxy in ("*", "api.openai.com", ".openai.com", "openai.com", "x.org, openai.com"):
        assert proxy_in(monkeypatch, {"https_proxy": "http://p", "no_proxy": no_proxy}) is None
    assert proxy_in(monkeypatch, {"https_proxy": "http://p", "no_proxy": "notopenai.com"})
    with pytest.raises(ValueError, match="only http:// proxies"):
        proxy_in(monkeypatch, {"HTTPS_PROXY": "socks5://proxy.lan:1080"})
    with pytest.raises(ValueError, match="^HTTPS_PROXY: .*'https://proxy.lan:3128'") as refused:
        proxy_in(monkeypatch, {"https_proxy": "https://user:secret@proxy.lan:3128"})
    assert "secret" not in str(refused.value)  # it is logged: never the password


def test_only_http_and_https_urls_are_taken() -> None:
    assert check_url("http://[::1]:8/v1") == "http://[::1]:8/v1"
    for url in ("ftp://example.com/v1", "example.com/v1", "https:///v1"):
        with pytest.raises(ValueError, match="not an http or https URL"):
            check_url(url)


async def _proxy(seen: list[bytes]) -> int:
    """A CONNECT and forwarding proxy that wants ``Proxy-Authorization``."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        line = head.split(b"\r\n")[0].decode()
        method, target, _ = line.split(" ")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
        else:
            host, port = target.split("/")[2].rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            up_writer.write(head)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return int(server.sockets[0].getsockname()[1])


async def test_https_through_a_proxy_tunnel_and_http_through_a_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_context, ca = _tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    origin = await Server(answer_each).start(server_context)
    plain = await Server(answer_each).start()
    seen: list[bytes] = []
    proxy_url = f"http://u:p@127.0.0.1:{await _proxy(seen)}"
    credentials = base64.b64encode(b"u:p").decode()
    http = HttpClient(proxy=proxy_url)
    try:
        assert await post(http, origin, "https") == (200, b"ok")
        assert seen[0].startswith(f"CONNECT 127.0.0.1:{origin} HTTP/1.1\r\n".encode())
        assert f"Proxy-Authorization: Basic {credentials}".encode() in seen[0]
        assert await post(http, plain) == (200, b"ok")
        assert seen[1].startswith(f"POST http://127.0.0.1:{plain}/v1/x HTTP/1.1\r\n".encode())
        assert f"Proxy-Authorization: Basic {credentials}".encode() in seen[1]
    finally:
        await http.aclose()
