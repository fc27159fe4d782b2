"""VendorConnection: a WebSocket the server closed, dropped or refused leaves no
reference cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from websockets.http11 import Request, Response
from websockets.protocol import State

from sipgw.agent.websocket_client import VendorConnection
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


@pytest.mark.parametrize("how", ["closed", "dropped", "refused"])
async def test_a_lost_connection_leaves_no_cycle(how: str) -> None:
    attempt = {"closed": closed, "dropped": dropped, "refused": refused}[how]
    async with server(how) as url:
        with garbage_types() as plain:
            await attempt(url, ClientConnection)
            await asyncio.sleep(0.05)
        # websockets' own connection keeps its failures' frames: a cycle
        assert "ClientProtocol" in plain
        with garbage_types() as ours:
            await attempt(url, VendorConnection)
            await asyncio.sleep(0.05)
    assert "ClientProtocol" not in ours and "VendorConnection" not in ours, ours
    assert "InvalidStatus" not in ours, ours  # (the server's side keeps its own cycles)


async def collect(ws: ServerConnection, into: list[bytes | str]) -> None:
    """Keep every message the client sends until it closes."""
    async for message in ws:
        into.append(message)


@asynccontextmanager
async def collecting() -> AsyncIterator[tuple[str, list[bytes | str]]]:
    received: list[bytes | str] = []

    async def handler(ws: ServerConnection) -> None:
        await collect(ws, received)

    async with serve(handler, "127.0.0.1", 0) as running:
        port = next(iter(running.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/", received


async def test_send_binary_sends_what_send_sends() -> None:
    chunks = [bytes([i]) * (800 + i) for i in range(20)]
    async with collecting() as (url, received):
        ws = await connect(url, create_connection=VendorConnection)
        assert isinstance(ws, VendorConnection)
        for i, chunk in enumerate(chunks):
            if i % 2:
                await ws.send_binary(chunk)
            else:
                await ws.send(chunk)
        await ws.close()
        await asyncio.sleep(0.05)
    assert received == chunks  # binary frames, in order, whichever way each went


async def test_send_binary_on_a_closed_connection_raises_as_send_does() -> None:
    async with collecting() as (url, _):
        ws = await connect(url, create_connection=VendorConnection)
        assert isinstance(ws, VendorConnection)
        await ws.close()
        with pytest.raises(ConnectionClosedOK):
            await ws.send(b"late")
        with pytest.raises(ConnectionClosedOK):
            await ws.send_binary(b"late")


async def test_send_binary_when_the_transport_fails_closes_as_send_does() -> None:
    async with collecting() as (url, _):
        ws = await connect(url, create_connection=VendorConnection)
        assert isinstance(ws, VendorConnection)

        def broken(data: bytes | bytearray | memoryview) -> None:
            raise OSError("the socket broke")

        ws.transport.write = broken  # type: ignore[method-assign]
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.send_binary(b"chunk")
        assert isinstance(closed.value.__cause__, OSError)
        assert ws.state is State.CLOSED
