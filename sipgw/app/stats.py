"""The periodic ``stats {json}`` log line: what an operator (or a benchmark) watches."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sipgw.app.gateway import Gateway

__all__ = ["gateway_stats", "log_stats_forever"]

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


def gateway_stats(gateway: Gateway) -> dict[str, Any]:
    """A snapshot; tick lateness covers the time since the previous snapshot."""
    lateness = gateway.ticker.drain_lateness()
    totals = gateway.media_totals()
    return {
        "calls": len(gateway.handles),
        "calls_total": gateway.calls_total,
        "rtp_ports_in_use": gateway.ports.in_use,
        "ticks": gateway.ticker.ticks,
        "ticks_skipped": gateway.ticker.skipped,
        "tick_late_p50_ms": round(_percentile(lateness, 0.50) * 1000, 3),
        "tick_late_p99_ms": round(_percentile(lateness, 0.99) * 1000, 3),
        "tick_late_max_ms": round(max(lateness, default=0.0) * 1000, 3),
        **totals,
        "early_sends": gateway.early_sends,
        "tasks": len(asyncio.all_tasks()),
        "rss_kb": _proc_status_kb("VmRSS"),
        "open_files": _open_files(),
    }


async def log_stats_forever(gateway: Gateway, interval: float) -> None:
    """Log :func:`gateway_stats` every ``interval`` seconds."""
    gateway.ticker.drain_lateness()
    while True:
        await asyncio.sleep(interval)
        log.info("stats %s", json.dumps(gateway_stats(gateway), separators=(",", ":")))
