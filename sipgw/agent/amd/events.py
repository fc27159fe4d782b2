"""What the answer classifier reports (sans-IO): who answered, on what evidence, when to speak.

:class:`sipgw.agent.amd.classifier.AnswerClassifier` returns these; the detector, the
agents' answering parts and the call records read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import TypeAlias

from sipgw.media.tones.beep import BeepDetected

__all__ = ["AmdEvent", "AnswerClassified", "AnswerKind", "Evidence", "ReadyForMessage"]


class AnswerKind(Enum):
    """Who or what answered."""

    HUMAN = "human"
    VOICEMAIL = "voicemail"
    """A greeting after which a message can be left."""
    ANNOUNCEMENT = "announcement"
    """A carrier's or a system's message: no one to talk to, no message to leave."""
    SCREENER = "screener"
    """A phone's call screening asks who is calling and why (iOS, Google Call Screen)."""
    UNKNOWN = "unknown"
    """Silence until the deadline."""

    @property
    def is_machine(self) -> bool:
        """Voicemail, announcement or screener."""
        return self in (AnswerKind.VOICEMAIL, AnswerKind.ANNOUNCEMENT, AnswerKind.SCREENER)


class Evidence(IntEnum):
    """What a decision rests on, weakest first."""

    DEADLINE = 0
    CADENCE = 1
    LENGTH = 2
    WORDS = 3
    TONE = 4


@dataclass(frozen=True, slots=True)
class AnswerClassified:
    """A decision: the first one (``revision`` 0) or a revision of the one before."""

    kind: AnswerKind
    at: float
    """When it was decided (the time of the input that decided it)."""
    elapsed: float
    """Seconds after the answer."""
    reason: str
    """In words: "short greeting", "phrase 'leave a message'", "beep", ..."""
    evidence: Evidence
    revision: int


@dataclass(frozen=True, slots=True)
class ReadyForMessage:
    """A voicemail is recording, or a screener waits for an answer: the agent may speak."""

    kind: AnswerKind
    at: float
    cause: str
    """"beep", "silence" (the greeting or prompt ended) or "timeout" (``max_greeting``)."""
    greeting_end: float | None
    """End of the last speech heard before (None if there was none)."""
    beep: BeepDetected | None


AmdEvent: TypeAlias = AnswerClassified | ReadyForMessage
"""Everything the classifier reports."""
