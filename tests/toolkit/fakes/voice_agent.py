"""A local stand-in for AssemblyAI's Voice Agent API (``wss://agents.assemblyai.com/v1/ws``).

A real WebSocket server (:class:`~.voice_base.WebSocketFake`) speaking the protocol of
docs/cloud-apis.md, "AssemblyAI Voice Agent API", written from AssemblyAI's
documentation under https://www.assemblyai.com/docs/voice-agents/voice-agent-api/:
the overview ("Resuming a session"), ``events-reference`` (each event, the
immutable fields, ``session.resume``), ``message-sequence``, the tool-calling
guide (``tools/client-side-tools``: send ``tool.result`` once ``reply.done`` is
the latest event), the audio format page, and "Connect to Twilio" (the seed), with
the WebSocket API reference (``/docs/api-reference/voice-agent-api/voice-agent-web-socket``).
Field names those pages do not spell out are marked UNVERIFIED below;
third-party clients agree with them.

What it checks and does, like the service:

* **Upgrade**: path ``/v1/ws``, ``Authorization: Bearer <key>`` (else HTTP 401;
  whether the service answers a bad key with 401 or a close is UNVERIFIED).
* **Configuration**: the first message must be ``session.update`` or
  ``session.resume``. ``session.update`` is checked: the encodings must be
  ``audio/pcm`` (the default: 24 kHz s16le; an input ``sample_rate`` other than 24000
  is refused here, UNVERIFIED what the service does with one), ``audio/pcmu`` or
  ``audio/pcma`` (this fake hears and speaks ``audio/pcm`` and ``audio/pcmu``, each
  side as its format says, and refuses ``audio/pcma``), the voice must be lower case ("voice
  names are case-sensitive", answered with ``session.error`` ``invalid_value``
  as the Twilio guide's troubleshooting shows), each tool must be a function with
  a name and a parameters object. Then ``session.ready`` with a ``session_id``,
  and the greeting, if any, is spoken at once. Later ``session.update`` messages
  get ``session.updated``; changing ``greeting``, ``output.voice`` or
  ``output.format`` after ready gets ``session.error`` ``immutable_field``.
* **Audio**: ``input.audio`` (base64) before ``session.ready`` is discarded, as the
  docs warn; after it, the caller's speech is detected on the audio stream's own
  clock (:class:`~.assemblyai.TurnDetector`: loud 20 ms frames, ``min_speech_ms``
  to start, ``silence_ms`` of silence to end a turn).
* **Turns**: speech start sends ``input.speech.started``; if a reply is being
  generated it is cut (``transcript.agent`` with what was said and
  ``interrupted: true``, then ``reply.done`` with ``status: interrupted``). The end
  of a turn sends ``input.speech.stopped``, ``transcript.user`` (the next of
  :meth:`FakeVoiceAgent.script_transcripts`, or ``default_transcript``) and,
  ``reply_delay`` later, the next reply: ``reply.started`` (``reply_id``),
  ``reply.audio`` (``reply_id``, base64 in ``data``: UNVERIFIED field name),
  ``transcript.agent`` (``text``), ``tool.call`` per scripted call (``call_id``,
  ``name``, ``arguments`` as an object: UNVERIFIED), ``reply.done`` (``status:
  completed``). ``reply.create`` (optional ``instructions``) asks for a reply.
  Replies never overlap: one asked for while another speaks follows it.
  ``reply.done`` is only ever ``completed`` or ``interrupted``, the two statuses the
  events reference documents; a scripted failure is a ``session.error`` and then
  nothing more of that reply (after its ``reply.started``, or instead of it with
  ``FakeReply.error_before_reply``): what the service sends after an error is not
  documented, so the client must not wait for it.
* **Tools**: the reply after a tool call starts once every call it made has its
  ``tool.result`` (``call_id``, ``result``: UNVERIFIED). The docs ask clients to
  send results only once ``reply.done`` is the latest event; a result sent while
  a reply is still being generated is recorded (``early_results``) for the tests
  to assert on, since what the service does then is not documented. A result for
  an unknown call gets ``session.error`` (code UNVERIFIED).
* **Resume**: a session outlives its connection by ``resume_window`` seconds (30 s
  in the docs); ``session.resume`` with its id as the first message gets
  ``session.ready`` again and the conversation goes on; an unknown or expired id
  gets ``session.error`` ``session_not_found``.
* **End**: ``session.end`` gets ``session.ended`` (durations) and a 1000 close.

Failures to inject: :meth:`~.voice_base.WebSocketFake.reject_next` (HTTP refusal),
:meth:`~.voice_base.WebSocketFake.drop_connections`, :meth:`FakeVoiceAgent.inject`
(any event, e.g. a ``session.error``), scripted replies with ``error`` (a
``session.error``, then nothing of that reply) or a long ``reply_delay`` (a stalled
model: ``reply.started``, then silence).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

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

__all__ = ["ENCODINGS", "FakeVoiceAgent", "VoiceAgentRecord"]

ENCODINGS = frozenset({"audio/pcm", "audio/pcmu", "audio/pcma"})
"""The encodings the audio format page lists."""
IMMUTABLE = ("greeting", "voice", "format")
"""Fields that cannot change after ``session.ready``."""


@dataclass
class VoiceAgentRecord(SessionRecord):
    """What the fake saw of one session (a snapshot when read through ``sessions``)."""

    session_id: str
    config: dict[str, Any] = field(default_factory=dict)
    """The ``session`` object of the accepted ``session.update`` (later updates merged)."""
    early_audio: int = 0
    """``input.audio`` messages before ``session.ready`` (discarded)."""
    tool_results: list[dict[str, Any]] = field(default_factory=list)
    early_results: list[str] = field(default_factory=list)
    """Call ids of ``tool.result`` messages sent while a reply was being generated."""
    connections: int = 0
    resumed: int = 0


class _Session:
    """One session's life, across the connections that resume it (on the fake's loop)."""

    def __init__(self, fake: FakeVoiceAgent, record: VoiceAgentRecord) -> None:
        self.fake = fake
        self.record = record
        self.ws: ServerConnection | None = None
        self.ready = False
        self.started = time.monotonic()
        self.disconnected_at: float | None = None
        self.detector = TurnDetector(
            threshold_dbfs=fake.speech_threshold_dbfs,
            min_speech_ms=fake.min_speech_ms,
            min_turn_silence_ms=fake.silence_ms,
            max_turn_silence_ms=fake.silence_ms,
        )
        self.linear_in = self.linear_out = False
        """The caller's audio, the replies': ``audio/pcm`` (else ``audio/pcmu``)."""
        self.narrowed = Narrowed()
        self.queue: deque[tuple[FakeReply, str, str]] = deque()
        self.speaker: asyncio.Task[None] | None = None
        self.current: SpokenReply | None = None
        self.waiting_calls: set[str] = set()
        self.replies = 0

    async def send(self, message: Mapping[str, Any]) -> None:
        if self.ws is not None:
            await self.ws.send(json.dumps(message))

    async def error(self, code: str, message: str) -> None:
        event = {"type": "session.error", "code": code, "message": message}
        self.fake._update(lambda: self.record.errors.append(event))
        await self.send(event)

    # -- replies

    def ask(self, reply: FakeReply, trigger: str, instructions: str = "") -> None:
        """Queue a reply; the speaker gives them one after the other."""
        self.queue.append((reply, trigger, instructions))
        if self.speaker is None or self.speaker.done():
            self.speaker = self.fake._spawn(self._speak_queue())

    async def _speak_queue(self) -> None:
        while self.queue and self.ws is not None:
            reply, trigger, instructions = self.queue.popleft()
            await self._reply(reply, trigger, instructions)
            if self.waiting_calls:
                return  # the next reply comes with the tool results

    async def _reply(self, reply: FakeReply, trigger: str, instructions: str) -> None:
        fake = self.fake
        self.replies += 1
        spoken = SpokenReply(f"reply_{self.replies}", trigger, reply.text, time.monotonic(),
                             instructions)  # fmt: skip
        self.current = spoken
        fake._update(lambda: self.record.replies.append(spoken))
        sent = 0
        audio = b""
        delay = fake.reply_delay if reply.reply_delay is None else reply.reply_delay
        try:
            if reply.error is not None and reply.error_before_reply:
                await asyncio.sleep(delay)
                await self.error(*reply.error)
                self._ended(spoken, "error")  # no reply at all
                return
            await self.send({"type": "reply.started", "reply_id": spoken.id})
            await asyncio.sleep(delay)
            if reply.error is not None:
                await self.error(*reply.error)
                self._ended(spoken, "error")  # and nothing more of it: no reply.done
                return
            audio = fake.voice.speak(reply.text, self.linear_out)
            per_ms = LINEAR_BYTES_PER_MS if self.linear_out else BYTES_PER_MS
            async for chunk in paced(audio, fake.chunk_ms, fake.speed, per_ms):
                data = base64.b64encode(chunk).decode("ascii")
                await self.send({"type": "reply.audio", "reply_id": spoken.id, "data": data})
                sent += len(chunk)
                self._sent_audio(spoken, sent // per_ms)
            if reply.text:
                await self.send({"type": "transcript.agent", "reply_id": spoken.id,
                                 "text": reply.text})  # fmt: skip
            for call in reply.tool_calls:
                call_id = call.id or f"call_{uuid.uuid4().hex[:12]}"
                self.waiting_calls.add(call_id)
                fake._update(partial(spoken.tool_calls.append, call.name))
                await self.send({"type": "tool.call", "call_id": call_id, "name": call.name,
                                 "arguments": json.loads(call.arguments_json())})  # fmt: skip
                fake._update(partial(setattr, spoken, "tool_call_at", time.monotonic()))
            await self._done(spoken, "completed")
        except asyncio.CancelledError:
            heard = reply.text[: len(reply.text) * sent // len(audio)] if audio else ""
            await asyncio.shield(self._interrupted(spoken, heard))
            raise

    def _sent_audio(self, spoken: SpokenReply, sent_ms: int) -> None:
        def change() -> None:
            if spoken.first_audio_at is None:
                spoken.first_audio_at = time.monotonic()
            spoken.audio_ms = sent_ms

        self.fake._update(change)

    async def _interrupted(self, spoken: SpokenReply, heard: str) -> None:
        try:
            await self.send({"type": "transcript.agent", "reply_id": spoken.id, "text": heard,
                             "interrupted": True})  # fmt: skip
            await self._done(spoken, "interrupted")
        except ConnectionClosed:
            pass

    async def _done(self, spoken: SpokenReply, status: str) -> None:
        self._ended(spoken, status)
        await self.send({"type": "reply.done", "reply_id": spoken.id, "status": status})

    def _ended(self, spoken: SpokenReply, status: str) -> None:
        """The reply is over (recorded with ``status``; ``error``: it failed)."""

        def change() -> None:
            spoken.status = status
            spoken.done_at = time.monotonic()

        self.fake._update(change)
        self.current = None

    def barge_in(self) -> None:
        """The caller started talking: cut the reply being generated, drop the queued ones."""
        self.queue.clear()
        if self.speaker is not None and not self.speaker.done() and self.current is not None:
            self.speaker.cancel()

    # -- the caller's audio

    async def audio(self, data: bytes) -> None:
        fake = self.fake
        fake._heard(self.record, data)
        for action in self.detector.feed(self.narrowed(data) if self.linear_in else data):
            if isinstance(action, SpeechBegan):
                fake._speech_began(self.record)
                await self.send({"type": "input.speech.started"})
                self.barge_in()
            elif isinstance(action, TurnDue):
                await self.send({"type": "input.speech.stopped"})
                text = fake.next_transcript()
                await self.send({"type": "transcript.user", "text": text,
                                 "item_id": f"item_{uuid.uuid4().hex[:8]}"})  # fmt: skip
                self.ask(fake.next_reply(), "turn")

    # -- tools

    async def tool_result(self, message: Mapping[str, Any]) -> None:
        call_id = message.get("call_id")
        if not isinstance(call_id, str) or call_id not in self.waiting_calls:
            await self.error("invalid_value", f"unknown call_id {call_id!r}")
            return
        early = self.current is not None
        self.fake._update(lambda: self._result(dict(message), call_id, early))
        self.waiting_calls.discard(call_id)
        if not self.waiting_calls:
            self.ask(self.fake.next_reply(), "tool_result")

    def _result(self, message: dict[str, Any], call_id: str, early: bool) -> None:
        self.record.tool_results.append(message)
        if early:
            self.record.early_results.append(call_id)


class FakeVoiceAgent(WebSocketFake[VoiceAgentRecord]):
    """A fake Voice Agent API server on 127.0.0.1 (see the module docstring)."""

    path = "/v1/ws"

    def __init__(
        self,
        api_key: str = "aai-test-key",
        *,
        silence_ms: int = 400,
        resume_window: float = 30.0,
        **options: Any,
    ) -> None:
        super().__init__(api_key, **options)
        self.silence_ms = silence_ms
        self.resume_window = resume_window
        self._sessions: dict[str, _Session] = {}

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/v1/ws``: put it in ``VoiceAgentSettings.url``."""
        return f"{self.base}/v1/ws"

    # ----------------------------------------------------------------- control

    def inject(self, message: Mapping[str, Any]) -> None:
        """Send ``message`` to every connected session now."""

        def push() -> None:
            for session in self._sessions.values():
                if session.ws is not None:
                    self._spawn(session.send(message))

        self._in_loop(push)

    # ----------------------------------------------------------------- serving

    async def _serve(self, ws: ServerConnection) -> None:
        session: _Session | None = None
        try:
            async for raw in ws:
                if isinstance(raw, bytes):
                    continue
                message = json.loads(raw)
                if session is None:
                    session = await self._open(ws, message)
                    continue
                await self._message(session, message)
        finally:
            if session is not None and session.ws is ws:
                session.ws = None
                session.disconnected_at = time.monotonic()
                session.barge_in()
                if session.speaker is not None:
                    session.speaker.cancel()

    async def _open(self, ws: ServerConnection, message: Mapping[str, Any]) -> _Session | None:
        """The first message: a new session, or one resumed."""
        kind = message.get("type")
        if kind == "session.resume":
            return await self._resume(ws, message)
        if kind != "session.update":
            await ws.send(
                json.dumps(
                    {
                        "type": "session.error",
                        "code": "invalid_message",
                        "message": "the first message must be session.update",
                    }
                )
            )
            return None
        headers = dict(ws.request.headers.raw_items()) if ws.request is not None else {}
        record = VoiceAgentRecord(f"sess_{uuid.uuid4().hex[:16]}", headers=headers)
        session = _Session(self, record)
        session.ws = ws
        config = message.get("session")
        problem = _config_problem(config)
        self._update(lambda: self._new_record(record, message))
        if problem is not None:
            await session.error("invalid_value", problem)
            return None
        assert isinstance(config, Mapping)
        self._update(lambda: record.config.update(copy.deepcopy(dict(config))))
        session.linear_in = _encoding(config, "input") == "audio/pcm"
        session.linear_out = _encoding(config, "output") == "audio/pcm"
        self._sessions[record.session_id] = session
        session.ready = True
        await session.send({"type": "session.ready", "session_id": record.session_id})
        greeting = config.get("greeting")
        if isinstance(greeting, str) and greeting.strip():
            session.ask(FakeReply(greeting), "greeting")
        return session

    def _new_record(self, record: VoiceAgentRecord, message: Mapping[str, Any]) -> None:
        record.connections = 1
        record.messages.append(copy.deepcopy(dict(message)))
        self._records.append(record)

    async def _resume(self, ws: ServerConnection, message: Mapping[str, Any]) -> _Session | None:
        session = self._sessions.get(str(message.get("session_id")))
        lost = None if session is None or session.ws is not None else session.disconnected_at
        if session is None or lost is None or time.monotonic() - lost > self.resume_window:
            await ws.send(
                json.dumps(
                    {
                        "type": "session.error",
                        "code": "session_not_found",
                        "message": "no such session to resume",
                    }
                )
            )
            await ws.close(1000)
            return None
        session.ws = ws
        session.disconnected_at = None

        def resumed() -> None:
            session.record.resumed += 1
            session.record.connections += 1
            session.record.messages.append(dict(message))

        self._update(resumed)
        await session.send({"type": "session.ready", "session_id": session.record.session_id})
        return session

    async def _message(self, session: _Session, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        if kind == "input.audio":
            data = message.get("audio")
            if not session.ready:
                self._update(lambda: setattr(session.record, "early_audio",
                                             session.record.early_audio + 1))  # fmt: skip
            elif isinstance(data, str):
                await session.audio(base64.b64decode(data))
            return
        self._update(lambda: session.record.messages.append(copy.deepcopy(dict(message))))
        if kind == "tool.result":
            await session.tool_result(message)
        elif kind == "reply.create":
            instructions = str(message.get("instructions") or "")
            session.ask(self.next_reply(instructions), "create", instructions)
        elif kind == "session.update":
            await self._update_session(session, message)
        elif kind == "session.end":
            await self._end(session)
        else:
            await session.error("invalid_message", f"unknown event type {kind!r}")

    async def _update_session(self, session: _Session, message: Mapping[str, Any]) -> None:
        update = message.get("session")
        if not isinstance(update, Mapping):
            await session.error("invalid_value", "session must be an object")
            return
        for name in _changed_immutables(session.record.config, update):
            await session.error("immutable_field", f"{name} cannot change after session.ready")
            return
        self._update(lambda: session.record.config.update(copy.deepcopy(dict(update))))
        await session.send({"type": "session.updated"})

    async def _end(self, session: _Session) -> None:
        session.barge_in()
        elapsed = time.monotonic() - session.started
        await session.send(
            {
                "type": "session.ended",
                "session_duration_seconds": round(elapsed, 1),
                "audio_duration_seconds": round(
                    session.record.audio_bytes
                    / (LINEAR_BYTES_PER_MS if session.linear_in else BYTES_PER_MS)
                    / 1000,
                    1,
                ),
            }
        )
        self._update(lambda: setattr(session.record, "ended", True))
        self._sessions.pop(session.record.session_id, None)
        if session.ws is not None:
            await session.ws.close(1000)


def _config_problem(config: object) -> str | None:
    """Why a first ``session.update`` is refused, or None."""
    if not isinstance(config, Mapping):
        return "session must be an object"
    for side in ("input", "output"):
        encoding = _encoding(config, side)
        if encoding not in ENCODINGS:
            return f"{side}.format.encoding: unknown encoding {encoding!r}"
        if encoding == "audio/pcma":
            return f"{side}.format.encoding: this fake speaks audio/pcm and audio/pcmu"
        rate = ((config.get(side) or {}).get("format") or {}).get("sample_rate", LINEAR_RATE)
        if encoding == "audio/pcm" and rate != LINEAR_RATE:
            return f"{side}.format.sample_rate: audio/pcm is {LINEAR_RATE} Hz, not {rate!r}"
    voice = (config.get("output") or {}).get("voice", "ivy")
    if not isinstance(voice, str) or voice != voice.lower():
        return f"output.voice: voice names are case-sensitive (lower case), got {voice!r}"
    for tool in config.get("tools") or ():
        if not isinstance(tool, Mapping) or tool.get("type") != "function" or not tool.get("name"):
            return f"tools: each tool must be a function with a name, got {tool!r}"
        if not isinstance(tool.get("parameters", {}), Mapping):
            return f"tools: {tool.get('name')}: parameters must be a JSON schema object"
    return None


def _encoding(config: Mapping[str, Any], side: str) -> object:
    """``side``'s (``input``, ``output``) ``format.encoding``: ``audio/pcm`` by default."""
    return ((config.get(side) or {}).get("format") or {}).get("encoding", "audio/pcm")


def _changed_immutables(config: Mapping[str, Any], update: Mapping[str, Any]) -> list[str]:
    changed = []
    if "greeting" in update and update["greeting"] != config.get("greeting"):
        changed.append("greeting")
    output, before = update.get("output") or {}, config.get("output") or {}
    for name in ("voice", "format"):
        if name in output and output[name] != before.get(name):
            changed.append(f"output.{name}")
    return changed
