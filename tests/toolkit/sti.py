"""A throwaway STIR/SHAKEN PKI for tests, made with ``cryptography``: an STI-CA root, a
service provider's certificate it signs, and PASSporTs really signed with ES256.

::

    pki = StiPki.make()
    token = pki.sign(shaken("A", orig="15551234567", dest="15550100", iat=int(time.time())))
    pki.root_pem        # the trust anchor (SIPGW_STIR_CA_FILE)
    pki.chain_pem       # what the x5u URL serves: the leaf, then the root

``sign`` writes the JWS signature as ``r || s`` (RFC 7518 §3.4), as a carrier's signer does.
:func:`serving_certificates` serves chains over HTTPS from a thread, for a gateway in
another process to fetch (it trusts the server's CA through ``SSL_CERT_FILE``).
"""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

__all__ = ["StiPki", "certificate", "identity_value", "jws_part", "serving_certificates"]


def jws_part(data: object) -> str:
    """``data`` as JSON, base64url without padding."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    days: int = 30,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # a day back: a test module's clock is read when it is imported, and a whole run's
        # workers import every module minutes before this fixture makes the certificates
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class StiPki:
    """A root CA and one service provider's signing certificate."""

    root: x509.Certificate
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey

    @classmethod
    def make(cls, name: str = "Test STI-CA") -> StiPki:
        """A new root and a leaf it signed (EC P-256 keys)."""
        root_key = ec.generate_private_key(ec.SECP256R1())
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        root = certificate(name, root_key, name, root_key, ca=True)
        leaf = certificate("Test SHAKEN signer", leaf_key, name, root_key, ca=False)
        return cls(root, leaf, leaf_key)

    @property
    def root_pem(self) -> bytes:
        """The root, PEM: a CA bundle of one."""
        return _pem(self.root)

    @property
    def chain_pem(self) -> bytes:
        """The leaf then the root, PEM (what a carrier's x5u serves, RFC 8226 §9)."""
        return _pem(self.leaf) + _pem(self.root)

    def sign(self, payload: dict[str, Any], x5u: str = "https://cert.example/shaken.pem") -> str:
        """A compact JWS of ``payload`` signed ES256 with the leaf's key."""
        header = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u}
        signing_input = f"{jws_part(header)}.{jws_part(payload)}"
        der = self.leaf_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"


def identity_value(token: str, x5u: str) -> str:
    """The ``Identity`` header value (RFC 8224 §4.1) carrying ``token``."""
    return f"{token};info=<{x5u}>;alg=ES256;ppt=shaken"


@contextmanager
def serving_certificates(
    files: Mapping[str, bytes], cert: Path, key: Path, host: str = "127.0.0.1"
) -> Iterator[str]:
    """Serve ``files`` (path -> body) over HTTPS with ``cert`` and ``key`` from a thread;
    yields the base URL (``https://127.0.0.1:PORT``). Other paths get 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server name)
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/pem-certificate-chain")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
            pass

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = ThreadingHTTPServer((host, 0), Handler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
