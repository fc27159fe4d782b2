"""The soak's growth fits (bench/soak/trend.py): growth at equal load, not the load's wobble."""

from __future__ import annotations

import random

from bench.soak.trend import Bound, Sample, fit, judge


def test_a_figure_that_follows_the_calls_up_does_not_grow() -> None:
    rng = random.Random(1)
    samples = []
    for i in range(360):  # an hour, every 10 s; churn makes the calls wobble
        calls = 40 + rng.randint(-6, 6)
        samples.append(Sample(i * 10.0, 200 + 12 * calls + rng.uniform(-1, 1), calls))
    trend = fit(samples)
    assert trend is not None and trend.per_call is not None
    assert abs(trend.per_call - 12) < 0.1
    assert abs(trend.growth) < 2
    assert judge(trend, Bound(5)) is True


def test_a_leak_is_found_under_the_wobble() -> None:
    rng = random.Random(2)
    samples = []
    for i in range(360):
        calls = 40 + rng.randint(-6, 6)
        leaked = i * 10.0 / 3600 * 30  # 30 more an hour
        samples.append(Sample(i * 10.0, 200 + 12 * calls + leaked + rng.uniform(-1, 1), calls))
    trend = fit(samples)
    assert trend is not None
    assert 28 < trend.slope_per_hour < 32
    assert judge(trend, Bound(5)) is False
    assert judge(trend, Bound(5, share=0.10)) is True  # within 10 % of a mean of ~700


def test_with_a_constant_load_the_fit_is_the_plain_slope() -> None:
    samples = [Sample(t, 100 + 2 * t / 60, 3) for t in range(0, 600, 10)]
    trend = fit(samples)
    assert trend is not None and trend.per_call is None
    assert abs(trend.slope_per_hour - 120) < 1e-6
    assert abs(trend.growth - 2 * 590 / 60) < 1e-6
    assert trend.first == 100 + 2 * 10 / 60 and trend.last == 100 + 2 * 580 / 60


def test_too_few_samples_give_no_verdict_and_falling_is_fine() -> None:
    assert fit([Sample(0, 1), Sample(10, 2)]) is None
    assert judge(None, Bound(1)) is None
    falling = fit([Sample(t, 1000 - t, 0) for t in range(0, 100, 10)])
    assert judge(falling, Bound(0)) is True
    assert Bound(4096, 0.05).limit(100_000) == 5000
    assert Bound(4096, 0.05).describe() == "≤ max(4096, 5 % of the mean)"
