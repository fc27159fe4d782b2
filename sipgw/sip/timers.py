"""SIP timers: the RFC values and the one heap every deadline of an endpoint lives in.

:class:`TimerValues` holds T1, T2 and T4 and derives the others (RFC 3261 §17
and Table 4, RFC 6026 §8.4). :class:`TimerHeap` is where the transaction layer
and the user agent's dialog usages arm their deadlines; its earliest deadline is
what ``get_timer()`` reports to the adapter, and ``handle_timer(now)`` fires
what is due. Entries are typed callbacks cancelled through their handle.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["T1", "T2", "T4", "Timer", "TimerCallback", "TimerHeap", "TimerValues"]

T1 = 0.5
"""RTT estimate, seconds."""
T2 = 4.0
"""Maximum retransmit interval for non-INVITE requests and INVITE responses."""
T4 = 5.0
"""Maximum duration a message remains in the network."""


@dataclass(frozen=True, slots=True)
class TimerValues:
    """The base timers; every other timer derives from them (RFC 3261 Table 4).

    Attributes:
        t1: RTT estimate (default 500 ms).
        t2: retransmission interval cap (default 4 s).
        t4: message lifetime in the network (default 5 s).
    """

    t1: float = T1
    t2: float = T2
    t4: float = T4

    @property
    def b(self) -> float:
        """Timer B: INVITE client transaction timeout (64·T1)."""
        return 64 * self.t1

    @property
    def f(self) -> float:
        """Timer F: non-INVITE client transaction timeout (64·T1)."""
        return 64 * self.t1

    @property
    def h(self) -> float:
        """Timer H: wait for the ACK of a non-2xx final response (64·T1)."""
        return 64 * self.t1

    @property
    def j(self) -> float:
        """Timer J: absorb non-INVITE request retransmissions, unreliable (64·T1)."""
        return 64 * self.t1

    @property
    def l(self) -> float:  # noqa: E743 - the RFC's name
        """Timer L: INVITE server 'Accepted' state lifetime (RFC 6026, 64·T1)."""
        return 64 * self.t1

    @property
    def m(self) -> float:
        """Timer M: INVITE client 'Accepted' state lifetime (RFC 6026, 64·T1)."""
        return 64 * self.t1

    @property
    def d(self) -> float:
        """Timer D: absorb final-response retransmissions over UDP (at least 32 s)."""
        return max(32.0, 64 * self.t1)


TimerCallback = Callable[[float], None]
"""What a timer runs when it fires; it receives ``now``."""


class Timer:
    """One deadline in a :class:`TimerHeap`; the handle to cancel it with.

    Attributes:
        deadline: when it fires (the clock of the ``now`` values passed in).
        callback: what it runs; None once it fired or was cancelled.
    """

    __slots__ = ("callback", "deadline")

    def __init__(self, deadline: float, callback: TimerCallback) -> None:
        self.deadline = deadline
        self.callback: TimerCallback | None = callback

    @property
    def armed(self) -> bool:
        """Whether it will still fire."""
        return self.callback is not None


class TimerHeap:
    """Every deadline of one SIP endpoint: transactions and dialog usages alike.

    Entries are ordered by deadline, then by arming order. A cancelled entry
    stays in the heap with its callback dropped (so nothing it referred to is
    kept alive) and is skipped when it reaches the top; when cancelled entries
    outnumber live ones the heap is rebuilt without them. A timer that fires
    drops its callback too, so an owner that keeps its :class:`Timer` handle
    (to cancel it later) keeps no reference cycle through it.
    """

    __slots__ = ("_cancelled", "_heap", "_seq")

    _COMPACT_MIN = 64
    """Below this many cancelled entries the heap is never rebuilt."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._cancelled = 0

    def __len__(self) -> int:
        """How many timers are armed."""
        return len(self._heap) - self._cancelled

    def schedule(self, deadline: float, callback: TimerCallback) -> Timer:
        """Arm ``callback`` to run at ``deadline``; returns the handle to cancel it."""
        timer = Timer(deadline, callback)
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, timer))
        return timer

    def cancel(self, timer: Timer | None) -> None:
        """Disarm a timer; a timer that already fired or was cancelled (or None) is ignored."""
        if timer is None or timer.callback is None:
            return
        timer.callback = None
        self._cancelled += 1
        if self._cancelled >= self._COMPACT_MIN and 2 * self._cancelled > len(self._heap):
            self._heap = [entry for entry in self._heap if entry[2].callback is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def next_deadline(self) -> float | None:
        """The earliest armed deadline, or None."""
        heap = self._heap
        while heap:
            entry = heap[0]
            if entry[2].callback is not None:
                return entry[0]
            heapq.heappop(heap)
            self._cancelled -= 1
        return None

    def pop_due(self, now: float) -> TimerCallback | None:
        """Disarm the earliest timer due at ``now`` and return its callback, or None."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            timer = heapq.heappop(heap)[2]
            callback = timer.callback
            if callback is None:
                self._cancelled -= 1
                continue
            timer.callback = None
            return callback
        return None

    def run(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first (timers armed meanwhile included)."""
        while (callback := self.pop_due(now)) is not None:
            callback(now)
