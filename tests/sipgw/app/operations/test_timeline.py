"""The charts' per-minute buckets (sipgw/app/operations/timeline.py), on a clock moved by hand."""

from __future__ import annotations

import pytest

from sipgw.app.operations.timeline import (
    LATENCY_EDGES_MS,
    MAX_OUTCOMES,
    MINUTES,
    CallTimeline,
    percentile,
)

T0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600  # on the hour: points line up with minutes


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def timeline() -> tuple[CallTimeline, Clock]:
    clock = Clock()
    return CallTimeline(clock), clock


def test_an_hour_is_sixty_minutes_ending_with_the_current_one() -> None:
    line, clock = timeline()
    clock.now = T0 + 59 * 60 + 30
    series = line.series("hour")
    assert series["window"] == "hour" and series["step_s"] == 60
    points = series["points"]
    assert len(points) == 60
    assert points[0]["t"] == T0 and points[-1]["t"] == T0 + 59 * 60
    assert all(p["calls"] == 0 and p["p50_ms"] is None and p["mos"] is None for p in points)


def test_calls_at_once_are_the_most_in_each_minute_and_carry_over_quiet_minutes() -> None:
    line, clock = timeline()
    line.calls_now(1)
    clock.now += 10
    line.calls_now(3)
    clock.now += 10
    line.calls_now(2)  # the minute's most was 3, it ends at 2
    clock.now = T0 + 5 * 60  # nothing happens for five minutes
    line.calls_now(0)
    clock.now = T0 + 7 * 60
    calls = [p["calls"] for p in line.series("hour")["points"]][-8:]
    assert calls == [3, 2, 2, 2, 2, 2, 0, 0]


def test_end_of_turn_latency_percentiles_per_minute() -> None:
    line, clock = timeline()
    for ms in [100] * 10 + [400] * 8 + [2000] * 2:
        line.turn(ms)
    line.turn(float("nan"))  # not counted
    line.turn(-5)
    clock.now += 60
    line.turn(900)
    points = line.series("hour")["points"]
    first, second = points[-2], points[-1]
    assert first["turns"] == 20 and second["turns"] == 1
    assert 100 <= first["p50_ms"] <= 100 * 1.15  # the bin's upper edge, within 15 %
    assert 2000 <= first["p95_ms"] <= 2000 * 1.15
    assert 900 <= second["p50_ms"] == second["p95_ms"] <= 900 * 1.15


def test_percentiles_of_a_histogram() -> None:
    counts = [0] * (len(LATENCY_EDGES_MS) + 1)
    assert percentile(counts, 0.5) is None
    counts[0], counts[-1] = 1, 1  # one fast turn, one beyond the last edge
    assert percentile(counts, 0.5) == LATENCY_EDGES_MS[0]
    assert percentile(counts, 0.95) == LATENCY_EDGES_MS[-1]


def test_barge_ins_errors_outcomes_and_mos_add_up_in_a_day_point() -> None:
    line, clock = timeline()
    clock.now = T0 + 3 * 60
    line.barge_in()
    line.vendor_error()
    line.call_ended("remote-bye", 4.2)
    clock.now = T0 + 8 * 60
    line.barge_in()
    line.call_ended("remote-bye", 3.8)
    line.call_ended("busy", None)  # no media: no MOS
    day = line.series("day")
    assert day["step_s"] == 600 and len(day["points"]) == 144
    point = day["points"][-1]  # T0 .. T0 + 10 min
    assert point["t"] == T0
    assert (point["barge_ins"], point["vendor_errors"], point["ended"]) == (2, 1, 3)
    assert point["outcomes"] == {"remote-bye": 2, "busy": 1}
    assert point["mos"] == 4.0
    hour = line.series("hour")["points"]
    assert [p["outcomes"] for p in hour[-6:]] == [
        {"remote-bye": 1},
        {},
        {},
        {},
        {},
        {"remote-bye": 1, "busy": 1},
    ]


def test_outcomes_per_minute_are_bounded() -> None:
    line, _ = timeline()
    for index in range(MAX_OUTCOMES + 5):
        line.call_ended(f"reason-{index}", None)
    outcomes = line.series("hour")["points"][-1]["outcomes"]
    assert len(outcomes) == MAX_OUTCOMES + 1 and outcomes["other"] == 5


def test_memory_is_a_day_of_buckets_and_a_day_old_minute_is_forgotten() -> None:
    line, clock = timeline()
    line.barge_in()
    line.calls_now(4)
    for minute in range(1, 2 * MINUTES):
        clock.now = T0 + minute * 60
        line.vendor_error()
    assert len(line._slots) == MINUTES
    assert sum(1 for slot in line._slots if slot is not None) == MINUTES
    day = line.series("day")["points"]
    assert sum(p["barge_ins"] for p in day) == 0  # that minute's slot was reused
    assert sum(p["vendor_errors"] for p in day) == MINUTES
    assert {p["calls"] for p in day} == {4}  # no change since: still four up


def test_no_event_for_more_than_a_day_keeps_the_level() -> None:
    line, clock = timeline()
    line.calls_now(2)
    clock.now += 3 * 86400
    assert {p["calls"] for p in line.series("hour")["points"]} == {2}


@pytest.mark.parametrize("window", ["hour", "day"])
def test_points_are_in_time_order_and_end_now(window: str) -> None:
    line, clock = timeline()
    clock.now = T0 + 12_345
    points = line.series(window)["points"]  # type: ignore[arg-type]
    starts = [p["t"] for p in points]
    assert starts == sorted(starts) and starts[-1] <= clock.now < starts[-1] + (
        60 if window == "hour" else 600
    )
