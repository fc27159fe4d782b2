"""The batched reader (media.aio.rtp_batch): when it reads, what each datagram's time is.

What the sessions get is the same as on the asyncio path (tests/media/aio/
test_rtp_endpoint.py runs every endpoint test on both); here: the reads at ticks and on
wake-ups, the rest after a read, kernel arrival times, and closing.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from media.aio.rtp_batch import BatchedRtp
from media.aio.rtp_endpoint import RtpEndpoint, open_rtp_endpoint
from media.ports import PortAllocator
from media.rtp import RtpPacket
from media.session import MediaSession, StreamParams

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
async def resting() -> AsyncIterator[BatchedRtp]:
    """A reader that rests 0.2 s after each read between ticks."""
    reader = BatchedRtp(asyncio.get_running_loop(), window=0.2)
    yield reader
    reader.close()


async def test_a_read_rests_the_window_then_reads_again(
    resting: BatchedRtp, peer: socket.socket
) -> None:
    endpoint, session = await opened(resting, peer)
    loop = asyncio.get_running_loop()
    peer.sendto(audio(1), ("127.0.0.1", endpoint.port))
    await until(lambda: session.stats.packets_in == 1)  # read as it came
    sent = loop.time()
    peer.sendto(audio(2), ("127.0.0.1", endpoint.port))
    await asyncio.sleep(0.1)
    assert session.stats.packets_in == 1  # resting: it waits in the socket
    await until(lambda: session.stats.packets_in == 2)
    assert loop.time() - sent >= 0.15  # read once the rest was over
    assert abs(session.last_received - sent) < 0.02  # with the time it came, not when read
    endpoint.close()


async def test_a_tick_reads_what_waits_even_while_resting(
    resting: BatchedRtp, peer: socket.socket
) -> None:
    endpoint, session = await opened(resting, peer)
    peer.sendto(audio(1), ("127.0.0.1", endpoint.port))
    await until(lambda: session.stats.packets_in == 1)
    peer.sendto(audio(2), ("127.0.0.1", endpoint.port))
    await asyncio.sleep(0.02)
    resting.drain(resting.loop.time())  # the ticker's read
    assert session.stats.packets_in == 2
    endpoint.close()


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
