"""bench.stop_frontier: a rule fires on k frames in a row meeting every threshold; pauses
on the room are counted as events at least 0.5 s apart."""

from __future__ import annotations

import numpy as np

from bench.stop_frontier import Features, events_per_min, fires


def _features(over_room: list[float], probability: list[float]) -> Features:
    n = len(over_room)
    return Features(np.array(over_room), np.zeros(n), np.array(probability), np.zeros(n))


def test_a_rule_needs_every_threshold_for_k_frames_in_a_row() -> None:
    f = _features([0, 5, 5, 5, 0, 5, 5], [1, 1, 0.2, 1, 1, 1, 1])
    assert list(fires(f, (4.0, None, 0.0, None, 2))) == [0, 0, 1, 1, 0, 0, 1]
    # The probability's threshold breaks the run at frame 2.
    assert list(fires(f, (4.0, None, 0.5, None, 2))) == [0, 0, 0, 0, 0, 0, 1]
    # A rise condition no frame meets: never.
    assert not fires(f, (4.0, 3.0, 0.0, None, 1)).any()


def test_pauses_are_events_half_a_second_apart() -> None:
    fired = np.zeros(3000, bool)  # one minute of frames
    fired[[10, 11, 12, 30, 36, 100, 2000]] = True
    # 10 (11, 12 and 30 within 0.5 s of it), 36, 100, 2000.
    assert events_per_min(fired, 1.0) == 4
