"""The callee's stretches and greetings, frame by frame (sipgw/agent/amd/cadence.py)."""

from __future__ import annotations

import pytest

from sipgw.agent.amd.cadence import FRAME, Cadence
from sipgw.agent.amd.settings import AmdConfig

CONFIG = AmdConfig()


def feed(cadence: Cadence, script: str, start: float = 0.0) -> list[tuple[float, object]]:
    """``S`` voice, ``.`` none, one per frame: (time, what each call returned)."""
    out: list[tuple[float, object]] = []
    for n, c in enumerate(script):
        now = start + (n + 1) * FRAME
        out.append((now, cadence.voiced(now) if c == "S" else cadence.unvoiced(now)))
    return out


def test_speech_begins_after_the_onset_and_dates_from_its_first_frame() -> None:
    cadence = Cadence(CONFIG)
    onset = cadence.onset_frames
    results = feed(cadence, "S" * onset)
    assert [r for _, r in results] == [False] * (onset - 1) + [True]  # a new greeting
    assert cadence.in_speech
    assert cadence.stretch_start == pytest.approx(0.0)
    assert cadence.last_voice == pytest.approx(onset * FRAME)


def test_a_stretch_ends_after_human_silence_with_the_greetings_length() -> None:
    cadence = Cadence(CONFIG)
    quiet = round(CONFIG.human_silence / FRAME)
    results = feed(cadence, "S" * 25 + "." * quiet)
    ended = [r for _, r in results if isinstance(r, float)]
    assert ended == [pytest.approx(25 * FRAME)]
    assert not cadence.in_speech
    assert cadence.greeting_length() == pytest.approx(25 * FRAME)


def test_stretches_closer_than_the_greeting_gap_make_one_greeting() -> None:
    cadence = Cadence(CONFIG)
    quiet = round(CONFIG.human_silence / FRAME)
    feed(cadence, "S" * 10 + "." * quiet)
    again = feed(cadence, "S" * 10, start=(10 + quiet) * FRAME)
    assert True not in [r for _, r in again]  # the same greeting goes on
    assert cadence.greeting_length() == pytest.approx(20 * FRAME)  # its stretches, not the pause


def test_a_stretch_after_the_greeting_gap_begins_a_new_greeting() -> None:
    cadence = Cadence(CONFIG)
    gap = round(CONFIG.greeting_gap / FRAME) + 5
    feed(cadence, "S" * 10 + "." * gap)
    again = feed(cadence, "S" * 10, start=(10 + gap) * FRAME)
    assert True in [r for _, r in again]
    assert cadence.greeting_length() < 10 * FRAME
