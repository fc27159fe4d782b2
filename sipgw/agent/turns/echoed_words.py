"""Transcripts that echo the agent's own words, sans-IO (ConversationRelay's
``echoPromptFiltering``).

A caller's phone or room that plays the agent's speech back into the microphone gets it
transcribed as the caller's: the agent answers itself. :class:`EchoFilter` remembers the
words the agent said (:meth:`~EchoFilter.said`, each sentence as it goes to the
text-to-speech) while it is heard (:meth:`~EchoFilter.heard_agent`, each tick its audio is
still to be heard) and for :data:`ECHO_WINDOW_S` after; a transcript echoes them when it has
at least :data:`ECHO_MIN_WORDS` words and :data:`ECHO_OVERLAP` of them, counted with
repeats, are among those words (``normalized_words``: no case, no punctuation). A caller who
repeats one of the agent's words ("Tuesday?"), or answers with some of them among their own
("Tuesday at noon, please"), is not an echo. The agent's words are kept for
:data:`ECHO_WORDS` words at most (the last ones said), and forgotten when it speaks again
after :data:`ECHO_WINDOW_S` of quiet.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Final

from sipgw.agent.turns.words import normalized_words

__all__ = ["ECHO_MIN_WORDS", "ECHO_OVERLAP", "ECHO_WINDOW_S", "ECHO_WORDS", "EchoFilter"]

ECHO_WINDOW_S: Final = 4.0
"""Seconds after the agent was last heard that its words may still come back as an echo
(the speech-to-text's end-of-turn silence and latency: a final comes 1-2 s after the words)."""
ECHO_OVERLAP: Final = 0.8
"""Share of a transcript's words that must be the agent's for it to be an echo."""
ECHO_MIN_WORDS: Final = 2
"""A shorter transcript is never taken for an echo (a caller repeating one word)."""
ECHO_WORDS: Final = 120
"""The agent's last words kept (about 40 s of speech)."""


class EchoFilter:
    """The agent's recent words, and whether a transcript is their echo (see the module
    docstring)."""

    __slots__ = ("_heard_at", "_words")

    def __init__(self) -> None:
        self._words: deque[str] = deque(maxlen=ECHO_WORDS)
        self._heard_at: float | None = None

    def said(self, text: str, now: float) -> None:
        """Words the agent says at ``now`` (a sentence sent to the text-to-speech)."""
        if not self._recent(now):
            self._words.clear()  # the agent has been quiet: nothing before can come back
        self._heard_at = now
        self._words.extend(normalized_words(text).split())

    def heard_agent(self, now: float) -> None:
        """The agent's audio is still to be heard at ``now``."""
        self._heard_at = now

    def echoes(self, transcript: str, now: float) -> bool:
        """Whether ``transcript``, heard at ``now``, echoes the agent's recent words."""
        if not self._recent(now):
            return False
        words = normalized_words(transcript).split()
        if len(words) < ECHO_MIN_WORDS:
            return False
        agent = Counter(self._words)
        caller = Counter(words)
        shared = sum(min(count, agent[word]) for word, count in caller.items())
        return shared >= ECHO_OVERLAP * len(words)

    def _recent(self, now: float) -> bool:
        heard_at = self._heard_at
        return heard_at is not None and now - heard_at <= ECHO_WINDOW_S
