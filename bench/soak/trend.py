"""Does a figure grow? A least-squares slope over time, with the calls up held apart.

A soak's figures move with its load: open files, tasks and RSS rise and fall with the
calls that are up, and churned calls make that count wobble. :func:`fit` fits
``value = a + b·t + c·calls`` by least squares (with a constant call count, ``value = a +
b·t``), so ``b``, the slope in time, is the growth at equal load: what a leak adds. The
growth over the window (``b`` × its length) is compared with a stated bound (:class:`Bound`:
an absolute floor and a share of the figure's mean, whichever is larger): only growth
fails, a figure that falls is fine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bound", "Fit", "Sample", "fit", "judge"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at a figure: when (s), its value, and the calls up then."""

    t: float
    value: float
    calls: float = 0.0


@dataclass(frozen=True, slots=True)
class Fit:
    """A figure's fitted trend over a window."""

    samples: int
    span_s: float
    mean: float
    first: float
    """The median of the first three samples."""
    last: float
    """The median of the last three samples."""
    slope_per_hour: float
    """``b`` of the fit, per hour, at equal calls."""
    per_call: float | None
    """``c`` of the fit: what one more call up adds (None when the count never changed)."""

    @property
    def growth(self) -> float:
        """What the slope adds over the window."""
        return self.slope_per_hour * self.span_s / 3600.0


@dataclass(frozen=True, slots=True)
class Bound:
    """The growth over the window a figure may show: ``floor`` or ``share`` of its mean,
    whichever is larger."""

    floor: float
    share: float = 0.0

    def limit(self, mean: float) -> float:
        """The bound for a figure of this mean."""
        return max(self.floor, self.share * abs(mean))

    def describe(self) -> str:
        """``≤ 4`` or ``≤ max(2048, 5 % of the mean)``."""
        if self.share <= 0:
            return f"≤ {self.floor:g}"
        return f"≤ max({self.floor:g}, {self.share * 100:g} % of the mean)"


def _median3(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def fit(samples: Sequence[Sample]) -> Fit | None:
    """The trend of ``samples`` (see the module docstring); None for fewer than three or
    all at one time."""
    n = len(samples)
    if n < 3:
        return None
    mt = sum(s.t for s in samples) / n
    mc = sum(s.calls for s in samples) / n
    mv = sum(s.value for s in samples) / n
    stt = sum((s.t - mt) ** 2 for s in samples)
    if stt <= 0:
        return None
    scc = sum((s.calls - mc) ** 2 for s in samples)
    stc = sum((s.t - mt) * (s.calls - mc) for s in samples)
    sty = sum((s.t - mt) * (s.value - mv) for s in samples)
    scy = sum((s.calls - mc) * (s.value - mv) for s in samples)
    det = stt * scc - stc * stc
    per_call: float | None
    if scc <= 0 or det <= 1e-9 * stt * scc:  # the calls never changed (or follow time)
        slope, per_call = sty / stt, None
    else:
        slope = (scc * sty - stc * scy) / det
        per_call = (stt * scy - stc * sty) / det
    ordered = sorted(samples, key=lambda s: s.t)
    return Fit(
        samples=n,
        span_s=ordered[-1].t - ordered[0].t,
        mean=mv,
        first=_median3([s.value for s in ordered[:3]]),
        last=_median3([s.value for s in ordered[-3:]]),
        slope_per_hour=slope * 3600.0,
        per_call=per_call,
    )


def judge(trend: Fit | None, bound: Bound) -> bool | None:
    """True when the growth over the window is within ``bound``; None without a fit."""
    if trend is None:
        return None
    return trend.growth <= bound.limit(trend.mean)
