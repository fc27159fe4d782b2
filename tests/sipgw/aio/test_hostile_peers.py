"""Hostile peers on loopback: slow senders, connection caps, stalled TLS handshakes, big UDP."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator

import pytest

from sipgw.aio.endpoint import SipEndpoint
from sipgw.aio.sourcelog import SourceLog
from sipgw.limits import MAX_DATAGRAM_SIZE
from sipgw.message import SipResponse, parse_message
from tests.sipgw.aio.test_stream import Peer, options, port_of, start
from tests.tls_ca import CaFiles, make_test_ca

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CaFiles:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
async def opened() -> AsyncIterator[list[SipEndpoint]]:
    endpoints: list[SipEndpoint] = []
    yield endpoints
    for endpoint in endpoints:
        endpoint.close()
    await asyncio.sleep(0)


async def closed_by_peer(reader: asyncio.StreamReader, wait: float) -> bool:
    """Whether the other side closes the connection within ``wait`` seconds."""
    try:
        while await asyncio.wait_for(reader.read(4096), wait):
            pass
    except (TimeoutError, ConnectionResetError):
        return False
    return True


async def answered(peer: Peer, call_id: str) -> bool:
    peer.send(options("TCP", peer.local_port, call_id=call_id, branch=f"z9hG4bK{call_id}"))
    response = await peer.read()
    return isinstance(response, SipResponse) and response.status == 200


async def test_a_slow_sender_is_disconnected_while_another_peer_is_answered(opened):
    endpoint = await start(opened, message_timeout=1.0)
    port = port_of(endpoint, "TCP")
    slow = await Peer.connect(port)
    fast = await Peer.connect(port)
    message = options("TCP", slow.local_port, call_id="slow")
    started = time.monotonic()

    async def trickle() -> None:
        for octet in message:
            if slow.writer.is_closing():
                return
            slow.send(bytes([octet]))
            await asyncio.sleep(0.2)

    trickling = asyncio.create_task(trickle())
    assert await answered(fast, "fast")  # not stalled by the slow one
    assert await closed_by_peer(slow.reader, 10.0)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 5.0, elapsed
    assert endpoint.streams is not None and endpoint.streams.slow_senders == 1
    assert await answered(fast, "fast-again")
    trickling.cancel()
    slow.close()
    fast.close()


async def test_messages_that_each_arrive_in_time_keep_the_connection(opened):
    endpoint = await start(opened, message_timeout=0.6)
    peer = await Peer.connect(port_of(endpoint, "TCP"))
    for n in range(4):  # 4 x 0.3 s > the bound: the clock restarts with each message
        message = options("TCP", peer.local_port, call_id=f"c{n}", branch=f"z9hG4bKc{n}")
        peer.send(message[:20])
        await asyncio.sleep(0.3)
        peer.send(message[20:])
        response = await peer.read()
        assert isinstance(response, SipResponse) and response.status == 200
    assert endpoint.streams is not None and endpoint.streams.slow_senders == 0
    peer.close()


async def test_the_33rd_connection_from_one_address_is_refused(opened):
    endpoint = await start(opened)  # the default cap: 32 per source address
    port = port_of(endpoint, "TCP")
    peers = [await Peer.connect(port) for _ in range(32)]
    assert await answered(peers[-1], "p32")
    extra = await Peer.connect(port)
    assert await closed_by_peer(extra.reader, 5.0)
    assert endpoint.streams is not None and endpoint.streams.refused == 1
    assert await answered(peers[0], "p1")  # the others are unaffected
    peers.pop().close()
    await asyncio.sleep(0.2)
    again = await Peer.connect(port)
    assert await answered(again, "again")  # a freed slot is usable
    for peer in (*peers, extra, again):
        peer.close()


async def test_the_global_connection_cap(opened):
    endpoint = await start(opened, max_connections_per_source=0, max_connections=2)
    port = port_of(endpoint, "TCP")
    first, second = await Peer.connect(port), await Peer.connect(port)
    third = await Peer.connect(port)
    assert await closed_by_peer(third.reader, 5.0)
    assert await answered(first, "a") and await answered(second, "b")
    for peer in (first, second, third):
        peer.close()


async def test_a_stalled_tls_handshake_is_closed(opened, test_ca):
    endpoint = await start(
        opened,
        transports=("TLS",),
        tls_cert=str(test_ca.cert),
        tls_key=str(test_ca.key),
        handshake_timeout=0.5,
    )
    port = port_of(endpoint, "TLS")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # no ClientHello
    started = time.monotonic()
    assert await closed_by_peer(reader, 10.0)
    assert time.monotonic() - started < 5.0
    writer.close()
    peer = await Peer.connect(port, ssl.create_default_context(cafile=str(test_ca.ca_cert)))
    peer.send(options("TLS", peer.local_port))
    response = await peer.read()
    assert isinstance(response, SipResponse) and response.status == 200
    peer.close()


async def test_udp_drops_oversized_datagrams_and_answers_513_to_too_large_messages(opened):
    endpoint = await start(opened)
    udp = endpoint.udp
    assert udp is not None
    udp.datagram_received(b"x" * (MAX_DATAGRAM_SIZE + 1), ("192.0.2.9", 5060))
    assert udp.oversized == 1  # dropped before the parser
    port = port_of(endpoint, "UDP")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    loop = asyncio.get_running_loop()
    request = options("UDP", sock.getsockname()[1]).replace(
        b"Content-Length", b"X-Pad: y\r\n" * 300 + b"Content-Length"
    )
    await loop.sock_sendto(sock, request, ("127.0.0.1", port))
    data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5.0)
    response = parse_message(data)
    assert isinstance(response, SipResponse) and response.status == 513
    sock.close()


def test_source_log_logs_each_address_at_most_once_per_interval(caplog):
    log = logging.getLogger("test.sourcelog")
    warnings = SourceLog(log, interval=60.0, max_sources=2)
    with caplog.at_level(logging.WARNING, logger="test.sourcelog"):
        for n in range(100):
            warnings.warn("198.51.100.1", n * 0.1, "bad %s", "peer")
        warnings.warn("198.51.100.1", 61.0, "bad %s", "peer")
        for host in ("198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"):
            warnings.warn(host, 61.5, "bad %s", host)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[:2] == ["bad peer", "bad peer (+99 more since the last line)"]
    assert lines[2] == "bad 198.51.100.2"
    assert lines[3] == "1 more warnings from other addresses"  # over max_sources
    assert len(lines) == 4
    assert warnings.count == 105
