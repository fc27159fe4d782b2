"""One call's RTP/RTCP sockets (sipgw.media.aio.rtp_endpoint), on real loopback sockets.

Every test runs with both readers: asyncio's datagram endpoints (the pure-Python path) and
the batched reader of the native path (sipgw.media.aio.rtp_batch, on ``sipgw.media._rtpio``).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from sipgw.media.aio.rtp_batch import BatchedRtp
from sipgw.media.aio.rtp_endpoint import RtpEndpoint, open_rtp_endpoint
from sipgw.media.liveness import LivenessConfig
from sipgw.media.ports import PortAllocator
from sipgw.media.rtcp import ReportBlock, build_rr
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams

pytestmark = pytest.mark.timeout(30)


class Peer:
    """The far end: an RTP socket and the RTCP socket just above it."""

    def __init__(self) -> None:
        for _ in range(50):
            self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.rtp.bind(("127.0.0.1", 0))
            port = self.rtp.getsockname()[1]
            self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                self.rtcp.bind(("127.0.0.1", port + 1))
                break
            except OSError:
                self.rtp.close()
                self.rtcp.close()
        else:
            raise OSError("no free port pair")
        for sock in (self.rtp, self.rtcp):
            sock.settimeout(5.0)
        self.address = ("127.0.0.1", port)

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()


@pytest.fixture
def peer() -> Iterator[Peer]:
    far = Peer()
    yield far
    far.close()


@pytest.fixture(params=["asyncio", "batched"])
async def batched(request: pytest.FixtureRequest) -> AsyncIterator[BatchedRtp | None]:
    """The reader: None (asyncio's endpoints) or the native path's batched reader."""
    if request.param == "asyncio":
        yield None
        return
    reader = BatchedRtp(asyncio.get_running_loop(), window=0.0)
    yield reader
    reader.close()


@pytest.fixture
async def endpoint(batched: BatchedRtp | None) -> AsyncIterator[RtpEndpoint]:
    opened = await open_rtp_endpoint("127.0.0.1", PortAllocator(40000, 60000), batched=batched)
    assert opened is not None
    yield opened
    opened.close()


def free_ports(count: int) -> int:
    """An even port ``P`` with ``P .. P + count - 1`` free on loopback now."""
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        probe.close()
        start = port - (port & 1)
        held: list[socket.socket] = []
        try:
            for n in range(count):
                held.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                held[-1].bind(("127.0.0.1", start + n))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return start
    raise OSError(f"no {count} free ports in a row")


def audio(seq: int, ssrc: int = 7) -> bytes:
    return RtpPacket(payload_type=0, sequence_number=seq, timestamp=seq * 160, ssrc=ssrc,
                     payload=bytes(160)).serialize()  # fmt: skip


def attach(endpoint: RtpEndpoint, remote: tuple[str, int], **params: object) -> MediaSession:
    """A session on ``endpoint``; its peer sends nothing, and may take its time (the first
    sign's deadline is not what these tests are about: tests/media/test_liveness.py)."""
    session = MediaSession(
        StreamParams(remote=remote, **params),  # type: ignore[arg-type]
        now=endpoint.loop.time(),
        liveness=LivenessConfig(first_sign=0),
    )
    endpoint.session = session
    return session


async def until(condition: object, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_what_waits_is_read_at_once_before_a_renegotiation(
    endpoint: RtpEndpoint, peer: Peer
) -> None:
    """A re-INVITE can be read before RTP that came first (the SIP socket is read when it
    is ready, RTP at the ticks and between them): ``read_waiting`` takes what the socket
    holds without a turn of the event loop, so a hold's music before a resume is heard as
    held (app/calls/mediaio.py reads it before the session is updated)."""
    session = attach(endpoint, peer.address)
    heard: list[bytes] = []
    session.on_audio = heard.append
    for seq in range(3):
        peer.rtp.sendto(audio(seq), ("127.0.0.1", endpoint.port))
    time.sleep(0.05)  # noqa: ASYNC251 - queued in the socket; the loop must not run meanwhile
    assert session.stats.packets_in == 0
    endpoint.read_waiting(endpoint.loop.time())
    assert session.stats.packets_in == 3 and len(heard) == 3
    endpoint.read_waiting(endpoint.loop.time())  # nothing more waits: nothing, at once
    assert session.stats.packets_in == 3


async def test_binds_an_even_port_and_the_one_above_it(endpoint: RtpEndpoint) -> None:
    assert endpoint.port % 2 == 0
    assert endpoint.bound_ports() == (endpoint.port, endpoint.port + 1)


async def test_a_pair_another_process_holds_part_of_is_skipped(
    batched: BatchedRtp | None,
) -> None:
    low = free_ports(4)
    ports = PortAllocator(low, low + 3)  # two pairs: low and low + 2; one cools down
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("127.0.0.1", low + 1))  # the RTCP port of the first pair
    try:
        for _ in range(6):  # whatever the random order, the held pair is skipped
            opened = await open_rtp_endpoint("127.0.0.1", ports, attempts=2, batched=batched)
            assert opened is not None and opened.port == low + 2
            opened.close()
            await asyncio.sleep(0)  # the transports close their sockets on the next turn
            ports.release(low + 2)
    finally:
        held.close()


async def test_none_once_the_range_is_used_up(batched: BatchedRtp | None) -> None:
    low = free_ports(2)
    ports = PortAllocator(low, low + 1)
    first = await open_rtp_endpoint("127.0.0.1", ports, batched=batched)
    assert first is not None
    assert await open_rtp_endpoint("127.0.0.1", ports, batched=batched) is None
    first.close()


async def test_packets_reach_the_session_and_go_back_to_where_they_came_from(
    endpoint: RtpEndpoint, peer: Peer
) -> None:
    session = attach(endpoint, peer.address)
    peer.rtp.sendto(audio(1), ("127.0.0.1", endpoint.port))
    await until(lambda: session.stats.packets_in == 1)
    assert session.latched == peer.address
    endpoint.send([audio(5, ssrc=9)])
    data = await asyncio.to_thread(peer.rtp.recv, 2048)
    assert RtpPacket.parse(data).sequence_number == 5


async def test_the_mapping_opener_is_one_nul_octet_and_nothing_for_a_call_on_hold(
    endpoint: RtpEndpoint, peer: Peer
) -> None:
    """Sent as an incoming call is answered (sipgw/app/calls/callpath.py): no RTP, only what
    makes a NAT in front of us map our RTP port before the caller's RTP arrives."""
    attach(endpoint, peer.address, send=False)
    endpoint.open_mapping()
    data, source = await asyncio.to_thread(peer.rtp.recvfrom, 2048)
    assert data == b"\x00" and source[1] == endpoint.port
    for on_hold in (("0.0.0.0", peer.address[1]), (peer.address[0], 0)):
        attach(endpoint, on_hold)
        endpoint.open_mapping()  # nowhere: nothing (and no error)
    attach(endpoint, peer.address)
    endpoint.send([audio(9)])
    data = await asyncio.to_thread(peer.rtp.recv, 2048)
    assert RtpPacket.parse(data).sequence_number == 9  # the next datagram: nothing between


async def test_a_call_on_hold_with_c_0_0_0_0_sends_nothing_to_this_host(
    endpoint: RtpEndpoint, peer: Peer
) -> None:
    """Issue 21 (audit): with ``c=0.0.0.0`` and ``a=inactive`` our RTCP went to (0.0.0.0,
    RTP port + 1), which Linux delivers to this host (2 reports reached 127.0.0.1 in about
    35 s; with ``a=rtcp:`` the caller picks the port), for as long as the call lasted."""
    port = peer.address[1]
    rtcp_port = peer.rtcp.getsockname()[1]
    for params in (
        {"send": False, "receive": False},  # a=inactive: the RTP port + 1
        {"send": False, "receive": False, "rtcp_port": rtcp_port},  # a=rtcp: the caller's pick
        {"send": True, "receive": False, "rtcp_mux": True},
    ):
        session = attach(endpoint, ("0.0.0.0", port if "rtcp_port" not in params else 9), **params)
        now = endpoint.loop.time()
        session.confirm(now)
        endpoint.send_rtcp(session.rtcp.next_report)
        endpoint.send([audio(1)])
        endpoint.send(session.packets_for(None, now))
    for sock in (peer.rtp, peer.rtcp):
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            await asyncio.to_thread(sock.recv, 2048)
    session = attach(endpoint, peer.address)  # a destination: the same calls send
    session.confirm(endpoint.loop.time())
    endpoint.send_rtcp(session.rtcp.next_report)
    assert (await asyncio.to_thread(peer.rtcp.recv, 2048))[1] in (200, 201)


async def test_without_a_session_packets_are_dropped_and_nothing_is_sent(
    endpoint: RtpEndpoint, peer: Peer
) -> None:
    peer.rtp.sendto(audio(1), ("127.0.0.1", endpoint.port))
    peer.rtcp.sendto(build_rr(7), ("127.0.0.1", endpoint.port + 1))
    await until(lambda: endpoint.rtcp_packets == 1)
    endpoint.send([audio(2)])  # nowhere to send: no error
    endpoint.send_rtcp(endpoint.loop.time())
    assert endpoint.rtcp_remote is None


async def test_rtcp_is_taken_only_from_the_host_the_rtp_goes_to(
    endpoint: RtpEndpoint, peer: Peer
) -> None:
    """Another host's reports are foreign; the peer's are learnt as where ours go."""
    session = attach(endpoint, ("192.0.2.10", 40000))  # the SDP named another host
    peer.rtcp.sendto(build_rr(7), ("127.0.0.1", endpoint.port + 1))
    await until(lambda: endpoint.rtcp_packets == 1)
    assert session.stats.foreign == 1 and endpoint.rtcp_remote is None
    session = attach(endpoint, peer.address)
    block = ReportBlock(session.sender.ssrc, 0, 0, 0, 0, 0, 0)
    peer.rtcp.sendto(build_rr(7, (block,)), ("127.0.0.1", endpoint.port + 1))
    await until(lambda: endpoint.rtcp_packets == 2)
    assert session.stats.rtcp == 1 and endpoint.rtcp_remote == peer.rtcp.getsockname()


async def test_our_report_goes_to_the_port_above_the_rtp_port(
    endpoint: RtpEndpoint, peer: Peer
) -> None:
    session = attach(endpoint, peer.address)
    now = endpoint.loop.time()
    session.confirm(now)
    endpoint.send_rtcp(now)  # not due yet: nothing
    endpoint.send_rtcp(session.rtcp.next_report)
    data = await asyncio.to_thread(peer.rtcp.recv, 2048)
    assert data[1] in (200, 201)  # an SR or an RR (RFC 3550 §6.4)


async def test_our_report_follows_the_peers_reports_to_their_port(
    endpoint: RtpEndpoint, peer: Peer
) -> None:
    """Symmetric RTCP: a peer behind a NAT reports from another port than RTP port + 1."""
    session = attach(endpoint, peer.address)
    natted = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    natted.bind(("127.0.0.1", 0))
    natted.settimeout(5.0)
    try:
        natted.sendto(build_rr(7), ("127.0.0.1", endpoint.port + 1))
        await until(lambda: endpoint.rtcp_remote == natted.getsockname())
        session.confirm(endpoint.loop.time())
        endpoint.send_rtcp(session.rtcp.next_report)
        data = await asyncio.to_thread(natted.recv, 2048)
        assert data[1] in (200, 201)
    finally:
        natted.close()


async def test_with_rtcp_mux_our_report_goes_to_the_rtp_port(
    endpoint: RtpEndpoint, peer: Peer
) -> None:
    session = attach(endpoint, peer.address, rtcp_mux=True)
    session.confirm(endpoint.loop.time())
    endpoint.send_rtcp(session.rtcp.next_report)
    data = await asyncio.to_thread(peer.rtp.recv, 2048)
    assert data[1] in (200, 201)


async def test_close_releases_both_sockets(batched: BatchedRtp | None) -> None:
    low = free_ports(2)
    opened = await open_rtp_endpoint("127.0.0.1", PortAllocator(low, low + 1), batched=batched)
    assert opened is not None and opened.port == low
    opened.close()
    assert not opened.is_open and opened.session is None
    assert opened.bound_ports() == (0, 0)
    await asyncio.sleep(0)
    for port in (low, low + 1):  # free again
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", port))
        sock.close()
