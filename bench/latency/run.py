"""The latency benchmark's configurations and command line (``python -m bench.latency``)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench._harness import (
    Gateway,
    GatewayOptions,
    log,
    machine_info,
    pin_self,
    read_cpu_times,
    write_json,
)
from sipgw.app.evaluation.ports import free_port_range

from .analysis import TARGETS, Analysis, read_call_records
from .caller import GREETING, BenchConfig, BenchFakes, BenchParams, CallRunner, CallTrace
from .report import (
    config_report,
    config_section,
    matrix_report,
    preemptive_comparison,
    preemptive_counts,
    preemptive_report,
)
from .tradeoff import TRADEOFF, tradeoff_report, tradeoff_section

__all__ = ["MATRIX", "build_parser", "main"]

MATRIX = (
    BenchConfig("base"),
    BenchConfig("stt-chunk-50", chunk_ms=50),
    BenchConfig("jitter-min-20", jitter_min_ms=20),
    BenchConfig("barge-in-40", barge_in_start_ms=40),
    BenchConfig("all-three", chunk_ms=50, jitter_min_ms=20, barge_in_start_ms=40),
)


class LoadWindow:
    """CPU use while a configuration ran: each core, the gateway, this process, the rest."""

    def __init__(self) -> None:
        self.wall = time.time()
        self.cpus = read_cpu_times()
        self.own = sum(os.times()[:2])
        self.loadavg = [round(x, 2) for x in os.getloadavg()]

    def close(self, gateway_cpu_pct: float | None) -> dict[str, Any]:
        """The figures, in % of one core."""
        cpus = read_cpu_times()
        elapsed = max(time.time() - self.wall, 1e-9)
        busy = {}
        for n, (busy_after, total_after, _) in cpus.items():
            busy_before, total_before, _ = self.cpus.get(n, (0.0, 0.0, 0.0))
            total = total_after - total_before
            busy[f"cpu{n}"] = round(100 * (busy_after - busy_before) / total, 1) if total else None
        own = (sum(os.times()[:2]) - self.own) / elapsed * 100
        all_cores = sum(v for v in busy.values() if v is not None)
        others = all_cores - own - (gateway_cpu_pct or 0.0)
        return {
            "loadavg_start": self.loadavg,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "core_busy_pct": busy,
            "gateway_cpu_pct": None if gateway_cpu_pct is None else round(gateway_cpu_pct, 1),
            "bench_cpu_pct": round(own, 1),
            "other_processes_cpu_pct": round(max(0.0, others), 1),
        }


async def run_config(
    config: BenchConfig,
    params: BenchParams,
    fakes: BenchFakes,
    rng: random.Random,
    counters: tuple[Iterable[int], Iterable[int]],
    gateway_cpu: int | None,
    keep_records: bool,
    kind: str = "conversation",
) -> dict[str, Any]:
    """Start a gateway with ``config``, place the calls, analyse; returns the JSON section.

    ``kind``: ``conversation`` calls (barge-ins), or ``paused`` ones (the trade-off).
    """
    records_dir = Path(tempfile.mkdtemp(prefix="sipgw-latency-records-"))
    rtp_ports = free_port_range(400)
    options = GatewayOptions(
        agent="assistant",
        cpu=gateway_cpu,
        rtp_ports=(rtp_ports.lo, rtp_ports.hi),
        stats_interval=5.0,
        extra_args=["--jitter-min-ms", str(config.jitter_min_ms)],
        env={
            **fakes.env(),
            "SIPGW_GREETING": GREETING,
            "SIPGW_CALL_RECORD_DIR": str(records_dir),
            # The caller "speaks" a 300 Hz tone: a speech model hears no voice in it.
            "SIPGW_VOICE_DETECTOR": "energy",
            "ASSEMBLYAI_CHUNK_MS": str(config.chunk_ms),
            "SIPGW_BARGE_IN_START_MS": str(config.barge_in_start_ms),
            "SIPGW_PREEMPTIVE": "on" if config.preemptive else "off",
            "SIPGW_SPECULATIVE_SPEECH": "on" if config.speculative else "off",
            "SIPGW_PREEMPTIVE_DURING_SPEECH": "on" if config.speech_partials else "off",
            # The modes are weighed against the STT's own end of turn: the gateway's early
            # end (bench.turn_ends measures it) would end the tone caller's turns first.
            "SIPGW_EARLY_TURN_END": "off",
            **_turn_silence_env(config),
            **(
                {"SIPGW_SPECULATIVE_MAX_WASTE_PERCENT": str(config.max_waste_percent)}
                if config.max_waste_percent is not None
                else {}
            ),
        },
    )
    gateway = Gateway(options, records_dir)  # the call records and the gateway's log
    address = await asyncio.to_thread(gateway.start)
    started = time.monotonic()
    load = LoadWindow()
    runner = CallRunner(address, fakes, params, rng, *counters)
    traces: list[CallTrace] = []
    try:
        for _ in range(params.warmup_calls):
            await runner.call("warmup", min(2, params.turns))
        for n in range(params.calls):
            trace = await runner.call(kind, params.turns)
            traces.append(trace)
            failed = f" ({trace.error})" if trace.error else ""
            log(f"{config.name}: call {n + 1}/{params.calls}{failed}")
            await asyncio.sleep(0.2)
        for _ in range(params.greeting_calls):
            traces.append(await runner.call("greeting", 0))
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the last call records are written after the BYE
    finally:
        sampler = gateway.sampler
        gateway_cpu_pct = None if sampler is None else sampler.cpu_percent(load.wall, time.time())
        load_figures = load.close(gateway_cpu_pct)
        await asyncio.to_thread(gateway.stop)
    elapsed = time.monotonic() - started
    records = read_call_records(records_dir)
    if kind == "paused":
        if not keep_records:
            shutil.rmtree(records_dir, ignore_errors=True)
        return tradeoff_section(config, traces, preemptive_counts(records))
    sessions = [s for s in fakes.stt.sessions if s.started_at >= started - 1.0]
    analysis = Analysis(
        params, sessions, fakes.llm.requests, list(fakes.tts.utterances), records
    )  # fmt: skip
    for trace in traces:
        analysis.add(trace)
    kept = keep_records or bool(gateway.errors)
    section = config_section(
        config, traces, analysis, gateway, load_figures, load.wall, elapsed, log_kept=kept
    )
    section["preemptive"] = preemptive_counts(records)
    if kept:
        log(f"{config.name}: call records and the gateway log kept in {records_dir}")
    else:
        shutil.rmtree(records_dir, ignore_errors=True)
    return section


def _turn_silence_env(config: BenchConfig) -> dict[str, str]:
    """The end-of-turn settings a configuration sets (the trade-off's)."""
    if config.turn_silence is None:
        return {}
    low, high = config.turn_silence
    env = {"ASSEMBLYAI_MIN_TURN_SILENCE": str(low), "ASSEMBLYAI_MAX_TURN_SILENCE": str(high)}
    if config.preemptive_pause_ms is not None:
        env["SIPGW_PREEMPTIVE_PAUSE_MS"] = str(config.preemptive_pause_ms)
    return env


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    d = BenchParams()
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency",
        description="Measure the latency the gateway adds, at the caller's side of the wire.",
    )
    add = parser.add_argument
    add("--calls", type=int, default=d.calls, help="conversation calls (default %(default)s)")
    add("--turns", type=int, default=d.turns, help="turns per call (default %(default)s)")
    add("--greeting-calls", type=int, default=d.greeting_calls,
        help="extra calls that only wait for the greeting (default %(default)s)")  # fmt: skip
    add("--warmup-calls", type=int, default=d.warmup_calls,
        help="calls placed first and not counted (default %(default)s)")  # fmt: skip
    add("--matrix", action="store_true",
        help="compare ASSEMBLYAI_CHUNK_MS 100/50, --jitter-min-ms 40/20, "
        "SIPGW_BARGE_IN_START_MS 60/40 (one at a time, then all three)")  # fmt: skip
    add("--chunk-ms", type=int, default=100, help="ASSEMBLYAI_CHUNK_MS without --matrix")
    add("--jitter-min-ms", type=int, default=40, help="--jitter-min-ms without --matrix")
    add("--barge-in-start-ms", type=int, default=60,
        help="SIPGW_BARGE_IN_START_MS without --matrix")  # fmt: skip
    add("--min-turn-silence", type=int, default=d.min_turn_silence_ms, metavar="MS",
        help="the fake STT's end-of-turn silence (default %(default)s)")  # fmt: skip
    add("--stt-final-latency", type=float, default=d.stt_final_latency_ms, metavar="MS",
        help="fake STT final transcript delay (default %(default)s)")  # fmt: skip
    add("--llm-first-token-ms", type=float, default=d.llm_first_token_ms, metavar="MS",
        help="fake LLM first-chunk delay (default %(default)s)")  # fmt: skip
    add("--tts-first-byte-ms", type=float, default=d.tts_first_byte_ms, metavar="MS",
        help="fake TTS first-byte delay (default %(default)s)")  # fmt: skip
    add("--llm-next-token-ms", type=float, default=d.llm_next_token_ms, metavar="MS",
        help="0: the reply is the LLM's only content chunk; else a second sentence starts "
        "this long after it, as with a real model (default %(default)s)")  # fmt: skip
    add("--tts-speed", type=float, default=d.tts_speed,
        help="fake TTS pace, multiples of real time (default %(default)s)")  # fmt: skip
    add(
        "--max-turn-silence",
        type=int,
        default=None,
        metavar="MS",
        help="the fake STT's and the gateway's max_turn_silence (default: the fake's 1000)",
    )
    add("--no-sentence-end", action="store_true",
        help="transcripts without a final '.': the fake STT sends a partial at "
        "--min-turn-silence and ends the turn at --max-turn-silence")  # fmt: skip
    add("--partial-mismatch", type=float, default=d.partial_mismatch, metavar="SHARE",
        help="share of turns whose partial misses a word (default %(default)s)")  # fmt: skip
    add("--realistic", action="store_true",
        help="realistic delays instead of the short ones: STT end of turn 300 ms after "
        "silence (a partial at 100 ms; --max-turn-silence 300, --stt-final-latency 0, "
        "--no-sentence-end), LLM first token 350 ms, TTS first byte 150 ms, "
        "--partial-mismatch 0.1 unless given")  # fmt: skip
    add("--preemptive", choices=("off", "on", "speculative", "both", "all", "speech"),
        default="off",
        help="SIPGW_PREEMPTIVE for the gateway; speculative = on with "
        "SIPGW_SPECULATIVE_SPEECH=on; both = off and on, all = off, on and speculative, "
        "speech = on without and with SIPGW_PREEMPTIVE_DURING_SPEECH, one configuration "
        "each, compared (default %(default)s)")  # fmt: skip
    add("--stt-partial-latency", type=float, default=d.stt_partial_latency_ms, metavar="MS",
        help="the fake STT's latency for every partial (default %(default)s)")  # fmt: skip
    add("--early-partial-ms", type=int, default=d.early_partial_ms, metavar="MS",
        help="speech into a turn at which the fake STT tries its early partial (Universal-3 "
        "Pro's: ~300-800 ms, interruption_delay); default: none")  # fmt: skip
    add("--first-speech-ms", type=_ms_range, default=d.first_speech_s, metavar="LO:HI",
        help="the words of each call's first turn, drawn from LO to HI ms (default "
        "400:700)")  # fmt: skip
    add("--trailing-ms", type=_ms_range, default=(0.0, 0.0), metavar="LO:HI",
        help="a sound without words after each turn's words, drawn from LO to HI ms "
        "(default none)")  # fmt: skip
    add("--tradeoff", action="store_true",
        help="latency vs cut-offs: calls whose turns pause mid-sentence, against several "
        "ASSEMBLYAI_MIN/MAX_TURN_SILENCE pairs with speculative speech on (realistic delays; "
        "bench/latency/tradeoff.py)")  # fmt: skip
    add("--max-waste-percent", type=int, default=None, metavar="PERCENT",
        help="SIPGW_SPECULATIVE_MAX_WASTE_PERCENT (default: the gateway's, 10)")  # fmt: skip
    add("--gateway-cpu", type=int, default=0,
        help="pin the gateway to this CPU; -1 = no pinning (default %(default)s)")  # fmt: skip
    add("--bench-cpu", type=int, default=1,
        help="pin this process (caller, fakes) to this CPU; -1 = no pinning "
        "(default %(default)s)")  # fmt: skip
    add("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")
    add("--json", metavar="PATH",
        help="where to write the JSON (default bench/results/latency-<UTC>.json; "
        "- = stdout)")  # fmt: skip
    add("--keep-records", action="store_true", help="keep the gateway's call records")
    return parser


REALISTIC = {
    "min_turn_silence": 100,
    "max_turn_silence": 300,
    "stt_final_latency": 0.0,
    "llm_first_token_ms": 350.0,
    "tts_first_byte_ms": 150.0,
    "no_sentence_end": True,
}
"""What ``--realistic`` sets (STT end of turn 300 ms after silence, LLM 350, TTS 150)."""


def _realistic(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Apply ``--realistic`` (an option given explicitly stays as given)."""
    if args.tradeoff:
        args.realistic = True
    if not args.realistic:
        return
    given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
    for name, value in REALISTIC.items():
        if name not in given:
            setattr(args, name, value)
    if "partial_mismatch" not in given:
        args.partial_mismatch = 0.1


def _ms_range(value: str) -> tuple[float, float]:
    """``LO:HI`` in ms -> (lo, hi) in seconds."""
    low, _, high = value.partition(":")
    try:
        lo, hi = float(low), float(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected LO:HI in ms") from None
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"{value!r}: expected 0 <= LO <= HI")
    return lo / 1000, hi / 1000


def _configs(args: argparse.Namespace) -> list[BenchConfig]:
    """The configurations to run (``--max-waste-percent`` applied to each)."""
    return [replace(c, max_waste_percent=args.max_waste_percent) for c in _chosen(args)]


def _chosen(args: argparse.Namespace) -> list[BenchConfig]:
    """The configurations ``--tradeoff``, ``--preemptive`` and ``--matrix`` choose."""
    if args.tradeoff:
        return list(TRADEOFF)
    knobs = (args.chunk_ms, args.jitter_min_ms, args.barge_in_start_ms)
    if args.preemptive == "speech":
        return [BenchConfig("preemptive-on", *knobs, preemptive=True),
                BenchConfig("speech-partials", *knobs, preemptive=True,
                            speech_partials=True)]  # fmt: skip
    if args.preemptive in ("both", "all"):
        configs = [BenchConfig("preemptive-off", *knobs),
                   BenchConfig("preemptive-on", *knobs, preemptive=True)]  # fmt: skip
        if args.preemptive == "all":
            configs.append(BenchConfig("speculative", *knobs, preemptive=True, speculative=True))
        return configs
    early = args.preemptive in ("on", "speculative")
    speculative = args.preemptive == "speculative"
    if args.matrix:
        return [replace(c, preemptive=early, speculative=speculative) for c in MATRIX]
    return [
        BenchConfig("custom" if knobs != (100, 40, 60) else "base", *knobs,
                    preemptive=early, speculative=speculative)
    ]  # fmt: skip


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    params = BenchParams(
        calls=args.calls,
        turns=args.turns,
        greeting_calls=args.greeting_calls,
        warmup_calls=args.warmup_calls,
        min_turn_silence_ms=args.min_turn_silence,
        stt_final_latency_ms=args.stt_final_latency,
        llm_first_token_ms=args.llm_first_token_ms,
        tts_first_byte_ms=args.tts_first_byte_ms,
        llm_next_token_ms=args.llm_next_token_ms,
        tts_speed=args.tts_speed,
        seed=args.seed,
        max_turn_silence_ms=args.max_turn_silence,
        sentence_end=not args.no_sentence_end,
        partial_mismatch=args.partial_mismatch,
        stt_partial_latency_ms=args.stt_partial_latency,
        early_partial_ms=args.early_partial_ms,
        trailing_s=args.trailing_ms,
        first_speech_s=args.first_speech_ms,
    )
    configs = _configs(args)
    task = asyncio.current_task()
    if task is not None:  # SIGTERM/SIGINT: stop the gateway and the fakes, then exit
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    machine = machine_info()
    bench_pinned = pin_self(args.bench_cpu if args.bench_cpu >= 0 else None)
    gateway_cpu = args.gateway_cpu if args.gateway_cpu >= 0 else None
    rng = random.Random(params.seed)
    counters = (itertools.count(1), itertools.count(1))
    fakes = BenchFakes(params)
    sections = []
    kind = "paused" if args.tradeoff else "conversation"
    try:
        for config in configs:
            log(f"configuration {config.name}: {config}")
            section = await run_config(
                config, params, fakes, rng, counters, gateway_cpu, args.keep_records, kind
            )
            sections.append(section)
            if not args.tradeoff:
                print(config_report(section, params), flush=True)
                print(flush=True)
    finally:
        fakes.stop()
    if args.tradeoff:
        print(tradeoff_report(sections), flush=True)
        return {"benchmark": "latency-tradeoff", "machine": machine,
                "params": asdict(params), "configs": sections}  # fmt: skip
    comparison = preemptive_comparison(sections)
    if comparison is not None:
        print(preemptive_report(comparison), flush=True)
    elif len(sections) > 1:
        print(matrix_report(sections), flush=True)
    return {
        "benchmark": "latency",
        "machine": {
            **machine,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "bench_cpu": args.bench_cpu if bench_pinned else None,
            "gateway_cpu": gateway_cpu,
        },
        "params": {**asdict(params), "nominal_delays_ms": params.nominal_delays_ms},
        "targets": [{"figure": f, "statistic": s, "limit_ms": v} for f, s, v in TARGETS],
        "configs": sections,
        **({"preemptive_comparison": comparison} if comparison is not None else {}),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    _realistic(args, argv)
    sys.setswitchinterval(0.0002)  # the fakes' threads must not hold up the caller's loop
    try:
        import uvloop
    except ImportError:  # not on Linux
        runner: Callable[[Any], dict[str, Any]] = asyncio.run
    else:
        runner = uvloop.run
    try:
        result = runner(_run(args))
    except asyncio.CancelledError:
        log("interrupted: no JSON written")
        return 130
    where = write_json(result, args.json, "latency")
    log(f"JSON written to {where}")
    return 0
