"""What the agent needs from a streaming speech-to-text service, whoever the vendor.

A vendor module (``agent/stt/<vendor>.py``) implements :class:`SpeechToText`
and turns its wire messages into the events below; the assistant and the
turn-taking machine (``agent/turns/machine.py``) only ever see these.

Contract
--------
* The caller's audio is handed over as it arrives, one 20 ms frame at a time
  (:meth:`SpeechToText.send_audio`, G.711 μ-law unless the vendor's settings
  say otherwise). It must return at once: batch, queue and send from a task.
* :meth:`SpeechToText.events` yields, in order: speech onsets, partial
  transcripts, finished turns, reconnections and at most one final
  :class:`SttFailed`, after which the iterator ends.
* A dropped connection is the vendor module's business: it reports the drop
  at once (:class:`SttDisconnected`), reconnects, keeps the audio meanwhile
  and reports the outage's end with :class:`SttReconnected`. Only when it
  gives up does :class:`SttFailed` come: on a final refusal, or when the outage
  has lasted the window the agent set (:meth:`SpeechToText.set_reconnect_window`:
  the failure policy's give-up plus :data:`GIVE_UP_GRACE`, so that the policy,
  which keeps the caller informed meanwhile, decides when the call moves on).

Times called ``received_at`` are ``loop.time()`` when the message arrived;
stream positions (``*_ms``) count milliseconds of the audio this call sent,
across reconnects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final, Protocol, TypeAlias

__all__ = [
    "GIVE_UP_GRACE",
    "SpeechToText",
    "SttConnectError",
    "SttDisconnected",
    "SttEvent",
    "SttFailed",
    "SttPartialTranscript",
    "SttReconnected",
    "SttSessionBegan",
    "SttSpeechStarted",
    "SttStats",
    "SttTurnEnded",
    "SttWord",
]


GIVE_UP_GRACE: Final = 1.0
"""Seconds a client retries an outage beyond the failure policy's give-up: the policy
moves the call on first; the client gives up after it (or at once on a final refusal)."""


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class SttWord:
    """One word of a turn; times in ms of the audio stream sent in this call."""

    text: str
    start_ms: int
    end_ms: int
    confidence: float


@dataclass(frozen=True, slots=True)
class SttSessionBegan:
    """The service opened a session, on connect and on every reconnect."""

    session_id: str
    expires_at: int
    """Unix time (seconds) at which the service ends the session; 0 if it did not say."""
    received_at: float
    """``loop.time()`` when the message arrived."""


@dataclass(frozen=True, slots=True)
class SttSpeechStarted:
    """The service heard speech start: a barge-in signal, before any words."""

    timestamp_ms: int
    """Stream position of the speech onset."""
    received_at: float


@dataclass(frozen=True, slots=True)
class SttPartialTranscript:
    """Words of a turn still in progress: speculation, never a committed turn."""

    text: str
    turn_order: int
    """The ``turn_order`` its :class:`SttTurnEnded` will carry."""
    received_at: float
    audio_end_ms: int | None = None
    """End of its last word, in ms of the audio stream (as :attr:`SttTurnEnded.audio_end_ms`:
    the audio passed to :meth:`SpeechToText.send_audio`, less any dropped during an
    outage); None without words. How much of the caller's speech it covers
    (:mod:`sipgw.agent.turns.machine`)."""


@dataclass(frozen=True, slots=True)
class SttTurnEnded:
    """The caller finished a turn: the committed transcript."""

    text: str
    turn_order: int
    """Turns ended before this one in this call: 0, 1, 2, ..., across reconnects."""
    words: tuple[SttWord, ...]
    received_at: float
    audio_end_ms: int | None
    """End of the last word (stream position), or None without words."""


@dataclass(frozen=True, slots=True)
class SttDisconnected:
    """The session dropped; the client is reconnecting (the caller's audio is kept)."""

    reason: str
    """What ended it (the close code and reason, or the error)."""
    received_at: float


@dataclass(frozen=True, slots=True)
class SttReconnected:
    """A new session replaced one that dropped; the backlog is being sent."""

    outage_seconds: float
    """From noticing the drop to the new session's start."""
    backlog_seconds: float
    """Audio queued for the new session (after skipping silence)."""
    dropped_seconds: float
    """Audio lost during this outage because the backlog exceeded its cap."""
    silence_skipped_seconds: float = 0.0
    """Silent audio left out of the backlog during this outage (not lost speech)."""


@dataclass(frozen=True, slots=True)
class SttFailed:
    """The service gave up; no more events follow. Final."""

    reason: str
    code: int | None
    """WebSocket close code, or HTTP status of a rejected upgrade, if any."""


SttEvent: TypeAlias = (
    SttSessionBegan
    | SttSpeechStarted
    | SttPartialTranscript
    | SttTurnEnded
    | SttDisconnected
    | SttReconnected
    | SttFailed
)
"""Everything :meth:`SpeechToText.events` yields."""


# --------------------------------------------------------------------------- errors and stats


class SttConnectError(Exception):
    """Opening a session failed; the message names the cause.

    Attributes:
        status: HTTP status of a rejected upgrade, if that was the cause.
        close_code: WebSocket close code received before the session began, if any.
        retryable: Whether trying again later may succeed (not for auth errors).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        close_code: int | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.close_code = close_code
        self.retryable = retryable

    @property
    def code(self) -> int | None:
        """The close code or, failing that, the HTTP status."""
        return self.close_code if self.close_code is not None else self.status


@dataclass(frozen=True, slots=True)
class SttStats:
    """A snapshot of :attr:`SpeechToText.stats`."""

    chunks_sent: int
    bytes_sent: int
    sessions: int
    """Sessions that began (first connect included)."""
    reconnects: int
    backlog_seconds: float
    """Audio queued right now, not yet sent."""
    backlog_dropped_seconds: float
    """Audio lost because a backlog exceeded its cap."""
    silence_dropped_seconds: float
    """Silent audio skipped while a backlog drained."""
    last_error: str | None
    server_audio_duration_seconds: float | None
    """The audio duration the service reported when the last session ended, if any."""


# --------------------------------------------------------------------------- the service


class SpeechToText(Protocol):
    """One call's streaming transcription (see the module docstring).

    Typical use::

        stt = new_stt()                      # one per call
        await stt.connect()                  # while the phone rings
        ...  stt.send_audio(frame)           # as the caller's audio arrives
        async for event in stt.events(): ... # in the agent's task
        await stt.close()                    # on hang-up
    """

    @property
    def stats(self) -> SttStats:
        """Counters for logs and metrics (a fresh snapshot on every access)."""
        ...

    async def connect(self) -> None:
        """Open the first session; not retried (a failure should reject the call).

        Raises:
            SttConnectError: The service was unreachable or refused the session.
        """
        ...

    def send_audio(self, frame: bytes) -> None:
        """Queue one frame of caller audio; never blocks, ignored after close or failure."""
        ...

    def set_chunk_ms(self, chunk_ms: int | None) -> None:
        """Audio per message from now on, in ms; None: back to the configured size.

        Smaller messages end a turn sooner, larger ones cost fewer messages.
        A service that sends every frame as it comes may ignore it.
        """
        ...

    def mark_speech_end(self) -> None:
        """The caller just went quiet: call it before sending the first quiet frame.

        Lets the service send the audio that completes the end-of-turn silence
        without waiting for a batch to fill; a later call replaces the mark.
        """
        ...

    def end_turn_now(self) -> None:
        """The caller's silence ends the turn: finalize it now with the words heard so far
        (AssemblyAI's ``ForceEndpoint``); its :class:`SttTurnEnded` comes as any other.
        Returns at once; a service that cannot is free to ignore it (its own end of
        turn then decides)."""
        ...

    def set_reconnect_window(self, seconds: float) -> None:
        """Retry a dropped connection for ``seconds`` of the outage (then :class:`SttFailed`)."""
        ...

    @property
    def turn_end_silence(self) -> float | None:
        """Seconds of silence after which the service ends a turn at the latest (a turn
        whose words end no sentence); None when unknown. Speculative speech times its
        first clause by it (:mod:`sipgw.agent.assistant.speculative`)."""
        ...

    @property
    def turn_check_silence(self) -> float | None:
        """Seconds of silence after which the service first decides whether a turn has
        ended (AssemblyAI's ``min_turn_silence``); None when unknown. A partial that comes
        sooner is the caller's last words arriving, not that decision
        (:class:`sipgw.agent.turns.early_end.EarlyTurnEnd`'s ``verdict_after_ms``)."""
        ...

    def events(self) -> AsyncIterator[SttEvent]:
        """Yield events until :meth:`close` or an :class:`SttFailed` (one consumer)."""
        ...

    async def close(self) -> None:
        """End the session (hang-up). Idempotent, bounded in time, never raises."""
        ...
