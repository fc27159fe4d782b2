"""UDP sockets for one call's RTP and RTCP (RTP port + 1, or the RTP port with rtcp-mux)."""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
import time

from media.ports import PortAllocator
from media.session import MediaSession, deliverable

__all__ = ["RtpEndpoint", "open_rtp_endpoint"]


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: RtpEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        session = self.endpoint.session
        if session is not None:
            session.receive(data, addr[:2], self.endpoint.loop.time())

    def error_received(self, exc: Exception) -> None:
        self.endpoint.icmp_errors += 1  # e.g. the peer's port closed: keep going


class _RtcpProtocol(asyncio.DatagramProtocol):
    """The RTCP port: the peer's reports go to the session (and never to another call)."""

    def __init__(self, endpoint: RtpEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        endpoint = self.endpoint
        endpoint.rtcp_packets += 1
        session = endpoint.session
        if session is None:
            return
        # Only the host our RTP goes to may report on this call (the session checks);
        # our reports then go back to where its reports come from (symmetric RTCP).
        if session.receive_rtcp(data, endpoint.loop.time(), addr[:2]):
            endpoint.rtcp_remote = addr[:2]

    def error_received(self, exc: Exception) -> None:
        self.endpoint.icmp_errors += 1


class RtpEndpoint:
    """One call's RTP socket pair; attach a :class:`MediaSession` once negotiated."""

    def __init__(self, loop: asyncio.AbstractEventLoop, port: int) -> None:
        self.loop = loop
        self.port = port
        self.session: MediaSession | None = None
        self.rtp: asyncio.DatagramTransport | None = None
        self.rtcp: asyncio.DatagramTransport | None = None
        self.icmp_errors = 0
        self.rtcp_packets = 0
        self.rtcp_remote: tuple[str, int] | None = None
        """Where the peer's RTCP comes from; our reports go there once known."""
        self._wall_offset = time.time() - loop.time()

    def send(self, packets: list[bytes]) -> None:
        """Send packets to the session's current remote address."""
        rtp, session = self.rtp, self.session
        if rtp is None or session is None:
            return
        remote = session.remote
        if not deliverable(remote):
            return  # never to 0.0.0.0 (this host, for Linux) or port 0
        for packet in packets:
            rtp.sendto(packet, remote)

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
        rtp, session = self.rtp, self.session
        if rtp is None or session is None:
            return
        if deliverable(session.remote):
            rtp.sendto(b"\x00", session.remote)

    def send_rtcp(self, now: float) -> None:
        """Send our RTCP report when one is due: on the RTP port with rtcp-mux, else port + 1."""
        rtp, rtcp, session = self.rtp, self.rtcp, self.session
        if rtp is None or rtcp is None or session is None:
            return
        if now < session.rtcp.next_report:
            return  # the common case, every tick: nothing due (MediaSession.rtcp_report's test)
        target = session.rtcp_destination(self.rtcp_remote)
        if target is None:
            return  # on hold with c=0.0.0.0: nowhere (never this host's own port + 1)
        session.rtcp.wall_offset = self._wall_offset
        report = session.rtcp_report(now)
        if report is None:
            return
        (rtp if session.params.rtcp_mux else rtcp).sendto(report, target)

    def close(self) -> None:
        """Close both sockets."""
        for transport in (self.rtp, self.rtcp):
            if transport is not None:
                transport.close()
        self.rtp = self.rtcp = None
        self.session = None


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
    bind: str, ports: PortAllocator, attempts: int = 8
) -> RtpEndpoint | None:
    """Bind an RTP/RTCP port pair from the allocator; None when none can be had.

    Ports another process holds are skipped (the machine may be shared).
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
        endpoint.rtp, _ = await loop.create_datagram_endpoint(
            functools.partial(_RtpProtocol, endpoint), sock=rtp
        )
        endpoint.rtcp, _ = await loop.create_datagram_endpoint(
            functools.partial(_RtcpProtocol, endpoint), sock=rtcp
        )
        return endpoint
    return None
