"""Mutual TLS on the endpoint: a listener that requires peers' certificates (a CA, names),
certificates renewed on disk without a restart, and an account's own certificate and names
towards its server. Real handshakes on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import ssl
from pathlib import Path

import pytest

from sipgw.aio.endpoint import SipEndpoint
from sipgw.aio.tlsfiles import client_profile
from sipgw.sip.addressing import Flow
from sipgw.sip.message import SipResponse
from tests.sipgw.aio.test_stream import Peer, options, port_of, start
from tests.toolkit.tls import CertificateAuthority, make_ca, make_server_cert

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return make_ca(tmp_path_factory.mktemp("pki"), name="trunk-ca")


def client_with(ca: CertificateAuthority, directory: Path, name: str) -> ssl.SSLContext:
    """A client trusting ``ca`` that presents a certificate ``ca`` signed naming ``name``."""
    mine = make_server_cert(ca, directory, name, dns_names=(name,))
    context = ssl.create_default_context(cafile=str(ca.cert))
    context.load_cert_chain(mine.cert, mine.key)
    return context


async def requiring(
    endpoints: list[SipEndpoint], pki: CertificateAuthority, tmp_path: Path, **more: object
) -> SipEndpoint:
    """A TLS-only endpoint that requires peers' certificates ``pki`` signed."""
    server = make_server_cert(pki, tmp_path / "gw", "gateway", dns_names=("localhost",))
    return await start(
        endpoints, transports=("TLS",), tls_cert=str(server.cert), tls_key=str(server.key),
        tls_peer_ca=str(pki.cert), **more,  # type: ignore[arg-type]
    )  # fmt: skip


async def answered(port: int, context: ssl.SSLContext) -> bool:
    """Whether an OPTIONS over a connection with ``context`` gets its 200."""
    try:
        peer = await Peer.connect(port, context)
        peer.send(options("TLS", 5098))
        response = await peer.read()
    except (ssl.SSLError, ConnectionError):
        return False
    peer.close()
    return isinstance(response, SipResponse) and response.status == 200


async def test_a_listener_that_requires_certificates_takes_a_peer_its_ca_signed(
    endpoints: list[SipEndpoint], pki: CertificateAuthority, tmp_path: Path
) -> None:
    endpoint = await requiring(endpoints, pki, tmp_path, tls_peer_names=("sbc.example.com",))
    port = port_of(endpoint, "TLS")
    assert await answered(port, client_with(pki, tmp_path / "sbc", "sbc.example.com"))
    assert endpoint.streams is not None and endpoint.streams.handshake_failures == 0


async def test_a_stranger_a_peer_without_certificate_and_a_peer_of_another_name_are_refused(
    endpoints: list[SipEndpoint],
    pki: CertificateAuthority,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = await requiring(endpoints, pki, tmp_path, tls_peer_names=("sbc.example.com",))
    port = port_of(endpoint, "TLS")
    stranger_ca = make_ca(tmp_path / "stranger", name="stranger-ca")
    stranger = client_with(stranger_ca, tmp_path / "stranger", "sbc.example.com")
    stranger.load_verify_locations(pki.cert)  # it trusts us; we do not trust it
    anonymous = ssl.create_default_context(cafile=str(pki.cert))
    other_name = client_with(pki, tmp_path / "other", "other.example.com")
    with caplog.at_level(logging.WARNING, logger="sipgw.sip"):
        for context in (other_name, stranger, anonymous):  # warnings: one a minute per address
            assert not await answered(port, context)
    assert endpoint.streams is not None
    for _ in range(100):  # the server side counts after the client has seen the close
        if endpoint.streams.handshake_failures == 3:
            break
        await asyncio.sleep(0.01)
    assert endpoint.streams.handshake_failures == 3
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert (
        "its certificate names other.example.com, 127.0.0.1, none of SIPGW_TLS_PEER_NAMES" in logged
    )
    assert not endpoint.streams.connections  # none of them got in


async def test_a_renewed_certificate_is_used_without_a_restart(
    endpoints: list[SipEndpoint], pki: CertificateAuthority, tmp_path: Path
) -> None:
    first = make_server_cert(pki, tmp_path / "first", "gateway")
    second = make_server_cert(pki, tmp_path / "second", "gateway")
    cert, key = tmp_path / "gw.crt", tmp_path / "gw.key"
    shutil.copy(first.cert, cert)
    shutil.copy(first.key, key)
    endpoint = await start(
        endpoints, transports=("TLS",), tls_cert=str(cert), tls_key=str(key)
    )  # fmt: skip
    port = port_of(endpoint, "TLS")

    async def presented() -> bytes:
        peer = await Peer.connect(port, ssl.create_default_context(cafile=str(pki.cert)))
        der = peer.writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        peer.close()
        return bytes(der)

    before = await presented()
    assert before == ssl.PEM_cert_to_DER_cert(first.cert.read_text())
    shutil.copy(second.key, key)  # the renewal, as certbot writes it: new files in place
    shutil.copy(second.cert, cert)
    await asyncio.sleep(1.1)  # the listener looks at its files at most once a second
    assert await presented() == ssl.PEM_cert_to_DER_cert(second.cert.read_text())


async def test_an_account_presents_its_own_certificate_to_its_server(
    endpoints: list[SipEndpoint], pki: CertificateAuthority, tmp_path: Path
) -> None:
    """A server that requires a certificate gets the account's, bound to its host; with
    names of its own the server's certificate must carry one of them instead."""
    seen: list[object] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peercert"))
        with contextlib.suppress(ConnectionError):
            await reader.read(100)
        writer.close()

    sbc = make_server_cert(pki, tmp_path / "sbc", "sbc", dns_names=("sbc.example.com",))
    listening = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    listening.load_cert_chain(sbc.cert, sbc.key)
    listening.verify_mode = ssl.CERT_REQUIRED
    listening.load_verify_locations(pki.cert)
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=listening)
    port = server.sockets[0].getsockname()[1]
    account = make_server_cert(
        pki, tmp_path / "account", "office", dns_names=("office.example.com",)
    )
    endpoint = await start(endpoints, transports=("UDP",), tls_ca=str(pki.cert))
    assert endpoint.streams is not None and endpoint.streams.client_ssl is not None
    failed: list[Flow] = []
    endpoint.streams.on_error = failed.append
    for names, host in (
        (("sbc.example.com",), "127.0.0.1"),
        (("elsewhere.example.com",), "localhost"),
    ):
        profile = client_profile(
            str(pki.cert), str(account.cert), str(account.key), what="account 'office'",
            peer_names=names,
        )  # fmt: skip
        endpoint.streams.client_ssl.bind(host, port, profile)
    # a name whose profile wants another name for the server: refused by us
    endpoint.send(options("TLS", 2, "misnamed"), Flow("TLS", ("localhost", port)))
    for _ in range(300):
        if failed:
            break
        await asyncio.sleep(0.01)
    assert [flow.address for flow in failed] == [("localhost", port)]
    # 127.0.0.1 is not among the SBC's names: the account's names stand in for the host
    endpoint.send(options("TLS", 1, "named"), Flow("TLS", ("127.0.0.1", port)))
    for _ in range(300):
        if len(seen) > 1:
            break
        await asyncio.sleep(0.01)
    assert len(seen) == 2 and ("DNS", "office.example.com") in seen[1]["subjectAltName"]  # type: ignore[index]
    server.close()


async def test_a_tls_connection_carries_no_name_its_certificate_does_not(
    endpoints: list[SipEndpoint], pki: CertificateAuthority, tmp_path: Path
) -> None:
    """A name that resolves to the address of an open TLS connection is not sent over it
    unless the peer's certificate names it too: a new connection verifies it (and fails)."""
    sbc = make_server_cert(pki, tmp_path / "sbc", "sbc", dns_names=("sbc.example.com",))
    listening = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    listening.load_cert_chain(sbc.cert, sbc.key)
    accepted: list[Peer] = []
    server = await asyncio.start_server(
        lambda r, w: accepted.append(Peer(r, w)), "127.0.0.1", 0, ssl=listening
    )
    port = server.sockets[0].getsockname()[1]
    endpoint = await start(endpoints, transports=("UDP",), tls_ca=str(pki.cert))
    assert endpoint.streams is not None
    failed: list[Flow] = []
    endpoint.streams.on_error = failed.append
    endpoint.send(options("TLS", 1, "by-address"), Flow("TLS", ("127.0.0.1", port)))
    for _ in range(300):
        if accepted:
            break
        await asyncio.sleep(0.01)
    request = await accepted[0].read()
    assert request is not None and request.call_id == "by-address"
    # localhost is 127.0.0.1, but the SBC's certificate does not name it
    endpoint.send(options("TLS", 2, "by-name"), Flow("TLS", ("localhost", port)))
    for _ in range(300):
        if failed:
            break
        await asyncio.sleep(0.01)
    assert [flow.address for flow in failed] == [("localhost", port)]
    server.close()
