"""Getting through a phone menu (IVR) to a goal: the navigator's rules, sans-IO.

Theory of operation
-------------------
:class:`MenuNavigator` is given a goal ("reach billing and ask for the balance") when
a placed call is answered, and then fed, with the time, what the far end says: each
finished transcript of its speech (:meth:`~MenuNavigator.receive_prompt`), and that
it is speaking at all (:meth:`~MenuNavigator.receive_voice`). It answers with actions
(:data:`NavigatorAction`), in order:

* :class:`DecisionWanted`: what the menu said since the last step, for a decider to
  answer (the model, with :func:`sipgw.agent.ivr.menu.rule_decision` as its fallback).
  One question is open at a time; prompts heard meanwhile wait for its answer, and
  are asked about next when the answer was to listen on.
* Its answer (:meth:`~MenuNavigator.decided`) becomes :class:`SendDigits` (RFC 4733
  keys), :class:`SayWords`, nothing (listen on), or the end.
* :class:`NavigationEnded` once, with its :class:`~sipgw.agent.ivr.steps.Outcome`:
  ``reached`` (the decider says a person or the department answers), ``voicemail``,
  ``hung_up`` (:meth:`~MenuNavigator.hung_up`), or ``stuck``, which the navigator
  decides by itself too:

  - the same prompt (its words, case and punctuation aside) heard
    :attr:`NavigatorConfig.max_repeats` times: a loop, or a menu that repeats because
    nothing it offers fits;
  - :attr:`NavigatorConfig.silence` seconds with no voice after the last thing heard
    or done (a dead end that waits for nothing);
  - more than :attr:`NavigatorConfig.max_steps` keypresses and spoken answers, or
    :attr:`NavigatorConfig.deadline` seconds in all;
  - the decider's own ``stuck``.

The timers are the adapter's: :meth:`~MenuNavigator.get_timer` says when
:meth:`~MenuNavigator.handle_timer` is due. Nothing here reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeAlias

from sipgw.agent.ivr.steps import (
    Decision,
    Outcome,
    Press,
    Reached,
    Say,
    Stuck,
    Voicemail,
    Wait,
)

__all__ = [
    "DecisionWanted",
    "MenuNavigator",
    "NavigationEnded",
    "NavigatorAction",
    "NavigatorConfig",
    "NavigatorState",
    "SayWords",
    "SendDigits",
    "Step",
]


@dataclass(frozen=True, slots=True)
class NavigatorConfig:
    """When the navigator gives up."""

    max_repeats: int = 3
    """The same prompt heard this many times: stuck."""
    silence: float = 10.0
    """Seconds without voice after the last prompt or step: stuck."""
    max_steps: int = 12
    """Keypresses and spoken answers allowed; one more: stuck."""
    deadline: float = 180.0
    """Seconds from the answer to the goal at most: then stuck."""


class NavigatorState(Enum):
    """Where the navigator is."""

    LISTENING = "listening"
    DECIDING = "deciding"
    """A :class:`DecisionWanted` waits for its answer."""
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the navigation's story: what was heard or done (the decider's context)."""

    kind: str
    """``heard``, ``pressed`` or ``said``."""
    text: str


@dataclass(frozen=True, slots=True)
class DecisionWanted:
    """Ask the decider what to do about ``heard``."""

    heard: str
    """The menu's words since the last step."""
    steps: tuple[Step, ...]
    """Everything before, in order (``heard`` is its tail)."""


@dataclass(frozen=True, slots=True)
class SendDigits:
    """Key these digits now."""

    digits: str


@dataclass(frozen=True, slots=True)
class SayWords:
    """Say these words now."""

    words: str


@dataclass(frozen=True, slots=True)
class NavigationEnded:
    """The navigation is over."""

    outcome: Outcome
    reason: str


NavigatorAction: TypeAlias = DecisionWanted | SendDigits | SayWords | NavigationEnded
"""What :class:`MenuNavigator` asks its adapter to do."""


def prompt_key(text: str) -> str:
    """A prompt's words, lower case, without punctuation: what counts as the same prompt."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@dataclass
class MenuNavigator:
    """One call's way through a menu (see the module docstring).

    Args:
        goal: what the call is for, in words.
        now: when the call was answered.
        config: when it gives up.
    """

    goal: str
    now: float
    config: NavigatorConfig = field(default_factory=NavigatorConfig)
    state: NavigatorState = NavigatorState.LISTENING
    outcome: Outcome | None = None
    reason: str = ""
    steps: list[Step] = field(default_factory=list)
    digits: str = ""
    """Every digit keyed, in order."""
    presses: int = 0
    """Keypresses and spoken answers made."""
    _heard: list[str] = field(default_factory=list)
    _asked: int = 0
    _counts: dict[str, int] = field(default_factory=dict)
    _last_activity: float = 0.0
    _started: float = 0.0

    def __post_init__(self) -> None:
        self._started = self._last_activity = self.now

    @property
    def ended(self) -> bool:
        """An outcome was reached."""
        return self.state is NavigatorState.ENDED

    # -- inputs

    def receive_voice(self, now: float) -> None:
        """The far end is speaking (its words are to come): it is not silent."""
        if not self.ended:
            self._last_activity = max(self._last_activity, now)

    def receive_prompt(self, text: str, now: float) -> tuple[NavigatorAction, ...]:
        """A finished transcript of the far end's speech."""
        text = text.strip()
        if self.ended or not text:
            return ()
        self._last_activity = max(self._last_activity, now)
        key = prompt_key(text)
        count = self._counts[key] = self._counts.get(key, 0) + 1
        self.steps.append(Step("heard", text))
        self._heard.append(text)
        if count >= self.config.max_repeats:
            return self._end(Outcome.STUCK, f"the same prompt {count} times: {text!r}")
        if self.state is NavigatorState.DECIDING:
            return ()  # asked about after the open question's answer
        return self._ask()

    def decided(self, decision: Decision, now: float) -> tuple[NavigatorAction, ...]:
        """The decider's answer to the last :class:`DecisionWanted`."""
        if self.state is not NavigatorState.DECIDING:
            return ()
        self.state = NavigatorState.LISTENING
        self._last_activity = max(self._last_activity, now)  # the decider's time is not silence
        if isinstance(decision, Reached):
            return self._end(Outcome.REACHED, decision.reason)
        if isinstance(decision, Voicemail):
            return self._end(Outcome.VOICEMAIL, decision.reason)
        if isinstance(decision, Stuck):
            return self._end(Outcome.STUCK, decision.reason or "the menu cannot lead there")
        if isinstance(decision, Wait):
            if len(self._heard) > self._asked:  # more was said meanwhile
                return self._ask()
            return ()
        self.presses += 1
        if self.presses > self.config.max_steps:
            return self._end(Outcome.STUCK, f"more than {self.config.max_steps} steps")
        self._heard = []
        self._asked = 0
        if isinstance(decision, Press):
            self.digits += decision.digits
            self.steps.append(Step("pressed", decision.digits))
            return (SendDigits(decision.digits),)
        assert isinstance(decision, Say)
        self.steps.append(Step("said", decision.words))
        return (SayWords(decision.words),)

    def refused(self, reason: str) -> tuple[NavigatorAction, ...]:
        """The digits just asked for could not be sent (the dial allow-list)."""
        return self._end(Outcome.STUCK, f"digits refused: {reason}")

    def hung_up(self) -> tuple[NavigatorAction, ...]:
        """The call ended first."""
        return self._end(Outcome.HUNG_UP, "the call ended before the goal")

    # -- timers

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` is due (None once ended)."""
        if self.ended:
            return None
        deadline = self._started + self.config.deadline
        if self.state is NavigatorState.DECIDING:
            return deadline  # the decider's time is not the menu's silence
        return min(deadline, self._last_activity + self.config.silence)

    def handle_timer(self, now: float) -> tuple[NavigatorAction, ...]:
        """Time passed: stuck when the deadline or the silence is over."""
        if self.ended:
            return ()
        if now >= self._started + self.config.deadline:
            return self._end(Outcome.STUCK, f"no goal after {self.config.deadline:g} s")
        if (
            self.state is NavigatorState.LISTENING
            and now >= self._last_activity + self.config.silence
        ):
            return self._end(Outcome.STUCK, f"silence for {self.config.silence:g} s")
        return ()

    # -- helpers

    def _ask(self) -> tuple[NavigatorAction, ...]:
        self.state = NavigatorState.DECIDING
        self._asked = len(self._heard)
        return (DecisionWanted(" ".join(self._heard), tuple(self.steps)),)

    def _end(self, outcome: Outcome, reason: str) -> tuple[NavigatorAction, ...]:
        if self.ended:
            return ()
        self.state = NavigatorState.ENDED
        self.outcome = outcome
        self.reason = reason
        return (NavigationEnded(outcome, reason),)
