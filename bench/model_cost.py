"""What the model voice detector costs: one model step at several batch sizes, and one
tick's burst of many calls' frames (read, queued, run, heard) as the gateway handles it.

Run ``python -m bench.model_cost`` (``--batches 1,12,42,125,200 --calls 200 --seconds 20``).

- **The step** (``--batches``): :meth:`sipgw.media.voice.silero.SileroModel.run` on random
  μ-law chunks and states, µs a run and a stream (the best of five rounds; the default
  engine, numpy products, :mod:`sipgw.media.voice.silero_math`).
  With ``--against`` another build's ``silero_math.py``, the math alone (no μ-law lookup,
  no states gathered) by this build and that one in turn, in one process.
- **The burst** (``--calls``): that many calls' caller paths (``CallerAudio``, the model
  detector on a :class:`~sipgw.agent.conversation.caller_audio.ModelBatcher`'s batch, the
  turn-taking machine), every call's frame of a tick arriving together, as a load
  generator sends them (one shared ticker, every call's packet at once: the native
  reader's read after them takes all of them): each call's frame fed, one batch run,
  then every frame heard. The calls start on different ticks and each frame is fed with
  its time, so each call's model chunks are put on the batcher's cycle as in the gateway
  (``ModelBatcher.lead``: they complete on the same 5 ticks in 8). Per tick: the wall time
  of each part and of the whole (what runs in one go on the event loop, so what a media
  tick waits for when its deadline falls in it), p50 / p99 / max over the measured ticks,
  the measured ticks and the model's runs in them, the streams a run, and the CPU per
  call-second; the energy detector's burst beside it
  (``--detectors``). The line is ``bench.noise``'s noisy one (the interruption track over
  babble, street, TV and music at 10 dB, each call at its own place in it).

The figures go to a JSON (``--json``, default bench/results/) with the machine (CPU model,
load average) and a table to stdout. To compare two builds, run it from each in turn
(``PYTHONPATH`` naming the build's tree first).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from bench.noise import (
    BACKGROUNDS,
    GREETING_S,
    OPENING_S,
    _ulaw_frames,
    caller_rigs,
    interruption_track,
)
from sipgw.agent.conversation.caller_audio import ModelBatcher, NoiseSettings
from tests.toolkit.noisy_audio import background, mix

ROUNDS = 5
SILENCE = b"\xff" * 160


def step_cost(
    batch: int, reps: int, clock: Callable[[], float] = time.perf_counter
) -> dict[str, float]:
    """µs a run and a stream of ``batch`` streams' chunks (best of :data:`ROUNDS`), by
    ``clock``: wall time, or the thread's CPU time (``time.thread_time``: what a test on a
    machine shared with other work can compare, the math being single-threaded)."""
    import numpy as np

    from sipgw.media.voice.silero import CHUNK, CONTEXT, SileroStream, shared_model

    model = shared_model()
    rng = np.random.default_rng(batch)
    chunks = [rng.integers(0, 256, CONTEXT + CHUNK, dtype=np.uint8).tobytes() for _ in range(batch)]
    streams = [SileroStream() for _ in range(batch)]
    model.run(streams, chunks)
    best = float("inf")
    for _ in range(ROUNDS):
        started = clock()
        for _ in range(reps):
            model.run(streams, chunks)
        best = min(best, (clock() - started) / reps)
    return {"us_per_run": round(best * 1e6, 1), "us_per_stream": round(best * 1e6 / batch, 2)}


def step_against(batch: int, reps: int, other: Path) -> dict[str, float]:
    """µs a stream of ``batch`` streams' step by this tree's :class:`SileroMath` and by the
    one in ``other`` (another build's ``silero_math.py``), in turn within each of
    :data:`ROUNDS` x 2 rounds (the best of each): a busy machine's noise falls on both."""
    import numpy as np

    from sipgw.media.voice.silero import CHUNK, CONTEXT, model_path
    from sipgw.media.voice.silero_math import SileroMath, single_threaded_blas

    spec = importlib.util.spec_from_file_location("other_silero_math", other)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{other}: not a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    single_threaded_blas()
    # A build before the weights shipped takes the ONNX file's path; a later one, nothing.
    takes_path = "path" in inspect.signature(module.SileroMath).parameters
    mine = SileroMath()
    theirs = module.SileroMath(model_path()) if takes_path else module.SileroMath()
    rng = np.random.default_rng(batch)
    samples = (rng.standard_normal((batch, CONTEXT + CHUNK)) * 0.1).astype(np.float32)
    state = (rng.standard_normal((2, batch, 128)) * 0.1).astype(np.float32)
    ours, other_out = mine.run(samples, state)[0], theirs.run(samples, state)[0]
    best = {"this": float("inf"), "other": float("inf")}
    for _ in range(2 * ROUNDS):
        for name, math in (("this", mine), ("other", theirs)):
            started = time.perf_counter()
            for _ in range(reps):
                math.run(samples, state)
            best[name] = min(best[name], (time.perf_counter() - started) / reps)
    return {
        "us_per_stream": round(best["this"] * 1e6 / batch, 2),
        "other_us_per_stream": round(best["other"] * 1e6 / batch, 2),
        "ratio": round(best["this"] / best["other"], 3),
        "max_probability_difference": float(np.abs(ours - other_out).max()),
    }


def burst_at(calls: int, seconds: float, detector: str, group: int = 0) -> dict[str, Any]:
    """Per-tick wall times of ``calls`` calls' frames arriving together (see the module
    docstring), with the ``model`` or ``energy`` detector; ``group`` > 0: the tick's
    frames arrive that many calls at a time instead, each group fed, run and heard in
    turn (callers' packets spread over the tick; the parts' times are the tick's sums)."""
    voice, _ = interruption_track(seconds)
    tracks = [
        _ulaw_frames(mix(voice, background(kind, OPENING_S + seconds), 10.0))
        for kind in BACKGROUNDS
    ]
    batcher = ModelBatcher() if detector == "model" else None
    settings = NoiseSettings(detector="model" if detector == "model" else "energy")
    stages, turn_takers, agents = caller_rigs(calls, settings, batcher)
    frames = len(tracks[0])
    opening = int(OPENING_S / 0.02)
    greeting = int(GREETING_S / 0.02)
    for agent in agents:  # the greeting plays, as in bench.noise
        agent.audible = agent.pending = greeting > 0
    # Calls that started at different times: call c starts c % 8 ticks early, with silence
    # (a chunk is 8 frames' samples in 5). Each frame is fed with its time, as the gateway
    # does, so each call's chunks are put on the batcher's cycle (ModelBatcher.lead).
    for j in range(7):
        late = [c for c in range(calls) if c % 8 >= 7 - j]
        for c in late:
            stages[c].feed(SILENCE, (j - 7) * 0.02)
        if batcher is not None:
            batcher.batch.run()
        for c in late:
            turn_takers[c].receive_audio(SILENCE, (j - 7) * 0.02)
    feeds: list[float] = []
    runs: list[float] = []
    hears: list[float] = []
    wholes: list[float] = []
    cpu = 0.0
    runs_before = 0
    clock = time.perf_counter
    for i in range(frames):
        if i == greeting:
            for agent in agents:
                agent.audible = agent.pending = False
        if i == opening and batcher is not None:
            runs_before = batcher.batch.runs
        cpu_started = time.process_time()
        parts = [0.0, 0.0, 0.0]
        for first in range(0, calls, group or calls):
            members = range(first, min(first + (group or calls), calls))
            t0 = clock()
            heard = []
            for c in members:
                track = tracks[c % len(tracks)]
                k = i if i < opening else opening + (i - opening + 7 * c) % (frames - opening)
                frame = stages[c].process(track[k])
                stages[c].feed(frame, i * 0.02)
                heard.append(frame)
            t1 = clock()
            if batcher is not None:
                batcher.batch.run()
            t2 = clock()
            for c, frame in zip(members, heard, strict=True):
                turn_takers[c].receive_audio(frame, i * 0.02)
            t3 = clock()
            parts[0] += t1 - t0
            parts[1] += t2 - t1
            parts[2] += t3 - t2
        if i >= opening:
            cpu += time.process_time() - cpu_started
            feeds.append(parts[0])
            runs.append(parts[1])
            hears.append(parts[2])
            wholes.append(sum(parts))
        if i == opening:
            for agent in agents:
                agent.audible = agent.pending = True

    def ms(values: list[float]) -> dict[str, float | None]:
        return {
            f"p{q}": round(1000 * v, 3) if (v := percentile(values, q)) is not None else None
            for q in (50, 99)
        } | {"max": round(1000 * max(values), 3)}

    out: dict[str, Any] = {
        "ticks": len(wholes),
        "cpu_ms_per_call_s": round(1000 * cpu / (calls * len(wholes) * 0.02), 3),
        "feed_ms": ms(feeds),
        "run_ms": ms(runs),
        "heard_ms": ms(hears),
        "burst_ms": ms(wholes),
    }
    if batcher is not None:
        batch = batcher.batch
        out["streams_per_run"] = round(batch.steps / max(batch.runs, 1), 1)
        out["runs"] = batch.runs - runs_before
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="1,12,42,125,200", help="streams a run ('': none)")
    parser.add_argument("--reps", type=int, default=200, help="runs a round, for the step")
    parser.add_argument(
        "--against",
        type=Path,
        help="another build's sipgw/media/voice/silero_math.py: the step timed by both in turn",
    )
    parser.add_argument("--calls", type=int, default=200, help="calls in the burst (0: none)")
    parser.add_argument("--seconds", type=float, default=20.0, help="the burst's measured time")
    parser.add_argument("--detectors", default="model,energy", help="for the burst")
    parser.add_argument(
        "--group", type=int, default=0, help="the burst's frames this many calls at a time"
    )
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = parser.parse_args(argv)
    machine = machine_info()
    results: dict[str, Any] = {}
    if args.batches:
        steps: dict[str, dict[str, float]] = {}
        results["step"] = steps
        rows = []
        for batch in (int(b) for b in args.batches.split(",")):
            log(f"model step, {batch} streams a run")
            reps = max(1, args.reps * 10 // batch)
            if args.against:
                f = steps[str(batch)] = step_against(batch, reps, args.against)
                rows.append([str(batch), fmt(f["us_per_stream"], ".2f"),
                             fmt(f["other_us_per_stream"], ".2f"), fmt(f["ratio"], ".3f"),
                             f"{f['max_probability_difference']:.1e}"])  # fmt: skip
                continue
            f = steps[str(batch)] = step_cost(batch, reps)
            rows.append([str(batch), fmt(f["us_per_run"], ".1f"), fmt(f["us_per_stream"], ".2f")])
        headers = ["streams a run", "µs a run", "µs a stream"]
        if args.against:
            headers = ["streams a run", "µs a stream", "--against's", "this / that",
                       "probabilities' largest difference"]  # fmt: skip
        print(format_table(headers, rows))
    if args.calls:
        bursts: dict[str, dict[str, Any]] = {}
        results["burst"] = bursts
        rows = []
        for detector in args.detectors.split(","):
            log(f"{args.calls} calls' frames at once, {detector} detector")
            b = bursts[detector] = burst_at(args.calls, args.seconds, detector, args.group)
            rows.append([
                detector, *(fmt(b[part][q], ".2f") for part in ("feed_ms", "run_ms", "heard_ms")
                            for q in ("p50", "p99")),
                fmt(b["burst_ms"]["p50"], ".2f"), fmt(b["burst_ms"]["p99"], ".2f"),
                fmt(b["burst_ms"]["max"], ".2f"), fmt(b.get("streams_per_run"), ".1f"),
                fmt(b["cpu_ms_per_call_s"], ".3f"),
            ])  # fmt: skip
        together = f"{args.group} calls at a time" if args.group else "at once"
        print(f"{args.calls} calls, every call's frame of a tick {together} (ms a tick, wall)")
        print(format_table(
            ["detector", "feed p50", "p99", "run p50", "p99", "heard p50", "p99", "burst p50",
             "p99", "max", "streams a run", "CPU ms per call-s"],
            rows,
        ))  # fmt: skip
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"{machine['cpu_model']}, load average {machine['loadavg_at_start']} -> {load}")
    path = write_json(
        {"machine": machine, "loadavg_at_end": load, "calls": args.calls, "group": args.group,
         "seconds": args.seconds, "results": results},
        args.json, "model-cost",
    )  # fmt: skip
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
