"""TLS contexts for SIP over TLS (sipgw.aio.tls): real handshakes on loopback."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipgw.aio.tls import certificate_names, client_context, names_allowed, server_context
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


# -- mutual TLS: our listener asks for a certificate; peers' names


async def requiring_listener(
    test_ca: CaFiles, peer_ca: Path
) -> tuple[asyncio.Server, int, list[object]]:
    """A listener with ``server_context(..., peer_ca)``: (it, its port, each peer's cert)."""
    seen: list[object] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peercert"))
        writer.write(b"ok\r\n")
        await writer.drain()
        writer.close()

    context = server_context(str(test_ca.cert), str(test_ca.key), str(peer_ca))
    listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    return listener, listener.sockets[0].getsockname()[1], seen


async def test_our_certificate_is_offered_to_a_server_that_asks(test_ca: CaFiles) -> None:
    """Mutual TLS: a trunk may ask for our certificate; the client context offers it."""
    listener, port, seen = await requiring_listener(test_ca, test_ca.ca_cert)
    try:
        mine = client_context(str(test_ca.ca_cert), str(test_ca.cert), str(test_ca.key))
        assert await exchange(port, mine) == b"ok\r\n"
        assert seen and seen[0]
    finally:
        listener.close()
        await listener.wait_closed()


async def test_a_listener_with_a_peer_ca_takes_only_peers_it_signed(
    test_ca: CaFiles, tmp_path: Path
) -> None:
    listener, port, seen = await requiring_listener(test_ca, test_ca.ca_cert)
    stranger_ca = make_ca(tmp_path / "stranger", name="stranger-ca")
    stranger = make_server_cert(stranger_ca, tmp_path / "stranger", "stranger")
    try:
        signed = client_context(str(test_ca.ca_cert), str(test_ca.cert), str(test_ca.key))
        assert await exchange(port, signed) == b"ok\r\n"
        assert seen and seen[0]
        for context in (
            client_context(str(test_ca.ca_cert)),  # no certificate
            client_context(str(test_ca.ca_cert), str(stranger.cert), str(stranger.key)),
        ):
            assert await refused(port, context)
        assert len(seen) == 1
    finally:
        listener.close()
        await listener.wait_closed()


async def refused(port: int, context: ssl.SSLContext) -> bool:
    """Whether the listener would not talk: with TLS 1.3 the client learns of the refusal
    at its first read (an alert, or the connection closed without a word)."""
    try:
        return await exchange(port, context) == b""
    except (ssl.SSLError, ConnectionError):
        return True


def test_a_certificates_names_are_its_dns_and_sip_uri_entries_else_its_cn() -> None:
    with_san = {
        "subject": ((("commonName", "ignored.example.com"),),),
        "subjectAltName": (
            ("DNS", "SBC1.example.com"),
            ("URI", "sip:edge.example.com;transport=tls"),
            ("URI", "https://not-sip.example.com"),
            ("IP Address", "192.0.2.1"),
        ),
    }
    assert certificate_names(with_san) == ("sbc1.example.com", "edge.example.com")
    cn_only = {"subject": ((("commonName", "PBX.example.com"),),), "subjectAltName": ()}
    assert certificate_names(cn_only) == ("pbx.example.com",)
    assert certificate_names(None) == () and certificate_names({}) == ()
    assert names_allowed(with_san, ["edge.example.com"])
    assert names_allowed(with_san, ["sbc1.EXAMPLE.com"])
    assert not names_allowed(with_san, ["ignored.example.com", "192.0.2.1"])
    assert not names_allowed(None, ["sbc1.example.com"])
