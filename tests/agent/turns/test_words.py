"""The words of a transcript as the turn-taking machine reads them (agent/turns/words.py)."""

from __future__ import annotations

import pytest

from sipgw.agent.turns.words import extends, normalized_words, opens_with_stop_word


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Wait,", True), ("No, no, no.", True), ("stop it", True), ("I'd wait", False), ("", False)],
)
def test_opens_with_stop_word(text: str, expected: bool) -> None:
    assert opens_with_stop_word(text) is expected


def test_normalized_words() -> None:
    assert normalized_words("  My name's  Sonny-Jim!  ") == "my name's sonny-jim"


@pytest.mark.parametrize(
    ("words", "previous", "expected"),
    [
        ("i would like", "i would like", True),
        ("i would like a table", "i would like", True),
        ("i would liken", "i would like", False),  # a word revised, not added
        ("i could like", "i would", False),
    ],
)
def test_extends(words: str, previous: str, expected: bool) -> None:
    assert extends(words, previous) is expected
