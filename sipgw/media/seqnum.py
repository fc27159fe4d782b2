"""Wrap-around arithmetic for RTP sequence numbers and timestamps.

RTP sequence numbers are 16-bit and timestamps 32-bit counters that wrap
(RFC 3550 §5.1). Comparing them uses serial number arithmetic (RFC 1982 §3.2):
``a`` is "greater" than ``b`` when it is ahead of ``b`` by less than half the
number space. Two values exactly half the space apart are not ordered, so both
``gt(a, b)`` and ``gt(b, a)`` are false for them.

:class:`Unwrapper` turns such a counter into an unbounded, monotonic ``int``
so that the rest of the media code can use plain integer arithmetic (for
example the jitter buffer keys its cells by the extended timestamp).
"""

from __future__ import annotations

__all__ = ["Unwrapper", "uint16_add", "uint16_gt", "uint32_add", "uint32_gt"]


def uint16_add(a: int, b: int) -> int:
    """Return ``a + b`` modulo 2**16 (``b`` may be negative)."""
    return (a + b) & 0xFFFF


def uint16_gt(a: int, b: int) -> bool:
    """Return whether 16-bit serial number ``a`` is after ``b`` (RFC 1982 §3.2)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


def uint32_add(a: int, b: int) -> int:
    """Return ``a + b`` modulo 2**32 (``b`` may be negative)."""
    return (a + b) & 0xFFFFFFFF


def uint32_gt(a: int, b: int) -> bool:
    """Return whether 32-bit serial number ``a`` is after ``b`` (RFC 1982 §3.2)."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


class Unwrapper:
    """Extend a wrapping ``bits``-bit counter to a monotonic ``int``.

    Each value is placed at the extension that is nearest to the previous
    value, so a counter that moves forward across the wrap keeps increasing,
    and a packet reordered back across the wrap (65535 arriving after 0) is
    placed just before its neighbours instead of a whole cycle later. The
    first value is returned unchanged; values before it may extend to
    negative numbers.

    Args:
        bits: width of the counter, 16 for RTP sequence numbers and 32 for
            RTP timestamps.
    """

    __slots__ = ("_half", "_last", "_mask", "_modulus", "_started")

    def __init__(self, bits: int) -> None:
        if bits < 2:
            raise ValueError("bits must be at least 2")
        self._modulus = 1 << bits
        self._mask = self._modulus - 1
        self._half = self._modulus >> 1
        self._last = 0
        self._started = False

    def unwrap(self, value: int) -> int:
        """Return the extended value of ``value`` and remember it."""
        if not self._started:
            self._started = True
            self._last = value & self._mask
            return self._last
        delta = (value - self._last) & self._mask
        if delta >= self._half:
            delta -= self._modulus
        self._last += delta
        return self._last

    def reset(self) -> None:
        """Forget the history: the next value is returned unchanged."""
        self._started = False
        self._last = 0

    @property
    def last(self) -> int | None:
        """The most recently returned extended value, or ``None`` before the first."""
        return self._last if self._started else None
