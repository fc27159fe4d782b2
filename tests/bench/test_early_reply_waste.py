"""The early-reply waste bench counts drops and split turns with the agent's own parts."""

from __future__ import annotations

from bench.early_reply_waste import SILENCE, dropped_and_split
from sipgw.app.evaluation.audio import tone_frame

LOUD = tone_frame(300)


def turn(pause_frames: int) -> list[bytes]:
    return [SILENCE] * 25 + [LOUD] * 30 + [SILENCE] * pause_frames + [LOUD] * 30 + [SILENCE] * 40


def test_a_pause_longer_than_the_early_silence_drops_one_reply() -> None:
    assert dropped_and_split(turn(0), silence_ms=500, early_ms=200) == (0, 0)
    # 300 ms of quiet plus the detector's hangover: past 200 ms, short of 500 ms
    assert dropped_and_split(turn(15), silence_ms=500, early_ms=200) == (1, 0)
    assert dropped_and_split(turn(15), silence_ms=500, early_ms=400) == (0, 0)


def test_a_pause_as_long_as_the_end_of_turn_splits_the_turn() -> None:
    assert dropped_and_split(turn(30), silence_ms=500, early_ms=200) == (0, 1)
