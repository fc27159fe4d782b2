"""The contract of a speech-to-speech service: caller audio in, the model's voice out.

A speech-to-speech service (AssemblyAI's Voice Agent API, OpenAI's Realtime API)
listens, thinks and speaks in one session: there is no separate STT, LLM or TTS.
:class:`SpeechToSpeech` is what the vendor-neutral agent
(:mod:`sipgw.agent.s2s.agent`) needs of one; each vendor is one module implementing it
(:mod:`sipgw.agent.services.assemblyai.voice_agent`, :mod:`sipgw.agent.services.openai.realtime`).

One session per call. :meth:`SpeechToSpeech.connect` opens and configures it
(instructions, greeting, tools) while the phone rings; the caller's frames go in
unchanged (:meth:`SpeechToSpeech.send_audio`, which never waits); what the service says
comes out of :meth:`SpeechToSpeech.events` as the events below, its audio in chunks of
any size. The audio is 8 kHz μ-law both ways unless the agent asked for 24 kHz linear
audio before connecting (:meth:`SpeechToSpeech.use_audio_format`: an HD-voice call).
Every reply has an id; its audio, text and tool calls carry it, and :class:`ReplyDone` ends it.

Who decides that the caller's turn is over depends on the session
(:attr:`SpeechToSpeech.server_turns`): the service (its own voice-activity or
turn detection, then it replies by itself) or the agent, which calls
:meth:`SpeechToSpeech.end_turn`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from sipgw.media.codecs import ULAW_8K, AudioFormat

__all__ = [
    "CallerSpeechStarted",
    "CallerSpeechStopped",
    "CallerTranscript",
    "CallerTurnOver",
    "ReplyAudio",
    "ReplyDone",
    "ReplyStarted",
    "ReplyStatus",
    "ReplyText",
    "S2sConnectError",
    "S2sEvent",
    "S2sStats",
    "ServiceError",
    "SessionConfig",
    "SessionFailed",
    "SessionInterrupted",
    "SessionReconnected",
    "SpeechToSpeech",
    "ToolCallRequested",
    "ToolSpec",
]

ReplyStatus = Literal["completed", "interrupted", "cancelled", "failed", "incomplete"]
"""How a reply ended: spoken to its end; cut by the caller (``interrupted`` when the
service says so, ``cancelled`` when the client asked); ``failed`` (a service error) or
``incomplete`` (an output limit or a content filter)."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One function the model may call (from :class:`sipgw.agent.tools.registry.Tool`)."""

    name: str
    description: str
    parameters: Mapping[str, object]
    """The JSON schema of its arguments."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What a session is configured with when it opens."""

    instructions: str
    """The system prompt."""
    greeting: str = ""
    """Said as soon as the session is ready ("" = the model waits for the caller)."""
    tools: tuple[ToolSpec, ...] = ()


class S2sConnectError(Exception):
    """The session could not be opened or configured (the call is refused with 503).

    Attributes:
        status: the HTTP status of a refused upgrade, if any.
        code: the service's error code, if it sent one.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class CallerSpeechStarted:
    """The service heard the caller start speaking (its turn detection): a barge-in signal."""

    received_at: float
    """``loop.time()`` when the event arrived."""


@dataclass(frozen=True, slots=True)
class CallerSpeechStopped:
    """The service heard the caller stop speaking."""

    received_at: float


@dataclass(frozen=True, slots=True)
class CallerTurnOver:
    """The service took the caller's turn as over: a reply is due (its turn detection)."""

    received_at: float


@dataclass(frozen=True, slots=True)
class CallerTranscript:
    """What the caller said in a finished turn, as the service transcribed it."""

    text: str


@dataclass(frozen=True, slots=True)
class ReplyStarted:
    """The model started a reply."""

    reply_id: str
    received_at: float
    filler: bool = False
    """It is a filler line asked for with :meth:`SpeechToSpeech.request_filler`."""


@dataclass(frozen=True, slots=True)
class ReplyAudio:
    """Audio of a reply in the session's :attr:`SpeechToSpeech.audio_format`, any length."""

    reply_id: str
    audio: bytes
    received_at: float


@dataclass(frozen=True, slots=True)
class ReplyText:
    """Text a reply speaks: the next piece of its transcript, or (``final``) all of it."""

    reply_id: str
    text: str
    final: bool = False


@dataclass(frozen=True, slots=True)
class ToolCallRequested:
    """The model calls a tool; answer with :meth:`SpeechToSpeech.send_tool_result`."""

    reply_id: str
    call_id: str
    name: str
    arguments: str
    """The arguments as a JSON string."""


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """A reply ended; no more audio comes for it."""

    reply_id: str
    status: ReplyStatus
    received_at: float
    error: str = ""
    """What went wrong, for ``failed`` and ``incomplete``."""


@dataclass(frozen=True, slots=True)
class ServiceError:
    """The service reported an error; the session goes on."""

    code: str
    message: str
    reply_lost: bool = False
    """The error came where the caller waits for a reply (their turn was over, no reply
    had started): that reply will not come."""
    status: int | None = None
    """400 when the service says a message of ours was invalid (not the service failing:
    the breakers do not count it), else None."""


@dataclass(frozen=True, slots=True)
class SessionInterrupted:
    """The connection dropped; the session is being resumed (nothing is heard meanwhile)."""

    reason: str


@dataclass(frozen=True, slots=True)
class SessionReconnected:
    """The connection dropped and the same session was resumed (context kept)."""

    outage_seconds: float


@dataclass(frozen=True, slots=True)
class SessionFailed:
    """The session is gone for good; no more events follow."""

    reason: str
    code: str | None = None


S2sEvent: TypeAlias = (
    CallerSpeechStarted
    | CallerSpeechStopped
    | CallerTurnOver
    | CallerTranscript
    | ReplyStarted
    | ReplyAudio
    | ReplyText
    | ToolCallRequested
    | ReplyDone
    | ServiceError
    | SessionInterrupted
    | SessionReconnected
    | SessionFailed
)
"""What :meth:`SpeechToSpeech.events` yields."""


@dataclass(slots=True)
class S2sStats:
    """What one session did (for the call record's last line)."""

    audio_in_seconds: float = 0.0
    """Caller audio sent to the service."""
    audio_out_seconds: float = 0.0
    """Reply audio received from it."""
    audio_dropped_seconds: float = 0.0
    """Caller audio dropped while the connection was down."""
    reconnects: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    """Service errors by code."""


class SpeechToSpeech(ABC):
    """One call's session with a speech-to-speech service (see the module docstring).

    The methods that send (everything but :meth:`connect` and :meth:`close`) return at
    once: they queue the message for the connection's writer.
    """

    name: str = ""
    """The service's short name, for logs and call records."""
    server_turns: bool = True
    """The service ends the caller's turns itself; False: :meth:`end_turn` does."""
    session_id: str | None = None
    """The service's id of the session once open (for traces), if it sends one."""
    fillers: bool = False
    """The model can be asked for a filler line while a tool runs
    (:meth:`request_filler`)."""
    audio_formats: frozenset[AudioFormat] = frozenset({ULAW_8K})
    """The formats the session can carry both ways (:meth:`use_audio_format`)."""
    audio_format: AudioFormat = ULAW_8K
    """The caller's audio (:meth:`send_audio`) and the replies' (:class:`ReplyAudio`)."""

    def use_audio_format(self, audio: AudioFormat) -> None:
        """Carry ``audio`` both ways instead of 8 kHz μ-law; before :meth:`connect`, once.

        Raises:
            ValueError: the session cannot (not in :attr:`audio_formats`).
        """
        if audio not in self.audio_formats:
            raise ValueError(f"{self.name or type(self).__name__} does not carry {audio}")
        self.audio_format = audio

    @abstractmethod
    async def connect(self, config: SessionConfig) -> None:
        """Open the session, configure it and wait until it is ready.

        Raises:
            S2sConnectError: refused, unreachable, a configuration the service
                rejected, or no answer within the connect timeout.
        """

    @abstractmethod
    def send_audio(self, frame: bytes) -> None:
        """One 20 ms frame of the caller's audio (:attr:`audio_format`), in order, as it
        arrives."""

    @abstractmethod
    def events(self) -> AsyncIterator[S2sEvent]:
        """What the service says, in order, until the session ends."""

    @abstractmethod
    def send_tool_result(self, call_id: str, output: str) -> None:
        """The result of a tool call (a JSON string); the model goes on with it."""

    @abstractmethod
    def cancel_reply(self, reply_id: str, played_ms: int) -> None:
        """The caller cut the reply off after hearing ``played_ms`` of it (a barge-in)."""

    def end_turn(self) -> None:  # noqa: B027 - only sessions with client-side turns need it
        """The caller's turn is over: reply now (only when :attr:`server_turns` is False)."""

    @abstractmethod
    def request_reply(self, instructions: str = "") -> None:
        """Make the model speak now, following ``instructions`` for this reply if given."""

    def start_early_reply(self) -> bool:
        """With client-side turns: the caller has paused; start the reply to what they said
        so far before their turn is over (its audio waits for the agent's word). False when
        the session does not (off, server turns) or cannot now (a reply is in progress)."""
        return False

    def drop_early_reply(self) -> None:  # noqa: B027 - only sessions that start early ones
        """The caller went on: cancel the early reply and take it out of the context."""

    def request_filler(self, text: str) -> bool:
        """Have the model say ``text`` now, while a tool runs, as a reply of its own that
        stays in its context and calls no tool (:class:`ReplyStarted` ``filler``); False
        when it cannot now (a reply is in progress) or ever (:attr:`fillers` is False)."""
        return False

    @abstractmethod
    def add_caller_text(self, text: str) -> None:
        """Something from the caller's side as text (keypad digits, a transfer's outcome),
        answered with a reply."""

    @abstractmethod
    def update_instructions(self, instructions: str) -> None:
        """Replace the system prompt for the rest of the session."""

    @abstractmethod
    def update_tools(self, tools: tuple[ToolSpec, ...]) -> None:
        """Replace the functions the model may call for the rest of the session."""

    @property
    @abstractmethod
    def stats(self) -> S2sStats:
        """What the session did so far."""

    @abstractmethod
    async def close(self) -> None:
        """End the session cleanly and close the connection (idempotent)."""
