"""The idle policy at work on a call, whatever the agent: what both agents' watches share.

:class:`IdleWatchBase` feeds :class:`~sipgw.agent.idle.policy.IdlePolicy` the call every
:data:`LOOK_EVERY` of the 20 ms ticks (:meth:`IdleWatchBase.look`: is the agent busy, is
the call held, is a transfer or hang-up under way) and at each sound of the caller
(:meth:`IdleWatchBase.caller_active`), writes each step as an ``idle`` record and counts it
(``sipgw_idle_total``), and hangs up with ``reason: idle`` once the goodbye was heard
(:meth:`IdleWatchBase.hang_up_after`, bounded by ``action_line_timeout``). How an agent
knows it is busy, and how it says a check-in and the goodbye, is its own subclass's:
:class:`sipgw.agent.assistant.idle_watch.IdleWatch` (the TTS, a note to the LLM) and
:class:`sipgw.agent.s2s.idle_watch.S2sIdleWatch` (the model asked with one-off
instructions).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import Final, Protocol

from sipgw.agent.callscope import CallScope
from sipgw.agent.idle.policy import CheckIn, GiveUp, IdlePolicy, IdleSettings

__all__ = ["LOOK_EVERY", "HangsUp", "IdleWatchBase"]

LOOK_EVERY: Final = 0.1
"""Seconds between two looks at the call's state (every 5th tick): a check-in comes up to
this late, and the ticks between cost nothing."""


class HangsUp(Protocol):
    """What the watch needs of the call's actions."""

    @property
    def acting(self) -> bool:
        """A transfer or hang-up is under way (or waits for its line)."""
        ...

    def hang_up(self, reason: str = "") -> None:
        """End the call now, recorded with ``reason``."""
        ...


class IdleWatchBase(ABC):
    """One call's idle policy, carried out; see the module docstring.

    Args:
        scope: the call's record, observer, clock and tasks.
        settings: the line's idle policy.
        actions: the call's transfers and hang-ups.
        line_timeout: seconds the goodbye may take to be heard before the hang-up.

    Attributes:
        hung_up: it ended the call (the record's ``hung_up_for``: ``idle``).
        next_look: the time before which :meth:`look` does nothing (a tick may skip the call
            until then; 0 before the answer and while the policy is off or finished, where
            :meth:`look` returns at once all the same).
    """

    __slots__ = ("_actions", "_line_timeout", "_policy", "_scope", "hung_up", "next_look",
                 "settings")  # fmt: skip

    def __init__(
        self, scope: CallScope, settings: IdleSettings, actions: HangsUp, line_timeout: float
    ) -> None:
        self.settings = settings
        self._scope = scope
        self._actions = actions
        self._line_timeout = line_timeout
        self._policy: IdlePolicy | None = None  # from the answer on
        self.next_look = 0.0
        self.hung_up = False

    def start(self, now: float) -> None:
        """The call was answered: silence counts from now (the greeting is speaking)."""
        if self._policy is None and self.settings.after is not None:
            self._policy = IdlePolicy(self.settings, now)

    def caller_active(self, now: float) -> None:
        """The caller made a sound (speech, a keypad digit)."""
        if self._policy is not None:
            self._policy.caller_active(now)

    def hold(self, held: bool, now: float) -> None:
        """The caller held the call, or resumed it: no silence counts while held (told at
        once, for agents whose ticks stop meanwhile)."""
        if self._policy is not None:
            self._policy.busy("hold", held, now)

    def look(self, now: float, *, held: bool, transferring: bool = False) -> None:
        """Every 20 ms: feed the policy the call's state, and do what it says."""
        policy = self._policy
        if policy is None or now < self.next_look or policy.finished:
            return
        self.next_look = now + LOOK_EVERY
        policy.busy("speaking", self.busy(), now)
        policy.busy("hold", held, now)
        policy.busy("transfer", transferring or self._actions.acting, now)
        step = policy.poll(now)
        scope = self._scope
        if isinstance(step, CheckIn):
            line = self.settings.check_line
            scope.write({"type": "idle", "step": "check_in", "number": step.number,
                         "silent_ms": round(step.silent_s * 1000),
                         "by": "line" if line else "model"})  # fmt: skip
            scope.observer.idle("check_in")
            self.check_in(step)
        elif isinstance(step, GiveUp):
            scope.write({"type": "idle", "step": "hang_up",
                         "silent_ms": round(step.silent_s * 1000)})  # fmt: skip
            scope.observer.idle("hang_up")
            self.give_up()

    async def hang_up_after(self, goodbye: Awaitable[object]) -> None:
        """Hang up once ``goodbye`` (the goodbye heard, or cut off) is done, or after
        ``line_timeout``; not when the call ended meanwhile."""
        try:
            async with asyncio.timeout(self._line_timeout):
                await goodbye
        except TimeoutError:
            pass
        if self._scope.closed:
            return
        self.hung_up = True
        self._actions.hang_up("idle")

    @abstractmethod
    def busy(self) -> bool:
        """The agent has something to say: a reply being made or playing."""

    @abstractmethod
    def check_in(self, step: CheckIn) -> None:
        """Ask whether the caller is still there (``settings.check_line``, or the model's
        words)."""

    @abstractmethod
    def give_up(self) -> None:
        """Say ``settings.goodbye_line``, then hang up (:meth:`hang_up_after`)."""
