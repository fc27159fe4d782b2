"""Twilio's profanity filter on speech results, sans-IO: each profane word masked with
asterisks but its first letter (``fuck`` -> ``f***``), as Twilio's ``<Gather
profanityFilter>`` (true by default) and ``<Transcription profanityFilter>`` document it.

The word list is sipgw's own (written for this module, under the project's licence): common
English swear words and slurs, matched whole-word and case-insensitively, with their usual
inflections (``-s``, ``-ed``, ``-er``, ``-ing``...) listed out. It is short on purpose:
Twilio does not publish its list, and a filter that masks ordinary words would be worse
than one that misses a rare slur.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PROFANITIES", "mask_profanity"]

_STEMS: Final = (
    "fuck", "fucks", "fucked", "fucker", "fuckers", "fucking", "fuckin", "motherfucker",
    "motherfuckers", "motherfucking", "shit", "shits", "shitty", "shitting", "bullshit",
    "bitch", "bitches", "bitching", "bastard", "bastards", "asshole", "assholes", "dick",
    "dicks", "dickhead", "cunt", "cunts", "cock", "cocks", "cocksucker", "prick", "pricks",
    "pussy", "twat", "twats", "wanker", "wankers", "slut", "sluts", "whore", "whores",
    "damn", "damned", "goddamn", "goddamned", "crap", "piss", "pissed", "bollocks",
    "faggot", "faggots", "fag", "fags", "nigger", "niggers", "retard", "retarded",
)  # fmt: skip
PROFANITIES: Final = frozenset(_STEMS)
"""The words masked (lower case)."""

_WORD: Final = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def _mask(match: re.Match[str]) -> str:
    word = match.group(0)
    if word.lower() not in PROFANITIES:
        return word
    return word[0] + "*" * (len(word) - 1)


def mask_profanity(text: str) -> str:
    """``text`` with each word of :data:`PROFANITIES` masked but its first letter."""
    return _WORD.sub(_mask, text)
