"""The WebSocket plumbing both speech-to-speech clients share, against small local servers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from sipgw.agent.services.s2s.base import S2sConnectError, SessionConfig, SessionFailed, ToolSpec
from sipgw.agent.services.s2s.session import WebSocketSession, decode_audio, public_url


class Probe(WebSocketSession):
    """The plumbing with trivial vendor hooks: audio as ``{"type": "audio", "bytes": n}``."""

    name = "probe"

    def __init__(self, chunk_ms: int = 60, connect_timeout: float = 2.0) -> None:
        super().__init__(
            chunk_ms=chunk_ms, connect_timeout=connect_timeout, ws_logger=logging.getLogger("p")
        )
        self.seen: list[Mapping[str, Any]] = []

    async def connect(self, config: SessionConfig) -> None:
        raise NotImplementedError

    def send_tool_result(self, call_id: str, output: str) -> None:
        self._send({"type": "result", "call_id": call_id})

    def cancel_reply(self, reply_id: str, played_ms: int) -> None: ...

    def request_reply(self, instructions: str = "") -> None: ...

    def add_caller_text(self, text: str) -> None: ...

    def update_instructions(self, instructions: str) -> None: ...

    def update_tools(self, tools: tuple[ToolSpec, ...]) -> None: ...

    def _audio_message(self, chunk: bytes) -> dict[str, Any]:
        return {"type": "audio", "bytes": len(chunk)}

    def _dispatch(self, message: Mapping[str, Any], now: float) -> None:
        self.seen.append(message)


class Server:
    """A WebSocket server recording what it receives; ``hello`` is sent to each connection."""

    def __init__(self, hello: list[dict[str, Any]] | None = None, refuse: int | None = None):
        self.hello = hello or []
        self.refuse = refuse
        self.received: list[dict[str, Any]] = []
        self.connections: list[ServerConnection] = []
        self.port = 0

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse is not None:
            return connection.respond(self.refuse, "go away\n")
        return None

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        for message in self.hello:
            await ws.send(json.dumps(message))
        async for raw in ws:
            self.received.append(json.loads(raw))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"


@asynccontextmanager
async def running(server: Server) -> AsyncIterator[Server]:
    async with serve(
        server.handler, "127.0.0.1", 0, process_request=server.process_request
    ) as ws_server:
        server.port = ws_server.sockets[0].getsockname()[1]
        yield server


async def until(condition: Any, within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the condition is the server's records
            await asyncio.sleep(0.01)


async def test_audio_is_joined_into_chunks_and_a_partial_one_goes_on_demand() -> None:
    async with running(Server()) as server:
        probe = Probe(chunk_ms=60)
        probe._start(await probe._open(server.url, {}, "Probe"))
        for _ in range(7):
            probe.send_audio(bytes(160))
        probe._flush_audio()  # what precedes a commit: the seventh frame alone
        await until(lambda: len(server.received) == 3)
        assert server.received == [{"type": "audio", "bytes": 480}] * 2 + [
            {"type": "audio", "bytes": 160}
        ]
        assert probe.stats.audio_in_seconds == pytest.approx(0.14)
        await probe.close()


async def test_audio_while_disconnected_is_dropped_and_counted() -> None:
    probe = Probe(chunk_ms=20)
    for _ in range(5):
        probe.send_audio(bytes(160))
    assert probe.stats.audio_dropped_seconds == pytest.approx(0.1)
    assert probe.stats.audio_in_seconds == 0


async def test_a_refused_upgrade_names_the_service_and_the_status() -> None:
    async with running(Server(refuse=403)) as server:
        with pytest.raises(
            S2sConnectError, match=r"Probe refused the connection: HTTP 403: go away"
        ):
            await Probe()._open(server.url, {}, "Probe")


async def test_an_unreachable_or_silent_service_fails_within_the_connect_timeout() -> None:
    listener = await asyncio.start_server(lambda r, w: asyncio.sleep(10), "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        with pytest.raises(S2sConnectError, match=r"did not answer within 0.3 s") as silent:
            await Probe(connect_timeout=0.3)._open(f"ws://127.0.0.1:{port}/?token=x", {}, "Probe")
        assert "token" not in str(silent.value)  # the query may carry a secret
    with pytest.raises(S2sConnectError, match="could not connect to Probe"):
        await Probe()._open(f"ws://127.0.0.1:{port}/", {}, "Probe")


async def test_waiting_for_an_answer_dispatches_the_rest_and_reports_a_refusal() -> None:
    hello = [{"type": "early"}, {"type": "ready"}, {"type": "after"}]
    async with running(Server(hello)) as server:
        probe = Probe()
        ws = await probe._open(server.url, {}, "Probe")
        ready = await probe._await_message(
            ws, lambda m: m["type"] == "ready", lambda m: None, "Probe", "ready"
        )
        assert ready == {"type": "ready"} and probe.seen == [{"type": "early"}]
        await ws.close()
    refusal = [{"type": "oops", "code": "bad_voice"}]
    async with running(Server(refusal)) as server:
        probe = Probe()
        ws = await probe._open(server.url, {}, "Probe")
        with pytest.raises(S2sConnectError, match="Probe refused the session: no") as refused:
            await probe._await_message(
                ws, lambda m: m["type"] == "ready", lambda m: "no", "Probe", "ready"
            )
        assert refused.value.code == "bad_voice"
        await ws.close()


async def test_messages_queued_during_an_outage_go_out_on_the_next_connection() -> None:
    async with running(Server()) as server:
        probe = Probe(chunk_ms=20)
        probe._start(await probe._open(server.url, {}, "Probe"))
        await until(lambda: len(server.connections) == 1)
        probe._connection_lost = _ignore  # type: ignore[method-assign]
        await server.connections[0].close()
        await until(lambda: not probe.connected)
        probe.send_tool_result("call_1", "{}")  # waits for the next connection
        probe.send_audio(bytes(160))  # dropped
        probe._start(await probe._open(server.url, {}, "Probe"))
        await until(lambda: len(server.received) == 1)
        assert server.received == [{"type": "result", "call_id": "call_1"}]
        assert probe.stats.audio_dropped_seconds == pytest.approx(0.02)
        await probe.close()


async def _ignore(code: int | None, reason: str) -> None:
    return None


async def test_an_unexpected_close_fails_the_session_and_ends_its_events() -> None:
    async with running(Server([{"type": "hi"}])) as server:
        probe = Probe()
        probe._start(await probe._open(server.url, {}, "Probe"))
        await until(lambda: len(server.connections) == 1)
        await server.connections[0].close(1011, "oops")
        events = [event async for event in probe.events()]
        assert len(events) == 1 and isinstance(events[0], SessionFailed)
        assert "1011 oops" in events[0].reason
        await probe.close()


async def test_close_sends_what_is_queued_then_closes_cleanly() -> None:
    async with running(Server()) as server:
        probe = Probe()
        probe._start(await probe._open(server.url, {}, "Probe"))
        probe.send_tool_result("last", "{}")
        await probe.close()
        await until(lambda: server.received == [{"type": "result", "call_id": "last"}])
        assert server.connections[0].close_code == 1000
        assert [event async for event in probe.events()] == []  # ended, nothing failed


def test_helpers() -> None:
    assert public_url("wss://host/v1/ws?token=secret") == "wss://host/v1/ws"
    assert decode_audio("AAE=") == b"\x00\x01"
    assert decode_audio("not base64!") == b"" and decode_audio(None) == b""
