"""What the agent's last question asks for, and whether the caller's words answer it.

Theory of operation
-------------------
Out of context a short fragment looks unfinished: "Ana Lopez", "forty two", "7 3 1 9" end
in no word that closes a sentence, and the text scorer (:mod:`sipgw.agent.turns.text`) holds
them. After the agent's own question they are whole: "What's your name?" -> "Ana Lopez."
is done. :func:`question_of` reads what the agent last said (its last question among its
last two sentences) for the kind of answer it asks (:class:`AnswerKind`: a name, a code
read digit by digit and how many digits it has when the question says, a count, a day or
time, yes or no, one of the options it names); :func:`answer_features` tells whether the
caller's words are that kind of answer: after a lead-in ("it's", "my name is", "this is"),
a short span of name-like words (capitalized in a formatted final, or words the scorer
knows no class for), of digits and number words (enough digits, where the question said how
many), a day, date or hour, a yes or no word, or one of the options. Keyword rules, pure
Python, a few microseconds; no model of its own: the text scorer weighs these features
with its others. :func:`bare_answer` reads any turn of three words or fewer, whatever was
asked, for one or two words of substance or a number said alone ("Sarah", "it's Maria",
"billing", "two"): the scorer weighs that too, after an open question or none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Final

__all__ = [
    "ANSWER_FEATURES",
    "NO_QUESTION",
    "AnswerKind",
    "Question",
    "answer_features",
    "bare_answer",
    "digit_count",
    "question_of",
]


class AnswerKind(Enum):
    """The kind of answer a question asks for."""

    OPEN = "open"  # no particular kind ("How can I help you?"), or no question
    NAME = "name"
    CODE = "code"  # an account, order or phone number, a PIN, a postcode: digits
    COUNT = "count"  # how many, how much, how old
    DATE = "date"  # a day, a date, an hour
    YES_NO = "yes_no"
    CHOICE = "choice"  # one of the options the question names


@dataclass(frozen=True, slots=True)
class Question:
    """What the agent's last question asks for."""

    kind: AnswerKind
    digits: int | None = None
    """How many digits the code asked for has, when the question says ("the last four
    digits", "your phone number": 10); None otherwise."""
    options: frozenset[str] = frozenset()
    """The words naming the options of a choice ("delivery or pickup")."""


NO_QUESTION: Final = Question(AnswerKind.OPEN)
ANSWER_FEATURES: Final = (
    "answers_name", "answers_code", "code_short", "code_digits",
    "answers_count", "answers_date", "answers_yes_no", "answers_choice",
)  # fmt: skip
"""The answer features, in order (:func:`answer_features`): the words are a name; a code
(with enough digits where the question said how many); a code with fewer digits than it
said; a code's digits (a sixteenth each, at most 1); a count; a day or time; a yes or no;
one of the options."""

_SENTENCE: Final = re.compile(r"[^.?!]+[.?!]*")
_WORD: Final = re.compile(r"[A-Za-z0-9']+")
_YES_NO_START: Final = frozenset({
    "is", "are", "was", "were", "do", "does", "did", "can", "could", "would", "will",
    "should", "shall", "may", "have", "has", "am", "isn't", "aren't", "don't", "didn't",
    "won't", "wouldn't",
})  # fmt: skip
_NUMBER_WORDS: Final = {
    "zero": 1, "oh": 1, "o": 1, "one": 1, "two": 1, "three": 1, "four": 1, "five": 1,
    "six": 1, "seven": 1, "eight": 1, "nine": 1, "ten": 2, "eleven": 2, "twelve": 2,
    "thirteen": 2, "fourteen": 2, "fifteen": 2, "sixteen": 2, "seventeen": 2,
    "eighteen": 2, "nineteen": 2, "twenty": 2, "thirty": 2, "forty": 2, "fifty": 2,
    "sixty": 2, "seventy": 2, "eighty": 2, "ninety": 2, "hundred": 2, "thousand": 3,
    "double": 1, "triple": 2, "dash": 0, "and": 0, "a": 0, "point": 0, "dot": 0,
}  # fmt: skip
"""Number words and the digits each adds ("double five": 2; "forty two": 2, the unit
after a tens word adds none)."""
_UNITS: Final = frozenset({"one", "two", "three", "four", "five", "six", "seven", "eight",
                           "nine"})  # fmt: skip
_TENS: Final = frozenset({"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
                          "ninety"})  # fmt: skip
_COUNT_WORDS: Final = ("how many", "how much", "how old", "what age", "your age")
_CODE_WORDS: Final = frozenset({
    "number", "code", "pin", "digits", "digit", "zip", "postcode", "postal", "phone",
    "extension", "id", "reference", "confirmation", "account", "policy", "membership",
})  # fmt: skip
_CODE_LENGTHS: Final = (
    ("last four", 4), ("four digit", 4), ("4 digit", 4), ("4-digit", 4), ("pin", 4),
    ("five digit", 5), ("5 digit", 5), ("5-digit", 5), ("zip", 5),
    ("six digit", 6), ("6 digit", 6), ("6-digit", 6), ("seven digit", 7),
    ("eight digit", 8), ("8 digit", 8), ("8-digit", 8), ("card number", 16),
    ("phone number", 10), ("callback number", 10), ("mobile number", 10),
)  # fmt: skip
_DATE_WORDS: Final = ("what day", "which day", "what date", "which date", "what time",
                      "when", "date of birth", "birthday", "birth date", "day works",
                      "time works", "what month")  # fmt: skip
_NAME_WORDS: Final = ("name", "who am i speaking", "who's calling", "who is calling",
                      "who am i talking", "who should", "spell")  # fmt: skip
_REQUEST_VERBS: Final = frozenset({
    "have", "get", "give", "tell", "confirm", "spell", "say", "read", "provide", "repeat",
    "take", "verify",
})  # fmt: skip
"""After "can I", "could you", "may I"...: a request for what follows ("Can I have the six
digit code?"), not a yes-or-no question."""
_LEAD_INS: Final = (
    ("my", "name", "is"), ("my", "name's"), ("the", "name", "is"), ("name's",),
    ("it", "is"), ("it's",), ("this", "is"), ("i", "am"), ("i'm",), ("that's",),
    ("that", "is"), ("yes", "it's"), ("sure", "it's"), ("it's", "uh"), ("um",), ("uh",),
    ("the", "number", "is"), ("the", "code", "is"), ("it's", "a"), ("on",), ("at",),
    ("about",), ("around",), ("maybe",), ("we're",), ("we", "are"), ("just",),
)  # fmt: skip
"""Words an answer may open with before its substance (longest first where they share a
start is not needed: each is tried, the longest that matches wins)."""
_YES_NO: Final = frozenset({
    "yes", "yeah", "yep", "yup", "no", "nope", "nah", "sure", "correct", "right",
    "absolutely", "definitely", "certainly", "okay", "ok", "exactly", "indeed", "not",
    "never", "of",
})  # fmt: skip
_DATE_ENDS: Final = frozenset({
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "today", "tomorrow", "tonight", "morning",
    "afternoon", "evening", "noon", "midnight", "pm", "am", "weekend", "week", "month",
    "o'clock", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
    "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fifteenth", "twentieth",
    "thirtieth", "half", "quarter", "now", "asap", "later", "year", "ago",
})  # fmt: skip
_ORDINAL: Final = re.compile(r"[0-9]+(?:st|nd|rd|th)")
_NOT_OPTIONS: Final = frozenset({
    "would", "you", "like", "do", "want", "prefer", "is", "it", "that", "this", "the", "a",
    "an", "or", "for", "to", "your", "should", "we", "i", "can", "will", "be", "are",
    "with", "of", "in", "on", "at", "go", "rather", "have", "shall", "which", "what",
    "one", "there", "so", "and", "me", "my", "get", "make", "need", "may", "could",
})  # fmt: skip
_OPTION_TAILS: Final = frozenset({"one", "please", "thanks", "option", "is", "fine",
                                  "thank", "you", "then", "works"})  # fmt: skip
_OPEN_TAILS: Final = frozenset({
    "and", "but", "or", "because", "so", "if", "the", "a", "an", "my", "your", "our",
    "their", "to", "of", "for", "with", "from", "into", "um", "uh",
    "er", "erm", "i", "we", "it's", "i'm", "that's", "name", "number", "code", "at", "on",
    "in", "about", "by", "like", "just", "then", "than", "whose",
})  # fmt: skip
"""Last words that leave any answer open ("my name is", "it's four two and")."""
_NOT_NAMES: Final = frozenset({
    "yes", "yeah", "no", "okay", "ok", "sure", "sorry", "what", "hello", "hi", "hey",
    "thanks", "thank", "please", "wait", "hold", "sec", "second", "moment", "minute",
    "name", "first", "last", "full", "surname", "spell", "repeat", "again", "pardon",
    "not", "don't", "can't", "why", "who", "me", "you", "it", "that", "this", "is", "my",
    "your", "well", "actually", "hmm", "um", "uh", "right", "fine", "good", "great",
    "mister", "mr", "mrs", "ms", "miss", "doctor", "dr", "let", "see", "there", "here",
    "calling", "about", "speaking", "regarding", "just", "one", "the", "a", "an", "and",
    "of", "to", "for", "in", "on", "at", "with", "i", "we", "he", "she", "they", "his",
    "her", "our", "their", "was", "are", "be", "have", "do", "know", "think",
    "bill", "order", "account", "number", "help", "need", "want", "like", "book", "call",
    "problem", "question", "card", "payment", "appointment", "delivery", "today",
})  # fmt: skip
"""Words no name is made of, though capitalized at a sentence's start ("Sorry?", "Hold
on", "Thanks")."""


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text.replace("\u2019", "'"))]


@lru_cache(maxsize=64)
def question_of(said: str) -> Question:
    """What the agent's last utterance ``said`` asks for: its last question among its last
    two sentences ("What's your name? Take your time." asks a name), :data:`NO_QUESTION`
    without one. Remembered for the last 64 utterances (a call's pauses ask it again)."""
    sentences = [s.strip() for s in _SENTENCE.findall(said) if s.strip()]
    question = next((s for s in reversed(sentences[-2:]) if s.endswith("?")), None)
    if question is None:
        return NO_QUESTION
    words = _words(question)
    if not words:
        return NO_QUESTION
    joined = " ".join(words)
    if "or" in words[1:-1] and not joined.endswith("or not"):
        options = frozenset(w for w in words if w not in _NOT_OPTIONS and not w.isdigit())
        if len(options) >= 2:
            return Question(AnswerKind.CHOICE, options=options)
    request = (
        len(words) > 2 and words[0] in ("can", "could", "may", "would", "will")
        and words[1] in ("i", "you") and words[2] in _REQUEST_VERBS
    )  # fmt: skip
    if words[0] in _YES_NO_START and not request:
        return Question(AnswerKind.YES_NO)
    if any(phrase in joined for phrase in _NAME_WORDS):
        return Question(AnswerKind.NAME)
    if any(phrase in joined for phrase in _COUNT_WORDS):
        return Question(AnswerKind.COUNT)
    if any(w in _CODE_WORDS for w in words):
        digits = next((n for phrase, n in _CODE_LENGTHS if phrase in joined), None)
        return Question(AnswerKind.CODE, digits=digits)
    if any(phrase in joined for phrase in _DATE_WORDS):
        return Question(AnswerKind.DATE)
    return NO_QUESTION


def digit_count(words: Sequence[str]) -> int | None:
    """Digits read by ``words`` if every one is a digit string or a number word ("four
    five" 2, "forty two" 2, "7319" 4, "double five" 2); None otherwise or without any."""
    count, tens = 0, False
    seen = False
    for word in words:
        if word.isdigit():
            count += len(word)
            seen, tens = True, False
        elif word in _NUMBER_WORDS:
            if not (tens and word in _UNITS):  # "forty two": the unit fills the tens' digit
                count += _NUMBER_WORDS[word]
            seen = seen or word not in ("and", "a", "dash", "point", "dot")
            tens = word in _TENS
        else:
            return None
    return count if seen else None


def _substance(words: list[str]) -> list[str]:
    """The answer's words after its lead-in ("it's Maria" -> ["maria"])."""
    best = 0
    for lead in _LEAD_INS:
        n = len(lead)
        if n > best and tuple(words[:n]) == lead:
            best = n
    return words[best:]


def _name_like(raw: str, cased: bool) -> bool:
    word = raw.lower()
    if word in _NOT_NAMES or not word.replace("'", "").replace("-", "").isalpha():
        return False
    if len(word) < 2:
        return False
    return raw[0].isupper() or not cased  # a formatted final capitalizes names


_NOT_BARE_ENDS: Final = ("'s", "'d", "'re", "'ve", "'ll", "'m", "n't")
"""Endings of a pronoun's or verb's contraction ("she's", "we'd", "don't"): no bare
answer (:func:`bare_answer`)."""
_VERB_ENDS: Final = ("ing", "ed")
"""Endings of a verb after a lead-in ("I'm ringing", "it's spelled"): no bare answer;
alone, such a word is a noun as often ("Billing.", "Parking.")."""
_NOT_BARE: Final = frozenset({
    "wait", "hold", "hang", "let", "see", "not", "never", "also", "still", "really", "very",
    "only", "even", "mister", "mr", "mrs", "ms", "miss", "doctor", "dr", "name", "number",
})  # fmt: skip
"""Words that go on to more ("hold | on", "mister | Brown", "not | yet"): no bare answer
ends in one."""
_OPENERS: Final = frozenset({
    "hi", "hello", "hey", "yes", "yeah", "yep", "sure", "okay", "ok", "oh", "um", "uh", "er",
    "well", "so",
})  # fmt: skip
"""Words a bare answer may open with before its lead-in ("hi, this is Ana", "yes, two")."""
_BARE_MAX_WORDS: Final = 6
"""The most words a bare answer has ("hi, my name is Ana Lopez")."""


def bare_answer(words: Sequence[str], not_bare: frozenset[str] = frozenset()) -> tuple[bool, bool]:
    """Whether a turn (lower case words) is, after a greeting or a yes ("hi", "yes") and a
    lead-in ("it's", "this is", "my name is"), one or two words of substance ("Sarah", "it's
    Maria", "hi, this is Ana", "Berlin", "billing please"), or a number said alone ("two",
    "forty two", "it's 7"): what answers a question the agent asked in words the question
    reader cannot parse ("How can I help you?" -> "Billing."). Read after any line: the text
    scorer weighs them against the same words opening a sentence ("two | people at
    eight"). ``not_bare``: the words that open or carry a sentence ("could", "the", "i"),
    which no such answer is made of."""
    if not 0 < len(words) <= _BARE_MAX_WORDS or words[-1] in _OPEN_TAILS:
        return False, False
    opened = 0
    while opened < 2 and opened < len(words) - 1 and words[opened] in _OPENERS:
        opened += 1  # not the last word: "yes", "hello" alone are what they say
    rest = _substance(list(words[opened:]))
    if not rest or len(rest) > 2:
        return False, False
    number = digit_count(rest) is not None
    led = len(rest) < len(words) - opened
    bare = not number and rest[-1] not in _NOT_BARE and all(
        w not in not_bare and not w.endswith(_NOT_BARE_ENDS)
        and not (led and w.endswith(_VERB_ENDS))
        and len(w) > 1 and w.replace("'", "").replace("-", "").isalpha()
        for w in rest
    )  # fmt: skip
    return bare, number


def answer_features(question: Question, text: str) -> list[float]:
    """:data:`ANSWER_FEATURES` of the caller's words ``text`` after ``question`` (all
    zero after :data:`NO_QUESTION`)."""
    out = [0.0] * len(ANSWER_FEATURES)  # in the order of ANSWER_FEATURES
    kind = question.kind
    if kind is AnswerKind.OPEN:
        return out
    raw = _WORD.findall(text.replace("\u2019", "'"))
    words = [w.lower() for w in raw]
    if not words or words[-1] in _OPEN_TAILS:
        return out
    rest = _substance(words)
    if not rest:
        return out
    if kind is AnswerKind.NAME:
        cased = any(w[0].isupper() for w in raw)
        names = raw[len(words) - len(rest) :]
        out[0] = float(len(names) <= 3 and all(_name_like(w, cased) for w in names))
    elif kind is AnswerKind.CODE:
        digits = digit_count(rest)
        if digits:
            expected = question.digits
            out[1] = float(expected is None or digits >= expected)
            out[2] = float(expected is not None and digits < expected)
            out[3] = min(digits, 16) / 16
    elif kind is AnswerKind.COUNT:
        out[4] = float(len(rest) <= 5 and digit_count(rest) is not None)
    elif kind is AnswerKind.DATE:
        last = rest[-1]
        out[5] = float(
            len(rest) <= 6
            and (last in _DATE_ENDS or _ORDINAL.fullmatch(last) is not None
                 or digit_count(rest[-2:]) is not None)
        )  # fmt: skip
    elif kind is AnswerKind.YES_NO:
        out[6] = float(len(words) <= 4 and words[0] in _YES_NO)
    else:  # a choice
        options = question.options
        out[7] = float(
            len(rest) <= 5 and any(w in options for w in rest)
            and (rest[-1] in options or rest[-1] in _OPTION_TAILS)
        )  # fmt: skip
    return out
