"""ElevenLabs text-to-speech for phone calls: μ-law 8 kHz (or 16 kHz PCM) out, sentence text in.

The audio is asked for in the call's format (``output_format``, :data:`OUTPUT_FORMATS`):
``ulaw_8000`` on a G.711 call, which goes to RTP untouched, ``pcm_16000`` (raw
little-endian 16-bit samples, ElevenLabs' "PCM format (S16LE)") on an HD-voice call,
which the media encodes into its 16 kHz codec (docs/hd-voice.md).

Implements :class:`sipgw.agent.services.tts.base.TextToSpeech` and
:class:`sipgw.agent.services.tts.base.TtsReply`;
everything below is ElevenLabs'. Two transports share one API (docs/cloud-apis.md,
"ElevenLabs text-to-speech"):

- ``"websocket"`` (default): one multi-context socket per call
  (``/v1/text-to-speech/{voice}/multi-stream-input``; docs/cloud-apis.md,
  "ElevenLabs multi-context WebSocket"), opened by
  :meth:`ElevenLabsTTSService.connect` while the phone rings. Each reply is a context
  with its own id (``r1``, ``r2`` ...), so a barge-in closes one context and the next
  reply starts at once on the same socket.
- ``"http"``: one streaming ``POST /v1/text-to-speech/{voice}/stream`` per sentence
  (docs/cloud-apis.md, "ElevenLabs HTTP streaming"). The next sentence's request may
  start while the previous one streams; audio is still handed out in sentence order.

Theory of operation (WebSocket)
-------------------------------
A reply sends nothing until its first sentence. Then, in order::

    {"text": " ", "context_id": "r1", "voice_settings": ..., "generation_config": ...}
    {"text": "Hello there. ", "context_id": "r1", "flush": true}      # per sentence
    {"context_id": "r1", "close_context": true}                       # finish() or cancel()

The server answers ``{"audio": "<b64>", "contextId": "r1", "alignment": ...}`` messages
and, once the context is closed and drained, ``{"isFinal": true, "contextId": "r1"}``
(``is_final`` accepted too), which ends :meth:`TtsReply.audio`.

Every sentence is flushed because the LLM hands over whole sentences: synthesis starts
now instead of waiting for the 120-character chunk schedule. :meth:`TtsReply.finish`
sends ``close_context`` right after the last flush instead of waiting for its audio: the
multi-context spec says a context "already set to flush ... will continue flushing"
when closed, so no audio is cut, the final message arrives right after the last audio
byte (no idle wait, no guess at when generation is over), and the context slot is
released as early as possible. The one thing close_context would cut is unflushed text,
and this client never leaves any.

Barge-in (:meth:`TtsReply.cancel`) follows the recipe of docs/cloud-apis.md,
"ElevenLabs multi-context WebSocket": the reply stops yielding at once,
``close_context`` goes out without waiting for anything, and every later
message of that context is dropped. The context still counts against the server's
limit of 5 until its final message, so the client keeps it on its books until then; a
new reply that finds 5 contexts open waits for one to drain (``context_wait_timeout``)
and, if only cancelled contexts block it, moves to a fresh socket.

The idle socket is kept alive with the official SDK's ``KeepContextAlive`` message,
``{"text": "", "context_id": ...}``, on a context of its own that is closed at once
(see :meth:`_WsConnection._keep_alive`); that context is booked like a reply's until
its final message, so it counts against the limit of 5 too.

Errors: an error message naming a live context fails that reply only; one naming a
context that is no longer open (it had its final, or it is a keep-alive's) concerns no
reply and is logged; one naming no context concerns the socket (the server closes the
socket after those: docs/cloud-apis.md, "ElevenLabs multi-context WebSocket").

If the socket drops, replies in flight fail with :class:`TtsError`; the next reply (or
``send_text`` of a reply that had not sent anything yet) reconnects once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import weakref
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx2
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from sipgw.agent.services.json_messages import json_object
from sipgw.agent.services.tts.base import (
    TextToSpeech,
    TtsAlignment,
    TtsAudio,
    TtsConnectError,
    TtsError,
    TtsReply,
)
from sipgw.agent.services.websocket_client import VendorConnection
from sipgw.foundation.redact import websocket_logger
from sipgw.media.codecs.base import PCM16_16K, ULAW_8K, AudioFormat

__all__ = ["MAX_CONTEXTS", "OUTPUT_FORMATS", "ElevenLabsSettings", "ElevenLabsTTSService"]

log = logging.getLogger(__name__)
_WS_LOG = websocket_logger("websockets.client.elevenlabs")  # masks the xi-api-key header

MAX_CONTEXTS: Final = 5
"""Concurrent contexts the server allows per multi-context socket (docs/cloud-apis.md,
"ElevenLabs multi-context WebSocket")."""

OUTPUT_FORMATS: Final[dict[str, AudioFormat]] = {"ulaw_8000": ULAW_8K, "pcm_16000": PCM16_16K}
"""The ``output_format`` s a call may ask for, and the agent format each is: ``ulaw_8000``
(raw 8-bit μ-law) and ``pcm_16000`` ("PCM format (S16LE) with 16kHz sample rate" in
ElevenLabs' API reference: raw little-endian 16-bit samples, no header)."""

_WS_SCHEMES: Final = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}
_HTTP_SCHEMES: Final = {"https": "https", "http": "http", "wss": "https", "ws": "http"}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class ElevenLabsSettings:
    """How to reach ElevenLabs and what to ask for.

    Attributes:
        api_key: Sent as the ``xi-api-key`` header.
        voice_id: The voice.
        base_url: ``https://api.elevenlabs.io``, a regional one
            (``https://api.us.elevenlabs.io``, ``https://api.eu.residency.elevenlabs.io``)
            or a local fake (``http://127.0.0.1:PORT``). The WebSocket URL is derived
            from it (https -> wss, http -> ws).
        model_id: ``eleven_flash_v2_5`` has the lowest latency (docs/cloud-apis.md,
            "ElevenLabs models and latency").
        output_format: ``ulaw_8000`` (the default: on a G.711 call the audio goes to RTP
            untouched) or ``pcm_16000`` (an HD-voice call's 16 kHz: :data:`OUTPUT_FORMATS`).
        transport: ``"websocket"`` (multi-context stream-input, one socket per call) or
            ``"http"`` (one streaming POST per sentence).
        voice_settings: Sent as ``voice_settings`` (stability, similarity_boost, speed ...).
        language_code: Optional ISO 639-1 code.
        text_normalization: ``apply_text_normalization`` (``auto``, ``on``, ``off``: whether
            the server spells out numbers, dates and the like before speaking them), a
            WebSocket query parameter or the HTTP body's field; None: the server's default.
        inactivity_timeout: Seconds before the server closes an idle socket or context
            (WebSocket query parameter, 1-180).
        keepalive_interval: Seconds without a message after which the idle socket is
            kept alive (the SDK's ``KeepContextAlive`` on a context of its own, opened
            and closed: nothing is synthesized), so a reply after a long caller
            monologue needs no new handshake. None = half of ``inactivity_timeout``;
            0 = never.
        auto_mode: The ``auto_mode`` query parameter. ElevenLabs recommends it when whole
            sentences are sent (as here): generation starts on each sentence instead of
            waiting for the chunk schedule (docs/cloud-apis.md,
            "ElevenLabs multi-context WebSocket").
        connect_timeout: Seconds allowed for a TCP/TLS/WebSocket handshake.
        chunk_length_schedule: WebSocket ``generation_config``; None keeps the server's.
        read_timeout: Seconds of silence allowed inside an HTTP audio stream.
        http_max_parallel: HTTP requests of one reply allowed in flight at once (>= 1).
        context_wait_timeout: Seconds a new reply waits for a context slot to drain.
        max_contexts: The server's per-socket context limit.
        first_audio_timeout: Seconds after a WebSocket reply's last text (its
            :meth:`~sipgw.agent.services.tts.base.TtsReply.finish`) that its first audio may take;
            then the reply fails (its context is closed) instead of waiting in silence.
    """

    api_key: str = field(repr=False)
    voice_id: str
    base_url: str = "https://api.elevenlabs.io"
    model_id: str = "eleven_flash_v2_5"
    output_format: str = "ulaw_8000"
    transport: str = "websocket"
    voice_settings: Mapping[str, float | bool] | None = None
    language_code: str | None = None
    text_normalization: str | None = None
    inactivity_timeout: int = 180
    keepalive_interval: float | None = None
    auto_mode: bool = True
    connect_timeout: float = 5.0
    chunk_length_schedule: tuple[int, ...] | None = None
    read_timeout: float = 10.0
    http_max_parallel: int = 2
    context_wait_timeout: float = 2.0
    max_contexts: int = MAX_CONTEXTS
    first_audio_timeout: float = 3.0

    def __post_init__(self) -> None:
        """Reject settings the server would refuse later, with a clear message.

        Raises:
            ValueError: An unknown transport or URL scheme, or a value out of range.
        """
        if self.transport not in ("websocket", "http"):
            raise ValueError(f"transport must be 'websocket' or 'http', not {self.transport!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(
                f"output_format must be one of {', '.join(OUTPUT_FORMATS)}, "
                f"not {self.output_format!r}"
            )
        if self.text_normalization not in (None, "auto", "on", "off"):
            raise ValueError(
                f"text_normalization must be auto, on or off, not {self.text_normalization!r}"
            )
        if not 1 <= self.inactivity_timeout <= 180:
            raise ValueError(f"inactivity_timeout must be 1-180, not {self.inactivity_timeout}")
        if self.keepalive_interval is not None and self.keepalive_interval < 0:
            raise ValueError("keepalive_interval must not be negative")
        if self.http_max_parallel < 1 or self.max_contexts < 1:
            raise ValueError("http_max_parallel and max_contexts must be at least 1")
        if self.first_audio_timeout <= 0:
            raise ValueError("first_audio_timeout must be positive")
        if urlsplit(self.base_url).scheme not in _WS_SCHEMES:
            raise ValueError(f"base_url must be an http(s) or ws(s) URL, not {self.base_url!r}")

    @property
    def audio_format(self) -> AudioFormat:
        """The audio its replies hand out (:data:`OUTPUT_FORMATS`)."""
        return OUTPUT_FORMATS[self.output_format]

    def ws_url(self) -> str:
        """The multi-context WebSocket URL, with its query parameters."""
        params = [
            ("model_id", self.model_id),
            ("output_format", self.output_format),
            ("inactivity_timeout", str(self.inactivity_timeout)),
        ]
        if self.auto_mode:
            params.append(("auto_mode", "true"))
        if self.language_code:
            params.append(("language_code", self.language_code))
        if self.text_normalization:
            params.append(("apply_text_normalization", self.text_normalization))
        path = f"/v1/text-to-speech/{quote(self.voice_id, safe='')}/multi-stream-input"
        return self._url(_WS_SCHEMES, path, urlencode(params))

    def keepalive_seconds(self) -> float:
        """How long the socket may stay silent before a keep-alive (0 = never)."""
        if self.keepalive_interval is None:
            return self.inactivity_timeout / 2
        return self.keepalive_interval

    def http_base(self) -> str:
        """``base_url`` with an http(s) scheme."""
        return self._url(_HTTP_SCHEMES, "", "")

    def stream_path(self) -> str:
        """Path of the HTTP streaming endpoint (relative to :meth:`http_base`)."""
        return f"v1/text-to-speech/{quote(self.voice_id, safe='')}/stream"

    def _url(self, schemes: Mapping[str, str], path: str, query: str) -> str:
        parts = urlsplit(self.base_url)
        base_path = parts.path.rstrip("/")
        return urlunsplit((schemes[parts.scheme], parts.netloc, base_path + path, query, ""))


# --------------------------------------------------------------------------- replies


class _WsReply(TtsReply):
    """A reply on the multi-context WebSocket: one context (see the module docstring).

    Its ``close_context`` waits for its first audio: sent right after the last text, it
    can reach the server before synthesis has registered that text, and the server then
    ends the context with no audio, at times with no final either (a silent turn:
    pipecat-ai/pipecat#4681 and #5271; ElevenLabs confirmed the race, per #5282). Once
    audio streams, the final comes after the last byte. A context that sends no audio
    within ``first_audio_timeout`` of the last text, or ends without any, fails the reply.
    """

    def __init__(self, service: ElevenLabsTTSService, reply_id: str) -> None:
        super().__init__(reply_id)
        self.format = service.settings.audio_format
        self._service = service
        self._conn: _WsConnection | None = None
        self._open_on_server = False
        self._finished = False
        self._close_sent = False
        self._close_pending = False
        self._text_sent = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()

    async def send_text(self, text: str) -> None:
        sendable = self._text_to_send(text, self._finished)
        if sendable is None:
            return
        text = sendable
        async with self._lock:
            conn = self._conn if self._open_on_server else await self._open_context()
            if conn is None or self.cancelled:
                return
            await self._send(conn, {"text": text + " ", "context_id": self.id, "flush": True})
            self._text_sent = True

    async def _open_context(self) -> _WsConnection | None:
        """Bind to a live socket with a free slot and send the context's first message."""
        conn = await self._service._bind(self)
        if self.cancelled:  # cancelled while waiting: the server never heard of us
            conn.forget(self.id)
            return None
        self._conn = conn
        self._open_on_server = True
        await self._send(conn, self._service._init_message(self.id))
        return conn

    async def _send(self, conn: _WsConnection, message: dict[str, Any]) -> None:
        try:
            await conn.send(message)
        except TtsError as exc:
            self._fail(exc)
            raise

    async def finish(self) -> None:
        if self._finished or self.done:
            return
        self._finished = True
        async with self._lock:
            if not self._open_on_server or self._conn is None:
                self._end()  # nothing is pending on the server
                return
            if self.cancelled or self._close_sent:
                return
            if self._text_sent and self.first_audio_at is None:
                self._close_pending = True  # closed with its first audio (the close race)
                timeout = self._service.settings.first_audio_timeout
                self._watchdog = asyncio.get_running_loop().call_later(timeout, self._no_audio)
                return
            await self._close()

    async def _close(self) -> None:
        """``close_context``: the final message follows the last audio."""
        conn = self._conn
        if self._close_sent or conn is None:
            return
        self._close_sent = True
        with contextlib.suppress(TtsError):  # the failure reaches audio() instead
            await self._send(conn, {"context_id": self.id, "close_context": True})

    def _no_audio(self) -> None:
        """The first audio never came: free the context and fail the reply."""
        self._watchdog = None
        if not self._close_pending or self.done:
            return
        self._close_pending = False
        timeout = self._service.settings.first_audio_timeout
        self._fail(TtsError(f"ElevenLabs sent no audio for context {self.id} within {timeout:g} s"))
        self._service._spawn(self._close())

    async def cancel(self) -> None:
        if not self._mark_cancelled():
            return
        self._close_pending = False
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        conn = self._conn
        if not self._open_on_server or self._close_sent or conn is None or not conn.alive:
            return
        self._close_sent = True
        # The context stays in conn.replies until its final message: it still occupies
        # one of the server's slots, and its late audio must be recognised and dropped.
        with contextlib.suppress(TtsError):
            await conn.send({"context_id": self.id, "close_context": True})

    def _on_audio(self, audio: bytes, received_at: float, alignment: TtsAlignment | None) -> None:
        self._push(audio, received_at, alignment)
        if self._close_pending:  # audio streams: now the close is safe
            self._close_pending = False
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            self._service._spawn(self._close())

    def _on_final(self) -> None:
        """The server closed the context (the connection already forgot it)."""
        self._open_on_server = False
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._finished and self._text_sent and self.first_audio_at is None:
            self._fail(TtsError(f"ElevenLabs ended context {self.id} without audio"))
        elif self._close_sent or self.cancelled or self._close_pending:
            self._end()
        # Else the server expired an idle context: the next send_text opens it again.


@dataclass(slots=True)
class _Segment:
    """One sentence of an HTTP reply: its request task and the audio it got ahead of time."""

    index: int
    text: str
    started: asyncio.Event
    finished: asyncio.Event
    buffered: list[TtsAudio]
    task: asyncio.Task[None] | None = None
    error: TtsError | None = None
    done: bool = False


class _HttpReply(TtsReply):
    """A reply over HTTP: one streaming POST per sentence, replayed in sentence order."""

    def __init__(self, service: ElevenLabsTTSService, reply_id: str) -> None:
        super().__init__(reply_id)
        self.format = service.settings.audio_format
        self._service = service
        self._segments: list[_Segment] = []
        self._head = 0  # the segment whose audio is handed out now
        self._finished = False

    async def send_text(self, text: str) -> None:
        sendable = self._text_to_send(text, self._finished)
        if sendable is None:
            return
        text = sendable
        client = self._service._http_client()
        previous = " ".join(s.text for s in self._segments)
        index = len(self._segments)
        depth = self._service.settings.http_max_parallel
        wait_for = self._segments[index - depth].finished if index >= depth else None
        seg = _Segment(index, text, asyncio.Event(), asyncio.Event(), [])
        self._segments.append(seg)
        seg.task = self._service._spawn(self._fetch(client, seg, previous, wait_for))

    async def _fetch(
        self,
        client: httpx2.AsyncClient,
        seg: _Segment,
        previous: str,
        wait_for: asyncio.Event | None,
    ) -> None:
        try:
            if wait_for is not None:
                await wait_for.wait()
            seg.started.set()
            body = self._service._http_body(seg.text, previous)
            params = {"output_format": self._service.settings.output_format}
            path = self._service.settings.stream_path()
            async with client.stream("POST", path, params=params, json=body) as response:
                if response.status_code >= 400:
                    raise _http_error(response.status_code, await response.aread())
                if request_id := response.headers.get("request-id"):
                    self.request_ids.append(request_id)
                async for chunk in response.aiter_bytes():
                    self._on_chunk(seg, chunk)
        except TtsError as exc:
            seg.error = exc
        except (httpx2.HTTPError, OSError) as exc:
            seg.error = TtsError(f"ElevenLabs HTTP request failed: {exc!r}")
        finally:
            seg.done = True
            seg.finished.set()
            self._advance()

    def _on_chunk(self, seg: _Segment, chunk: bytes) -> None:
        if self.done or not chunk:
            return
        now = asyncio.get_running_loop().time()
        if seg.index == self._head:
            self._push(chunk, now, None)
        else:
            seg.buffered.append(TtsAudio(chunk, None, now))

    def _advance(self) -> None:
        """Hand out audio in sentence order; end or fail the reply when due."""
        while self._head < len(self._segments) and not self.done:
            seg = self._segments[self._head]
            for item in seg.buffered:
                self._push(item.audio, item.received_at, None)
            seg.buffered.clear()
            if not seg.done:
                return
            if seg.error is not None:
                self._fail(seg.error)
                self._stop_all()
                return
            self._head += 1
        if self._finished and self._head == len(self._segments):
            self._end()

    def _stop_all(self) -> None:
        for seg in self._segments:
            if seg.task is not None and not seg.task.done():
                seg.task.cancel()  # leaving `async with client.stream` closes the response

    async def finish(self) -> None:
        if self._finished or self.done:
            return
        self._finished = True
        self._advance()

    async def cancel(self) -> None:
        if self._mark_cancelled():
            self._stop_all()


# --------------------------------------------------------------------------- the socket


class _WsConnection:
    """One multi-context WebSocket: a reader task dispatching messages to contexts."""

    def __init__(self, ws: ClientConnection, max_contexts: int, keepalive: float) -> None:
        self.ws = ws
        self.max_contexts = max_contexts
        self.keepalives = 0
        """Keep-alive messages sent so far."""
        self.replies: dict[str, _WsReply] = {}
        """Contexts open on the server: first message sent, final message not received."""
        self.keepalive_contexts: set[str] = set()
        """Keep-alive contexts open on the server (they count against the limit too)."""
        self.waiting = 0
        """Replies waiting for a free context slot (no keep-alive takes one meanwhile)."""
        self.alive = True
        self.error: TtsError | None = None
        self.slot_freed = asyncio.Event()
        self._send_lock = asyncio.Lock()  # FIFO: messages go out in call order
        loop = asyncio.get_running_loop()
        # the loop's clock, kept: asyncio.get_running_loop() makes a getpid system call on
        # Python 3.11, and every audio message and every send reads the time
        self._clock = loop.time
        self._last_sent = loop.time()
        self.reader = loop.create_task(self._read(), name="elevenlabs-ws")
        self.keeper: asyncio.Task[None] | None = None
        if keepalive > 0:
            self.keeper = loop.create_task(self._keep_alive(keepalive), name="elevenlabs-ka")

    def full(self) -> bool:
        return len(self.replies) + len(self.keepalive_contexts) >= self.max_contexts

    def only_zombies(self) -> bool:
        """Every open context belongs to a cancelled or failed reply."""
        return all(r.done for r in self.replies.values())

    def forget(self, context_id: str) -> None:
        known = context_id in self.keepalive_contexts
        self.keepalive_contexts.discard(context_id)
        if self.replies.pop(context_id, None) is not None or known:
            self.slot_freed.set()
            self.slot_freed = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        if not self.alive:
            raise self.error or TtsError("the ElevenLabs WebSocket is closed")
        data = json.dumps(message, separators=(",", ":"))
        try:
            async with self._send_lock:
                await self.ws.send(data)
                self._last_sent = self._clock()
        except ConnectionClosed as exc:
            raise TtsError(f"the ElevenLabs WebSocket closed: {exc}") from exc

    async def _keep_alive(self, interval: float) -> None:
        """Send a keep-alive whenever nothing went out for ``interval`` seconds.

        The server closes a socket that receives no input for its
        ``inactivity_timeout`` (docs/cloud-apis.md, "ElevenLabs multi-context WebSocket").
        The message is the official SDK's ``KeepContextAlive``, ``{"text": "",
        "context_id": ...}`` (elevenlabs-python, ``types/keep_context_alive.py``: "Empty
        text is ignored but resets the clock"), on a context of its own: any message
        naming a context the server does not know opens it, so it is closed at once
        (nothing flushed, nothing synthesized). Until its final message it is a
        context on the server like a reply's, so it is booked and counts against the
        limit; no keep-alive goes out while the socket is full, while a reply waits for
        a slot, or while the previous keep-alive's context is still open.
        """
        loop = asyncio.get_running_loop()
        while self.alive:
            wait = self._last_sent + interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if self.full() or self.waiting or self.keepalive_contexts:
                await asyncio.sleep(interval)  # the contexts holding the slots keep it alive
                continue
            self.keepalives += 1
            context_id = f"keepalive{self.keepalives}"
            self.keepalive_contexts.add(context_id)
            try:
                await self.send({"text": "", "context_id": context_id})
                await self.send({"context_id": context_id, "close_context": True})
            except TtsError:
                return  # the reader reports the close

    async def _read(self) -> None:
        error: TtsError | None = None
        try:
            async for raw in self.ws:
                if isinstance(raw, str) and not self._dispatch(raw):
                    break
        except ConnectionClosed as exc:
            error = TtsError(f"the ElevenLabs WebSocket closed: {exc}")
        except OSError as exc:
            error = TtsError(f"the ElevenLabs WebSocket failed: {exc!r}")
        finally:
            self._shutdown(error or TtsError(f"the ElevenLabs WebSocket closed ({self._why()})"))
        with contextlib.suppress(Exception):
            await self.ws.close()

    def _why(self) -> str:
        code, reason = self.ws.close_code, self.ws.close_reason
        return f"code {code}: {reason}" if code is not None else "no close frame"

    def _dispatch(self, raw: str) -> bool:
        """Route one server message. Returns False after a socket-wide error."""
        message = json_object(raw, "ElevenLabs", log)
        if message is None:
            return True
        context_id = message.get("contextId", message.get("context_id"))
        if _is_error(message):
            return self._on_error(message, context_id)
        reply = self.replies.get(context_id) if isinstance(context_id, str) else None
        if reply is None:
            if message.get("isFinal") or message.get("is_final"):
                self.forget(str(context_id))  # a keep-alive's context is closed
            return True  # else a context we already forgot
        audio = message.get("audio")
        if isinstance(audio, str) and audio:
            try:
                data = base64.b64decode(audio)
            except (binascii.Error, ValueError):
                log.warning("ElevenLabs sent undecodable audio for context %s", context_id)
            else:
                reply._on_audio(data, self._clock(), _parse_alignment(message))
        if message.get("isFinal") or message.get("is_final"):
            self.forget(reply.id)
            reply._on_final()
        return True

    def _on_error(self, message: dict[str, Any], context_id: object) -> bool:
        error = _ws_error(message)
        if isinstance(context_id, str):
            reply = self.replies.get(context_id)
            if reply is not None:
                log.warning("ElevenLabs error for context %s: %s", context_id, error)
                reply._fail(error)  # it stays booked until its final message
            elif context_id in self.keepalive_contexts:
                log.info("ElevenLabs error for keep-alive context %s: %s", context_id, error)
                self.forget(context_id)  # no final may follow: do not hold its slot
            else:  # no longer open: it concerns no reply, and the socket is fine
                log.info("ElevenLabs error for closed context %s: %s", context_id, error)
            return True
        log.warning("ElevenLabs WebSocket error: %s", error)
        self.error = error
        # Socket-wide: the server closes the socket after these (docs/cloud-apis.md,
        # "ElevenLabs multi-context WebSocket").
        return False

    def _shutdown(self, error: TtsError) -> None:
        if not self.alive:
            return
        self.alive = False
        self.error = self.error or error
        for reply in self.replies.values():
            reply._fail(self.error)
            if reply.cancelled:
                reply._end()
        self.replies.clear()
        self.keepalive_contexts.clear()
        self.slot_freed.set()
        if self.keeper is not None and self.keeper is not asyncio.current_task():
            self.keeper.cancel()

    async def close(self, polite: bool) -> None:
        """Close the socket (sending ``close_socket`` first if ``polite``) and stop reading."""
        if polite and self.alive:
            with contextlib.suppress(TtsError, OSError):
                async with asyncio.timeout(1.0):
                    await self.send({"close_socket": True})
        self._shutdown(TtsError("the TTS service was closed"))
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader
        if self.keeper is not None:
            self.keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.keeper


def _is_error(message: dict[str, Any]) -> bool:
    return message.get("error") is not None or (
        message.get("message") is not None and "audio" not in message
    )


def _ws_error(message: dict[str, Any]) -> TtsError:
    text = str(message.get("message") or message.get("error") or "unknown error")
    code = message.get("code")
    name = message.get("error")
    return TtsError(
        f"ElevenLabs: {text}" + (f" ({name})" if name else ""),
        status=code if isinstance(code, int) else None,
        error=str(name) if name is not None else None,
    )


def _parse_alignment(message: dict[str, Any]) -> TtsAlignment | None:
    """The chunk's alignment: original text first, else the normalized text."""
    for key in ("alignment", "normalizedAlignment", "normalized_alignment"):
        value = message.get(key)
        if not isinstance(value, dict) or not isinstance(value.get("chars"), list):
            continue
        durations = value.get("charDurationsMs", value.get("charsDurationsMs")) or ()
        chars: list[object] = value["chars"]
        try:
            # A message of every reply's audio, a character a list item: joined and mapped
            # in C (the characters are strings, as they come, unless a peer sends others)
            try:
                text = "".join(chars)  # type: ignore[arg-type]  # strings; else TypeError
            except TypeError:
                text = "".join(str(c) for c in chars)
            return TtsAlignment(
                chars=text,
                start_ms=tuple(map(int, value.get("charStartTimesMs") or ())),
                durations_ms=tuple(map(int, durations)),
            )
        except (TypeError, ValueError):
            return None
    return None


def _http_error(status: int, body: bytes) -> TtsError:
    """A TtsError carrying the message of an ElevenLabs JSON error body."""
    message, name = _error_details(body)
    return TtsError(f"ElevenLabs HTTP {status}: {message}", status=status, error=name)


def _error_details(body: bytes) -> tuple[str, str | None]:
    """(message, error name) from ``{"detail": {"status", "message"}}``, a 422 list, or text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:300] or "(no body)", None
    detail = data.get("detail", data) if isinstance(data, dict) else data
    if isinstance(detail, dict):
        name = detail.get("status") or detail.get("error")
        message = detail.get("message") or detail.get("msg") or json.dumps(detail)
        return str(message), str(name) if name is not None else None
    if isinstance(detail, list):
        parts = [
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail
        ]
        return "; ".join(parts) or "(empty error list)", None
    return str(detail), None


# --------------------------------------------------------------------------- the service


class ElevenLabsTTSService(TextToSpeech):
    """ElevenLabs text-to-speech for one call.

    Example:
        >>> tts = ElevenLabsTTSService(ElevenLabsSettings(api_key=KEY, voice_id=VOICE))
        >>> await tts.connect()                      # while the phone rings
        >>> reply = tts.start_reply()
        >>> await reply.send_text("Hello, how can I help?")
        >>> await reply.finish()
        >>> async for piece in reply.audio():
        ...     frames = reframer.push(piece.audio)
        >>> await tts.close()
    """

    def __init__(self, settings: ElevenLabsSettings) -> None:
        """Create the service; nothing is opened before :meth:`connect` or the first text."""
        self.settings = settings
        self.reconnects = 0
        """How many times a dropped socket was replaced."""
        self._conn: _WsConnection | None = None
        self._old_conns: set[_WsConnection] = set()
        self._client: httpx2.AsyncClient | None = None
        self._connect_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._replies: weakref.WeakSet[TtsReply] = weakref.WeakSet()
        self._count = 0
        self._closed = False

    @property
    def connected(self) -> bool:
        """The socket is open (WebSocket), or the HTTP client exists."""
        if self.settings.transport == "http":
            return self._client is not None and not self._closed
        return self._conn is not None and self._conn.alive

    async def connect(self) -> None:
        """Get ready while the phone rings.

        WebSocket: opens the socket (the handshake checks the key; no context is opened,
        so nothing is billed). HTTP: creates the client only. Its pool fills on the first
        sentence, because the only way to warm it would be a request, and even a cheap
        one is not allowed here; a bad key is reported by the first reply instead.

        Raises:
            TtsConnectError: The server refused (401, 422 ...), or could not be reached.
        """
        if self._closed:
            raise TtsConnectError("the TTS service is closed")
        if self.settings.transport == "http":
            self._http_client()
            return
        await self._ws_connection()

    def start_reply(self) -> TtsReply:
        """A new reply (a new context on the WebSocket). Nothing is sent until its first text.

        Raises:
            TtsError: The service is closed.
        """
        if self._closed:
            raise TtsError("the TTS service is closed")
        self._count += 1
        reply_id = f"r{self._count}"
        reply: TtsReply
        if self.settings.transport == "http":
            reply = _HttpReply(self, reply_id)
        else:
            reply = _WsReply(self, reply_id)
        self._replies.add(reply)
        return reply

    async def close(self) -> None:
        """Close the socket or client and stop every request. Idempotent, never raises."""
        if self._closed:
            return
        self._closed = True
        try:
            for reply in list(self._replies):
                reply._fail(TtsError("the TTS service was closed"))
            conns = [c for c in (self._conn, *self._old_conns) if c is not None]
            self._conn = None
            for conn in conns:
                await conn.close(polite=conn.alive)
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._client is not None:
                await self._client.aclose()
        except Exception:  # close() must never raise
            log.exception("error while closing the ElevenLabs client")

    # ----------------------------------------------------------------- internals

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _ws_connection(self) -> _WsConnection:
        """The live socket, reconnecting (one attempt) if it dropped."""
        if self._closed:
            raise TtsError("the TTS service is closed")
        async with self._connect_lock:
            conn = self._conn
            if conn is not None and conn.alive:
                return conn
            if conn is not None:
                self._retire(conn)
                self.reconnects += 1
                log.info("ElevenLabs WebSocket lost (%s); reconnecting", conn.error)
            self._conn = await self._open_ws()
            return self._conn

    async def _open_ws(self) -> _WsConnection:
        url = self.settings.ws_url()
        try:
            ws = await connect(
                url,
                additional_headers={"xi-api-key": self.settings.api_key},
                logger=_WS_LOG,
                open_timeout=self.settings.connect_timeout,
                close_timeout=2.0,
                compression=None,
                max_size=2**24,
                create_connection=VendorConnection,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            message, name = _error_details(bytes(exc.response.body))
            raise TtsConnectError(
                f"ElevenLabs refused the WebSocket (HTTP {status}): {message}",
                status=status,
                error=name,
            ) from exc
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise TtsConnectError(f"cannot open {url.split('?')[0]}: {exc!r}") from exc
        if self._closed:
            await ws.close()
            raise TtsError("the TTS service was closed")
        return _WsConnection(ws, self.settings.max_contexts, self.settings.keepalive_seconds())

    def _retire(self, conn: _WsConnection) -> None:
        """Close a socket that is no longer the current one, in the background."""
        self._old_conns.add(conn)

        async def close_it() -> None:
            try:
                await conn.close(polite=False)
            finally:
                self._old_conns.discard(conn)

        self._spawn(close_it())

    async def _bind(self, reply: _WsReply) -> _WsConnection:
        """Book a context slot for ``reply`` on the live socket (see the module docstring)."""
        conn = await self._ws_connection()
        if conn.full():
            conn = await self._wait_for_slot(conn)
        conn.replies[reply.id] = reply
        return conn

    async def _wait_for_slot(self, conn: _WsConnection) -> _WsConnection:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.context_wait_timeout
        conn.waiting += 1
        try:
            while conn.alive and conn.full() and (remaining := deadline - loop.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await conn.slot_freed.wait()
        finally:
            conn.waiting -= 1
        if not conn.alive:
            return await self._ws_connection()
        if not conn.full():
            return conn
        if conn.only_zombies():
            # Cancelled contexts still draining on the server: a fresh socket is faster.
            log.info("ElevenLabs contexts slow to drain; moving to a new socket")
            if self._conn is conn:
                self._conn = None
            self._retire(conn)
            self.reconnects += 1
            return await self._ws_connection()
        raise TtsError(
            f"{self.settings.max_contexts} replies are still open on the ElevenLabs socket",
            error="max_active_conversations",
        )

    def _init_message(self, context_id: str) -> dict[str, Any]:
        message: dict[str, Any] = {"text": " ", "context_id": context_id}
        if self.settings.voice_settings is not None:
            message["voice_settings"] = dict(self.settings.voice_settings)
        if self.settings.chunk_length_schedule is not None:
            schedule = list(self.settings.chunk_length_schedule)
            message["generation_config"] = {"chunk_length_schedule": schedule}
        return message

    def _http_client(self) -> httpx2.AsyncClient:
        if self._closed:
            raise TtsError("the TTS service is closed")
        if self._client is None:
            s = self.settings
            self._client = httpx2.AsyncClient(
                base_url=s.http_base() + "/",
                headers={"xi-api-key": s.api_key},
                timeout=httpx2.Timeout(
                    connect=s.connect_timeout, read=s.read_timeout, write=5.0, pool=5.0
                ),
            )
        return self._client

    def _http_body(self, text: str, previous: str) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text, "model_id": self.settings.model_id}
        if self.settings.voice_settings is not None:
            body["voice_settings"] = dict(self.settings.voice_settings)
        if previous:
            body["previous_text"] = previous
        if self.settings.language_code:
            body["language_code"] = self.settings.language_code
        if self.settings.text_normalization:
            body["apply_text_normalization"] = self.settings.text_normalization
        return body
