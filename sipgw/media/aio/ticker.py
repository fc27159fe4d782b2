"""The one 20 ms ticker that paces every call's media (absolute deadlines)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from sipgw.media.pacer import Pacer

__all__ = ["TickParticipant", "Ticker"]

log = logging.getLogger("sipgw.media")

TIMER_SLACK = 0.001
"""Seconds before a deadline at which the ticker runs it rather than sleeping: uvloop's
timers and clock have a resolution of one millisecond."""


class TickParticipant(Protocol):
    """Something the ticker drives: one call's media."""

    def tick(self, now: float) -> None:
        """Do one 20 ms step (pull a caller frame, push an agent frame)."""

    def skip(self, ticks: int) -> None:
        """``ticks`` steps were dropped after a stall; advance clocks without sending."""


class Ticker:
    """Runs every participant once per interval, at ``start + n × interval``.

    Lateness never accumulates: a late wake-up runs the missed ticks back to
    back (up to the pacer's catch-up limit) and then skips the rest.

    Attributes:
        lateness: wake-up delays (seconds) since the last :meth:`drain_lateness`,
            at most :attr:`window` of them.
        on_lateness: if set, called with each wake-up's delay (seconds), e.g. to
            feed a metrics histogram; it must return at once.
        receive: if set, called with the time at each wake-up before any participant
            ticks: the batched RTP reader takes the datagrams waiting
            (media/aio/rtp_batch.py), so each jitter buffer has what came before its pull.
        heard: if set, called at each wake-up after ``receive`` and before any
            participant ticks: what listens to the caller's audio at arrival decides on
            what just came (the model voice detector's batch, agent/conversation/caller_audio.py),
            so a tick sends nothing it would have stopped.
        flush: if set, called at each wake-up after every participant ticked: the
            batched sender sends what the ticks queued.
    """

    window = 60_000

    def __init__(self, interval: float = 0.020) -> None:
        self.interval = interval
        self._participants: dict[int, TickParticipant] = {}
        self._snapshot: tuple[TickParticipant, ...] = ()
        # Their tick methods, bound once: the loop over the calls calls each without
        # looking the method up (1 % of the echo gateway's CPU at 300 calls).
        self._ticks: tuple[Callable[[float], None], ...] = ()
        self._task: asyncio.Task[None] | None = None
        self.lateness: list[float] = []
        self.on_lateness: Callable[[float], None] | None = None
        self.receive: Callable[[float], None] | None = None
        self.heard: Callable[[], None] | None = None
        self.flush: Callable[[], None] | None = None
        self.ticks = 0
        self.skipped = 0

    def add(self, participant: TickParticipant) -> None:
        """Start ticking a participant (from the next tick on)."""
        self._participants[id(participant)] = participant
        self._taken()

    def remove(self, participant: TickParticipant) -> None:
        """Stop ticking a participant."""
        if self._participants.pop(id(participant), None) is not None:
            self._taken()

    def _taken(self) -> None:
        self._snapshot = tuple(self._participants.values())
        self._ticks = tuple(participant.tick for participant in self._snapshot)

    def __len__(self) -> int:
        return len(self._participants)

    def start(self) -> None:
        """Start the ticker task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="media-ticker")

    async def stop(self) -> None:
        """Stop the ticker task."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def drain_lateness(self) -> list[float]:
        """The wake-up delays recorded since the last call (seconds)."""
        lateness, self.lateness = self.lateness, []
        return lateness

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        pacer = Pacer(loop.time(), self.interval)
        while True:
            deadline = pacer.next_deadline()
            delay = deadline - loop.time()
            if delay > TIMER_SLACK:
                await asyncio.sleep(delay)
            elif self.ticks:
                # Due already (behind, e.g. ticks longer than the interval): let the loop read
                # the sockets and run the SIP side first, or it might never run.
                await asyncio.sleep(0)
            # uvloop keeps time in whole milliseconds and rounds timers to them, so a wake-up
            # can come up to a millisecond before the deadline; counted as on time (sleeping
            # again for the rest would spin until the clock's next millisecond, and each of
            # those wake-ups would dilute the lateness samples the overload detector reads).
            now = max(loop.time(), deadline)
            late = now - deadline
            if len(self.lateness) < self.window:
                self.lateness.append(late)
            if self.on_lateness is not None:
                self.on_lateness(late)
            ticks, skipped = pacer.due(now)
            # In a method of its own, so that no local variable of this
            # long-lived frame keeps an ended call alive until the next tick.
            self._tick_all(now, ticks, skipped)

    def _tick_all(self, now: float, ticks: int, skipped: int) -> None:
        if self.receive is not None:
            try:
                self.receive(now)
            except Exception:  # the calls still tick on what their buffers hold
                log.exception("reading RTP failed")
        if self.heard is not None:
            try:
                self.heard()
            except Exception:  # the calls tick on
                log.exception("judging the caller audio that came failed")
        if skipped:
            self.skipped += skipped
            for participant in self._snapshot:
                participant.skip(skipped)
        for _ in range(ticks):
            self.ticks += 1
            # Read again for each tick of a catch-up: one removed meanwhile is not ticked again.
            for tick in self._ticks:
                try:
                    tick(now)
                except Exception:  # one broken call must not stop the others
                    log.exception("media tick failed; dropping that call's media")
                    self._remove_ticking(tick)
        if self.flush is not None:
            try:
                self.flush()
            except Exception:  # the next tick sends again
                log.exception("sending RTP failed")

    def _remove_ticking(self, tick: Callable[[float], None]) -> None:
        for participant in self._snapshot:
            if participant.tick == tick:
                self.remove(participant)
                return
