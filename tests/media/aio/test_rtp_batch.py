"""The batched reader (sipgw.media.aio.rtp_batch): when it reads, what each datagram's time is.

What the sessions get is the same as on the asyncio path (tests/media/aio/
test_rtp_endpoint.py runs every endpoint test on both); here: the reads at ticks, each
window between them while a call listens at arrival, or at once with no window; kernel
arrival times; closing.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from sipgw.media.aio.rtp_batch import BatchedRtp
from sipgw.media.aio.rtp_endpoint import RtpEndpoint, open_rtp_endpoint
from sipgw.media.ports import PortAllocator
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams
from tests.media.stamps import wait_for_kernel_stamps

pytestmark = pytest.mark.timeout(30)


def audio(seq: int) -> bytes:
    return RtpPacket(0, seq, seq * 160, 7, False, bytes(160)).serialize()


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


async def opened(batched: BatchedRtp, peer: socket.socket) -> tuple[RtpEndpoint, MediaSession]:
    endpoint = await open_rtp_endpoint("127.0.0.1", PortAllocator(40000, 60000), batched=batched)
    assert endpoint is not None
    session = MediaSession(StreamParams(remote=peer.getsockname()), now=batched.loop.time())
    endpoint.session = session
    return endpoint, session


async def until(condition: object, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


@pytest.fixture
async def polling() -> AsyncIterator[BatchedRtp]:
    """A reader that reads every 0.2 s between ticks (the kernel stamping already)."""
    stamping = wait_for_kernel_stamps()
    reader = BatchedRtp(asyncio.get_running_loop(), window=0.2)
    yield reader
    reader.close()
    stamping.close()


async def test_between_ticks_it_reads_each_window_while_a_call_listens(
    polling: BatchedRtp, peer: socket.socket
) -> None:
    assert polling._timer is None  # no call: no reads
    endpoint, session = await opened(polling, peer)
    heard: list[bytes] = []
    session.on_audio = heard.append  # the speech-to-text's tap: it wants audio at arrival
    polling.tick_read(polling.loop.time())  # a tick sees that someone listens
    loop = asyncio.get_running_loop()
    sent = loop.time()
    peer.sendto(audio(1), ("127.0.0.1", endpoint.port))
    await until(lambda: session.stats.packets_in == 1, within=1.0)
    assert loop.time() - sent <= 0.2 + 0.1  # by the next read, no tick needed
    assert abs(session.last_received - sent) < 0.02  # with the time it came, not when read
    assert heard  # at arrival
    endpoint.close()
    await asyncio.sleep(0.25)
    assert polling._timer is None  # the last call gone: the reads stop


async def test_audio_only_played_waits_for_the_tick_that_plays_it(
    polling: BatchedRtp, peer: socket.socket
) -> None:
    """No call listens at arrival (an echo): nothing is read between ticks, the tick reads
    it with the time it came; and once the last listener goes, the reads between ticks stop
    at the next tick."""
    endpoint, session = await opened(polling, peer)
    loop = asyncio.get_running_loop()
    polling.tick_read(loop.time())
    assert polling._timer is None  # nobody listens: no read before the next tick
    sent = loop.time()
    peer.sendto(audio(1), ("127.0.0.1", endpoint.port))
    await asyncio.sleep(0.5)  # two and a half windows
    assert session.stats.packets_in == 0
    polling.tick_read(loop.time())
    assert session.stats.packets_in == 1 and abs(session.last_received - sent) < 0.02
    session.on_audio = lambda frame: None
    polling.tick_read(loop.time())
    assert polling._timer is not None  # a listener: reads between ticks again
    session.on_audio = None
    polling.tick_read(loop.time())
    await asyncio.sleep(0.25)
    peer.sendto(audio(2), ("127.0.0.1", endpoint.port))
    await asyncio.sleep(0.5)
    assert polling._timer is None and session.stats.packets_in == 1  # stopped
    endpoint.close()


async def test_a_played_stream_is_read_directly_at_the_ticks_and_watched_once_listened_to(
    polling: BatchedRtp, peer: socket.socket
) -> None:
    """A call nobody listens to, with a packet at every tick, leaves the epoll set after
    three ticks; a listener brings it back at the next tick, and its audio is then read
    between ticks again (sipgw.media._rtpio's direct sockets)."""
    endpoint, session = await opened(polling, peer)
    token = endpoint._token
    loop = asyncio.get_running_loop()
    polling.tick_read(loop.time())  # the first look: nobody listens
    for seq in range(1, 4):
        peer.sendto(audio(seq), ("127.0.0.1", endpoint.port))
        await asyncio.sleep(0.01)
        polling.tick_read(loop.time())
    assert polling.poller.is_direct(token) and session.stats.packets_in == 3
    session.on_audio = lambda frame: None
    polling.tick_read(loop.time())
    assert not polling.poller.is_direct(token)
    peer.sendto(audio(4), ("127.0.0.1", endpoint.port))
    await until(lambda: session.stats.packets_in == 4, within=1.0)  # a read between ticks
    endpoint.close()
    assert not polling.poller.is_direct(token)


async def test_a_tick_reads_what_waits_before_the_window_is_over(
    polling: BatchedRtp, peer: socket.socket
) -> None:
    endpoint, session = await opened(polling, peer)
    peer.sendto(audio(1), ("127.0.0.1", endpoint.port))
    await asyncio.sleep(0.01)
    polling.tick_read(polling.loop.time())  # the ticker's read
    assert session.stats.packets_in == 1
    endpoint.close()


async def test_with_no_window_each_wake_up_reads_at_once(peer: socket.socket) -> None:
    reader = BatchedRtp(asyncio.get_running_loop(), window=0.0)
    endpoint, session = await opened(reader, peer)
    peer.sendto(audio(1), ("127.0.0.1", endpoint.port))
    await until(lambda: session.stats.packets_in == 1, within=0.1)
    endpoint.close()
    reader.close()


async def test_a_closed_endpoint_and_a_closed_reader_read_nothing(peer: socket.socket) -> None:
    reader = BatchedRtp(asyncio.get_running_loop(), window=0.0)
    endpoint, session = await opened(reader, peer)
    port = endpoint.port
    endpoint.close()
    assert len(reader.demux) == 0
    peer.sendto(audio(1), ("127.0.0.1", port))
    await asyncio.sleep(0.02)
    reader.drain(reader.loop.time())
    assert session.stats.packets_in == 0
    reader.close()
    reader.close()  # twice: nothing


async def test_the_shared_port_routes_its_calls_sources_and_sends_their_tick_at_once(
    peer: socket.socket,
) -> None:
    """On the native path a call on the shared port gets its datagrams through the poller's
    route (tagged with its token, one address object) and what it sends during a tick
    leaves at the tick's end (flush), not at once."""
    from sipgw.app.evaluation.ports import free_port_range
    from sipgw.media.aio.shared_rtp import open_shared_rtp

    stamping = wait_for_kernel_stamps()
    loop = asyncio.get_running_loop()
    batched = BatchedRtp(loop, window=0.2)
    port = free_port_range(2).lo
    shared = await open_shared_rtp("127.0.0.1", port, batched)
    try:
        endpoint = RtpEndpoint(loop, port)
        endpoint.join_shared(shared)
        endpoint.session = session = MediaSession(
            StreamParams(remote=peer.getsockname()), now=loop.time()
        )
        assert batched.poller.routes() == 1  # the address its SDP named
        for seq in (1, 2):
            peer.sendto(audio(seq), ("127.0.0.1", port))

        def read_at_a_tick() -> bool:
            batched.tick_read(loop.time())
            batched.flush()
            return session.stats.packets_in == 2

        await until(read_at_a_tick)
        assert batched.poller.stats()["routed"] == 2 and shared.port.unknown == 0
        # a tick: the send is held until the ticker's flush
        batched.tick_read(loop.time())
        endpoint.send([b"held"])
        peer.setblocking(False)
        await asyncio.sleep(0.02)
        with pytest.raises(BlockingIOError):
            peer.recv(100)
        batched.flush()
        await until(lambda: _readable(peer))
        assert peer.recv(100) == b"held"
        endpoint.send([b"between ticks"])  # not held: at once
        await until(lambda: _readable(peer))
        assert peer.recv(100) == b"between ticks"
        endpoint.close()
        assert batched.poller.routes() == 0  # the call's route went with it
    finally:
        batched.close()
        shared.close()
        stamping.close()


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])
