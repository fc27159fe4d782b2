"""The soak's figures: each series' fitted growth against its bound, the calls' accounting,
the faults and restarts, the verdict; as JSON and as tables."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench._harness import fmt, format_table
from bench.soak.sampler import Look
from bench.soak.trend import Bound, Fit, Sample, fit, judge

__all__ = ["SERIES", "fit_series", "print_report"]

SERIES: tuple[tuple[str, str, Bound], ...] = (
    ("rss_kb", "calls", Bound(4096, 0.05)),
    ("live_objects", "calls", Bound(2000, 0.05)),
    ("fds", "calls", Bound(5)),
    ("threads", "calls", Bound(2)),
    ("tasks", "stats_calls", Bound(10)),
    ("tick_late_p99_ms", "stats_calls", Bound(5.0)),
    ("db_connections", "calls", Bound(2)),
    ("rows_webhook_outbox", "calls", Bound(10)),
    ("rows_calls_index_not_ended", "calls", Bound(5)),
)
"""Each fitted figure, the call count it is fitted beside, and its bound on the growth over
the window (the figure's growth at equal calls: :mod:`bench.soak.trend`)."""


def fit_series(looks: Sequence[Look], t0: float, t1: float) -> dict[str, dict[str, Any]]:
    """Each of :data:`SERIES` fitted over the looks in ``[t0, t1]``."""
    out: dict[str, dict[str, Any]] = {}
    inside = [look for look in looks if t0 <= look.t <= t1]
    for name, calls_key, bound in SERIES:
        samples = []
        for look in inside:
            value = look.figures.get(name)
            calls = look.figures.get(calls_key)
            if calls is None:
                calls = look.figures.get("stats_calls")
            if value is not None and calls is not None:
                samples.append(Sample(look.t - t0, float(value), float(calls)))
        trend: Fit | None = fit(samples)
        out[name] = {
            "samples": len(samples),
            "first": None if trend is None else round(trend.first, 3),
            "last": None if trend is None else round(trend.last, 3),
            "mean": None if trend is None else round(trend.mean, 3),
            "per_call": None
            if trend is None or trend.per_call is None
            else round(trend.per_call, 4),
            "slope_per_hour": None if trend is None else round(trend.slope_per_hour, 4),
            "growth_over_window": None if trend is None else round(trend.growth, 3),
            "bound": bound.describe(),
            "limit": None if trend is None else round(bound.limit(trend.mean), 3),
            "ok": judge(trend, bound),
        }
    return out


def print_report(data: dict[str, Any], where: str) -> None:
    """The tables, on stdout."""
    p = data["params"]
    load = data["load"]
    m = data["machine"]
    print(
        f"soak: {load['echo_calls']} echo + {load['assistant_calls']} assistant calls churned "
        f"(hold {p['hold']:g} s), {p['duration']:g} s; fits over "
        f"{fmt(data['window']['span_s'], '.0f')} s after {data['window']['warmup_s']:g} s warm-up"
    )
    print(
        f"machine: {m['cpu_model']}, {m['cores']} cores; load average at start "
        f"{m['loadavg_at_start']}, over the run {data['loadavg_1m']['min']}-"
        f"{data['loadavg_1m']['max']}, at the end {data['loadavg_at_end']}"
    )
    print()
    rows = []
    for name, s in data["growth"].items():
        rows.append(
            [
                name,
                fmt(s["first"], ".1f"),
                fmt(s["last"], ".1f"),
                fmt(s["per_call"], ".3f"),
                fmt(s["growth_over_window"], "+.2f"),
                s["bound"],
                {True: "ok", False: "GREW", None: "-"}[s["ok"]],
            ]
        )
    print(
        format_table(
            ["figure", "first", "last", "per call", "growth (fit)", "bound", "verdict"], rows
        )
    )
    print()
    acc = data["accounting"]
    by_line = _pairs(acc["by_line"])
    print(
        f"calls: {acc['calls']} placed ({by_line}), {acc['answered']} answered; outcomes: "
        + _pairs(acc["outcomes"])
    )
    print(
        f"events: {acc['events']} received once ({_pairs(acc['events_by_type'])}), "
        f"{acc['repeats']} again; lost {acc['lost']}, unaccounted {acc['unaccounted']}, "
        f"strangers {acc['strangers']}; stuck calls {data['stuck']['calls']}"
    )
    for user, lg in data["loadgen"].items():
        rx, setup = lg["rtp_rx"], lg["setup_ms"]
        print(
            f"{user} calls: setup p50 {fmt(setup['p50'], '.0f')} ms, p99 "
            f"{fmt(setup['p99'], '.0f')} ms; RTP back {rx['received']} of {rx['expected']} "
            f"(loss {fmt(rx['loss'])}); caller's pacing p99 {fmt(lg['pacing_ms']['p99'])} ms"
        )
    faults = Counter(f["fault"] for f in data["faults"]["applied"])
    print(
        f"faults: {sum(faults.values())} ("
        + _pairs(dict(faults))
        + f"); receiver down {fmt(data['restarts'].get('receiver_down_s'), '.1f')} s, "
        f"database restart {fmt(data['restarts'].get('database_restart_s'), '.1f')} s; "
        f"outbox rows at the end {fmt(data['end'].get('rows_webhook_outbox'))}, index rows "
        f"not ended {fmt(data['end'].get('rows_calls_index_not_ended'))}; gateway "
        f"calls at the end {fmt(data['end'].get('calls'))}"
    )
    v = data["verdict"]
    failed = [k for k, ok in v.items() if k != "ok" and ok is False]
    print(f"verdict: {'OK' if v['ok'] else 'FAILED: ' + ', '.join(failed)}")
    print(f"\nJSON: {where}")


def loadavg_range(looks: Sequence[Look]) -> dict[str, float | None]:
    """The 1-minute load average's lowest and highest over the looks."""
    values = [look.figures["loadavg_1m"] for look in looks if "loadavg_1m" in look.figures]
    return {"min": min(values, default=None), "max": max(values, default=None)}


def _pairs(counts: dict[str, Any]) -> str:
    """``a 1, b 2`` (sorted by key)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
