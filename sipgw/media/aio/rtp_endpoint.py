"""UDP sockets for one call's RTP and RTCP (RTP port + 1, or the RTP port with rtcp-mux).

Two ways to read them, the same to everything above:

- each socket an asyncio datagram endpoint, one callback a datagram (the pure-Python
  path, and wherever the native build is not there);
- every call's sockets read together by :class:`~sipgw.media.aio.rtp_batch.BatchedRtp`
  (epoll and recvmmsg in ``sipgw.media._rtpio``, at each tick and when datagrams wait), which
  hands them to the sessions through :class:`~sipgw.media.demux.Demux` (the native path).

Either way the datagrams reach :class:`~sipgw.media.session.MediaSession` alike, and what the
session sends goes out through :meth:`RtpEndpoint.send` and :meth:`RtpEndpoint.send_rtcp`.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from sipgw.media.demux import MediaPorts
from sipgw.media.ports import PortAllocator
from sipgw.media.session import MediaSession, deliverable

if TYPE_CHECKING:
    from sipgw.media.aio.rtp_batch import BatchedRtp
    from sipgw.media.aio.shared_rtp import SharedRtp
    from sipgw.media.shared_port import Claim

__all__ = ["RtpEndpoint", "open_rtp_endpoint"]

Address = tuple[str, int]

WAITING_MAX: Final = 256
"""Datagrams :meth:`RtpEndpoint.read_waiting` takes from a socket at most (5 s of one
call's 20 ms packets): a flood does not hold the event loop."""


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: RtpEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        session = self.endpoint.ports.session
        if session is not None:
            session.receive(data, addr[:2], self.endpoint.loop.time())

    def error_received(self, exc: Exception) -> None:
        self.endpoint.icmp_errors += 1  # e.g. the peer's port closed: keep going


class _RtcpProtocol(asyncio.DatagramProtocol):
    """The RTCP port: the peer's reports go to the session (and never to another call)."""

    def __init__(self, endpoint: RtpEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.endpoint.ports.rtcp_received(data, self.endpoint.loop.time(), addr[:2])

    def error_received(self, exc: Exception) -> None:
        self.endpoint.icmp_errors += 1


class RtpEndpoint:
    """One call's RTP socket pair; attach a :class:`MediaSession` once negotiated.

    Attributes:
        ports: the session and the RTCP port's state, as the datagrams' reader sees them.
        icmp_errors: send and receive errors (ICMP port unreachable, a full buffer, ...).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, port: int) -> None:
        self.loop = loop
        self.port = port
        self.ports = MediaPorts()
        self.rtp: asyncio.DatagramTransport | None = None
        self.rtcp: asyncio.DatagramTransport | None = None
        self.icmp_errors = 0
        self._wall_offset = time.time() - loop.time()
        self._batched: BatchedRtp | None = None
        self._token = -1
        self._rtp_sock: socket.socket | None = None
        self._rtcp_sock: socket.socket | None = None
        self._rtp_fd = self._rtcp_fd = -1
        self._native_sendto: Callable[[int, bytes, str, int], int] | None = None
        self.shared: SharedRtp | None = None
        """The shared port this call is on (media/aio/shared_rtp.py); None: its own ports."""
        self._claim: Claim | None = None
        self._asyncio_rtp: socket.socket | None = None  # its RTP socket, read by asyncio

    # The session and the RTCP port's state live in ``ports``, where either reader finds them.

    @property
    def session(self) -> MediaSession | None:
        return self.ports.session

    @session.setter
    def session(self, session: MediaSession | None) -> None:
        self.ports.session = session
        self.session_changed()

    @property
    def rtcp_packets(self) -> int:
        """Datagrams received on the RTCP port."""
        return self.ports.rtcp_packets

    @property
    def rtcp_remote(self) -> Address | None:
        """Where the peer's RTCP comes from; our reports go there once known."""
        return self.ports.rtcp_remote

    def bound_ports(self) -> tuple[int, int]:
        """The RTP and RTCP sockets' bound ports, as the kernel has them (0: closed)."""
        found = []
        for sock, transport in ((self._rtp_sock, self.rtp), (self._rtcp_sock, self.rtcp)):
            if sock is not None:
                found.append(int(sock.getsockname()[1]))
            elif transport is not None:
                found.append(int(transport.get_extra_info("sockname")[1]))
            else:
                found.append(0)
        return found[0], found[1]

    def send(self, packets: list[bytes]) -> None:
        """Send packets to the session's current remote address."""
        session = self.ports.session
        if session is None:
            return
        if not session.remote_deliverable():
            return  # never to 0.0.0.0 (this host, for Linux) or port 0
        remote = session.remote
        sendto = self._native_sendto
        if sendto is not None:
            fd = self._rtp_fd
            host = remote[0]
            port = remote[1]
            for packet in packets:
                if sendto(fd, packet, host, port):
                    self.icmp_errors += 1  # a full buffer, an earlier ICMP error: counted
            return
        rtp = self.rtp
        if rtp is not None:
            for packet in packets:
                rtp.sendto(packet, remote)

    def _send(self, which: str, data: bytes, remote: Address) -> None:
        sendto = self._native_sendto
        if sendto is not None:
            fd = self._rtp_fd if which == "rtp" else self._rtcp_fd
            if sendto(fd, data, remote[0], remote[1]):
                self.icmp_errors += 1
            return
        transport = self.rtp if which == "rtp" else self.rtcp
        if transport is not None:
            transport.sendto(data, remote)

    def open_mapping(self) -> None:
        """One octet (a NUL) to the session's remote address, as the call is answered.

        It is no RTP (nothing is sent before the ACK, see media/liveness.py), only what
        makes our NAT, if we are behind one, map our RTP port to the same public port
        before the caller learns it. Were the caller's first RTP to reach the NAT first, a
        Linux NAT would keep that packet's (refused) connection entry and give our stream
        another public port: the caller's audio would never get in. A keep-alive of NULs
        is what RTP stacks drop quietly (Asterisk says so in its RTP reader); an empty
        datagram, RFC 6263 §4.1's, asyncio does not send. Nothing for an address on hold
        (port 0 or ``0.0.0.0``).
        """
        session = self.ports.session
        if session is None or not self.is_open:
            return
        if deliverable(session.remote):
            self._send("rtp", b"\x00", session.remote)

    @property
    def is_open(self) -> bool:
        return self._rtp_sock is not None or self.rtp is not None

    def send_rtcp(self, now: float) -> None:
        """Send our RTCP report when one is due: on the RTP port with rtcp-mux, else port + 1."""
        session = self.ports.session
        if session is None:
            return
        if now < session.rtcp.next_report:
            return  # the common case, every tick: nothing due (MediaSession.rtcp_report's test)
        if not self.is_open:
            return
        target = session.rtcp_destination(self.ports.rtcp_remote)
        if target is None:
            return  # on hold with c=0.0.0.0: nowhere (never this host's own port + 1)
        session.rtcp.wall_offset = self._wall_offset
        report = session.rtcp_report(now)
        if report is None:
            return
        self._send("rtp" if session.params.rtcp_mux else "rtcp", report, target)

    def close(self) -> None:
        """Close both sockets (on the shared port: leave it; its sockets stay open)."""
        own = self.shared is None
        if own:
            for transport in (self.rtp, self.rtcp):
                if transport is not None:
                    transport.close()
        self.rtp = self.rtcp = None
        if self.shared is not None and self._claim is not None:
            self.shared.port.detach(self._claim)  # its addresses free (and unrouted)
        if self._batched is not None:
            self._batched.detach(self._token)  # on the shared port: a slot without sockets
            self._batched = None
        self.shared = self._claim = None
        if own:
            for sock in (self._rtp_sock, self._rtcp_sock):
                if sock is not None:
                    sock.close()
        self._rtp_sock = self._rtcp_sock = self._asyncio_rtp = None
        self._rtp_fd = self._rtcp_fd = -1
        self._native_sendto = None
        self.ports.session = None

    def read_in_batches(self, batched: BatchedRtp, rtp: socket.socket, rtcp: socket.socket) -> None:
        """Hand the bound sockets to the batched reader (the native path)."""
        self._send_through(batched, rtp, rtcp)
        self._token = batched.attach(self.ports, rtp, rtcp)

    def join_shared(self, shared: SharedRtp) -> None:
        """Be a call on the shared port: its datagrams come through ``shared``'s tables,
        ours leave from its sockets."""
        self.shared = shared
        batched = shared.batched
        if batched is not None:
            self._send_through(batched, shared.rtp_sock, shared.rtcp_sock)
            # held during a tick and sent at its end, every call's in one sendmmsg
            self._native_sendto = batched.poller.send
            self._claim = batched.attach_shared(self.ports)
            self._token = self._claim.token
        else:
            self._claim = shared.port.attach(self.ports)
            self.rtp, self.rtcp = shared.rtp, shared.rtcp

    def _send_through(self, batched: BatchedRtp, rtp: socket.socket, rtcp: socket.socket) -> None:
        """Send from these sockets with the batched reader's direct ``sendto``."""
        self._rtp_sock, self._rtcp_sock = rtp, rtcp
        self._rtp_fd, self._rtcp_fd = rtp.fileno(), rtcp.fileno()
        self._native_sendto = batched.sendto
        self._batched = batched

    def read_waiting(self, now: float) -> None:
        """Hand the sessions the RTP datagrams already waiting, now, before a
        re-negotiation is applied: what came before a hold or a resume is heard as before
        it. The SIP message can be read first: RTP is read at the ticks and every
        ``window`` between them (the native path), or one datagram an event-loop callback.
        """
        batched = self._batched
        if batched is not None:  # every call's sockets, the shared port's too
            batched.drain(now)
            return
        shared = self.shared
        if shared is not None:
            port = shared.port
            _read_waiting(shared.rtp_sock, port.receive, now)
        elif self._asyncio_rtp is not None:
            _read_waiting(self._asyncio_rtp, self._receive, now)

    def _receive(self, data: bytes, source: Address, now: float) -> None:
        session = self.ports.session
        if session is not None:
            session.receive(data, source, now)

    def session_changed(self) -> None:
        """The session was set, or a re-negotiation moved its address: on the shared port,
        its addresses are taken now, before its first datagram from there."""
        if self.shared is not None and self._claim is not None:
            self.shared.port.rekey(self._claim)

    async def read_with_asyncio(self, rtp: socket.socket, rtcp: socket.socket) -> None:
        """One asyncio datagram endpoint a socket (the pure-Python path)."""
        self.rtp, _ = await self.loop.create_datagram_endpoint(
            functools.partial(_RtpProtocol, self), sock=rtp
        )
        self._asyncio_rtp = rtp
        self.rtcp, _ = await self.loop.create_datagram_endpoint(
            functools.partial(_RtcpProtocol, self), sock=rtcp
        )


def _read_waiting(
    sock: socket.socket, receive: Callable[[bytes, Address, float], None], now: float
) -> None:
    """What a non-blocking socket holds, to ``receive``, up to :data:`WAITING_MAX`."""
    for _ in range(WAITING_MAX):
        try:
            data, source = sock.recvfrom(65535)
        except ConnectionError:
            continue  # an earlier send's ICMP error, reported on this read: read on
        except OSError:  # nothing waits (EAGAIN), or the socket is closed
            return
        receive(data, (source[0], source[1]), now)


def _bind_udp(bind: str, port: int, family: socket.AddressFamily) -> socket.socket | None:
    """A bound non-blocking UDP socket, or None when the port is taken.

    We bind ourselves rather than through ``create_datagram_endpoint(local_addr=)``:
    under uvloop that path reports a taken port without an errno.
    """
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((bind, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            return None
        raise
    sock.setblocking(False)
    return sock


async def open_rtp_endpoint(
    bind: str, ports: PortAllocator, attempts: int = 8, batched: BatchedRtp | None = None
) -> RtpEndpoint | None:
    """Bind an RTP/RTCP port pair from the allocator; None when none can be had.

    Ports another process holds are skipped (the machine may be shared). With
    ``batched``, the sockets are read by it; else by asyncio, one endpoint each.
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    for _ in range(attempts):
        port = ports.allocate()
        if port is None:
            return None
        rtp = _bind_udp(bind, port, family)
        rtcp = _bind_udp(bind, port + 1, family) if rtp is not None else None
        if rtp is None or rtcp is None:
            if rtp is not None:
                rtp.close()
            ports.quarantine(port)
            continue
        endpoint = RtpEndpoint(loop, port)
        if batched is not None:
            endpoint.read_in_batches(batched, rtp, rtcp)
        else:
            await endpoint.read_with_asyncio(rtp, rtcp)
        return endpoint
    return None
