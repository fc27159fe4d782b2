"""bench.noisy_turns: the noisy callers' STT turns, answered or recorded as the room's, and
sorted by what their audio held."""

from __future__ import annotations

import pytest

from bench.noisy_turns import call_audio, make_loop, measure, run, sort_turns

pytestmark = pytest.mark.timeout(120)


def test_answered_turns_are_sorted_by_the_sentences_they_span() -> None:
    sentences = [(0.0, 2.0), (6.0, 8.0)]
    answered = [(0.1, 0.9), (1.0, 1.9), (3.0, 4.0), (5.5, 6.5)]
    assert sort_turns(answered, sentences) == {"caller": 2, "split": 1, "background": 1}


def test_the_energy_detector_answers_the_background_and_the_model_records_it() -> None:
    loop = make_loop(10.0)
    assert len(loop.sentences) == 4
    figures = measure(loop, 2, 12.0, ["energy", "model"])
    energy, model = figures["energy"], figures["model"]
    assert energy["sentences"] >= 2
    assert energy["answered"] > energy["sentences"]  # the fake STT takes noise for turns
    assert energy["background"] > 0
    assert energy["room"] == 0
    assert model["room"] > 0
    assert model["answered"] < energy["answered"]


def test_a_caller_talking_over_the_replies_is_not_taken_for_the_room() -> None:
    # Call 9 of `bench.noisy_turns --greeting 3`: the caller's words over the greeting, then
    # over each reply (under their own gate), fed the room's level to within 2 dB of theirs,
    # and their later turns were recorded as the room's: 2 of its 5 sentences answered.
    frames, sentences = call_audio(make_loop(10.0), 20, 9, 30.0)
    assert len(sentences) == 5
    result = run(frames, "model", 3.0)
    assert sort_turns(result["answered"], sentences)["caller"] >= 4
