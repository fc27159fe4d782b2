"""dnsmasq (Debian ``dnsmasq-base``) as the DNS server of a test: SRV, NAPTR and A records.

``Dnsmasq(workdir, srv=[...], naptr=[...], hosts={...}, ttl=5)`` serves those records on
``127.0.0.1:port`` (a free port), authoritative for ``.test`` (any other name there is
NXDOMAIN, nothing is forwarded), every answer with ``ttl``. :meth:`Dnsmasq.restart` serves
new records on the same port (dnsmasq reads its records at start only). Its queries are
logged to ``workdir/NAME.log``::

    with Dnsmasq(workdir, srv=[SrvRecord("_sip._udp.trunk.test", "kam1.trunk.test", 5071, 10)],
                 hosts={"kam1.trunk.test": "127.0.0.1"}) as dns:
        gateway_env["SIPGW_DNS_SERVERS"] = dns.server
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sipgw.app.evaluation.ports import free_port
from sipgw.app.evaluation.process import ManagedProcess, PeerContext, PeerError, require_binary

__all__ = ["Dnsmasq", "NaptrRecord", "SrvRecord"]


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """``name`` -> ``target:port`` with a priority and a weight (RFC 2782)."""

    name: str
    target: str
    port: int
    priority: int = 10
    weight: int = 50

    def option(self) -> str:
        return f"--srv-host={self.name},{self.target},{self.port},{self.priority},{self.weight}"


@dataclass(frozen=True, slots=True)
class NaptrRecord:
    """A NAPTR record of ``name`` pointing to the SRV name ``replacement`` (RFC 3403)."""

    name: str
    service: str
    replacement: str
    order: int = 10
    preference: int = 50
    flags: str = "s"

    def option(self) -> str:
        return (
            f"--naptr-record={self.name},{self.order},{self.preference},{self.flags},"
            f"{self.service},,{self.replacement}"
        )


class Dnsmasq(PeerContext):
    """A DNS server on loopback for the records given (context manager)."""

    def __init__(
        self,
        workdir: str | Path,
        name: str = "dnsmasq",
        *,
        srv: Sequence[SrvRecord] = (),
        naptr: Sequence[NaptrRecord] = (),
        hosts: Mapping[str, str] | None = None,
        ttl: int = 5,
        domain: str = "test",
    ) -> None:
        self.workdir = Path(workdir)
        self.name = name
        self.srv = list(srv)
        self.naptr = list(naptr)
        self.hosts = dict(hosts or {})
        self.ttl = ttl
        self.domain = domain
        self.port = free_port()
        self.process: ManagedProcess | None = None
        self.starts = 0

    @property
    def server(self) -> str:
        """``127.0.0.1:PORT``, as ``SIPGW_DNS_SERVERS`` takes it."""
        return f"127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [
            require_binary("dnsmasq"), "--keep-in-foreground", "--log-facility=-",
            "--log-queries", "--conf-file=/dev/null", f"--port={self.port}",
            "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
            "--pid-file=", "--user=root", f"--local-ttl={self.ttl}", f"--local=/{self.domain}/",
            *(record.option() for record in self.srv),
            *(record.option() for record in self.naptr),
            *(f"--host-record={host},{address}" for host, address in self.hosts.items()),
        ]  # fmt: skip

    def start(self) -> Dnsmasq:
        """Start serving; returns once it answers on its port."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self.process = ManagedProcess(
            f"{self.name}-{self.starts}", self.argv(),
            log_path=self.workdir / f"{self.name}.log", lifetime=600.0, capture="lines",
        )  # fmt: skip
        self.process.start()
        if self.process.lines.search(r"started, version", 10.0) is None:
            raise PeerError(f"dnsmasq did not start\n{self.process.log_tail()}")
        deadline = time.monotonic() + 5.0
        query = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04test\x00\x00\x01\x00\x01"
        while time.monotonic() < deadline:  # one A query for "test": any answer will do
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.settimeout(0.2)
                probe.sendto(query, ("127.0.0.1", self.port))
                try:
                    probe.recv(512)
                    return self
                except OSError:
                    continue
        raise PeerError(f"dnsmasq does not answer on {self.server}\n{self.process.log_tail()}")

    def restart(
        self,
        *,
        srv: Sequence[SrvRecord] | None = None,
        naptr: Sequence[NaptrRecord] | None = None,
        hosts: Mapping[str, str] | None = None,
    ) -> Dnsmasq:
        """Serve other records (each given list replaces the old one) on the same port."""
        self.close()
        if srv is not None:
            self.srv = list(srv)
        if naptr is not None:
            self.naptr = list(naptr)
        if hosts is not None:
            self.hosts = dict(hosts)
        return self.start()

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def log_text(self) -> str:
        return self.process.log_text() if self.process is not None else ""
