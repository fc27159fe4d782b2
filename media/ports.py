"""RTP port allocation from a configured range, sans-IO."""

from __future__ import annotations

from collections import deque

__all__ = ["PortAllocator"]


class PortAllocator:
    """Hands out even RTP ports (the odd port above is for RTCP, RFC 3550 §11).

    Ports are reused in round-robin order, so a port freed by a call that just
    ended is the last to be handed out again and stray packets of the old call
    do not land in a new one.

    Args:
        low: first port of the range (rounded up to even).
        high: last port of the range (inclusive).
    """

    def __init__(self, low: int, high: int) -> None:
        start = low + (low & 1)
        self._free: deque[int] = deque(range(start, high, 2))
        self._used: set[int] = set()
        self.capacity = len(self._free)

    def allocate(self) -> int | None:
        """An even port, or None when the range is exhausted."""
        if not self._free:
            return None
        port = self._free.popleft()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        """Give a port back (unknown ports are ignored)."""
        if port in self._used:
            self._used.remove(port)
            self._free.append(port)

    def quarantine(self, port: int) -> None:
        """A port we could not bind (another process has it): put it at the back."""
        self.release(port)

    @property
    def in_use(self) -> int:
        """How many ports are allocated."""
        return len(self._used)
