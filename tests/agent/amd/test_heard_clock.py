"""The callee's frames on their own timeline (sipgw/agent/amd/heard_clock.py)."""

from __future__ import annotations

import pytest

from sipgw.agent.amd.heard_clock import OVERDUE, RESYNC, HeardClock


def test_frames_on_time_end_at_their_arrival() -> None:
    clock = HeardClock()
    times = [clock.frame(t) for t in (10.02, 10.04, 10.061, 10.08)]
    assert times == pytest.approx([10.02, 10.04, 10.06, 10.08])  # a millisecond late: its place
    assert clock.lag == pytest.approx(0.0) and clock.at(10.09) == pytest.approx(10.09)


def test_the_frames_a_stall_held_back_are_put_back_in_their_place() -> None:
    """The gateway stopped from 10.04 to 10.30: the 13 frames due meanwhile come together
    at 10.30, each one frame after the one before, the last one ending at its arrival."""
    clock = HeardClock()
    clock.frame(10.02)
    clock.frame(10.04)
    burst = [clock.frame(10.30) for _ in range(13)]
    assert burst == pytest.approx([10.04 + 0.02 * n for n in range(1, 14)])
    assert clock.lag == pytest.approx(0.0, abs=1e-9)
    assert clock.frame(10.32) == pytest.approx(10.32)


def test_frames_that_come_late_stay_behind_until_others_catch_up() -> None:
    """Frames come at 40 ms apart for a while (the tap waited for a late packet): each
    one ends a frame after the one before, so the lag shows; timers and words are put
    back by it; frames close together catch up."""
    clock = HeardClock()
    clock.frame(1.02)
    assert clock.frame(1.08) == pytest.approx(1.04)
    assert clock.lag == pytest.approx(0.04)
    assert clock.at(1.09) == pytest.approx(1.05) and clock.wall(1.5) == pytest.approx(1.54)
    assert clock.frame(1.08) == pytest.approx(1.06)
    assert clock.frame(1.08) == pytest.approx(1.08)  # caught up: never later than arrival
    assert clock.frame(1.085) == pytest.approx(1.085)


def test_a_frame_after_a_long_gap_starts_the_clock_again() -> None:
    """No frame for RESYNC (the callee held the call): the next is timed at its arrival."""
    clock = HeardClock()
    clock.frame(5.0)
    assert clock.frame(5.0 + RESYNC) == 5.0 + RESYNC


def test_a_timer_in_a_stall_waits_a_frame_for_the_frames_once() -> None:
    clock = HeardClock()
    assert not clock.waits(3.0)  # no frame yet: the timers are the loop's
    clock.frame(3.0)
    assert not clock.waits(3.0 + OVERDUE) and clock.retry_at is None  # frames on time
    assert clock.waits(3.4) and clock.retry_at == pytest.approx(3.42)
    assert not clock.waits(3.42) and clock.retry_at is None  # none came: time as it is
    clock.frame(3.5)
    assert clock.waits(3.7)  # once per gap between frames
    clock.frame(3.7)
    assert clock.retry_at is None
