"""Twilio's profanity filter: profane words masked but their first letter, whole words only."""

from __future__ import annotations

from sipgw.twilio.profanity import PROFANITIES, mask_profanity


def test_a_profane_word_keeps_its_first_letter_and_its_case() -> None:
    assert mask_profanity("What the fuck is this shit") == "What the f*** is this s***"
    assert mask_profanity("FUCKING hell, Damn.") == "F****** hell, D***."


def test_words_that_only_contain_one_are_left_alone() -> None:
    text = "Scunthorpe class assessment cockpit dickens shitake"
    assert mask_profanity(text) == text
    assert mask_profanity("") == ""


def test_every_listed_word_is_masked() -> None:
    for word in PROFANITIES:
        masked = mask_profanity(word)
        assert masked == word[0] + "*" * (len(word) - 1), word
