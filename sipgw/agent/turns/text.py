"""Whether a caller's words so far end their turn: a small, explainable text scorer.

Theory of operation
-------------------
At a pause the words said so far tell a finished sentence from a clause that goes on far
better than a synthetic voice's flat tune: "I'd like to book a table for" ends in a
preposition, "my order number is" in an auxiliary, "four five" in a number still being
said; "two people tomorrow night" ends in a noun, "thank you" in a closing phrase.
:meth:`TextScorer.probability` reads a transcript's words (lower case, punctuation
dropped: a partial and a formatted final read alike) through :data:`FEATURES`: the
class of its last word (:data:`WORD_CLASSES`: a conjunction, a preposition, an article or
possessive, an auxiliary or a verb that wants an object, a subject pronoun, a filler, a
number word, an object pronoun, a word that closes sentences), the class of the one
before it (a preposition or an article two words back: a noun phrase just begun, "for
the"), whether it opens as a question, its length, whether it is a bare short answer (a
name, a place, a matter or a number said alone or after "it's", "this is":
:func:`~sipgw.agent.turns.question.bare_answer`; "Sarah", "Berlin", "two", which answer an
open question as often as they open a sentence); and, given what the agent said last,
whether the words answer its question (:mod:`sipgw.agent.turns.question`: "Tomasz" after
"What's your first name?" is whole, alone it looks like a sentence begun; there the
transcript's capitals count, telling a name). A logistic model weighs them
(``text.json``), fitted by ``python -m bench.turn_text_train`` on every word prefix of
the lines of ``tests/toolkit/turnset/texts.txt`` and ``short_turns.txt`` (a prefix: the
caller goes on; the whole line: finished) and on the answers of ``answers.txt`` after their
question, lines sharing wording with the benchmark's sentences left out. Rules come first:
a turn ending in a word of :data:`OPEN_WORDS` ("and", "the", "to", "um", "I'm") is never
finished; one the recognizer ended with a question mark otherwise always is (the model
reads words only). Its figures on the held-out lines are in docs/assistant.md ("Tentative
ends"). Pure Python: about 6 µs a call, 11 after a question.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from sipgw.agent.turns.question import (
    ANSWER_FEATURES,
    NO_QUESTION,
    Question,
    answer_features,
    bare_answer,
    question_of,
)

__all__ = [
    "FEATURES",
    "OPEN_WORDS",
    "WORD_CLASSES",
    "TextScorer",
    "default_scorer",
    "features",
    "finished_probability",
    "words_of",
]

WORD_CLASSES: Final[dict[str, frozenset[str]]] = {
    "conjunction": frozenset({
        "and", "but", "or", "so", "because", "if", "than", "that", "which", "who", "when",
        "while", "where", "whether", "although", "though", "unless", "until", "since", "then",
        "nor", "cause", "plus",
    }),
    "preposition": frozenset({
        "to", "of", "for", "with", "in", "on", "at", "from", "by", "about", "into", "after",
        "before", "between", "under", "near", "like", "through", "behalf", "over", "onto",
        "towards", "via", "per", "without", "around", "during", "against", "across",
    }),
    "determiner": frozenset({
        "the", "a", "an", "my", "your", "our", "their", "his", "its", "this", "these",
        "those", "some", "any", "another", "every", "each", "what", "which", "whose",
        "more", "less", "few", "several", "both", "either", "neither",
    }),
    "auxiliary": frozenset({
        "is", "are", "was", "were", "be", "been", "being", "am", "have", "has", "had", "do",
        "does", "did", "can", "could", "would", "will", "should", "shall", "may", "might",
        "must", "need", "want", "wanted", "get", "got", "i'm", "i'd", "i've", "it's",
        "we're", "we've", "i'll", "we'll", "you're", "they're", "there's", "that's",
        "means", "says", "said", "wants", "needs", "like", "hoping", "trying", "going",
        "calling", "looking", "wondering", "think", "know", "make", "send", "give", "tell",
        "put", "keep", "take", "book", "order", "change", "cancel", "check", "find", "pay",
        "move", "speak", "talk", "ask", "help", "bring", "let", "show", "add", "become",
        "seems", "feel", "please",
    }),
    "pronoun": frozenset({"i", "we", "you", "he", "she", "they", "it", "someone", "nobody",
                          "everyone", "somebody", "anyone"}),
    "filler": frozenset({"um", "uh", "er", "erm", "hmm", "mm", "uhm", "ah", "well", "like",
                         "so", "actually", "basically", "just"}),
    "number": frozenset({
        "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "ten", "eleven", "twelve", "double", "triple", "hundred", "thousand", "twenty",
        "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "dot", "point",
        "nineteen", "dash",
    }),
    "object": frozenset({"me", "us", "him", "them", "her", "it", "you", "myself", "this",
                         "that", "one", "mine", "yours"}),
    "closer": frozenset({
        "today", "tomorrow", "yesterday", "now", "please", "thanks", "thank", "again", "too",
        "instead", "already", "anymore", "yet", "morning", "afternoon", "evening", "night",
        "week", "month", "year", "soon", "later", "here", "there", "back", "ok", "okay",
        "right", "online", "away", "properly", "anything", "everything", "possible", "up",
        "out", "off", "down", "all", "bye", "goodbye", "tonight", "weekend", "o'clock",
    }),
    "answer": frozenset({
        "yes", "yeah", "yep", "yup", "no", "nope", "okay", "ok", "sure", "hello", "hi", "hey",
        "thanks", "bye", "goodbye", "right", "correct", "exactly", "perfect", "great", "fine",
        "absolutely", "definitely", "alright", "cheers", "sorry", "pardon",
    }),
    "date": frozenset({
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "january", "february", "march", "april", "may", "june", "july", "august",
        "september", "october", "november", "december", "noon", "midnight", "pm", "am",
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth", "eleventh", "twelfth", "thirteenth", "fifteenth", "twentieth", "thirtieth",
        "1st", "2nd", "3rd", "21st", "22nd", "23rd", "31st",
    }),
}  # fmt: skip
"""Word classes of a turn's last words (a word may be in several: "like", "so", "that")."""
_QUESTION_START: Final = frozenset({
    "can", "could", "would", "will", "is", "are", "do", "does", "did", "what", "why", "how",
    "when", "where", "who", "which", "should", "may", "have", "has", "am", "was", "were",
})  # fmt: skip
FEATURES: Final = (
    *(f"last_{name}" for name in WORD_CLASSES),
    "last_digits", "last_ordinal", "last_ed", "last_ly", "last_ing",
    "before_preposition", "before_determiner", "before_auxiliary", "before_number",
    "closing_pair", "question", "one_word", "two_words", "log_words",
    "bare_words", "bare_number",
    *ANSWER_FEATURES,
)  # fmt: skip
"""The scorer's inputs, in order (:func:`features`)."""
OPEN_WORDS: Final = frozenset({
    "and", "but", "or", "because", "if", "than", "although", "though", "unless", "whether",
    "nor", "the", "a", "an", "my", "your", "our", "their", "to", "of", "for", "with", "from",
    "into", "um", "uh", "er", "erm", "uhm", "i", "we", "they", "he", "she", "i'm", "i'd",
    "i've", "we're", "you're", "they're", "i'll", "we'll",
})  # fmt: skip
"""Last words after which a turn never counts as finished, whatever the model says (a
conjunction, an article or possessive, "to", "of", "for", "with", "from", "into", a filler,
a subject pronoun or its contraction): the rules before the model."""
_CLOSING_PAIRS: Final = frozenset({
    ("thank", "you"), ("that's", "all"), ("that's", "it"), ("all", "right"), ("of", "course"),
    ("no", "thanks"), ("yes", "please"), ("that's", "fine"), ("that's", "right"),
    ("that's", "correct"), ("that's", "everything"), ("nothing", "else"), ("i'm", "done"),
    ("go", "ahead"), ("not", "really"), ("i", "think"), ("think", "so"),
})  # fmt: skip
_FUNCTION_WORDS: Final = _QUESTION_START.union(*(
    WORD_CLASSES[name] for name in (
        "conjunction", "preposition", "determiner", "auxiliary", "pronoun", "filler", "object",
    )
)) - WORD_CLASSES["closer"] - WORD_CLASSES["answer"]  # fmt: skip
"""Words no bare short answer is made of (:func:`~sipgw.agent.turns.question.bare_answer`):
those that open or carry a sentence, but not those that close one ("please", "right")."""
_WORD: Final = re.compile(r"[a-z0-9']+")
_ORDINAL: Final = re.compile(r"[0-9]+(?:st|nd|rd|th)")
WEIGHTS: Final = Path(__file__).with_name("text.json")


def words_of(text: str) -> list[str]:
    """A transcript's words: lower case, no punctuation ("I'd like..." -> ["i'd", "like"])."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def features(
    words: Sequence[str], question: Question = NO_QUESTION, text: str | None = None
) -> list[float]:
    """:data:`FEATURES` of a turn's words (all zero without words) after the agent's
    ``question`` (:func:`~sipgw.agent.turns.question.question_of`); ``text``: the words as
    the recognizer wrote them (its capitals tell names), default ``words`` joined."""
    if not words:
        return [0.0] * len(FEATURES)
    last = words[-1]
    before = words[-2] if len(words) > 1 else ""
    out = [float(last in members) for members in WORD_CLASSES.values()]
    out += [
        float(last.isdigit() or (len(last) == 1 and last not in ("a", "i"))),
        float(_ORDINAL.fullmatch(last) is not None),
        float(last.endswith("ed") and len(last) > 3),
        float(last.endswith("ly") and len(last) > 3),
        float(last.endswith("ing") and len(last) > 4),
        float(before in WORD_CLASSES["preposition"]),
        float(before in WORD_CLASSES["determiner"]),
        float(before in WORD_CLASSES["auxiliary"]),
        float(before in WORD_CLASSES["number"] or before.isdigit()),
        float((before, last) in _CLOSING_PAIRS),
        float(words[0] in _QUESTION_START),
        float(len(words) == 1),
        float(len(words) == 2),
        math.log(len(words)),
        *map(float, bare_answer(words, _FUNCTION_WORDS)),
    ]
    out += answer_features(question, " ".join(words) if text is None else text)
    return out


@dataclass(frozen=True, slots=True)
class TextScorer:
    """A logistic model over :data:`FEATURES` (standardized)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    finished_at: float
    """The probability from which a turn's words count as finished (chosen on the train
    lines: few unfinished prefixes score that high)."""

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> TextScorer:
        data = json.loads(path.read_text())
        if tuple(data["features"]) != FEATURES:
            raise ValueError("text scorer weights were made for other features")
        return cls(
            tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]),
            float(data["bias"]), float(data["finished_at"]),
        )  # fmt: skip

    def probability(self, text: str, said: str = "") -> float:
        """Probability that a turn whose words so far are ``text`` is finished (0 without
        words), the agent having said ``said`` last (its question, if it asked one, tells
        a short answer from a fragment: :mod:`sipgw.agent.turns.question`)."""
        words = words_of(text)
        if not words:
            return 0.0
        question = question_of(said) if said else NO_QUESTION
        z = self.bias
        x_all = features(words, question, text)
        for x, m, s, w in zip(x_all, self.mean, self.scale, self.weights, strict=True):
            z += w * (x - m) / s
        return 1.0 / (1.0 + math.exp(-z))

    def finished(self, text: str, said: str = "") -> bool:
        """Whether ``text``'s words end the turn (``said``: what the agent said last):
        not after a word of :data:`OPEN_WORDS`; a question the recognizer punctuated as
        one ("how can I help you?"); else the model's probability at least
        :attr:`finished_at`."""
        words = words_of(text)
        if not words or words[-1] in OPEN_WORDS:
            return False
        if text.rstrip().endswith("?"):  # the recognizer heard a question's tune end
            return True
        return self.probability(text, said) >= self.finished_at


@cache
class AfterAgent:
    """Whether a tentative end's words end the turn, read after what the agent said last:
    ``agent_said`` (asked when the final comes; ``str``: nothing) with ``scorer`` (default:
    the shipped weights). After the agent's question a short answer is whole."""

    __slots__ = ("_agent_said", "_scorer")

    def __init__(self, agent_said: Callable[[], str], scorer: TextScorer | None = None) -> None:
        self._agent_said = agent_said
        self._scorer = scorer

    def finished(self, text: str) -> bool:
        """:meth:`TextScorer.finished` of ``text`` after what the agent said last."""
        return (self._scorer or default_scorer()).finished(text, self._agent_said())


@cache
def default_scorer() -> TextScorer:
    """The shipped weights (``text.json``), loaded once (every turn asks for them)."""
    return TextScorer.load()


def finished_probability(text: str) -> float:
    """:meth:`TextScorer.probability` with the shipped weights."""
    return default_scorer().probability(text)
