"""RTP port allocation from a configured range, sans-IO."""

from __future__ import annotations

import random
import secrets
from collections import deque

__all__ = ["PortAllocator"]


class PortAllocator:
    """Hands out even RTP ports (the odd port above is for RTCP, RFC 3550 §11), at random.

    A port is drawn uniformly from the free ports, so nobody who saw one call's
    port can tell the next call's (a third party guessing it could otherwise
    aim packets at a call before its caller's RTP arrives: "RTP bleed"). A port
    freed by a call that just ended cools down first: it is handed out again
    only after ``cooldown`` other ports were freed (or when nothing else is
    left), so stray packets of the old call do not land in a new one.

    Args:
        low: first port of the range (rounded up to even).
        high: last port of the range (inclusive).
        cooldown: ports freed most recently that are not handed out while
            others are free; default: half the range, at most 256.
        rng: random source (default: the operating system's).
    """

    def __init__(
        self,
        low: int,
        high: int,
        cooldown: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        start = low + (low & 1)
        self._free: list[int] = list(range(start, high, 2))
        self._index: dict[int, int] = {port: i for i, port in enumerate(self._free)}
        self._cooling: deque[int] = deque()
        self._used: set[int] = set()
        self.capacity = len(self._free)
        self.cooldown = min(256, self.capacity // 2) if cooldown is None else cooldown
        self._rng = rng or secrets.SystemRandom()

    def allocate(self) -> int | None:
        """A random even port, or None when the range is exhausted."""
        if self._free:
            port = self._take(self._rng.randrange(len(self._free)))
        elif self._cooling:
            port = self._cooling.popleft()  # the one freed longest ago
        else:
            return None
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        """Give a port back (unknown ports are ignored); it cools down first."""
        if port not in self._used:
            return
        self._used.remove(port)
        self._cooling.append(port)
        while len(self._cooling) > self.cooldown:
            self._put(self._cooling.popleft())

    def quarantine(self, port: int) -> None:
        """A port we could not bind (another process has it): it cools down like a freed one."""
        self.release(port)

    @property
    def in_use(self) -> int:
        """How many ports are allocated."""
        return len(self._used)

    def _take(self, i: int) -> int:
        """Remove the free port at index ``i`` (swap with the last: O(1))."""
        free, index = self._free, self._index
        port, last = free[i], free[-1]
        free[i] = last
        index[last] = i
        free.pop()
        del index[port]
        return port

    def _put(self, port: int) -> None:
        self._index[port] = len(self._free)
        self._free.append(port)
