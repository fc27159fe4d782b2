"""OpenAI's Realtime API over WebSocket as a :class:`~sipgw.agent.services.s2s.base.SpeechToSpeech`
session.

Theory of operation
-------------------
The wire rules are docs/cloud-apis.md, "OpenAI Realtime" (the GA event names of
the ``openai`` SDK's ``types/realtime``; the URL and headers as the SDK builds them).

* **Opening** (while the phone rings): ``{base}/realtime?model=<model>`` (http(s)
  base URLs become ws(s)) with ``Authorization: Bearer <key>``; the server opens
  with ``session.created``; we send ``session.update`` (``type: realtime``,
  instructions, the audio format in and out, the voice, turn detection, input
  transcription, the API's own noise reduction when asked for, the tools) and wait
  for ``session.updated``. An ``error`` instead refuses the call. A greeting is a
  ``response.create`` whose one-off instructions say to speak exactly that line.
* **Audio**: ``input_audio_buffer.append`` (base64, ``chunk_ms`` per message) in,
  ``response.output_audio.delta`` out, in the session's format both ways: G.711 μ-law
  (``audio/pcmu``), or on an HD-voice call ``{"type": "audio/pcm", "rate": 24000}``
  (the API's only linear format: 24 kHz s16le); never resampled or transcoded here (the
  call's media does it, ``media/codecs/convert.py``). The audio received per output item
  is counted in milliseconds, for truncation.
* **Turns**, per ``turn_detection``:

  - ``server_vad`` / ``semantic_vad``: the server detects the caller's speech
    (``input_audio_buffer.speech_started`` / ``speech_stopped``), commits the
    buffer (``input_audio_buffer.committed``: the turn is over, a
    :class:`~sipgw.agent.services.s2s.base.CallerTurnOver`; with ``semantic_vad`` that may be well
    after ``speech_stopped``), answers by itself, and cancels its own response when
    the caller starts talking (``interrupt_response``).
  - ``local``: ``turn_detection`` is null; the agent's own turn-taking
    (:mod:`sipgw.agent.turns.machine` and :mod:`sipgw.agent.turns.endpointing`) decides, and
    :meth:`OpenAIRealtime.end_turn` sends the batched audio,
    ``input_audio_buffer.commit`` and ``response.create``.

  Only one response may be in progress: a reply asked for while one is
  (``response.created`` without its ``response.done``) waits for that one's end.
* **Barge-in** (:meth:`OpenAIRealtime.cancel_reply`): ``response.cancel`` if the
  response is still in progress and the server is not cancelling it already,
  then ``conversation.item.truncate`` of its audio item at ``audio_end_ms`` =
  what the caller actually heard (the playout's count, never more than the audio
  received), so the model's context holds only what was heard.
* **Tools**: the function calls of a response are taken from its
  ``response.done`` (complete ones only: ``function_call_arguments.done`` is
  also sent for cancelled responses); each result goes back as a
  ``function_call_output`` item, and once all of that response's calls are
  answered a ``response.create`` lets the model go on.
* **Filler lines** (:meth:`OpenAIRealtime.request_filler`, while a slow tool runs): a
  ``response.create`` whose one-off instructions quote the line, with ``tool_choice:
  none`` and ``metadata`` marking it (echoed in its ``response.created``); it is an
  assistant item of the conversation like any reply (truncated if cut). A result that
  comes back meanwhile gets its ``response.create`` after the filler's ``response.done``.
* **Caller transcripts** come from input transcription
  (``conversation.item.input_audio_transcription.completed``), for the call record.
* **Errors**: ``error`` events are reported and the session goes on; the
  Realtime API has no resume, so a dropped connection ends the session.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

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
    ServiceError,
    SessionConfig,
    ToolCallRequested,
    ToolSpec,
)
from sipgw.agent.services.s2s.session import WebSocketSession, decode_audio, function_tools
from sipgw.foundation.redact import websocket_logger
from sipgw.media.codecs import PCM16_24K, ULAW_8K, AudioFormat

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "SERVICE",
    "OpenAIRealtime",
    "RealtimeSettings",
    "TurnDetection",
    "realtime_url",
    "session_update",
]

log = logging.getLogger("sipgw.agent.s2s")
_WS_LOG = websocket_logger("websockets.client.openai_realtime")

SERVICE: Final = "OpenAI Realtime"
DEFAULT_BASE_URL: Final = "https://api.openai.com/v1"
DEFAULT_MODEL: Final = "gpt-realtime-2.1"
"""OpenAI's current Realtime model for voice agents: ``gpt-realtime-2.1`` (9 July 2026),
the update of ``gpt-realtime-2`` (7 May 2026) that OpenAI's model page says handles spoken
letters and digits, silence and noise, and interruptions better, on the same interface
(docs/cloud-apis.md, "OpenAI Realtime")."""
AUDIO_FORMAT: Final = {"type": "audio/pcmu"}
"""G.711 μ-law at 8 kHz, both ways."""
PCM_FORMAT: Final = {"type": "audio/pcm", "rate": PCM16_24K.sample_rate}
"""24 kHz s16le, both ways (the GA ``RealtimeAudioFormats``: ``audio/pcm`` is 24 kHz only)."""


def audio_format_field(audio: AudioFormat) -> dict[str, Any]:
    """The ``format`` of ``session.audio.input`` and ``.output`` for ``audio``."""
    return dict(PCM_FORMAT) if audio == PCM16_24K else dict(AUDIO_FORMAT)


GREETING_INSTRUCTIONS: Final = (
    'Greet the caller with exactly these words and nothing else: "{greeting}"'
)
FILLER_INSTRUCTIONS: Final = (
    "A tool you called is still running. Say exactly these words to the caller and nothing "
    'else: "{text}"'
)
FILLER_METADATA: Final = {"sipgw": "filler"}
EARLY_METADATA: Final = {"sipgw": "preemptive"}
"""Marks a filler's response: the service echoes a response's ``metadata`` in its
``response.created``."""

TurnDetection = Literal["server_vad", "semantic_vad", "local"]
"""Who ends the caller's turn: the server's VAD, its semantic turn detector, or the agent."""

NoiseReduction = Literal["near_field", "far_field"]
"""The API's own noise reduction of the caller's audio (``session.audio.input.noise_reduction``
``type``, the SDK's ``NoiseReductionType``): a handset or headset, or a speakerphone."""


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    """How calls reach the Realtime API.

    Attributes:
        api_key: the OpenAI API key (``Authorization: Bearer``).
        base_url: the API base; ``/realtime`` is appended (http(s) becomes ws(s)).
        model: the Realtime model.
        voice: the model's voice (``marin``, ``cedar``, ``alloy`` ...).
        turn_detection: ``server_vad``, ``semantic_vad`` or ``local`` (our own
            turn-taking: see the module docstring).
        silence_ms: caller silence that ends a turn (server VAD's
            ``silence_duration_ms``; the local end of turn).
        vad_threshold: server VAD's activation threshold (0-1); None = its default.
        eagerness: semantic VAD's eagerness (``low``, ``medium``, ``high``, ``auto``).
        transcription_model: model transcribing the caller for the call record
            ("" = no caller transcripts).
        max_output_tokens: per response; None = the model's maximum.
        chunk_ms: caller audio per ``input_audio_buffer.append`` (a multiple of 20).
        connect_timeout: seconds to open and configure a session (then 503).
        preemptive_ms: with ``local`` turn-taking, caller silence after which a reply
            starts before the end of turn (:meth:`OpenAIRealtime.start_early_reply`); 0 = off.
        noise_reduction: the API's own noise reduction of the caller's audio, before its
            turn detection and the model; None = not asked for (the field is not sent).
    """

    api_key: str = ""
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    voice: str = "marin"
    turn_detection: TurnDetection = "server_vad"
    silence_ms: int = 500
    vad_threshold: float | None = None
    eagerness: str = "auto"
    transcription_model: str = "gpt-4o-mini-transcribe"
    max_output_tokens: int | None = None
    chunk_ms: int = 20
    connect_timeout: float = 5.0
    preemptive_ms: int = 0
    noise_reduction: NoiseReduction | None = None

    def __post_init__(self) -> None:
        if self.turn_detection not in ("server_vad", "semantic_vad", "local"):
            raise ValueError(
                "turn_detection must be server_vad, semantic_vad or local, "
                f"got {self.turn_detection!r}"
            )
        if self.chunk_ms < 20 or self.chunk_ms % 20:
            raise ValueError(f"chunk_ms must be a multiple of 20 ms, got {self.chunk_ms}")
        if self.silence_ms < 100:
            raise ValueError(f"silence_ms must be at least 100, got {self.silence_ms}")
        if self.preemptive_ms and not 100 <= self.preemptive_ms < self.silence_ms:
            raise ValueError(
                f"preemptive_ms must be 0 or at least 100 and below silence_ms "
                f"({self.silence_ms}), got {self.preemptive_ms}"
            )
        if self.vad_threshold is not None and not 0.0 <= self.vad_threshold <= 1.0:
            raise ValueError(f"vad_threshold must be between 0 and 1, got {self.vad_threshold}")
        if self.noise_reduction not in (None, "near_field", "far_field"):
            raise ValueError(
                f"noise_reduction must be near_field, far_field or None, "
                f"got {self.noise_reduction!r}"
            )
        if self.eagerness not in ("low", "medium", "high", "auto"):
            raise ValueError(f"eagerness must be low, medium, high or auto, got {self.eagerness!r}")
        realtime_url(self)  # a base URL that is no URL fails at start-up, not per call


def realtime_url(settings: RealtimeSettings) -> str:
    """``{base}/realtime?model=...`` with a WebSocket scheme, as the SDK builds it.

    Raises:
        ValueError: the base URL has no http(s) or ws(s) scheme or no host.
    """
    parts = urlsplit(settings.base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(
            f"the Realtime base URL must be http(s) or ws(s), got {settings.base_url!r}"
        )
    path = parts.path.rstrip("/") + "/realtime"
    return urlunsplit((scheme, parts.netloc, path, urlencode({"model": settings.model}), ""))


def _turn_detection(settings: RealtimeSettings) -> dict[str, Any] | None:
    if settings.turn_detection == "local":
        return None
    detection: dict[str, Any] = {
        "type": settings.turn_detection,
        "create_response": True,
        "interrupt_response": True,
    }
    if settings.turn_detection == "server_vad":
        detection["silence_duration_ms"] = settings.silence_ms
        if settings.vad_threshold is not None:
            detection["threshold"] = settings.vad_threshold
    else:
        detection["eagerness"] = settings.eagerness
    return detection


def session_update(
    settings: RealtimeSettings, config: SessionConfig, audio: AudioFormat = ULAW_8K
) -> dict[str, Any]:
    """The ``session.update`` that configures a new session carrying ``audio``."""
    audio_input: dict[str, Any] = {
        "format": audio_format_field(audio),
        "turn_detection": _turn_detection(settings),
    }
    if settings.transcription_model:
        audio_input["transcription"] = {"model": settings.transcription_model}
    if settings.noise_reduction is not None:
        audio_input["noise_reduction"] = {"type": settings.noise_reduction}
    session: dict[str, Any] = {
        "type": "realtime",
        "instructions": config.instructions,
        "output_modalities": ["audio"],
        "audio": {
            "input": audio_input,
            "output": {"format": audio_format_field(audio), "voice": settings.voice},
        },
        "tools": function_tools(config.tools),
        "tool_choice": "auto",
    }
    if settings.max_output_tokens is not None:
        session["max_output_tokens"] = settings.max_output_tokens
    return {"type": "session.update", "session": session}


@dataclass(eq=False)
class _Response:
    """One response as far as truncation and tools need it."""

    id: str
    done: bool = False
    audio_items: list[tuple[str, int]] = field(default_factory=list)
    """(item id, ms of audio received) in order."""
    calls: set[str] = field(default_factory=set)
    """Its function calls still waiting for their result."""
    filler: bool = False
    """A filler line (:meth:`OpenAIRealtime.request_filler`)."""
    early: bool = False
    """Started before the end of the caller's turn (:meth:`OpenAIRealtime.start_early_reply`)."""


class OpenAIRealtime(WebSocketSession):
    """One call's Realtime session; see the module docstring."""

    name = "openai-realtime"
    fillers = True

    def __init__(self, settings: RealtimeSettings) -> None:
        super().__init__(
            chunk_ms=settings.chunk_ms,
            connect_timeout=settings.connect_timeout,
            ws_logger=_WS_LOG,
        )
        self.settings = settings
        self.server_turns = settings.turn_detection != "local"
        self._responses: dict[str, _Response] = {}
        self._active: _Response | None = None
        self._server_cancelling = False
        self._wanted: list[str] = []
        """Replies asked for while a response was in progress (their instructions)."""
        self._dropped: set[str] = set()
        """Early responses dropped: nothing more of them is told."""
        self._drop_next = False
        """An early response was dropped before its ``response.created``."""
        self._deleted: set[str] = set()
        """Items of dropped responses deleted from the conversation."""

    # ----------------------------------------------------------------- SpeechToSpeech

    async def connect(self, config: SessionConfig) -> None:
        headers = {"Authorization": f"Bearer {self.settings.api_key}"}
        ws = await self._open(realtime_url(self.settings), headers, SERVICE)
        try:
            created = await self._await_message(ws, _type_is("session.created"), _error,
                                                SERVICE, "session.created")  # fmt: skip
            await ws.send(json.dumps(session_update(self.settings, config, self.audio_format)))
            await self._await_message(ws, _type_is("session.updated"), _error, SERVICE,
                                      "session.updated")  # fmt: skip
        except BaseException:
            ws.transport.abort()
            raise
        session = created.get("session")
        session_id = session.get("id") if isinstance(session, Mapping) else None
        self.session_id = session_id if isinstance(session_id, str) else None
        self._start(ws)
        if config.greeting:
            self.request_reply(GREETING_INSTRUCTIONS.format(greeting=config.greeting))

    def end_turn(self) -> None:
        self._flush_audio()
        self._send({"type": "input_audio_buffer.commit"})
        self.request_reply()

    def request_reply(self, instructions: str = "") -> None:
        if self._active is not None:
            self._wanted.append(instructions)  # after the response in progress
            return
        message: dict[str, Any] = {"type": "response.create"}
        if instructions:
            message["response"] = {"instructions": instructions}
        self._send(message)
        self._active = _Response("")  # in progress from now on; its id comes with created

    def start_early_reply(self) -> bool:
        if self.server_turns or not self.settings.preemptive_ms or self._active is not None:
            return False
        self._flush_audio()
        self._send({"type": "input_audio_buffer.commit"})
        self._send({"type": "response.create", "response": {"metadata": EARLY_METADATA}})
        self._active = _Response("", early=True)
        return True

    def drop_early_reply(self) -> None:
        active = self._active
        if active is None or not active.early:
            return
        if not active.id:  # asked for, not created yet: it is cancelled when it is
            self._drop_next = True
            self._send({"type": "response.cancel"})
            return
        self._drop(active)

    def _drop(self, response: _Response) -> None:
        """Cancel an early response and take what it said out of the conversation."""
        self._dropped.add(response.id)
        if not response.done:
            self._send({"type": "response.cancel", "response_id": response.id})
        for item_id, _ms in response.audio_items:
            self._delete(item_id)

    def request_filler(self, text: str) -> bool:
        if self._active is not None:
            return False  # a reply is on its way: it fills the silence
        instructions = FILLER_INSTRUCTIONS.format(text=text)
        self._send({"type": "response.create", "response": {
            "instructions": instructions, "tool_choice": "none", "metadata": FILLER_METADATA,
        }})  # fmt: skip
        self._active = _Response("", filler=True)
        return True

    def send_tool_result(self, call_id: str, output: str) -> None:
        self._send(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": call_id, "output": output},
            }
        )
        for response in self._responses.values():
            if call_id in response.calls:
                response.calls.discard(call_id)
                active = self._active
                if not response.calls and (active is None or active.filler):
                    self.request_reply()  # all answered: the model goes on (after a filler)
                break

    def cancel_reply(self, reply_id: str, played_ms: int) -> None:
        response = self._responses.get(reply_id)
        if response is None:
            return
        if not response.done and not self._server_cancelling:
            self._send({"type": "response.cancel", "response_id": reply_id})
        offset = 0
        for item_id, received_ms in response.audio_items:
            heard = min(max(0, played_ms - offset), received_ms)
            offset += received_ms
            if response.done and heard >= received_ms:
                continue  # heard to its end: nothing to take back
            self._send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": heard,
                }
            )

    def add_caller_text(self, text: str) -> None:
        self._send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            }
        )
        self.request_reply()

    def update_instructions(self, instructions: str) -> None:
        self._send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "instructions": instructions},
            }
        )

    def update_tools(self, tools: tuple[ToolSpec, ...]) -> None:
        self._send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "tools": function_tools(tools)},
            }
        )

    # ----------------------------------------------------------------- wire

    def _audio_message(self, chunk: bytes) -> dict[str, Any]:
        return {
            "type": "input_audio_buffer.append",
            "audio": base64.b64encode(chunk).decode("ascii"),
        }

    def _dispatch(self, message: Mapping[str, Any], now: float) -> None:
        kind = message.get("type")
        if self._dropped and self._of_dropped(message):
            return
        if kind == "response.output_audio.delta":
            self._audio(message, now)
        elif kind == "response.output_audio_transcript.delta":
            delta = message.get("delta")
            response_id = message.get("response_id")
            if isinstance(delta, str) and delta and isinstance(response_id, str):
                self._emit(ReplyText(response_id, delta))
        elif kind == "response.created":
            self._created(message, now)
        elif kind == "response.done":
            self._done(message, now)
        elif kind == "input_audio_buffer.speech_started":
            if self._active is not None:
                self._server_cancelling = True  # interrupt_response: the server cancels it
            self._emit(CallerSpeechStarted(now))
        elif kind == "input_audio_buffer.speech_stopped":
            self._emit(CallerSpeechStopped(now))
        elif kind == "input_audio_buffer.committed":
            self._emit(CallerTurnOver(now))
        elif kind == "conversation.item.input_audio_transcription.completed":
            text = message.get("transcript")
            if isinstance(text, str) and text.strip():
                self._emit(CallerTranscript(text.strip()))
        elif kind == "error":
            self._error(message)

    def _of_dropped(self, message: Mapping[str, Any]) -> bool:
        """A dropped early response's event: nothing of it is told; each item it made is
        deleted from the conversation; its end frees the way for the next response."""
        body = message.get("response")
        response_id = body.get("id") if isinstance(body, Mapping) else message.get("response_id")
        if not isinstance(response_id, str) or response_id not in self._dropped:
            return False
        kind = message.get("type")
        if kind == "response.output_audio.delta":
            self._delete(message.get("item_id"))
        elif kind == "response.done" and isinstance(body, Mapping):
            for item in body.get("output") or ():
                if isinstance(item, Mapping):
                    self._delete(item.get("id"))
            self._dropped.discard(response_id)
            if self._active is not None and self._active.id == response_id:
                self._active = None
            self._server_cancelling = False
            if self._wanted and self._active is None:
                self.request_reply(self._wanted.pop(0))
        return True

    def _delete(self, item_id: object) -> None:
        if isinstance(item_id, str) and item_id not in self._deleted:
            self._deleted.add(item_id)
            self._send({"type": "conversation.item.delete", "item_id": item_id})

    def _audio(self, message: Mapping[str, Any], now: float) -> None:
        response_id, item_id = message.get("response_id"), message.get("item_id")
        audio = decode_audio(message.get("delta"))
        if not audio or not isinstance(response_id, str) or not isinstance(item_id, str):
            return
        response = self._responses.get(response_id)
        if response is not None:
            ms = len(audio) // self._bytes_per_ms
            items = response.audio_items
            if items and items[-1][0] == item_id:
                items[-1] = (item_id, items[-1][1] + ms)
            else:
                items.append((item_id, ms))
        self._stats.audio_out_seconds += len(audio) / (self._bytes_per_ms * 1000)
        self._emit(ReplyAudio(response_id, audio, now))

    def _created(self, message: Mapping[str, Any], now: float) -> None:
        body = message.get("response")
        response_id = body.get("id") if isinstance(body, Mapping) else None
        if not isinstance(response_id, str):
            return
        metadata = body.get("metadata") if isinstance(body, Mapping) else None
        mark = metadata.get("sipgw") if isinstance(metadata, Mapping) else None
        filler = mark == "filler"
        response = _Response(response_id, filler=filler, early=mark == "preemptive")
        self._responses[response_id] = response
        self._active = response
        self._server_cancelling = False
        if response.early and self._drop_next:
            self._drop_next = False
            self._dropped.add(response_id)  # its cancel is on its way
            return
        self._emit(ReplyStarted(response_id, now, filler=filler))

    def _done(self, message: Mapping[str, Any], now: float) -> None:
        body = message.get("response")
        if not isinstance(body, Mapping) or not isinstance(body.get("id"), str):
            return
        response = self._responses.setdefault(body["id"], _Response(body["id"]))
        response.done = True
        if self._active is not None and self._active.id in (response.id, ""):
            self._active = None
        self._server_cancelling = False
        status, error = _status(body)
        if status == "completed":
            for item in body.get("output") or ():
                self._function_call(response, item)
        self._emit(ReplyDone(response.id, status, now, error))
        if self._wanted and self._active is None:
            self.request_reply(self._wanted.pop(0))
        self._forget_old(response)

    def _function_call(self, response: _Response, item: object) -> None:
        if not isinstance(item, Mapping) or item.get("type") != "function_call":
            return
        call_id, name = item.get("call_id"), item.get("name")
        if not isinstance(call_id, str) or not isinstance(name, str):
            return
        if item.get("status") not in (None, "completed"):
            return
        arguments = item.get("arguments")
        response.calls.add(call_id)
        text = arguments if isinstance(arguments, str) else "{}"
        self._emit(ToolCallRequested(response.id, call_id, name, text))

    def _forget_old(self, latest: _Response) -> None:
        """Keep the bookkeeping of the last few responses only (a long call has many)."""
        if len(self._responses) <= 8:
            return
        for response_id in list(self._responses)[:-8]:
            response = self._responses[response_id]
            if response is not latest and response.done and not response.calls:
                del self._responses[response_id]

    def _error(self, message: Mapping[str, Any]) -> None:
        error = message.get("error")
        error = error if isinstance(error, Mapping) else {}
        code = str(error.get("code") or error.get("type") or "error")
        text = str(error.get("message") or "")
        self._count_error(code)
        if code == "response_cancel_not_active":
            return  # the response ended before our cancel arrived: nothing lost
        if code == "conversation_already_has_active_response" and self._active is not None:
            if not self._active.id:
                self._active = None  # ours was refused; the server's own one is coming
        log.warning("%s error %s: %s", SERVICE, code, text)
        ours = error.get("type") == "invalid_request_error"  # the SDK's RealtimeError.type
        self._emit(ServiceError(code, text, status=400 if ours else None))


_STATUSES: dict[str, ReplyStatus] = {
    "completed": "completed",
    "cancelled": "cancelled",
    "failed": "failed",
    "incomplete": "incomplete",
}


def _status(body: Mapping[str, Any]) -> tuple[ReplyStatus, str]:
    """A ``response.done``'s status (``cancelled`` by the server's VAD is ``interrupted``)."""
    status = _STATUSES.get(str(body.get("status")), "completed")
    details = body.get("status_details")
    details = details if isinstance(details, Mapping) else {}
    if status == "cancelled" and details.get("reason") == "turn_detected":
        return "interrupted", ""
    error = details.get("error")
    if isinstance(error, Mapping):
        return status, str(error.get("message") or error.get("code") or "")
    return status, str(details.get("reason") or "")


def _type_is(kind: str) -> Any:
    return lambda message: message.get("type") == kind


def _error(message: Mapping[str, Any]) -> str | None:
    if message.get("type") != "error":
        return None
    error = message.get("error")
    if not isinstance(error, Mapping):
        return "error"
    return f"{error.get('code') or error.get('type')}: {error.get('message', '')}"
