"""The shared RTP port's two sockets (``SIPGW_RTP_SHARED_PORT``), read for every call.

:class:`~sipgw.media.shared_port.SharedPort` decides whose call each datagram is; this binds its
RTP port and the RTCP port above it, with a receive buffer sized for every call's tick
(:data:`RECEIVE_BUFFER`), and reads them the way the gateway reads: through the batched
reader on the native path (media/aio/rtp_batch.py), else as two asyncio datagram
endpoints. Each call on it is an :class:`~sipgw.media.aio.rtp_endpoint.RtpEndpoint` that
:meth:`~sipgw.media.aio.rtp_endpoint.RtpEndpoint.join_shared` it and sends from its sockets.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

from sipgw.media.shared_port import SharedPort

if TYPE_CHECKING:
    from sipgw.media.aio.rtp_batch import BatchedRtp

__all__ = ["RECEIVE_BUFFER", "SEND_BUFFER", "SharedRtp", "open_shared_rtp"]

RECEIVE_BUFFER = 8 << 20
"""Octets of receive buffer asked for each shared socket: a tick of 1,000 calls is 1,000
datagrams, each charged about 1 KiB of buffer by Linux (the default 208 KiB holds about
270; a datagram that finds the buffer full is lost). Above ``net.core.rmem_max`` it
takes ``SO_RCVBUFFORCE`` (root, or ``CAP_NET_ADMIN``); :attr:`SharedRtp.receive_buffer`
is what the kernel gave."""

SEND_BUFFER = 4 << 20
"""Octets of send buffer asked for each shared socket: every call's packet of a tick
leaves from it at once (one ``sendmmsg`` on the native path), each charged about 1 KiB
until the network device has sent it; the default 208 KiB would refuse a tick of a few
hundred calls on a real interface (loopback frees a datagram's charge at once).
``SO_SNDBUFFORCE`` above ``net.core.wmem_max``, as for the receive buffer."""

SO_RCVBUFFORCE = int(getattr(socket, "SO_RCVBUFFORCE", 33))  # the Linux values
SO_SNDBUFFORCE = int(getattr(socket, "SO_SNDBUFFORCE", 32))


class _Protocol(asyncio.DatagramProtocol):
    """One shared socket read by asyncio (the pure-Python path)."""

    def __init__(self, shared: SharedRtp, rtcp: bool) -> None:
        self.shared = shared
        self.rtcp = rtcp

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        port = self.shared.port
        if self.rtcp:
            port.receive_rtcp(data, self.shared.loop.time(), addr[:2])
        else:
            port.receive(data, addr[:2], self.shared.loop.time())

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error of an earlier send: no call to count it on, keep reading


class SharedRtp:
    """The shared port's sockets and tables.

    Attributes:
        port: the tables (whose call each datagram is) and their counters.
        receive_buffer: each socket's receive buffer as the kernel gave it, octets.
        send_buffer: the same of the send buffer.
        batched: the batched reader on the native path; None on the pure-Python path,
            where :attr:`rtp` and :attr:`rtcp` are the asyncio transports.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        port: int,
        rtp_sock: socket.socket,
        rtcp_sock: socket.socket,
    ) -> None:
        self.loop = loop
        self.port = SharedPort(port)
        self.rtp_sock = rtp_sock
        self.rtcp_sock = rtcp_sock
        self.receive_buffer = int(rtp_sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        self.send_buffer = int(rtp_sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
        self.batched: BatchedRtp | None = None
        self.rtp: asyncio.DatagramTransport | None = None
        self.rtcp: asyncio.DatagramTransport | None = None

    def close(self) -> None:
        """Close both sockets (every call on them has left)."""
        for transport in (self.rtp, self.rtcp):
            if transport is not None:
                transport.close()
        self.rtp = self.rtcp = None
        self.rtp_sock.close()
        self.rtcp_sock.close()


def _bind(bind: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((bind, port))
        sock.setblocking(False)
        for forced, plain, size in (
            (SO_RCVBUFFORCE, socket.SO_RCVBUF, RECEIVE_BUFFER),
            (SO_SNDBUFFORCE, socket.SO_SNDBUF, SEND_BUFFER),
        ):
            for option in (forced, plain):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, size)
                    break
                except OSError:
                    continue  # not root: as much as net.core.[rw]mem_max allows
    except OSError:
        sock.close()
        raise
    return sock


async def open_shared_rtp(bind: str, port: int, batched: BatchedRtp | None) -> SharedRtp:
    """Bind the shared RTP port and the RTCP port above it and start reading them.

    Raises:
        OSError: either port cannot be bound (taken, or not ours to bind).
    """
    loop = asyncio.get_running_loop()
    rtp = _bind(bind, port)
    try:
        rtcp = _bind(bind, port + 1)
    except OSError:
        rtp.close()
        raise
    shared = SharedRtp(loop, port, rtp, rtcp)
    if batched is not None:
        shared.batched = batched
        batched.share(shared.port, rtp, rtcp)
    else:
        shared.rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(shared, False), sock=rtp
        )
        shared.rtcp, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(shared, True), sock=rtcp
        )
    return shared
