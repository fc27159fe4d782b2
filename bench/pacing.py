"""Pacing: how evenly the gateway's RTP packets arrive at the caller.

    python -m bench.pacing [--duration 60] [--load-calls 300] [--load-duration 30]

One gateway (echo agent) pinned to CPU 0, the load generator on CPU 1, two
phases in one invocation: one call for ``--duration`` seconds (high precision:
every inter-arrival interval of the gateway's packets, from kernel receive
timestamps), then ``--load-calls`` calls for ``--load-duration`` seconds. For
each phase: the deviation of the intervals from 20 ms (p50, p90, p99, p99.9,
max, over consecutive sequence numbers only), sequence gaps, duplicates,
reordering, timestamp jumps (anything but +160 per packet) and loss; beside
them the gateway's own tick lateness (its stats lines) and the load
generator's, so noise on the receiving side is visible. Target: p99 deviation
≤ 2 ms at one call.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bench._harness import (
    Gateway,
    GatewayOptions,
    add_run_options,
    fmt,
    format_table,
    log,
    machine_info,
    pin_self,
    run_loadgen,
    write_json,
)

TARGET_P99_MS = 2.0


def phase(
    gw: Gateway, address: tuple[str, int], calls: int, seconds: float, args: argparse.Namespace
) -> dict[str, Any]:
    """One phase: ``calls`` calls measured for ``seconds``."""
    lg_args = [
        "--target", f"{address[0]}:{address[1]}", "--calls", str(calls), "--rate",
        f"{args.rate:g}", "--hold", f"{seconds:g}", "--audio", args.audio, "--clock", args.clock,
    ]  # fmt: skip
    run = run_loadgen(lg_args, cpu=args.loadgen_cpu, timeout=calls / args.rate + seconds + 120)
    report = run.report
    t0, t1 = report["times"]["measure_start"], report["times"]["measure_end"]
    window = gw.window_figures(t0, t1)
    gw.wait_stats(lambda d: d["calls"] == 0, 60)
    rx, pacing = report["rtp_rx"], report["pacing_ms"]
    return {
        "calls": calls,
        "seconds": seconds,
        "intervals": pacing["samples"],
        "dev_p50_ms": pacing["p50"],
        "dev_p90_ms": pacing["p90"],
        "dev_p99_ms": pacing["p99"],
        "dev_p999_ms": pacing["p999"],
        "dev_max_ms": pacing["max"],
        "share_within_ms": pacing["share_within_ms"],
        "received": rx["received"],
        "expected": rx["expected"],
        "loss": rx["loss"],
        "seq_gaps": rx["gaps"],
        "duplicates": rx["duplicates"],
        "reordered": rx["reordered"],
        "ts_jumps": rx["ts_jumps"],
        "failed": report["calls"]["failed"] + report["calls"]["remote_byes"],
        "gw_cpu_percent": window.get("cpu_percent"),
        "gw_tick_late_p50_ms": window.get("tick_late_p50_ms"),
        "gw_tick_late_p99_ms": window.get("tick_late_p99_ms"),
        "gw_tick_late_max_ms": window.get("tick_late_max_ms"),
        "gw_ticks_skipped": window.get("ticks_skipped_delta"),
        "others_on_gw_cpu_percent": window.get("others_on_cpu_percent"),
        "loadgen_tick_late_p99_ms": report["loadgen"]["tick_late_p99_ms"],
        "loadgen_tick_late_max_ms": report["loadgen"]["tick_late_max_ms"],
        "loadgen_cpu_percent": report["loadgen"]["cpu_percent"],
        "gateway": window,
        "loadgen": {k: v for k, v in report.items() if k != "machine"},
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The readable table."""
    headers = [
        "calls", "seconds", "intervals", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
        "gaps", "dups", "reord", "ts jumps", "loss", "GW tick p99", "GW tick max", "LG tick p99",
    ]  # fmt: skip
    out = [
        [
            str(r["calls"]),
            fmt(r["seconds"], ".0f"),
            str(r["intervals"]),
            fmt(r["dev_p50_ms"], ".2f"),
            fmt(r["dev_p90_ms"], ".2f"),
            fmt(r["dev_p99_ms"], ".2f"),
            fmt(r["dev_p999_ms"], ".2f"),
            fmt(r["dev_max_ms"], ".2f"),
            str(r["seq_gaps"]),
            str(r["duplicates"]),
            str(r["reordered"]),
            str(r["ts_jumps"]),
            fmt(r["loss"], ".4f"),
            fmt(r["gw_tick_late_p99_ms"], ".1f"),
            fmt(r["gw_tick_late_max_ms"], ".1f"),
            fmt(r["loadgen_tick_late_p99_ms"], ".2f"),
        ]
        for r in rows
    ]
    return format_table(headers, out)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.pacing", description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=60.0, help="one-call phase (s)")
    p.add_argument("--load-calls", type=int, default=300, help="calls in the loaded phase")
    p.add_argument("--load-duration", type=float, default=30.0, help="loaded phase (s)")
    p.add_argument("--rate", type=float, default=50.0, help="new calls per second")
    p.add_argument("--audio", choices=("tone", "silence"), default="tone")
    p.add_argument("--clock", choices=("kernel", "user"), default="kernel")
    add_run_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    pin_self(args.loadgen_cpu)
    data: dict[str, Any] = {
        "tool": "pacing",
        "params": {k: v for k, v in vars(args).items() if k != "json"},
        "machine": machine_info(),
    }
    gw = Gateway(
        GatewayOptions(agent="echo", cpu=args.gateway_cpu, stats_interval=args.stats_interval)
    )
    rows: list[dict[str, Any]] = []
    try:
        address = gw.start()
        data["gateway_command"] = gw.command
        time.sleep(1)
        phases = [(1, args.duration)]
        if args.load_calls > 0 and args.load_duration > 0:
            phases.append((args.load_calls, args.load_duration))
        for calls, seconds in phases:
            log(f"phase: {calls} call(s) for {seconds:g} s")
            rows.append(phase(gw, address, calls, seconds, args))
            time.sleep(1)
        data["gateway_errors"] = gw.errors[:20]
    finally:
        gw.stop()
    one = rows[0]
    met = one["dev_p99_ms"] is not None and one["dev_p99_ms"] <= TARGET_P99_MS
    data["phases"] = rows
    data["verdict"] = {
        "target": f"p99 deviation <= {TARGET_P99_MS} ms at 1 call",
        "p99_ms_at_1_call": one["dev_p99_ms"],
        "met": met,
        "continuity_1_call": one["seq_gaps"] == 0
        and one["duplicates"] == 0
        and one["reordered"] == 0
        and one["ts_jumps"] == 0,
    }
    where = write_json(data, args.json, "pacing")
    if args.json != "-":
        print(
            "pacing of the gateway's RTP at the caller (deviation of inter-arrival "
            f"intervals from 20 ms; {args.clock} receive clock)"
        )
        print(table(rows))
        print()
        print(
            f"target p99 <= {TARGET_P99_MS} ms at 1 call: {fmt(one['dev_p99_ms'])} ms -> "
            f"{'MET' if met else 'NOT MET'}; sequence/timestamp continuity at 1 call: "
            f"{'clean' if data['verdict']['continuity_1_call'] else 'NOT clean'}"
        )
        print(f"\nJSON: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
