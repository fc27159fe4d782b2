"""Hostile peers on loopback: slow senders, connection caps, stalled TLS handshakes, big UDP,
and the connection attacks of issue 21 (a forged or foreign source is another 127.x)."""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
import time

import pytest

from sipgw.aio.endpoint import SipEndpoint, TransportConfig, open_sip_endpoint
from sipgw.sip.access import AccessPolicy, AllowList
from sipgw.sip.limits import MAX_DATAGRAM_SIZE
from sipgw.sip.message import SipResponse, parse_message
from sipgw.sip.ratelimit import FloodConfig, FloodGuard, Rate
from sipgw.sip.useragent import UserAgent, UserAgentConfig
from tests.sipgw.aio.test_stream import Peer, invite, options, port_of, start
from tests.sipgw.sip.rfc4475_data import DATA_DIR
from tests.tls_ca import CaFiles, make_test_ca

VALID_RFC4475 = ("esc01", "lwsdisp", "escnull", "intmeth")
"""Valid torture messages (RFC 4475 §3.1.1), one of each rate-limit kind: INVITE, OPTIONS,
REGISTER, other (an unknown method)."""

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CaFiles:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


async def closed_by_peer(reader: asyncio.StreamReader, wait: float) -> bool:
    """Whether the other side closes the connection within ``wait`` seconds: a FIN, or a
    reset (the kernel sends RST instead when the closing side has octets it never read,
    e.g. a slow sender's next one that arrived as the gateway gave up on it)."""
    try:
        while await asyncio.wait_for(reader.read(4096), wait):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


async def answered(peer: Peer, call_id: str) -> bool:
    peer.send(options("TCP", peer.local_port, call_id=call_id, branch=f"z9hG4bK{call_id}"))
    response = await peer.read()
    return isinstance(response, SipResponse) and response.status == 200


async def test_a_slow_sender_is_disconnected_while_another_peer_is_answered(endpoints):
    endpoint = await start(endpoints, message_timeout=1.0)
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


async def test_messages_that_each_arrive_in_time_keep_the_connection(endpoints):
    endpoint = await start(endpoints, message_timeout=0.6)
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


async def test_the_33rd_connection_from_one_address_is_refused(endpoints):
    endpoint = await start(endpoints)  # the default cap: 32 per source address
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


async def test_the_global_connection_cap(endpoints):
    endpoint = await start(endpoints, max_connections_per_source=0, max_connections=2)
    port = port_of(endpoint, "TCP")
    first, second = await Peer.connect(port), await Peer.connect(port)
    third = await Peer.connect(port)
    assert await closed_by_peer(third.reader, 5.0)
    assert await answered(first, "a") and await answered(second, "b")
    for peer in (first, second, third):
        peer.close()


async def test_a_stalled_tls_handshake_is_closed(endpoints, test_ca):
    endpoint = await start(
        endpoints,
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


async def test_udp_drops_oversized_datagrams_and_answers_513_to_too_large_messages(endpoints):
    endpoint = await start(endpoints)
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


# ------------------------------------------------------------------ attacks of issue 21


def make_guarded_ua(ports: dict[str, int], flood: FloodConfig | None = None) -> UserAgent:
    """The test UA with the trunk 127.0.0.1 alone allowed and ``flood``'s limits (default:
    the defaults)."""
    sip_port = ports.get("UDP") or ports.get("TCP") or ports["TLS"]
    config = UserAgentConfig(
        public_host="127.0.0.1", sip_port=sip_port, listeners=tuple(ports.items())
    )
    return UserAgent(
        config, access=AccessPolicy(AllowList.parse(["127.0.0.1"])), flood=FloodGuard(flood)
    )


async def start_guarded(
    endpoints: list[SipEndpoint], flood: FloodConfig | None = None, **settings: object
) -> SipEndpoint:
    config: dict[str, object] = {"bind": "127.0.0.1", "sip_port": 0, "tls_port": 0}
    config.update(settings)
    make_ua = functools.partial(make_guarded_ua, flood=flood)
    endpoint = await open_sip_endpoint(TransportConfig(**config), make_ua, lambda e: None)  # type: ignore[arg-type]
    endpoints.append(endpoint)
    return endpoint


async def connect_from(port: int, source: str) -> Peer:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    return Peer(reader, writer)


async def statuses(peer: Peer, quiet: float = 0.5) -> list[int]:
    out = []
    try:
        while (message := await peer.read(wait=quiet)) is not None:
            assert isinstance(message, SipResponse)
            out.append(message.status)
    except TimeoutError:
        pass
    return out


async def test_32_strangers_with_32_connections_each_leave_the_trunk_its_share(endpoints):
    """Issue 21: the caps ignored the allow list, so 32 addresses locked the trunk out
    (1,024 stranger connections held, the trunk's refused). Now a quarter of the global
    cap is kept for allowed sources."""
    endpoint = await start_guarded(endpoints, transports=("TCP",))  # default caps
    port = port_of(endpoint, "TCP")
    strangers = [
        peer
        for n in range(32)
        for peer in await asyncio.gather(
            *(connect_from(port, f"127.0.2.{n + 1}") for _ in range(32))
        )
    ]
    await asyncio.sleep(0.3)
    assert endpoint.streams is not None
    assert endpoint.streams.refused == 1024 - (1024 - 256)  # 768 held, the rest refused
    trunk = await connect_from(port, "127.0.0.1")
    trunk.send(invite("TCP", trunk.local_port))
    got = await statuses(trunk)
    assert got[:1] == [100], got  # the trunk's call goes through
    for peer in (*strangers, trunk):
        peer.close()


async def test_a_peer_in_its_tls_handshake_counts_against_the_caps(endpoints, test_ca):
    """Issue 21: connections in the TLS handshake were not counted (each held a socket for
    the handshake timeout, unbounded). Now they count from the TCP handshake on."""
    endpoint = await start_guarded(
        endpoints, transports=("TLS",), tls_cert=str(test_ca.cert), tls_key=str(test_ca.key),
        max_connections_per_source=4, handshake_timeout=2.0,
    )  # fmt: skip
    port = port_of(endpoint, "TLS")
    stalled = [await connect_from(port, "127.0.0.6") for _ in range(4)]  # no ClientHello
    fifth = await connect_from(port, "127.0.0.6")
    assert await closed_by_peer(fifth.reader, 1.0)  # over the cap at once, not at the timeout
    for peer in stalled:  # then the handshake timeout closes the four
        assert await closed_by_peer(peer.reader, 5.0)
    assert endpoint.streams is not None and endpoint.streams.handshake_failures == 4
    context = ssl.create_default_context(cafile=str(test_ca.ca_cert))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1", local_addr=("127.0.0.6", 0)
    )  # the slots are free again
    peer = Peer(reader, writer)
    peer.send(options("TLS", peer.local_port))
    response = await peer.read()
    assert isinstance(response, SipResponse) and response.status == 200
    for p in (*stalled, fifth, peer):
        p.close()


async def test_crlf_keepalives_alone_do_not_hold_a_connection_open(endpoints):
    """Issue 21: RFC 5626 pings reset the idle clock, so a connection could be held for
    ever with two bytes a minute. Now only SIP messages do."""
    endpoint = await start_guarded(endpoints, transports=("TCP",), idle_timeout=1.0)
    peer = await connect_from(port_of(endpoint, "TCP"), "127.0.0.7")
    started = time.monotonic()
    closed = False
    while time.monotonic() - started < 5.0 and not closed:
        peer.send(b"\r\n\r\n")
        try:
            closed = not await asyncio.wait_for(peer.reader.read(100), 0.3)
        except TimeoutError:
            pass
        except ConnectionResetError:
            closed = True
    assert closed and time.monotonic() - started < 3.0
    peer.close()


async def test_every_request_over_a_tcp_source_limit_gets_its_503(endpoints):
    """Issue 21: after one 503 a source's further over-limit requests were dropped, also
    over TCP where the handshake proved the source: four valid RFC 4475 requests sent
    over one source's connections got no answer at all. Now each gets a final response.
    Without the RFC 4475 messages (tests/sipgw/sip/rfc4475_data.py), plain valid requests of the
    same four kinds are sent instead."""
    # The default bursts, refilled slowly: at the default rates (20 a second for "other")
    # a loaded machine's pause between the flood and the valid requests refilled a token.
    slow = FloodConfig(
        invite=Rate(0.01, 10), register=Rate(0.01, 5), options=Rate(0.01, 10), other=Rate(0.01, 40)
    )
    endpoint = await start_guarded(endpoints, flood=slow, transports=("TCP",))
    port = port_of(endpoint, "TCP")
    flooder = await connect_from(port, "127.0.0.1")  # the trunk, over its limits
    kinds = ("OPTIONS", "INVITE", "REGISTER", "BYE")
    counts = {"OPTIONS": 11, "INVITE": 11, "REGISTER": 6, "BYE": 41}
    for method in kinds:
        for n in range(counts[method]):
            flooder.send(
                options("TCP", flooder.local_port, call_id=f"{method}{n}",
                        branch=f"z9hG4bK{method}{n}").replace(b"OPTIONS", method.encode())
            )  # fmt: skip
    await flooder.writer.drain()
    names = VALID_RFC4475 if DATA_DIR is not None else ("INVITE", "OPTIONS", "REGISTER", "FOO")
    valid = {name: await connect_from(port, "127.0.0.1") for name in names}
    for name, peer in valid.items():
        if DATA_DIR is not None:
            peer.send((DATA_DIR / f"{name}.dat").read_bytes())
        else:
            peer.send(
                options("TCP", peer.local_port, call_id=f"valid-{name}",
                        branch=f"z9hG4bKvalid{name}").replace(b"OPTIONS", name.encode())
            )  # fmt: skip
    answers = {name: await statuses(peer) for name, peer in valid.items()}
    assert answers == {name: [503] for name in names}, answers
    for peer in (flooder, *valid.values()):
        peer.close()


async def test_a_scanner_over_tcp_is_disconnected_with_a_log_line(endpoints, caplog):
    endpoint = await start_guarded(endpoints, transports=("TCP",))
    peer = await connect_from(port_of(endpoint, "TCP"), "127.0.0.8")
    peer.send(
        options("TCP", peer.local_port).replace(
            b"Content-Length", b"User-Agent: friendly-scanner\r\nContent-Length"
        )
    )
    with caplog.at_level(logging.WARNING, logger="sipgw.sip"):
        assert await closed_by_peer(peer.reader, 5.0)
    assert "from a scanner; closing the connection" in caplog.text
    peer.close()
