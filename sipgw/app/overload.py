"""Overload protection: refuse new calls while the media ticker runs late or the CPU is full.

:class:`OverloadDetector` is sans-IO: it takes the ticker's wake-up lateness
samples (:meth:`~OverloadDetector.observe_lateness`) and the process's CPU time
(:meth:`~OverloadDetector.update`, with ``now``) and says whether the gateway is
overloaded. It enters the state when the p99 lateness over the last
``window`` seconds, or the CPU share over the last ``cpu_window`` seconds, crosses its *enter*
threshold; it leaves it only once both have stayed below their lower *recover*
thresholds for ``hold`` seconds (hysteresis: no flapping at the edge).

While overloaded the gateway answers new INVITEs and OPTIONS probes 503 with
``Retry-After`` (a dispatcher in front, e.g. Kamailio's, then sends traffic
elsewhere); calls already up are untouched. The gateway drives the detector
(:mod:`sipgw.app.gateway`); its settings are the ``overload`` section
(:class:`OverloadConfig`); :func:`watch_overload` runs the detector in the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from agent.sections import InvalidSettings, section, setting
from agent.sections.parsers import int_at_least, non_negative, positive

__all__ = [
    "OverloadConfig",
    "OverloadDetector",
    "OverloadState",
    "watch_overload",
]

log = logging.getLogger("sipgw.overload")


@section(
    "overload",
    title="Overload",
    intro="Overload protection: while the media ticker runs late or the process's CPU is full, "
    "new INVITEs and OPTIONS probes get 503 with Retry-After (a dispatcher in front sends "
    "traffic elsewhere); running calls go on. See docs/operations.md. Every one is also a "
    "flag of `sipgw serve`.",
)
@dataclass(frozen=True)
class OverloadConfig:
    """Thresholds of :class:`OverloadDetector`; a threshold of 0 turns that signal off."""

    lateness_ms: float = setting(
        10.0, env="SIPGW_OVERLOAD_LATENESS_MS", flag="--overload-lateness-ms", metavar="MS",
        parse=non_negative,
        help="Refuse new calls when the p99 lateness of the 20 ms media ticker over the window "
        "exceeds this many ms; 0 = do not watch lateness.",
    )  # fmt: skip
    recover_lateness_ms: float = setting(
        5.0, env="SIPGW_OVERLOAD_RECOVER_LATENESS_MS", flag="--overload-recover-lateness-ms",
        metavar="MS", parse=non_negative,
        help="Take calls again only once the p99 lateness stays below this many ms (for the "
        "hold time).",
    )  # fmt: skip
    cpu_percent: float = setting(
        90.0, env="SIPGW_OVERLOAD_CPU_PERCENT", flag="--overload-cpu-percent", metavar="PCT",
        parse=non_negative,
        help="Refuse new calls when the process's CPU over the CPU window exceeds this (% of "
        "one core); 0 = do not watch CPU.",
    )  # fmt: skip
    recover_cpu_percent: float = setting(
        75.0, env="SIPGW_OVERLOAD_RECOVER_CPU_PERCENT", flag="--overload-recover-cpu-percent",
        metavar="PCT", parse=non_negative,
        help="Take calls again only once the CPU stays below this (for the hold time).",
    )  # fmt: skip
    window: float = setting(
        5.0, env="SIPGW_OVERLOAD_WINDOW", flag="--overload-window", metavar="S", parse=positive,
        help="Seconds of ticker lateness each decision looks at (its p99).",
    )  # fmt: skip
    cpu_window: float = setting(
        1.0, env="SIPGW_OVERLOAD_CPU_WINDOW", flag="--overload-cpu-window", metavar="S",
        parse=positive,
        help="Seconds of CPU time each decision looks at (short: a burst of new calls shows "
        "before many more are let in).",
    )  # fmt: skip
    """Short, so that a burst of new calls is seen before many more are let in (a lateness
    p99 needs the longer window to ride out one stall; the CPU share does not)."""
    hold: float = setting(
        5.0, env="SIPGW_OVERLOAD_HOLD", flag="--overload-hold", metavar="S", parse=non_negative,
        help="Seconds both signals must stay below their recover thresholds before new calls "
        "are taken again.",
    )  # fmt: skip
    retry_after: int = setting(
        10, env="SIPGW_OVERLOAD_RETRY_AFTER", flag="--overload-retry-after", metavar="S",
        parse=int_at_least(1), help="Seconds in the Retry-After of an overload 503.",
    )  # fmt: skip

    def check(self) -> None:
        """A recover threshold must not be above its enter threshold (when that is on).

        Raises:
            InvalidSettings: one is.
        """
        if self.lateness_ms > 0 and self.recover_lateness_ms > self.lateness_ms:
            raise InvalidSettings("{recover_lateness_ms} must not exceed {lateness_ms}")
        if self.cpu_percent > 0 and self.recover_cpu_percent > self.cpu_percent:
            raise InvalidSettings("{recover_cpu_percent} must not exceed {cpu_percent}")

    @property
    def enabled(self) -> bool:
        """Whether any signal is watched."""
        return self.lateness_ms > 0 or self.cpu_percent > 0

    def describe(self) -> str:
        """One line for the start-up log."""
        if not self.enabled:
            return "overload protection off"
        late = f"p99 tick lateness > {self.lateness_ms:g} ms" if self.lateness_ms > 0 else ""
        cpu = f"CPU > {self.cpu_percent:g}%" if self.cpu_percent > 0 else ""
        enter = " or ".join(x for x in (late, cpu) if x)
        return (
            f"overload: new calls get 503 (Retry-After {self.retry_after}) when {enter} over "
            f"{self.window:g} s (CPU over {self.cpu_window:g} s); taken again after "
            f"{self.hold:g} s below "
            f"{self.recover_lateness_ms:g} ms / {self.recover_cpu_percent:g}%"
        )


@dataclass(frozen=True, slots=True)
class OverloadState:
    """A change of state, with the figures that caused it."""

    overloaded: bool
    lateness_p99_ms: float
    cpu_percent: float
    retry_after: int


class OverloadDetector:
    """Decides, from lateness samples and CPU time, whether new calls are refused.

    Args:
        config: the thresholds.
        now: the current time (seconds, any monotonic clock).
        cpu_seconds: the process's CPU time at ``now``.
    """

    def __init__(self, config: OverloadConfig, now: float, cpu_seconds: float) -> None:
        self.config = config
        self.overloaded = False
        self.changes = 0
        """How many times the state changed."""
        self.lateness_p99_ms = 0.0
        self.cpu_percent = 0.0
        self._samples: deque[tuple[float, float]] = deque()
        self._cpu: deque[tuple[float, float]] = deque([(now, cpu_seconds)])
        self._calm_since: float | None = None

    @property
    def retry_after(self) -> int | None:
        """The Retry-After to refuse new calls with, or None when they are welcome."""
        return self.config.retry_after if self.overloaded else None

    def observe_lateness(self, now: float, seconds: float) -> None:
        """One ticker wake-up's delay (seconds) at ``now`` (ignored when protection is off:
        nothing would ever trim the samples, 50 a second for the gateway's life)."""
        if self.config.enabled:
            self._samples.append((now, seconds))

    def update(self, now: float, cpu_seconds: float) -> OverloadState | None:
        """Re-decide at ``now``; returns the new state if it changed, else None."""
        config = self.config
        horizon = now - config.window
        samples = self._samples
        while samples and samples[0][0] < horizon:
            samples.popleft()
        cpu = self._cpu
        cpu.append((now, cpu_seconds))
        cpu_horizon = now - config.cpu_window
        while len(cpu) > 2 and cpu[1][0] <= cpu_horizon:
            cpu.popleft()
        self.lateness_p99_ms = _p99([late for _, late in samples]) * 1000
        (t0, c0), (t1, c1) = cpu[0], cpu[-1]
        self.cpu_percent = 100 * (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
        late_on = config.lateness_ms > 0
        cpu_on = config.cpu_percent > 0
        if not self.overloaded:
            hot = (late_on and self.lateness_p99_ms > config.lateness_ms) or (
                cpu_on and self.cpu_percent > config.cpu_percent
            )
            if not hot:
                return None
            self.overloaded = True
            self._calm_since = None
            return self._changed()
        calm = (not late_on or self.lateness_p99_ms < config.recover_lateness_ms) and (
            not cpu_on or self.cpu_percent < config.recover_cpu_percent
        )
        if not calm:
            self._calm_since = None
            return None
        if self._calm_since is None:
            self._calm_since = now
        if now - self._calm_since < config.hold:
            return None
        self.overloaded = False
        self._calm_since = None
        return self._changed()

    def _changed(self) -> OverloadState:
        self.changes += 1
        return OverloadState(
            self.overloaded,
            round(self.lateness_p99_ms, 3),
            round(self.cpu_percent, 1),
            self.config.retry_after,
        )


def _p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


UPDATE_INTERVAL = 0.25
"""Seconds between two decisions of the running gateway's detector."""


async def watch_overload(
    detector: OverloadDetector,
    apply: Callable[[int | None], None],
    interval: float = UPDATE_INTERVAL,
) -> None:
    """Re-decide every ``interval`` s (monotonic clock, process CPU time) until cancelled.

    On each change, log a line and call ``apply`` with the Retry-After to refuse new
    calls with, or None once they are welcome again.
    """
    while True:
        await asyncio.sleep(interval)
        change = detector.update(time.monotonic(), time.process_time())
        if change is None:
            continue
        if change.overloaded:
            log.warning(
                "overloaded (p99 tick lateness %.1f ms, CPU %.0f%%): new calls get 503 "
                "with Retry-After %d",
                change.lateness_p99_ms, change.cpu_percent, change.retry_after,
            )  # fmt: skip
        else:
            log.warning(
                "overload over (p99 tick lateness %.1f ms, CPU %.0f%%): taking new calls",
                change.lateness_p99_ms, change.cpu_percent,
            )  # fmt: skip
        apply(change.retry_after if change.overloaded else None)
