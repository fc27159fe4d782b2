"""AssemblyAI's Voice Agent API as a :class:`~sipgw.agent.services.s2s.base.SpeechToSpeech` session.

Theory of operation
-------------------
The wire rules are docs/cloud-apis.md, "AssemblyAI Voice Agent API" (the seed's
protocol: AssemblyAI's Voice Agent API over Twilio Media Streams, with the phone
leg replaced by our RTP).

* **Opening** (while the phone rings): the upgrade to ``wss://agents.assemblyai.com/v1/ws``
  with ``Authorization: Bearer <key>``, then ``session.update`` as the first
  message (system prompt, greeting, tools, the audio format in and out, the voice,
  the VAD threshold), then ``session.ready`` (its ``session_id`` is kept for
  resuming). A ``session.error`` instead (a voice that does not exist, say) refuses
  the call.
* **Audio** goes as ``input.audio`` (base64, ``chunk_ms`` per message) and comes back
  as ``reply.audio`` (``data``), in the session's format both ways: G.711 μ-law
  (``audio/pcmu``), or on an HD-voice call ``audio/pcm`` (24 kHz s16le, the API's
  linear format, ``sample_rate: 24000`` on the input); never resampled or transcoded
  here (the call's media does it, ``media/codecs/convert.py``). The service speaks the
  greeting by itself once ready.
* **Turns and barge-in** are the service's: ``input.speech.started`` is the
  caller starting to talk (the seed clears Twilio's buffer on it: here the agent
  drops the queued audio), and the service cuts its own reply short
  (``reply.done`` with ``status: interrupted``). No client event cancels a reply,
  so :meth:`AssemblyAIVoiceAgent.cancel_reply` sends nothing.
  ``input.speech.stopped`` ends the caller's turn
  (:class:`~sipgw.agent.services.s2s.base.CallerTurnOver`: the failure policy's wait starts).
* **A failed reply.** The events reference documents ``reply.done`` statuses
  ``completed`` and ``interrupted`` only; a reply that fails is a ``session.error``
  (docs/cloud-apis.md, "AssemblyAI Voice Agent API"). So a ``session.error`` between
  ``reply.started`` and its ``reply.done`` ends that reply as ``failed`` (its late
  audio, tool calls and ``reply.done`` are dropped), and one after the caller's turn
  (``input.speech.stopped``, or our ``reply.create``) before any ``reply.started`` is
  a reply lost (:attr:`~sipgw.agent.services.s2s.base.ServiceError.reply_lost`); the agent
  apologizes for both. Other errors are counted and the session goes on.
* **Tools**: ``tool.call`` (``call_id``, ``name``, ``arguments`` as an object)
  runs through the agent's tool registry; ``tool.result`` (``call_id``, ``result``
  as a JSON string) goes out once ``reply.done`` is the latest of ``reply.started``,
  ``reply.done`` and ``input.speech.started`` received, as the tool-calling guide
  asks. Results of a reply that ended ``interrupted`` are dropped, as there.
* **Keypad input and notices**: ``reply.create`` with one-shot ``instructions``.
* **Outages**: the service keeps a session ``resume_window`` (30 s) after a
  disconnection. An unexpected close reconnects and sends ``session.resume``
  with the ``session_id`` as the first message; ``session.ready`` again means
  the conversation goes on (:class:`~sipgw.agent.services.s2s.base.SessionReconnected`),
  ``session.error`` ``session_not_found`` or ``session_forbidden`` means it is
  gone (:class:`~sipgw.agent.services.s2s.base.SessionFailed`). Caller audio in between is dropped.
* **Hang-up**: ``session.end``, a short wait for ``session.ended``, close 1000.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from websockets.asyncio.client import ClientConnection

from sipgw.agent.services.backoff import Backoff
from sipgw.agent.services.s2s.base import (
    CallerSpeechStarted,
    CallerSpeechStopped,
    CallerTranscript,
    CallerTurnOver,
    ReplyAudio,
    ReplyDone,
    ReplyStarted,
    ReplyStatus,
    ReplyText,
    S2sConnectError,
    ServiceError,
    SessionConfig,
    SessionInterrupted,
    SessionReconnected,
    ToolCallRequested,
    ToolSpec,
)
from sipgw.agent.services.s2s.session import WebSocketSession, decode_audio, function_tools
from sipgw.foundation.redact import websocket_logger
from sipgw.media.codecs import PCM16_24K, ULAW_8K, AudioFormat

__all__ = [
    "DEFAULT_URL",
    "SERVICE",
    "AssemblyAIVoiceAgent",
    "VoiceAgentSettings",
    "session_update",
]

log = logging.getLogger("sipgw.agent.s2s")
_WS_LOG = websocket_logger("websockets.client.assemblyai_voice_agent")

SERVICE: Final = "AssemblyAI Voice Agent"
DEFAULT_URL: Final = "wss://agents.assemblyai.com/v1/ws"
ENCODING: Final = "audio/pcmu"
"""G.711 μ-law at 8 kHz, both ways (the Voice Agent API's audio format page)."""
PCM_ENCODING: Final = "audio/pcm"
"""24 kHz s16le (the API's default and only linear format): an HD-voice call's."""


def _formats(audio: AudioFormat) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``input.format`` and ``output.format`` of a session carrying ``audio``."""
    if audio == PCM16_24K:
        rate = PCM16_24K.sample_rate
        return {"encoding": PCM_ENCODING, "sample_rate": rate}, {"encoding": PCM_ENCODING}
    return {"encoding": ENCODING}, {"encoding": ENCODING}


GONE_CODES: Final = frozenset({"session_not_found", "session_forbidden"})
"""``session.error`` codes answering ``session.resume`` when the session has expired."""
_RESUME_BACKOFF: Final = Backoff.listed(0.0, 0.2, 0.5, 1.0, 2.0, 4.0)
_ENDED_WAIT: Final = 1.0


@dataclass(frozen=True, slots=True)
class VoiceAgentSettings:
    """How calls reach the Voice Agent API.

    Attributes:
        api_key: the AssemblyAI API key (sent as ``Authorization: Bearer``).
        url: the WebSocket endpoint.
        voice: the agent's voice, lower case as the service names it (``ivy``, ``claire``,
            ``dawn`` ...).
        vad_threshold: the service's speech detection threshold (0-1); None = its default.
        chunk_ms: caller audio per ``input.audio`` message (a multiple of 20).
        connect_timeout: seconds to open and configure a session (the call is refused
            with 503 after that).
        resume_window: seconds the service keeps a session after a disconnection.
    """

    api_key: str = ""
    url: str = DEFAULT_URL
    voice: str = "ivy"
    vad_threshold: float | None = None
    chunk_ms: int = 20
    connect_timeout: float = 5.0
    resume_window: float = 30.0

    def __post_init__(self) -> None:
        if self.chunk_ms < 20 or self.chunk_ms % 20:
            raise ValueError(f"chunk_ms must be a multiple of 20 ms, got {self.chunk_ms}")
        if self.voice != self.voice.lower() or not self.voice.strip():
            raise ValueError(
                f"voice names are lower case (e.g. 'ivy', 'claire'), got {self.voice!r}"
            )
        if self.vad_threshold is not None and not 0.0 <= self.vad_threshold <= 1.0:
            raise ValueError(f"vad_threshold must be between 0 and 1, got {self.vad_threshold}")


def session_update(
    settings: VoiceAgentSettings, config: SessionConfig, audio: AudioFormat = ULAW_8K
) -> dict[str, Any]:
    """The ``session.update`` that opens a session carrying ``audio``."""
    heard, spoken = _formats(audio)
    audio_input: dict[str, Any] = {"format": heard}
    if settings.vad_threshold is not None:
        audio_input["turn_detection"] = {"vad_threshold": settings.vad_threshold}
    session: dict[str, Any] = {
        "system_prompt": config.instructions,
        "input": audio_input,
        "output": {"voice": settings.voice, "format": spoken},
        "tools": function_tools(config.tools),
    }
    if config.greeting:
        session["greeting"] = config.greeting
    return {"type": "session.update", "session": session}


class AssemblyAIVoiceAgent(WebSocketSession):
    """One call's Voice Agent session; see the module docstring."""

    name = "assemblyai-voice-agent"
    server_turns = True

    def __init__(self, settings: VoiceAgentSettings) -> None:
        super().__init__(
            chunk_ms=settings.chunk_ms,
            connect_timeout=settings.connect_timeout,
            ws_logger=_WS_LOG,
        )
        self.settings = settings
        self.session_id: str | None = None
        self._reply_id: str | None = None
        self._replies = 0
        self._last_turn_event = ""
        self._pending_results: list[tuple[str, str]] = []
        self._call_replies: dict[str, str] = {}
        self._abandoned_replies: set[str] = set()
        self._awaiting_reply = False
        """The caller's turn is over (or we asked for a reply) and no reply started yet."""
        self._ended_event = asyncio.Event()

    # ----------------------------------------------------------------- SpeechToSpeech

    async def connect(self, config: SessionConfig) -> None:
        ws = await self._open(self.settings.url, self._headers(), SERVICE)
        try:
            await ws.send(json.dumps(session_update(self.settings, config, self.audio_format)))
            ready = await self._await_message(
                ws, _is_ready, _session_error, SERVICE, "session.ready"
            )
        except BaseException:
            ws.transport.abort()
            raise
        session_id = ready.get("session_id")
        self.session_id = session_id if isinstance(session_id, str) else None
        self._start(ws)

    def send_tool_result(self, call_id: str, output: str) -> None:
        reply = self._call_replies.pop(call_id, None)
        if reply in self._abandoned_replies:
            log.info("%s: tool result for %s dropped (its reply was interrupted)", SERVICE, call_id)
            return
        self._pending_results.append((call_id, output))
        self._flush_results()

    def cancel_reply(self, reply_id: str, played_ms: int) -> None:
        """Nothing to send: the service detects the barge-in and stops by itself."""

    def request_reply(self, instructions: str = "") -> None:
        self._awaiting_reply = True
        message: dict[str, Any] = {"type": "reply.create"}
        if instructions:
            message["instructions"] = instructions
        self._send(message)

    def add_caller_text(self, text: str) -> None:
        self.request_reply(f"The caller's side reports: {text} Respond to that.")

    def update_instructions(self, instructions: str) -> None:
        self._send({"type": "session.update", "session": {"system_prompt": instructions}})

    def update_tools(self, tools: tuple[ToolSpec, ...]) -> None:
        self._send({"type": "session.update", "session": {"tools": function_tools(tools)}})

    # ----------------------------------------------------------------- wire

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.api_key}"}

    def _audio_message(self, chunk: bytes) -> dict[str, Any]:
        return {"type": "input.audio", "audio": base64.b64encode(chunk).decode("ascii")}

    async def _say_goodbye(self, ws: ClientConnection) -> None:
        await ws.send(json.dumps({"type": "session.end"}))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_ENDED_WAIT):
                await self._ended_event.wait()

    def _dispatch(self, message: Mapping[str, Any], now: float) -> None:
        kind = message.get("type")
        if kind in _OF_A_REPLY and message.get("reply_id") in self._abandoned_replies:
            return  # a reply that failed (or was cut off): whatever comes late is dropped
        if kind == "reply.audio":
            audio = decode_audio(message.get("data"))
            if audio:
                self._stats.audio_out_seconds += len(audio) / (self._bytes_per_ms * 1000)
                self._emit(ReplyAudio(self._reply_of(message), audio, now))
        elif kind == "reply.started":
            self._last_turn_event = "reply.started"
            self._awaiting_reply = False
            self._reply_id = self._new_reply_id(message)
            self._emit(ReplyStarted(self._reply_id, now))
        elif kind == "reply.done":
            self._reply_done(message, now)
        elif kind == "transcript.agent":
            text = message.get("text")
            if isinstance(text, str) and text:
                self._emit(ReplyText(self._reply_of(message), text, final=True))
        elif kind == "tool.call":
            self._tool_call(message)
        elif kind == "input.speech.started":
            self._last_turn_event = "input.speech.started"
            self._awaiting_reply = False  # the caller goes on: their turn is not over
            self._emit(CallerSpeechStarted(now))
        elif kind == "input.speech.stopped":
            self._awaiting_reply = True
            self._emit(CallerSpeechStopped(now))
            self._emit(CallerTurnOver(now))
        elif kind == "transcript.user":
            text = message.get("text")
            if isinstance(text, str) and text.strip():
                self._emit(CallerTranscript(text))
        elif kind == "session.error":
            self._session_error(message, now)
        elif kind == "session.ended":
            self._ended_event.set()

    def _session_error(self, message: Mapping[str, Any], now: float) -> None:
        """A ``session.error``: the reply in progress failed, or the one the caller waits
        for is lost, or (neither) only counted (see the module docstring)."""
        code, text = _error_fields(message)
        self._count_error(code)
        log.warning("%s error %s: %s", SERVICE, code, text)
        reply = self._reply_id
        if reply is not None:
            self._reply_id = None
            self._last_turn_event = "reply.done"  # nothing more comes of it
            self._abandoned_replies.add(reply)
            self._pending_results.clear()
            self._emit(ReplyDone(reply, "failed", now, f"{code}: {text}".strip()))
            return
        lost, self._awaiting_reply = self._awaiting_reply, False
        ours = code.startswith(("invalid_", "immutable_"))  # invalid_value, immutable_field ...
        self._emit(ServiceError(code, text, reply_lost=lost, status=400 if ours else None))

    def _reply_of(self, message: Mapping[str, Any]) -> str:
        reply = message.get("reply_id")
        if isinstance(reply, str) and reply:
            return reply
        if self._reply_id is None:  # audio with no reply.started before it
            self._reply_id = self._new_reply_id(message)
        return self._reply_id

    def _new_reply_id(self, message: Mapping[str, Any]) -> str:
        self._replies += 1
        reply = message.get("reply_id")
        return reply if isinstance(reply, str) and reply else f"reply-{self._replies}"

    def _reply_done(self, message: Mapping[str, Any], now: float) -> None:
        if self._reply_id is None and not message.get("reply_id"):
            return  # the end of a reply that failed (its session.error ended it)
        reply = self._reply_of(message)
        status = _STATUSES.get(str(message.get("status", "completed")), "completed")
        self._last_turn_event = "reply.done"
        self._reply_id = None
        if status == "interrupted":
            self._abandoned_replies.add(reply)
            self._pending_results.clear()
        self._emit(ReplyDone(reply, status, now))
        self._flush_results()

    def _tool_call(self, message: Mapping[str, Any]) -> None:
        call_id, name = message.get("call_id"), message.get("name")
        if not isinstance(call_id, str) or not isinstance(name, str):
            log.warning("%s sent a tool.call without call_id or name: %.200r", SERVICE, message)
            return
        arguments = message.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        reply = self._reply_of(message)
        self._call_replies[call_id] = reply
        self._emit(ToolCallRequested(reply, call_id, name, text))

    def _flush_results(self) -> None:
        """Send the waiting tool results if ``reply.done`` is the latest turn event."""
        if self._last_turn_event != "reply.done" or not self._pending_results:
            return
        results, self._pending_results = self._pending_results, []
        for call_id, output in results:
            self._send({"type": "tool.result", "call_id": call_id, "result": output})

    # ----------------------------------------------------------------- outages

    async def _connection_lost(self, code: int | None, reason: str) -> None:
        """Resume the session within the service's grace window, or fail."""
        if self.session_id is None:
            await super()._connection_lost(code, reason)
            return
        loop = asyncio.get_running_loop()
        lost_at = loop.time()
        deadline = lost_at + self.settings.resume_window - self.settings.connect_timeout
        log.warning("%s connection lost (%s %s): resuming the session", SERVICE, code, reason)
        last_error = f"the connection closed ({code} {reason})".strip()
        self._emit(SessionInterrupted(last_error))
        for delay in _RESUME_BACKOFF.steps:
            if self._closing or loop.time() + delay > deadline:
                break
            await asyncio.sleep(delay)
            try:
                ws = await self._resume()
            except S2sConnectError as exc:
                last_error = str(exc)
                if exc.code in GONE_CODES:
                    break
                continue
            self._stats.reconnects += 1
            self._start(ws)
            self._emit(SessionReconnected(round(loop.time() - lost_at, 3)))
            return
        self._fail(f"could not resume the session: {last_error}", None)

    async def _resume(self) -> ClientConnection:
        ws = await self._open(self.settings.url, self._headers(), SERVICE)
        try:
            await ws.send(json.dumps({"type": "session.resume", "session_id": self.session_id}))
            await self._await_message(ws, _is_ready, _session_error, SERVICE, "session.ready")
        except BaseException:
            ws.transport.abort()
            raise
        return ws


_STATUSES: dict[str, ReplyStatus] = {
    "completed": "completed",
    "interrupted": "interrupted",
    "cancelled": "cancelled",
    "failed": "failed",
}
"""``reply.done`` statuses: the documented two, and two more read as they say should the
service ever send them."""
_OF_A_REPLY: Final = frozenset({"reply.audio", "reply.done", "transcript.agent", "tool.call"})


def _is_ready(message: Mapping[str, Any]) -> bool:
    return message.get("type") == "session.ready"


def _session_error(message: Mapping[str, Any]) -> str | None:
    if message.get("type") != "session.error":
        return None
    code, text = _error_fields(message)
    return f"{code}: {text}"


def _error_fields(message: Mapping[str, Any]) -> tuple[str, str]:
    """The ``code`` and ``message`` of a ``session.error`` (nested under ``error`` too)."""
    inner = message.get("error")
    source = inner if isinstance(inner, Mapping) else message
    code = source.get("code")
    text = source.get("message") or (inner if isinstance(inner, str) else "")
    return (str(code) if code else "error", str(text))
