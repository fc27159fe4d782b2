"""A local stand-in for OpenAI's Realtime API over WebSocket (``wss://api.openai.com/v1/realtime``).

A real WebSocket server (:class:`~.voice_base.WebSocketFake`) speaking the protocol
of docs/cloud-apis.md, "OpenAI Realtime", written from OpenAI's API reference
(https://developers.openai.com/api/reference/resources/realtime/client-events and
``.../server-events``: each event's fields and what the server answers) and the
event models of the ``openai`` SDK 3.x (``types/realtime``: the GA names, e.g.
``response.output_audio.delta``; ``conversation_item_truncate_event.py`` for the
truncation rules, ``realtime_audio_input_turn_detection.py`` for server VAD).

What it checks and does, like the service:

* **Upgrade**: path ``/v1/realtime`` with ``?model=``, ``Authorization: Bearer
  <key>`` (else HTTP 401; the status the service uses is UNVERIFIED). The first
  event is ``session.created``.
* **session.update**: ``session.type`` must be ``realtime``; the audio formats must
  be ``audio/pcm``, ``audio/pcmu`` or ``audio/pcma``, ``audio/pcm``'s ``rate`` 24000 if
  given (the API's ``AudioPCM``: "Only a 24kHz sample rate is supported"); this fake
  hears and speaks ``audio/pcm`` (the default) and ``audio/pcmu``, each side as its own
  format says, and refuses ``audio/pcma``; the voice cannot change once the model
  has spoken. Answered with ``session.updated`` (the whole effective session) or
  ``error``.
* **Audio in**: ``input_audio_buffer.append`` (base64). With ``server_vad`` or
  ``semantic_vad`` turn detection the fake detects speech on the audio stream's
  own clock (:class:`~.assemblyai.TurnDetector`, ``silence_duration_ms`` of silence
  ends it): ``input_audio_buffer.speech_started`` (``audio_start_ms``, ``item_id``)
  cancels the response in progress when ``interrupt_response`` is on
  (``response.done`` with ``status: cancelled``, reason ``turn_detected``);
  ``speech_stopped`` is followed by ``input_audio_buffer.committed``, the user item
  (``conversation.item.added``/``done``), its transcription
  (``conversation.item.input_audio_transcription.completed``, when configured;
  the transcript is the next of :meth:`FakeRealtime.script_transcripts`) and, with
  ``create_response``, a response. With ``turn_detection`` null nothing happens
  until the client sends ``input_audio_buffer.commit`` (less than 100 ms of
  audio is refused, ``input_audio_buffer_commit_empty``) and ``response.create``.
* **Responses**: one at a time (``response.create`` during one gets
  ``conversation_already_has_active_response``). ``response.created``, then after
  ``reply_delay`` the message item (``response.output_item.added``), its
  transcript and audio deltas (``response.output_audio_transcript.delta``,
  ``response.output_audio.delta`` with ``response_id``, ``item_id``, base64
  ``delta``), their ``done`` events, then each scripted function call
  (``output_item.added``, ``function_call_arguments.delta``/``done``,
  ``output_item.done``), then ``response.done`` with every output item and
  ``usage``; the ``response`` objects echo the ``metadata`` of its ``response.create``
  (at most 16 string pairs, else ``error``), and ``tool_choice: none`` makes it call no
  tool. ``response.cancel`` stops it (``status: cancelled``, reason
  ``client_cancelled``; with none in progress: ``response_cancel_not_active``).
  The content-part events are not sent (no client here reads them).
* **conversation.item.truncate**: only for an assistant audio item, with
  ``audio_end_ms`` not beyond the audio sent for it (else ``error``); recorded and
  answered with ``conversation.item.truncated``.
* **conversation.item.delete**: an item of the conversation (the user's, the
  assistant's, a function call) is removed and ``conversation.item.deleted`` sent; an
  unknown id is an ``error``.
* **conversation.item.create**: a ``function_call_output`` must answer a function
  call of this session; user messages are accepted. Both are recorded.

Failures to inject: :meth:`~.voice_base.WebSocketFake.reject_next`,
:meth:`~.voice_base.WebSocketFake.drop_connections`, :meth:`FakeRealtime.inject`,
scripted replies with ``error`` (an ``error`` event and ``response.done`` with
``status: failed``).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from sipgw.app.evaluation.fakes.assemblyai import SpeechBegan, TurnDetector, TurnDue
from tests.toolkit.fakes.voice_base import (
    BYTES_PER_MS,
    LINEAR_BYTES_PER_MS,
    LINEAR_RATE,
    FakeReply,
    Narrowed,
    SessionRecord,
    SpokenReply,
    WebSocketFake,
    paced,
)

__all__ = ["FORMATS", "FakeRealtime", "RealtimeRecord"]

FORMATS = frozenset({"audio/pcm", "audio/pcmu", "audio/pcma"})
MIN_COMMIT_MS = 100
"""The least audio ``input_audio_buffer.commit`` accepts."""


@dataclass
class RealtimeRecord(SessionRecord):
    """What the fake saw of one session (a snapshot when read through ``sessions``)."""

    model: str
    session: dict[str, Any] = field(default_factory=dict)
    """The effective session configuration."""
    truncations: list[dict[str, Any]] = field(default_factory=list)
    tool_outputs: list[dict[str, Any]] = field(default_factory=list)
    """``function_call_output`` items the client created."""
    user_texts: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    """Items the client deleted (``conversation.item.delete``)."""


@dataclass(eq=False)
class _Response:
    spoken: SpokenReply
    task: asyncio.Task[None] | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    audio_item: str | None = None
    cancel_reason: str = "client_cancelled"
    metadata: dict[str, str] | None = None
    """The ``metadata`` of its ``response.create``, echoed in its ``response`` objects."""


class _Session:
    """One connection's session (on the fake's loop)."""

    def __init__(self, fake: FakeRealtime, ws: ServerConnection, record: RealtimeRecord) -> None:
        self.fake = fake
        self.ws = ws
        self.record = record
        self.session: dict[str, Any] = {
            "type": "realtime",
            "model": record.model,
            "instructions": "",
            "output_modalities": ["audio"],
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000},
                          "turn_detection": {"type": "server_vad", "silence_duration_ms": 500,
                                             "create_response": True,
                                             "interrupt_response": True}},
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"},
            },
            "tools": [],
        }  # fmt: skip
        self.detector: TurnDetector | None = None
        self.narrowed = Narrowed()
        self.buffer_ms = 0
        self.active: _Response | None = None
        self.calls: set[str] = set()
        self.audio_items: dict[str, int] = {}
        """Assistant audio item id -> ms of audio sent."""
        self.items: set[str] = set()
        """The conversation's items (deleted ones left out)."""
        self.spoke = False
        self.serial = 0
        self.session["id"] = self.next_id("sess")  # session.created's ``session.id``

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        made = f"{prefix}_{self.serial:04d}{uuid.uuid4().hex[:6]}"
        if prefix == "item":
            self.items.add(made)
        return made

    async def send(self, event: Mapping[str, Any]) -> None:
        body = {"event_id": self.next_id("event"), **event}
        await self.ws.send(json.dumps(body))

    async def error(self, code: str, message: str, kind: str = "invalid_request_error") -> None:
        error = {"type": kind, "code": code, "message": message, "param": None}
        self.fake._update(lambda: self.record.errors.append(error))
        await self.send({"type": "error", "error": error})

    # -- configuration

    def turn_detection(self) -> dict[str, Any] | None:
        detection = self.session["audio"]["input"].get("turn_detection")
        return detection if isinstance(detection, dict) else None

    async def update(self, session: Mapping[str, Any]) -> None:
        if session.get("type") != "realtime":
            await self.error("invalid_value", "session.type must be 'realtime'")
            return
        audio = session.get("audio") or {}
        for side in ("input", "output"):
            fmt = (audio.get(side) or {}).get("format")
            if fmt is None:
                continue
            kind = fmt.get("type") if isinstance(fmt, Mapping) else None
            if kind not in FORMATS:
                await self.error("invalid_value", f"audio.{side}.format.type: unknown {kind!r}")
                return
            if kind == "audio/pcm" and fmt.get("rate", LINEAR_RATE) != LINEAR_RATE:
                await self.error("invalid_value", f"audio.{side}.format.rate: only {LINEAR_RATE}")
                return
            if kind == "audio/pcma":
                await self.error("invalid_value", "this fake speaks audio/pcm and audio/pcmu")
                return
        voice = (audio.get("output") or {}).get("voice")
        if voice is not None and self.spoke and voice != self.session["audio"]["output"]["voice"]:
            await self.error("invalid_value", "voice cannot change once the model has spoken")
            return
        merged = _merge(self.session, session)
        self.session = merged
        detection = self.turn_detection()
        self.detector = None
        if detection is not None:
            silence = int(detection.get("silence_duration_ms", 500))
            self.detector = TurnDetector(
                threshold_dbfs=self.fake.speech_threshold_dbfs,
                min_speech_ms=self.fake.min_speech_ms,
                min_turn_silence_ms=silence,
                max_turn_silence_ms=silence,
            )
        self.fake._update(lambda: setattr(self.record, "session", copy.deepcopy(merged)))
        await self.send({"type": "session.updated", "session": merged})

    def linear(self, side: str) -> bool:
        """Whether ``side`` (``input``, ``output``) carries ``audio/pcm`` (24 kHz s16le)."""
        return bool(self.session["audio"][side]["format"].get("type") == "audio/pcm")

    # -- audio in

    async def append(self, data: bytes) -> None:
        self.fake._heard(self.record, data)
        if self.linear("input"):
            self.buffer_ms += len(data) // LINEAR_BYTES_PER_MS
            data = self.narrowed(data)
        else:
            self.buffer_ms += len(data) // BYTES_PER_MS
        if self.detector is None:
            return
        for action in self.detector.feed(data):
            if isinstance(action, SpeechBegan):
                await self.speech_started(action.at_ms)
            elif isinstance(action, TurnDue):
                await self.send({"type": "input_audio_buffer.speech_stopped",
                                 "audio_end_ms": action.end_ms,
                                 "item_id": self.next_id("item")})  # fmt: skip
                await self.commit()
                detection = self.turn_detection() or {}
                if detection.get("create_response", True) and self.active is None:
                    self.respond(self.fake.next_reply(), "turn")

    async def speech_started(self, at_ms: int) -> None:
        self.fake._speech_began(self.record)
        await self.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": at_ms,
                         "item_id": self.next_id("item")})  # fmt: skip
        detection = self.turn_detection() or {}
        if detection.get("interrupt_response", True) and self.active is not None:
            self.cancel("turn_detected")

    async def commit(self) -> None:
        if self.buffer_ms < MIN_COMMIT_MS:
            await self.error(
                "input_audio_buffer_commit_empty",
                f"buffer too small: expected at least {MIN_COMMIT_MS}ms of audio, "
                f"but buffer only has {self.buffer_ms}ms of audio",
            )
            return
        self.buffer_ms = 0
        item_id = self.next_id("item")
        await self.send({"type": "input_audio_buffer.committed", "item_id": item_id,
                         "previous_item_id": None})  # fmt: skip
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self.send({"type": "conversation.item.added", "item": item})
        await self.send({"type": "conversation.item.done", "item": item})
        if self.session["audio"]["input"].get("transcription"):
            await self.send({"type": "conversation.item.input_audio_transcription.completed",
                             "item_id": item_id, "content_index": 0,
                             "transcript": self.fake.next_transcript()})  # fmt: skip

    # -- responses

    def respond(
        self,
        reply: FakeReply,
        trigger: str,
        instructions: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        spoken = SpokenReply(self.next_id("resp"), trigger, reply.text, time.monotonic(),
                             instructions)  # fmt: skip
        response = _Response(spoken, metadata=metadata)
        self.active = response
        self.fake._update(lambda: self.record.replies.append(spoken))
        response.task = self.fake._spawn(self._run(response, reply))

    def cancel(self, reason: str) -> None:
        response = self.active
        if response is not None and response.task is not None and not response.task.done():
            response.cancel_reason = reason
            response.task.cancel()

    async def _run(self, response: _Response, reply: FakeReply) -> None:
        fake, spoken = self.fake, response.spoken
        status, details = "completed", None
        try:
            await self.send({"type": "response.created", "response": self._body(response)})
            await asyncio.sleep(
                fake.reply_delay if reply.reply_delay is None else reply.reply_delay
            )
            if reply.error is not None:
                await self.error(*reply.error, kind="server_error")
                status = "failed"
                details = {"type": "failed", "error": {"code": reply.error[0],
                                                       "message": reply.error[1]}}  # fmt: skip
                return
            if reply.text:
                await self._say(response, reply.text)
            for call in reply.tool_calls:
                await self._call(response, call.name, call.arguments_json(), call.id)
        except asyncio.CancelledError:
            status = "cancelled"
            details = {"type": "cancelled", "reason": response.cancel_reason}
            for item in response.items:
                if item["status"] == "in_progress":
                    item["status"] = "incomplete"
                    await _quietly(self.send({"type": "response.output_item.done",
                                              "response_id": spoken.id, "output_index": 0,
                                              "item": item}))  # fmt: skip
        finally:
            if self.active is response:
                self.active = None

            def done() -> None:
                spoken.status = "interrupted" if details and details.get("reason") == (
                    "turn_detected") else status  # fmt: skip
                spoken.done_at = time.monotonic()

            fake._update(done)
            body = self._body(response, status, details)
            await _quietly(self.send({"type": "response.done", "response": body}))

    async def _say(self, response: _Response, text: str) -> None:
        spoken = response.spoken
        item_id = self.next_id("item")
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message",
                                "role": "assistant", "status": "in_progress",
                                "content": []}  # fmt: skip
        response.items.append(item)
        response.audio_item = item_id
        self.audio_items[item_id] = 0
        where = {"response_id": spoken.id, "item_id": item_id, "output_index": 0,
                 "content_index": 0}  # fmt: skip
        await self.send({"type": "response.output_item.added", "response_id": spoken.id,
                         "output_index": 0, "item": item})  # fmt: skip
        linear = self.linear("output")
        per_ms = LINEAR_BYTES_PER_MS if linear else BYTES_PER_MS
        audio = self.fake.voice.speak(text, linear)
        words = text.split()
        chunks = max(1, -(-len(audio) // (self.fake.chunk_ms * per_ms)))
        sent = 0
        pieces = paced(audio, self.fake.chunk_ms, self.fake.speed, per_ms)
        async for n, chunk in _numbered(pieces):
            part = " ".join(words[len(words) * n // chunks : len(words) * (n + 1) // chunks])
            if part:
                await self.send({"type": "response.output_audio_transcript.delta", **where,
                                 "delta": part + " "})  # fmt: skip
            await self.send({"type": "response.output_audio.delta", **where,
                             "delta": base64.b64encode(chunk).decode("ascii")})  # fmt: skip
            sent += len(chunk)
            self.audio_items[item_id] = sent // per_ms
            self.spoke = True
            self.fake._update(partial(_heard_audio, spoken, sent // per_ms))
        await self.send({"type": "response.output_audio.done", **where})
        await self.send({"type": "response.output_audio_transcript.done", **where,
                         "transcript": text})  # fmt: skip
        item["status"] = "completed"
        item["content"] = [{"type": "output_audio", "transcript": text}]
        await self.send({"type": "response.output_item.done", "response_id": spoken.id,
                         "output_index": 0, "item": item})  # fmt: skip

    async def _call(
        self, response: _Response, name: str, arguments: str, call_id: str | None
    ) -> None:
        spoken = response.spoken
        call_id = call_id or self.next_id("call")
        item_id = self.next_id("item")
        index = len(response.items)
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": name,
            "arguments": "",
        }
        response.items.append(item)
        await self.send({"type": "response.output_item.added", "response_id": spoken.id,
                         "output_index": index, "item": dict(item)})  # fmt: skip
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            await self.send(
                {
                    "type": "response.function_call_arguments.delta",
                    "response_id": spoken.id,
                    "item_id": item_id,
                    "output_index": index,
                    "call_id": call_id,
                    "delta": piece,
                }
            )
        await self.send(
            {
                "type": "response.function_call_arguments.done",
                "response_id": spoken.id,
                "item_id": item_id,
                "output_index": index,
                "call_id": call_id,
                "name": name,
                "arguments": arguments,
            }
        )
        item["arguments"] = arguments
        item["status"] = "completed"
        self.calls.add(call_id)
        self.fake._update(partial(spoken.tool_calls.append, name))
        await self.send({"type": "response.output_item.done", "response_id": spoken.id,
                         "output_index": index, "item": dict(item)})  # fmt: skip
        self.fake._update(partial(setattr, spoken, "tool_call_at", time.monotonic()))

    def _body(
        self, response: _Response, status: str = "in_progress", details: object = None
    ) -> dict[str, Any]:
        audio_ms = sum(self.audio_items.get(i["id"], 0) for i in response.items)
        return {
            "id": response.spoken.id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": copy.deepcopy(response.items),
            "conversation_id": "conv_fake",
            "output_modalities": ["audio"],
            "metadata": copy.deepcopy(response.metadata),
            "usage": {"total_tokens": 10 + audio_ms // 50, "input_tokens": 10,
                      "output_tokens": audio_ms // 50},
        }  # fmt: skip

    # -- conversation items

    async def truncate(self, message: Mapping[str, Any]) -> None:
        item_id, end = message.get("item_id"), message.get("audio_end_ms")
        if item_id not in self.audio_items:
            await self.error("invalid_value", f"item {item_id!r} is no assistant audio item")
            return
        if not isinstance(end, int) or end < 0 or end > self.audio_items[item_id]:
            await self.error(
                "invalid_value",
                f"audio_end_ms {end!r} is beyond the item's {self.audio_items[item_id]} ms",
            )
            return
        truncation = {"item_id": item_id, "audio_end_ms": end,
                      "audio_ms": self.audio_items[item_id]}  # fmt: skip
        self.fake._update(lambda: self.record.truncations.append(truncation))
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": message.get("content_index", 0),
                "audio_end_ms": end,
            }
        )

    async def delete_item(self, message: Mapping[str, Any]) -> None:
        item_id = message.get("item_id")
        if item_id not in self.items:
            await self.error("invalid_value", f"no item {item_id!r} in the conversation")
            return
        self.items.discard(str(item_id))
        self.fake._update(lambda: self.record.deleted.append(str(item_id)))
        await self.send({"type": "conversation.item.deleted", "item_id": item_id})

    async def create_item(self, message: Mapping[str, Any]) -> None:
        item = message.get("item")
        if not isinstance(item, Mapping):
            await self.error("invalid_value", "item must be an object")
            return
        if item.get("type") == "function_call_output":
            if item.get("call_id") not in self.calls:
                await self.error("invalid_value", f"no function call {item.get('call_id')!r}")
                return
            self.fake._update(lambda: self.record.tool_outputs.append(copy.deepcopy(dict(item))))
        elif item.get("type") == "message" and item.get("role") == "user":
            texts = [c.get("text", "") for c in item.get("content") or () if isinstance(c, dict)]
            self.fake._update(lambda: self.record.user_texts.append(" ".join(texts)))
        created = {"id": self.next_id("item"), "object": "realtime.item", **item,
                   "status": "completed"}  # fmt: skip
        await self.send({"type": "conversation.item.added", "item": created})
        await self.send({"type": "conversation.item.done", "item": created})


class FakeRealtime(WebSocketFake[RealtimeRecord]):
    """A fake Realtime API server on 127.0.0.1 (see the module docstring)."""

    path = "/v1/realtime"

    def __init__(
        self,
        api_key: str = "sk-test-realtime",
        **options: Any,
    ) -> None:
        super().__init__(api_key, **options)
        self._live: set[_Session] = set()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: put it in ``RealtimeSettings.base_url``."""
        return f"http://127.0.0.1:{self.base.rsplit(':', 1)[1]}/v1"

    def inject(self, event: Mapping[str, Any]) -> None:
        """Send ``event`` to every open session now."""

        def push() -> None:
            for session in list(self._live):
                self._spawn(_quietly(session.send(event)))

        self._in_loop(push)

    async def _serve(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        query = dict(parse_qsl(urlsplit(request.path).query))
        record = RealtimeRecord(query.get("model", ""), headers=dict(request.headers.raw_items()))
        self._update(lambda: self._records.append(record))
        session = _Session(self, ws, record)
        self._live.add(session)
        try:
            await session.send({"type": "session.created", "session": session.session})
            async for raw in ws:
                if isinstance(raw, str):
                    await self._event(session, json.loads(raw))
        finally:
            self._live.discard(session)
            session.cancel("client_cancelled")
            self._update(lambda: setattr(record, "ended", True))

    async def _event(self, session: _Session, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "input_audio_buffer.append":
            audio = event.get("audio")
            if isinstance(audio, str):
                await session.append(base64.b64decode(audio))
            return
        self._update(lambda: session.record.messages.append(copy.deepcopy(dict(event))))
        if kind == "session.update":
            await session.update(event.get("session") or {})
        elif kind == "input_audio_buffer.commit":
            await session.commit()
        elif kind == "response.create":
            if session.active is not None:
                await session.error("conversation_already_has_active_response",
                                    "Conversation already has an active response")  # fmt: skip
                return
            body = event.get("response") or {}
            instructions = str(body.get("instructions") or "")
            metadata = body.get("metadata")
            if metadata is not None and not _metadata_ok(metadata):
                await session.error("invalid_value", "metadata: at most 16 string pairs")
                return
            reply = self.next_reply(instructions)
            if body.get("tool_choice") == "none":
                reply = dataclasses.replace(reply, tool_calls=())
            session.respond(reply, "create", instructions, metadata)
        elif kind == "response.cancel":
            if session.active is None:
                await session.error(
                    "response_cancel_not_active", "Cancellation failed: no active response found"
                )
                return
            session.cancel("client_cancelled")
        elif kind == "conversation.item.truncate":
            await session.truncate(event)
        elif kind == "conversation.item.create":
            await session.create_item(event)
        elif kind == "conversation.item.delete":
            await session.delete_item(event)
        elif kind == "input_audio_buffer.clear":
            session.buffer_ms = 0
            await session.send({"type": "input_audio_buffer.cleared"})
        else:
            await session.error("invalid_value", f"Invalid event type {kind!r}")


def _metadata_ok(metadata: object) -> bool:
    """A response's ``metadata`` as the API reference allows it: at most 16 pairs, keys of
    at most 64 characters, string values of at most 512."""
    return (
        isinstance(metadata, Mapping)
        and len(metadata) <= 16
        and all(isinstance(k, str) and len(k) <= 64 for k in metadata)
        and all(isinstance(v, str) and len(v) <= 512 for v in metadata.values())
    )


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``update``'s fields set: nested objects merged, except a union member
    (an object with a ``type``: a format, a turn detection), which replaces the old one;
    null clears a field."""
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        union = isinstance(value, Mapping) and "type" in value and key != "session"
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and not union:
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _heard_audio(spoken: SpokenReply, sent_ms: int) -> None:
    if spoken.first_audio_at is None:
        spoken.first_audio_at = time.monotonic()
    spoken.audio_ms = sent_ms


async def _numbered(chunks: Any) -> Any:
    n = 0
    async for chunk in chunks:
        yield n, chunk
        n += 1


async def _quietly(send: Any) -> None:
    try:
        await send
    except ConnectionClosed:
        pass
