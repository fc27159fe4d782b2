"""The dashboard's charts over time: the gateway's own figures in per-minute buckets.

:class:`CallTimeline` keeps one :class:`Minute` per minute of the last day, in a ring of
:data:`MINUTES` (1,440) slots, so its memory is bounded whatever the traffic: a slot is
reused when its minute comes round again a day later. It is fed as things happen (no
work per packet):

- calls at once: :meth:`CallTimeline.calls_now` with the count of calls up, when one
  starts or ends; a minute without a change keeps the last count;
- end of turn to first audio: :meth:`CallTimeline.turn` per measured reply, into a
  log-scale histogram (:data:`LATENCY_EDGES_MS`, each bin 15 % wider than the one below),
  from which p50 and p95 are read (to within a bin: about 7 %);
- barge-ins and vendor (AI service) errors: :meth:`CallTimeline.barge_in`,
  :meth:`CallTimeline.vendor_error`;
- outcomes and MOS: :meth:`CallTimeline.call_ended` with the call's end reason and its
  estimated MOS (when it had media).

:meth:`CallTimeline.series` reads the last hour (60 points of a minute) or the last day
(144 points of ten minutes) as JSON-ready lists. The clock is given (Unix seconds), so
tests move it by hand.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "LATENCY_EDGES_MS",
    "MAX_OUTCOMES",
    "MINUTES",
    "WINDOWS",
    "CallTimeline",
    "Minute",
    "percentile",
]

MINUTES = 1440
"""Buckets kept: one a minute for a day."""
LATENCY_EDGES_MS: tuple[float, ...] = tuple(round(50 * 1.15**i, 1) for i in range(40))
"""Upper edges of the latency histogram's bins (50 ms to about 12 s; one bin above)."""
MAX_OUTCOMES = 12
"""Distinct outcomes one minute counts; more go to ``other``."""
Window = Literal["hour", "day"]
WINDOWS: dict[str, tuple[int, int]] = {"hour": (60, 1), "day": (144, 10)}
"""Each window's points and minutes per point."""


@dataclass(slots=True)
class Minute:
    """What one minute saw."""

    minute: int
    """Its start, in minutes since the Unix epoch."""
    calls_max: int = 0
    """The most calls up at once during it."""
    calls_last: int = 0
    """The calls up at its last change."""
    barge_ins: int = 0
    vendor_errors: int = 0
    ended: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    mos_sum: float = 0.0
    mos_count: int = 0
    latency: list[int] | None = None
    """Turns per latency bin (:data:`LATENCY_EDGES_MS`), once one is measured."""


def percentile(counts: list[int], share: float) -> float | None:
    """The latency (ms) below which ``share`` of the counted turns fall: the upper edge of
    the bin that holds it (the last bin, open above, says its lower edge); None without
    turns."""
    total = sum(counts)
    if not total:
        return None
    wanted = max(1, math.ceil(share * total))
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= wanted:
            edges = LATENCY_EDGES_MS
            return edges[index] if index < len(edges) else edges[-1]
    return LATENCY_EDGES_MS[-1]  # pragma: no cover (seen reaches total)


class CallTimeline:
    """The last day's figures, a bucket a minute (see the module's docstring).

    Args:
        clock: the wall clock, Unix seconds.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._slots: list[Minute | None] = [None] * MINUTES
        self._level = 0

    def _minute(self) -> Minute:
        """The bucket of the current minute (a day-old one in its slot is reset)."""
        minute = int(self.clock() // 60)
        slot = self._slots[minute % MINUTES]
        if slot is None or slot.minute != minute:
            slot = Minute(minute, calls_max=self._level, calls_last=self._level)
            self._slots[minute % MINUTES] = slot
        return slot

    def calls_now(self, count: int) -> None:
        """``count`` calls are up now."""
        self._level = max(0, count)
        bucket = self._minute()
        bucket.calls_last = self._level
        bucket.calls_max = max(bucket.calls_max, self._level)

    def turn(self, first_audio_ms: float) -> None:
        """A reply's first audio went out ``first_audio_ms`` after the caller's turn ended."""
        if not math.isfinite(first_audio_ms) or first_audio_ms < 0:
            return
        bucket = self._minute()
        if bucket.latency is None:
            bucket.latency = [0] * (len(LATENCY_EDGES_MS) + 1)
        bucket.latency[bisect.bisect_left(LATENCY_EDGES_MS, first_audio_ms)] += 1

    def barge_in(self) -> None:
        """The caller interrupted a reply."""
        self._minute().barge_ins += 1

    def vendor_error(self) -> None:
        """An AI service failed."""
        self._minute().vendor_errors += 1

    def call_ended(self, outcome: str, mos: float | None) -> None:
        """A call ended with ``outcome`` (its end reason) and ``mos`` (None: no media)."""
        bucket = self._minute()
        bucket.ended += 1
        name = outcome or "unknown"
        if name not in bucket.outcomes and len(bucket.outcomes) >= MAX_OUTCOMES:
            name = "other"
        bucket.outcomes[name] = bucket.outcomes.get(name, 0) + 1
        if mos is not None and math.isfinite(mos):
            bucket.mos_sum += mos
            bucket.mos_count += 1

    def _buckets(self, first: int, last: int) -> Iterable[tuple[int, Minute | None]]:
        for minute in range(first, last + 1):
            slot = self._slots[minute % MINUTES]
            yield minute, slot if slot is not None and slot.minute == minute else None

    def series(self, window: Window = "hour") -> dict[str, Any]:
        """The figures of the last hour or day, oldest point first.

        Returns ``{"window", "step_s", "now", "points": [...]}``; each point has ``t``
        (its start, Unix seconds), ``calls`` (most at once), ``p50_ms`` and ``p95_ms`` (end
        of turn to first audio; None without turns), ``turns``, ``barge_ins``,
        ``vendor_errors``, ``ended``, ``outcomes`` (end reason to count) and ``mos`` (the
        mean of the calls that ended with media; None without).
        """
        points, step = WINDOWS[window]
        now_minute = int(self.clock() // 60)
        last = now_minute - now_minute % step + step - 1  # the end of the current point
        first = last - points * step + 1
        level = self._level_before(first)
        out: list[dict[str, Any]] = []
        for start in range(first, last + 1, step):
            calls = level
            latency = [0] * (len(LATENCY_EDGES_MS) + 1)
            point: dict[str, Any] = {"t": start * 60, "barge_ins": 0, "vendor_errors": 0,
                                     "ended": 0, "outcomes": {}}  # fmt: skip
            mos_sum, mos_count = 0.0, 0
            for minute, bucket in self._buckets(start, start + step - 1):
                if minute > now_minute:
                    break
                if bucket is None:
                    calls = max(calls, level)
                    continue
                calls = max(calls, bucket.calls_max)
                level = bucket.calls_last
                point["barge_ins"] += bucket.barge_ins
                point["vendor_errors"] += bucket.vendor_errors
                point["ended"] += bucket.ended
                for name, count in bucket.outcomes.items():
                    point["outcomes"][name] = point["outcomes"].get(name, 0) + count
                mos_sum, mos_count = mos_sum + bucket.mos_sum, mos_count + bucket.mos_count
                if bucket.latency is not None:
                    latency = [a + b for a, b in zip(latency, bucket.latency, strict=True)]
            point["calls"] = calls if start <= now_minute else None
            point["turns"] = sum(latency)
            point["p50_ms"] = percentile(latency, 0.50)
            point["p95_ms"] = percentile(latency, 0.95)
            point["mos"] = round(mos_sum / mos_count, 2) if mos_count else None
            out.append(point)
        return {"window": window, "step_s": step * 60, "now": self.clock(), "points": out}

    def _level_before(self, first: int) -> int:
        """The calls up when minute ``first`` began: the last count before it that the
        ring still holds (0 when none)."""
        kept = [slot for slot in self._slots if slot is not None]
        if not kept:
            return self._level  # nothing changed for a day
        before = [slot for slot in kept if slot.minute < first]
        return max(before, key=lambda slot: slot.minute).calls_last if before else 0
