"""bench.backchannel_sound: the burst's features, and the logistic model it fits."""

from __future__ import annotations

import math

import numpy as np

from bench.backchannel_sound import features, fit
from tests.toolkit.backchannels.labelled import CONDITIONS, items, make_sample


def test_the_features_of_a_burst_are_finite_and_depend_on_the_window() -> None:
    sample = make_sample(items(1)[0], CONDITIONS[0])
    short, long = features(sample.ulaw, 160), features(sample.ulaw, 360)
    assert len(short) == len(long) == 13
    assert all(math.isfinite(v) for v in short + long)
    assert short != long


def test_the_model_separates_what_a_line_separates() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] > 0).astype(np.float64)
    w = fit(x, y)
    score = np.hstack([x, np.ones((200, 1))]) @ w
    assert ((score > 0) == (y > 0.5)).mean() > 0.95
