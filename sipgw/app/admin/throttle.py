"""How often wrong admin tokens are answered as wrong; sans-IO.

The admin token guards everything the admin server can do (hang up calls, place
them). Its defence is its length: at least 96 random bits (:data:`MIN_TOKEN_LENGTH`),
out of reach at any rate a network carries. The throttle bounds what guessing costs
and makes it visible, and it never stands between the operator and the server:

- **The right token always passes.** Every token is compared (in constant time)
  before the throttle is asked, and a right one is let in whatever the throttle says.
  So a lockout cannot be used to lock the operator out, from another address or from
  the same one (behind a reverse proxy, or a NAT, that the attacker shares).
- **Wrong tokens only are locked out.** Each wrong token takes one try from its source
  (:attr:`LoginThrottle.burst` tries, one back every :attr:`LoginThrottle.refill_seconds`)
  and one from all sources together (:attr:`LoginThrottle.total_per_minute`, a bucket
  refilled at that rate), so many sources cannot guess without bound either. With either
  bucket empty a wrong token is answered 429 with Retry-After instead of 401, uncharged
  and unlogged (:attr:`LoginThrottle.refused` counts it).

What a guesser learns is what any guess tells it anyway: right (let in) or not (401 or
429); the lockout adds only that it is guessing too fast. A source is what
:func:`sipgw.app.admin.forwarded.client_address` says: the peer's address, or behind a
trusted reverse proxy the client's. At most ``max_sources`` sources are remembered (the
least recently charged forgotten first), so a scan from many addresses cannot grow memory.

Several gateways (or workers) share the buckets when :attr:`LoginThrottle.shared` is set: a
wrong token is then charged by :meth:`LoginThrottle.charge` in the shared store, which loads the
source's and the total's buckets (:meth:`LoginThrottle.set_buckets`), applies the same rule
and writes them back (:class:`sipgw.app.admin.sharedthrottle.SharedThrottle`).
"""

from __future__ import annotations

import hmac
import math
from collections import OrderedDict
from typing import Protocol

__all__ = [
    "MAX_TOKEN_LENGTH",
    "MIN_TOKEN_LENGTH",
    "Bucket",
    "LoginThrottle",
    "SharedBuckets",
    "token_matches",
]

Bucket = tuple[float, float]
"""A bucket as stored: tries left, and when that was so."""

MAX_TOKEN_LENGTH = 256
"""The longest token checked at all; a longer one is wrong without being compared."""

MIN_TOKEN_LENGTH = 16
"""The shortest token the start accepts: 16 random characters of base64url hold 96 bits;
a million guesses a second would take 10^15 years to try half of them."""


def token_matches(given: str, token: str, prefix: str = "") -> bool:
    """Whether ``given`` is ``prefix + token``, compared in constant time (a ``given``
    longer than :data:`MAX_TOKEN_LENGTH` allows is wrong without being compared)."""
    if not token or len(given) > len(prefix) + MAX_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(given.encode(), (prefix + token).encode())


class _Bucket:
    """Tries left, refilled at ``1 / refill_seconds`` per second up to ``burst``."""

    __slots__ = ("left", "stamp")

    def __init__(self, left: float, stamp: float) -> None:
        self.left = left
        self.stamp = stamp

    def level(self, burst: float, refill_seconds: float, now: float) -> float:
        return min(burst, self.left + max(0.0, now - self.stamp) / refill_seconds)


class LoginThrottle:
    """Wrong tokens per source and in all (see the module docstring).

    Args:
        burst: wrong tries a source has before its wrong tokens get 429.
        refill_seconds: seconds that give a source back one try.
        max_sources: sources remembered at most.
        total_per_minute: wrong tries all sources together have per minute (also the
            burst of that bucket).
    """

    def __init__(
        self,
        burst: int = 5,
        refill_seconds: float = 12.0,
        max_sources: int = 4096,
        total_per_minute: int = 60,
    ) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.max_sources = max_sources
        self.total_per_minute = total_per_minute
        self.refused = 0
        """Wrong tokens answered 429 (a source's lockout or the total's)."""
        self._sources: OrderedDict[str, _Bucket] = OrderedDict()
        self._total = _Bucket(float(total_per_minute), 0.0)
        self._total_refill = 60.0 / total_per_minute
        self.shared: SharedBuckets | None = None
        """Where the buckets are shared with other gateways (None: this process's)."""

    async def charge(self, source: str, now: float) -> int:
        """:meth:`wrong`, on the shared buckets when there are (:attr:`shared`)."""
        if self.shared is None:
            return self.wrong(source, now)
        return await self.shared.wrong(self, source)

    def buckets(self, source: str) -> tuple[Bucket | None, Bucket]:
        """``source``'s bucket (None: full, never charged or forgotten) and the total's."""
        entry = self._sources.get(source)
        mine = None if entry is None else (entry.left, entry.stamp)
        return mine, (self._total.left, self._total.stamp)

    def set_buckets(self, source: str, mine: Bucket | None, total: Bucket | None) -> None:
        """Take ``source``'s bucket and the total's from a shared store (None: full)."""
        if mine is None:
            self._sources.pop(source, None)
        else:
            self._sources[source] = _Bucket(*mine)
        self._total = _Bucket(*total) if total else _Bucket(float(self.total_per_minute), 0.0)

    def wait(self, source: str, now: float) -> int:
        """Seconds before a wrong token from ``source`` would be answered 401 again;
        0 = now. Nothing is charged: a right token does not ask."""
        entry = self._sources.get(source)
        mine = entry.level(self.burst, self.refill_seconds, now) if entry else float(self.burst)
        total = self._total.level(self.total_per_minute, self._total_refill, now)
        waits = [(1.0 - mine) * self.refill_seconds if mine < 1.0 else 0.0]
        waits.append((1.0 - total) * self._total_refill if total < 1.0 else 0.0)
        longest = max(waits)
        return max(1, math.ceil(round(longest, 6))) if longest > 0.0 else 0  # 3.0000000004 is 3

    def wrong(self, source: str, now: float) -> int:
        """A wrong token from ``source``: 0 when it is answered as wrong (401; one try
        fewer for the source and the total), else the seconds to wait (429; nothing
        charged, counted in :attr:`refused`)."""
        wait = self.wait(source, now)
        if wait:
            self.refused += 1
            return wait
        entry = self._sources.get(source)
        mine = entry.level(self.burst, self.refill_seconds, now) if entry else float(self.burst)
        self._sources[source] = _Bucket(mine - 1.0, now)
        self._sources.move_to_end(source)
        while len(self._sources) > self.max_sources:
            self._sources.popitem(last=False)
        total = self._total.level(self.total_per_minute, self._total_refill, now)
        self._total = _Bucket(total - 1.0, now)
        return 0


class SharedBuckets(Protocol):
    """The store a cluster's gateways keep the buckets in."""

    async def wrong(self, throttle: LoginThrottle, source: str) -> int:
        """:meth:`LoginThrottle.wrong` on the stored buckets (its own clock: wall time)."""
        ...
