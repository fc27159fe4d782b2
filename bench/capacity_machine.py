"""Per machine (``python -m bench.capacity --machine``): calls per box with N gateway processes.

For each process count in ``--processes`` (default ``1,2``) this starts that many
``sipgw serve`` processes, each pinned to its own CPU with ``taskset`` (process *i* on CPU
*i-1* modulo the CPUs), each with its own SIP port and a disjoint slice of the RTP range —
the plan of ``sipgw serve --workers N`` (sipgw/app/workers.py) without the supervisor, so
each process's stats lines, CPU and tick lateness are read apart. Each step's calls
(the total per machine) are split evenly between the processes, one load generator per
process at ``--rate / N``, all running at once and not pinned: on a 2-core box the load
generators (and in assistant mode the fake cloud services) share the cores with the
gateways. Their CPU is reported (``LG CPU``, ``fakes CPU``); the figure per core that
does not depend on where the load lives is derived from the gateway's own CPU per call
(``calls/core`` = 100 % over the worst process's CPU per call), and a step holds when every
process holds (p99 tick lateness ≤ 5 ms, zero loss, no failed call); a ramp stops
at the first step that does not (unless ``--keep-going``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
import time
from typing import Any

from bench._harness import (
    Gateway,
    GatewayOptions,
    ProcSampler,
    fmt,
    format_table,
    log,
    run_loadgen,
)
from bench.capacity_steps import (
    TARGET_LATE_MS,
    _r,
    _strip,
    assistant_env,
    count_refusals,
    fake_services,
    idle_baseline,
    loadgen_args,
    loadgen_timeout,
    overload_flags,
    overload_late_ms,
    row_ok,
    step_row,
)

RTP_RANGE = GatewayOptions().rtp_ports
"""The one gateway's range (bench/_harness.py), split between the processes."""


def rtp_slice(index: int, count: int) -> tuple[int, int]:
    """The ``index``-th (0-based) of ``count`` disjoint, equal slices of the RTP range."""
    size = (RTP_RANGE[1] - RTP_RANGE[0] + 1) // count
    size -= size % 2  # RTP on even ports
    first = RTP_RANGE[0] + index * size
    return first, first + size - 1


def split_calls(total: int, count: int) -> list[int]:
    """``total`` calls spread over ``count`` processes (the first ones take the remainder)."""
    return [total // count + (1 if i < total % count else 0) for i in range(count)]


def run_machine(args: argparse.Namespace) -> dict[str, Any]:
    """One ramp per process count in ``args.processes``."""
    runs: dict[str, Any] = {}
    for count in args.processes:
        log(f"--- {count} gateway process(es)")
        runs[str(count)] = _run_count(args, count)
    return {"runs": runs, "scaling": scaling(runs)}


def _run_count(args: argparse.Namespace, count: int) -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0))
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        fake_sampler: ProcSampler | None = None
        if args.agent == "assistant":
            env, fakes = stack.enter_context(fake_services(args, pin=False))
            env.update(assistant_env(args))
            if fakes.pid is not None:
                fake_sampler = ProcSampler(fakes.pid).start()
                stack.callback(fake_sampler.stop)
        gateways: list[Gateway] = []
        for i in range(count):
            gw = Gateway(
                GatewayOptions(
                    agent=args.agent,
                    cpu=cpus[i % len(cpus)],
                    rtp_ports=rtp_slice(i, count),
                    stats_interval=args.stats_interval,
                    env=env,
                    extra_args=overload_flags(args),
                )
            )
            gateways.append(gw)
            gw.start()
            stack.callback(gw.stop)
            log(f"gateway {i + 1} pid {gw.pid} on {gw.process.address} (CPU {gw.options.cpu})")
        idles = [idle_baseline(gw.sampler, max(args.settle, 2.0)) for gw in gateways if gw.sampler]
        steps: list[dict[str, Any]] = []
        for total in args.steps:
            log(f"step {total} calls over {count} process(es)")
            row = _step(args, gateways, idles, total)
            if fake_sampler is not None:
                t0, t1 = row["window"]
                row["fakes_cpu_percent"] = _r(fake_sampler.cpu_percent(t0, t1), 1)
            steps.append(row)
            log(
                f"  CPU/call {fmt(row['cpu_per_call_percent_worst'], '.3f')}%  tick p99 "
                f"{fmt(row['tick_late_p99_ms'])} ms  loss {fmt(row['lost'])}  "
                f"failed {fmt(row['failed'])}  ok={row['ok']}"
            )
            for gw in gateways:
                if not gw.wait_stats(lambda d: d["calls"] == 0 and not d.get("overloaded"), 60):
                    log(f"  gateway {gw.pid} did not return to 0 calls within 60 s")
            time.sleep(args.settle)
            if not row["ok"] and not args.keep_going:
                log("  step did not hold: stopping this ramp (--keep-going to go on)")
                break
        held = None
        for r in steps:
            if not r["ok"]:
                break
            held = r["calls"]
        return {
            "processes": count,
            "gateway_commands": [gw.command for gw in gateways],
            "gateway_errors": [e for gw in gateways for e in gw.errors[:10]],
            "idle": idles,
            "steps": steps,
            "held_every_step_up_to": held,
        }


def _step(
    args: argparse.Namespace, gateways: list[Gateway], idles: list[dict[str, Any]], total: int
) -> dict[str, Any]:
    """One step: ``total`` calls spread over the gateways, one load generator each, at once."""
    count = len(gateways)
    shares = split_calls(total, count)
    share_args = argparse.Namespace(**{**vars(args), "rate": args.rate / count})
    reports: list[dict[str, Any] | None] = [None] * count
    errors: list[str] = []

    def drive(i: int) -> None:
        address = gateways[i].process.address
        try:
            run = run_loadgen(
                loadgen_args(address, shares[i], share_args),
                cpu=None,
                timeout=loadgen_timeout(shares[i], share_args),
            )
            reports[i] = run.report
        except RuntimeError as exc:
            errors.append(str(exc)[-2000:])

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(count) if shares[i]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    workers: list[dict[str, Any]] = []
    late_limit = overload_late_ms(args)
    for i, (gw, report) in enumerate(zip(gateways, reports, strict=True)):
        if report is None:
            workers.append({"calls": shares[i], "ok": False, "error": "load generator failed"})
            continue
        t0, t1 = report["times"]["measure_start"], report["times"]["measure_end"]
        window = gw.window_figures(t0, t1)
        w = step_row(shares[i], window, idles[i].get("rss_kb"), report)
        w.update(window=[t0, t1], cpu=gw.options.cpu, loadgen=_strip(report))
        if args.overload:
            count_refusals(w)
        w["ok"] = row_ok(w, late_limit)
        workers.append(w)
    return machine_row(total, workers, errors)


def machine_row(total: int, workers: list[dict[str, Any]], errors: list[str]) -> dict[str, Any]:
    """The machine's figures from its processes' rows: sums, the worst process, verdict."""

    def vals(key: str) -> list[Any]:
        return [w[key] for w in workers if w.get(key) is not None]

    def worst(key: str) -> Any:
        v = vals(key)
        return max(v) if v else None

    def total_of(key: str) -> Any:
        v = vals(key)
        return _r(sum(v), 1) if v else None

    windows = [w["window"] for w in workers if "window" in w]
    per_call = worst("cpu_per_call_percent")
    return {
        "calls": total,
        "processes": len(workers),
        "ok": bool(workers) and not errors and all(w.get("ok") for w in workers),
        "cpu_percent_total": total_of("cpu_percent"),
        "cpu_per_call_percent_worst": per_call,
        "cpu_per_call_percent_by_process": [w.get("cpu_per_call_percent") for w in workers],
        "calls_per_core_derived": int(100 / per_call) if per_call else None,
        "tick_late_p99_ms": worst("tick_late_p99_ms"),
        "tick_late_max_ms": worst("tick_late_max_ms"),
        "rx_pacing_p99_ms": worst("rx_pacing_p99_ms"),
        "lost": total_of("lost"),
        "answered": total_of("answered"),
        "failed": total_of("failed"),
        "refused_503": total_of("refused_503"),
        "setup_p99_ms": worst("setup_p99_ms"),
        "loadgen_cpu_percent_total": total_of("loadgen_cpu_percent"),
        "others_on_cpu_percent_worst": worst("others_on_cpu_percent"),
        "window": [max(w[0] for w in windows), min(w[1] for w in windows)] if windows else [0, 0],
        "workers": workers,
        "errors": errors,
    }


def scaling(runs: dict[str, Any]) -> dict[str, Any]:
    """Calls held per machine for each process count, and the ratio to one process."""
    held = {k: r["held_every_step_up_to"] for k, r in runs.items()}
    one = held.get("1")
    return {
        "held_up_to": held,
        "ratio_to_one_process": {
            k: (_r(v / one, 2) if v and one else None) for k, v in held.items()
        },
        "criteria": f"every process: p99 tick lateness <= {TARGET_LATE_MS:g} ms, zero loss, "
        "no failed call",
    }


def machine_table(result: dict[str, Any]) -> str:
    """The readable table: one row per (process count, step)."""
    headers = [
        "procs", "calls", "CPU % (sum)", "CPU/call % (worst)", "per process", "calls/core",
        "tick p99", "tick max", "rx p99", "lost", "setup p99", "answered", "503", "failed",
        "LG CPU", "other", "ok",
    ]  # fmt: skip
    out = []
    for count, run in result["runs"].items():
        for r in run["steps"]:
            per = "/".join(fmt(v, ".3f") for v in r["cpu_per_call_percent_by_process"])
            out.append(
                [
                    count,
                    str(r["calls"]),
                    fmt(r["cpu_percent_total"], ".1f"),
                    fmt(r["cpu_per_call_percent_worst"], ".3f"),
                    per,
                    fmt(r["calls_per_core_derived"]),
                    fmt(r["tick_late_p99_ms"], ".1f"),
                    fmt(r["tick_late_max_ms"], ".1f"),
                    fmt(r["rx_pacing_p99_ms"], ".2f"),
                    fmt(r["lost"]),
                    fmt(r["setup_p99_ms"], ".1f"),
                    fmt(r["answered"]),
                    fmt(r["refused_503"]),
                    fmt(r["failed"]),
                    fmt(r["loadgen_cpu_percent_total"], ".0f"),
                    fmt(r["others_on_cpu_percent_worst"], ".0f"),
                    "yes" if r["ok"] else "NO",
                ]
            )
    return format_table(headers, out)


def machine_verdict(result: dict[str, Any]) -> list[str]:
    """Lines on scaling: calls held per process count and the ratio to one process."""
    s = result["scaling"]
    lines = [
        "(calls: total per machine, split evenly; CPU/call: each process's own CPU over its "
        "calls, worst process; calls/core: 100 % / that, the figure per core with the load "
        "generator elsewhere; LG CPU: the load generators' CPU, on the same cores here; "
        "other: CPU % others took from a gateway's core, worst)",
        f"held ({s['criteria']}):",
    ]
    for k, v in s["held_up_to"].items():
        ratio = s["ratio_to_one_process"].get(k)
        lines.append(f"  {k} process(es): every step up to {fmt(v)} calls (x{fmt(ratio)})")
    return lines
