"""What the model voice detector costs: one model step at several batch sizes, and one
tick's burst of many calls' frames (read, queued, run, heard) as the gateway handles it.

Run ``python -m bench.model_cost`` (``--batches 1,12,42,125,200 --calls 200 --seconds 20``).

- **The step** (``--batches``): :meth:`sipgw.media.voice_model.SileroModel.run` on random
  μ-law chunks and states, µs a run and a stream (the best of five rounds; the default
  engine, numpy products, :mod:`sipgw.media.silero_math`).
- **The burst** (``--calls``): that many calls' caller paths (``CallerAudio``, the model
  detector on a :class:`~sipgw.agent.assistant.caller_audio.ModelBatcher`'s batch, the
  turn-taking machine), every call's frame of a tick arriving together, as a load
  generator sends them (one shared ticker, every call's packet at once: the native
  reader's read after them takes all of them): each call's frame fed, one batch run,
  then every frame heard. Per tick: the wall time of each part and of the whole (what
  runs in one go on the event loop, so what a media tick waits for when its deadline
  falls in it), p50 / p99 / max over the measured ticks, the streams a run, and the CPU
  per call-second; the energy detector's burst beside it (``--detectors``). The line is
  ``bench.noise``'s noisy one (the interruption track over babble, street, TV and music
  at 10 dB, each call at its own place in it).

The figures go to a JSON (``--json``, default bench/results/) with the machine (CPU model,
load average) and a table to stdout. To compare two builds, run it from each in turn
(``PYTHONPATH`` naming the build's tree first).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from bench.noise import (
    BACKGROUNDS,
    GREETING_S,
    OPENING_S,
    Speaking,
    _ulaw_frames,
    interruption_track,
)
from sipgw.agent.assistant.caller_audio import CallerAudio, ModelBatcher, NoiseSettings
from sipgw.agent.assistant.settings import BargeInSettings
from sipgw.agent.turns import TurnTaker
from tests.toolkit.noisy_audio import background, mix

ROUNDS = 5
SILENCE = b"\xff" * 160


def step_cost(batch: int, reps: int) -> dict[str, float]:
    """µs a run and a stream of ``batch`` streams' chunks (best of :data:`ROUNDS`)."""
    import numpy as np

    from sipgw.media.voice_model import CHUNK, CONTEXT, SileroStream, shared_model

    model = shared_model()
    rng = np.random.default_rng(batch)
    chunks = [rng.integers(0, 256, CONTEXT + CHUNK, dtype=np.uint8).tobytes() for _ in range(batch)]
    streams = [SileroStream() for _ in range(batch)]
    model.run(streams, chunks)
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(reps):
            model.run(streams, chunks)
        best = min(best, (time.perf_counter() - started) / reps)
    return {"us_per_run": round(best * 1e6, 1), "us_per_stream": round(best * 1e6 / batch, 2)}


def burst_at(calls: int, seconds: float, detector: str) -> dict[str, Any]:
    """Per-tick wall times of ``calls`` calls' frames arriving together (see the module
    docstring), with the ``model`` or ``energy`` detector."""
    voice, _ = interruption_track(seconds)
    tracks = [
        _ulaw_frames(mix(voice, background(kind, OPENING_S + seconds), 10.0))
        for kind in BACKGROUNDS
    ]
    batcher = ModelBatcher() if detector == "model" else None
    settings = NoiseSettings(detector="model" if detector == "model" else "energy")
    stages, turn_takers, agents = [], [], []
    vad = BargeInSettings().vad
    for _ in range(calls):
        stage = CallerAudio(settings, batcher)
        agent = Speaking()
        found = stage.detector(vad, partial(getattr, agent, "audible"),
                               partial(getattr, agent, "pending"))  # fmt: skip
        stages.append(stage)
        agents.append(agent)
        turn_takers.append(TurnTaker(agent, detector=found))
    frames = len(tracks[0])
    opening = int(OPENING_S / 0.02)
    greeting = int(GREETING_S / 0.02)
    for agent in agents:  # the greeting plays, as in bench.noise
        agent.audible = agent.pending = greeting > 0
    # Calls that started at different times complete their chunks on different ticks:
    # call c hears c % 8 frames of silence first (a chunk is 8 frames' samples in 5).
    for j in range(7):
        late = [c for c in range(calls) if c % 8 > j]
        for c in late:
            stages[c].feed(SILENCE)
        if batcher is not None:
            batcher.batch.run()
        for c in late:
            turn_takers[c].receive_audio(SILENCE, (j - 7) * 0.02)
    feeds: list[float] = []
    runs: list[float] = []
    hears: list[float] = []
    wholes: list[float] = []
    cpu = 0.0
    clock = time.perf_counter
    for i in range(frames):
        if i == greeting:
            for agent in agents:
                agent.audible = agent.pending = False
        cpu_started = time.process_time()
        t0 = clock()
        heard = []
        for c in range(calls):
            track = tracks[c % len(tracks)]
            k = i if i < opening else opening + (i - opening + 7 * c) % (frames - opening)
            frame = stages[c].process(track[k])
            stages[c].feed(frame)
            heard.append(frame)
        t1 = clock()
        if batcher is not None:
            batcher.batch.run()
        t2 = clock()
        for c in range(calls):
            turn_takers[c].receive_audio(heard[c], i * 0.02)
        t3 = clock()
        if i >= opening:
            cpu += time.process_time() - cpu_started
            feeds.append(t1 - t0)
            runs.append(t2 - t1)
            hears.append(t3 - t2)
            wholes.append(t3 - t0)
        if i == opening:
            for agent in agents:
                agent.audible = agent.pending = True

    def ms(values: list[float]) -> dict[str, float | None]:
        return {
            f"p{q}": round(1000 * v, 3) if (v := percentile(values, q)) is not None else None
            for q in (50, 99)
        } | {"max": round(1000 * max(values), 3)}

    out: dict[str, Any] = {
        "cpu_ms_per_call_s": round(1000 * cpu / (calls * len(wholes) * 0.02), 3),
        "feed_ms": ms(feeds),
        "run_ms": ms(runs),
        "heard_ms": ms(hears),
        "burst_ms": ms(wholes),
    }
    if batcher is not None:
        batch = batcher.batch
        out["streams_per_run"] = round(batch.steps / max(batch.runs, 1), 1)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="1,12,42,125,200", help="streams a run ('': none)")
    parser.add_argument("--reps", type=int, default=200, help="runs a round, for the step")
    parser.add_argument("--calls", type=int, default=200, help="calls in the burst (0: none)")
    parser.add_argument("--seconds", type=float, default=20.0, help="the burst's measured time")
    parser.add_argument("--detectors", default="model,energy", help="for the burst")
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = parser.parse_args(argv)
    machine = machine_info()
    results: dict[str, Any] = {}
    if args.batches:
        steps = results["step"] = {}
        rows = []
        for batch in (int(b) for b in args.batches.split(",")):
            log(f"model step, {batch} streams a run")
            f = steps[str(batch)] = step_cost(batch, max(1, args.reps * 10 // batch))
            rows.append([str(batch), fmt(f["us_per_run"], ".1f"), fmt(f["us_per_stream"], ".2f")])
        print(format_table(["streams a run", "µs a run", "µs a stream"], rows))
    if args.calls:
        bursts = results["burst"] = {}
        rows = []
        for detector in args.detectors.split(","):
            log(f"{args.calls} calls' frames at once, {detector} detector")
            f = bursts[detector] = burst_at(args.calls, args.seconds, detector)
            rows.append([
                detector, *(fmt(f[part][q], ".2f") for part in ("feed_ms", "run_ms", "heard_ms")
                            for q in ("p50", "p99")),
                fmt(f["burst_ms"]["p50"], ".2f"), fmt(f["burst_ms"]["p99"], ".2f"),
                fmt(f["burst_ms"]["max"], ".2f"), fmt(f.get("streams_per_run"), ".1f"),
                fmt(f["cpu_ms_per_call_s"], ".3f"),
            ])  # fmt: skip
        print(f"{args.calls} calls, every call's frame of a tick at once (ms a tick, wall)")
        print(format_table(
            ["detector", "feed p50", "p99", "run p50", "p99", "heard p50", "p99", "burst p50",
             "p99", "max", "streams a run", "CPU ms per call-s"],
            rows,
        ))  # fmt: skip
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"{machine['cpu_model']}, load average {machine['loadavg_at_start']} -> {load}")
    path = write_json(
        {"machine": machine, "loadavg_at_end": load, "calls": args.calls,
         "seconds": args.seconds, "results": results},
        args.json, "model-cost",
    )  # fmt: skip
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
