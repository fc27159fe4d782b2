"""The toolkit's throwaway CA (tests/toolkit/tls.py): real openssl, real TLS handshakes."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from tests.toolkit.tls import make_ca, make_server_cert


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, host: str) -> str:
    """One TLS handshake over a socketpair; returns the negotiated version."""
    a, b = socket.socketpair()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                s.sendall(s.recv(4))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=host) as c:
            c.sendall(b"ping")
            assert c.recv(4) == b"ping"
            version = c.version() or ""
    finally:
        t.join(5)
    assert not errors, errors
    return version


def test_server_certificate_verifies_against_the_ca_for_its_ip(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    cert = make_server_cert(ca, tmp_path, "srv", ips=["127.0.0.1"], dns_names=["sip.test"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert.cert, cert.key)
    client = ssl.create_default_context(cafile=str(ca.cert))
    assert _handshake(server, client, "127.0.0.1").startswith("TLS")
    assert _handshake(server, client, "sip.test").startswith("TLS")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client, "other.test")
    # the combined file baresip uses holds the certificate and the key
    text = cert.combined.read_text()
    assert "BEGIN CERTIFICATE" in text and "PRIVATE KEY" in text
    san = subprocess.run(
        ["openssl", "x509", "-in", str(cert.cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "IP Address:127.0.0.1" in san and "DNS:127.0.0.1" in san and "DNS:sip.test" in san


def test_a_client_without_the_ca_refuses_the_certificate(tmp_path: Path) -> None:
    cert = make_server_cert(make_ca(tmp_path / "a"), tmp_path / "a", "srv")
    other_ca = make_ca(tmp_path / "b")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert.cert, cert.key)
    client = ssl.create_default_context(cafile=str(other_ca.cert))
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client, "127.0.0.1")
