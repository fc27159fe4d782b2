"""A 1:1 UDP "NAT with impairment" between SIP peers and the gateway (this kernel has no netem).

For each port P the relay binds ``public_host:P``. A datagram from anywhere except
``private_host:P`` comes from a *peer*: the relay remembers the sender and forwards it from
``public_host:P`` to ``private_host:P`` (direction ``to_gateway``). A datagram from
``private_host:P`` is the gateway's reply and goes to the last peer seen on P (``to_peer``).

So: run the gateway with ``--bind 127.0.0.1 --public-ip 127.0.0.2``; peers send RTP to
127.0.0.2:P as the SDP says and the relay hands it to 127.0.0.1:P. Replies pass through the relay
only if the gateway sends them to where the RTP came from (symmetric RTP / latching; sipgw does);
if it sends to the address in the peer's SDP they bypass the relay. Relay RTCP ports (P+1) as well.
sipgw also puts the public IP in its Contact, so relay its SIP port too and dial the public IP::

    with GatewayProcess(work, public_ip="127.0.0.2") as gw, \
            UdpRelay([gw.sip_port, *gw.rtp_ports.ports()], to_gateway=Impairment(loss=0.05)):
        caller.dial(f"sip:echo@127.0.0.2:{gw.sip_port}")

Replies are routed to the *last* peer seen on a port: one peer per relayed port at a time.

Each direction of each port has its own :class:`Impairment` and its own seeded random streams (one
per kind of impairment, keyed by seed, port *index* and direction), so a given seed drops the same
packet numbers whatever the port numbers or other settings are.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from types import TracebackType

__all__ = ["DirectionStats", "Impairment", "PortStats", "UdpRelay"]

TO_GATEWAY = "to_gateway"
TO_PEER = "to_peer"


@dataclass(frozen=True)
class Impairment:
    """What happens to datagrams in one direction.

    ``loss``/``duplicate``/``reorder`` are probabilities per datagram. Each datagram is delayed by
    ``delay_ms`` plus jitter: uniform in ``[-jitter_ms, +jitter_ms]`` or gaussian with standard
    deviation ``jitter_ms`` (``distribution``), never below 0. With ``preserve_order`` jitter
    does not reorder (a datagram never leaves before the one received ahead of it, like a FIFO
    queue); reordering then comes only from ``reorder``, which holds a datagram back an extra
    ``reorder_ms`` so that later ones overtake it.
    """

    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    distribution: str = "uniform"
    reorder: float = 0.0
    reorder_ms: float = 40.0
    duplicate: float = 0.0
    preserve_order: bool = True

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability, got {value}")
        if self.distribution not in ("uniform", "gaussian"):
            raise ValueError("distribution must be 'uniform' or 'gaussian'")
        if self.delay_ms < 0 or self.jitter_ms < 0 or self.reorder_ms < 0:
            raise ValueError("delays must be >= 0")


NO_IMPAIRMENT = Impairment()


@dataclass
class DirectionStats:
    """Counters of one direction of one port."""

    received: int = 0  # datagrams that reached the relay
    forwarded: int = 0  # datagrams sent on (duplicates included)
    dropped: int = 0  # lost on purpose
    duplicated: int = 0  # extra copies sent
    reordered: int = 0  # held back to be overtaken
    unroutable: int = 0  # gateway replies before any peer was seen
    errors: int = 0  # send failures (e.g. ICMP port unreachable)
    bytes: int = 0  # payload bytes received


@dataclass
class PortStats:
    to_gateway: DirectionStats = field(default_factory=DirectionStats)
    to_peer: DirectionStats = field(default_factory=DirectionStats)


class _Direction:
    def __init__(self, seed: object, index: int, name: str, impairment: Impairment) -> None:
        self.impairment = impairment
        self.stats = DirectionStats()
        self.last_due = 0.0
        key = f"{seed}:{index}:{name}"
        self.rng_loss = random.Random(key + ":loss")
        self.rng_dup = random.Random(key + ":duplicate")
        self.rng_reorder = random.Random(key + ":reorder")
        self.rng_delay = random.Random(key + ":delay")

    def plan(self, now: float) -> list[float]:
        """Departure times for one datagram ([] = dropped); draws every stream once."""
        imp, st = self.impairment, self.stats
        lose = self.rng_loss.random() < imp.loss
        dup = self.rng_dup.random() < imp.duplicate
        hold = self.rng_reorder.random() < imp.reorder
        if imp.distribution == "gaussian":
            jitter = self.rng_delay.gauss(0.0, imp.jitter_ms) if imp.jitter_ms else 0.0
        else:
            jitter = self.rng_delay.uniform(-imp.jitter_ms, imp.jitter_ms) if imp.jitter_ms else 0.0
        if lose:
            st.dropped += 1
            return []
        due = now + max(0.0, imp.delay_ms + jitter) / 1000.0
        if hold:
            st.reordered += 1
            due += imp.reorder_ms / 1000.0
        else:
            if imp.preserve_order:
                due = max(due, self.last_due)
            self.last_due = due
        if dup:
            st.duplicated += 1
            return [due, due]
        return [due]


class _Port:
    def __init__(
        self, port: int, index: int, seed: object, up: Impairment, down: Impairment
    ) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.peer: tuple[str, int] | None = None
        self.dirs = {
            TO_GATEWAY: _Direction(seed, index, TO_GATEWAY, up),
            TO_PEER: _Direction(seed, index, TO_PEER, down),
        }


class UdpRelay:
    """The relay (context manager); runs in a background thread with a selectors loop."""

    def __init__(
        self,
        ports: Iterable[int],
        *,
        public_host: str = "127.0.0.2",
        private_host: str = "127.0.0.1",
        to_gateway: Impairment | None = None,
        to_peer: Impairment | None = None,
        seed: object = 0,
    ) -> None:
        self.public_host = public_host
        self.private_host = private_host
        self.seed = seed
        self._ports = {
            p: _Port(p, i, seed, to_gateway or NO_IMPAIRMENT, to_peer or NO_IMPAIRMENT)
            for i, p in enumerate(ports)
        }
        if not self._ports:
            raise ValueError("no ports to relay")
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, socket.socket, bytes, tuple[str, int], str, int]] = []
        self._order = itertools.count()
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._running = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> UdpRelay:
        """Bind every port and start the thread (a second call does nothing)."""
        if self._thread is not None:
            return self
        if self._closed:
            raise RuntimeError("a closed relay cannot be restarted")
        try:
            for p in self._ports.values():
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                p.sock = sock
                with contextlib.suppress(OSError):  # absorb bursts (capped by rmem_max)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                sock.bind((self.public_host, p.port))
                sock.setblocking(False)
                self._sel.register(sock, selectors.EVENT_READ, p)
        except OSError as exc:
            self._close_sockets()
            raise OSError(f"relay cannot bind {self.public_host}:{p.port}: {exc}") from exc
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="udp-relay", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> UdpRelay:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the thread (pending delayed datagrams are discarded) and close the sockets."""
        if self._thread is not None:
            self._running = False
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
            self._thread.join(timeout=5)
            self._thread = None
        self._close_sockets()

    def _close_sockets(self) -> None:
        self._closed = True
        for p in self._ports.values():
            if p.sock is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(p.sock)
                p.sock.close()
                p.sock = None
        for s in (self._wake_r, self._wake_w):
            s.close()
        self._sel.close()

    # ------------------------------------------------------------------ configuration & state
    @property
    def ports(self) -> list[int]:
        return list(self._ports)

    def set_impairment(
        self,
        port: int | None = None,
        *,
        to_gateway: Impairment | None = None,
        to_peer: Impairment | None = None,
    ) -> None:
        """Change the impairment of one port (or all when ``port`` is None) from now on."""
        targets = self._ports.values() if port is None else [self._ports[port]]
        with self._cond:
            for p in targets:
                if to_gateway is not None:
                    p.dirs[TO_GATEWAY].impairment = to_gateway
                if to_peer is not None:
                    p.dirs[TO_PEER].impairment = to_peer

    def stats(self, port: int) -> PortStats:
        """A snapshot of one port's counters."""
        with self._cond:
            p = self._ports[port]
            return PortStats(replace(p.dirs[TO_GATEWAY].stats), replace(p.dirs[TO_PEER].stats))

    def totals(self) -> PortStats:
        """Counters summed over all ports."""
        total = PortStats()
        with self._cond:
            for p in self._ports.values():
                for name, agg in ((TO_GATEWAY, total.to_gateway), (TO_PEER, total.to_peer)):
                    st = p.dirs[name].stats
                    for f in agg.__dataclass_fields__:
                        setattr(agg, f, getattr(agg, f) + getattr(st, f))
        return total

    def peer_address(self, port: int) -> tuple[str, int] | None:
        """The last peer address seen on ``port``."""
        with self._cond:
            return self._ports[port].peer

    @property
    def pending(self) -> int:
        """Datagrams waiting for their departure time."""
        with self._cond:
            return len(self._queue)

    def wait_until(self, predicate: Callable[[UdpRelay], bool], timeout: float) -> bool:
        """Wait until ``predicate(relay)`` holds (checked after each relay step)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._cond:
                self._cond.wait(min(left, 0.05))

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        try:
            while self._running:
                with self._cond:
                    timeout = max(0.0, self._queue[0][0] - time.monotonic()) if self._queue else 0.5
                for key, _ in self._sel.select(timeout):
                    if key.data is None:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                        continue
                    self._receive(key.data)
                self._send_due()
                with self._cond:
                    self._cond.notify_all()
        except BaseException as exc:  # keep it for the test to see; never die silently
            self.error = exc
            with self._cond:
                self._cond.notify_all()

    def _receive(self, p: _Port) -> None:
        assert p.sock is not None
        for _ in range(256):
            try:
                data, src = p.sock.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError:  # e.g. ICMP port unreachable from an earlier send
                continue
            now = time.monotonic()
            with self._cond:
                if src == (self.private_host, p.port):
                    direction = p.dirs[TO_PEER]
                    name, dest = TO_PEER, p.peer
                else:
                    p.peer = (src[0], src[1])
                    direction = p.dirs[TO_GATEWAY]
                    name, dest = TO_GATEWAY, (self.private_host, p.port)
                direction.stats.received += 1
                direction.stats.bytes += len(data)
                if dest is None:
                    direction.stats.unroutable += 1
                    continue
                for due in direction.plan(now):
                    heapq.heappush(
                        self._queue, (due, next(self._order), p.sock, data, dest, name, p.port)
                    )

    def _send_due(self) -> None:
        now = time.monotonic()
        with self._cond:  # sends under the lock: pending == 0 means every count is final
            while self._queue and self._queue[0][0] <= now:
                _, _, sock, data, dest, name, port = heapq.heappop(self._queue)
                stats = self._ports[port].dirs[name].stats
                try:
                    sock.sendto(data, dest)
                    stats.forwarded += 1
                except OSError:
                    stats.errors += 1
