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
