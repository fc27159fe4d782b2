"""How often one address may get the admin token wrong; sans-IO.

The admin token guards everything the admin server can do (hang up calls, place
them). A token is long and random, but nothing should let an address try them at
line rate: each address gets :attr:`LoginThrottle.burst` wrong tries, refilled
one per :attr:`LoginThrottle.refill_seconds`; with none left it is told to wait
(429 with Retry-After) before its next try is even checked, right or wrong.
A right token costs nothing. At most ``max_sources`` addresses are remembered
(the least recently seen forgotten first), so a scan from many addresses
cannot grow memory; behind a reverse proxy every browser shares the proxy's
address, and so its tries.
"""

from __future__ import annotations

import math
from collections import OrderedDict

__all__ = ["MAX_TOKEN_LENGTH", "MIN_TOKEN_LENGTH", "LoginThrottle"]

MAX_TOKEN_LENGTH = 256
"""The longest token checked at all; a longer one is wrong without being compared."""

MIN_TOKEN_LENGTH = 16
"""The shortest token the start accepts: 16 random characters of base64url hold 96 bits,
out of reach of an address that gets a try every 12 s (and of a million addresses)."""


class LoginThrottle:
    """Wrong-token tries per address (see the module docstring).

    Args:
        burst: wrong tries an address has before it must wait.
        refill_seconds: seconds that give back one try.
        max_sources: addresses remembered at most.
    """

    def __init__(
        self, burst: int = 5, refill_seconds: float = 12.0, max_sources: int = 4096
    ) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.max_sources = max_sources
        self.refused = 0
        """Tries refused unchecked because their address had none left."""
        self._tries: OrderedDict[str, tuple[float, float]] = OrderedDict()  # left, stamp

    def _left(self, source: str, now: float) -> float:
        entry = self._tries.get(source)
        if entry is None:
            return float(self.burst)
        left, stamp = entry
        return min(float(self.burst), left + max(0.0, now - stamp) / self.refill_seconds)

    def wait(self, source: str, now: float) -> int:
        """Seconds ``source`` must wait before a try is checked; 0 = it may try now."""
        left = self._left(source, now)
        if left >= 1.0:
            return 0
        self.refused += 1
        return max(1, math.ceil((1.0 - left) * self.refill_seconds))

    def failed(self, source: str, now: float) -> None:
        """``source`` got the token wrong: one try fewer."""
        self._tries[source] = (max(0.0, self._left(source, now) - 1.0), now)
        self._tries.move_to_end(source)
        while len(self._tries) > self.max_sources:
            self._tries.popitem(last=False)
