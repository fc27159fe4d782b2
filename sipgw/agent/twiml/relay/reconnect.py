"""The app's socket away (``applicationReconnect``), sans-IO: when to try it again, what is
kept for it meanwhile, when to give up, when the caller is told to wait.

Twilio's changelog of 2026-10-28 says what it does: it "buffers up to 500 events during an
unexpected connection drop and automatically replays them when it successfully reconnects".
How it reconnects is not on a page readable offline; this is sipgw's reading. A drop (no
close frame, or a close code other than 1000: 1001 is what a redeploy sends) starts an
:class:`Absence`. The channel tries the same URL again when :meth:`Absence.next_attempt`
says (waits of :data:`FIRST_WAIT` doubling to :data:`MAX_WAIT`, the last attempt at the
bound, :data:`RECONNECT_WITHIN` after the drop; then the session fails, as a broken socket
did before) and hands it every event the session sends meanwhile (:meth:`Absence.keep`:
at most :data:`MAX_EVENTS`, the later ones dropped and counted). Once the socket is back,
``setup`` goes again first, then :meth:`Absence.replay`, in order. Each tick while the app
is away the session asks :meth:`Absence.line_due` whether to say :func:`hold_line`: once
per absence, after :data:`LINE_AFTER` of nothing playing.

It reads no clock: ``now`` comes in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from sipgw.agent.services.backoff import Backoff

__all__ = [
    "FIRST_WAIT",
    "HOLD_LINES",
    "LINE_AFTER",
    "MAX_EVENTS",
    "MAX_WAIT",
    "RECONNECT_WITHIN",
    "Absence",
    "ReconnectPolicy",
    "hold_line",
]

T = TypeVar("T")

RECONNECT_WITHIN: Final = 15.0
"""Seconds from the drop to the last attempt. A redeployed container or an autoscaler's new
instance takes the socket in a few seconds; a caller who has heard one "one moment" and
then silence for longer is likely gone, and the ``<Connect action>`` (or the fallback) can
still help them."""
FIRST_WAIT: Final = 0.25
"""Seconds before the first attempt (a balancer that just lost the instance gets a moment);
each wait after a failed attempt doubles."""
MAX_WAIT: Final = 2.0
"""The longest wait between two attempts: an app back is found within it."""
MAX_EVENTS: Final = 500
"""Events kept while away: Twilio's figure ("buffers up to 500 events")."""
LINE_AFTER: Final = 1.0
"""Seconds of nothing playing, the app away, before the line: shorter is a pause between
turns, longer sounds like a dropped call."""
HOLD_LINES: Final = {
    "en": "One moment, please.",
    "es": "Un momento, por favor.",
    "fr": "Un instant, s'il vous plaît.",
    "de": "Einen Moment, bitte.",
    "it": "Un momento, per favore.",
    "pt": "Um momento, por favor.",
    "nl": "Een moment, alstublieft.",
}
"""The line by the session's language (its first subtag); any other language: English."""


def hold_line(tts_language: str) -> str:
    """The line said while the app is away, in ``tts_language`` where :data:`HOLD_LINES` has
    it (``es-MX``: Spanish), else in English."""
    return HOLD_LINES.get(tts_language.split("-")[0].lower(), HOLD_LINES["en"])


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How the channel reconnects (the constants above; tests shorten them)."""

    within: float = RECONNECT_WITHIN
    """Seconds from the drop to the last attempt."""
    backoff: Backoff = Backoff(FIRST_WAIT, 2.0, MAX_WAIT)
    """The waits before attempts (the first: before the first attempt)."""
    max_events: int = MAX_EVENTS
    """Events kept while away; the later ones are dropped."""
    line_after: float = LINE_AFTER
    """Seconds of nothing playing before the line."""


class Absence(Generic[T]):
    """One time the app is away (see the module docstring).

    Args:
        policy: the bound, the waits, the cap.
        now: when the socket dropped.
        unsent: events handed to the socket and not written when it dropped: kept first.
        since: when the absence began, when it goes on (a socket back that dropped again
            before the app said anything on it); None: ``now``.
    """

    def __init__(
        self, policy: ReconnectPolicy, now: float, unsent: Iterable[T] = (),
        since: float | None = None,
    ) -> None:  # fmt: skip
        self.policy = policy
        self.since = now if since is None else since
        """When the app went away."""
        self.deadline = self.since + policy.within
        """The last attempt's time; past it the session fails."""
        self.dropped = 0
        """Events not kept: :data:`MAX_EVENTS` were already."""
        self._events: list[T] = []
        self._attempt = 0
        wait = policy.backoff.within(0, self.deadline - now)
        self._next: float | None = None if wait is None else now + wait
        self._quiet_since: float | None = None
        self._line_said = False
        for event in unsent:
            self.keep(event)

    def keep(self, event: T) -> bool:
        """``event``, sent while away, to be replayed; False: dropped (the cap is reached)."""
        if len(self._events) >= self.policy.max_events:
            self.dropped += 1
            return False
        self._events.append(event)
        return True

    @property
    def kept(self) -> int:
        """Events to be replayed."""
        return len(self._events)

    def next_attempt(self) -> float | None:
        """When to try the socket next; None: the bound is past, the session fails."""
        return self._next

    def attempt_timeout(self, now: float, most: float) -> float:
        """Seconds an attempt starting at ``now`` may take to open: ``most``, cut to what is
        left of the bound, but at least the first wait (a handshake takes milliseconds)."""
        return max(min(most, self.deadline - now), self.policy.backoff.first)

    def attempt_failed(self, now: float) -> None:
        """The attempt failed at ``now``: the next waits longer, or there is none."""
        self._attempt += 1
        wait = self.policy.backoff.within(self._attempt, self.deadline - now)
        self._next = None if wait is None else now + wait

    def replay(self) -> list[T]:
        """The socket is back: the events kept, in the order they were sent (given once)."""
        events, self._events = self._events, []
        return events

    def line_due(self, now: float, quiet: bool) -> bool:
        """Whether to say the line now, asked each tick: True once per absence, when nothing
        was playing (``quiet``) for the policy's ``line_after``."""
        if self._line_said or not quiet:
            self._quiet_since = None
            return False
        if self._quiet_since is None:
            self._quiet_since = now
        if now - self._quiet_since < self.policy.line_after:
            return False
        self._line_said = True
        return True
