"""Clock arithmetic of the shared ticker: absolute deadlines, no drift."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.media.pacer import Pacer


def test_on_time_ticks() -> None:
    p = Pacer(100.0)
    assert p.next_deadline() == 100.0
    assert p.due(99.999) == (0, 0)
    assert p.due(100.0) == (1, 0)
    assert p.next_deadline() == 100.0 + 1 * 0.020
    assert p.due(100.0201) == (1, 0)
    assert p.lateness(100.0201) == pytest.approx(0.0001)
    assert p.ticks == 2
    assert p.time_until_next(100.03) == pytest.approx(0.01)
    assert p.time_until_next(101.0) == 0.0


def test_stall_catch_up_and_skip() -> None:
    p = Pacer(0.0, max_catch_up=5)
    assert p.due(0.0) == (1, 0)
    # 0.5 s stall: deadlines 1..25 have passed.
    assert p.due(0.5) == (5, 20)
    assert p.next_deadline() == 26 * 0.020
    assert p.lateness(0.5) == pytest.approx(0.0)
    # A short stall is caught up entirely.
    assert p.due(26 * 0.020 + 0.065) == (4, 0)
    assert p.ticks == 30


def test_lateness_before_first_tick_and_validation() -> None:
    assert Pacer(5.0).lateness(6.0) == 0.0
    with pytest.raises(ValueError):
        Pacer(0.0, interval=0)
    with pytest.raises(ValueError):
        Pacer(0.0, max_catch_up=0)
    assert Pacer(0.0, interval=0.01).interval == 0.01


@settings(max_examples=5, deadline=None)
@given(st.floats(0.0, 1e6), st.integers(0, 2**32))
def test_no_drift_over_100k_ticks(start: float, seed: int) -> None:
    """10^5 ticks with random small lateness: deadline n is start + n * interval, exactly."""
    rng = random.Random(seed)
    p = Pacer(start)
    ran = skipped = 0
    for _ in range(100_000):
        deadline = p.next_deadline()
        assert deadline == start + p.ticks * 0.020
        now = deadline + rng.random() * 0.015  # always less late than one interval
        run, skip = p.due(now)
        assert (run, skip) == (1, 0)
        assert 0.0 <= p.lateness(now) < 0.0151
        ran += run
        skipped += skip
    assert ran == p.ticks == 100_000
    assert skipped == 0
    assert p.next_deadline() == start + 100_000 * 0.020


@given(
    st.floats(0.0, 1e5),
    st.lists(st.floats(0.0, 0.5), min_size=1, max_size=200),
    st.integers(1, 8),
)
def test_every_deadline_accounted_for(start: float, lateness: list[float], catch_up: int) -> None:
    """run + skipped is exactly the deadlines at or before now; run is at most catch_up."""
    p = Pacer(start, max_catch_up=catch_up)
    for late in lateness:
        now = p.next_deadline() + late
        before = p.ticks
        run, skip = p.due(now)
        assert 1 <= run <= catch_up
        assert run + skip == p.ticks - before
        assert start + (p.ticks - 1) * 0.020 <= now < start + p.ticks * 0.020
