"""A throwaway certificate authority and server certificates for TLS tests, made with ``openssl``.

``make_ca(dir)`` writes a self-signed CA; ``make_server_cert(ca, dir, "kamailio")`` writes a
key and a certificate signed by it, with subjectAltName ``IP:127.0.0.1`` plus any names and
addresses given. Every file is PEM. Used by Kamailio's ``tls`` module, the gateway's TLS
listener (``--tls-cert``/``--tls-key``, clients trust ``--tls-ca``) and baresip
(``sip_cafile`` to verify servers, ``sip_certificate`` for its own cert+key in one file)::

    ca = make_ca(workdir / "pki")
    server = make_server_cert(ca, workdir / "pki", "kamailio", ips=["127.0.0.1"])
    server.cert, server.key, server.combined, ca.cert     # paths

Keys are EC P-256 (fast to make: a CA and two certificates take well under a second) and
unencrypted; the certificates are valid from now for ``days`` days.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sipgw.app.evaluation.process import require_binary

__all__ = ["CertificateAuthority", "ServerCertificate", "make_ca", "make_server_cert"]


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A CA's certificate and key (PEM files)."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """A certificate signed by a test CA, its key, and both in one file (baresip wants that)."""

    cert: Path
    key: Path
    combined: Path
    ca_cert: Path
    names: tuple[str, ...]
    ips: tuple[str, ...]


def _openssl(*args: str | Path, cwd: Path) -> None:
    require_binary("openssl")
    result = subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"openssl {' '.join(map(str, args))} failed ({result.returncode}):\n{result.stderr}"
        )


def _new_key(path: Path, cwd: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path,
             cwd=cwd)  # fmt: skip
    path.chmod(0o600)


def make_ca(
    directory: str | Path, name: str = "sipgw-test-ca", days: int = 30
) -> CertificateAuthority:
    """Write ``NAME.key`` and a self-signed ``NAME.crt`` (CA:TRUE) into ``directory``."""
    out = Path(directory).resolve()
    out.mkdir(parents=True, exist_ok=True)
    key, cert = out / f"{name}.key", out / f"{name}.crt"
    _new_key(key, out)
    _openssl(
        "req", "-x509", "-new", "-key", key, "-out", cert, "-days", str(days), "-sha256",
        "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=out,
    )  # fmt: skip
    return CertificateAuthority(cert=cert, key=key)


def make_server_cert(
    ca: CertificateAuthority,
    directory: str | Path,
    name: str,
    *,
    ips: Sequence[str] = ("127.0.0.1",),
    dns_names: Sequence[str] = (),
    days: int = 30,
    ips_as_dns: bool = True,
) -> ServerCertificate:
    """Write ``NAME.key``, ``NAME.crt`` (signed by ``ca``) and ``NAME.pem`` (cert + key).

    The subjectAltName lists ``dns_names`` and ``ips``, and with ``ips_as_dns`` each IP also as
    a DNS name: mbedTLS (linphonec's belle-sip) matches a host only against DNS entries, while
    OpenSSL and Python match an IP host only against IP entries. The CN is the first DNS name,
    else the first IP. Usable as a TLS server and client certificate.
    """
    if not ips and not dns_names:
        raise ValueError("a certificate needs at least one IP address or DNS name")
    for ip in ips:
        ipaddress.ip_address(ip)  # ValueError on a typo, before openssl sees it
    out = Path(directory).resolve()
    out.mkdir(parents=True, exist_ok=True)
    key, csr, cert, combined = (out / f"{name}.{ext}" for ext in ("key", "csr", "crt", "pem"))
    ext_file = out / f"{name}.ext"
    dns = list(dns_names) + [ip for ip in ips if ips_as_dns and ip not in dns_names]
    san = ",".join([f"DNS:{d}" for d in dns] + [f"IP:{ip}" for ip in ips])
    ext_file.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        f"subjectAltName={san}\n"
    )
    common_name = (list(dns_names) or list(ips))[0]
    _new_key(key, out)
    _openssl("req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={common_name}", cwd=out)
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
        "-out", cert, "-days", str(days), "-sha256", "-extfile", ext_file,
        cwd=out,
    )  # fmt: skip
    combined.write_text(cert.read_text() + key.read_text())
    combined.chmod(0o600)
    return ServerCertificate(
        cert=cert,
        key=key,
        combined=combined,
        ca_cert=ca.cert,
        names=tuple(dns_names),
        ips=tuple(ips),
    )
