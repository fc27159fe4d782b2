"""The periodic stats line (sipgw/app/operations/stats.py): every counter, tick lateness,
the process."""

from __future__ import annotations

import asyncio
import json

import pytest

from sipgw.app.operations.counters import Counters
from sipgw.app.operations.stats import gateway_stats, log_stats_forever
from sipgw.media.aio.ticker import Ticker


class Source:
    def __init__(self) -> None:
        self.ticker = Ticker()
        self.now = Counters(calls=1, calls_total=3, dial_refused=2)

    def counters(self) -> Counters:
        return self.now


async def test_a_snapshot_has_every_counter_and_the_lateness_since_the_last() -> None:
    source = Source()
    source.ticker.lateness = [0.001 * n for n in range(1, 101)]  # 1 to 100 ms
    stats = gateway_stats(source)
    assert {k: stats[k] for k in Counters().as_dict()} == source.now.as_dict()
    assert stats["tick_late_p50_ms"] == 51.0 and stats["tick_late_p99_ms"] == 100.0
    assert stats["tick_late_max_ms"] == 100.0
    assert stats["tasks"] >= 1 and stats["rss_kb"] and stats["open_files"]
    again = gateway_stats(source)  # lateness is per interval
    assert again["tick_late_p99_ms"] == again["tick_late_max_ms"] == 0.0


async def test_the_line_is_logged_every_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="sipgw.stats")
    source = Source()
    task = asyncio.create_task(log_stats_forever(source, 0.05))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3.0
    while len(caplog.records) < 2:
        assert loop.time() < deadline, "no stats lines"
        await asyncio.sleep(0.02)
    task.cancel()
    first = caplog.records[0].getMessage()
    assert first.startswith("stats {")
    assert json.loads(first.removeprefix("stats "))["dial_refused"] == 2
