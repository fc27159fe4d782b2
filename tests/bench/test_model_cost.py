"""bench.model_cost: the step's timings and the comparison against another build's math,
and one tick's burst of many calls' frames (staggered chunks, the parts' times)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.model_cost import burst_at, step_against, step_cost
from sipgw.media.voice import silero_math
from sipgw.media.voice.silero import ModelMissing, model_path

pytest.importorskip("onnxruntime", reason="the noise extra")
try:
    model_path()
except ModelMissing:  # pragma: no cover - depends on the install
    pytest.skip("the noise extra (silero-vad)", allow_module_level=True)

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]


def test_a_larger_batch_costs_less_a_stream() -> None:
    """By the thread's CPU time: the wall time of 32 streams' runs (6 ms a run) is cut into
    by the suite's other workers far more often than one stream's (in a loaded run 204 µs a
    stream batched against 158 alone)."""
    assert silero_math.single_threaded_blas()  # so the thread's time is all of the math
    alone = step_cost(1, 5, time.thread_time)
    batched = step_cost(32, 5, time.thread_time)
    assert alone["us_per_run"] == pytest.approx(alone["us_per_stream"], abs=0.1)
    assert batched["us_per_stream"] < alone["us_per_stream"]


def test_against_the_same_math_gives_the_same_probabilities() -> None:
    figures = step_against(8, 3, Path(silero_math.__file__))
    assert figures["max_probability_difference"] == 0.0
    assert figures["us_per_stream"] > 0 and figures["other_us_per_stream"] > 0


def test_a_burst_runs_the_staggered_calls_chunks_together() -> None:
    """16 calls started on different ticks: their frames fed with their times put their
    chunks on the batcher's cycle, so all of them complete on the same 5 ticks in 8, in one
    run (about 10 streams a run otherwise; a listener's skipped chunks make it under 16);
    the energy detector runs nothing."""
    model = burst_at(16, 1.0, "model")
    assert 14 <= model["streams_per_run"] <= 16
    assert model["run_ms"]["p50"] > 0
    assert model["burst_ms"]["max"] >= model["burst_ms"]["p50"] >= model["run_ms"]["p50"]
    energy = burst_at(16, 1.0, "energy")
    assert energy["run_ms"]["max"] < model["run_ms"]["max"]
    assert "streams_per_run" not in energy
    grouped = burst_at(16, 1.0, "model", group=4)
    assert grouped["streams_per_run"] < model["streams_per_run"]  # a run a group


def test_model_cost_tiny_run(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.model_cost", "--batches", "1,4", "--reps", "4",
         "--calls", "8", "--seconds", "1", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "µs a stream" in proc.stdout and "burst p50" in proc.stdout
    figures = json.loads(out.read_text())
    assert set(figures["results"]["step"]) == {"1", "4"}
    assert set(figures["results"]["burst"]) == {"model", "energy"}
    assert figures["machine"]["cpu_model"]
