"""The app's WebSocket of a ConversationRelay session, against a websockets server on
loopback: the handshake signed as Twilio signs it, messages queued and written in order, a
bad one answered with ``error`` and counted, a refused or broken socket a StreamFailed."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing

import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.server import ServerConnection, serve

from sipgw.agent.twiml.relay.channel import AppChannel
from sipgw.agent.twiml.streams import StreamFailed
from sipgw.twilio.relay import EndMessage, ErrorMessage, InfoMessage, TextMessage

TOKEN = "c" * 32


async def test_messages_both_ways_and_a_bad_one_answered() -> None:
    got: list[dict[str, object]] = []
    signed: list[bool] = []

    async def app(ws: ServerConnection) -> None:
        url = f"ws://127.0.0.1:{port}/relay"
        assert ws.request is not None
        signature = ws.request.headers.get("X-Twilio-Signature", "")
        signed.append(RequestValidator(TOKEN).validate(url, {}, signature))
        got.append(json.loads(await ws.recv()))
        await ws.send('{"type": "text"}')  # no token: an error
        await ws.send(json.dumps({"type": "text", "token": "Hi.", "last": True}))
        got.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "end", "handoffData": "{}"}))
        await ws.wait_closed()

    async with serve(app, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        channel = AppChannel(f"ws://127.0.0.1:{port}/relay", TOKEN, 2.0)
        await channel.open()
        channel.send(InfoMessage("agentSpeaking", "on"))
        seen = []
        async with aclosing(channel.messages()) as messages:
            async for message in messages:
                seen.append(message)
                if isinstance(message, EndMessage):
                    break
        await channel.close()
    assert signed == [True]
    assert got[0] == {"type": "info", "name": "agentSpeaking", "value": "on"}
    assert got[1]["type"] == "error" and "'token' is missing" in str(got[1]["description"])
    assert channel.errors == 1 and [type(m) for m in channel.sent] == [InfoMessage, ErrorMessage]
    assert isinstance(seen[0], TextMessage) and seen[0].token == "Hi."
    assert isinstance(seen[1], EndMessage)


async def test_a_socket_that_cannot_open_or_breaks_fails_the_stream() -> None:
    with pytest.raises(StreamFailed, match="could not be opened"):
        await AppChannel("ws://127.0.0.1:9/relay", TOKEN, 1.0).open()

    async def app(ws: ServerConnection) -> None:
        await ws.close(1011, "app crashed")

    async with serve(app, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        channel = AppChannel(f"ws://127.0.0.1:{port}/relay", TOKEN, 2.0)
        await channel.open()
        with pytest.raises(StreamFailed, match="socket broke"):
            async with aclosing(channel.messages()) as messages:
                async for _ in messages:
                    pass
        await asyncio.wait_for(channel.close(), 3)
