"""What tracing costs a call: the gateway's CPU per assistant call, traces off and on.

Run from the repository root (the ``otel`` extra installed)::

    python -m bench.tracing_cost [--calls 20] [--hold 30] [--rounds 5]

Each round runs two steps of ``--calls`` assistant calls (``bench.loadgen`` with talk
bursts, one turn every 6 s per call; the fake AI services of ``bench.fake_services``), each
against a fresh gateway pinned to ``--gateway-cpu``: one with tracing off, one with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at an OTLP/HTTP receiver in this process
(tests/toolkit/otlp_receiver.py), which counts the spans that arrive. The order alternates
from round to round (off, on; on, off; ...) so that a machine getting busier or quieter
weighs on both. The cost is the ratio of the medians of CPU per call (on / off), beside
the median of the rounds' own ratios, the CPU model and the load average: on a shared
machine one step's CPU drifts by more than a few per cent, so read the spread too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
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
from bench.capacity_steps import _r, fake_services, loadgen_args, loadgen_timeout, step_row
from tests.toolkit.otlp_receiver import OtlpReceiver, otlp_receiver

__all__ = ["build_parser", "main", "one_step"]


def one_step(
    args: argparse.Namespace, env: dict[str, str], receiver: OtlpReceiver | None
) -> dict[str, Any]:
    """One step against a fresh gateway: its CPU per call over the hold, and the spans."""
    spans_before = len(receiver.spans) if receiver is not None else 0
    options = GatewayOptions(
        agent="assistant", cpu=args.gateway_cpu, stats_interval=args.stats_interval, env=env
    )
    gw = Gateway(options)
    address = gw.start()
    try:
        time.sleep(args.settle)
        run = run_loadgen(
            loadgen_args(address, args.calls, args),
            cpu=args.loadgen_cpu,
            timeout=loadgen_timeout(args.calls, args),
        )
        report = run.report
        t0, t1 = report["times"]["measure_start"], report["times"]["measure_end"]
        row = step_row(args.calls, gw.window_figures(t0, t1), None, report)
    finally:
        gw.stop()  # the SDK exports what is left at the gateway's exit
    row["traced"] = receiver is not None
    if receiver is not None:
        time.sleep(1.0)
        with receiver.lock:
            new = receiver.spans[spans_before:]
        row["spans"] = len(new)
        row["turn_spans"] = sum(1 for s in new if s.name == "turn")
    return row


def run_rounds(args: argparse.Namespace) -> dict[str, Any]:
    """The interleaved rounds; their CPU per call, each way, and the ratios."""
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        env, _ = stack.enter_context(fake_services(args))
        env["SIPGW_IDLE_AFTER"] = "0"
        receiver = stack.enter_context(otlp_receiver())
        traced_env = {
            **env,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "sipgw-bench",
        }
        for index in range(args.rounds):
            order = (False, True) if index % 2 == 0 else (True, False)
            for traced in order:
                log(f"round {index + 1}: tracing {'on' if traced else 'off'}")
                row = one_step(args, traced_env if traced else env, receiver if traced else None)
                row["round"] = index + 1
                rows.append(row)
                log(
                    f"  CPU per call {fmt(row['cpu_per_call_percent'], '.3f')} %  "
                    f"failed {fmt(row.get('failed'))}  spans {fmt(row.get('spans'))}"
                )
    return {"steps": rows, **cost(rows)}


def cost(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The ratio of the medians of CPU per call (traced / not), and the rounds' ratios."""

    def per_call(traced: bool) -> dict[int, float]:
        return {
            r["round"]: r["cpu_per_call_percent"]
            for r in rows
            if r["traced"] is traced and r["cpu_per_call_percent"]
        }

    on, off = per_call(True), per_call(False)
    if not on or not off:
        return {"ratio_of_medians": None, "median_of_ratios": None, "round_ratios": []}
    ratios = [on[n] / off[n] for n in sorted(on.keys() & off.keys())]
    return {
        "median_off": _r(statistics.median(off.values()), 4),
        "median_on": _r(statistics.median(on.values()), 4),
        "ratio_of_medians": _r(statistics.median(on.values()) / statistics.median(off.values()), 4),
        "median_of_ratios": _r(statistics.median(ratios), 4) if ratios else None,
        "round_ratios": [_r(x, 4) for x in ratios],
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench.tracing_cost", description=__doc__)
    p.add_argument("--calls", type=int, default=20, help="concurrent assistant calls per step")
    p.add_argument("--hold", type=float, default=30.0, help="s held once all calls are up")
    p.add_argument("--rate", type=float, default=20.0, help="new calls per second")
    p.add_argument("--rounds", type=int, default=5, help="rounds of one step each way")
    p.add_argument("--talk", default="0.8/6", help="caller talk bursts ON/EVERY s")
    p.add_argument("--audio", choices=("tone", "silence"), default="tone")
    p.add_argument("--settle", type=float, default=2.0, help="idle seconds before a step")
    p.add_argument("--stt-final-latency", type=float, help="fake services: STT final latency ms")
    p.add_argument("--llm-first-token-ms", type=float, help="fake services: LLM first token ms")
    p.add_argument("--tts-first-byte-ms", type=float, help="fake services: TTS first byte ms")
    add_run_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    args.gc_probe = False
    pin_self(args.loadgen_cpu)
    data: dict[str, Any] = {
        "tool": "tracing_cost",
        "params": {k: v for k, v in vars(args).items() if k != "json"},
        "machine": machine_info(),
    }
    data.update(run_rounds(args))
    data["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    where = write_json(data, args.json, "tracing_cost")
    if args.json == "-":
        return 0
    table = format_table(
        ["round", "tracing", "CPU/call %", "failed", "spans", "turn spans"],
        [
            [str(r["round"]), "on" if r["traced"] else "off",
             fmt(r["cpu_per_call_percent"], ".4f"), fmt(r.get("failed")),
             fmt(r.get("spans")), fmt(r.get("turn_spans"))]
            for r in data["steps"]
        ],
    )  # fmt: skip
    machine = data["machine"]
    print(
        f"tracing cost: {args.calls} assistant calls per step, hold {args.hold:g} s, "
        f"{args.rounds} interleaved rounds; gateway on CPU {args.gateway_cpu}"
    )
    print(table)
    print(
        f"\nCPU per call, median off {fmt(data.get('median_off'))} %, on "
        f"{fmt(data.get('median_on'))} %: ratio of medians {fmt(data['ratio_of_medians'])}, "
        f"median of the rounds' ratios {fmt(data['median_of_ratios'])} "
        f"(rounds: {data['round_ratios']})"
    )
    print(
        f"CPU {machine['cpu_model']}, {machine['cores']} cores; load average "
        f"{machine['loadavg_at_start']} at start, {data['loadavg_at_end']} at end"
    )
    print(f"\nJSON: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
