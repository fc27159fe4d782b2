"""What both speech-to-speech clients share: one WebSocket carrying JSON events both ways.

:class:`WebSocketSession` implements the plumbing of
:class:`sipgw.agent.services.s2s.base.SpeechToSpeech`; a vendor module adds its URL, its
messages and what they mean:

* **Opening** (:meth:`WebSocketSession._open`): the upgrade within the connect
  timeout; a refusal, a timeout or an unreachable host becomes
  :class:`~sipgw.agent.services.s2s.base.S2sConnectError` naming the service and the HTTP
  status. While the session is being configured the vendor reads the
  answers itself (:meth:`WebSocketSession._await_message`): messages it does not
  wait for go to its dispatcher as usual, so nothing said early (a greeting's
  first audio) is lost.
* **Sending never waits.** Messages go to a queue that a writer task drains in
  order; the caller's audio is joined into ``chunk_ms`` chunks (20 ms frames
  in, fewer and larger messages out, unchanged bytes). While the connection is
  down, audio is dropped (and counted); other messages wait in the queue for
  the next connection. The join is a bytearray, not the STT uplink's
  :class:`~sipgw.agent.services.stt.uplink.ChunkQueue`: that queue keeps a backlog across an
  outage, cuts within a service's smallest and largest message, skips silence
  while catching up and is drained by a real-time pacer, none of which applies
  here. OpenAI's Realtime reference lets the client put any amount of audio in
  an ``input_audio_buffer.append``, up to 15 MiB, and AssemblyAI's Voice Agent
  pages bound ``input.audio`` by nothing (docs/cloud-apis.md); a turn's commit
  sends whatever is batched however short; and audio from before a
  reconnection is never sent late (the conversation has moved on): nothing is
  queued but one chunk.
* **Receiving**: a reader task decodes each JSON text frame and hands it to
  :meth:`WebSocketSession._dispatch`, which turns it into events
  (:meth:`WebSocketSession._emit`). When the connection ends without
  :meth:`close`, :meth:`WebSocketSession._connection_lost` decides (resume, or
  :class:`~sipgw.agent.services.s2s.base.SessionFailed`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.protocol import State

from sipgw.agent.services.json_messages import json_object
from sipgw.agent.services.s2s.base import (
    S2sConnectError,
    S2sEvent,
    S2sStats,
    SessionFailed,
    SpeechToSpeech,
    ToolSpec,
)
from sipgw.agent.services.websocket_client import VendorConnection
from sipgw.media.codecs import PCM16_24K, ULAW_8K, AudioFormat

__all__ = ["BYTES_PER_MS", "WebSocketSession", "decode_audio", "function_tools", "public_url"]

log = logging.getLogger("sipgw.agent.s2s")

BYTES_PER_MS: Final = ULAW_8K.bytes_per_ms
"""G.711 at 8 kHz: one byte per sample (the default format)."""
_CLOSE_TIMEOUT: Final = 2.0
_PING_INTERVAL: Final = 20.0
_MAX_MESSAGE: Final = 16 * 1024 * 1024


def public_url(url: str) -> str:
    """``url`` without its query (which may carry a token), for messages and logs."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def function_tools(tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    """The ``tools`` of a ``session.update`` (the same shape for both services)."""
    return [
        {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.parameters),
        }
        for tool in tools
    ]


def decode_audio(value: object) -> bytes:
    """A base64 audio field's bytes; b"" when it is missing or not base64."""
    if not isinstance(value, str) or not value:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return b""


class WebSocketSession(SpeechToSpeech):
    """The shared half of a speech-to-speech client; see the module docstring.

    Args:
        chunk_ms: caller audio per message (a multiple of 20 ms).
        connect_timeout: seconds for the upgrade and the session's configuration.
        ws_logger: the logger handed to ``websockets`` (one that masks the key).
    """

    audio_formats: frozenset[AudioFormat] = frozenset({ULAW_8K, PCM16_24K})

    def __init__(self, *, chunk_ms: int, connect_timeout: float, ws_logger: logging.Logger):
        self._chunk_ms = max(1, chunk_ms // 20) * 20
        self._chunk_bytes = self._chunk_ms * BYTES_PER_MS
        self._bytes_per_ms = BYTES_PER_MS
        self._connect_timeout = connect_timeout
        self._ws_logger = ws_logger
        self._ws: ClientConnection | None = None
        self._events: asyncio.Queue[S2sEvent | None] = asyncio.Queue()
        self._outbox: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()  # (JSON, is audio)
        self._tasks: set[asyncio.Task[None]] = set()
        self._batch = bytearray()
        self._stats = S2sStats()
        self._closing = False
        self._ended = False

    # ----------------------------------------------------------------- vendor hooks

    @abstractmethod
    def _audio_message(self, chunk: bytes) -> dict[str, Any]:
        """The message carrying one chunk of caller audio."""

    @abstractmethod
    def _dispatch(self, message: Mapping[str, Any], now: float) -> None:
        """Turn one message from the service into events."""

    async def _connection_lost(self, code: int | None, reason: str) -> None:
        """The connection ended unexpectedly; by default the session is over."""
        self._fail(f"the connection closed ({code} {reason})".strip(), None)

    async def _say_goodbye(self, ws: ClientConnection) -> None:  # noqa: B027 - optional
        """Before the connection closes at :meth:`close`: end the session on the wire."""

    # ----------------------------------------------------------------- SpeechToSpeech

    @property
    def stats(self) -> S2sStats:
        return self._stats

    def use_audio_format(self, audio: AudioFormat) -> None:
        super().use_audio_format(audio)
        self._bytes_per_ms = audio.bytes_per_ms
        self._chunk_bytes = self._chunk_ms * audio.bytes_per_ms

    def send_audio(self, frame: bytes) -> None:
        self._batch += frame
        if len(self._batch) >= self._chunk_bytes:
            self._flush_audio()

    def _flush_audio(self) -> None:
        """Send the audio batched so far (a full chunk, or what precedes a commit)."""
        if not self._batch:
            return
        chunk, self._batch = bytes(self._batch), bytearray()
        seconds = len(chunk) / (self._bytes_per_ms * 1000)
        if not self.connected:
            self._stats.audio_dropped_seconds += seconds
            return
        self._stats.audio_in_seconds += seconds
        self._send(self._audio_message(chunk), audio=True)

    async def events(self) -> AsyncIterator[S2sEvent]:
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        ws = self._ws
        if ws is not None and ws.state is State.OPEN:
            await self._flush_outbox(ws)
            with contextlib.suppress(ConnectionClosed, TimeoutError, OSError):
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await self._say_goodbye(ws)
                    await ws.close(1000)
        if ws is not None and ws.state is not State.CLOSED:
            ws.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._end()

    # ----------------------------------------------------------------- helpers

    @property
    def connected(self) -> bool:
        """The connection is open (audio sent now reaches the service)."""
        return self._ws is not None and self._ws.state is State.OPEN and not self._closing

    async def _open(self, url: str, headers: Mapping[str, str], service: str) -> ClientConnection:
        """Upgrade to a WebSocket within the connect timeout.

        Raises:
            S2sConnectError: refused (with its HTTP status), unreachable or too slow.
        """
        where = public_url(url)
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await ws_connect(
                    url,
                    additional_headers=dict(headers),
                    logger=self._ws_logger,
                    compression=None,
                    open_timeout=None,
                    ping_interval=_PING_INTERVAL,
                    ping_timeout=_PING_INTERVAL,
                    close_timeout=_CLOSE_TIMEOUT,
                    max_size=_MAX_MESSAGE,
                    create_connection=VendorConnection,
                )
        except TimeoutError:
            raise S2sConnectError(
                f"{service} at {where} did not answer within {self._connect_timeout:g} s"
            ) from None
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = bytes(exc.response.body or b"")[:200].decode("utf-8", "replace").strip()
            detail = f": {body}" if body else ""
            raise S2sConnectError(
                f"{service} refused the connection: HTTP {status}{detail}", status=status
            ) from exc
        except InvalidURI as exc:
            raise S2sConnectError(f"invalid {service} URL: {exc}") from exc
        except (OSError, InvalidHandshake) as exc:
            raise S2sConnectError(f"could not connect to {service} at {where}: {exc}") from exc

    async def _await_message(
        self,
        ws: ClientConnection,
        wanted: Callable[[Mapping[str, Any]], bool],
        failure: Callable[[Mapping[str, Any]], str | None],
        service: str,
        what: str,
    ) -> Mapping[str, Any]:
        """Read until a message ``wanted`` accepts; other messages are dispatched.

        Raises:
            S2sConnectError: ``failure`` named a problem in a message, the
                connection closed, or the connect timeout passed.
        """
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                while True:
                    message = json_object(await ws.recv(), "The speech-to-speech service", log)
                    if message is None:
                        continue
                    if wanted(message):
                        return message
                    problem = failure(message)
                    if problem is not None:
                        code = message.get("code") or _nested(message, "error", "code")
                        raise S2sConnectError(
                            f"{service} refused the session: {problem}",
                            code=code if isinstance(code, str) else None,
                        )
                    self._dispatch(message, loop.time())
        except TimeoutError:
            raise S2sConnectError(
                f"{service} sent no {what} within {self._connect_timeout:g} s"
            ) from None
        except ConnectionClosed:
            code, reason = ws.close_code, ws.close_reason or ""
            raise S2sConnectError(
                f"{service} closed the connection before {what}: {code} {reason}".strip()
            ) from None

    def _start(self, ws: ClientConnection) -> None:
        """Serve an open connection: the writer and the reader."""
        self._ws = ws
        self._spawn(self._write_loop(ws))
        self._spawn(self._read_loop(ws))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _send(self, message: Mapping[str, Any], audio: bool = False) -> None:
        if self._ended or self._closing:
            return
        self._outbox.put_nowait((json.dumps(message, separators=(",", ":")), audio))

    def _emit(self, event: S2sEvent) -> None:
        if not self._ended:
            self._events.put_nowait(event)

    def _fail(self, reason: str, code: str | None) -> None:
        if self._ended or self._closing:
            return
        log.error("%s session failed: %s", self.name, reason)
        self._emit(SessionFailed(reason, code))
        self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._events.put_nowait(None)

    def _count_error(self, code: str) -> None:
        self._stats.errors[code] = self._stats.errors.get(code, 0) + 1

    async def _write_loop(self, ws: ClientConnection) -> None:
        outbox = self._outbox
        while True:
            text, audio = await outbox.get()
            try:
                await ws.send(text)
            except ConnectionClosed:
                if not audio:
                    outbox.put_nowait((text, audio))  # sent again on the next connection
                return

    async def _flush_outbox(self, ws: ClientConnection) -> None:
        """Send what is still queued (a last tool result) before the connection closes."""
        with contextlib.suppress(ConnectionClosed, TimeoutError, OSError):
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                while not self._outbox.empty():
                    await ws.send(self._outbox.get_nowait()[0])

    async def _read_loop(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for raw in ws:
                message = json_object(raw, "The speech-to-speech service", log)
                if message is not None:
                    self._dispatch(message, loop.time())
        except ConnectionClosed:
            pass
        if self._closing or self._ended:
            return
        await self._connection_lost(ws.close_code, ws.close_reason or "")


def _nested(message: Mapping[str, Any], outer: str, inner: str) -> object:
    value = message.get(outer)
    return value.get(inner) if isinstance(value, Mapping) else None
