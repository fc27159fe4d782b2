"""The words of a transcript as the turn-taking machine (:mod:`sipgw.agent.turns.machine`) reads
them.

Whether a transcript is only a backchannel ("mm-hmm", "yeah, okay": never a barge-in while
the agent talks) or opens with a stop word ("wait", "no, ...": a barge-in on its own), and
its words without case or punctuation, to compare a preemptive request's text with the
turn's final (:func:`same_words`) and a partial with the turn's previous one (:func:`extends`).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BACKCHANNELS",
    "STOP_WORDS",
    "extends",
    "is_backchannel",
    "normalized_words",
    "opens_with_stop_word",
    "same_words",
]

BACKCHANNELS: Final = frozenset(
    {
        "mm", "mmm", "mhm", "mm-hm", "mm-hmm", "mmhmm", "hmm", "uh-huh", "uh huh", "uhhuh",
        "aha", "ah", "oh", "yeah", "yep", "yes", "ok", "okay", "right", "sure", "i see",
        "got it", "alright", "all right",
    }
)  # fmt: skip
"""What a listener says to show they are listening; never a barge-in while the agent talks."""
STOP_WORDS: Final = frozenset(
    {"wait", "stop", "no", "nope", "hold", "hang", "sorry", "excuse", "what", "hey", "actually"}
)
"""A partial that opens with one of these words cuts the reply off on its own (fewer than
``min_words`` words): the caller takes the floor ("wait", "stop", "no, ...")."""

_PUNCTUATION: Final = str.maketrans(",.!?", "    ")


def is_backchannel(text: str) -> bool:
    """Whether a transcript is only a backchannel ("Mm-hmm.", "Yeah, okay.")."""
    words = " ".join(text.lower().translate(_PUNCTUATION).split())
    if not words or words in BACKCHANNELS:
        return True
    return all(word in BACKCHANNELS for word in words.split())


def opens_with_stop_word(text: str) -> bool:
    """Whether a transcript starts with a word of :data:`STOP_WORDS` ("Wait", "No, no")."""
    words = text.lower().translate(_PUNCTUATION).split()
    return bool(words) and words[0] in STOP_WORDS


def normalized_words(text: str) -> str:
    """The words of a transcript without case, punctuation or extra whitespace."""
    kept = "".join(ch if ch.isalnum() or ch.isspace() or ch in "'-" else " " for ch in text)
    return " ".join(kept.lower().split())


def extends(words: str, previous: str) -> bool:
    """Whether normalized ``words`` are ``previous`` plus maybe more (nothing revised)."""
    return words == previous or words.startswith(previous + " ")


def same_words(a: str, b: str) -> bool:
    """Whether two transcripts say the same words ("my name is sonny" == "My name is Sonny.")."""
    return normalized_words(a) == normalized_words(b)
