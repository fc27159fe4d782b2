"""The waits between a vendor client's attempts to reconnect or retry, sans-IO.

One :class:`Backoff` says how long to wait before each attempt: a first wait that grows by a
factor per attempt up to a cap (the speech-to-text reconnect, the LLM retry), or a list of
waits that ends (the speech-to-speech resume and recovery). The clients keep what is their
own (which failures are retried, for how long, what is reported) and ask it only for the
next wait: the attempt number and, for a client with a time window, the seconds left of it
go in, a wait comes out. It reads no clock and sleeps on none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits before attempts: ``first`` × ``factor`` ** attempt, at most ``cap``; or, when
    ``steps`` is given (:meth:`listed`), those waits in order and then no more attempts."""

    first: float = 0.0
    factor: float = 2.0
    cap: float = math.inf
    steps: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.first < 0 or self.factor < 1 or self.cap < 0 or any(s < 0 for s in self.steps):
            raise ValueError(f"a backoff's waits must not shrink below 0: {self}")

    @classmethod
    def listed(cls, *steps: float) -> Backoff:
        """A backoff of these waits, one per attempt, and no attempt after them."""
        return cls(steps=tuple(steps))

    @property
    def attempts(self) -> int | None:
        """How many attempts it allows (None: as many as the caller's window has room for)."""
        return len(self.steps) if self.steps else None

    def delay(self, attempt: int) -> float | None:
        """The wait before attempt ``attempt`` (0 = the first); None = no more attempts."""
        if attempt < 0:
            raise ValueError(f"attempt must not be negative, not {attempt}")
        if self.steps:
            return self.steps[attempt] if attempt < len(self.steps) else None
        return min(self.cap, self.first * self.factor**attempt)

    def within(self, attempt: int, left: float) -> float | None:
        """The wait before attempt ``attempt`` when ``left`` seconds remain of the window the
        attempts may use, cut short so that the last attempt starts at the window's end;
        None when nothing is left or there are no more attempts."""
        delay = self.delay(attempt)
        if delay is None or left <= 0:
            return None
        return min(delay, left)
