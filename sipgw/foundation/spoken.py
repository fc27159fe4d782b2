"""Digits as callers say them: the words speech-to-text writes for 0-9."""

from __future__ import annotations

__all__ = ["DIGIT_WORDS"]

DIGIT_WORDS: dict[str, str] = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
"""A spoken digit (lower case) -> the digit."""
