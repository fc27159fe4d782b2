"""The shared RTP port's sockets (sipgw.media.aio.shared_rtp): bound, sized, read, closed."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from sipgw.app.evaluation.ports import free_port_range
from sipgw.media.aio.rtp_endpoint import RtpEndpoint
from sipgw.media.aio.shared_rtp import open_shared_rtp
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


async def test_both_ports_are_bound_with_a_large_receive_buffer_and_read_for_the_calls() -> None:
    port = free_port_range(2).lo
    shared = await open_shared_rtp("127.0.0.1", port, None)  # the asyncio reader
    peer = _udp()
    try:
        assert shared.rtp_sock.getsockname()[1] == port
        assert shared.rtcp_sock.getsockname()[1] == port + 1
        assert shared.receive_buffer > 1 << 20  # far above Linux's default of 208 KiB
        loop = asyncio.get_running_loop()
        endpoint = RtpEndpoint(loop, port)
        endpoint.join_shared(shared)
        endpoint.session = session = MediaSession(
            StreamParams(remote=("127.0.0.1", peer.getsockname()[1])), now=loop.time()
        )
        peer.sendto(RtpPacket(0, 1, 160, 9, True, bytes(160)).serialize(), ("127.0.0.1", port))
        stranger = _udp()
        stranger.sendto(RtpPacket(0, 1, 160, 5, True, bytes(160)).serialize(), ("127.0.0.1", port))
        stranger.close()
        for _ in range(100):
            if session.stats.packets_in and shared.port.unknown:
                break
            await asyncio.sleep(0.01)
        assert session.stats.packets_in == 1 and shared.port.unknown == 1
        assert endpoint.bound_ports() == (port, port + 1)
        endpoint.close()  # leaves the port; the sockets stay open for the other calls
        assert len(shared.port) == 0 and shared.rtp is not None
    finally:
        peer.close()
        shared.close()
    again = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    again.bind(("127.0.0.1", port))  # closed: free again
    again.close()


async def test_what_waits_on_the_shared_port_is_read_at_once() -> None:
    """``read_waiting`` on the asyncio reader of the shared port: what its socket holds
    reaches the call whose address it came from, without a turn of the event loop."""
    port = free_port_range(2).lo
    shared = await open_shared_rtp("127.0.0.1", port, None)
    peer = _udp()
    try:
        loop = asyncio.get_running_loop()
        endpoint = RtpEndpoint(loop, port)
        endpoint.join_shared(shared)
        endpoint.session = session = MediaSession(
            StreamParams(remote=("127.0.0.1", peer.getsockname()[1])), now=loop.time()
        )
        for seq in range(3):
            packet = RtpPacket(0, seq, seq * 160, 9, seq == 0, bytes(160)).serialize()
            peer.sendto(packet, ("127.0.0.1", port))
        time.sleep(0.05)  # noqa: ASYNC251 - queued in the socket; the loop must not run meanwhile
        assert session.stats.packets_in == 0
        endpoint.read_waiting(loop.time())
        assert session.stats.packets_in == 3
        endpoint.close()
    finally:
        peer.close()
        shared.close()


async def test_a_taken_port_is_an_error_that_leaves_nothing_bound() -> None:
    port = free_port_range(2).lo
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", port + 1))
    try:
        with pytest.raises(OSError):
            await open_shared_rtp("127.0.0.1", port, None)
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", port))  # the RTP socket it bound first was closed again
        rtp.close()
    finally:
        holder.close()
