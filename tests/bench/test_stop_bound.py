"""bench.stop_bound: the earliest pause of a level rule, from the sentence's onset on."""

from __future__ import annotations

from bench.stop_bound import frame_levels, level_at_percentile, room_bound_pause
from sipgw.media import g711
from sipgw.media.voice.vad import SILENT_DBFS


def _at(i: int) -> float:
    return (i + 1) * 0.02  # frame i has all arrived


def test_the_first_frame_over_the_threshold_from_the_onset_on() -> None:
    levels = [-20.0, -40.0, -40.0, -35.0, -25.0, -22.0, -21.0]
    # Frame 0 is loud but ends before the onset (0.04 s: frames 2 on hold the sentence).
    assert room_bound_pause(levels, -26.0, 0.04, 0.2, _at) == _at(4)
    assert room_bound_pause(levels, -21.5, 0.04, 0.2, _at) == _at(6)


def test_nothing_over_the_threshold_before_the_end_is_none() -> None:
    levels = [-40.0] * 5 + [-10.0]
    assert room_bound_pause(levels, -20.0, 0.0, 0.08, _at) is None  # frame 5 starts after it
    assert room_bound_pause(levels, -20.0, 0.0, 0.11, _at) == _at(5)


def test_percentile_is_the_nearest_rank() -> None:
    levels = [float(-i) for i in range(100)]  # -99 .. 0
    assert level_at_percentile(levels, 90) == -9.0
    assert level_at_percentile(levels, 99) == -0.0
    assert level_at_percentile(levels, 100) == 0.0


def test_frame_levels_of_ulaw_frames() -> None:
    silence = b"\xff" * 160
    loud = g711.linear_to_ulaw(
        b"".join((8000 if i % 2 else -8000).to_bytes(2, "little", signed=True) for i in range(160))
    )
    levels = frame_levels([silence, loud])
    assert levels[0] == SILENT_DBFS or levels[0] < -80
    assert -13.0 < levels[1] < -11.0  # a square wave at 8000/32768: -12.2 dBFS
