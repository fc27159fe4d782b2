"""The navigator's words: what a decider may decide, and how a navigation ends."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

__all__ = [
    "Decision",
    "Outcome",
    "Press",
    "Reached",
    "Say",
    "Stuck",
    "Voicemail",
    "Wait",
]


class Outcome(Enum):
    """How a navigation ended (the call record's and webhooks' ``outcome``)."""

    REACHED = "reached"
    """The goal was reached: a person or the department asked for answers."""
    STUCK = "stuck"
    """The menu leads nowhere: the same prompt three times, silence, too many steps, a
    dead end the decider saw, or digits the dial allow-list refused."""
    VOICEMAIL = "voicemail"
    """A voicemail (or a menu's "leave a message") answered."""
    HUNG_UP = "hung_up"
    """The call ended before the goal was reached."""


@dataclass(frozen=True, slots=True)
class Press:
    """Key ``digits`` (RFC 4733)."""

    digits: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``words`` (a menu that listens: "say billing")."""

    words: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Wait:
    """Listen on: the menu is not over, or asks to hold."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Reached:
    """The goal is reached: the line's agent takes over."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Stuck:
    """The menu cannot lead to the goal."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Voicemail:
    """A voicemail answered."""

    reason: str = ""


Decision: TypeAlias = Press | Say | Wait | Reached | Stuck | Voicemail
"""What a decider (the model, or :func:`sipgw.agent.ivr.menu.rule_decision`) answers."""
