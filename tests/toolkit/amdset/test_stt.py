"""The simulated streaming recognizer: partials at pauses, finals on sentence ends, latency."""

from __future__ import annotations

import random

from tests.toolkit.amdset.speech import Word
from tests.toolkit.amdset.stt import SimulatedTranscript, SttTiming, simulate

FIXED = SttTiming(latency=(0.2, 0.2))


def words(*spec: tuple[str, float, float]) -> list[Word]:
    return [Word(text, start, end) for text, start, end in spec]


def test_a_question_ends_its_turn_after_min_turn_silence() -> None:
    out = simulate(words(("Hello?", 0.5, 0.9)), random.Random(1), FIXED)
    assert out == [SimulatedTranscript(0.9 + 0.1 + 0.2, 0, "Hello?", True)]


def test_a_comma_pause_brings_a_partial_and_the_full_stop_the_final() -> None:
    spoken = words(
        ("Hi,", 0.2, 0.4), ("you've", 0.55, 0.8), ("reached", 0.8, 1.1), ("Ana.", 1.1, 1.4)
    )
    out = simulate(spoken, random.Random(1), FIXED)
    assert [(round(t.at, 2), t.turn, t.text, t.final) for t in out] == [
        (0.7, 0, "hi", False),
        (1.5, 0, "hi you've reached", False),  # 750 ms into the run "you've reached Ana."
        (1.7, 0, "Hi, you've reached Ana.", True),
    ]


def test_without_punctuation_the_turn_ends_at_max_turn_silence() -> None:
    out = simulate(words(("yeah", 0.2, 0.5)), random.Random(1), FIXED)
    assert [(round(t.at, 2), t.final) for t in out] == [(0.5 + 1.0 + 0.2, True)]


def test_long_speech_brings_one_early_partial_per_turn_and_turns_count_up() -> None:
    spoken = [Word(f"w{i}", 0.3 * i, 0.3 * i + 0.3) for i in range(10)]  # 3 s without a pause
    spoken[-1] = Word("end.", 2.7, 3.0)
    spoken.append(Word("Again.", 3.5, 3.9))
    out = simulate(spoken, random.Random(1), FIXED)
    early = [t for t in out if not t.final]
    assert [round(t.at, 2) for t in early] == [0.95]  # 750 ms of speech, + latency: once
    assert early[0].text == "w0 w1"  # the words ended by then
    finals = [t for t in out if t.final]
    assert [(t.turn, t.text.split()[-1]) for t in finals] == [(0, "end."), (1, "Again.")]


def test_a_long_turn_brings_continuous_partials_every_3_s() -> None:
    spoken = [Word(f"w{i}", 0.5 * i, 0.5 * i + 0.5) for i in range(14)]  # 7 s, no pause
    spoken[-1] = Word("end.", 6.5, 7.0)
    out = simulate(spoken, random.Random(1), FIXED)
    partials = [(round(t.at, 2), t.text.split()[-1]) for t in out if not t.final]
    assert partials == [(0.95, "w0"), (3.2, "w5"), (6.2, "w11")]
    off = simulate(
        spoken, random.Random(1), SttTiming(latency=(0.2, 0.2), continuous_partials_every=None)
    )
    assert [round(t.at, 2) for t in off if not t.final] == [0.95]


def test_an_early_partial_with_no_word_yet_is_tried_again() -> None:
    spoken = [Word("aaaaaaah", 0.0, 1.0), Word("b", 1.0, 1.2), Word("c.", 1.2, 2.0)]
    out = simulate(spoken, random.Random(1), FIXED)
    assert [(round(t.at, 2), t.text) for t in out if not t.final] == [(1.7, "aaaaaaah b")]


def test_messages_arrive_in_order_with_latency_in_range() -> None:
    spoken = [Word("a,", 0.1 * k, 0.1 * k + 0.05) for k in range(0, 40, 3)]
    out = simulate(spoken, random.Random(5), SttTiming(continuous_partials_every=None))
    assert len(out) == len(spoken)  # a partial per pause, then the final
    assert all(a.at < b.at for a, b in zip(out, out[1:], strict=False))
    delays = [t.at - w.end for t, w in zip(out, spoken, strict=True)]
    assert all(0.1 + 0.12 <= d <= 0.1 + 0.3 for d in delays[:-1])
    assert 1.0 + 0.12 <= delays[-1] <= 1.0 + 0.3  # no sentence end: max_turn_silence
