"""Free loopback ports and port ranges, for the gateways, peers and phones of tests and benchmarks.

Loopback is shared with other processes (and other test sessions), so nothing here assumes a fixed
port. A port is handed out only if it can be bound right now for both UDP and TCP on the wildcard
address (which also fails when any specific address, e.g. 127.0.0.1 or 127.0.0.2, holds it), and
preferably not given to any process of the machine in the last :data:`RESERVED_FOR` seconds
(a ledger file, :data:`LEDGER`: the workers of one pytest run and runs beside it draw from one
window; a port another process was just given is not test-bound here while its owner is about
to bind it). A suite hands out the window's ports faster than that: then ports given out
longer ago than :data:`RECENT`, then :data:`STARTING` seconds ago (the few seconds a gateway
takes to bind what it was given), then any port free now. Candidates are drawn at random from
below the kernel's ephemeral range, so they do not collide with sockets that bind port 0 (the
gateway's SIP socket, clients). Works the same inside a private network namespace
(``unshare -n``).
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "PortRange",
    "free_port",
    "free_port_range",
    "port_is_free",
    "udp_port_bound",
    "undrawn_range",
    "wait_udp_bound",
]

_lock = threading.Lock()
_rng = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "big"))
_MAX_ATTEMPTS = 2000
_LEDGER_ATTEMPTS = 300

LEDGER = Path(tempfile.gettempdir()) / f"sipgw-ports-{os.getuid()}.ledger"
"""When each port was last handed out, machine-wide: 65536 big-endian 32-bit Unix times."""
RESERVED_FOR = 600
"""Seconds a handed-out port is kept from every other taker, while the window has others."""
RECENT = 30
"""Once the window is used up: ports handed out longer ago than this may go again."""
STARTING = 5
"""Then: ports handed out longer ago than this (its owner has bound it by now), then any."""
_STAMP = struct.Struct(">I")


class PortRange(NamedTuple):
    """An inclusive port range; ``str()`` gives the ``lo-hi`` form used by configs and CLIs."""

    lo: int
    hi: int

    def __str__(self) -> str:
        return f"{self.lo}-{self.hi}"

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1

    def ports(self) -> list[int]:
        return list(range(self.lo, self.hi + 1))


def _candidate_window() -> tuple[int, int]:
    """Ports to draw from: below the ephemeral range when it leaves room, else above it."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        eph_lo, eph_hi = (int(x) for x in text.split())
    except (OSError, ValueError):
        eph_lo, eph_hi = 32768, 60999
    if eph_lo - 1 - 20000 >= 2000:
        return 20000, eph_lo - 1
    if 65535 - (eph_hi + 1) >= 2000:
        return eph_hi + 1, 65535
    return 10000, 65535  # no room outside the ephemeral range: rely on the bind test


def _bindable(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def port_is_free(port: int, span: int = 1) -> bool:
    """True if ``port .. port+span-1`` can all be bound for UDP and TCP right now."""
    if port < 1 or port + span - 1 > 65535:
        return False
    return all(
        _bindable(p, socket.SOCK_DGRAM) and _bindable(p, socket.SOCK_STREAM)
        for p in range(port, port + span)
    )


def _take(count: int, *, even: bool) -> int:
    lo, hi = _candidate_window()
    with _lock, _ledger() as ledger:
        now = int(time.time())
        # First ports nobody was given for RESERVED_FOR s; once the window is used up (a
        # long suite hands out tens of thousands), ports given out longer ago, then any.
        for quiet in (RESERVED_FOR, RECENT, STARTING, 0):
            # A few hundred draws tell a used-up window: the next step is tried then (the
            # ledger's lock is held meanwhile, by every process's hand-outs).
            for _ in range(_MAX_ATTEMPTS if quiet == 0 else _LEDGER_ATTEMPTS):
                start = _rng.randint(lo, hi - count + 1)
                if even:
                    start &= ~1
                    if start < lo:
                        continue
                given = os.pread(ledger, 4 * count, 4 * start).ljust(4 * count, b"\0")
                if any(now - stamp < quiet for (stamp,) in _STAMP.iter_unpack(given)):
                    continue
                if port_is_free(start, count):
                    os.pwrite(ledger, _STAMP.pack(now) * count, 4 * start)
                    return start
    raise RuntimeError(f"no {count} consecutive free loopback ports found in {lo}-{hi}")


@contextmanager
def _ledger() -> Iterator[int]:
    """The ledger, open and locked against every other process for one hand-out."""
    fd = os.open(LEDGER, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # and the lock with it


def free_port(span: int = 1) -> int:
    """A port P with P..P+span-1 free for UDP and TCP (baresip needs span=2: TLS binds P+1)."""
    if span < 1:
        raise ValueError("span must be >= 1")
    return _take(span, even=False)


def free_port_range(count: int) -> PortRange:
    """``count`` consecutive free ports starting at an even port (RTP on even, RTCP on odd)."""
    if count < 1:
        raise ValueError("count must be >= 1")
    start = _take(count, even=True)
    return PortRange(start, start + count - 1)


def undrawn_range(count: int) -> PortRange:
    """``count`` consecutive ports just below the ones :func:`free_port` draws from.

    For a program that takes a fixed, large range and binds ports in it as it goes (a
    benchmark's gateway: 10000-19999 with Linux's default ephemeral range), beside tests that
    draw free ports: it then never binds a port handed out to a peer that has not bound it yet.
    """
    lo, _ = _candidate_window()
    if count < 1 or lo - count < 1024:
        raise ValueError(f"no {count} ports below {lo} and above 1023")
    return PortRange(lo - count, lo - 1)


def udp_port_bound(port: int) -> bool:
    """True if some socket in this network namespace has UDP ``port`` bound.

    Reads /proc/net/udp{,6} instead of test-binding, so it never races the program starting up.
    """
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 1 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def wait_udp_bound(port: int, timeout: float = 5.0) -> bool:
    """Wait until UDP ``port`` is bound (see :func:`udp_port_bound`); False on timeout."""
    deadline = time.monotonic() + timeout
    while not udp_port_bound(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
