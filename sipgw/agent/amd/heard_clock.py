"""The callee's audio on its own clock: when each frame heard ends (sans-IO).

The detector is given each 20 ms frame at arrival, with the event loop's time. That is when
the frame's audio ends only while the gateway keeps up. When the gateway itself stalls (its
process kept from the CPU, its loop busy), what the callee said meanwhile waits in the
socket and comes in one wake-up, every frame with the same late time. Timed so, the first
of them ends the stall's length after the frame before it: a stall over a short pause
between words ("Hi, | this is Ana") was the silence that ends a person's "Hello?", and the
opening began over their words; and the silence inside the burst counted for nothing: a
stall over the end of their words put the decision a stall's length later.

:class:`HeardClock` times each frame as the audio it is: one frame after the one before,
and no later than its arrival (a frame that came late with others is put back in its place
on the timeline; frames that come close together catch up with the loop's clock). Its *lag*
is how far the last frame's end is behind its arrival: a few tens of milliseconds at most
(the listeners' tap waiting for a late packet, media/ingress.py). The recognizer's words and
the detector's timers are put on the same clock: their time less the lag.

A timer that comes when no frame has come for :data:`OVERDUE` may come first in the
wake-up after the gateway's own stall, before the frames the stall held back: it waits a
frame for them (:meth:`HeardClock.waits`), once per gap (a gap that lasts, a hold, is
time as the loop tells it). A frame that comes :data:`RESYNC` after the one before (the
callee held, their stream restarted) is timed at its arrival: the clock starts again.
"""

from __future__ import annotations

from typing import Final

from sipgw.agent.amd.cadence import EPSILON, FRAME

__all__ = ["OVERDUE", "RESYNC", "HeardClock"]

OVERDUE: Final = 0.1
"""Seconds without a frame that mean frames are due and not read yet: the listeners' tap
releases the callee's silence at its pace (media/ingress.py), after waiting 40 ms or so
for a late packet."""

RESYNC: Final = 1.0
"""Seconds without a frame after which the next one starts the clock again, timed at its
arrival."""


class HeardClock:
    """The times of one callee's frames on their own timeline; see the module docstring.

    Attributes:
        last: the end of the last frame heard (None before the first).
        arrived: when it arrived (the loop's time).
        retry_at: when a timer that waits for overdue frames looks again (None: none waits).
    """

    __slots__ = ("_waited", "arrived", "last", "retry_at")

    def __init__(self) -> None:
        self.last: float | None = None
        self.arrived: float | None = None
        self.retry_at: float | None = None
        self._waited = False  # a timer waited in this gap between frames

    def frame(self, now: float) -> float:
        """A frame that arrived at ``now``: when its audio ends on the callee's timeline."""
        last, arrived = self.last, self.arrived
        if last is None or arrived is None or now - arrived >= RESYNC:
            at = now
        else:
            at = min(now, last + FRAME)
        self.last, self.arrived = at, now
        self.retry_at = None
        self._waited = False
        return at

    @property
    def lag(self) -> float:
        """How far the last frame's end is behind its arrival."""
        if self.last is None or self.arrived is None:
            return 0.0
        return self.arrived - self.last

    def at(self, now: float) -> float:
        """The time on the callee's timeline of something else at ``now`` (words, a timer)."""
        return now - self.lag

    def wall(self, at: float) -> float:
        """The loop's time when the timeline reaches ``at`` (to arm a timer)."""
        return at + self.lag

    def overdue(self, now: float) -> bool:
        """No frame came for :data:`OVERDUE` (some may wait in the socket)."""
        return self.arrived is not None and now - self.arrived > OVERDUE + EPSILON

    def waits(self, now: float) -> bool:
        """A timer fires at ``now``: True if it waits a frame for the overdue ones first
        (until :attr:`retry_at`, or the next frame); once per gap between frames."""
        if self._waited or not self.overdue(now):
            self.retry_at = None
            return False
        self._waited = True
        self.retry_at = now + FRAME
        return True
