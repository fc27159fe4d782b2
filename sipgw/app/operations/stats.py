"""The periodic ``stats {json}`` log line: what an operator (or a benchmark) watches.

It reads the gateway through :class:`StatsSource` (the gateway implements it),
so this module does not import the gateway: the counters
(:class:`~sipgw.app.operations.counters.Counters`, logged as they are) and the ticker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any, Protocol

from sipgw.app.operations.counters import Counters
from sipgw.media.aio.ticker import Ticker

__all__ = ["StatsSource", "gateway_stats", "log_stats_forever"]


class StatsSource(Protocol):
    """What the stats line reads."""

    @property
    def ticker(self) -> Ticker:
        """The shared 20 ms ticker (ticks, skips, lateness)."""
        ...

    def counters(self) -> Counters:
        """Every counter now (calls, RTP, refusals, rate limits, transports, overload)."""
        ...


log = logging.getLogger("sipgw.stats")


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _open_files() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def gateway_stats(source: StatsSource) -> dict[str, Any]:
    """A snapshot; tick lateness covers the time since the previous snapshot."""
    ticker = source.ticker
    lateness = ticker.drain_lateness()
    return {
        **source.counters().as_dict(),
        "ticks": ticker.ticks,
        "ticks_skipped": ticker.skipped,
        "tick_late_p50_ms": round(_percentile(lateness, 0.50) * 1000, 3),
        "tick_late_p99_ms": round(_percentile(lateness, 0.99) * 1000, 3),
        "tick_late_max_ms": round(max(lateness, default=0.0) * 1000, 3),
        "tasks": len(asyncio.all_tasks()),
        "rss_kb": _proc_status_kb("VmRSS"),
        "open_files": _open_files(),
    }


async def log_stats_forever(source: StatsSource, interval: float) -> None:
    """Log :func:`gateway_stats` every ``interval`` seconds."""
    source.ticker.drain_lateness()
    while True:
        await asyncio.sleep(interval)
        log.info("stats %s", json.dumps(gateway_stats(source), separators=(",", ":")))
