"""Overload protection: refuse new calls while the media ticker runs late or the CPU is full.

:class:`OverloadDetector` is sans-IO: it takes the ticker's wake-up lateness
samples (:meth:`~OverloadDetector.observe_lateness`) and the process's CPU time
(:meth:`~OverloadDetector.update`, with ``now``) and says whether the gateway is
overloaded. It enters the state when the p99 lateness over the last
``window`` seconds, or the CPU share over the last ``cpu_window`` seconds, crosses its *enter*
threshold; it leaves it only once both have stayed below their lower *recover*
thresholds for ``hold`` seconds (hysteresis: no flapping at the edge), or, with no call
in progress, as soon as the CPU is below its own.

It judges nothing before the gateway is *ready* (:meth:`~OverloadDetector.become_ready`:
its start-up work is done, just before it prints ``listening on``): ticks due before it
and the CPU spent before it were the start's, not the calls'. Lateness counts only with a call in
progress: a sample taken with no call up is not kept, and with none up now lateness
neither enters the state nor holds it (a busy machine with no call of ours up says
nothing about our calls; the next call's own ticks decide again). The CPU, the process's
own, is judged with or without calls: other processes do not raise it.

While overloaded the gateway answers new INVITEs and OPTIONS probes 503 with
``Retry-After`` (a dispatcher in front, e.g. Kamailio's, then sends traffic
elsewhere); calls already up are untouched. Each refused INVITE is logged by
:class:`OverloadRefusals` (one line per source address a minute, with the figures).
The gateway drives the detector (:mod:`sipgw.app.gateway`); its settings are the
``overload`` section (:class:`~sipgw.app.operations.settings.OverloadConfig`);
:func:`watch_overload` runs the detector
in the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sized
from dataclasses import dataclass

from sipgw.aio.sourcelog import SourceLog
from sipgw.app.operations.settings import OverloadConfig
from sipgw.sip.events import InviteRefusedForOverload

__all__ = [
    "OverloadDetector",
    "OverloadRefusals",
    "OverloadState",
    "start_watching",
    "watch_overload",
]

log = logging.getLogger("sipgw.overload")


@dataclass(frozen=True, slots=True)
class OverloadState:
    """A change of state, with the figures that caused it."""

    overloaded: bool
    lateness_p99_ms: float
    cpu_percent: float
    retry_after: int
    calls: int = 0
    """Calls in progress (ticked by the media ticker) at the decision."""


class OverloadDetector:
    """Decides, from lateness samples and CPU time, whether new calls are refused.

    Args:
        config: the thresholds.
        now: the current time (seconds, any monotonic clock).
        cpu_seconds: the process's CPU time at ``now``.
        ready: whether the gateway is ready already; False (the gateway's) judges nothing
            until :meth:`become_ready`.
    """

    def __init__(
        self, config: OverloadConfig, now: float, cpu_seconds: float, *, ready: bool = True
    ) -> None:
        self.config = config
        self.ready = ready
        """Whether start-up is over (before it, no sample is kept and nothing is judged)."""
        self._ready_at = -math.inf if ready else math.inf
        self.overloaded = False
        self.changes = 0
        """How many times the state changed."""
        self.lateness_p99_ms = 0.0
        self.cpu_percent = 0.0
        self.calls = 0
        """Calls in progress at the last decision."""
        self._samples: deque[tuple[float, float]] = deque()
        self._cpu: deque[tuple[float, float]] = deque([(now, cpu_seconds)])
        self._calm_since: float | None = None

    @property
    def retry_after(self) -> int | None:
        """The Retry-After to refuse new calls with, or None when they are welcome."""
        return self.config.retry_after if self.overloaded else None

    def become_ready(self, now: float, cpu_seconds: float) -> None:
        """The gateway's start-up work is done at ``now``: judge from here on, on samples
        and CPU time from here on (the start's are dropped)."""
        self.ready = True
        self._ready_at = now
        self._samples.clear()
        self._cpu = deque([(now, cpu_seconds)])

    def observe_lateness(self, now: float, seconds: float, calls: int) -> None:
        """One ticker wake-up's delay (seconds) at ``now``, with ``calls`` in progress.

        Kept only with a call in progress, and for a tick that was due once ready (the
        first wake-up after ready may report a stall of the start-up work before it);
        never when protection is off (nothing would ever trim the samples, 50 a second
        for the gateway's life).
        """
        if calls > 0 and now - seconds >= self._ready_at and self.config.enabled:
            self._samples.append((now, seconds))

    def update(self, now: float, cpu_seconds: float, calls: int) -> OverloadState | None:
        """Re-decide at ``now`` with ``calls`` in progress; returns the new state if it
        changed, else None (always None before ready)."""
        if not self.ready:
            return None
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
        self.calls = calls
        self.lateness_p99_ms = _p99([late for _, late in samples]) * 1000
        (t0, c0), (t1, c1) = cpu[0], cpu[-1]
        self.cpu_percent = 100 * (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
        late_on = config.lateness_ms > 0 and calls > 0  # lateness alone never, with no call
        # The CPU share of a span shorter than half the window is not judged: the first
        # decision after ready may come a millisecond after it (its timer was due during
        # the start-up work), and a millisecond of printing "listening on" is 100 %.
        cpu_on = config.cpu_percent > 0 and t1 - t0 >= config.cpu_window / 2
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
        # The hold keeps calls in progress from flapping at the edge; with none up, waiting
        # it out would refuse calls on the lateness of calls that have ended.
        if calls > 0 and now - self._calm_since < config.hold:
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
            self.calls,
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
    calls: Callable[[], int],
    interval: float = UPDATE_INTERVAL,
) -> None:
    """Re-decide every ``interval`` s (monotonic clock, process CPU time, ``calls()`` in
    progress) until cancelled.

    On each change, log a line and call ``apply`` with the Retry-After to refuse new
    calls with, or None once they are welcome again.
    """
    while True:
        await asyncio.sleep(interval)
        change = detector.update(time.monotonic(), time.process_time(), calls())
        if change is None:
            continue
        if change.overloaded:
            log.warning(
                "overloaded (p99 tick lateness %.1f ms, CPU %.0f%%, %d call(s) up): new calls "
                "get 503 with Retry-After %d",
                change.lateness_p99_ms, change.cpu_percent, change.calls, change.retry_after,
            )  # fmt: skip
        else:
            log.warning(
                "overload over (p99 tick lateness %.1f ms, CPU %.0f%%, %d call(s) up): taking "
                "new calls",
                change.lateness_p99_ms, change.cpu_percent, change.calls,
            )  # fmt: skip
        apply(change.retry_after if change.overloaded else None)


def start_watching(
    detector: OverloadDetector, apply: Callable[[int | None], None], ticker: Sized
) -> list[asyncio.Task[None]]:
    """Log what the protection does (its start-up line); when it is on, start
    :func:`watch_overload` with the calls ``ticker`` paces as the calls in progress.
    Returns the task started, if any."""
    log.info("%s", detector.config.describe())
    if not detector.config.enabled:
        return []
    watch = watch_overload(detector, apply, ticker.__len__)
    return [asyncio.get_running_loop().create_task(watch, name="overload")]


class OverloadRefusals:
    """Logs the INVITEs refused for overload, with the figures that refused them: at most
    one line per source address per ``interval`` (the next one says how many were not
    logged since), as the access refusals are (:class:`~sipgw.aio.sourcelog.SourceLog`).

    Args:
        out: where the lines go (default: the ``sipgw.overload`` logger).
        interval: seconds between two lines about the same address.
        max_sources: addresses tracked at once (beyond: one summing-up line per interval).
    """

    def __init__(
        self, out: logging.Logger = log, interval: float = 60.0, max_sources: int = 4096
    ) -> None:
        self._lines = SourceLog(
            out,
            interval,
            max_sources,
            "overload: refused INVITEs from more than %(max_sources)d addresses "
            "(%(count)d not logged)",
        )

    def record(
        self, event: InviteRefusedForOverload, now: float, detector: OverloadDetector
    ) -> None:
        """Log one refusal at ``now`` unless its source was logged in the last interval."""
        host, port = event.source
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._lines.warn(
            host, now,
            "overload: refused INVITE from %s (From %s): 503, Retry-After %d; p99 tick "
            "lateness %.1f ms, CPU %.0f%%, %d call(s) up",
            where, event.caller, detector.config.retry_after, detector.lateness_p99_ms,
            detector.cpu_percent, detector.calls,
        )  # fmt: skip
