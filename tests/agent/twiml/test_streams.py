"""A Media Stream's socket: opened signed, Twilio's first messages first, the app's normal
close returns, a break or a refusal is StreamFailed, stop is the last message, the outbox is
bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.server import ServerConnection, serve

from sipgw.agent.twiml.streams import MAX_OUTBOX, MediaStream, StreamFailed
from sipgw.agent.twiml.webhook import TwilioIdentity
from sipgw.twilio.streamside import StreamSide
from tests.agent.parts import wait_for

IDENTITY = TwilioIdentity("AC" + "4" * 32, "t" * 32)
Handler = Callable[[ServerConnection], Awaitable[None]]


@pytest.fixture
async def peer() -> AsyncIterator[tuple[list[Handler], list[object], Callable[[], str]]]:
    handlers: list[Handler] = []
    got: list[object] = []

    async def handle(ws: ServerConnection) -> None:
        assert ws.request is not None
        url = f"ws://127.0.0.1:{port}{ws.request.path}"
        got.append(RequestValidator(IDENTITY.auth_token).validate(
            url, {}, ws.request.headers.get("X-Twilio-Signature", "")))  # fmt: skip
        await handlers[0](ws)

    async with serve(handle, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield handlers, got, lambda: f"ws://127.0.0.1:{port}/media"


def stream(url: str) -> MediaStream:
    side = StreamSide("MZ" + "0" * 32, "CA" + "1" * 32, IDENTITY.account_sid)
    return MediaStream(url, side, IDENTITY, 2.0, "test")


async def test_opened_signed_and_closed_normally(
    peer: tuple[list[Handler], list[object], Callable[[], str]],
) -> None:
    handlers, got, url = peer

    async def app(ws: ServerConnection) -> None:
        for _ in range(2):
            got.append(json.loads(await ws.recv())["event"])
        await ws.close()

    handlers.append(app)
    media = stream(url())
    await asyncio.wait_for(media.run(), 5)  # returns: the TwiML goes on
    assert got == [True, "connected", "start"]


async def test_a_refused_or_broken_socket_is_a_failure(
    peer: tuple[list[Handler], list[object], Callable[[], str]],
) -> None:
    handlers, _, url = peer

    async def dies(ws: ServerConnection) -> None:
        await ws.recv()
        ws.transport.abort()

    handlers.append(dies)
    with pytest.raises(StreamFailed, match="broke"):
        await asyncio.wait_for(stream(url()).run(), 5)
    with pytest.raises(StreamFailed, match="could not be opened"):
        await stream("ws://127.0.0.1:9/x").run()  # discard: nobody listens

    async def error_close(ws: ServerConnection) -> None:
        await ws.close(code=1011, reason="bot crashed")

    handlers[0] = error_close
    with pytest.raises(StreamFailed):
        await asyncio.wait_for(stream(url()).run(), 5)


async def test_stop_is_the_last_message(
    peer: tuple[list[Handler], list[object], Callable[[], str]],
) -> None:
    handlers, got, url = peer
    done = asyncio.Event()

    async def app(ws: ServerConnection) -> None:
        async for text in ws:
            got.append(json.loads(text)["event"])
        done.set()

    handlers.append(app)
    media = stream(url())
    task = asyncio.create_task(media.run())
    await wait_for(lambda: media.ready)
    media.send(media.side.media("inbound", None))
    await media.stop()
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.wait_for(task, 5)
    assert got[1:] == ["connected", "start", "media", "stop"]


def test_the_outbox_is_bounded() -> None:
    media = stream("ws://127.0.0.1:9/x")
    for _ in range(MAX_OUTBOX + 7):
        media.send("{}")
    assert media.dropped == 7
