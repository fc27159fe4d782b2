"""The SIP UDP socket (sipgw.aio.udp): datagrams in and out on a real loopback socket."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipgw.aio.udp import (
    RECEIVE_BUFFER,
    SO_RCVBUFFORCE,
    UdpSocket,
    bind_udp,
    receive_buffer_warning,
)
from sipgw.sip.addressing import Flow
from sipgw.sip.limits import MAX_DATAGRAM_SIZE

pytestmark = pytest.mark.timeout(30)


class Opened:
    """Our UdpSocket on a free loopback port, what it handed on, and a peer socket."""

    def __init__(self, protocol: UdpSocket, received: list[tuple[bytes, Flow]]) -> None:
        self.protocol = protocol
        self.received = received
        assert protocol.transport is not None
        self.port: int = protocol.transport.get_extra_info("sockname")[1]
        self.peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.peer.bind(("127.0.0.1", 0))
        self.peer.settimeout(5.0)
        self.peer_port: int = self.peer.getsockname()[1]


@pytest.fixture
async def opened() -> AsyncIterator[Opened]:
    received: list[tuple[bytes, Flow]] = []
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(
        lambda: UdpSocket(lambda data, flow: received.append((data, flow))),
        sock=bind_udp("127.0.0.1", 0),
    )
    it = Opened(protocol, received)
    yield it
    protocol.close()
    it.peer.close()


async def until(condition: object, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _may_force_buffers() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 16)
        except PermissionError:
            return False
    return True


def test_bind_udp_asks_for_a_large_receive_buffer() -> None:
    sock = bind_udp("127.0.0.1", 0)
    try:
        assert sock.type == socket.SOCK_DGRAM and sock.getsockname()[1] > 0
        # Linux doubles the 4 MiB asked for its bookkeeping; unprivileged, it caps the ask
        # at net.core.rmem_max first (and the gateway warns at start).
        rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
        asked = RECEIVE_BUFFER if _may_force_buffers() else min(RECEIVE_BUFFER, rmem_max)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * asked
        assert (receive_buffer_warning(sock) is None) == (asked == RECEIVE_BUFFER)
    finally:
        sock.close()


def test_a_small_receive_buffer_is_reported_with_the_setting_that_raises_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 200_000)
        warning = receive_buffer_warning(sock)
    assert warning is not None and "390 KiB of 8192 KiB" in warning
    assert f"net.core.rmem_max={RECEIVE_BUFFER}" in warning


def test_bind_udp_raises_on_a_taken_port_and_leaks_nothing() -> None:
    taken = bind_udp("127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            bind_udp("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


async def test_datagrams_are_handed_on_with_their_flow(opened: Opened) -> None:
    opened.peer.sendto(b"OPTIONS sip:gw SIP/2.0\r\n\r\n", ("127.0.0.1", opened.port))
    await until(lambda: opened.received)
    assert opened.received == [
        (b"OPTIONS sip:gw SIP/2.0\r\n\r\n", Flow("UDP", ("127.0.0.1", opened.peer_port)))
    ]


async def test_an_oversized_datagram_is_dropped_unparsed_with_one_line_per_source(
    opened: Opened, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sipgw.sip"):
        for _ in range(3):
            opened.protocol.datagram_received(b"x" * (MAX_DATAGRAM_SIZE + 1), ("192.0.2.9", 5060))
    assert opened.protocol.oversized == 3 and not opened.received
    warned = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert warned == [f"udp from 192.0.2.9:5060: {MAX_DATAGRAM_SIZE + 1}-octet datagram dropped"]


async def test_send_reaches_the_flows_address(opened: Opened) -> None:
    opened.protocol.send(b"SIP/2.0 200 OK\r\n\r\n", Flow("UDP", ("127.0.0.1", opened.peer_port)))
    data, source = await asyncio.to_thread(opened.peer.recvfrom, 2048)
    assert data == b"SIP/2.0 200 OK\r\n\r\n" and source == ("127.0.0.1", opened.port)


async def test_a_host_name_is_resolved_once_and_cached(opened: Opened) -> None:
    flow = Flow("UDP", ("localhost", opened.peer_port))
    opened.protocol.send(b"first", flow)
    assert await asyncio.to_thread(opened.peer.recv, 2048) == b"first"
    assert opened.protocol._resolved == {"localhost": "127.0.0.1"}
    opened.protocol.send(b"second", flow)  # from the cache: sent at once, no task
    assert not opened.protocol._resolving
    assert await asyncio.to_thread(opened.peer.recv, 2048) == b"second"


async def test_a_name_that_does_not_resolve_is_logged_and_nothing_is_sent(
    opened: Opened, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sipgw.sip"):
        opened.protocol.send(b"lost", Flow("UDP", ("no-such-host.invalid", opened.peer_port)))
        await until(lambda: not opened.protocol._resolving, within=20.0)  # a resolver's retries
    assert any("cannot resolve no-such-host.invalid" in r.getMessage() for r in caplog.records)
    assert "no-such-host.invalid" not in opened.protocol._resolved


async def test_nothing_is_sent_once_closed(opened: Opened) -> None:
    opened.protocol.close()
    opened.protocol.send(b"late", Flow("UDP", ("127.0.0.1", opened.peer_port)))
    opened.peer.settimeout(0.2)
    with pytest.raises(TimeoutError):
        opened.peer.recv(2048)
