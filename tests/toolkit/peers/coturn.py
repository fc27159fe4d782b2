"""coturn (Debian ``coturn``'s ``turnserver``) as the STUN/TURN server of a test, on loopback.

``Coturn(workdir, user="sipgw", password="...")`` listens on ``127.0.0.1:port`` (a free
port, UDP and TCP), STUN and TURN with long-term credentials (RFC 8656 §9.2) for that one
user, relays between loopback peers (``--allow-loopback-peers``: coturn refuses 127.x peers
by default), no TLS/DTLS, no CLI, no database; its log goes to ``workdir/NAME.log``::

    with Coturn(workdir, user="sipgw", password="secret") as turn:
        servers = (turn.url("turn"), turn.url("stun"))   # turn:127.0.0.1:PORT?transport=udp
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

from sipgw.app.evaluation.ports import free_port, free_port_range
from sipgw.app.evaluation.process import ManagedProcess, PeerContext, PeerError, require_binary

__all__ = ["Coturn"]

_BINDING = struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, b"sipgw-probe!")
"""A STUN Binding request (RFC 8489 §5: type, length, magic cookie, transaction id)."""


class Coturn(PeerContext):
    """A STUN/TURN server on loopback for one user (context manager)."""

    def __init__(
        self, workdir: str | Path, *, user: str, password: str, realm: str = "sipgw.test",
        name: str = "coturn",
    ) -> None:  # fmt: skip
        self.workdir = Path(workdir)
        self.user, self.password, self.realm = user, password, realm
        self.name = name
        self.port = free_port()
        self.relay_ports = free_port_range(20)
        self.process: ManagedProcess | None = None

    def url(self, scheme: str = "turn") -> str:
        """``stun:127.0.0.1:PORT`` or ``turn:127.0.0.1:PORT?transport=udp``."""
        base = f"{scheme}:127.0.0.1:{self.port}"
        return base + "?transport=udp" if scheme == "turn" else base

    def argv(self) -> list[str]:
        low, high = self.relay_ports
        return [
            require_binary("turnserver"), "-n", "--listening-ip=127.0.0.1",
            f"--listening-port={self.port}", "--relay-ip=127.0.0.1", "--allow-loopback-peers",
            f"--min-port={low}", f"--max-port={high}", "--lt-cred-mech", "--fingerprint",
            f"--user={self.user}:{self.password}", f"--realm={self.realm}", "--no-tls",
            "--no-dtls", "--no-cli", "--no-software-attribute", "--log-file=stdout",
            "--simple-log", "--verbose", f"--pidfile={self.workdir / (self.name + '.pid')}",
            f"--userdb={self.workdir / (self.name + '.db')}",
        ]  # fmt: skip

    def start(self) -> Coturn:
        """Start serving; returns once it answers a STUN Binding request."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            self.name, self.argv(), log_path=self.workdir / f"{self.name}.log", lifetime=600.0,
            capture="lines",
        )  # fmt: skip
        self.process.start()
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if not self.process.alive:
                break
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.settimeout(0.2)
                probe.sendto(_BINDING, ("127.0.0.1", self.port))
                try:
                    if probe.recv(512)[:2] == b"\x01\x01":  # Binding success response
                        return self
                except OSError:
                    continue
        raise PeerError(f"coturn does not answer on 127.0.0.1:{self.port}\n{self.log_tail()}")

    def log_tail(self) -> str:
        """The end of its log (for failure reports)."""
        return self.process.log_tail() if self.process is not None else ""

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None
