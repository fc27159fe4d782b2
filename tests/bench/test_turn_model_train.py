"""bench.turn_model_train: the fit, the threshold rule, and weights the model can load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.turn_model_train import WAIT_TARGETS, fit, fit_signed, probabilities, threshold
from sipgw.media.voice.turn_model import TurnModel

pytestmark = pytest.mark.timeout(600)

REPO = Path(__file__).resolve().parents[2]


def test_the_fit_finds_the_feature_that_tells() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 3))
    y = (x[:, 1] + 0.3 * rng.normal(size=400) > 0).astype(float)
    model = fit(x, y)
    assert abs(model["weights"][1]) > 5 * max(abs(model["weights"][0]), abs(model["weights"][2]))
    assert model["weights"][1] > 0
    assert ((probabilities(model, x) > 0.5) == (y > 0.5)).mean() > 0.9
    assert fit(x, y) == model  # deterministic


def test_a_rising_end_may_not_count_as_finished() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + x[:, 2] + 0.3 * rng.normal(size=400) > 0).astype(float)
    names = ["final_pitch", "rate", "final_slope"]  # the data says "higher: finished"
    model = fit_signed(x, y, names)
    assert model["left_out"] == ["final_pitch", "final_slope"] or model["left_out"] == [
        "final_slope",
        "final_pitch",
    ]
    assert model["weights"][0] == model["weights"][2] == 0.0
    free = fit_signed(-x, y, names)  # "lower: finished" is kept
    assert free["left_out"] == [] and free["weights"][0] < 0 and free["weights"][2] < 0


def test_the_threshold_keeps_false_finished_under_the_target() -> None:
    p = np.array([0.1, 0.55, 0.62, 0.7, 0.9, 0.95])
    y = np.array([0, 0, 0, 0, 1, 1])
    cut = threshold(p, y, target=0.25)
    assert 0.62 <= cut < 0.7
    assert ((p > cut) & (y == 0)).sum() / (y == 0).sum() <= 0.25


def test_training_writes_weights_the_model_loads(tmp_path: Path) -> None:
    out = tmp_path / "weights.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.turn_model_train", "--limit", "4", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    model = TurnModel.parse(data)
    assert data["trained_on"]["samples"] == 24
    assert 0.5 <= model.audio.threshold <= 0.99
    # the graded wait: every wait of WAIT_TARGETS, a longer one at no higher a probability
    for weights in (model.audio, model.audio_text):
        assert [ms for ms, _ in weights.waits] == [ms for ms, _ in WAIT_TARGETS]
        cuts = [cut for _, cut in weights.waits]
        assert cuts == sorted(cuts, reverse=True) and all(0.5 <= c <= 0.99 for c in cuts)
