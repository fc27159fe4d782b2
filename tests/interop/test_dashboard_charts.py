"""The dashboard's charts over time in a real headless Chromium.

An in-process gateway (the echo agent) carries real calls from scripted phones; the hour
before them is filled in through the same methods the gateway feeds its figures with
(:class:`sipgw.app.operations.timeline.CallTimeline`, on a clock moved by hand; its
barge-ins and vendor errors through an agent's observer). Chromium loads ``/dashboard``
and the test checks that each of the six charts is drawn from ``/api/charts``: its SVG
paths and bars are there, with as many points as the figures have. Then the day view.

A screenshot of the charts goes to ``SIPGW_TEST_ARTIFACTS`` (default ``test-artifacts/``);
with ``SIPGW_DOCS_SCREENSHOTS=1`` to ``docs/images/dashboard-charts.png``, the picture
docs/operations.md shows: ``SIPGW_DOCS_SCREENSHOTS=1 scripts/test
tests/interop/test_dashboard_charts.py`` remakes it (docs/testing.md).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.evaluation.ports import free_port
from sipgw.app.gateway import Gateway
from sipgw.app.operations.timeline import CallTimeline
from tests.interop.test_dashboard_browser import artifacts
from tests.toolkit.browser import Browser
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMAGE = ROOT / "docs" / "images" / "dashboard-charts.png"
CHARTS = ("calls", "latency", "barge_ins", "outcomes", "mos", "vendor_errors")
OUTCOMES = ("remote-bye", "local-bye", "cancelled", "no-answer")
FIGURES = """Object.fromEntries([...document.querySelectorAll("figure.chart")].map(f => [
  f.dataset.chart, {
    drawn: Number(f.dataset.drawn),
    paths: [...f.querySelectorAll("path.series")].map(p => p.getAttribute("d").length),
    bars: [...f.querySelectorAll("rect")].map(r => Number(r.dataset.value)),
    series: [...f.querySelectorAll("[data-series]")].map(e => e.dataset.series),
  }]))"""
"""What each chart drew: points, its paths' lengths, its bars' values, its series."""


def an_hour_of_figures(gateway: Gateway, now: float) -> dict[str, int]:
    """Fill the 58 minutes before ``now``'s as an hour of traffic would (a fixed seed; the
    hour's first minute is left out, so the test may cross a minute's end); the totals
    given, and the minutes that had turns and ended calls."""
    timeline: CallTimeline = gateway.metrics.timeline
    first = (int(now // 60) - 58) * 60
    clock = [float(first)]
    timeline.clock = lambda: clock[0]
    rng = random.Random(54)
    totals = dict.fromkeys(
        ("barge_ins", "vendor_errors", "ended", "turn_minutes", "mos_minutes"), 0
    )
    up = 0
    try:
        for minute in range(58):
            clock[0] = first + minute * 60 + 5
            up = max(0, min(12, up + rng.choice((-2, -1, 0, 1, 1, 2))))
            timeline.calls_now(up)
            for _ in range(up):
                clock[0] += 0.5
                timeline.turn(rng.lognormvariate(6.5, 0.35))  # about 660 ms, a tail above
            totals["turn_minutes"] += up > 0
            ended = rng.randint(0, 3)
            totals["mos_minutes"] += ended > 0
            if rng.random() < 0.3:
                gateway.metrics.agent_observer.barge_in()
                totals["barge_ins"] += 1
            if minute in (23, 24, 41):
                gateway.metrics.agent_observer.service_error("tts", "timeout")
                totals["vendor_errors"] += 1
            for _ in range(ended):
                outcome = rng.choices(OUTCOMES, (8, 3, 1, 1))[0]
                timeline.call_ended(outcome, round(rng.uniform(3.9, 4.4), 2))
                totals["ended"] += 1
        timeline.calls_now(0)
    finally:
        timeline.clock = time.time
    return totals


def drawn(chart: str) -> str:
    """The JavaScript for the number of points or bars one chart drew."""
    return f"Number(document.querySelector('figure[data-chart=\"{chart}\"]')?.dataset.drawn ?? 0)"


async def test_the_dashboard_draws_its_charts_in_chromium(tmp_workdir: Path) -> None:
    async with running_gateway() as (gateway, new_phone):
        totals = an_hour_of_figures(gateway, time.time())
        phones = [await new_phone() for _ in range(3)]
        for phone in phones:
            assert (await phone.invite()).status == 200
        server = AdminServer(gateway, AdminSettings(port=free_port(), token=""))
        await server.start()
        try:
            async with Browser(tmp_workdir, width=1100, height=900) as browser:
                await browser.navigate(server.url + "/dashboard")
                await browser.wait_for(" && ".join(f"{drawn(c)} > 0" for c in CHARTS), 15)
                svg = await browser.evaluate(FIGURES)
                assert set(svg) == set(CHARTS)
                # a line a minute: the hour's points, and the three live calls now
                assert svg["calls"]["drawn"] == 60 and all(svg["calls"]["paths"])
                assert len(svg["latency"]["paths"]) == 2 and all(svg["latency"]["paths"])
                assert svg["latency"]["drawn"] == 2 * totals["turn_minutes"]  # p50 and p95
                assert set(svg["latency"]["series"]) == {"p50", "p95"}
                assert sum(svg["barge_ins"]["bars"]) == totals["barge_ins"]
                assert sum(svg["vendor_errors"]["bars"]) == totals["vendor_errors"]
                assert sum(svg["outcomes"]["bars"]) == totals["ended"]
                assert {"remote-bye"} <= set(svg["outcomes"]["series"]) <= set(OUTCOMES)
                assert svg["mos"]["drawn"] == totals["mos_minutes"] and all(svg["mos"]["paths"])
                now = await browser.evaluate(
                    "document.querySelector('figure[data-chart=\"calls\"] .chart-now').textContent"
                )
                assert now == "3"  # the calls up now
                shot = DOCS_IMAGE if os.environ.get("SIPGW_DOCS_SCREENSHOTS") else (
                    artifacts() / "dashboard-charts.png"
                )  # fmt: skip
                await browser.screenshot(shot, "#charts-section")
                assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                await browser.evaluate(
                    "document.querySelector('#chart-window button[data-window=\"day\"]').click()"
                )
                await browser.wait_for(
                    "document.getElementById('charts').dataset.window === 'day'", 10
                )
                day_bars = await browser.evaluate(
                    "[...document.querySelectorAll('figure[data-chart=\"outcomes\"] rect')]"
                    ".reduce((s, r) => s + Number(r.dataset.value), 0)"
                )
                assert day_bars == totals["ended"]  # the same calls, in ten-minute points
                assert not [line for line in browser.console if "charts" in line], browser.console
        finally:
            await server.stop()
            for phone in phones:
                await phone.hang_up()
