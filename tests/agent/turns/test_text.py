"""The text end-of-turn scorer (agent/turns/text.py) with its shipped weights."""

from __future__ import annotations

import pytest

from sipgw.agent.turns.text import FEATURES, TextScorer, default_scorer, features, words_of


@pytest.mark.parametrize(
    "text",
    [
        "I'd like to book a table for",
        "my order number is",
        "the package arrived yesterday but",
        "can you put me through to the",
        "I want to, um",
        "I'd like to",
        "so, um",
        "and then I",
    ],
)
def test_an_open_clause_is_not_finished(text: str) -> None:
    assert not default_scorer().finished(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'd like to book a table for two people tomorrow night.",
        "I need to change the address to my office downtown.",
        "Can you send me the invoice please?",
        "Yes.",
        "No thanks.",
        "Thank you.",
    ],
)
def test_a_finished_sentence_is_finished(text: str) -> None:
    assert default_scorer().finished(text)


@pytest.mark.parametrize(
    "text",
    ["Sarah.", "Berlin.", "Two.", "Three.", "It's Maria.", "This is Laura.", "Billing.",
     "Hi, this is Ana.", "My name is Ana Lopez."],
)  # fmt: skip
def test_a_name_place_or_number_said_alone_is_finished_after_no_question(text: str) -> None:
    """What answers an open question ("How can I help you?") or one the question reader
    cannot parse: no longer held for the 1 s hold as a sentence's start."""
    scorer = default_scorer()
    assert scorer.finished(text)
    assert scorer.finished(text, "How can I help you today?")


@pytest.mark.parametrize("text", ["I'd", "Could", "We're", "I'm calling", "Mister", "Hold"])
def test_the_opening_of_a_sentence_said_alone_is_not_finished(text: str) -> None:
    assert not default_scorer().finished(text)


def test_punctuation_and_case_do_not_count() -> None:
    scorer = default_scorer()
    assert scorer.probability("My order number is.") == scorer.probability("my order number is")


def test_a_question_the_recognizer_punctuated_is_finished_unless_it_ends_open() -> None:
    scorer = default_scorer()
    assert scorer.finished("Hello, this is Doctor Smith's office, how can I help you?")
    assert not scorer.finished("hello this is doctor smith's office how can i help you")
    assert not scorer.finished("Can I speak to?")  # an open word still rules


def test_no_words_is_no_turn() -> None:
    assert default_scorer().probability("") == 0.0
    assert features([]) == [0.0] * len(FEATURES)


def test_words_are_lower_case_without_punctuation() -> None:
    assert words_of("I\u2019d like THAT, please.") == ["i'd", "like", "that", "please"]


def test_weights_for_other_features_are_refused(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "w.json"
    path.write_text('{"features": ["x"], "mean": [0], "scale": [1], "weights": [1], '
                    '"bias": 0, "finished_at": 0.5}')  # fmt: skip
    with pytest.raises(ValueError, match="other features"):
        TextScorer.load(path)


def test_the_shipped_weights_are_read_once() -> None:
    assert default_scorer() is default_scorer()
