"""What the two speech-to-speech fakes share: the server's life, scripted replies, a voice.

:class:`WebSocketFake` runs a real WebSocket server (``websockets``) on 127.0.0.1,
port 0, on the test's loop (``async with fake``) or in a thread of its own
(:mod:`.wsserver`, for a gateway in a subprocess); every control method is
thread-safe, and ``wait_for`` re-checks a condition whenever the fake's records
change. A subclass answers the upgrade
(:meth:`WebSocketFake._check_upgrade`) and serves one connection
(:meth:`WebSocketFake._serve`).

The model's replies are scripted: :meth:`WebSocketFake.script` queues
:class:`FakeReply` items; with an empty script the reply is ``default_reply``.
A reply asked for with one-off instructions that quote a line (``Say exactly
this: "Goodbye."``) speaks that line instead, as a model following them would
(greetings, notices). Replies speak pure tones (:class:`ToneVoice`): each text
gets the next of a list of frequencies, or the one a :meth:`WebSocketFake.map_text`
rule gives, so a phone's recording tells which reply it heard and when it stopped.
Each side of a session speaks and hears the format it was configured with: ``audio/pcmu``
(8 kHz μ-law) or ``audio/pcm`` (24 kHz s16le, the tone synthesized at that rate; what the
caller says heard through :class:`Narrowed` by the energy turn detector).
Audio goes out in ``chunk_ms`` pieces at ``speed`` times real time (the services
send faster than real time), after ``reply_delay`` seconds of "thinking".
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sipgw.app.evaluation.audio import tone_samples
from sipgw.app.evaluation.fakes.elevenlabs import (
    DEFAULT_TONES,
    LEVEL_DBFS,
    synth_tone,
    tone_duration_ms,
)
from sipgw.app.evaluation.fakes.openai import FakeToolCall
from sipgw.app.evaluation.fakes.wsserver import WebSocketServerFake
from sipgw.media import g711

__all__ = [
    "LINEAR_BYTES_PER_MS",
    "LINEAR_RATE",
    "FakeReply",
    "Narrowed",
    "FakeToolCall",
    "SessionRecord",
    "SpokenReply",
    "ToneVoice",
    "WebSocketFake",
    "paced",
    "quoted_line",
]

log = logging.getLogger("tests.toolkit.fakes")

BYTES_PER_MS = 8
"""μ-law at 8 kHz (``audio/pcmu``)."""
LINEAR_RATE = 24000
"""``audio/pcm``: 24 kHz s16le, the only linear format of both services' APIs."""
LINEAR_BYTES_PER_MS = LINEAR_RATE // 1000 * 2
_QUOTED = re.compile(r'"([^"]+)"')


@dataclass(kw_only=True)
class SessionRecord:
    """What both fakes see of one session (a snapshot when read through ``sessions``); each
    fake's record adds its own."""

    headers: dict[str, str] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The client's messages, its audio left out."""
    audio_bytes: int = 0
    audio: bytearray = field(default_factory=bytearray)
    """The caller's audio (decoded), when the fake keeps it."""
    replies: list[SpokenReply] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    """The error events the fake sent."""
    speech_started: list[float] = field(default_factory=list)
    """``time.monotonic()`` when each speech-started event was sent."""
    ended: bool = False

    def received(self, kind: str) -> list[dict[str, Any]]:
        """The client's messages of one type."""
        return [m for m in self.messages if m.get("type") == kind]


RecordT = TypeVar("RecordT", bound=SessionRecord)


@dataclass(frozen=True)
class FakeReply:
    """One scripted reply of the model.

    It says ``text`` (a tone, ``ms_per_char`` per character), then calls
    ``tool_calls``. With ``error`` it sends that error (code, message) instead, as each
    service documents a failed reply: the Realtime fake an ``error`` event and
    ``response.done`` ``failed``; the Voice Agent fake a ``session.error`` after
    ``reply.started`` and nothing more of that reply (its ``reply.done`` statuses are
    ``completed`` and ``interrupted`` only), or, with ``error_before_reply``, the
    ``session.error`` instead of the reply (the caller's turn gets none).
    ``reply_delay`` overrides the fake's delay before the first audio or tool call
    (or the error).
    """

    text: str = ""
    tool_calls: Sequence[FakeToolCall] = ()
    reply_delay: float | None = None
    error: tuple[str, str] | None = None
    error_before_reply: bool = False


@dataclass
class SpokenReply:
    """One reply as a fake gave it (times on ``time.monotonic()``, the loop's clock)."""

    id: str
    trigger: str
    """What started it: ``greeting``, ``turn`` (the caller's turn ended), ``create`` (the
    client asked), ``tool_result``."""
    text: str
    started_at: float
    instructions: str = ""
    first_audio_at: float | None = None
    done_at: float | None = None
    status: str = ""
    audio_ms: int = 0
    """Audio sent, in milliseconds."""
    tool_calls: list[str] = field(default_factory=list)
    """The names of the tools it called."""
    tool_call_at: float | None = None
    """When its last tool call went out."""


def quoted_line(instructions: str) -> str | None:
    """The line in double quotes that one-off instructions tell the model to say, if any."""
    match = _QUOTED.search(instructions or "")
    return match.group(1) if match else None


class ToneVoice:
    """Text to a tone (thread-safe): :meth:`map_text` rules first, else each new text takes
    the next of ``tones`` (the same text always sounds the same)."""

    def __init__(self, tones: Sequence[float] = DEFAULT_TONES, ms_per_char: int = 20) -> None:
        self.tones = tuple(tones)
        self.ms_per_char = ms_per_char
        self._lock = threading.Lock()
        self._rules: list[tuple[str, float]] = []
        self._tones: dict[str, float] = {}

    def map_text(self, substring: str, hz: float) -> None:
        """Any reply whose text contains ``substring`` (any case) is spoken as a ``hz`` tone."""
        with self._lock:
            self._rules.append((substring.lower(), hz))

    def tone(self, text: str) -> float:
        with self._lock:
            lowered = text.lower()
            for substring, hz in self._rules:
                if substring in lowered:
                    return hz
            if text not in self._tones:
                self._tones[text] = self.tones[len(self._tones) % len(self.tones)]
            return self._tones[text]

    def speak(self, text: str, linear: bool = False) -> bytes:
        """``text`` as μ-law audio, or with ``linear`` as ``audio/pcm`` (24 kHz s16le, the
        same tone and level); empty text: no audio."""
        if not text.strip():
            return b""
        duration_ms = tone_duration_ms(text, self.ms_per_char)
        if linear:
            samples = tone_samples(self.tone(text), duration_ms / 1000, LEVEL_DBFS, LINEAR_RATE)
            return b"".join(v.to_bytes(2, "little", signed=True) for v in samples)
        return synth_tone(self.tone(text), duration_ms)


class Narrowed:
    """A session's ``audio/pcm`` input as 8 kHz μ-law, for the fakes' energy turn detector
    (:class:`~sipgw.app.evaluation.fakes.assemblyai.TurnDetector` reads μ-law); one per
    session, the resampling state kept across messages."""

    def __init__(self) -> None:
        self._state: object = None

    def __call__(self, pcm: bytes) -> bytes:
        narrow, self._state = g711.resample(pcm[: len(pcm) & ~1], LINEAR_RATE, 8000, self._state)
        return g711.linear_to_ulaw(narrow)


async def paced(
    audio: bytes, chunk_ms: int, speed: float | None, per_ms: int = BYTES_PER_MS
) -> AsyncIterator[bytes]:
    """``audio`` (``per_ms`` octets a millisecond) in ``chunk_ms`` pieces, each due ``speed``
    times faster than real time."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    step = chunk_ms * per_ms
    for offset in range(0, len(audio), step):
        if speed:
            due = start + offset / per_ms / 1000 / speed
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        yield audio[offset : offset + step]


class WebSocketFake(WebSocketServerFake, Generic[RecordT]):
    """The server half of a speech-to-speech fake; see the module docstring.

    Plain attributes (``reply_delay``, ``speed``, ``chunk_ms``, ``default_reply``,
    ``silence_ms`` ...) may be changed at any time from any thread.
    """

    path = "/"
    """The URL path the upgrade must ask for."""
    max_message = None

    def __init__(
        self,
        api_key: str,
        *,
        reply_delay: float = 0.05,
        speed: float | None = 4.0,
        chunk_ms: int = 100,
        default_reply: str = "Okay.",
        voice: ToneVoice | None = None,
        min_speech_ms: int = 60,
        speech_threshold_dbfs: float = -35.0,
        default_transcript: str = "Hello.",
        keep_audio: bool = False,
    ) -> None:
        self.api_key = api_key
        self.reply_delay = reply_delay
        self.speed = speed
        self.chunk_ms = chunk_ms
        self.default_reply = default_reply
        super().__init__()
        self.voice = voice or ToneVoice()
        self.min_speech_ms = min_speech_ms
        """Loud audio that starts the caller's speech."""
        self.speech_threshold_dbfs = speech_threshold_dbfs
        """A 20 ms frame louder than this is speech."""
        self.default_transcript = default_transcript
        """What the caller is heard to say when no transcript is scripted."""
        self.keep_audio = keep_audio
        """Keep the caller's audio in each session's record."""
        self._transcripts: deque[str] = deque()
        self._records: list[RecordT] = []
        self._script: deque[FakeReply] = deque()
        self._rejections: deque[tuple[int, str]] = deque()
        self._connections: set[ServerConnection] = set()
        self.upgrades = 0
        """Upgrade requests received (refused ones included)."""
        self.refused: list[int] = []
        """HTTP statuses of the upgrades the fake refused."""
        self.failures: list[str] = []
        """Exceptions of the fake itself while serving (a test expects none)."""

    # ----------------------------------------------------------------- lifecycle

    @property
    def base(self) -> str:
        """``ws://127.0.0.1:<port>``."""
        if not self._port:
            raise RuntimeError("the fake is not running")
        return f"ws://127.0.0.1:{self._port}"

    # ----------------------------------------------------------------- control (thread-safe)

    def script(self, replies: Iterable[FakeReply]) -> None:
        """Queue the next replies, in order (every session shares the script)."""
        with self._lock:
            self._script.extend(replies)

    def map_text(self, substring: str, hz: float) -> None:
        """Replies whose text contains ``substring`` are spoken as a ``hz`` tone."""
        self.voice.map_text(substring, hz)

    def reset(self) -> None:
        """Forget the replies, transcripts and refusals still to come (one server, call
        after call)."""
        with self._lock:
            self._script.clear()
            self._transcripts.clear()
            self._rejections.clear()

    def next_reply(self, instructions: str = "") -> FakeReply:
        """The reply to give now: a quoted line of ``instructions``, else the script's next."""
        line = quoted_line(instructions)
        if line is not None:
            return FakeReply(text=line)
        with self._lock:
            return self._script.popleft() if self._script else FakeReply(self.default_reply)

    def script_transcripts(self, texts: Iterable[str]) -> None:
        """What the caller is heard to say in the next turns, in order."""
        with self._lock:
            self._transcripts.extend(texts)

    def next_transcript(self) -> str:
        """Take the next transcript (``default_transcript`` when none is scripted)."""
        with self._lock:
            return self._transcripts.popleft() if self._transcripts else self.default_transcript

    def _heard(self, record: RecordT, data: bytes) -> None:
        """The caller's ``data`` arrived in ``record``'s session: counted (and kept)."""

        def account() -> None:
            record.audio_bytes += len(data)
            if self.keep_audio:
                record.audio += data

        self._update(account)

    def _speech_began(self, record: RecordT) -> None:
        """The session's speech-started event is sent now."""
        self._update(lambda: record.speech_started.append(time.monotonic()))

    @property
    def sessions(self) -> list[RecordT]:
        """Snapshots of every session's record, oldest first."""
        with self._lock:
            return copy.deepcopy(self._records)

    def reject_next(self, n: int = 1, status: int = 401, body: str = "Unauthorized") -> None:
        """Refuse the next ``n`` upgrades with HTTP ``status``."""
        with self._lock:
            self._rejections.extend([(status, body)] * n)

    def drop_connections(self, code: int | None = None, reason: str = "") -> None:
        """Break every open connection: abort TCP (``code`` None) or close with ``code``."""

        def drop() -> None:
            for ws in list(self._connections):
                if code is None:
                    ws.transport.abort()
                else:
                    self._spawn(ws.close(code, reason))

        self._in_loop(drop)

    # ----------------------------------------------------------------- for subclasses

    def _check_upgrade(self, request: Request) -> tuple[int, str] | None:
        """An HTTP refusal for this upgrade (status, body), or None to accept it."""
        value = request.headers.get("Authorization")
        if value != f"Bearer {self.api_key}":
            return 401, "Unauthorized"
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        """Serve one accepted connection until it closes."""
        raise NotImplementedError

    # ----------------------------------------------------------------- internals

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        with self._lock:
            self.upgrades += 1
            rejection = self._rejections.popleft() if self._rejections else None
        if rejection is None:
            path = request.path.split("?", 1)[0]
            rejection = (404, "Not Found") if path != self.path else self._check_upgrade(request)
        if rejection is None:
            self._update()
            return None
        status, body = rejection
        self._update(lambda: self.refused.append(status))
        return connection.respond(status, body + "\n")

    async def _handle(self, ws: ServerConnection) -> None:
        self._connections.add(ws)
        try:
            await self._serve(ws)
        except ConnectionClosed:
            pass
        except Exception as exc:  # a bug of the fake: tests assert there is none
            log.exception("%s failed serving a connection", type(self).__name__)
            failure = f"{type(exc).__name__}: {exc}"
            self._update(lambda: self.failures.append(failure))
        finally:
            self._connections.discard(ws)
            self._update()
