"""The actions of the turn-taking machine (:mod:`sipgw.agent.turns.machine`), and what it reads.

:class:`~sipgw.agent.turns.machine.TurnTaker` answers each input with a tuple of these actions, in
order; the agent carries them out. :class:`AgentState` is the agent's side as the machine
reads it. The tuples the machine returns most often are made once here (:data:`NOTHING`,
:data:`PAUSE`, ...), so that a frame that changes nothing allocates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final, Protocol, TypeAlias

__all__ = [
    "DROP",
    "FORCE_TURN_END",
    "MARK_SPEECH_END",
    "NOTHING",
    "PAUSE",
    "UNDUCK",
    "AgentState",
    "Cause",
    "CommitBargeIn",
    "DropPreemptive",
    "DuckAgent",
    "ForceTurnEnd",
    "HeardFromRoom",
    "IgnoreBackchannel",
    "MarkSpeechEnd",
    "PauseAgent",
    "ResumeAgent",
    "SetSttChunk",
    "StartPreemptive",
    "StartReply",
    "TurnAction",
    "UnduckAgent",
    "without_speech",
]


class Cause(Enum):
    """Why a reply was cut off; the value is what the call record says."""

    SPEECH = "speech"
    """``commit_ms`` of caller speech."""
    TRANSCRIPT = "transcript"
    """A partial transcript with enough words."""
    TURN = "turn"
    """The caller finished a turn."""
    DTMF = "dtmf"
    """A keypad digit."""
    NEW_TURN = "new turn"
    """The agent answers something else (keypad input, a failed transfer)."""
    NOTICE = "notice"
    """The agent speaks a fixed notice (e.g. it cannot hear the caller)."""


@dataclass(frozen=True, slots=True)
class PauseAgent:
    """Caller speech started over the agent: hold its audio where it is."""


@dataclass(frozen=True, slots=True)
class ResumeAgent:
    """The pause was no barge-in: play on from where the audio stopped."""

    paused_ms: float
    """How long the audio was paused."""


@dataclass(frozen=True, slots=True)
class DuckAgent:
    """A pause still undecided (see ``duck_after_ms``): play on from where the audio
    stopped, softer, until :class:`UnduckAgent` or :class:`CommitBargeIn`."""

    paused_ms: float
    """How long the audio was paused."""


@dataclass(frozen=True, slots=True)
class UnduckAgent:
    """The caller's speech over the ducked reply was no barge-in: back to full level."""


@dataclass(frozen=True, slots=True)
class CommitBargeIn:
    """The caller really interrupts: cancel the active reply, drop its queued audio.

    Emitted whether or not a reply is still active: with none, only the pause ends.
    """

    cause: Cause
    reaction_ms: float | None
    """From the caller's speech onset to the pause, if there was one."""


@dataclass(frozen=True, slots=True)
class StartReply:
    """The caller's turn is over: reply to ``text``."""

    text: str
    speech_end_at: float | None
    """The caller's last loud frame before the turn ended (VAD), if any."""
    stt_final_at: float
    """When the STT's end of turn arrived."""


@dataclass(frozen=True, slots=True)
class StartPreemptive:
    """The caller paused on a stable transcript: start the reply's LLM request on ``text``.

    Nothing may be spoken (and no tool run) before the turn ends.
    """

    text: str
    during_speech: bool = False
    """The partial was heard while the caller spoke (see :mod:`sipgw.agent.turns.machine`)."""


@dataclass(frozen=True, slots=True)
class DropPreemptive:
    """The preemptive text is out of date (the caller went on): cancel its request."""


@dataclass(frozen=True, slots=True)
class IgnoreBackchannel:
    """A finished turn that is only "mm-hm" while the agent talks: it talks on."""

    text: str


@dataclass(frozen=True, slots=True)
class HeardFromRoom:
    """A finished turn the detector did not hear from the caller (a TV, voices across the
    room): recorded as heard, not answered, and it cuts nothing off."""

    text: str


@dataclass(frozen=True, slots=True)
class MarkSpeechEnd:
    """The caller just went quiet: tell the STT before sending this frame."""


@dataclass(frozen=True, slots=True)
class ForceTurnEnd:
    """The caller's silence ends the turn: ask the STT to finalize it now."""


@dataclass(frozen=True, slots=True)
class SetSttChunk:
    """Send the STT this much audio per message from now on (None: its configured size)."""

    chunk_ms: int | None


TurnAction: TypeAlias = (
    PauseAgent
    | ResumeAgent
    | DuckAgent
    | UnduckAgent
    | CommitBargeIn
    | StartReply
    | IgnoreBackchannel
    | HeardFromRoom
    | MarkSpeechEnd
    | ForceTurnEnd
    | SetSttChunk
    | StartPreemptive
    | DropPreemptive
)
"""What :class:`~sipgw.agent.turns.machine.TurnTaker` asks the agent to do."""

_SPEAKING = (
    PauseAgent, ResumeAgent, DuckAgent, CommitBargeIn, StartReply, StartPreemptive,
    IgnoreBackchannel, ForceTurnEnd,
)  # fmt: skip
# UnduckAgent is not among them: back to full level is never wrong (a duck begun before
# turns were held must not outlast it).


def without_speech(actions: tuple[TurnAction, ...]) -> tuple[TurnAction, ...]:
    """``actions`` less those that make the agent speak, stop or wait, or end a turn early
    (the caller's words are no turns now: they are on hold, or the callee is a recording);
    what shapes the speech-to-text stream, and the end of a duck, stay."""
    return tuple(action for action in actions if not isinstance(action, _SPEAKING))


# The actions the machine returns most often, made once: a quiet frame allocates nothing.
# ``Final`` and of any length (``tuple[X, ...]``): compiled, each is one static object, read
# without a lookup in the module's dictionary (a tuple of fixed length would be rebuilt
# where it is used). Compare them by equality outside compiled code: there the module's
# attribute is another object than the static the compiled functions return.
NOTHING: Final[tuple[TurnAction, ...]] = ()
PAUSE: Final[tuple[TurnAction, ...]] = (PauseAgent(),)
MARK_SPEECH_END: Final[tuple[TurnAction, ...]] = (MarkSpeechEnd(),)
FORCE_TURN_END: Final[tuple[TurnAction, ...]] = (ForceTurnEnd(),)
DROP: Final[tuple[TurnAction, ...]] = (DropPreemptive(),)
UNDUCK: Final[tuple[TurnAction, ...]] = (UnduckAgent(),)


class AgentState(Protocol):
    """The agent's side, as the machine reads it when a rule needs it."""

    @property
    def audible(self) -> bool:
        """Agent audio is queued and playing (not held, not paused)."""
        ...

    @property
    def pending(self) -> bool:
        """Agent audio is queued, playing or paused."""
        ...

    def active_reply_started_at(self) -> float | None:
        """When the reply still generating or playing started; None without one."""
        ...
