"""Callers who go quiet, sans-IO: when the agent checks in, and when it gives up.

:class:`IdlePolicy` counts the caller's silence on an injected clock (``now`` in
every call). Silence is measured from the latest of: the caller's last sound
(:meth:`IdlePolicy.caller_active`: a loud frame, a keypad digit) and the end of
anything that makes the caller wait (:meth:`IdlePolicy.busy`): the agent
speaking or generating a reply (a tool running is part of the reply), the call on
hold, a transfer under way. While any of those lasts nothing counts.

After ``after`` seconds of counted silence :meth:`IdlePolicy.poll` says
:class:`CheckIn` (the agent asks "Are you still there?"), at most ``checks``
times in a row; the next time it says :class:`GiveUp` (the goodbye, then the
hang-up) and then nothing more. The caller making a sound starts the count of
check-ins over.

The agent polls at its own pace (each 20 ms tick); a poll between two
deadlines returns None and allocates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

__all__ = [
    "DEFAULT_IDLE_GOODBYE",
    "DEFAULT_IDLE_LINE",
    "BusyReason",
    "CheckIn",
    "GiveUp",
    "IdlePolicy",
    "IdleSettings",
    "IdleStep",
]

DEFAULT_IDLE_LINE: Final = "Are you still there?"
DEFAULT_IDLE_GOODBYE: Final = "It seems you have stepped away. Please call again any time. Goodbye."

BusyReason: TypeAlias = Literal["speaking", "hold", "transfer"]
"""What makes the caller wait: the agent speaking or preparing a reply (tools included),
the call on hold (either side), a transfer under way."""


@dataclass(frozen=True, slots=True)
class IdleSettings:
    """A line's idle policy.

    Attributes:
        after: seconds of caller silence before each check-in; None = never (off).
        checks: check-ins before the goodbye (0 = the goodbye right after ``after``).
        check_line: said at a check-in; "" = the model says it (told how long the
            caller has been quiet).
        goodbye_line: said before the hang-up.
    """

    after: float | None = 15.0
    checks: int = 2
    check_line: str = DEFAULT_IDLE_LINE
    goodbye_line: str = DEFAULT_IDLE_GOODBYE


@dataclass(frozen=True, slots=True)
class CheckIn:
    """Check whether the caller is still there."""

    number: int
    """1 for the first check-in since the caller last made a sound."""
    silent_s: float
    """Seconds of silence counted (since the caller's last sound or the end of the last
    wait, whichever came later)."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Say goodbye and hang up: the caller stayed quiet through every check-in."""

    silent_s: float


IdleStep: TypeAlias = CheckIn | GiveUp


class IdlePolicy:
    """One call's idle policy; see the module docstring."""

    __slots__ = ("_busy", "_checks", "_done", "_quiet_since", "settings")

    def __init__(self, settings: IdleSettings, now: float) -> None:
        self.settings = settings
        self._busy: set[BusyReason] = set()
        self._quiet_since: float | None = now  # None while busy
        self._checks = 0  # check-ins since the caller's last sound
        self._done = settings.after is None

    @property
    def finished(self) -> bool:
        """It gave up (or is off): nothing more will come."""
        return self._done

    @property
    def checks(self) -> int:
        """Check-ins since the caller last made a sound."""
        return self._checks

    def caller_active(self, now: float) -> None:
        """The caller made a sound: silence starts over, and so do the check-ins."""
        self._checks = 0
        if self._quiet_since is not None:
            self._quiet_since = now

    def busy(self, reason: BusyReason, busy: bool, now: float) -> None:
        """``reason`` began (``busy``) or ended; cheap to call with an unchanged value."""
        if busy == (reason in self._busy):
            return
        if busy:
            self._busy.add(reason)
            self._quiet_since = None
        else:
            self._busy.discard(reason)
            if not self._busy:
                # The caller's turn again: after a check-in, a wait for a reply or a hold,
                # they get the whole span to answer.
                self._quiet_since = now

    def deadline(self) -> float | None:
        """When :meth:`poll` will next say something, if nothing changes; None = not now."""
        after, since = self.settings.after, self._quiet_since
        if self._done or after is None or since is None:
            return None
        return since + after

    def poll(self, now: float) -> IdleStep | None:
        """What to do at ``now``: usually nothing."""
        due = self.deadline()
        if due is None or now < due:
            return None
        assert self.settings.after is not None and self._quiet_since is not None
        silent = now - self._quiet_since
        self._quiet_since = now
        if self._checks >= self.settings.checks:
            self._done = True
            return GiveUp(round(silent, 3))
        self._checks += 1
        return CheckIn(self._checks, round(silent, 3))
