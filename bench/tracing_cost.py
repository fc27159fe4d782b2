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

Beside the rounds (``--micro N``, default 2000; 0 = off), the spans of N turns are made in
this process exactly as a call makes them (the ``call`` span, then per turn ``turn``,
``stt``, ``llm``, ``tool`` and ``tts`` with their attributes and events, through the SDK's
batch processor and OTLP/HTTP exporter to the receiver) and this process's CPU is read
(every thread: the exporter's encoding and sending included; the receiver runs in a
process of its own). CPU per traced turn over
the CPU a call spends per turn (CPU per call untraced, times the seconds between turns) is
the cost the rounds cannot resolve on a busy machine.

``--tree DIR`` (repeatable) compares checkouts instead of tracing: each round runs one step
on this checkout and one on each DIR (the gateway's ``PYTHONPATH`` first; ``git archive REV
| tar -x -C DIR``), untraced, in an order that rotates from round to round, and gives each
DIR's CPU per call over this checkout's, as above: how much a change moves a whole
assistant call, e.g. a library in place of a hand-written client (docs/performance.md).
Each step also reports what the fakes were asked for (LLM requests, STT messages), so the
two sides are seen to do the same work.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
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
from bench.capacity_steps import (
    _r,
    fake_services,
    fakes_tally,
    loadgen_args,
    loadgen_timeout,
    step_row,
    tally_between,
)
from sipgw.app.operations.opentelemetry import call_tracer
from tests.toolkit.otlp_receiver import OtlpReceiver, otlp_receiver

__all__ = ["build_parser", "main", "one_step"]


THIS = "this checkout"
"""The way every ``--tree`` is compared with."""


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
        env, fakes = stack.enter_context(fake_services(args))
        env["SIPGW_IDLE_AFTER"] = "0"
        env["SIPGW_VOICE_DETECTOR"] = (
            "energy"  # the caller "speaks" a tone: no voice to a speech model
        )
        ways: list[tuple[str, dict[str, str], OtlpReceiver | None]]
        if args.tree:
            ways = [(THIS, env, None)]
            ways += [(tree, {**env, "PYTHONPATH": tree}, None) for tree in args.tree]
        else:
            receiver = stack.enter_context(otlp_receiver())
            traced_env = {
                **env,
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAME": "sipgw-bench",
            }
            ways = [("off", env, None), ("on", traced_env, receiver)]
        for index in range(args.rounds):
            shift = index % len(ways)
            for way, way_env, way_receiver in ways[shift:] + ways[:shift]:
                log(f"round {index + 1}: {way}")
                before = fakes_tally(fakes)
                row = one_step(args, way_env, way_receiver)
                row["fakes_tally"] = tally_between(before, fakes_tally(fakes))
                row["round"] = index + 1
                row["way"] = way
                rows.append(row)
                log(
                    f"  CPU per call {fmt(row['cpu_per_call_percent'], '.3f')} %  "
                    f"failed {fmt(row.get('failed'))}  spans {fmt(row.get('spans'))}  "
                    f"fakes asked {row['fakes_tally']}"
                )
    if args.tree:
        return {"steps": rows, "trees": {tree: cost(rows, tree, THIS) for tree in args.tree}}
    return {"steps": rows, **cost(rows)}


def micro(turns: int, endpoint: str) -> dict[str, Any]:
    """CPU (all threads of this process) per turn of spans, exported to ``endpoint``."""
    # the SDK reads them: the receiver, and a queue that keeps every span of the burst
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = str(turns * 8)
    tracer = call_tracer()
    assert tracer is not None
    per_call = 10
    start_cpu = time.process_time()
    for n in range(turns // per_call):
        call = tracer.call_span(
            {"sip.call_id": f"{n}@bench", "call.direction": "inbound", "call.leg": "sip",
             "call.line": "bench", "media.codec": "PCMU"}
        )  # fmt: skip
        for t in range(per_call):
            now = time.monotonic()
            turn = call.child("turn", {"turn": t + 1}, start=now - 1.0)
            stt = turn.child("stt", start=now - 1.0)
            stt.set_attribute("stt.end_of_turn_ms", 300.0)
            stt.end(now - 0.7)
            llm = turn.child("llm", start=now - 0.7)
            llm.set_attribute("llm.ttfb_ms", 400.0)
            llm.add_event("first_token", at=now - 0.3)
            llm.end(now - 0.1)
            turn.add_event("llm_request", {"llm.request_id": f"req_{n}_{t}"})
            tool = turn.child("tool", {"tool.name": "lookup"})
            tool.set_attribute("tool.ok", True)
            tool.set_attribute("tool.source", "http")
            tool.traceparent()
            tool.end()
            tts = turn.child("tts", {"tts.reply_id": f"r{t}"}, start=now - 0.2)
            tts.set_attribute("tts.ttfb_ms", 150.0)
            tts.add_event("first_byte", at=now - 0.05)
            tts.end()
            turn.set_attribute("turn.end_of_speech_to_first_rtp_ms", 900.0)
            turn.end()
        for key, value in (("media.mos", 4.4), ("media.jitter_ms", 1.2)):
            call.set_attribute(key, value)
        call.end()
    tracer._provider.shutdown()  # everything encoded and sent: counted
    seconds = time.process_time() - start_cpu
    return {"turns": turns, "cpu_us_per_turn": _r(seconds / turns * 1e6, 1)}


def cost(rows: list[dict[str, Any]], other: str = "on", base: str = "off") -> dict[str, Any]:
    """The ratio of the medians of CPU per call (way ``other`` over way ``base``: tracing on
    over off, or a tree over this checkout), and the rounds' own ratios."""

    def per_call(way: str) -> dict[int, float]:
        return {
            r["round"]: r["cpu_per_call_percent"]
            for r in rows
            if r["way"] == way and r["cpu_per_call_percent"]
        }

    on, off = per_call(other), per_call(base)
    if not on or not off:
        return {"ratio_of_medians": None, "median_of_ratios": None, "round_ratios": []}
    ratios = [on[n] / off[n] for n in sorted(on.keys() & off.keys())]
    return {
        f"median_{base}": _r(statistics.median(off.values()), 4),
        f"median_{other}": _r(statistics.median(on.values()), 4),
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
    p.add_argument("--micro", type=int, default=2000, help="turns of spans timed in-process")
    p.add_argument("--stt-final-latency", type=float, help="fake services: STT final latency ms")
    p.add_argument("--llm-first-token-ms", type=float, help="fake services: LLM first token ms")
    p.add_argument("--tts-first-byte-ms", type=float, help="fake services: TTS first byte ms")
    p.add_argument(
        "--tree", action="append", default=[], metavar="DIR",
        help="another checkout to compare with this one (repeatable; tracing stays off)",
    )  # fmt: skip
    add_run_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    args.gc_probe = False
    args.tree = [str(Path(tree).resolve()) for tree in args.tree]
    if args.tree:
        args.micro = 0  # tracing is not what is compared
    pin_self(args.loadgen_cpu)
    data: dict[str, Any] = {
        "tool": "tracing_cost",
        "params": {k: v for k, v in vars(args).items() if k != "json"},
        "machine": machine_info(),
    }
    data.update(run_rounds(args) if args.rounds > 0 else {"steps": [], **cost([])})
    if args.micro > 0:  # the receiver in a process of its own: only ours is measured
        receiver = subprocess.Popen(
            [sys.executable, "-m", "tests.toolkit.otlp_receiver"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert receiver.stdin is not None and receiver.stdout is not None
        data["micro"] = figures = micro(args.micro, receiver.stdout.readline().strip())
        receiver.stdin.close()
        figures["spans_received"] = int(receiver.stdout.readline() or 0)
        receiver.wait(10)
        every = float(args.talk.split("/")[1])
        off = data.get("median_off")
        if off:  # % of a core per call -> CPU seconds per turn
            call_per_turn_us = off / 100 * every * 1e6
            figures["call_cpu_us_per_turn"] = _r(call_per_turn_us, 1)
            figures["share"] = _r(figures["cpu_us_per_turn"] / call_per_turn_us, 5)
    data["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    where = write_json(data, args.json, "tracing_cost")
    if args.json == "-":
        return 0
    print_report(args, data)
    print(f"\nJSON: {where}")
    return 0


def print_report(args: argparse.Namespace, data: dict[str, Any]) -> None:
    """The steps' table, the ratios, the machine."""
    table = format_table(
        ["round", "way", "CPU/call %", "failed", "LLM requests", "STT messages", "spans"],
        [
            [str(r["round"]), r["way"], fmt(r["cpu_per_call_percent"], ".4f"),
             fmt(r.get("failed")), fmt(r["fakes_tally"].get("llm_requests")),
             fmt(r["fakes_tally"].get("stt_messages")), fmt(r.get("spans"))]
            for r in data["steps"]
        ],
    )  # fmt: skip
    machine = data["machine"]
    compared = "checkouts" if args.tree else "tracing off and on"
    print(
        f"{compared}: {args.calls} assistant calls per step, hold {args.hold:g} s, "
        f"{args.rounds} interleaved rounds; gateway on CPU {args.gateway_cpu}"
    )
    print(table)
    for tree, figures in data.get("trees", {}).items():
        print(
            f"\nCPU per call, median {THIS} {fmt(figures.get(f'median_{THIS}'))} %, {tree} "
            f"{fmt(figures.get(f'median_{tree}'))} %: ratio of medians (it over this) "
            f"{fmt(figures['ratio_of_medians'])}, median of the rounds' ratios "
            f"{fmt(figures['median_of_ratios'])} (rounds: {figures['round_ratios']})"
        )
    if not args.tree:
        print(
            f"\nCPU per call, median off {fmt(data.get('median_off'))} %, on "
            f"{fmt(data.get('median_on'))} %: ratio of medians {fmt(data['ratio_of_medians'])}, "
            f"median of the rounds' ratios {fmt(data['median_of_ratios'])} "
            f"(rounds: {data['round_ratios']})"
        )
    if "micro" in data:
        m = data["micro"]
        print(
            f"in-process: {fmt(m['cpu_us_per_turn'])} us of CPU per traced turn "
            f"({m['turns']} turns, exported); a call spends {fmt(m.get('call_cpu_us_per_turn'))} "
            f"us per turn untraced: tracing is {fmt(m.get('share'))} of it"
        )
    print(
        f"CPU {machine['cpu_model']}, {machine['cores']} cores; load average "
        f"{machine['loadavg_at_start']} at start, {data['loadavg_at_end']} at end"
    )


if __name__ == "__main__":
    sys.exit(main())
