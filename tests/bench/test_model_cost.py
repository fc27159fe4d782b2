"""bench.model_cost: the step's timings and the comparison against another build's math,
and one tick's burst of many calls' frames (staggered chunks, the parts' times)."""

from __future__ import annotations

import json
import math
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


def test_the_step_reports_a_run_and_a_stream() -> None:
    """µs a run and a stream, by the clock given (here the thread's CPU time), at two batch
    sizes; which size costs less a stream is the bench's figure (docs/performance.md), not a
    verdict a loaded machine could change."""
    assert silero_math.single_threaded_blas()  # so the thread's time is all of the math
    alone = step_cost(1, 5, time.thread_time)
    batched = step_cost(32, 5, time.thread_time)
    assert alone["us_per_run"] == pytest.approx(alone["us_per_stream"], abs=0.1)
    assert batched["us_per_run"] == pytest.approx(32 * batched["us_per_stream"], rel=0.01)
    assert alone["us_per_stream"] > 0 and batched["us_per_stream"] > 0


def test_against_the_same_math_gives_the_same_probabilities() -> None:
    figures = step_against(8, 3, Path(silero_math.__file__))
    assert figures["max_probability_difference"] == 0.0
    assert figures["us_per_stream"] > 0 and figures["other_us_per_stream"] > 0


def test_a_burst_runs_the_staggered_calls_chunks_together() -> None:
    """16 calls started on different ticks: their frames fed with their times put their
    chunks on the batcher's cycle, so all of them complete on the same 5 ticks in 8, in one
    run (about 10 streams a run otherwise; a listener's skipped chunks make it under 16);
    the energy detector runs nothing. Counts, not times: the parts' wall times are the
    bench's figures (checked here only as reported), which a busy machine changes."""
    model = burst_at(16, 1.0, "model")
    assert 14 <= model["streams_per_run"] <= 16
    assert model["ticks"] == 50  # 1 s measured
    assert 0 < model["runs"] <= math.ceil(model["ticks"] * 5 / 8)  # on 5 ticks in 8 at most
    energy = burst_at(16, 1.0, "energy")
    assert "runs" not in energy and "streams_per_run" not in energy
    for figures in (model, energy):
        for part in ("feed_ms", "run_ms", "heard_ms", "burst_ms"):
            assert set(figures[part]) == {"p50", "p99", "max"}, figures
            assert 0 <= figures[part]["p50"] <= figures[part]["max"], figures
        # a tick's whole holds its run: so do their order statistics, whatever the machine
        assert figures["burst_ms"]["p50"] >= figures["run_ms"]["p50"]
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
