"""AssemblyAI Universal-3 Pro streaming speech-to-text (v3 WebSocket API).

Theory of operation
-------------------
Implements :class:`sipgw.agent.services.stt.base.SpeechToText`; everything below is
AssemblyAI's. The caller's audio is G.711 μ-law, 8 kHz, and goes to AssemblyAI
unchanged (``encoding=pcm_mulaw``, ``sample_rate=8000``). The wire rules come
from docs/cloud-apis.md, "AssemblyAI streaming v3":

* **Batching and pacing** are :class:`sipgw.agent.services.stt.uplink.AudioUplink`'s, set to
  this API's rules. The agent calls :meth:`AssemblyAISTTService.send_audio`
  with each 160-byte (20 ms) frame as it arrives from the network, in order
  (the media layer's reorder stage, ``media/ingress.py``), not on the ticker;
  it queues the frame, and when that completes a chunk the pacer lets go, writes
  it at once as one masked frame if the sender task is idle and the socket's
  buffer empty (else it wakes the sender task); it never awaits, never blocks
  (:meth:`~sipgw.agent.services.assemblyai.stt_connection.AssemblyAIConnection.wake_sender`).
  The API closes the session with 3007 unless every binary frame
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
  (``SIPGW_STT_GIVE_UP_AFTER_MS``) plus :data:`sipgw.agent.services.stt.base.GIVE_UP_GRACE`
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

The service is made of parts that share its uplink and never hold it: the wire rules
(close codes, the session's query, the messages) are
:mod:`sipgw.agent.services.assemblyai.stt_protocol`'s, sans-IO; the turn numbering, timestamp
offsets and counters across sessions are
:class:`~sipgw.agent.services.assemblyai.stt_session.StreamState`'s,
sans-IO too; opening, serving, reconnecting and terminating sessions are
:class:`~sipgw.agent.services.assemblyai.stt_connection.AssemblyAIConnection`'s; the options are
:class:`~sipgw.agent.services.assemblyai.stt_options.AssemblyAISettings`; the events go out
through an :class:`~sipgw.agent.services.stt.outlet.EventOutlet`. Their public names are
importable from here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from websockets.exceptions import ConnectionClosed

from sipgw.agent.services.assemblyai.stt_connection import (
    RATE_LIMIT_BACKOFF_CAP,
    RATE_LIMIT_BACKOFF_FIRST,
    STABLE_SESSION_SECONDS,
    TERMINATION_TIMEOUT,
    AssemblyAIConnection,
    terminate,
)
from sipgw.agent.services.assemblyai.stt_options import (
    MAX_CHUNK_MS,
    MAX_KEYTERM_CHARS,
    MAX_KEYTERMS,
    MIN_CHUNK_MS,
    REGION_URLS,
    U3_LANGUAGES,
    AssemblyAISettings,
    check_keyterms,
    speech_model_for,
)
from sipgw.agent.services.assemblyai.stt_protocol import (
    API_VERSION,
    FORCE_ENDPOINT,
    TERMINATE,
    as_float,
    build_query_params,
    close_is_fatal,
    describe_close,
    is_rate_limited,
    update_configuration,
)
from sipgw.agent.services.assemblyai.stt_session import StreamState
from sipgw.agent.services.stt.base import SpeechToText, SttEvent, SttStats
from sipgw.agent.services.stt.outlet import EventOutlet
from sipgw.agent.services.stt.uplink import AudioFormat, AudioUplink
from sipgw.foundation.handled_errors import forget_cancellation

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

PACING_BURST_SECONDS: Final = 0.2
"""How far ahead of real time a session's audio may run (token-bucket credit)."""

_U3_DEFAULT_MIN_TURN_SILENCE_MS: Final = 100
_U3_DEFAULT_MAX_TURN_SILENCE_MS: Final = 1000
_SILENCE_TAIL_EXTRA_MS: Final = 100


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
        audio_format = AudioFormat(settings.encoding, settings.sample_rate)
        self._audio = AudioUplink(
            audio_format,
            chunk_ms=settings.chunk_ms,
            min_chunk_ms=MIN_CHUNK_MS,
            max_chunk_ms=MAX_CHUNK_MS,
            max_backlog_seconds=settings.max_backlog_seconds,
            burst=PACING_BURST_SECONDS,
        )
        self._overrides: dict[str, object] = {}
        self._update_keep_silence()
        self._state = StreamState(audio_format.bytes_per_second)
        self._outlet = EventOutlet()
        self._connection = AssemblyAIConnection(
            settings, self._overrides, self._audio, self._state, self._outlet, sleep
        )
        self._supervisor: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()  # ForceEndpoint sends
        self._connecting = False
        self._connect_finished = asyncio.Event()
        self._closed = asyncio.Event()

    # ----------------------------------------------------------------- public API

    @property
    def stats(self) -> SttStats:
        """Counters for logs and metrics (a fresh snapshot on every access)."""
        audio, state = self._audio, self._state
        return SttStats(
            chunks_sent=state.chunks_sent,
            bytes_sent=state.bytes_sent,
            sessions=state.sessions,
            reconnects=state.reconnects,
            backlog_seconds=audio.backlog_seconds,
            backlog_dropped_seconds=audio.dropped_seconds,
            silence_dropped_seconds=audio.skipped_seconds,
            last_error=state.last_error,
            server_audio_duration_seconds=state.server_audio_seconds,
        )

    @property
    def connected(self) -> bool:
        """Whether a session is open right now."""
        return self._connection.ws is not None

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
        connection = self._connection
        if self._connecting or self._supervisor is not None or connection.closing:
            raise RuntimeError("connect() may be called once, before close()")
        self._connecting = True
        try:
            ws = await connection.open()
            if connection.closing:  # close() ran while we were connecting: end that session too
                await terminate(ws)
                await ws.close()
                return
        finally:
            self._connecting = False
            self._connect_finished.set()
        connection.ws = ws  # usable at once, e.g. for update_configuration()
        loop = asyncio.get_running_loop()
        self._supervisor = loop.create_task(connection.supervise(ws), name="assemblyai-stt")
        self._supervisor.add_done_callback(forget_cancellation)

    def send_audio(self, frame: bytes) -> None:
        """Queue one frame of caller audio (μ-law: 160 bytes every 20 ms).

        Synchronous and cheap: it batches frames into ``chunk_ms`` chunks; a chunk the
        pacer lets go is written at once while the sender task is idle (else the task is
        woken to send it). Pass silence (0xFF) rather than skipping frames,
        so that the stream stays continuous. Ignored after ``close`` or failure.
        """
        if self._connection.closing or self._outlet.failed:
            return
        if self._audio.push(frame):
            self._connection.wake_sender()

    def set_chunk_ms(self, chunk_ms: int | None) -> None:
        """Change how much audio each message carries from now on (50..1000 ms).

        Smaller chunks reach the service sooner (the end of a turn is detected
        sooner), larger ones cost fewer messages; callers switch as speech
        starts and stops. None goes back to the configured ``chunk_ms``.
        Audio already batched is cut at the new size.
        """
        if self._audio.set_chunk_ms(chunk_ms):
            self._connection.wake_sender()

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
        failure policy's give-up plus :data:`sipgw.agent.services.stt.base.GIVE_UP_GRACE`."""
        self._connection.reconnect_for = max(0.0, seconds)

    @property
    def turn_end_silence(self) -> float | None:
        """``max_turn_silence`` in seconds, as configured or updated (u3-rt-pro's default
        1000 ms when unset): a turn without a sentence end ends there."""
        configured = self._overrides.get("max_turn_silence", self._settings.max_turn_silence)
        return as_float(configured, float(_U3_DEFAULT_MAX_TURN_SILENCE_MS)) / 1000

    @property
    def turn_check_silence(self) -> float | None:
        """``min_turn_silence`` in seconds, as configured or updated (u3-rt-pro's default
        100 ms when unset): the silence after which the service checks for an end of turn."""
        return self._min_turn_silence_ms() / 1000

    async def events(self) -> AsyncIterator[SttEvent]:
        """Yield events until :meth:`close` or an :class:`SttFailed` (one consumer)."""
        async for event in self._outlet.events():
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
        message = update_configuration(fields)
        self._overrides.update(fields)
        self._update_keep_silence()
        await self._connection.send_text(message)

    async def force_endpoint(self) -> None:
        """Ask the server to end the current turn now (``ForceEndpoint``)."""
        await self._connection.send_text(FORCE_ENDPOINT)

    def end_turn_now(self) -> None:
        """Send ``ForceEndpoint`` from a task, at once (the audio before it has gone: the
        turn-taking machine asks after the caller's silence, small chunks meanwhile)."""
        connection = self._connection
        if connection.ws is None or connection.closing or self._outlet.failed:
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
        if self._connection.closing:
            await self._closed.wait()
            return
        self._connection.closing = True
        try:
            if self._connecting:  # connect() terminates the session it is opening
                budget = self._settings.connect_timeout + TERMINATION_TIMEOUT
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(budget):
                        await self._connect_finished.wait()
            await self._shutdown()
        except Exception:  # never raise from a hang-up path
            logger.exception("error while closing the AssemblyAI session")
        finally:
            if self._supervisor is not None and not self._supervisor.done():
                self._supervisor.cancel()
            self._closed.set()
            self._outlet.end()

    # ----------------------------------------------------------------- plumbing

    def _min_turn_silence_ms(self) -> float:
        configured = self._overrides.get("min_turn_silence", self._settings.min_turn_silence)
        return as_float(configured, float(_U3_DEFAULT_MIN_TURN_SILENCE_MS))

    def _update_keep_silence(self) -> None:
        self._audio.set_keep_silence_ms(self._min_turn_silence_ms() + _SILENCE_TAIL_EXTRA_MS)

    async def _shutdown(self) -> None:
        supervisor = self._supervisor
        ws = self._connection.ws
        if ws is not None and supervisor is not None:
            await self._connection.stop_sender()
            # Terminate; the receive loop sees Termination and then the server's
            # close, and the supervisor returns because closing is set.
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with asyncio.timeout(TERMINATION_TIMEOUT):
                    await ws.send(TERMINATE)
                    await asyncio.wait({supervisor})
        if supervisor is not None and not supervisor.done():
            supervisor.cancel()
            await asyncio.wait({supervisor})
        if ws is not None:
            await ws.close()
