"""TLS contexts for SIP over TLS (sipgw.aio.tls): real handshakes on loopback."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipgw.aio.tls import client_context, server_context
from tests.tls_ca import CaFiles, make_test_ca
from tests.toolkit.tls import make_ca, make_server_cert

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CaFiles:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
async def server(test_ca: CaFiles) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TLS listener with :func:`server_context`: (its port, what each client sent)."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            received.append(await reader.readline())
            writer.write(b"SIP/2.0 200 OK\r\n")
            await writer.drain()
        except (ssl.SSLError, ConnectionError):
            pass
        finally:
            writer.close()

    context = server_context(str(test_ca.cert), str(test_ca.key))
    listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    yield listener.sockets[0].getsockname()[1], received
    listener.close()
    await listener.wait_closed()


async def exchange(port: int, context: ssl.SSLContext, name: str = "127.0.0.1") -> bytes:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=name
    )
    writer.write(b"OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n")
    answer = await reader.readline()
    writer.close()
    return answer


async def test_a_client_trusting_our_ca_talks_to_our_listener(
    server: tuple[int, list[bytes]], test_ca: CaFiles
) -> None:
    port, received = server
    assert await exchange(port, client_context(str(test_ca.ca_cert))) == b"SIP/2.0 200 OK\r\n"
    assert await exchange(port, client_context(str(test_ca.ca_cert)), "localhost")
    assert received[0] == b"OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n"


async def test_a_server_another_ca_signed_is_refused(
    server: tuple[int, list[bytes]], tmp_path: Path
) -> None:
    other = make_ca(tmp_path / "other", name="other-ca")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await exchange(server[0], client_context(str(other.cert)))


async def test_a_server_whose_certificate_names_another_host_is_refused(
    server: tuple[int, list[bytes]], test_ca: CaFiles
) -> None:
    """RFC 5922 §7.3: the name we connect to must be in the certificate."""
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch|doesn't match"):
        await exchange(server[0], client_context(str(test_ca.ca_cert)), "sip.example.com")


def test_only_tls_1_2_and_later() -> None:
    client = client_context()
    assert client.minimum_version is ssl.TLSVersion.TLSv1_2
    assert client.verify_mode is ssl.CERT_REQUIRED and client.check_hostname


def test_the_server_context_needs_a_matching_key(test_ca: CaFiles, tmp_path: Path) -> None:
    context = server_context(str(test_ca.cert), str(test_ca.key))
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    other = make_server_cert(make_ca(tmp_path / "other", name="other-ca"), tmp_path, "other")
    with pytest.raises(ssl.SSLError):
        server_context(str(test_ca.cert), str(other.key))
    with pytest.raises(OSError):
        server_context(str(tmp_path / "missing.crt"), str(test_ca.key))


async def test_our_certificate_is_offered_to_a_server_that_asks(
    test_ca: CaFiles, tmp_path: Path
) -> None:
    """Mutual TLS: a trunk may ask for our certificate; the client context offers it."""
    seen: list[object] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peercert"))
        writer.write(b"ok\r\n")
        await writer.drain()
        writer.close()

    requiring = server_context(str(test_ca.cert), str(test_ca.key))
    requiring.verify_mode = ssl.CERT_REQUIRED
    requiring.load_verify_locations(str(test_ca.ca_cert))
    listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=requiring)
    port = listener.sockets[0].getsockname()[1]
    try:
        mine = client_context(str(test_ca.ca_cert), str(test_ca.cert), str(test_ca.key))
        assert await exchange(port, mine) == b"ok\r\n"
        assert seen and seen[0]
    finally:
        listener.close()
        await listener.wait_closed()
