"""Clock arithmetic of the shared media ticker.

The ticker that paces every call's outbound audio owns one :class:`Pacer`.
Deadline ``n`` is always computed as ``start + n * interval`` from integers,
never by adding ``interval`` to the previous deadline, so neither floating
point error nor a late wake-up shifts later deadlines (design.md "Timing
rules"). The adapter's loop is::

    while True:
        await sleep_until(pacer.next_deadline())
        run, skipped = pacer.due(loop.time())
        for call in calls:
            call.sender.skip(skipped)   # keep RTP timestamps on wall time
        for _ in range(run):
            tick()                      # one frame in, one frame out per call

After a stall (a blocked loop, a suspended VM), the deadlines that passed are
either run back to back (at most ``max_catch_up`` of them, so that the
receivers' jitter buffers absorb a short hiccup without a gap) or skipped.
"""

from __future__ import annotations

__all__ = ["Pacer"]


class Pacer:
    """Absolute-deadline tick counter.

    Args:
        start: time of deadline 0, in the adapter's clock (``loop.time()``).
        interval: seconds between deadlines (20 ms: one G.711 frame).
        max_catch_up: most late ticks :meth:`due` asks to run at once.
    """

    __slots__ = ("_interval", "_max_catch_up", "_n", "_start")

    def __init__(self, start: float, interval: float = 0.020, max_catch_up: int = 5) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if max_catch_up < 1:
            raise ValueError("max_catch_up must be at least 1")
        self._start = start
        self._interval = interval
        self._max_catch_up = max_catch_up
        self._n = 0

    @property
    def ticks(self) -> int:
        """Number of deadlines processed so far (run or skipped)."""
        return self._n

    @property
    def interval(self) -> float:
        """Seconds between deadlines."""
        return self._interval

    def next_deadline(self) -> float:
        """Return the next unprocessed deadline, ``start + n * interval``."""
        return self._start + self._n * self._interval

    def due(self, now: float) -> tuple[int, int]:
        """Consume every deadline at or before ``now``.

        Returns:
            ``(run, skipped)``: run ``run`` ticks now, back to back (0 when
            ``now`` is before the next deadline, 1 when on time, up to
            ``max_catch_up`` after a stall), after advancing the outbound
            timestamps by ``skipped`` ticks that will not be run. The skipped
            ticks are the oldest ones, so the last tick run is the latest
            deadline.
        """
        start = self._start
        interval = self._interval
        n = self._n
        if now < start + n * interval:
            return 0, 0
        # Index of the last deadline at or before now; the division may be
        # off by one in floating point, so settle it on the deadlines
        # themselves.
        last = int((now - start) // interval)
        if start + (last + 1) * interval <= now:
            last += 1
        elif start + last * interval > now:  # pragma: no cover - rounding guard, not seen in tests
            last -= 1
        behind = last - n + 1
        self._n = last + 1
        run = behind if behind <= self._max_catch_up else self._max_catch_up
        return run, behind - run

    def lateness(self, now: float) -> float:
        """Return how late ``now`` is relative to the deadline processed last.

        0.0 before any deadline was processed.
        """
        if self._n == 0:
            return 0.0
        return now - (self._start + (self._n - 1) * self._interval)

    def time_until_next(self, now: float) -> float:
        """Return the seconds from ``now`` to the next deadline (never negative)."""
        delay = self.next_deadline() - now
        return delay if delay > 0.0 else 0.0
