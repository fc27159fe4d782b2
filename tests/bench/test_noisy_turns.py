"""bench.noisy_turns: the noisy callers' STT turns, answered or recorded as the room's, and
sorted by what their audio held."""

from __future__ import annotations

import pytest

from bench.noisy_turns import make_loop, measure, sort_turns

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
