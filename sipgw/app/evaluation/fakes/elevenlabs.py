"""A local fake of the ElevenLabs text-to-speech API, speaking the real wire protocol.

It serves, on 127.0.0.1 and a free port (see docs/cloud-apis.md, "ElevenLabs
text-to-speech"):

- ``POST /v1/text-to-speech/{voice_id}/stream?output_format=ulaw_8000``: a chunked body
  of raw μ-law bytes (§2.1); ``output_format=pcm_16000``: raw 16-bit little-endian samples
  at 16 kHz, as the API reference describes it ("PCM format (S16LE) with 16kHz sample
  rate"; no header, like ``ulaw_8000``: a GUESS the reference does not spell out);
- ``GET /v1/text-to-speech/{voice_id}/multi-stream-input`` (WebSocket): contexts,
  ``flush``, ``close_context``, ``close_socket``, keep-alive, the 5-context limit and the
  inactivity timeout (§2.3, §2.4).

The audio is a pure sine tone whose frequency identifies the reply, sampled at the
format's rate (a tone above 4 kHz is there in ``pcm_16000``, and folds back below 4 kHz in
the 8 kHz formats), so a recording of a call shows which reply was played when: the n-th
distinct reply (a WebSocket context, or an HTTP reply recognised by its ``previous_text``
chain) gets ``tones[n]``, and :meth:`FakeElevenLabs.map_text` pins a frequency to any text
containing a substring. A sentence lasts ``ms_per_char`` per character (at least
``min_ms``), at -15 dBFS, and is streamed in seeded random-sized chunks (a chunk of PCM may
end mid-sample) paced at ``speed`` times real time after ``first_byte_latency``.
Everything received and generated is recorded for assertions.

Use it in-process::

    async with FakeElevenLabs() as fake:
        settings = ElevenLabsSettings(api_key=fake.api_key, voice_id="v", base_url=fake.base_url)

or in a background thread with its own loop, e.g. for a gateway in a subprocess::

    fake = FakeElevenLabs()
    base_url = fake.start_in_thread()
    ...
    fake.stop()

The control methods (``map_text``, ``fail_next``, ``fail_context``,
``drop_connections``, setters) are thread-safe. Behaviour the vendor does not document
is marked GUESS below.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from aiohttp import WSMsgType, web

from sipgw.app.evaluation.audio import encode, tone_samples

__all__ = [
    "DEFAULT_TONES",
    "FORMATS",
    "FakeElevenLabs",
    "RecordedContext",
    "RecordedRequest",
    "RecordedSocket",
    "Utterance",
    "alignment_for",
    "bytes_per_ms",
    "synth_tone",
    "tone_duration_ms",
]

SAMPLE_RATE = 8000
BYTES_PER_MS = SAMPLE_RATE // 1000
FORMATS: dict[str, tuple[str, int]] = {
    "ulaw_8000": ("ulaw", 8000),
    "pcm_8000": ("pcm", 8000),
    "pcm_16000": ("pcm", 16000),
}
"""The ``output_format`` s the fake can speak: (encoding, sample rate). ``pcm_*`` is raw
16-bit little-endian PCM (the API reference's "PCM format (S16LE)")."""


def bytes_per_ms(output_format: str) -> int:
    """Octets of one millisecond of ``output_format`` (8 for μ-law, 32 for ``pcm_16000``)."""
    encoding, rate = FORMATS[output_format]
    return rate // 1000 * (1 if encoding == "ulaw" else 2)


DEFAULT_TONES: tuple[float, ...] = (440, 550, 660, 770, 880, 990, 1100, 1210, 1320, 1430)
LEVEL_DBFS = -15.0
KNOWN_MODELS = frozenset(
    {"eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_multilingual_v2", "eleven_v3"}
)
NO_MULTI_CONTEXT_MODELS = frozenset({"eleven_v3"})  # §2.4: not available for eleven_v3
MAX_CONTEXTS_MESSAGE = (
    "Maximum simultaneous contexts per WebSocket connection exceeded ({n}). "
    "Please close an existing context before opening a new one."
)
DEFAULT_CONTEXT = "default"  # GUESS: the id used when a message carries no context_id


# --------------------------------------------------------------------------- audio


def tone_duration_ms(text: str, ms_per_char: int = 60, min_ms: int = 200) -> int:
    """How long the fake speaks ``text``: ``ms_per_char`` per non-blank character, >= ``min_ms``."""
    return max(min_ms, ms_per_char * len(text.strip()))


@lru_cache(maxsize=256)
def synth_tone(
    freq: float,
    duration_ms: int,
    level_dbfs: float = LEVEL_DBFS,
    output_format: str = "ulaw_8000",
) -> bytes:
    """A sine tone in ``output_format`` (:data:`FORMATS`), starting at phase 0 (cached:
    replies repeat).

    Args:
        freq: Frequency in Hz (above half the format's rate it folds back, as sampling does).
        duration_ms: Length in milliseconds.
        level_dbfs: RMS level relative to full scale.
        output_format: ``ulaw_8000`` (8 bytes a millisecond), ``pcm_8000`` (16) or
            ``pcm_16000`` (32, little-endian).

    Returns:
        ``duration_ms * bytes_per_ms(output_format)`` bytes.
    """
    encoding, rate = FORMATS[output_format]
    samples = tone_samples(freq, duration_ms / 1000, level_dbfs, rate)
    if encoding == "ulaw":
        return encode(samples)
    return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)


SYLLABLES: Final = ((140, 50), (200, 80), (110, 40), (250, 100), (170, 60))
"""(on, off) ms of the syllables a ``syllables`` fake speaks in, in turn: irregular, so
that no two stretches of 600 ms look alike."""


def in_syllables(audio: bytes, output_format: str) -> bytes:
    """``audio`` (``output_format``) cut into :data:`SYLLABLES`, silence between them."""
    encoding, _ = FORMATS[output_format]
    per_ms = bytes_per_ms(output_format)
    quiet = b"\xff" if encoding == "ulaw" else b"\x00"
    out = bytearray(audio)
    at, n = 0, 0
    while at < len(out):
        on, off = SYLLABLES[n % len(SYLLABLES)]
        start, end = at + on * per_ms, min(len(out), at + (on + off) * per_ms)
        if start < end:
            out[start:end] = quiet * (end - start)
        at, n = end, n + 1
    return bytes(out)


def alignment_for(
    chars: str,
    total_bytes: int,
    start: int,
    end: int,
    durations_key: str = "charDurationsMs",
    per_ms: int = BYTES_PER_MS,
) -> dict[str, list[Any]]:
    """The ElevenLabs alignment object for the chunk ``audio[start:end]`` of an utterance.

    The characters are spread evenly over the utterance; a character belongs to the
    chunk in which it starts, and times are relative to the chunk's start (§2.4 spec).
    """
    n = len(chars)
    starts = [i * total_bytes // n for i in range(n + 1)] if n else [0]
    last_chunk = end >= total_bytes
    picked = [i for i in range(n) if start <= starts[i] and (starts[i] < end or last_chunk)]
    return {
        "chars": [chars[i] for i in picked],
        "charStartTimesMs": [(starts[i] - start) // per_ms for i in picked],
        durations_key: [(starts[i + 1] - starts[i]) // per_ms for i in picked],
    }


# --------------------------------------------------------------------------- records


@dataclass
class Utterance:
    """One piece of generated speech: an HTTP request, or one flush of a WebSocket context."""

    key: str
    """The reply it belongs to (decides the default tone)."""
    text: str
    freq: float
    audio: bytes
    """The speech in ``output_format``."""
    context_id: str | None = None
    output_format: str = "ulaw_8000"
    chunk_sizes: list[int] = field(default_factory=list)
    bytes_sent: int = 0
    chunks_after_close: int = 0
    """Chunks sent after the client asked to close the context (late audio)."""
    requested_at: float | None = None
    """``time.monotonic()`` when its generation was asked for (the flush, or the POST)."""
    first_audio_at: float | None = None
    """``time.monotonic()`` right after its first audio chunk was written to the socket."""


@dataclass
class RecordedRequest:
    """An HTTP request (a TTS POST, or a WebSocket upgrade)."""

    method: str
    path: str
    voice_id: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None
    status: int = 0
    utterance: Utterance | None = None
    aborted: bool = False
    """The client (or :meth:`FakeElevenLabs.drop_connections`) closed it mid-stream."""
    completed: bool = False
    received_at: float = 0.0
    """Server loop time when it arrived."""
    finished_at: float | None = None
    """Server loop time when its response ended (completed or aborted)."""


@dataclass
class RecordedContext:
    """One multi-stream-input context, from its first message to its ``isFinal``."""

    socket: int
    context_id: str
    serial: int
    first_message: dict[str, Any]
    texts: list[str] = field(default_factory=list)
    """Non-empty texts received (the initial ``" "`` and keep-alives excluded)."""
    flushes: int = 0
    utterances: list[Utterance] = field(default_factory=list)
    close_requested: bool = False
    closed_by: str | None = None
    """"client", "socket", "timeout", "drop" or "error"."""
    final_sent: bool = False
    lost_to_race: bool = False
    """``close_race``: its close came before its first audio and its text was never spoken."""

    @property
    def audio(self) -> bytes:
        """Everything generated for this context, in order."""
        return b"".join(u.audio for u in self.utterances)

    @property
    def text(self) -> str:
        """All text received for this context, concatenated."""
        return "".join(self.texts)


@dataclass
class RecordedSocket:
    """One accepted multi-stream-input WebSocket."""

    index: int
    request: RecordedRequest
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Client → server messages, parsed."""
    sent: list[dict[str, Any]] = field(default_factory=list)
    """Server → client messages that are not audio (finals and errors)."""
    contexts: list[RecordedContext] = field(default_factory=list)
    peak_open_contexts: int = 0
    close_code: int | None = None
    closed: bool = False


# --------------------------------------------------------------------------- runtime state


class _Context:
    """Server-side state of one live context."""

    def __init__(self, record: RecordedContext, key: str) -> None:
        self.record = record
        self.key = key
        self.buffer = ""
        self.schedule: list[int] = [120, 160, 250, 290]
        self.schedule_index = 0
        self.abort = False
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.generating = False
        self.closing = False
        self.audio_sent = False
        self.lost_to_race = False
        self.last_activity = asyncio.get_running_loop().time()


class _Socket:
    """Server-side state of one WebSocket."""

    def __init__(
        self, ws: web.WebSocketResponse, request: web.Request, record: RecordedSocket
    ) -> None:
        self.ws = ws
        self.request = request
        self.record = record
        self.contexts: dict[str, _Context] = {}
        self.draining: set[_Context] = set()
        self.send_lock = asyncio.Lock()
        self.authed = False
        self.closing = False  # close_socket received: close once the contexts drained
        self.inactivity = 20.0

    def active_count(self) -> int:
        return len(self.contexts) + len(self.draining)

    def busy(self) -> bool:
        return any(c.generating or not c.queue.empty() for c in self.all_contexts())

    def all_contexts(self) -> list[_Context]:
        return [*self.contexts.values(), *self.draining]


@dataclass
class _HttpChain:
    """The HTTP requests of one reply, recognised by their ``previous_text``."""

    head: str
    key: str
    first_seen: bool


class _Reject(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _detail(status: str, message: str) -> dict[str, Any]:
    return {"detail": {"status": status, "message": message}}


def _same_chain(a: str, b: str) -> bool:
    """Whether one text is the other, or starts it (at a sentence boundary)."""
    return a == b or a.startswith(b + " ") or b.startswith(a + " ")


def _validation(loc: Iterable[str], msg: str) -> dict[str, Any]:
    return {"detail": [{"loc": list(loc), "msg": msg, "type": "value_error"}]}


# --------------------------------------------------------------------------- the server


class FakeElevenLabs:
    """The fake ElevenLabs server. See the module docstring."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        first_byte_latency: float = 0.0,
        speed: float | None = 3.0,
        chunk_bytes: tuple[int, int] = (500, 1500),
        seed: int = 0,
        ms_per_char: int = 60,
        min_ms: int = 200,
        tones: Iterable[float] = DEFAULT_TONES,
        final_key: str = "isFinal",
        durations_key: str = "charDurationsMs",
        alignment: bool = True,
        max_contexts: int = 5,
        inactivity_override: float | None = None,
        close_context_drains: bool = True,
        final_delay: float = 0.0,
        tone: Callable[[str], float | None] | None = None,
        close_race: str = "",
        formats: Iterable[str] = ("ulaw_8000", "pcm_16000"),
        syllables: bool = False,
    ) -> None:
        """Configure the fake.

        Args:
            api_key: The only accepted ``xi-api-key``.
            first_byte_latency: Seconds between a request/flush and its first audio chunk.
            speed: Pacing, as a multiple of real time (None: as fast as possible).
            chunk_bytes: Inclusive range of the random chunk sizes.
            seed: Seeds the chunk sizes (each utterance gets its own seeded generator).
            ms_per_char: Speech duration per non-blank character.
            min_ms: Minimum duration of an utterance.
            tones: Frequencies handed to successive replies (cycled).
            final_key: How WebSocket messages spell the final flag: "isFinal" or "is_final".
            durations_key: "charDurationsMs" (SDK) or "charsDurationsMs" (asyncapi).
            alignment: Whether audio messages carry alignment objects.
            max_contexts: Concurrent contexts allowed per WebSocket.
            inactivity_override: Seconds of idleness before the server closes a context or
                the socket, instead of the ``inactivity_timeout`` query parameter.
            close_context_drains: Spec behaviour: after ``close_context`` a context already
                set to flush keeps generating, then sends the final message. If False the
                generation stops at once (GUESS at what a faster server might do).
            final_delay: Seconds a closed context waits after its last audio before its
                final message (a loaded server); it counts against ``max_contexts``
                until then.
            tone: Optional function text -> Hz (None: fall back to the default rule).
            close_race: Reproduces the race of ``close_context`` with synthesis that
                pipecat-ai/pipecat#4681 and #5271 report from production (ElevenLabs
                engineers confirmed it server-side, per pipecat#5282): a
                ``close_context`` that arrives before the context's first audio chunk
                is honoured at once and its text is never synthesized. ``"empty_final"``:
                the final message comes with no audio (#5271's logs); ``"silent"``: no
                audio, no error, no final at all (#4681). "" (default): the spec's
                behaviour, the flushed text is generated before the final.
            formats: ``output_format`` s it takes (:data:`FORMATS`), either transport:
                ``ulaw_8000`` and ``pcm_16000`` (an HD-voice call's) by default;
                ``pcm_8000`` (what Pipecat's ElevenLabs service asks for at 8 kHz) when
                listed. Another is refused with 422, naming it.
            syllables: each utterance's tone comes in syllables (:data:`SYLLABLES`), as
                speech does, rather than whole: a line's echo then has a shape to follow.
        """
        unknown = set(formats) - set(FORMATS)
        if unknown:
            raise ValueError(f"formats {sorted(unknown)}: the fake speaks {', '.join(FORMATS)}")
        self.api_key = api_key
        self.formats = frozenset(formats)
        self.first_byte_latency = first_byte_latency
        self.speed = speed
        self.chunk_bytes = chunk_bytes
        self.seed = seed
        self.ms_per_char = ms_per_char
        self.min_ms = min_ms
        self.tones = tuple(tones)
        self.final_key = final_key
        self.durations_key = durations_key
        self.alignment = alignment
        self.max_contexts = max_contexts
        self.inactivity_override = inactivity_override
        self.close_context_drains = close_context_drains
        self.final_delay = final_delay
        self.syllables = syllables
        self._tone_fn = tone
        if close_race not in ("", "empty_final", "silent"):
            raise ValueError(
                f"close_race must be '', 'empty_final' or 'silent', not {close_race!r}"
            )
        self.close_race = close_race

        self.requests: list[RecordedRequest] = []
        self.sockets: list[RecordedSocket] = []
        self.utterances: list[Utterance] = []

        self._lock = threading.Lock()
        self._rules: list[tuple[str, float]] = []
        self._key_tones: dict[str, float] = {}
        self._voice_tones: dict[str, float] = {}
        self._http_replies: list[_HttpChain] = []
        self._failures: deque[tuple[int, dict[str, Any]]] = deque()
        self._serial = 0
        self._socket_count = 0
        self._live_sockets: set[_Socket] = set()
        self._live_requests: dict[int, web.Request] = {}  # Request is unhashable
        self._background: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (the client derives ``ws://`` from it)."""
        if not self._port:
            raise RuntimeError("the fake is not running")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> str:
        """Start serving on the running loop; returns :attr:`base_url`."""
        self._loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_post("/v1/text-to-speech/{voice_id}/stream", self._http_stream)
        app.router.add_get("/v1/text-to-speech/{voice_id}/multi-stream-input", self._ws_handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self.base_url

    async def aclose(self) -> None:
        """Close every connection and stop serving."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for sock in list(self._live_sockets):
            await self._finish_socket(sock, 1001, "server shutting down", "socket")
        for request in list(self._live_requests.values()):
            if request.transport is not None:
                request.transport.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._port = 0

    async def __aenter__(self) -> FakeElevenLabs:
        """Start serving (see :meth:`start`)."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop serving (see :meth:`aclose`)."""
        await self.aclose()

    def start_in_thread(self) -> str:
        """Run the fake on its own loop in a daemon thread; returns :attr:`base_url`."""
        started: concurrent.futures.Future[str] = concurrent.futures.Future()

        def main() -> None:
            loop = asyncio.new_event_loop()
            try:
                started.set_result(loop.run_until_complete(self.start()))
            except BaseException as exc:  # report any start failure to the caller
                started.set_exception(exc)
                loop.close()
                return
            loop.run_forever()
            loop.run_until_complete(self.aclose())
            loop.close()

        self._thread = threading.Thread(target=main, name="fake-elevenlabs", daemon=True)
        self._thread.start()
        return started.result(timeout=10)

    def stop(self) -> None:
        """Stop a fake started with :meth:`start_in_thread`."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    # ----------------------------------------------------------------- control (thread-safe)

    def map_voice(self, voice_id: str, hz: float) -> None:
        """Everything spoken in voice ``voice_id`` gets a ``hz`` tone (before any text rule):
        a recording tells the voices apart."""
        with self._lock:
            self._voice_tones[voice_id] = hz

    def map_text(self, substring: str, hz: float) -> None:
        """Any utterance whose text contains ``substring`` (any case) gets a ``hz`` tone."""
        with self._lock:
            self._rules.append((substring.lower(), hz))

    def fail_next(self, status: int, message: str | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests (POST or WebSocket upgrade) with an error."""
        body = _detail(f"http_{status}", message or f"Injected failure {status}")
        with self._lock:
            self._failures.extend([(status, body)] * times)

    def reset(self) -> None:
        """Forget the failures still to come (one server, call after call)."""
        with self._lock:
            self._failures.clear()

    def drop_connections(self) -> None:
        """Abort every open WebSocket and streaming response at the TCP level."""
        self._call_in_loop(self._drop_now)

    def fail_context(
        self,
        context_id: str,
        message: str = "An error occurred while generating audio for this context",
        error: str = "context_error",
    ) -> None:
        """Report an error about one context on every open socket; the socket stays open.

        The error names the context (``contextId``), as the errors that concern one
        context do: livekit-agents' ElevenLabs client (livekit-plugins-elevenlabs,
        ``tts.py``) reads ``error`` with ``contextId`` and fails that context only,
        reading on. A context of that name that is still open ends (GUESS: its
        generation stops and its final message follows); a name that is no longer
        open (a context that already had its final, a keep-alive's) gets the error
        all the same.
        """
        self._call_in_loop(
            lambda: self._in_background(self._fail_context_now(context_id, message, error))
        )

    def tone_for(self, text: str, key: str | None = None, voice_id: str = "") -> float:
        """The frequency the fake uses for ``text`` spoken as part of reply ``key``.

        Every distinct reply takes the next entry of ``tones`` (so reply n always has
        ``tones[n]``), then a :meth:`map_voice` rule, a :meth:`map_text` rule or the
        ``tone`` function may override it.
        """
        with self._lock:
            if voice_id in self._voice_tones:
                return self._voice_tones[voice_id]
            if key is None:
                key = f"anonymous-{len(self._key_tones)}"
            if key not in self._key_tones:
                self._key_tones[key] = self.tones[len(self._key_tones) % len(self.tones)]
            lowered = text.lower()
            for substring, hz in self._rules:
                if substring in lowered:
                    return hz
            if self._tone_fn is not None and (chosen := self._tone_fn(text)) is not None:
                return chosen
            return self._key_tones[key]

    def forget_finished(self) -> int:
        """Drop the records of closed sockets and finished requests (for long runs).

        Utterances still generating or streaming are kept. Call it on the fake's loop
        (or while it is idle). Returns how many socket and request records were dropped.
        """
        live_sockets = [s for s in self.sockets if not s.closed]
        live_requests = [
            r
            for r in self.requests
            if (r.method == "POST" and r.status == 200 and r.finished_at is None)
            or any(s.request is r for s in live_sockets)
        ]
        keep = {id(u) for s in live_sockets for c in s.contexts for u in c.utterances}
        keep.update(id(r.utterance) for r in live_requests if r.utterance is not None)
        dropped = len(self.sockets) - len(live_sockets) + len(self.requests) - len(live_requests)
        self.sockets[:] = live_sockets
        self.requests[:] = live_requests
        self.utterances[:] = [u for u in self.utterances if id(u) in keep]
        return dropped

    # ----------------------------------------------------------------- queries

    @property
    def contexts(self) -> list[RecordedContext]:
        """Every context of every socket, in the order they were opened."""
        return [ctx for sock in self.sockets for ctx in sock.contexts]

    @property
    def peak_open_contexts(self) -> int:
        """The most contexts any one socket had open at once."""
        return max((s.peak_open_contexts for s in self.sockets), default=0)

    @property
    def stream_requests(self) -> list[RecordedRequest]:
        """The HTTP TTS POSTs."""
        return [r for r in self.requests if r.method == "POST"]

    def context(self, context_id: str, socket: int = -1) -> RecordedContext:
        """The last context named ``context_id`` on socket number ``socket``."""
        matches = [c for c in self.sockets[socket].contexts if c.context_id == context_id]
        if not matches:
            raise KeyError(context_id)
        return matches[-1]

    # ----------------------------------------------------------------- helpers

    def _call_in_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or loop.is_closed():
            fn()
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                fn()
                done.set_result(None)
            except BaseException as exc:  # hand it to the calling thread
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        done.result(timeout=10)

    def _drop_now(self) -> None:
        for sock in list(self._live_sockets):
            for ctx in sock.all_contexts():
                ctx.record.closed_by = ctx.record.closed_by or "drop"
            if sock.request.transport is not None:
                sock.request.transport.abort()
        for request in list(self._live_requests.values()):
            if request.transport is not None:
                request.transport.abort()

    def _in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _fail_context_now(self, context_id: str, message: str, error: str) -> None:
        for sock in list(self._live_sockets):
            await self._error(sock, message, error, context_id)
            ctx = sock.contexts.get(context_id)
            if ctx is not None:
                self._close_context(sock, ctx, "error", abort=True)

    def _take_failure(self) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _next_serial(self) -> int:
        with self._lock:
            self._serial += 1
            return self._serial

    def _record_request(self, request: web.Request, body: Any = None) -> RecordedRequest:
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            voice_id=request.match_info.get("voice_id", ""),
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            received_at=asyncio.get_running_loop().time(),
        )
        self.requests.append(record)
        return record

    def _check_key(self, request: web.Request, required: bool) -> None:
        key = request.headers.get("xi-api-key")
        if key is None and not required:
            return
        if key is None:
            raise _Reject(401, _detail("needs_authorization", "Missing xi-api-key header"))
        if key != self.api_key:
            raise _Reject(401, _detail("invalid_api_key", "Invalid API key"))

    def _check_format_and_model(self, query: dict[str, str], model_id: Any, ws: bool) -> None:
        fmt = query.get("output_format")
        if fmt not in self.formats:
            spoken = ", ".join(sorted(self.formats))
            msg = f"Unsupported output_format {fmt!r}: this fake speaks {spoken}"
            raise _Reject(422, _validation(["query", "output_format"], msg))
        if model_id is not None and (not isinstance(model_id, str) or model_id not in KNOWN_MODELS):
            raise _Reject(422, _validation(["model_id"], f"Unknown model_id {model_id!r}"))
        if ws and model_id in NO_MULTI_CONTEXT_MODELS:
            msg = f"{model_id} does not support multi-context streaming"
            raise _Reject(422, _validation(["query", "model_id"], msg))

    def _rng(self, key: str) -> random.Random:
        return random.Random(f"{self.seed}:{key}")

    def _make_utterance(
        self,
        key: str,
        text: str,
        context_id: str | None,
        voice_id: str = "",
        output_format: str = "ulaw_8000",
    ) -> Utterance:
        freq = self.tone_for(text, key, voice_id)
        duration = tone_duration_ms(text, self.ms_per_char, self.min_ms)
        audio = synth_tone(freq, duration, LEVEL_DBFS, output_format)
        if self.syllables:
            audio = in_syllables(audio, output_format)
        utterance = Utterance(key=key, text=text, freq=freq, audio=audio, context_id=context_id,
                              output_format=output_format)  # fmt: skip
        self.utterances.append(utterance)
        return utterance

    async def _paced(self, utterance: Utterance, start: float) -> AsyncIterator[tuple[int, bytes]]:
        """Yield ``(offset, chunk)`` with chunk ``k`` due at ``start + offset / speed``."""
        loop = asyncio.get_running_loop()
        rng = self._rng(f"{utterance.key}:{utterance.text}")
        audio = utterance.audio
        per_second = bytes_per_ms(utterance.output_format) * 1000
        offset = 0
        while offset < len(audio):
            size = rng.randint(*self.chunk_bytes)
            due = start
            if self.speed:
                due += offset / per_second / self.speed
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = audio[offset : offset + size]
            utterance.chunk_sizes.append(len(chunk))
            yield offset, chunk
            offset += len(chunk)

    # ----------------------------------------------------------------- HTTP

    def _http_reply_key(self, text: str, previous_text: str) -> str:
        """The reply an HTTP request belongs to, told apart by its ``previous_text`` chain.

        A request without ``previous_text`` starts a reply; one with it continues the most
        recent reply whose first sentence it starts with. Pipelined requests may overtake
        each other, so a continuation seen first registers the reply, and the first
        sentence claims it when it arrives.
        """
        with self._lock:
            replies = self._http_replies
            if previous_text:
                for reply in reversed(replies):
                    if _same_chain(reply.head, previous_text):
                        return reply.key
                replies.append(_HttpChain(previous_text, f"http-{len(replies) + 1}", False))
                return replies[-1].key
            for reply in reversed(replies):
                if not reply.first_seen and _same_chain(reply.head, text):
                    reply.head, reply.first_seen = text, True
                    return reply.key
            replies.append(_HttpChain(text, f"http-{len(replies) + 1}", True))
            return replies[-1].key

    async def _http_stream(self, request: web.Request) -> web.StreamResponse:
        requested_at = time.monotonic()
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = self._record_request(request, body)
        try:
            utterance = self._validate_http(request, body)
        except _Reject as reject:
            record.status = reject.status
            return web.json_response(reject.body, status=reject.status)
        utterance.requested_at = requested_at
        record.utterance = utterance
        record.status = 200
        return await self._stream_body(request, record, utterance)

    def _validate_http(self, request: web.Request, body: Any) -> Utterance:
        if failure := self._take_failure():
            raise _Reject(*failure)
        self._check_key(request, required=True)
        if not isinstance(body, dict):
            raise _Reject(422, _validation(["body"], "Expected a JSON object"))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            msg = "Field 'text' must be a non-empty string"
            raise _Reject(422, _validation(["body", "text"], msg))
        self._check_format_and_model(dict(request.query), body.get("model_id"), ws=False)
        previous = body.get("previous_text") or ""
        if not isinstance(previous, str):
            raise _Reject(422, _validation(["body", "previous_text"], "Must be a string"))
        key = self._http_reply_key(text, previous)
        voice = request.match_info.get("voice_id", "")
        return self._make_utterance(key, text, None, voice, request.query["output_format"])

    async def _stream_body(
        self, request: web.Request, record: RecordedRequest, utterance: Utterance
    ) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        start = loop.time() + self.first_byte_latency
        response = web.StreamResponse(status=200, headers={"Content-Type": "audio/mpeg"})
        response.enable_chunked_encoding()
        self._live_requests[id(request)] = request
        try:
            await response.prepare(request)
            # Each step is recorded before the write that lets the client act on it.
            async for _, chunk in self._paced(utterance, start):
                if utterance.first_audio_at is None:
                    utterance.first_audio_at = time.monotonic()
                utterance.bytes_sent += len(chunk)
                await response.write(chunk)
            record.completed = True
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            record.completed = False
            record.aborted = True
        finally:
            record.finished_at = loop.time()
            self._live_requests.pop(id(request), None)
        return response

    # ----------------------------------------------------------------- WebSocket

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        record = self._record_request(request)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        try:
            inactivity = self._validate_ws(request)
            if not ws.can_prepare(request).ok:
                raise _Reject(400, _detail("bad_request", "Expected a WebSocket upgrade"))
        except _Reject as reject:
            record.status = reject.status
            return web.json_response(reject.body, status=reject.status)
        record.status = 101
        await ws.prepare(request)
        sock_record = RecordedSocket(index=self._socket_count, request=record)
        self._socket_count += 1
        self.sockets.append(sock_record)
        sock = _Socket(ws, request, sock_record)
        sock.authed = "xi-api-key" in request.headers
        sock.inactivity = inactivity
        self._live_sockets.add(sock)
        try:
            await self._ws_loop(sock)
        finally:
            await self._finish_socket(sock, 1000, "", "socket")
        return ws

    def _validate_ws(self, request: web.Request) -> float:
        if failure := self._take_failure():
            raise _Reject(*failure)
        self._check_key(request, required=False)
        query = dict(request.query)
        self._check_format_and_model(query, query.get("model_id"), ws=True)
        if "model_id" not in query:
            raise _Reject(422, _validation(["query", "model_id"], "model_id is required"))
        try:
            timeout = int(query.get("inactivity_timeout", "20"))
        except ValueError:
            timeout = -1
        if not 1 <= timeout <= 180:
            msg = "inactivity_timeout must be an integer between 1 and 180"
            raise _Reject(422, _validation(["query", "inactivity_timeout"], msg))
        return self.inactivity_override if self.inactivity_override is not None else timeout

    async def _ws_loop(self, sock: _Socket) -> None:
        while not sock.ws.closed:
            try:
                msg = await sock.ws.receive(timeout=self._idle_wait(sock))
            except TimeoutError:
                if await self._on_idle(sock):
                    return
                continue
            if msg.type == WSMsgType.TEXT:
                if not await self._on_text(sock, msg.data):
                    return
            elif msg.type == WSMsgType.BINARY:
                await self._error(sock, "Binary frames are not supported", "invalid_message")
                await self._finish_socket(sock, 1003, "binary frame", "error")
                return
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                return

    def _idle_wait(self, sock: _Socket) -> float:
        """Seconds until the first context, or the socket, would hit its inactivity timeout."""
        now = asyncio.get_running_loop().time()
        deadlines = [c.last_activity + sock.inactivity for c in sock.contexts.values()]
        return max(0.01, min(deadlines, default=now + sock.inactivity) - now)

    async def _on_idle(self, sock: _Socket) -> bool:
        """Expire idle contexts; close an idle socket. Returns True when the socket is done."""
        now = asyncio.get_running_loop().time()
        for ctx in list(sock.contexts.values()):
            if ctx.generating or not ctx.queue.empty():
                ctx.last_activity = now
            elif now - ctx.last_activity >= sock.inactivity:
                # GUESS: an idle context is closed as if the client had asked, with a final message.
                self._close_context(sock, ctx, "timeout")
        if sock.contexts or sock.busy():
            return False
        await self._error(
            sock,
            f"Input timeout exceeded: no input received for {sock.inactivity:g} seconds",
            "input_timeout_exceeded",
        )
        await self._finish_socket(sock, 1008, "input timeout exceeded", "timeout")
        return True

    async def _on_text(self, sock: _Socket, data: str) -> bool:
        """Handle one client message. Returns False when the socket must close."""
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await self._error(sock, "Messages must be JSON objects", "invalid_message")
            return True
        sock.record.messages.append(message)
        if not sock.authed:
            key = message.get("xi-api-key", message.get("xi_api_key"))
            if key != self.api_key:
                await self._error(sock, "Invalid API key", "invalid_api_key")
                await self._finish_socket(sock, 1008, "invalid api key", "error")
                return False
            sock.authed = True
        if sock.closing:
            return True  # GUESS: input after close_socket is ignored
        if message.get("close_socket"):
            return await self._close_socket_gracefully(sock)
        context_id = message.get("context_id", DEFAULT_CONTEXT)
        if not isinstance(context_id, str):
            await self._error(sock, "context_id must be a string", "invalid_message")
            return True
        ctx = sock.contexts.get(context_id)
        if message.get("close_context"):
            if ctx is not None:  # closing an unknown or finished context is a no-op
                self._close_context(sock, ctx, "client")
            return True
        return await self._on_context_message(sock, ctx, context_id, message)

    async def _on_context_message(
        self, sock: _Socket, ctx: _Context | None, context_id: str, message: dict[str, Any]
    ) -> bool:
        text = message.get("text")
        if text is not None and not isinstance(text, str):
            await self._error(sock, "text must be a string", "invalid_message", context_id)
            return True
        if ctx is None:
            if text is None:
                await self._error(
                    sock, f"Context {context_id} does not exist", "context_not_found", context_id
                )
                return True
            if sock.active_count() >= self.max_contexts:
                await self._error(
                    sock,
                    MAX_CONTEXTS_MESSAGE.format(n=self.max_contexts),
                    "max_active_conversations",
                )
                await self._finish_socket(sock, 1008, "max active conversations", "error")
                return False
            ctx = self._open_context(sock, context_id, message)
        ctx.last_activity = asyncio.get_running_loop().time()
        if text:
            self._add_text(ctx, text)
        if message.get("flush"):
            ctx.record.flushes += 1
            self._generate_buffer(ctx)
        return True

    def _open_context(self, sock: _Socket, context_id: str, message: dict[str, Any]) -> _Context:
        record = RecordedContext(
            socket=sock.record.index,
            context_id=context_id,
            serial=self._next_serial(),
            first_message=message,
        )
        sock.record.contexts.append(record)
        ctx = _Context(record, key=f"ctx-{record.serial}")
        config = message.get("generation_config")
        if isinstance(config, dict) and isinstance(config.get("chunk_length_schedule"), list):
            ctx.schedule = [int(n) for n in config["chunk_length_schedule"]] or ctx.schedule
        sock.contexts[context_id] = ctx
        sock.record.peak_open_contexts = max(sock.record.peak_open_contexts, sock.active_count())
        ctx.worker = asyncio.get_running_loop().create_task(self._context_worker(sock, ctx))
        return ctx

    def _add_text(self, ctx: _Context, text: str) -> None:
        if not text.strip():
            return  # the initial " " (or a whitespace keep-alive) is not speech
        ctx.record.texts.append(text)
        ctx.buffer += text
        # Without flush, generation starts once the buffer reaches the chunk schedule (§2.3).
        threshold = ctx.schedule[min(ctx.schedule_index, len(ctx.schedule) - 1)]
        if len(ctx.buffer.strip()) >= threshold:
            ctx.schedule_index += 1
            self._generate_buffer(ctx)

    def _generate_buffer(self, ctx: _Context) -> None:
        if ctx.buffer.strip():
            ctx.queue.put_nowait(ctx.buffer)
        ctx.buffer = ""

    def _close_context(self, sock: _Socket, ctx: _Context, by: str, abort: bool = False) -> None:
        """close_context: unflushed text is dropped; flushed text keeps generating (spec)."""
        ctx.record.close_requested = True
        ctx.record.closed_by = ctx.record.closed_by or by
        ctx.closing = True
        ctx.buffer = ""
        if sock.contexts.get(ctx.record.context_id) is ctx:
            del sock.contexts[ctx.record.context_id]
        sock.draining.add(ctx)
        raced = bool(self.close_race) and by == "client" and not ctx.audio_sent
        if raced:
            ctx.lost_to_race = ctx.record.lost_to_race = True
        if abort or raced or not self.close_context_drains:
            ctx.abort = True
            while not ctx.queue.empty():
                ctx.queue.get_nowait()
        ctx.queue.put_nowait(None)

    async def _context_worker(self, sock: _Socket, ctx: _Context) -> None:
        loop = asyncio.get_running_loop()
        while (text := await ctx.queue.get()) is not None:
            ctx.generating = True
            requested_at = time.monotonic()
            voice = sock.request.match_info.get("voice_id", "")
            fmt = sock.request.query["output_format"]
            utterance = self._make_utterance(ctx.key, text, ctx.record.context_id, voice, fmt)
            utterance.requested_at = requested_at
            ctx.record.utterances.append(utterance)
            start = loop.time() + self.first_byte_latency
            async for offset, chunk in self._paced(utterance, start):
                if ctx.abort:
                    break
                if not await self._send_audio(sock, ctx, utterance, offset, chunk):
                    return
            ctx.generating = False
            ctx.last_activity = loop.time()
        await self._send_final(sock, ctx)

    async def _send_audio(
        self, sock: _Socket, ctx: _Context, utterance: Utterance, offset: int, chunk: bytes
    ) -> bool:
        message: dict[str, Any] = {
            "audio": base64.b64encode(chunk).decode("ascii"),
            self.final_key: False,
            "contextId": ctx.record.context_id,
        }
        if self.alignment:
            total = len(utterance.audio)
            align = alignment_for(
                utterance.text, total, offset, offset + len(chunk), self.durations_key,
                bytes_per_ms(utterance.output_format),
            )  # fmt: skip
            message["alignment"] = align
            message["normalizedAlignment"] = align
        if not await self._send(sock, message, record=False):
            return False
        if utterance.first_audio_at is None:
            utterance.first_audio_at = time.monotonic()
        ctx.audio_sent = True
        utterance.bytes_sent += len(chunk)
        if ctx.closing:
            utterance.chunks_after_close += 1
        return True

    async def _send_final(self, sock: _Socket, ctx: _Context) -> None:
        ctx.generating = False
        if self.final_delay:
            await asyncio.sleep(self.final_delay)
        sock.draining.discard(ctx)
        if sock.contexts.get(ctx.record.context_id) is ctx:
            del sock.contexts[ctx.record.context_id]
        if ctx.lost_to_race and self.close_race == "silent":
            return  # #4681: no audio, no error, no final
        ctx.record.final_sent = True  # before the client can act on it
        final = {self.final_key: True, "contextId": ctx.record.context_id}
        if not await self._send(sock, final):
            ctx.record.final_sent = False
        if sock.closing and not sock.active_count():
            await self._finish_socket(sock, 1000, "", "socket")

    async def _send(self, sock: _Socket, message: dict[str, Any], record: bool = True) -> bool:
        if sock.ws.closed:
            return False
        if record:  # before the client can act on it; taken back if the send fails
            sock.record.sent.append(message)
        try:
            async with sock.send_lock:
                await sock.ws.send_str(json.dumps(message))
        except (ConnectionError, RuntimeError):
            if record:
                sent = sock.record.sent
                del sent[max(i for i, m in enumerate(sent) if m is message)]
            return False
        return True

    async def _error(
        self, sock: _Socket, message: str, error: str, context_id: str | None = None
    ) -> None:
        payload: dict[str, Any] = {"message": message, "error": error, "code": 1008}
        if context_id is not None:
            payload["contextId"] = context_id
        await self._send(sock, payload)

    async def _close_socket_gracefully(self, sock: _Socket) -> bool:
        """close_socket: contexts already flushing finish first, then the socket closes.

        The receive loop keeps running meanwhile, so a client close frame still ends it
        at once. Returns False if the socket can close right now.
        """
        sock.closing = True
        for ctx in list(sock.contexts.values()):
            self._close_context(sock, ctx, "socket")
        return bool(sock.draining)

    async def _finish_socket(self, sock: _Socket, code: int, reason: str, by: str) -> None:
        if sock not in self._live_sockets:
            return
        self._live_sockets.discard(sock)
        workers = []
        for ctx in sock.all_contexts():
            ctx.record.closed_by = ctx.record.closed_by or by
            if ctx.worker is not None and ctx.worker is not asyncio.current_task():
                ctx.worker.cancel()
                workers.append(ctx.worker)
        sock.contexts.clear()
        sock.draining.clear()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        sock.record.close_code = code
        sock.record.closed = True
        if not sock.ws.closed:
            try:
                async with asyncio.timeout(2):
                    await sock.ws.close(code=code, message=reason.encode())
            except (ConnectionError, RuntimeError, TimeoutError):
                pass
