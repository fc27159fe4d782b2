"""Digits as callers say them (sipgw.foundation.spoken): the words speech-to-text writes for 0-9."""

from __future__ import annotations

from sipgw.foundation.spoken import DIGIT_WORDS


def test_every_digit_has_its_word_and_nothing_else_is_a_digit() -> None:
    assert sorted(set(DIGIT_WORDS.values())) == list("0123456789")
    assert all(word.isalpha() and word == word.lower() for word in DIGIT_WORDS)
    assert [DIGIT_WORDS[w] for w in "one two three four five six seven eight nine".split()] == list(
        "123456789"
    )


def test_zero_is_said_two_ways() -> None:
    """ "Oh oh seven": callers read a zero as the letter O."""
    assert DIGIT_WORDS["zero"] == DIGIT_WORDS["oh"] == "0"
    assert len(DIGIT_WORDS) == 11
