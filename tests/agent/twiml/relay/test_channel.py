"""The app's WebSocket of a ConversationRelay session, against a websockets server on
loopback: the handshake signed as Twilio signs it, messages queued and written in order, a
bad one answered with ``error`` and counted, a refused or broken socket a StreamFailed.
With ``applicationReconnect``: a socket dropped (aborted, or closed with 1001) comes back
signed, ``setup`` again first, then what was sent meanwhile in order (those queued and not
written too, at most the cap); a 1000 close still ends the session, and an app not back
within the bound fails it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from http import HTTPStatus

import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sipgw.agent.services.backoff import Backoff
from sipgw.agent.twiml.relay.channel import AppChannel
from sipgw.agent.twiml.relay.reconnect import ReconnectPolicy
from sipgw.agent.twiml.streams import StreamFailed
from sipgw.twilio.relay import (
    AppMessage,
    DtmfMessage,
    EndMessage,
    ErrorMessage,
    InfoMessage,
    PromptMessage,
    SetupMessage,
    TextMessage,
)
from tests.agent.parts import wait_for

TOKEN = "c" * 32
SETUP = SetupMessage("VX1", "AC1", "CA1", "+15551234567", "+15557654321")


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


# --------------------------------------------------------------------------- applicationReconnect


class Peer:
    """The app's side of each socket it took: its messages, whether it was signed."""

    def __init__(self, ws: ServerConnection, signed: bool) -> None:
        self.ws = ws
        self.signed = signed
        self.got: list[dict[str, object]] = []

    def types(self) -> list[object]:
        return [message["type"] for message in self.got]


class FlakyApp:
    """A relay app on loopback that takes sockets (:attr:`peers`), or refuses their
    handshakes with 503 while :attr:`refusing` (a redeploy in progress); with
    :attr:`drop_at_once` it drops each socket it takes as soon as it is open."""

    def __init__(self) -> None:
        self.peers: list[Peer] = []
        self.refusing = False
        self.refused = 0
        self.drop_at_once = False
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/relay"

    def refuse(self, ws: ServerConnection, request: Request) -> Response | None:
        if not self.refusing:
            return None
        self.refused += 1
        return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "redeploying\n")

    async def serve(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        signature = ws.request.headers.get("X-Twilio-Signature", "")
        peer = Peer(ws, RequestValidator(TOKEN).validate(self.url, {}, signature))
        self.peers.append(peer)
        if self.drop_at_once:
            ws.transport.abort()
            return
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                peer.got.append(json.loads(text))


@contextlib.asynccontextmanager
async def flaky_app() -> AsyncIterator[FlakyApp]:
    app = FlakyApp()
    async with serve(app.serve, "127.0.0.1", 0, process_request=app.refuse) as server:
        app.port = server.sockets[0].getsockname()[1]
        yield app


async def read_all(channel: AppChannel, into: list[AppMessage]) -> None:
    async with aclosing(channel.messages()) as messages:
        async for message in messages:
            into.append(message)


QUICK = ReconnectPolicy(within=5.0, backoff=Backoff(0.02, 2.0, 0.1))
"""Waits short enough for a test; the bound long enough never to be reached by one that
comes back."""


async def test_a_dropped_socket_comes_back_with_setup_then_what_was_sent_meanwhile() -> None:
    async with flaky_app() as app:
        channel = AppChannel(app.url, TOKEN, 2.0, QUICK)
        await channel.open()
        channel.send(SETUP)
        seen: list[AppMessage] = []
        reader = asyncio.get_running_loop().create_task(read_all(channel, seen))
        await wait_for(lambda: app.peers and app.peers[0].got, 3)
        app.refusing = True  # the new instance is not up yet
        app.peers[0].ws.transport.abort()  # the container is gone: no close frame
        await wait_for(lambda: channel.absence is not None, 3)
        channel.send(PromptMessage("Are you there"))
        channel.send(DtmfMessage("5"))
        await wait_for(lambda: app.refused >= 1, 3)
        app.refusing = False
        await wait_for(lambda: len(app.peers) == 2 and len(app.peers[1].got) == 3, 3)
        back = app.peers[1]
        assert back.signed and back.got[0] == app.peers[0].got[0]  # the same setup, again
        assert back.got[0]["sessionId"] == "VX1" and back.got[0]["callSid"] == "CA1"
        assert back.got[1:] == [
            {"type": "prompt", "voicePrompt": "Are you there", "lang": "en-US", "last": True},
            {"type": "dtmf", "digit": "5"},
        ]
        await back.ws.send(json.dumps({"type": "text", "token": "Yes.", "last": True}))
        await wait_for(lambda: seen, 3)
        assert seen == [TextMessage("Yes.", True)]
        channel.send(InfoMessage("agentSpeaking", "on"))  # after the replay, as it comes
        await wait_for(lambda: len(back.got) == 4, 3)
        await back.ws.close(1000)  # the app ends the session
        await asyncio.wait_for(reader, 3)
        await channel.close()
    assert app.peers[0].signed and len(app.peers) == 2
    assert channel.reconnects == 1 and channel.events_dropped == 0
    assert [type(m) for m in channel.sent] == [SetupMessage, PromptMessage, DtmfMessage,
                                               SetupMessage, InfoMessage]  # fmt: skip


async def set_up(
    app: FlakyApp, policy: ReconnectPolicy | None
) -> tuple[AppChannel, asyncio.Task[None]]:
    """A channel open to ``app`` (``policy``: ``applicationReconnect``'s, None: off), its
    ``setup`` received there, its messages read in a task."""
    channel = AppChannel(app.url, TOKEN, 2.0, policy)
    await channel.open()
    channel.send(SETUP)
    reader = asyncio.get_running_loop().create_task(read_all(channel, []))
    await wait_for(lambda: app.peers and app.peers[0].got, 3)
    return channel, reader


async def test_going_away_is_a_drop_and_a_normal_close_ends_the_session() -> None:
    async with flaky_app() as app:
        channel, reader = await set_up(app, QUICK)
        await app.peers[0].ws.close(1001)  # a redeploy's close
        await wait_for(lambda: len(app.peers) == 2 and app.peers[1].got, 3)
        assert app.peers[1].types() == ["setup"]
        await app.peers[1].ws.close(1000)
        await asyncio.wait_for(reader, 3)  # ended, no StreamFailed
        await channel.close()
    assert len(app.peers) == 2 and channel.reconnects == 1


async def test_without_application_reconnect_going_away_ends_the_session_as_before() -> None:
    async with flaky_app() as app:
        channel, reader = await set_up(app, None)
        await app.peers[0].ws.close(1001)
        await asyncio.wait_for(reader, 3)
        await channel.close()
    assert len(app.peers) == 1 and channel.reconnects == 0


async def test_messages_queued_when_the_socket_broke_are_sent_again() -> None:
    async with flaky_app() as app:
        channel, reader = await set_up(app, QUICK)
        ws = channel._ws
        assert ws is not None
        ws.transport.abort()  # the network fails under the gateway's own socket...
        channel.send(PromptMessage("one"))  # ... with these queued, not yet written
        channel.send(PromptMessage("two"))
        await wait_for(lambda: len(app.peers) == 2 and len(app.peers[1].got) == 3, 3)
        assert app.peers[0].types() == ["setup"]
        assert [m.get("voicePrompt") for m in app.peers[1].got] == [None, "one", "two"]
        assert app.peers[1].types()[0] == "setup"
        await app.peers[1].ws.close(1000)
        await asyncio.wait_for(reader, 3)
        await channel.close()


async def test_over_the_cap_the_later_messages_are_dropped_and_counted() -> None:
    async with flaky_app() as app:
        channel, reader = await set_up(app, replace(QUICK, max_events=3))
        app.refusing = True
        app.peers[0].ws.transport.abort()
        await wait_for(lambda: channel.absence is not None, 3)
        for n in range(5):
            channel.send(DtmfMessage(str(n)))
        app.refusing = False
        await wait_for(lambda: len(app.peers) == 2 and len(app.peers[1].got) == 4, 3)
        assert app.peers[1].got[1:] == [{"type": "dtmf", "digit": d} for d in "012"]
        await app.peers[1].ws.close(1000)
        await asyncio.wait_for(reader, 3)
        await channel.close()
    assert channel.events_dropped == 2
    assert [m for m in channel.sent if isinstance(m, DtmfMessage)] == [
        DtmfMessage("0"), DtmfMessage("1"), DtmfMessage("2"),
    ]  # fmt: skip


@pytest.mark.parametrize("how", ["never back", "back and dropped at once"])
async def test_an_app_not_back_within_the_bound_fails_the_stream(how: str) -> None:
    policy = replace(QUICK, within=0.5)
    async with flaky_app() as app:
        channel = AppChannel(app.url, TOKEN, 2.0, policy)
        await channel.open()
        channel.send(SETUP)
        await wait_for(lambda: app.peers, 3)
        app.refusing = how == "never back"
        app.drop_at_once = how != "never back"
        loop = asyncio.get_running_loop()
        dropped_at = loop.time()
        app.peers[0].ws.transport.abort()
        with pytest.raises(StreamFailed, match="was not back within 0.5 s"):
            await asyncio.wait_for(read_all(channel, []), 5)
        assert loop.time() - dropped_at >= policy.within
        await channel.close()
    assert channel.absence is None
    if how == "never back":
        assert app.refused >= 2 and channel.reconnects == 0
    else:  # each socket back counted, the absence one all along: its bound held
        assert len(app.peers) >= 3 and channel.reconnects == len(app.peers) - 1


async def test_closing_the_channel_while_the_app_is_away_stops_reconnecting() -> None:
    async with flaky_app() as app:
        channel = AppChannel(app.url, TOKEN, 2.0, QUICK)
        await channel.open()
        channel.send(SETUP)
        reader = asyncio.get_running_loop().create_task(read_all(channel, []))
        await wait_for(lambda: app.peers, 3)
        app.refusing = True
        app.peers[0].ws.transport.abort()
        await wait_for(lambda: app.refused >= 1, 3)
        await channel.close()  # the call hung up
        await asyncio.wait_for(reader, 3)  # ended, no StreamFailed
        app.refusing = False
        refused, peers = app.refused, len(app.peers)
        await asyncio.sleep(0.3)  # three of QUICK's longest waits: no attempt after the close
        assert (app.refused, len(app.peers)) == (refused, peers) == (refused, 1)
        assert channel.absence is None
