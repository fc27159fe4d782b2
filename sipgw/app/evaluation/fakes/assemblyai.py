"""A local stand-in for AssemblyAI's v3 streaming API (``wss://.../v3/ws``).

It is a real WebSocket server (``websockets``) on 127.0.0.1, port 0, that
speaks the wire protocol of docs/cloud-apis.md, "AssemblyAI streaming v3", so the production
client runs unchanged against it, configured only by URL. Run it either on
the test's own loop::

    async with FakeAssemblyAI(api_key="k") as fake:
        settings = AssemblyAISettings(api_key="k", url=fake.url)

or, for a gateway running in a subprocess, in a background thread with its
own event loop (every control method below is thread-safe)::

    fake = FakeAssemblyAI(api_key="k").start_in_thread()
    ...
    fake.stop()

What it checks, like the real service:

* **Upgrade.** The path must be ``/v3/ws``. ``Authorization`` must equal the
  key, with no ``Bearer``. A wrong or missing key is answered, by default, by
  accepting the upgrade and closing with 1008 ``Unauthorized Connection: ...``
  (the close code the docs list). With ``auth_failure="http"`` it answers
  HTTP 401 instead. Which one the real service uses for a bad key is not
  documented, so clients must handle both. The required query parameters
  (``speech_model=u3-rt-pro``, ``encoding=pcm_mulaw``, ``sample_rate=8000``)
  are checked, and a mismatch gets HTTP 400 (our choice; undocumented).
* **Audio.** Every binary frame must hold 50-1000 ms, and the audio received
  must never exceed the session's age plus ``rate_allowance`` (0.5 s). A
  violation closes with 3007 and the documented reason text.
* **Messages.** ``Terminate`` gets ``Termination`` and a 1000 close.
  ``ForceEndpoint`` ends the current turn now. ``UpdateConfiguration`` is
  recorded, and its ``min_turn_silence`` / ``max_turn_silence`` take effect (unless
  ``fixed_turn_silence``: then neither they nor the query's do).
  ``KeepAlive`` is accepted. Bad JSON or an unknown type closes with 3006.
* **Session rate limit.** With ``sessions_per_minute`` set, a connection
  beyond that many new sessions in the last ``rate_window`` seconds (60, the
  service's per-minute window; shorter in tests) is accepted and closed before
  ``Begin`` with ``concurrency_close_code`` (1008, "Too many concurrent
  sessions", as the concurrency docs describe; 3009 in the errors table).
* **Slow start.** ``begin_delay`` seconds pass before ``Begin`` is sent.
* **Errors before a close.** A refusal or a drop may send an ``Error`` frame
  (``{"type": "Error", "error": ...}``) just before its close, whose reason may then be
  empty: the docs' errors come "just prior to on_close" (common-errors.mdx).

How it decides speech and turns by default (:class:`TurnDetector`, pure and
deterministic: it counts audio-stream time, never the wall clock; a ``detector_factory``
replaces it, e.g. :class:`~sipgw.app.evaluation.fakes.assemblyai_script.ScriptedTurnDetector`,
which transcribes what a scripted caller said and ends turns on the caller's silence, not
on the room's energy):

* Audio is cut into 20 ms frames. A frame is *loud* when its RMS is above
  ``speech_threshold_dbfs`` (-35 dBFS). ``min_speech_ms`` (60 ms) of
  consecutive loud frames start speech: ``SpeechStarted`` carries the stream
  time of the first loud frame.
* **Partials during speech**, as AssemblyAI documents them for Universal-3 Pro
  ("Universal-3 Pro Streaming Partial Transcripts and Turn Detection",
  https://assemblyai.com/docs/streaming/universal-3-pro/turn-detection-and-partials):
  one *early* partial per turn once the turn has this much speech: the session's
  ``interruption_delay`` plus 300 ms ("the server adds a minimum of 300ms on
  top"), or, when the client sends none, ``partial_after_ms`` (the service's own
  default is ~750 ms; the fake's is None, no early partial, so that tests which
  do not exercise it are not disturbed by one). An attempt whose text comes back
  empty is tried again at twice, three times ... that point (the docs' 750,
  1500, 2250 ms). With ``continuous_partials=true`` in the query (or, when the
  client sends none, the fake's ``continuous_partials``; off by default here,
  though the service now defaults to on) one more every
  ``continuous_partial_ms`` (3000) of speech. Their text is the next item of
  :meth:`FakeAssemblyAI.script_speech_partials` ("" is an early attempt that came
  back empty), else the first half of the next transcript's words; their words
  end where the speech heard so far ends (``words[-1].end``).
* Every partial goes out ``partial_latency`` seconds after the audio that
  completed it (the model's latency; 0 by default), a final ``final_latency``
  after.
* The partial sent at ``min_turn_silence`` carries the next item of
  :meth:`FakeAssemblyAI.script_partials` if there is one; else, with
  ``full_silence_partials`` set, every word of the next transcript, lower-case
  and without punctuation (what u3-rt-pro has heard so far, before formatting);
  else the first half of its words.
* Like u3-rt-pro, when ``min_turn_silence`` of silence follows speech the
  turn ends if the transcript about to be used ends in ``.``, ``?`` or ``!``
  (and, for one queued with :meth:`FakeAssemblyAI.script_sentence`, once the
  turn has had the speech of its last clause: the pauses between its clauses
  end no sentence); otherwise a partial is sent and the turn ends at
  ``max_turn_silence``.
* A final ``Turn`` has ``end_of_turn`` true, ``turn_is_formatted`` true,
  ``end_of_turn_confidence`` 1 and ``utterance == transcript``. The transcript
  is the next item of :meth:`FakeAssemblyAI.script` (``default_transcript``
  when the script is empty); a sentence of clauses ended before its last clause
  (``ForceEndpoint`` in a pause) gives the words said so far, the rest being the
  next turn's (:meth:`FakeAssemblyAI.take_transcript`), which keeps the rest of the
  sentence's speech: counted from the next turn's first loud frame, it ends at the first
  pause after the sentence's scripted end, not in a gap between the rest's words. Its
  words share the speech span evenly, in stream ms. It is sent after ``final_latency``
  seconds (service latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sipgw.app.evaluation.fakes.wsserver import WebSocketServerFake
from sipgw.media.g711 import linear_to_ulaw, resample, rms_dbfs

__all__ = [
    "CONCURRENCY_REASON",
    "Detector",
    "DetectorFactory",
    "FakeAssemblyAI",
    "FakeSession",
    "PartialDue",
    "SpeechBegan",
    "TurnDetector",
    "TurnDue",
]

REQUIRED_PARAMS = {"speech_model": "u3-rt-pro", "encoding": "pcm_mulaw", "sample_rate": "8000"}

CONCURRENCY_REASON = "Too many concurrent sessions"
"""Close reason of a session over the new-sessions-per-minute limit (concurrency docs)."""

BYTES_PER_MS = 8  # μ-law at 8 kHz
FRAME_MS = 20
RATE_VIOLATION = "Audio Transmission Rate Exceeded"
EARLY_PARTIAL_FLOOR_MS = 300
"""What the service adds to ``interruption_delay`` at least (the early partial's docs)."""
_TERMINAL = (".", "?", "!")


def duration_violation(duration_ms: float) -> str:
    """The documented 3007 reason for a frame of ``duration_ms``."""
    return f"Input duration violation: {duration_ms:g} ms. Expected between 50 and 1000 ms"


# --------------------------------------------------------------------------- turn detection


@dataclass(frozen=True)
class SpeechBegan:
    """Speech started at ``at_ms`` of the audio stream."""

    at_ms: int


@dataclass(frozen=True)
class PartialDue:
    """A partial Turn covering ``start_ms`` to ``end_ms`` is due."""

    start_ms: int
    end_ms: int
    silence: bool = False
    """Sent because ``min_turn_silence`` passed without a sentence end (not an early one)."""
    continuous: bool = False
    """A continuous partial (``continuous_partials``), during speech."""
    text: str | None = None
    """An early partial's text (its attempt decided it); None: the session picks it."""


@dataclass(frozen=True)
class TurnDue:
    """The turn that spoke from ``start_ms`` to ``end_ms`` has ended."""

    start_ms: int
    end_ms: int
    text: str | None = None
    """The turn's transcript (a scripted detector knows it); None: the session picks it."""


DetectorAction = SpeechBegan | PartialDue | TurnDue


class Detector(Protocol):
    """What a session asks of its turn detector (:class:`TurnDetector`, or one built by
    ``FakeAssemblyAI.detector_factory``)."""

    min_turn_silence_ms: int
    max_turn_silence_ms: int

    def feed(self, audio: bytes) -> list[DetectorAction]:
        """Analyse more audio; return what the server should say about it."""
        ...

    def force_endpoint(self) -> list[DetectorAction]:
        """End the current turn now."""
        ...


DetectorFactory = Callable[..., Detector]
"""Builds a session's detector from keyword arguments ``threshold_dbfs``, ``min_speech_ms``,
``min_turn_silence_ms``, ``max_turn_silence_ms``, ``partial_after_ms`` and
``continuous_partial_ms`` (the session's, from its query)."""


class TurnDetector:
    """Energy-based speech and end-of-turn detection over μ-law audio (no I/O)."""

    def __init__(
        self,
        *,
        threshold_dbfs: float = -35.0,
        min_speech_ms: int = 60,
        min_turn_silence_ms: int = 100,
        max_turn_silence_ms: int = 1000,
        partial_after_ms: int | None = None,
        ends_sentence: Callable[[int], bool] = lambda speech_ms: True,
        early_text: Callable[[], str] = lambda: "",
        continuous_partial_ms: int | None = None,
    ) -> None:
        """``partial_after_ms``: speech before the early partial's first attempt (None =
        no early partial); ``early_text``: an attempt's text ("" = empty, tried again);
        ``continuous_partial_ms``: speech between continuous partials (None = none)."""
        self.threshold_dbfs = threshold_dbfs
        self.min_speech_ms = min_speech_ms
        self.min_turn_silence_ms = min_turn_silence_ms
        self.max_turn_silence_ms = max_turn_silence_ms
        self.partial_after_ms = partial_after_ms
        self.continuous_partial_ms = continuous_partial_ms
        self._ends_sentence = ends_sentence
        self._early_text = early_text
        self._early_due: int | None = None  # speech (ms) of the next early attempt
        self._continuous_due = 0
        self._carry = b""
        self._pos_ms = 0
        self._run_start: int | None = None
        self._in_turn = False
        self._turn_start = 0
        self._speech_end = 0
        self._speech_ms = 0
        self._silence_ms = 0
        self._silence_checked = False

    @property
    def position_ms(self) -> int:
        """Stream time analysed so far."""
        return self._pos_ms

    @property
    def in_turn(self) -> bool:
        """Whether speech has started and its turn has not ended."""
        return self._in_turn

    def feed(self, audio: bytes) -> list[DetectorAction]:
        """Analyse more audio; return what the server should say about it."""
        data = self._carry + audio
        frame_bytes = FRAME_MS * BYTES_PER_MS
        whole = len(data) - len(data) % frame_bytes
        self._carry = data[whole:]
        actions: list[DetectorAction] = []
        for offset in range(0, whole, frame_bytes):
            loud = rms_dbfs(data[offset : offset + frame_bytes]) > self.threshold_dbfs
            actions.extend(self._frame(loud))
            self._pos_ms += FRAME_MS
        return actions

    def force_endpoint(self) -> list[DetectorAction]:
        """End the current turn now (``ForceEndpoint`` or ``Terminate``)."""
        return [self._end_turn()] if self._in_turn else []

    def _frame(self, loud: bool) -> list[DetectorAction]:
        start, end = self._pos_ms, self._pos_ms + FRAME_MS
        if not self._in_turn:
            return self._idle_frame(loud, start, end)
        if loud:
            self._speech_end = end
            self._speech_ms += FRAME_MS
            self._silence_ms = 0
            self._silence_checked = False
            return self._speech_partials(end)
        self._silence_ms += FRAME_MS
        if self._silence_ms >= self.max_turn_silence_ms:
            return [self._end_turn()]
        if self._silence_ms >= self.min_turn_silence_ms and not self._silence_checked:
            self._silence_checked = True
            if self._ends_sentence(self._speech_end - self._turn_start):
                return [self._end_turn()]
            return [PartialDue(self._turn_start, self._speech_end, silence=True)]
        return []

    def _speech_partials(self, end: int) -> list[DetectorAction]:
        """The early and continuous partials due at this point of the turn's speech."""
        due: list[DetectorAction] = []
        first = self.partial_after_ms
        if first is not None and self._early_due is not None and self._speech_ms >= self._early_due:
            text = self._early_text()
            if text.strip():
                self._early_due = None  # one early partial per turn
                due.append(PartialDue(self._turn_start, end, text=text))
            else:
                self._early_due += max(first, FRAME_MS)  # empty: tried again later
        every = self.continuous_partial_ms
        if every is not None and self._speech_ms >= self._continuous_due:
            self._continuous_due += every
            due.append(PartialDue(self._turn_start, end, continuous=True))
        return due

    def _idle_frame(self, loud: bool, start: int, end: int) -> list[DetectorAction]:
        if not loud:
            self._run_start = None
            return []
        if self._run_start is None:
            self._run_start = start
        if end - self._run_start < self.min_speech_ms:
            return []
        self._in_turn = True
        self._turn_start = self._run_start
        self._speech_end = end
        self._speech_ms = end - self._run_start
        self._silence_ms = 0
        self._early_due = self.partial_after_ms
        self._continuous_due = self.continuous_partial_ms or 0
        self._silence_checked = False
        self._run_start = None
        return [SpeechBegan(self._turn_start)]

    def _end_turn(self) -> TurnDue:
        self._in_turn = False
        return TurnDue(self._turn_start, self._speech_end)


# --------------------------------------------------------------------------- records


@dataclass
class FakeSession:
    """What the fake saw of one accepted WebSocket (a snapshot when read via ``sessions``)."""

    index: int
    session_id: str
    path: str
    query: str
    """The raw query string, as encoded by the client."""
    params: dict[str, str]
    headers: dict[str, str]
    started_at: float
    """``time.monotonic()`` when the upgrade was accepted (same clock as ``loop.time()``)."""
    rejected_with: int | None = None
    """Close code if the fake refused the session before ``Begin`` (auth, reject_next)."""
    audio_bytes: int = 0
    chunk_sizes: list[int] = field(default_factory=list)
    chunk_times: list[float] = field(default_factory=list)
    """Arrival of each binary frame, seconds after ``started_at``."""
    chunk_arrived_at: list[float] = field(default_factory=list)
    """``time.monotonic()`` at the arrival of each binary frame (for latency benchmarks)."""
    chunks: list[bytes] = field(default_factory=list)
    """The binary frames themselves, only when the fake was made with ``keep_audio=True``
    (as μ-law at 8 kHz, whatever the client sent)."""
    received: list[bytes] = field(default_factory=list)
    """The binary frames as the client sent them (16 kHz s16le on an HD-voice call), only
    with ``keep_audio``."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """JSON messages from the client (Terminate, UpdateConfiguration, ...)."""
    message_at: list[float] = field(default_factory=list)
    """``time.monotonic()`` at the arrival of each message of ``messages`` (same order)."""
    sent: list[dict[str, Any]] = field(default_factory=list)
    """JSON messages the fake sent."""
    sent_at: list[float] = field(default_factory=list)
    """``time.monotonic()`` right after each message of ``sent`` was written (same order)."""
    violation: str | None = None
    """The 3007/3006 reason if the fake closed the session for a client error."""
    close_code: int | None = None
    close_reason: str = ""
    ended_at: float | None = None

    @property
    def audio_seconds(self) -> float:
        """Audio received, in seconds."""
        return self.audio_bytes / (BYTES_PER_MS * 1000)

    @property
    def open(self) -> bool:
        """Whether the connection is still up."""
        return self.ended_at is None

    def sent_of_type(self, kind: str) -> list[dict[str, Any]]:
        """The messages of one ``type`` that the fake sent."""
        return [m for m in self.sent if m.get("type") == kind]

    def received_of_type(self, kind: str) -> list[dict[str, Any]]:
        """The messages of one ``type`` that the client sent."""
        return [m for m in self.messages if m.get("type") == kind]


@dataclass(frozen=True)
class _CloseOrder:
    code: int
    reason: str


# --------------------------------------------------------------------------- one connection


class _LiveSession:
    """Runtime state of one accepted connection (lives on the fake's loop)."""

    def __init__(self, fake: FakeAssemblyAI, ws: ServerConnection, record: FakeSession) -> None:
        self.fake = fake
        self.ws = ws
        self.record = record
        self.loop = asyncio.get_running_loop()
        self.turn_order = 0
        self.outbox: asyncio.Queue[tuple[float, dict[str, Any] | str | _CloseOrder]] = (
            asyncio.Queue()
        )
        params = record.params
        self.linear = params.get("encoding") == "pcm_s16le"
        """16-bit PCM (``required_params`` allowed it): turned to μ-law on arrival."""
        self.wideband = self.linear and params.get("sample_rate") == "16000"
        """At 16 kHz (an HD-voice call's): taken to 8 kHz first, for the turn detector."""
        self._resampled: object = None
        early = fake.partial_after_ms
        if "interruption_delay" in params:  # the server adds at least 300 ms (the docs)
            early = int(params["interruption_delay"]) + EARLY_PARTIAL_FLOOR_MS
        continuous = params.get("continuous_partials")
        if continuous is None:
            on = fake.continuous_partials
        else:
            on = continuous == "true"
        # the client's turn silences, unless the fake keeps its own
        asked = {} if fake.fixed_turn_silence else params
        silences = {k: int(v) for k, v in asked.items() if k.endswith("_turn_silence")}
        settings: dict[str, Any] = {
            "threshold_dbfs": fake.speech_threshold_dbfs,
            "min_speech_ms": fake.min_speech_ms,
            "min_turn_silence_ms": silences.get("min_turn_silence", fake.min_turn_silence_ms),
            "max_turn_silence_ms": silences.get("max_turn_silence", fake.max_turn_silence_ms),
            "partial_after_ms": early,
            "continuous_partial_ms": fake.continuous_partial_ms if on else None,
        }
        self.detector: Detector
        if fake.detector_factory is not None:
            self.detector = fake.detector_factory(**settings)
        else:
            self.detector = TurnDetector(
                **settings, ends_sentence=fake.sentence_ends, early_text=fake.speech_partial_text
            )

    async def run(self) -> None:
        writer = self.loop.create_task(self._writer())
        try:
            begin = {"type": "Begin", "id": self.record.session_id, "expires_at": self._expiry()}
            self.send(begin, delay=self.fake.begin_delay)
            async for message in self.ws:
                if isinstance(message, bytes):
                    await self._on_audio(message)
                else:
                    await self._on_text(message)
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            await asyncio.wait({writer})

    def _expiry(self) -> int:
        return int(time.time()) + 3 * 3600

    # -- outgoing

    def send(self, message: dict[str, Any] | str | _CloseOrder, delay: float = 0.0) -> None:
        self.outbox.put_nowait((self.loop.time() + delay, message))

    async def _writer(self) -> None:
        while True:
            due, item = await self.outbox.get()
            wait = due - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if isinstance(item, dict):  # recorded before the client can act on it
                self.fake._update(partial(self._sent, item, time.monotonic()))
            try:
                if isinstance(item, _CloseOrder):
                    await self.ws.close(item.code, item.reason)
                    return
                text = item if isinstance(item, str) else json.dumps(item)
                await self.ws.send(text)
            except ConnectionClosed:
                if isinstance(item, dict):
                    self.fake._update(partial(self._unsent, item))
                return

    def _sent(self, message: dict[str, Any], at: float) -> None:
        self.record.sent.append(message)
        self.record.sent_at.append(at)

    def _unsent(self, message: dict[str, Any]) -> None:
        """A message the closed socket did not take: never sent after all."""
        index = max(i for i, sent in enumerate(self.record.sent) if sent is message)
        del self.record.sent[index]
        del self.record.sent_at[index]

    # -- incoming

    async def _on_audio(self, data: bytes) -> None:
        sent = data
        if self.wideband:
            data, self._resampled = resample(
                data[: len(data) // 2 * 2], 16000, 8000, self._resampled
            )
        if self.linear:
            data = linear_to_ulaw(data[: len(data) // 2 * 2])
        arrived = time.monotonic()
        elapsed = self.loop.time() - self.record.started_at
        duration_ms = len(data) / BYTES_PER_MS
        keep = self.fake.keep_audio

        def account() -> None:
            self.record.audio_bytes += len(data)
            self.record.chunk_sizes.append(len(data))
            self.record.chunk_times.append(elapsed)
            self.record.chunk_arrived_at.append(arrived)
            if keep:
                self.record.chunks.append(data)
                self.record.received.append(sent)

        self.fake._update(account)
        if not 50 <= duration_ms <= 1000:
            await self._violation(3007, duration_violation(duration_ms))
        elif self._too_fast(elapsed):
            await self._violation(3007, RATE_VIOLATION)
        else:
            self._act(self.detector.feed(data))

    def _too_fast(self, elapsed: float) -> bool:
        limit = elapsed + self.fake.rate_allowance
        return self.fake.check_rate and self.record.audio_seconds > limit

    async def _on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            await self._violation(3006, "Invalid JSON")
            return
        if not isinstance(message, dict):
            await self._violation(3006, "Invalid Message")
            return
        arrived = time.monotonic()

        def record() -> None:
            self.record.messages.append(message)
            self.record.message_at.append(arrived)

        self.fake._update(record)
        kind = message.get("type")
        if kind == "Terminate":
            self._terminate()
        elif kind == "ForceEndpoint":
            self._act(self.detector.force_endpoint())
        elif kind == "UpdateConfiguration":
            self._reconfigure(message)
        elif kind != "KeepAlive":
            await self._violation(3006, f"Invalid Message Type: {kind}")

    def _reconfigure(self, message: dict[str, Any]) -> None:
        if self.fake.fixed_turn_silence:
            return  # the service keeps its own (a comparison's fixed end of turn)
        if isinstance(message.get("min_turn_silence"), int):
            self.detector.min_turn_silence_ms = message["min_turn_silence"]
        if isinstance(message.get("max_turn_silence"), int):
            self.detector.max_turn_silence_ms = message["max_turn_silence"]

    def _terminate(self) -> None:
        self._act(self.detector.force_endpoint())
        elapsed = self.loop.time() - self.record.started_at
        self.send(
            {
                "type": "Termination",
                "audio_duration_seconds": round(self.record.audio_seconds),
                "session_duration_seconds": round(elapsed),
            }
        )
        self.send(_CloseOrder(1000, ""))

    async def _violation(self, code: int, reason: str) -> None:
        self.fake._update(lambda: setattr(self.record, "violation", reason))
        await self.ws.close(code, reason)

    # -- turns

    def _act(self, actions: Iterable[DetectorAction]) -> None:
        for action in actions:
            if isinstance(action, SpeechBegan):
                self.fake.turn_began(action.at_ms)
                self.send({"type": "SpeechStarted", "timestamp": action.at_ms, "confidence": 0.99})
            elif isinstance(action, PartialDue):
                text = action.text
                if text is None:
                    text = self.fake.partial_text(silence=action.silence)
                message = self._turn(text, action.start_ms, action.end_ms, final=False)
                self.send(message, delay=self.fake.partial_latency)
            else:
                text = action.text
                if text is None:
                    text = self.fake.take_transcript(
                        action.end_ms - action.start_ms, start_ms=action.start_ms
                    )
                message = self._turn(text, action.start_ms, action.end_ms, final=True)
                self.turn_order += 1
                self.send(message, delay=self.fake.final_latency)

    def _turn(self, text: str, start_ms: int, end_ms: int, *, final: bool) -> dict[str, Any]:
        return {
            "turn_order": self.turn_order,
            "turn_is_formatted": final,
            "end_of_turn": final,
            "transcript": text,
            "end_of_turn_confidence": 1 if final else 0,
            "words": _words(text, start_ms, end_ms, final=final),
            "utterance": text if final else "",
            "type": "Turn",
        }


def _first_half(text: str) -> str:
    words = text.split()
    return " ".join(words[: max(1, len(words) // 2)])


def _words(text: str, start_ms: int, end_ms: int, *, final: bool) -> list[dict[str, Any]]:
    parts = text.split()
    span = max(end_ms - start_ms, len(parts))
    return [
        {
            "start": start_ms + span * i // len(parts),
            "end": start_ms + span * (i + 1) // len(parts),
            "text": word,
            "confidence": 0.95,
            "word_is_final": final,
        }
        for i, word in enumerate(parts)
    ]


# --------------------------------------------------------------------------- the server


class FakeAssemblyAI(WebSocketServerFake):
    """A fake AssemblyAI v3 streaming server on 127.0.0.1 (see the module docstring).

    Plain attributes (``final_latency``, ``partial_after_ms``, ``rate_allowance``,
    ``check_rate``, ``default_transcript``...) may be changed at any time from
    any thread; sessions read them when they need them.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        auth_failure: Literal["close", "http"] = "close",
        required_params: dict[str, str] | None = None,
        speech_threshold_dbfs: float = -35.0,
        min_speech_ms: int = 60,
        min_turn_silence_ms: int = 100,
        max_turn_silence_ms: int = 1000,
        partial_after_ms: int | None = None,
        final_latency: float = 0.0,
        partial_latency: float = 0.0,
        continuous_partials: bool = False,
        continuous_partial_ms: int = 3000,
        rate_allowance: float = 0.5,
        check_rate: bool = True,
        default_transcript: str = "hello",
        keep_audio: bool = False,
        full_silence_partials: bool = False,
        sessions_per_minute: int | None = None,
        rate_window: float = 60.0,
        concurrency_close_code: int = 1008,
        begin_delay: float = 0.0,
        fixed_turn_silence: bool = False,
        detector_factory: DetectorFactory | None = None,
    ) -> None:
        super().__init__()
        self.detector_factory = detector_factory
        """Each session's turn detector (None: :class:`TurnDetector` over the audio's energy,
        with this fake's transcripts; ``assemblyai_script.ScriptedTurnDetector``: the
        caller's script)."""
        self.api_key = api_key
        self.auth_failure = auth_failure
        self.required_params = dict(REQUIRED_PARAMS if required_params is None else required_params)
        self.speech_threshold_dbfs = speech_threshold_dbfs
        self.min_speech_ms = min_speech_ms
        self.min_turn_silence_ms = min_turn_silence_ms
        self.max_turn_silence_ms = max_turn_silence_ms
        self.partial_after_ms = partial_after_ms
        self.final_latency = final_latency
        self.partial_latency = partial_latency
        self.continuous_partials = continuous_partials
        self.continuous_partial_ms = continuous_partial_ms
        self.rate_allowance = rate_allowance
        self.check_rate = check_rate
        self.default_transcript = default_transcript
        self.keep_audio = keep_audio
        self.full_silence_partials = full_silence_partials
        """The partial at ``min_turn_silence`` has all the words (see the module docstring)."""
        self._partials: deque[str] = deque()
        self._speech_partials: deque[str] = deque()
        """Keep every binary frame in ``FakeSession.chunks`` (latency benchmarks)."""
        self.sessions_per_minute = sessions_per_minute
        self.rate_window = rate_window
        self.concurrency_close_code = concurrency_close_code
        self.begin_delay = begin_delay
        self.fixed_turn_silence = fixed_turn_silence
        """The fake's own ``min_turn_silence_ms`` / ``max_turn_silence_ms`` whatever a
        client asks (the query's or ``UpdateConfiguration``'s): a service whose end of turn
        is what it is, the same for every client compared."""
        self._session_starts: deque[float] = deque()
        self._script: deque[tuple[str, int]] = deque()  # transcript, its sentence's speech
        self._rest_ends_at: int | None = None
        """Stream ms where the queued rest of a split sentence ends (``_script[0]``), until
        its turn begins and its speech is counted from there (:meth:`turn_began`)."""
        self._rejections: deque[tuple[int, str | None, str | None]] = deque()
        self._pending_close: dict[int, tuple[int, str, str | None]] = {}
        self._records: list[FakeSession] = []
        self._accepted = 0
        self._http_rejections: list[int] = []
        self._attempts = 0
        self._live: set[_LiveSession] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/v3/ws``: put it in ``AssemblyAISettings.url``."""
        if not self._port:
            raise RuntimeError("the fake is not running")
        return f"ws://127.0.0.1:{self._port}/v3/ws"

    # ------------------------------------------------------------------ control (thread-safe)

    def script(self, transcripts: Iterable[str]) -> None:
        """Queue transcripts for the next final turns, in order (all sessions share them)."""
        with self._lock:
            self._script.extend((text, 0) for text in transcripts)

    def script_sentence(self, text: str, *, speech_ms: int) -> None:
        """Queue one transcript that is one sentence of several clauses, whose last clause
        ends ``speech_ms`` or more after its first word: a pause in its turn before that
        (from the turn's first loud frame to its last) is a pause between its clauses (a
        partial, u3-rt-pro finding no terminal punctuation there); the turn ends at the
        first pause after it, if ``text`` ends in ``.``, ``?`` or ``!`` ("Hello, | this
        is Doctor Smith's office, | how can I help you?")."""
        with self._lock:
            self._script.append((text, speech_ms))

    def sentence_ends(self, speech_ms: int) -> bool:
        """A pause ``speech_ms`` after the turn's first loud frame ends the next
        transcript's sentence (the turn ends there: see the module docstring)."""
        with self._lock:
            upcoming, long = self._script[0] if self._script else (self.default_transcript, 0)
        return upcoming.rstrip().endswith(_TERMINAL) and speech_ms >= long

    def peek_transcript(self) -> str:
        """The transcript the next final turn will carry."""
        with self._lock:
            return self._script[0][0] if self._script else self.default_transcript

    def script_partials(self, texts: Iterable[str]) -> None:
        """Queue the texts of the next partials sent at ``min_turn_silence``, in order."""
        with self._lock:
            self._partials.extend(texts)

    def script_speech_partials(self, texts: Iterable[str], *, replace: bool = False) -> None:
        """Queue the texts of the next partials sent during speech (early and continuous),
        in order; "" is an early attempt that comes back empty (it is tried again).
        ``replace``: instead of those still queued."""
        with self._lock:
            if replace:
                self._speech_partials.clear()
            self._speech_partials.extend(texts)

    def speech_partial_text(self) -> str:
        """The text of the partial due during speech now (see the module docstring)."""
        with self._lock:
            if self._speech_partials:
                return self._speech_partials.popleft()
        return self.partial_text(silence=False)

    def partial_text(self, *, silence: bool) -> str:
        """The text of the partial due now (see the module docstring)."""
        with self._lock:
            if not silence and self._speech_partials:
                return self._speech_partials.popleft()
            if silence and self._partials:
                return self._partials.popleft()
            upcoming = self.peek_transcript()
            if silence and self.full_silence_partials:
                return " ".join(
                    "".join(c for c in word if c.isalnum() or c in "'-").lower()
                    for word in upcoming.split()
                )
            return _first_half(upcoming)

    def take_transcript(self, speech_ms: int, *, start_ms: int = 0) -> str:
        """The transcript of a final turn that spoke ``speech_ms`` from ``start_ms`` (stream
        ms of its first loud frame to its last). A sentence queued with
        :meth:`script_sentence` that ends earlier than its speech (``ForceEndpoint``, or
        ``max_turn_silence`` in a pause between its clauses) gives the share of its words
        said so far, and the rest stays queued as the next turn's, keeping where the
        sentence ends (``start_ms`` plus its speech): the rest's turn ends like any turn of
        a sentence, at the first pause after that point (:meth:`turn_began`), not in a
        gap between its words. The service transcribes what was said, and the caller's
        next words are a new turn."""
        with self._lock:
            self._rest_ends_at = None
            if not self._script:
                return self.default_transcript
            text, long = self._script[0]
            words = text.split()
            if speech_ms >= long or len(words) < 2:
                self._script.popleft()
                return text
            said = min(len(words) - 1, max(1, round(len(words) * speech_ms / long)))
            self._script[0] = (" ".join(words[said:]), long - speech_ms)
            self._rest_ends_at = start_ms + long
            return " ".join(words[:said])

    def turn_began(self, at_ms: int) -> None:
        """A turn's speech began at stream ms ``at_ms``: the queued rest of a split sentence
        (:meth:`take_transcript`) has its speech left from there (its end less ``at_ms``)."""
        with self._lock:
            ends_at, self._rest_ends_at = self._rest_ends_at, None
            if ends_at is not None and self._script:
                text, _ = self._script[0]
                self._script[0] = (text, max(0, ends_at - at_ms))

    def next_transcript(self) -> str:
        """Take the next transcript (``default_transcript`` when the script is empty)."""
        with self._lock:
            self._rest_ends_at = None
            return self._script.popleft()[0] if self._script else self.default_transcript

    def reject_next(
        self, n: int = 1, code: int = 401, reason: str | None = None, error: str | None = None
    ) -> None:
        """Refuse the next ``n`` connection attempts.

        Args:
            n: How many attempts.
            code: Below 1000, an HTTP status for the upgrade (e.g. 401, 429, 503);
                otherwise a WebSocket close code sent right after accepting
                (e.g. 1008, 3009, 1013), before ``Begin``.
            reason: Body text or close reason (a default fits the code).
            error: With a close code: an ``Error`` frame with this text is sent just
                before the close (see :meth:`drop_connections`).
        """
        with self._lock:
            self._rejections.extend([(code, reason, error)] * n)

    def reset(self) -> None:
        """Forget the transcripts, partials and refusals still to come (one server, call
        after call)."""
        with self._lock:
            self._script.clear()
            self._rest_ends_at = None
            self._partials.clear()
            self._rejections.clear()

    def drop_connections(
        self, code: int | None = None, reason: str = "", error: str | None = None
    ) -> None:
        """Break every open session: abort TCP (``code`` None or 1006) or close with ``code``.

        With ``error``, an ``{"type": "Error", "error": error}`` frame goes out just
        before the close: the docs' errors "trigger on_error just prior to on_close"
        (common-errors.mdx), and the SDK reads that frame as the cause and the close
        as its effect (``ErrorEvent``; ``_report_server_error`` in
        ``assemblyai/streaming/v3/async_client.py``). The close ``reason`` may then be
        empty or generic.
        """

        async def close(ws: ServerConnection, code: int) -> None:
            if error is not None:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(json.dumps({"type": "Error", "error": error}))
            await ws.close(code, reason)

        def drop() -> None:
            for live in list(self._live):
                if code is None or code == 1006:
                    live.ws.transport.abort()
                else:
                    self._spawn(close(live.ws, code))

        self._in_loop(drop)

    def inject(self, message: dict[str, Any] | str) -> None:
        """Send a raw message to every open session (tolerance tests)."""

        def push() -> None:
            for live in list(self._live):
                live.send(message)

        self._in_loop(push)

    @property
    def sessions(self) -> list[FakeSession]:
        """Snapshots of every accepted session, oldest first."""
        with self._lock:
            return copy.deepcopy(self._records)

    def forget_ended_sessions(self) -> int:
        """Drop the records of sessions that have ended (for long runs); returns how many.

        Later sessions keep counting ``index`` from where it was.
        """
        with self._lock:
            kept = [r for r in self._records if r.ended_at is None]
            dropped = len(self._records) - len(kept)
            self._records[:] = kept
            return dropped

    @property
    def connection_attempts(self) -> int:
        """Upgrade requests received, rejected ones included."""
        with self._lock:
            return self._attempts

    @property
    def http_rejections(self) -> list[int]:
        """HTTP statuses of the upgrades the fake refused."""
        with self._lock:
            return list(self._http_rejections)

    # ------------------------------------------------------------------ internals

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        with self._lock:
            self._attempts += 1
            rejection = self._rejections.popleft() if self._rejections else None
            if rejection is None and self._over_session_rate():
                rejection = (self.concurrency_close_code, CONCURRENCY_REASON, None)
        self._update(lambda: None)
        parts = urlsplit(request.path)
        if parts.path != "/v3/ws":
            return self._http_reject(connection, 404, "Not Found")
        if rejection is not None:
            code, reason, error = rejection
            if code < 1000:
                return self._http_reject(connection, code, reason or "Rejected by test")
            if reason is None:
                reason = "" if error is not None else "Rejected by test"
            self._pending_close[id(connection)] = (code, reason, error)
            return None
        if self.auth_failure == "http" and self._auth_error(request.headers):
            return self._http_reject(connection, 401, "Unauthorized")
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        for name, expected in self.required_params.items():
            if params.get(name) != expected:
                text = f"Invalid query parameter {name}={params.get(name)!r}; expected {expected}"
                return self._http_reject(connection, 400, text)
        return None

    def _over_session_rate(self) -> bool:
        """Count a new session; True when it is over ``sessions_per_minute`` (lock held)."""
        if self.sessions_per_minute is None:
            return False
        now = time.monotonic()
        while self._session_starts and now - self._session_starts[0] >= self.rate_window:
            self._session_starts.popleft()
        if len(self._session_starts) >= self.sessions_per_minute:
            return True
        self._session_starts.append(now)
        return False

    def _http_reject(self, connection: ServerConnection, status: int, text: str) -> Response:
        self._update(lambda: self._http_rejections.append(status))
        return connection.respond(status, text + "\n")

    def _auth_error(self, headers: Headers) -> str | None:
        value = headers.get("Authorization")
        if value is None:
            return "Unauthorized Connection: Missing Authorization header"
        if value != self.api_key:
            return "Unauthorized Connection: Invalid API key"
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        parts = urlsplit(request.path)
        record = FakeSession(
            index=0,
            session_id=str(uuid.uuid4()),
            path=parts.path,
            query=parts.query,
            params=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=dict(request.headers.raw_items()),
            started_at=asyncio.get_running_loop().time(),
        )

        def add() -> None:
            record.index = self._accepted
            self._accepted += 1
            self._records.append(record)

        self._update(add)
        live = _LiveSession(self, ws, record)
        self._live.add(live)
        try:
            refusal = self._pending_close.pop(id(ws), None)
            auth_error = self._auth_error(request.headers)
            if refusal is None and auth_error is not None:
                refusal = (1008, auth_error, None)
            if refusal is not None:
                code, reason, error = refusal
                self._update(lambda: setattr(record, "rejected_with", code))
                if error is not None:
                    await ws.send(json.dumps({"type": "Error", "error": error}))
                await ws.close(code, reason)
                return
            await live.run()
        finally:
            self._live.discard(live)
            self._update(lambda: self._finish(record, ws))

    def _finish(self, record: FakeSession, ws: ServerConnection) -> None:
        record.ended_at = asyncio.get_running_loop().time()
        record.close_code = ws.close_code
        record.close_reason = ws.close_reason or ""
