"""AssemblyAI Universal-3 Pro streaming speech-to-text (v3 WebSocket API).

Theory of operation
-------------------
Implements :class:`sipgw.agent.stt.base.SpeechToText`; everything below is
AssemblyAI's. The caller's audio is G.711 μ-law, 8 kHz, and goes to AssemblyAI
unchanged (``encoding=pcm_mulaw``, ``sample_rate=8000``). The wire rules come
from docs/cloud-apis.md, "AssemblyAI streaming v3":

* **Batching and pacing** are :class:`sipgw.agent.stt.uplink.AudioUplink`'s, set to
  this API's rules. The agent calls :meth:`AssemblyAISTTService.send_audio`
  with each 160-byte (20 ms) frame as it arrives from the network, in order
  (the media layer's reorder stage, ``media/ingress.py``), not on the ticker;
  it only queues the frame and wakes the sender task (it never awaits, never
  blocks). The API closes the session with 3007 unless every binary frame
  holds 50-1000 ms of audio, so frames are joined into ``chunk_ms`` chunks
  (100 ms = 800 B by default; :meth:`AssemblyAISTTService.set_chunk_ms`
  changes it mid-call), and a chunk ends exactly where ``min_turn_silence`` is
  complete after :meth:`AssemblyAISTTService.mark_speech_end`. Audio must not
  arrive faster than real time (3007 "Audio Transmission Rate Exceeded"): a
  session's audio never exceeds its age plus :data:`PACING_BURST_SECONDS`.
* **Outages.** When the connection drops unexpectedly the service keeps
  accepting audio into the queue and reconnects with backoff (0.2 s doubling,
  capped at 2 s) for ``reconnect_for`` seconds of the outage (its waits and its
  attempts; the last wait is cut short so that one attempt starts at the end; none
  after it). The assistant sets that to the failure policy's give-up
  (``SIPGW_STT_GIVE_UP_AFTER_MS``) plus :data:`sipgw.agent.stt.base.GIVE_UP_GRACE`
  (:meth:`AssemblyAISTTService.set_reconnect_window`), so an outage is retried for as
  long as the caller is kept on the line and the policy, not a count of attempts,
  decides when the call moves on. Until the backlog has
  drained, silence is left out of it except a tail after each stretch of
  speech (the current ``min_turn_silence`` plus 100 ms, so that turn
  boundaries survive), and audio beyond ``max_backlog_seconds`` is dropped
  oldest-first (the uplink again). Both amounts are counted and reported in
  :class:`SttReconnected` and :attr:`stats`.
* **Turns.** Server ``turn_order`` restarts in every session, so events carry
  the service's own counter instead: the number of final turns before this
  one (a partial carries the number its final will get). Word and speech
  timestamps are shifted by the audio sent in earlier sessions, so they count
  milliseconds of the audio stream this service sent, across reconnects.
* **Close codes.** Unexpected closes are retried (1006, 1011-1014, 3005-3009,
  other 4xxx, ...). Authentication and account failures are final: close 1008
  (unless its reason, or the text of the ``Error`` frame the server sent just
  before it, is about concurrency or rate) and legacy 4000-4003, and
  HTTP 4xx upgrade rejections other than 408 and 429. A session that dies
  within :data:`STABLE_SESSION_SECONDS` of opening does not start a new outage
  (its time goes on counting), so a flapping server cannot cause an endless
  reconnect loop. A
  concurrency or rate-limit refusal (3009, 1008 "Too many concurrent
  sessions", HTTP 429: the service caps *new sessions per minute*) switches the
  backoff to 5 s doubling up to 60 s, so the attempts spread across that
  window instead of hammering it.
* **Hang-up.** :meth:`AssemblyAISTTService.close` sends ``Terminate``, waits
  (at most :data:`TERMINATION_TIMEOUT`) for ``Termination`` and the server's
  close, then closes with 1000. Un-terminated sessions keep billing, so every
  other path that gives up an open session sends ``Terminate`` too: a close
  while :meth:`~AssemblyAISTTService.connect` is still waiting for ``Begin``
  (close waits for it), a connect that times out or is cancelled after the
  upgrade, and a session dropped after an error in the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.protocol import State

from sipgw.agent.backoff import Backoff
from sipgw.agent.handled_errors import forget_cancellation
from sipgw.agent.redact import websocket_logger
from sipgw.agent.stt.base import (
    GIVE_UP_GRACE,
    SpeechToText,
    SttConnectError,
    SttDisconnected,
    SttEvent,
    SttFailed,
    SttPartialTranscript,
    SttReconnected,
    SttSessionBegan,
    SttSpeechStarted,
    SttStats,
    SttTurnEnded,
    SttWord,
)
from sipgw.agent.stt.uplink import AudioFormat, AudioUplink
from sipgw.agent.websocket_client import VendorConnection

__all__ = [
    "API_VERSION",
    "MAX_KEYTERMS",
    "MAX_KEYTERM_CHARS",
    "PACING_BURST_SECONDS",
    "RATE_LIMIT_BACKOFF_CAP",
    "RATE_LIMIT_BACKOFF_FIRST",
    "REGION_URLS",
    "STABLE_SESSION_SECONDS",
    "U3_LANGUAGES",
    "TERMINATION_TIMEOUT",
    "AssemblyAISTTService",
    "AssemblyAISettings",
    "build_query_params",
    "check_keyterms",
    "is_rate_limited",
    "close_is_fatal",
    "describe_close",
    "speech_model_for",
]

logger = logging.getLogger(__name__)
_WS_LOG = websocket_logger("websockets.client.assemblyai")  # masks the Authorization header

API_VERSION: Final = "2025-05-12"
"""Value of the ``AssemblyAI-Version`` header (what the official SDK sends)."""

REGION_URLS: Final[dict[str, str]] = {
    "default": "wss://streaming.assemblyai.com/v3/ws",
    "us": "wss://streaming.us.assemblyai.com/v3/ws",
    "eu": "wss://streaming.eu.assemblyai.com/v3/ws",
}
"""Streaming endpoints by data-residency region."""

PACING_BURST_SECONDS: Final = 0.2
"""How far ahead of real time a session's audio may run (token-bucket credit)."""

TERMINATION_TIMEOUT: Final = 2.0
"""Longest :meth:`AssemblyAISTTService.close` waits for ``Termination``."""

STABLE_SESSION_SECONDS: Final = 2.0
"""A session must stay open this long before the reconnect budget is renewed."""

U3_LANGUAGES: Final = frozenset({"en", "es", "de", "fr", "pt", "it"})
"""What ``u3-rt-pro`` transcribes, detecting and switching between them by itself (it takes
no language parameter); for any other language AssemblyAI points to ``whisper-rt`` (99
languages, detected automatically): https://assemblyai.com/docs/streaming/universal-3-pro/supported-languages
"""


U3_FAMILY: Final = frozenset({"u3-rt-pro", "u3-pro", "universal-3-5-pro", "universal-3-6-pro"})
"""The Universal-3 Pro models (``u3-pro`` is the deprecated alias of ``u3-rt-pro``): the
only ones that take ``interruption_delay`` and ``continuous_partials``."""

MAX_INTERRUPTION_DELAY_MS: Final = 1000
"""``interruption_delay`` is 0-1000 ms (AssemblyAI, "Universal-3 Pro Streaming Partial
Transcripts and Turn Detection")."""


def speech_model_for(language: str) -> str:
    """The ``speech_model`` for callers speaking ``language`` (an ISO 639-1 code; "" =
    the default model, ``u3-rt-pro``); see :data:`U3_LANGUAGES`."""
    code = language.strip().lower().split("-")[0]
    return "u3-rt-pro" if not code or code in U3_LANGUAGES else "whisper-rt"


MAX_KEYTERMS: Final = 100
"""Most ``keyterms_prompt`` terms a streaming session takes (AssemblyAI's streaming
keyterms page: https://www.assemblyai.com/docs/speech-to-text/universal-streaming/keyterms-prompting;
more is an error)."""

MAX_KEYTERM_CHARS: Final = 50
"""Longest single keyterm, in characters (the same page: longer ones are ignored)."""

RATE_LIMIT_BACKOFF_FIRST: Final = 5.0
"""First wait after a concurrency or rate-limit refusal (it doubles per attempt)."""

RATE_LIMIT_BACKOFF_CAP: Final = 60.0
"""Longest such wait: the service limits *new sessions per minute*, so the attempts of
one outage are spread across that window instead of hammering it."""

_TERMINATE: Final = json.dumps({"type": "Terminate"})
_ABORT_TERMINATION_TIMEOUT: Final = 0.5  # a connect that failed or was cancelled
_MIN_CHUNK_MS: Final = 50  # the API's smallest message
_MAX_CHUNK_MS: Final = 1000  # the API's largest message
_RECONNECT: Final = Backoff(0.2, cap=2.0)
_RATE_LIMITED: Final = Backoff(RATE_LIMIT_BACKOFF_FIRST, cap=RATE_LIMIT_BACKOFF_CAP)
_CLOSE_TIMEOUT: Final = 1.0
_PING_INTERVAL: Final = 10.0
_U3_DEFAULT_MIN_TURN_SILENCE_MS: Final = 100
_U3_DEFAULT_MAX_TURN_SILENCE_MS: Final = 1000
_SILENCE_TAIL_EXTRA_MS: Final = 100
_FATAL_LEGACY_CODES: Final = frozenset({4000, 4001, 4002, 4003})
_RETRYABLE_HTTP: Final = frozenset({408, 429})
_CLOSE_HINTS: Final[dict[int, str]] = {
    1000: "normal closure",
    1006: "connection lost without a close frame",
    1008: "policy violation: authentication, account or concurrency",
    1011: "server internal error",
    1012: "service restart",
    1013: "temporary server condition, try again later",
    3005: "server error",
    3006: "invalid message",
    3007: "input duration or rate violation",
    3008: "session expired",
    3009: "too many concurrent sessions",
    4001: "not authorized",
    4002: "insufficient account balance",
    4003: "free-tier account",
}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class AssemblyAISettings:
    """Connection and session options for :class:`AssemblyAISTTService`."""

    api_key: str = field(repr=False)
    """Sent as ``Authorization: <key>`` (no ``Bearer``). Empty: no header, e.g.
    when ``url`` or ``extra_params`` carries a temporary ``token``."""
    url: str = REGION_URLS["default"]
    """Endpoint, see :data:`REGION_URLS`; a query already in it is kept."""
    speech_model: str = "u3-rt-pro"
    """The ``speech_model`` query parameter."""
    sample_rate: int = 8000
    """Samples per second of the audio passed to ``send_audio``."""
    encoding: str = "pcm_mulaw"
    """``pcm_mulaw`` (1 byte per sample) or ``pcm_s16le`` (2 bytes per sample)."""
    keyterms_prompt: tuple[str, ...] = ()
    """Terms to boost; sent as a JSON array when not empty."""
    prompt: str | None = None
    """Context prompt (u3 only, beta); omitted when None."""
    min_turn_silence: int | None = None
    """Milliseconds of silence before the end-of-turn check; None = server default."""
    max_turn_silence: int | None = None
    """Milliseconds of silence that force the end of a turn; None = server default."""
    interruption_delay: int | None = None
    """When the early partial comes, Universal-3 Pro only: the server adds at least 300 ms,
    so 0 gives it ~300 ms into continuous speech and 500 (the server default) ~800 ms;
    if it comes back empty the server tries again at twice, three times ... that point
    (AssemblyAI, "Universal-3 Pro Streaming Partial Transcripts and Turn Detection",
    https://assemblyai.com/docs/streaming/universal-3-pro/turn-detection-and-partials).
    None = not sent (the server's default)."""
    continuous_partials: bool | None = None
    """Universal-3 Pro only: a partial about every 3 s while speech goes on, on top of the
    early and the silence partials (the same page). None = not sent: the server decides
    (its default changed from off to on in 2026, and is off with ``speaker_labels``)."""
    chunk_ms: int = 100
    """Audio per WebSocket frame, 50-1000 ms (the API closes with 3007 otherwise)."""
    max_backlog_seconds: float = 30.0
    """Audio kept while reconnecting; older audio is dropped (and counted). More than the
    failure policy's ``stt_give_up_after`` (20 s), so nothing said before the call moves
    on is lost."""
    connect_timeout: float = 5.0
    """Budget for one connection attempt: TCP, TLS, upgrade and ``Begin``."""
    reconnect_for: float = 20.0 + GIVE_UP_GRACE
    """Seconds one outage is retried (waits and attempts), with backoff 0.2 s doubling,
    capped at 2 s (5 s doubling to 60 s after a rate-limit refusal); no attempt starts
    after it. Default: the failure policy's default give-up (20 s) plus
    :data:`sipgw.agent.stt.base.GIVE_UP_GRACE`; :meth:`AssemblyAISTTService.set_reconnect_window`
    sets it per call."""
    extra_params: Mapping[str, str] = field(default_factory=dict)
    """Extra query parameters (newer server options); they win over the above."""

    def __post_init__(self) -> None:
        """Reject values the API would refuse, before any connection is made."""
        AudioFormat(self.encoding, self.sample_rate)  # a known encoding, a positive rate
        if not _MIN_CHUNK_MS <= self.chunk_ms <= _MAX_CHUNK_MS:
            raise ValueError("chunk_ms must be between 50 and 1000 (the API's limits)")
        if self.max_backlog_seconds < 0:
            raise ValueError("max_backlog_seconds must not be negative")
        if self.connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive")
        if self.reconnect_for < 0:
            raise ValueError("reconnect_for must not be negative")
        check_keyterms(self.keyterms_prompt)
        delay = self.interruption_delay
        if delay is not None and not 0 <= delay <= MAX_INTERRUPTION_DELAY_MS:
            raise ValueError(f"interruption_delay {delay} ms is outside 0-1000 ms")
        partials = {"interruption_delay": delay, "continuous_partials": self.continuous_partials}
        asked = [name for name, value in partials.items() if value is not None]
        if asked and self.speech_model not in U3_FAMILY:
            raise ValueError(
                f"{' and '.join(asked)}: Universal-3 Pro parameters, not for speech_model "
                f"{self.speech_model} (the callers' language selects it)"
            )


# --------------------------------------------------------------------------- pure helpers


def check_keyterms(terms: tuple[str, ...] | list[str]) -> None:
    """Reject keyterms the service would refuse: more than :data:`MAX_KEYTERMS`
    terms, or one longer than :data:`MAX_KEYTERM_CHARS` characters (ValueError)."""
    if len(terms) > MAX_KEYTERMS:
        raise ValueError(f"{len(terms)} keyterms; AssemblyAI takes at most {MAX_KEYTERMS}")
    for term in terms:
        if len(term) > MAX_KEYTERM_CHARS:
            raise ValueError(
                f"keyterm {term[:20]!r}... is {len(term)} characters long;"
                f" AssemblyAI takes at most {MAX_KEYTERM_CHARS}"
            )


def close_is_fatal(code: int | None, reason: str) -> bool:
    """Whether a close (before or during a session) must not be retried.

    Auth and account failures are final: 1008 unless the reason is about
    concurrency or rate limits, and the legacy codes 4000-4003.
    """
    if code in _FATAL_LEGACY_CODES:
        return True
    if code == 1008:
        text = reason.lower()
        return not any(word in text for word in ("concurren", "too many", "rate"))
    return False


def is_rate_limited(code: int | None, reason: str = "") -> bool:
    """Whether a close code (or HTTP status) means "too many sessions": 3009, 1008 with
    a concurrency or rate reason (docs/cloud-apis.md, "AssemblyAI streaming v3": handle
    both), or HTTP 429."""
    if code in (3009, 429):
        return True
    return code == 1008 and not close_is_fatal(code, reason)


def describe_close(code: int | None, reason: str) -> str:
    """Render a close code and reason for humans, e.g. ``1008 Unauthorized (...)``."""
    hint = _CLOSE_HINTS.get(code or 0)
    if code is not None and 4000 <= code <= 4999 and hint is None:
        hint = "legacy error code"
    text = f"{code} {reason}".strip() if code is not None else reason or "closed"
    return f"{text} ({hint})" if hint else text


def _http_hint(status: int) -> str:
    if status in (401, 403):
        return "authentication failed: check the API key (sent without 'Bearer')"
    if status == 429:
        return "rate limited: too many new sessions per minute"
    if status >= 500:
        return "server error"
    return "request rejected: check the URL and query parameters"


def _body_excerpt(body: bytes | bytearray | None, limit: int = 200) -> str:
    text = (body or b"").decode("utf-8", errors="replace").strip()
    return f": {text[:limit]}" if text else ""


def _param_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return json.dumps(value)


def build_query_params(
    settings: AssemblyAISettings, overrides: Mapping[str, object] | None = None
) -> dict[str, str]:
    """Return the session's query parameters, in the order they are sent.

    Args:
        settings: The configured options.
        overrides: Fields set later through ``UpdateConfiguration``; they are
            carried into the query of every reconnect. None values are left out.
    """
    params: dict[str, object] = {
        "speech_model": settings.speech_model,
        "encoding": settings.encoding,
        "sample_rate": settings.sample_rate,
    }
    if settings.keyterms_prompt:
        params["keyterms_prompt"] = list(settings.keyterms_prompt)
    optional = {
        "prompt": settings.prompt,
        "min_turn_silence": settings.min_turn_silence,
        "max_turn_silence": settings.max_turn_silence,
        "interruption_delay": settings.interruption_delay,
        "continuous_partials": settings.continuous_partials,
    }
    params.update((k, v) for k, v in optional.items() if v is not None)
    params.update(overrides or {})
    params.update(settings.extra_params)
    return {k: _param_value(v) for k, v in params.items() if v is not None}


def _session_url(settings: AssemblyAISettings, overrides: Mapping[str, object]) -> str:
    parts = urlsplit(settings.url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += list(build_query_params(settings, overrides).items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _public_url(url: str) -> str:
    """The URL without its query (which may hold a temporary token)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def _as_int(value: object, default: int = 0) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _as_float(value: object, default: float = 0.0) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def _error_text(message: Mapping[str, object]) -> str:
    code = message.get("error_code")
    error = message.get("error", "unknown error")
    return f"server error {code}: {error}" if code is not None else f"server error: {error}"


# --------------------------------------------------------------------------- service


class AssemblyAISTTService(SpeechToText):
    """One call's streaming transcription session (reconnecting as needed).

    Typical use::

        stt = AssemblyAISTTService(AssemblyAISettings(api_key=key))
        await stt.connect()                  # while the phone rings
        ...  stt.send_audio(frame)           # as each caller frame arrives
        async for event in stt.events(): ... # in the agent's task
        await stt.close()                    # on hang-up
    """

    def __init__(
        self,
        settings: AssemblyAISettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Prepare the service; nothing is connected until :meth:`connect`.

        Args:
            settings: The connection and session options.
            sleep: Waits out the reconnect backoff (tests inject a fake clock).
        """
        self._settings = settings
        self._sleep = sleep
        audio_format = AudioFormat(settings.encoding, settings.sample_rate)
        self._bytes_per_second = audio_format.bytes_per_second
        self._audio = AudioUplink(
            audio_format,
            chunk_ms=settings.chunk_ms,
            min_chunk_ms=_MIN_CHUNK_MS,
            max_chunk_ms=_MAX_CHUNK_MS,
            max_backlog_seconds=settings.max_backlog_seconds,
            burst=PACING_BURST_SECONDS,
        )
        self._overrides: dict[str, object] = {}
        self._update_keep_silence()
        self._chunk_ready = asyncio.Event()
        self._events: asyncio.Queue[SttEvent | None] = asyncio.Queue()
        self._events_ended = False
        self._ws: ClientConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()  # ForceEndpoint sends
        self._connecting = False
        self._connect_finished = asyncio.Event()
        self._closing = False
        self._failed = False
        self._closed = asyncio.Event()
        self._attempts_used = 0
        self._outage_spent = 0.0  # seconds of waits and attempts in the current outage
        self._reconnect_for = settings.reconnect_for
        self._turns_ended = 0
        self._audio_offset_ms = 0.0
        self._session_bytes_sent = 0
        self._chunks_sent = 0
        self._bytes_sent = 0
        self._sessions = 0
        self._reconnects = 0
        self._last_error: str | None = None
        self._error_frame = ""  # the text of this connection's last Error frame
        self._server_audio_seconds: float | None = None

    # ----------------------------------------------------------------- public API

    @property
    def stats(self) -> SttStats:
        """Counters for logs and metrics (a fresh snapshot on every access)."""
        audio = self._audio
        return SttStats(
            chunks_sent=self._chunks_sent,
            bytes_sent=self._bytes_sent,
            sessions=self._sessions,
            reconnects=self._reconnects,
            backlog_seconds=audio.backlog_seconds,
            backlog_dropped_seconds=audio.dropped_seconds,
            silence_dropped_seconds=audio.skipped_seconds,
            last_error=self._last_error,
            server_audio_duration_seconds=self._server_audio_seconds,
        )

    @property
    def connected(self) -> bool:
        """Whether a session is open right now."""
        return self._ws is not None

    async def connect(self) -> None:
        """Open the first session and wait for its ``Begin``.

        Call it while the phone rings. It is not retried: a failure here should
        reject the call so that the trunk can try elsewhere.

        Raises:
            SttConnectError: The service was unreachable, refused the upgrade
                (the message names the HTTP status), closed before ``Begin``
                (the message names the close code, e.g. 1008 for a bad key),
                or did not answer within ``connect_timeout``.
            RuntimeError: ``connect`` was already called, or after ``close``.
        """
        if self._connecting or self._supervisor is not None or self._closing:
            raise RuntimeError("connect() may be called once, before close()")
        self._connecting = True
        try:
            ws = await self._open()
            if self._closing:  # close() ran while we were connecting: end that session too
                await self._terminate(ws)
                await ws.close()
                return
        finally:
            self._connecting = False
            self._connect_finished.set()
        self._ws = ws  # usable at once, e.g. for update_configuration()
        loop = asyncio.get_running_loop()
        self._supervisor = loop.create_task(self._supervise(ws), name="assemblyai-stt")
        self._supervisor.add_done_callback(forget_cancellation)

    def send_audio(self, frame: bytes) -> None:
        """Queue one frame of caller audio (μ-law: 160 bytes every 20 ms).

        Synchronous and cheap: it batches frames into ``chunk_ms`` chunks and
        wakes the sender task. Pass silence (0xFF) rather than skipping frames,
        so that the stream stays continuous. Ignored after ``close`` or failure.
        """
        if self._closing or self._failed:
            return
        if self._audio.push(frame):
            self._chunk_ready.set()

    def set_chunk_ms(self, chunk_ms: int | None) -> None:
        """Change how much audio each message carries from now on (50..1000 ms).

        Smaller chunks reach the service sooner (the end of a turn is detected
        sooner), larger ones cost fewer messages; callers switch as speech
        starts and stops. None goes back to the configured ``chunk_ms``.
        Audio already batched is cut at the new size.
        """
        if self._audio.set_chunk_ms(chunk_ms):
            self._chunk_ready.set()

    def mark_speech_end(self) -> None:
        """The caller just went quiet: call it before sending the first quiet frame.

        The service ends a turn once ``min_turn_silence`` of silence follows
        speech. A chunk boundary is put exactly there, so the audio that
        completes the silence leaves the moment it exists instead of waiting
        for its chunk to fill (up to a chunk length, 40 ms with 50 ms chunks).
        A later call (the caller spoke again) replaces the boundary.
        """
        self._audio.mark_speech_end(self._min_turn_silence_ms())

    def set_reconnect_window(self, seconds: float) -> None:
        """Retry an outage for ``seconds`` from now on (``reconnect_for``): the assistant's
        failure policy's give-up plus :data:`sipgw.agent.stt.base.GIVE_UP_GRACE`."""
        self._reconnect_for = max(0.0, seconds)

    @property
    def turn_end_silence(self) -> float | None:
        """``max_turn_silence`` in seconds, as configured or updated (u3-rt-pro's default
        1000 ms when unset): a turn without a sentence end ends there."""
        configured = self._overrides.get("max_turn_silence", self._settings.max_turn_silence)
        return _as_float(configured, float(_U3_DEFAULT_MAX_TURN_SILENCE_MS)) / 1000

    async def events(self) -> AsyncIterator[SttEvent]:
        """Yield events until :meth:`close` or an :class:`SttFailed` (one consumer)."""
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)  # later iterators end at once too
                return
            yield event

    async def update_configuration(self, **fields: object) -> None:
        """Send ``UpdateConfiguration`` with ``fields`` (e.g. ``max_turn_silence=3000``).

        The fields are also remembered and sent as query parameters on every
        reconnect. Without an open session they only take effect at the next
        reconnect. Values must be JSON-serializable.

        Raises:
            ValueError: ``fields`` contains ``type``.
            TypeError: A value is not JSON-serializable.
        """
        if "type" in fields:
            raise ValueError("'type' is not a configuration field")
        message = json.dumps({"type": "UpdateConfiguration", **fields})
        self._overrides.update(fields)
        self._update_keep_silence()
        await self._send_text(message)

    async def force_endpoint(self) -> None:
        """Ask the server to end the current turn now (``ForceEndpoint``)."""
        await self._send_text(json.dumps({"type": "ForceEndpoint"}))

    def end_turn_now(self) -> None:
        """Send ``ForceEndpoint`` from a task, at once (the audio before it has gone: the
        turn-taking machine asks after the caller's silence, small chunks meanwhile)."""
        if self._ws is None or self._closing or self._failed:
            return
        task = asyncio.get_running_loop().create_task(self.force_endpoint())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def close(self) -> None:
        """Terminate the session (hang-up). Idempotent, bounded in time, never raises.

        Sends ``Terminate``, waits at most :data:`TERMINATION_TIMEOUT` for
        ``Termination`` and the server's close, closes with 1000, stops every
        task and ends :meth:`events`. Queued audio that was not sent is dropped.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            if self._connecting:  # connect() terminates the session it is opening
                budget = self._settings.connect_timeout + TERMINATION_TIMEOUT
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._connect_finished.wait(), budget)
            await self._shutdown()
        except Exception:  # never raise from a hang-up path
            logger.exception("error while closing the AssemblyAI session")
        finally:
            if self._supervisor is not None and not self._supervisor.done():
                self._supervisor.cancel()
            self._closed.set()
            self._end_events()

    # ----------------------------------------------------------------- connecting

    def _headers(self) -> dict[str, str]:
        headers = {"AssemblyAI-Version": API_VERSION}
        if self._settings.api_key:
            headers["Authorization"] = self._settings.api_key
        return headers

    async def _open(self) -> ClientConnection:
        """Connect and wait for ``Begin``, within ``connect_timeout``."""
        self._error_frame = ""
        settings = self._settings
        url = _session_url(settings, self._overrides)
        where = _public_url(settings.url)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.connect_timeout
        try:
            async with asyncio.timeout_at(deadline):
                ws = await ws_connect(
                    url,
                    additional_headers=self._headers(),
                    logger=_WS_LOG,
                    compression=None,
                    open_timeout=None,
                    ping_interval=_PING_INTERVAL,
                    ping_timeout=_PING_INTERVAL,
                    close_timeout=_CLOSE_TIMEOUT,
                    create_connection=VendorConnection,
                )
        except TimeoutError:
            raise SttConnectError(
                f"AssemblyAI at {where} did not answer within {settings.connect_timeout:g} s"
            ) from None
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = _body_excerpt(exc.response.body)
            raise SttConnectError(
                f"AssemblyAI rejected the connection: HTTP {status} ({_http_hint(status)}){body}",
                status=status,
                retryable=status >= 500 or status in _RETRYABLE_HTTP,
            ) from exc
        except InvalidURI as exc:
            raise SttConnectError(f"invalid AssemblyAI URL: {exc}", retryable=False) from exc
        except (OSError, InvalidHandshake) as exc:
            raise SttConnectError(f"could not connect to AssemblyAI at {where}: {exc}") from exc
        try:
            async with asyncio.timeout_at(deadline):
                await self._await_begin(ws)
        except BaseException as exc:
            if ws.state is State.OPEN:  # the session may exist: it must not bill on
                await self._terminate(ws, _ABORT_TERMINATION_TIMEOUT)
            if ws.state is not State.CLOSED:
                ws.transport.abort()
            if isinstance(exc, TimeoutError):
                raise SttConnectError(
                    f"AssemblyAI at {where} sent no Begin within {settings.connect_timeout:g} s"
                ) from None
            raise
        return ws

    async def _await_begin(self, ws: ClientConnection) -> None:
        while True:
            try:
                raw = await ws.recv()
            except ConnectionClosed:
                code, reason = ws.close_code, self._close_text(ws)
                description = describe_close(code, reason)
                raise SttConnectError(
                    f"AssemblyAI closed the session before it began: {description}",
                    close_code=code,
                    retryable=not close_is_fatal(code, reason),
                ) from None
            message = _decode(raw)
            if message is None:
                continue
            now = asyncio.get_running_loop().time()
            if message.get("type") == "Begin":
                self._on_begin(message, now)
                return
            self._dispatch(message, now)

    # ----------------------------------------------------------------- supervising

    async def _supervise(self, ws: ClientConnection) -> None:
        """Serve sessions until close() or a final failure, reconnecting between."""
        loop = asyncio.get_running_loop()
        current: ClientConnection | None = ws
        while current is not None:
            opened_at = loop.time()
            await self._serve(current)
            if self._closing:
                return
            code, reason = current.close_code, self._close_text(current)
            description = describe_close(code, reason)
            self._last_error = description
            if close_is_fatal(code, reason):
                self._fail(f"AssemblyAI closed the session: {description}", code)
                return
            logger.warning("AssemblyAI session dropped: %s; reconnecting", description)
            if loop.time() - opened_at >= STABLE_SESSION_SECONDS:
                self._attempts_used, self._outage_spent = 0, 0.0  # a new outage
            current = await self._recover(description, is_rate_limited(code, reason))

    async def _recover(self, description: str, limited: bool) -> ClientConnection | None:
        """Reconnect after a drop; report the outage. None if we gave up."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        audio = self._audio
        dropped_before, skipped_before = audio.dropped_seconds, audio.skipped_seconds
        audio.begin_outage()
        self._emit(SttDisconnected(reason=description, received_at=started))
        ws = await self._reconnect(description, limited)
        if ws is None:
            return None
        self._reconnects += 1
        self._emit(
            SttReconnected(
                outage_seconds=loop.time() - started,
                backlog_seconds=audio.backlog_seconds,
                dropped_seconds=audio.dropped_seconds - dropped_before,
                silence_skipped_seconds=audio.skipped_seconds - skipped_before,
            )
        )
        return ws

    async def _reconnect(self, last_error: str, limited: bool) -> ClientConnection | None:
        """Try again with backoff: 0.2 s doubling up to 2 s; after a concurrency or
        rate-limit refusal, 5 s doubling up to 60 s (the per-minute window); for
        ``reconnect_for`` seconds of the outage, the last wait cut short so that an
        attempt starts at its end."""
        loop = asyncio.get_running_loop()
        window = self._reconnect_for
        limited_tries = 0
        while (left := window - self._outage_spent) > 0:
            if limited:
                delay = _RATE_LIMITED.within(limited_tries, left)
                limited_tries += 1
            else:
                delay = _RECONNECT.within(self._attempts_used, left)
            if delay is None:  # not reached: a backoff without steps, and time left
                break
            self._attempts_used += 1
            await self._sleep(delay)
            started = loop.time()
            try:
                return await self._open()
            except SttConnectError as exc:
                last_error = str(exc)
                self._last_error = last_error
                # A retryable 1008 is one whose reason is about concurrency.
                limited = limited or (exc.retryable and exc.code in (1008, 3009, 429))
                if not exc.retryable:
                    self._fail(last_error, exc.code)
                    return None
                logger.info("AssemblyAI reconnect attempt failed: %s", last_error)
            finally:
                self._outage_spent += delay + (loop.time() - started)
        self._fail(
            f"gave up after {window:g} s of reconnect attempts ({self._attempts_used}); "
            f"last error: {last_error}",
            None,
        )
        return None

    async def _serve(self, ws: ClientConnection) -> None:
        """Run one session: send audio, handle messages, until the socket closes."""
        self._ws = ws
        self._sender = asyncio.get_running_loop().create_task(
            self._send_loop(ws), name="assemblyai-stt-sender"
        )
        try:
            await self._receive_loop(ws)
        finally:
            self._ws = None
            await self._stop_sender()

    async def _stop_sender(self) -> None:
        task, self._sender = self._sender, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    async def _receive_loop(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                message = _decode(raw)
                if message is not None:
                    self._dispatch(message, loop.time())

    # ----------------------------------------------------------------- sending

    async def _send_loop(self, ws: ClientConnection) -> None:
        """Send queued chunks, paced to real time; return when the socket closes."""
        loop = asyncio.get_running_loop()
        audio = self._audio
        audio.begin_session(loop.time())
        try:
            while True:
                delay = audio.wait_before_next(loop.time())
                if delay is None:  # nothing queued: wait for send_audio()
                    self._chunk_ready.clear()
                    await self._chunk_ready.wait()
                    continue
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue  # the queue may have been re-cut meanwhile: look again
                chunk = audio.pop()
                if chunk is None:
                    continue
                try:
                    await ws.send(chunk)
                except ConnectionClosed:
                    audio.put_back(chunk)
                    return
                audio.sent(chunk, loop.time())
                self._chunks_sent += 1
                self._bytes_sent += len(chunk)
                self._session_bytes_sent += len(chunk)
        except Exception as exc:  # a bug here must not leave a silent session behind
            logger.exception("AssemblyAI sender failed")
            self._last_error = f"sender failed: {exc!r}"
            await self._terminate(ws)  # the session is replaced: this one must stop billing
            await ws.close(1011, "client error")

    async def _terminate(self, ws: ClientConnection, within: float = TERMINATION_TIMEOUT) -> None:
        """Send ``Terminate`` and wait (at most ``within`` s) for the server's close.

        Used on every path that gives up a session that may be open: an unterminated
        session keeps billing until the 3-hour cap. Never raises.
        """
        with contextlib.suppress(ConnectionClosed, TimeoutError, OSError):
            async with asyncio.timeout(within):
                await ws.send(_TERMINATE)
                await ws.wait_closed()

    async def _send_text(self, message: str) -> None:
        ws = self._ws
        if ws is None or self._closing:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(message)

    # ----------------------------------------------------------------- receiving

    def _dispatch(self, message: dict[str, object], now: float) -> None:
        kind = message.get("type")
        self._error_frame = ""  # only an Error frame right before the close explains it
        try:
            if kind == "Turn":
                self._on_turn(message, now)
            elif kind == "SpeechStarted":
                ts = _as_int(message.get("timestamp")) + round(self._audio_offset_ms)
                self._emit(SttSpeechStarted(timestamp_ms=ts, received_at=now))
            elif kind == "Termination":
                self._server_audio_seconds = _as_float(message.get("audio_duration_seconds"))
            elif kind == "Error" or (kind is None and "error" in message):
                self._last_error = _error_text(message)
                self._error_frame = str(message.get("error", ""))
                logger.warning("AssemblyAI: %s", self._last_error)
            elif kind == "Warning":
                logger.info("AssemblyAI warning: %s", message.get("warning"))
            else:
                logger.debug("ignoring AssemblyAI message type %r", kind)
        except (TypeError, ValueError):
            logger.warning("malformed AssemblyAI %s message ignored", kind, exc_info=True)

    def _close_text(self, ws: ClientConnection) -> str:
        """What a close is judged by: its reason and the Error frame sent just before it.

        The docs' errors "trigger on_error just prior to on_close" (common-errors.mdx):
        the Error frame says why, the close may not (a 1008 with an empty reason is a
        rate-limit refusal when the frame says "Too many concurrent sessions").
        """
        reason = ws.close_reason or ""
        if self._error_frame and self._error_frame not in reason:
            return f"{reason}; {self._error_frame}" if reason else self._error_frame
        return reason

    def _on_begin(self, message: Mapping[str, object], now: float) -> None:
        self._audio_offset_ms += self._session_bytes_sent * 1000 / self._bytes_per_second
        self._session_bytes_sent = 0
        self._sessions += 1
        self._emit(
            SttSessionBegan(
                session_id=str(message.get("id", "")),
                expires_at=_as_int(message.get("expires_at")),
                received_at=now,
            )
        )

    def _on_turn(self, message: Mapping[str, object], now: float) -> None:
        order = self._turns_ended  # u3-rt-pro sends exactly one final per turn
        text = message.get("transcript")
        if not isinstance(text, str):
            text = str(message.get("utterance") or "")
        words = self._words(message.get("words"))
        end_ms = words[-1].end_ms if words else None
        if not message.get("end_of_turn"):
            self._emit(SttPartialTranscript(text, order, now, audio_end_ms=end_ms))
            return
        self._turns_ended += 1
        self._emit(
            SttTurnEnded(
                text=text,
                turn_order=order,
                words=words,
                received_at=now,
                audio_end_ms=end_ms,
            )
        )

    def _words(self, raw: object) -> tuple[SttWord, ...]:
        if not isinstance(raw, list):
            return ()
        offset = round(self._audio_offset_ms)
        return tuple(
            SttWord(
                text=str(w.get("text", "")),
                start_ms=_as_int(w.get("start")) + offset,
                end_ms=_as_int(w.get("end")) + offset,
                confidence=_as_float(w.get("confidence")),
            )
            for w in raw
            if isinstance(w, dict)
        )

    # ----------------------------------------------------------------- plumbing

    def _min_turn_silence_ms(self) -> float:
        configured = self._overrides.get("min_turn_silence", self._settings.min_turn_silence)
        return _as_float(configured, float(_U3_DEFAULT_MIN_TURN_SILENCE_MS))

    def _update_keep_silence(self) -> None:
        self._audio.set_keep_silence_ms(self._min_turn_silence_ms() + _SILENCE_TAIL_EXTRA_MS)

    def _emit(self, event: SttEvent) -> None:
        if not self._events_ended:
            self._events.put_nowait(event)

    def _end_events(self) -> None:
        if not self._events_ended:
            self._events_ended = True
            self._events.put_nowait(None)

    def _fail(self, reason: str, code: int | None) -> None:
        logger.error("AssemblyAI STT failed: %s", reason)
        self._failed = True
        self._last_error = reason
        self._emit(SttFailed(reason=reason, code=code))
        self._end_events()

    async def _shutdown(self) -> None:
        supervisor = self._supervisor
        ws = self._ws
        if ws is not None and supervisor is not None:
            await self._stop_sender()
            # Terminate; the receive loop sees Termination and then the server's
            # close, and the supervisor returns because _closing is set.
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with asyncio.timeout(TERMINATION_TIMEOUT):
                    await ws.send(_TERMINATE)
                    await asyncio.wait({supervisor})
        if supervisor is not None and not supervisor.done():
            supervisor.cancel()
            await asyncio.wait({supervisor})
        if ws is not None:
            await ws.close()


def _decode(raw: str | bytes) -> dict[str, object] | None:
    if isinstance(raw, bytes):
        return None
    try:
        message = json.loads(raw)
    except ValueError:
        logger.warning("AssemblyAI sent a text frame that is not JSON; ignored")
        return None
    return message if isinstance(message, dict) else None
