"""A throwaway CA and a server certificate for 127.0.0.1 and localhost (tests only).

A thin view of :mod:`tests.toolkit.tls` with the three paths the transport tests use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.toolkit.tls import make_ca, make_server_cert

__all__ = ["CaFiles", "make_test_ca"]


@dataclass(frozen=True)
class CaFiles:
    """Paths of the CA certificate and of one server certificate and key it signed."""

    ca_cert: Path
    cert: Path
    key: Path


def make_test_ca(directory: Path) -> CaFiles:
    """A CA and a certificate for IP 127.0.0.1 and DNS name localhost."""
    ca = make_ca(directory)
    server = make_server_cert(ca, directory, "server", ips=("127.0.0.1",), dns_names=("localhost",))
    return CaFiles(ca.cert, server.cert, server.key)
