"""VendorConnection: a WebSocket the server closed, dropped or refused leaves no
reference cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.http11 import Request, Response

from sipgw.agent.services.websocket_client import VendorConnection
from tests.refcycles import garbage_types

pytestmark = pytest.mark.timeout(20)


async def drop_at_once(ws: ServerConnection) -> None:
    """Say one thing, then lose the TCP connection without a close frame."""
    await ws.send("hello")
    ws.transport.abort()


async def close_politely(ws: ServerConnection) -> None:
    """Say one thing, then close as the protocol asks (a close frame each way)."""
    await ws.send("hello")
    await ws.close()


def refuse(connection: ServerConnection, request: Request) -> Response:
    return connection.respond(503, "Service Unavailable\n")


@asynccontextmanager
async def server(how: str) -> AsyncIterator[str]:
    handler = close_politely if how == "closed" else drop_at_once
    async with serve(
        handler, "127.0.0.1", 0, process_request=refuse if how == "refused" else None
    ) as running:
        port = next(iter(running.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


async def dropped(url: str, kind: type[ClientConnection]) -> None:
    ws = await connect(url, create_connection=kind)
    assert await ws.recv() == "hello"
    with pytest.raises(ConnectionClosedError) as closed:
        await ws.recv()
    assert isinstance(closed.value.__cause__, EOFError)  # the parser's, still named
    del closed  # pytest's record of it holds this frame (a cycle of the test's own)
    await ws.wait_closed()


async def closed(url: str, kind: type[ClientConnection]) -> None:
    ws = await connect(url, create_connection=kind)
    assert await ws.recv() == "hello"
    await ws.wait_closed()
    assert ws.close_code == 1000


async def refused(url: str, kind: type[ClientConnection]) -> None:
    with pytest.raises(InvalidStatus) as refusal:
        await connect(url, create_connection=kind)
    assert refusal.value.response.status_code == 503
    del refusal  # as closed above
    await asyncio.sleep(0.05)  # the aborted transport reports the connection lost


WATCHED = ("ClientProtocol", "VendorConnection", "InvalidStatus")


@pytest.mark.parametrize("how", ["closed", "dropped", "refused"])
async def test_a_lost_connection_leaves_no_cycle(how: str) -> None:
    attempt = {"closed": closed, "dropped": dropped, "refused": refused}[how]
    async with server(how) as url:
        with garbage_types(*WATCHED) as plain:
            await attempt(url, ClientConnection)
            await asyncio.sleep(0.05)
        # websockets' own connection keeps its failures' frames: a cycle
        assert "ClientProtocol" in plain
        with garbage_types(*WATCHED) as ours:
            await attempt(url, VendorConnection)
            await asyncio.sleep(0.05)
    assert "ClientProtocol" not in ours and "VendorConnection" not in ours, ours
    assert "InvalidStatus" not in ours, ours  # (the server's side keeps its own cycles)


# --------------------------------------------------------------- binary messages written at once


async def test_messages_written_at_once_arrive_whole_in_order_and_pings_are_answered() -> None:
    """The library's server takes each frame (it closes 1002 on an unmasked one), between
    the library's own sends; the client still answers pings and closes cleanly."""
    got: list[str | bytes] = []
    server_side: list[ServerConnection] = []
    pinged = asyncio.Event()

    async def collect(ws: ServerConnection) -> None:
        server_side.append(ws)
        await asyncio.wait_for(await ws.ping(), 5)  # the client's library answers
        pinged.set()
        async for message in ws:
            got.append(message)

    async with serve(collect, "127.0.0.1", 0, compression=None) as running:
        port = next(iter(running.sockets)).getsockname()[1]
        ws = await connect(
            f"ws://127.0.0.1:{port}/", create_connection=VendorConnection, compression=None
        )
        assert isinstance(ws, VendorConnection)
        assert ws.clock == asyncio.get_running_loop().time  # its loop's, taken once
        expected: list[str | bytes] = []
        for i in range(60):
            payload = bytes([i]) * (100 + 40 * i)  # 7-bit and 16-bit lengths
            assert ws.send_binary_now(payload)
            expected.append(payload)
            if i % 20 == 0:
                await ws.send(f"text {i}")
                expected.append(f"text {i}")
        await asyncio.wait_for(pinged.wait(), 5)
        await ws.close()
        assert ws.close_code == 1000
        assert not ws.send_binary_now(b"late")  # closed: nothing is written
        (peer,) = server_side
        await peer.wait_closed()
        assert peer.close_code == 1000
    assert got == expected


async def fill(ws: VendorConnection) -> tuple[list[bytes], int, int]:
    """Send 800-byte messages as the uplink does until the library's send waits (the
    buffer is full); return them, how many went at once and how many did not."""
    _, high = ws.transport.get_write_buffer_limits()  # (low, high)
    sent: list[bytes] = []
    at_once = declined = 0
    for i in range(200_000):
        payload = i.to_bytes(4, "big") * 200  # 800 bytes: 100 ms of μ-law
        sent.append(payload)
        if ws.send_binary_now(payload):
            at_once += 1
            continue
        declined += 1
        try:
            await asyncio.wait_for(ws.send(payload), 0.5)  # written, then drained
        except TimeoutError:
            assert ws.transport.get_write_buffer_size() > high  # the library's wait
            return sent, at_once, declined
        assert ws.transport.get_write_buffer_size() <= high + 806  # bounded
    raise AssertionError("the write buffer never filled")


async def test_a_peer_that_stops_reading_gets_a_bounded_buffer_and_the_librarys_wait() -> None:
    """Frames are written at once only into an empty write buffer; then send() takes over,
    and its flow control waits once the buffer passes its limit: the buffer stays bounded.
    Once the peer reads again, every message arrives, in order."""
    got: list[str | bytes] = []
    resume = asyncio.Event()

    async def stall_then_collect(ws: ServerConnection) -> None:
        ws.transport.pause_reading()
        await resume.wait()
        ws.transport.resume_reading()
        async for message in ws:
            got.append(message)

    async with serve(stall_then_collect, "127.0.0.1", 0, compression=None) as running:
        port = next(iter(running.sockets)).getsockname()[1]
        ws = await connect(
            f"ws://127.0.0.1:{port}/", create_connection=VendorConnection, compression=None
        )
        assert isinstance(ws, VendorConnection)
        try:
            sent, at_once, declined = await fill(ws)
        finally:
            resume.set()  # else the server waits for ever, and so does its shutdown
        assert at_once > 0 and declined > 0
        await ws.close()
    assert got == sent
