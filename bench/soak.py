"""Soak: a fixed number of calls, churned, for a long time; does anything grow?

    python -m bench.soak [--calls 100] [--hold 30] [--duration 600] [--warmup 60]

One gateway (echo agent) pinned to CPU 0; the load generator on CPU 1 keeps
``--calls`` calls up, each lasting ``--hold`` × U(0.5, 1.5) seconds and
replaced by a new call when it ends, for ``--duration`` seconds after the
ramp. The gateway's stats lines (RSS, open files, asyncio tasks, RTP ports in
use, calls) are compared between the start of the soak (after ``--warmup``)
and its end, at equal call counts, and between the idle gateway before the
first call and after the last; with the RSS trend (a least-squares slope)
over the soak.

RSS does not grow smoothly: objects of ended calls that sit in reference
cycles are only freed by the garbage collector's full (generation 2)
collections, so live memory is a sawtooth and RSS climbs to its high-water
mark in steps, then stays. A leak raises the high-water mark for ever; the
sawtooth does not. The gateway therefore runs with two probes (a
sitecustomize on its PYTHONPATH; ``--no-gc-probe``/``--mem-probe 0`` turn
them off): every full collection logs its pause and the objects it left
alive, and every ``--mem-probe`` seconds the live pymalloc blocks and gc
objects are logged. With two or more full collections in the soak, the
verdict compares what the first and the last one left alive (the live heap
at equal load; under 10 % growth passes, since the calls' own state varies);
otherwise it compares RSS high-water marks, the peak over the last third of
the soak against the peak over the middle third. Open files, tasks and ports
must be back to the same counts at equal call counts and when idle.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any

from bench._harness import (
    Gateway,
    GatewayOptions,
    StatsLine,
    add_run_options,
    fmt,
    format_table,
    log,
    machine_info,
    median,
    pin_self,
    run_loadgen,
    write_json,
)

RSS_GROWTH_LIMIT = 0.05
LIVE_GROWTH_LIMIT = 0.10
COUNTED = ("open_files", "tasks", "rtp_ports_in_use")


def slope_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (t seconds, value) points, per minute."""
    if len(points) < 3:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mt) * (v - mv) for t, v in points) / var * 60


def at_calls(lines: list[StatsLine], calls: int) -> dict[str, Any] | None:
    """Median of each counted figure over the lines with exactly ``calls`` calls."""
    same = [s.data for s in lines if s.data["calls"] == calls]
    if not same:
        return None
    out: dict[str, Any] = {"lines": len(same), "calls": calls}
    for key in (*COUNTED, "rss_kb"):
        out[key] = median(d[key] for d in same if d.get(key) is not None)
    return out


def idle_figures(lines: list[StatsLine]) -> dict[str, Any] | None:
    """The last idle (0 calls) line's figures."""
    idle = [s.data for s in lines if s.data["calls"] == 0]
    if not idle:
        return None
    last = idle[-1]
    return {k: last.get(k) for k in ("calls", *COUNTED, "rss_kb")}


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=100, help="concurrent calls (default 100)")
    p.add_argument("--hold", type=float, default=30.0, help="mean call length (s)")
    p.add_argument("--duration", type=float, default=600.0, help="soak after the ramp (s)")
    p.add_argument("--warmup", type=float, help="s before the start sample (default duration/5)")
    p.add_argument("--rate", type=float, default=20.0, help="calls per second in the ramp")
    p.add_argument("--compare-window", type=float, help="s averaged at each end (default 4 lines)")
    p.add_argument(
        "--mem-probe",
        type=float,
        default=10.0,
        metavar="S",
        help="every S s, log the gateway's live pymalloc blocks and gc objects (a "
        "sitecustomize in its PYTHONPATH); 0 = off (default 10)",
    )
    p.add_argument(
        "--gc-probe",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="log the gateway's full collections: pause and objects left alive (default on)",
    )
    add_run_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    warmup = args.warmup if args.warmup is not None else min(60.0, args.duration / 5)
    span = args.compare_window or 4 * args.stats_interval
    pin_self(args.loadgen_cpu)
    data: dict[str, Any] = {
        "tool": "soak",
        "params": {k: v for k, v in vars(args).items() if k != "json"} | {"warmup": warmup},
        "machine": machine_info(),
    }
    gw = Gateway(
        GatewayOptions(
            agent="echo",
            cpu=args.gateway_cpu,
            stats_interval=args.stats_interval,
            mem_probe=args.mem_probe,
            gc_probe=args.gc_probe,
        )
    )
    try:
        address = gw.start()
        data["gateway_command"] = gw.command
        gw.wait_stats(lambda d: d["calls"] == 0, 3 * args.stats_interval + 5)
        before = idle_figures(gw.stats)
        log(f"idle before: {before}")
        log(f"soak: {args.calls} calls, hold {args.hold:g} s, {args.duration:g} s")
        lg_args = [
            "--target", f"{address[0]}:{address[1]}", "--calls", str(args.calls), "--rate",
            f"{args.rate:g}", "--hold", f"{args.hold:g}", "--churn", "--duration",
            f"{args.duration:g}",
        ]  # fmt: skip
        run = run_loadgen(
            lg_args, cpu=args.loadgen_cpu, timeout=args.calls / args.rate + args.duration + 120
        )
        report = run.report
        t0, t1 = report["times"]["measure_start"], report["times"]["measure_end"]
        gw.wait_stats(lambda d: d["calls"] == 0, 60)
        settled = time.time()
        gw.wait_stats(lambda d: True, 3 * args.stats_interval)
        gw.wait_stats(lambda d: True, 3 * args.stats_interval)
        after = idle_figures([s for s in gw.stats if s.t >= settled])
        data["gateway_errors"] = gw.errors[:20]
    finally:
        gw.stop()

    start_lines = [s for s in gw.stats if t0 + warmup <= s.t <= t0 + warmup + span]
    end_lines = [s for s in gw.stats if t1 - span <= s.t <= t1]
    # compare at the call count seen most often in both windows (churn makes it wobble)
    counts = Counter(s.data["calls"] for s in start_lines) & Counter(
        s.data["calls"] for s in end_lines
    )
    equal = counts.most_common(1)[0][0] if counts else args.calls
    start = at_calls(start_lines, equal)
    end = at_calls(end_lines, equal)
    rss_start = median(s.data["rss_kb"] for s in start_lines)
    rss_end = median(s.data["rss_kb"] for s in end_lines)
    soak_lines = [s for s in gw.stats if t0 + warmup <= s.t <= t1]
    trend = slope_per_min([(s.t, float(s.data["rss_kb"])) for s in soak_lines])
    start_end = (rss_end - rss_start) / rss_start if rss_start and rss_end is not None else None
    third = len(soak_lines) // 3
    middle_lines, last_lines = soak_lines[third : 2 * third], soak_lines[2 * third :]
    peak_middle = max((s.data["rss_kb"] for s in middle_lines), default=None)
    peak_last = max((s.data["rss_kb"] for s in last_lines), default=None)
    growth = (
        (peak_last - peak_middle) / peak_middle if peak_middle and peak_last is not None else None
    )
    gc_info: dict[str, Any] | None = None
    live_growth: float | None = None
    if args.gc_probe:
        full = [p for p in gw.gc_pauses if p.generation == 2 and t0 <= p.t <= t1]

        def calls_at(t: float) -> int | None:
            before_t = [s.data["calls"] for s in gw.stats if s.t <= t]
            return before_t[-1] if before_t else None

        gc_info = {
            "full_collections": len(full),
            "pause_max_ms": round(max((p.ms for p in full), default=0.0), 2),
            "pause_median_ms": median(p.ms for p in full),
            "collections": [
                {
                    "at_s": round(p.t - t0, 1),
                    "pause_ms": round(p.ms, 2),
                    "live_objects_after": p.live_objects,
                    "calls": calls_at(p.t),
                }
                for p in full
            ],
        }
        counted = [p for p in full if p.t >= t0 + warmup and p.live_objects]
        if len(counted) >= 2:
            first_live, last_live = counted[0].live_objects, counted[-1].live_objects
            assert first_live is not None and last_live is not None
            live_growth = (last_live - first_live) / first_live
            gc_info["live_heap_growth"] = round(live_growth, 4)
    counted_same = (
        start is not None and end is not None and all(start[k] == end[k] for k in COUNTED)
    )
    idle_same = (
        before is not None
        and after is not None
        and all(before[k] == after[k] for k in ("calls", *COUNTED))
    )
    live: dict[str, Any] | None = None
    if gw.mem_samples:
        first = [m for m in gw.mem_samples if t0 + warmup <= m.t <= t0 + warmup + span]
        last = [m for m in gw.mem_samples if t1 - span <= m.t <= t1]
        if first and last:
            live = {
                "blocks_start": median(m.blocks for m in first),
                "blocks_end": median(m.blocks for m in last),
                "objects_start": median(m.objects for m in first),
                "objects_end": median(m.objects for m in last),
                "samples": [[round(m.t, 1), m.blocks, m.objects] for m in gw.mem_samples],
            }
    calls = report["calls"]
    failed = calls["failed"] + calls["remote_byes"] + calls["bye_failed"]
    if live_growth is not None:
        memory_ok = live_growth < LIVE_GROWTH_LIMIT
        basis = "live heap after full collections"
    else:
        memory_ok = growth is not None and growth < RSS_GROWTH_LIMIT
        basis = "RSS high-water mark"
    ok = memory_ok and counted_same and idle_same
    data.update(
        {
            "window": [t0, t1],
            "compared": {"start": [t0 + warmup, t0 + warmup + span], "end": [t1 - span, t1]},
            "rss_kb": {
                "start": rss_start,
                "end": rss_end,
                "start_to_end_growth": None if start_end is None else round(start_end, 4),
                "peak_middle_third": peak_middle,
                "peak_last_third": peak_last,
                "high_water_growth": None if growth is None else round(growth, 4),
                "trend_kb_per_min": None if trend is None else round(trend, 2),
            },
            "at_equal_calls": {"calls": equal, "start": start, "end": end, "same": counted_same},
            "python_heap": live,
            "gc": gc_info,
            "idle": {"before": before, "after": after, "same": idle_same},
            "calls": {
                "placed": calls["attempted"],
                "answered": calls["answered"],
                "failed": failed,
                "detail": calls,
            },
            "rtp": report["rtp_rx"],
            "setup_ms": report["setup_ms"],
            "pacing_ms": report["pacing_ms"],
            "loadgen": {k: v for k, v in report.items() if k != "machine"},
            "verdict": {
                "memory_basis": basis,
                "memory_no_growth": memory_ok,
                "rss_high_water_growth_below_5_percent": growth is not None
                and growth < RSS_GROWTH_LIMIT,
                "live_heap_growth_below_10_percent": None
                if live_growth is None
                else live_growth < LIVE_GROWTH_LIMIT,
                "counts_same_at_equal_calls": counted_same,
                "idle_counts_restored": idle_same,
                "no_failed_calls": failed == 0,
                "no_growth": ok,
            },
            "stats_lines": [{"t": s.t, **s.data} for s in gw.stats],
        }
    )
    where = write_json(data, args.json, "soak")
    if args.json != "-":
        print(
            f"soak: {args.calls} calls churned (hold {args.hold:g} s), {args.duration:g} s, "
            f"compared after {warmup:g} s warm-up and at the end"
        )
        rows = []
        for key in ("rss_kb", *COUNTED):
            s_val = start.get(key) if start else None
            e_val = end.get(key) if end else None
            rows.append(
                [
                    key,
                    fmt(s_val, ".0f"),
                    fmt(e_val, ".0f"),
                    fmt(before.get(key) if before else None, ".0f"),
                    fmt(after.get(key) if after else None, ".0f"),
                ]
            )
        print(
            format_table([f"at {equal} calls / idle", "start", "end", "idle before", "after"], rows)
        )
        print()
        print(
            f"RSS start {fmt(rss_start, '.0f')} -> end {fmt(rss_end, '.0f')} kB "
            f"({fmt(None if start_end is None else start_end * 100, '+.1f')} %); high-water "
            f"mark middle third {fmt(peak_middle, '.0f')} -> last third {fmt(peak_last, '.0f')} "
            f"kB ({fmt(None if growth is None else growth * 100, '+.2f')} %); calls placed "
            f"{calls['attempted']}, failed {failed}, RTP loss {fmt(report['rtp_rx']['loss'])}"
        )
        if gc_info is not None:
            lives = " -> ".join(str(c["live_objects_after"]) for c in gc_info["collections"])
            print(
                f"full GC collections: {gc_info['full_collections']}, pause max "
                f"{gc_info['pause_max_ms']} ms, median {fmt(gc_info['pause_median_ms'], '.1f')} "
                f"ms; objects alive after each: {lives or '-'}"
            )
        if live is not None:
            print(
                f"live Python heap (--mem-probe): pymalloc blocks {live['blocks_start']:.0f} -> "
                f"{live['blocks_end']:.0f}, gc objects {live['objects_start']:.0f} -> "
                f"{live['objects_end']:.0f}"
            )
        print(
            f"verdict: {'NO GROWTH' if ok else 'GROWTH OR MISMATCH'} (memory by {basis}: "
            f"{'flat' if memory_ok else 'grew'}; fds/tasks/ports equal at equal "
            f"calls: {counted_same}; idle counts restored: {idle_same})"
        )
        print(f"\nJSON: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
