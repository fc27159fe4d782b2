"""SIP over UDP: one socket, datagrams in and out (RFC 3261 §18)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import cast

from sipgw.aio.sourcelog import SourceLog
from sipgw.sip.addressing import Flow, is_ip
from sipgw.sip.limits import MAX_DATAGRAM_SIZE

__all__ = [
    "RECEIVE_BUFFER",
    "SO_RCVBUFFORCE",
    "UdpSocket",
    "bind_udp",
    "is_ip",
    "receive_buffer_warning",
]

log = logging.getLogger("sipgw.sip")


RECEIVE_BUFFER = 4 << 20
"""Octets of receive buffer asked for the SIP socket (Linux doubles it for its bookkeeping).
Linux charges a datagram its allocation, not its length: about 1.3 KiB for a 300-octet one
on loopback, 61 KiB for a 60 KB one, so the 8 MiB given hold about 6,500 small requests or
about 140 datagrams near the UDP limit. A datagram that finds the buffer full is lost,
whoever sent it: under a flood, the buffer is what carries the gateway over a stall.
Above ``net.core.rmem_max`` it takes ``SO_RCVBUFFORCE`` (root, or ``CAP_NET_ADMIN``);
without either, the kernel gives twice ``rmem_max`` (the warning at start says so)."""

SO_RCVBUFFORCE = int(getattr(socket, "SO_RCVBUFFORCE", 33))  # the Linux value


def bind_udp(bind: str, port: int) -> socket.socket:
    """A bound UDP socket with a large receive buffer (:data:`RECEIVE_BUFFER`)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
                break
            except OSError:
                continue  # not privileged: as much as net.core.rmem_max allows
        sock.bind((bind, port))
    except OSError:
        sock.close()
        raise
    return sock


def receive_buffer_warning(sock: socket.socket) -> str | None:
    """What to tell the operator when the kernel gave the SIP socket less than asked."""
    given = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if given >= 2 * RECEIVE_BUFFER:
        return None
    return (
        f"SIP UDP receive buffer {given // 1024} KiB of {2 * RECEIVE_BUFFER // 1024} KiB asked: "
        "under a flood, datagrams from every peer are lost sooner; raise it with "
        f"sysctl net.core.rmem_max={RECEIVE_BUFFER} (or give the gateway CAP_NET_ADMIN)"
    )


class UdpSocket(asyncio.DatagramProtocol):
    """The SIP UDP socket: hands each datagram to ``on_datagram``; sends to flows.

    Host names in flows are resolved once (A/AAAA, no SRV) and cached.

    Args:
        on_datagram: called with the bytes and their :class:`Flow`.
    """

    def __init__(self, on_datagram: Callable[[bytes, Flow], None]) -> None:
        self.on_datagram = on_datagram
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.DatagramTransport | None = None
        self._resolved: dict[str, str] = {}
        self._resolving: set[asyncio.Task[None]] = set()
        self.oversized = 0
        """Datagrams over MAX_DATAGRAM_SIZE, dropped unparsed."""
        self.warnings = SourceLog(log)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport implements the interface without subclassing it.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > MAX_DATAGRAM_SIZE:
            self.oversized += 1
            self.warnings.warn(
                addr[0], self.loop.time(), "udp from %s:%d: %d-octet datagram dropped",
                addr[0], addr[1], len(data),
            )  # fmt: skip
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("recv udp:%s:%d %s", addr[0], addr[1], data.split(b"\r\n", 1)[0][:100])
        self.on_datagram(data, Flow("UDP", (addr[0], addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)  # ICMP unreachable etc.; transactions time out

    def send(self, data: bytes, flow: Flow) -> None:
        """Send one datagram to ``flow.address``."""
        if self.transport is None or self.transport.is_closing():
            return
        host, port = flow.address
        if not is_ip(host):
            resolved = self._resolved.get(host)
            if resolved is None:
                task = self.loop.create_task(self._resolve_and_send(data, host, port))
                self._resolving.add(task)
                task.add_done_callback(self._resolving.discard)
                return
            host = resolved
        if log.isEnabledFor(logging.DEBUG):
            log.debug("send udp:%s:%d %s", host, port, data.split(b"\r\n", 1)[0][:100])
        self.transport.sendto(data, (host, port))

    async def _resolve_and_send(self, data: bytes, host: str, port: int) -> None:
        try:
            family = socket.AF_INET
            if self.transport is not None:
                sock = self.transport.get_extra_info("socket")
                family = sock.family if sock is not None else family
            infos = await self.loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
        except OSError as exc:
            log.warning("cannot resolve %s: %s", host, exc)
            return
        self._resolved[host] = str(infos[0][4][0])
        self.send(data, Flow("UDP", (self._resolved[host], port)))

    def close(self) -> None:
        """Close the socket."""
        if self.transport is not None:
            self.transport.close()
