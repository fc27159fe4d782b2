"""What the first words of an answered call say about who answered: phrase rules, no model.

A transcript is normalized (:func:`normalize`: lower case, contractions spelled
out, punctuation dropped, "voice mail" as one word) and searched for whole-word
phrases (:func:`match`). The categories are tried in order of precedence and the
first one with a phrase in the text wins, so a text that has several answers
with the most specific one:

======================  =============  ==============================================
category                kind           e.g.
======================  =============  ==============================================
``screener``            screener       "call assist", "name and reason for calling"
``announcement``        announcement   "not in service", "mailbox is full"
``voicemail``           voicemail      "leave a message", "at the tone", "mailbox"
``human``               human          "how can I help", "speaking", "who is this"
``greeting``            voicemail      "you have reached", "get back to you"
``unreachable``         announcement   "try again later", "cannot be reached"
``machine``             voicemail      "is not available", "the person you are calling"
======================  =============  ==============================================

So "please try again later or leave a message" is a voicemail (one can leave a
message), "the mailbox is full" an announcement (one cannot), "you have reached
Dr. Smith's office, how can I help you" a person, and "the person you are
calling is not available" only *some* machine (a carrier's voicemail and its
"try again later" announcement both start that way): the classifier takes it
as a voicemail until more words come.

The screener wording follows what callers report hearing from Google's Call
Screen ("I'm Call Assist by Google recording this call for the person you're
trying to reach. Before I try to connect you, can I ask what you're calling
about?") and iOS 26 Call Screening (asks unknown callers for their name and
reason for calling); see ``docs/amd.md`` for the sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "CATEGORIES",
    "HOLD_NOTICES",
    "TONE_ANNOUNCEMENTS",
    "Category",
    "PhraseMatch",
    "announces_tone",
    "is_hold_notice",
    "match",
    "names_speaker",
    "normalize",
    "persons_turn",
    "read_digits",
    "word_count",
]


class Category(Enum):
    """A group of phrases, in order of precedence (see the module docstring)."""

    SCREENER = "screener"
    ANNOUNCEMENT = "announcement"
    VOICEMAIL = "voicemail"
    HUMAN = "human"
    GREETING = "greeting"
    UNREACHABLE = "unreachable"
    MACHINE = "machine"


CATEGORIES: dict[Category, tuple[str, ...]] = {
    Category.SCREENER: (
        "call assist", "screening service", "screening this call", "screening your call",
        "call screening", "name and reason", "name and the reason", "reason for calling",
        "reason for your call", "what you are calling about", "why you are calling",
        "state your name", "say your name", "record your name", "before i try to connect you",
        "before i connect you",
        "being screened",
        "see if this person is available", "see if they are available",
        "copy of this conversation", "recording this call for", "stay on the line",
        "purpose of your call", "state the purpose", "screening", "screened by",
        "call blocker",
    ),
    Category.ANNOUNCEMENT: (
        "not in service", "no longer in service", "been disconnected", "cannot be completed",
        "could not be completed", "did not go through", "check the number",
        "not a working number", "all circuits are busy", "mailbox is full",
        "mailbox is currently full", "cannot accept any messages", "cannot accept new messages",
        "cannot accept messages", "not been set up", "not accepting calls", "is switched off",
        "out of coverage", "number you have dialed", "number you dialed",
    ),
    Category.VOICEMAIL: (
        "leave a message", "leave your message", "leave me a message", "leave us a message",
        "leave a brief message", "leave a detailed message", "leave your name",
        "leave your number", "record your message", "record a message", "at the tone",
        "after the tone", "at the beep", "after the beep", "after the signal", "voicemail",
        "mailbox", "messaging system", "voice messaging", "answering machine",
        "finished recording", "hang up or press",
    ),
    Category.HUMAN: (
        "how can i help", "how may i help", "can i help you", "how can i direct",
        "what can i do for you", "speaking", "who is this", "who is calling",
        "can you hear me", "is anyone there", "is anybody there", "who am i speaking",
        "are you there", "who is speaking", "who do you want", "who are you looking for",
    ),
    Category.GREETING: (
        "you have reached", "you reached", "not available to take your call",
        "cannot take your call", "cannot come to the phone", "unable to take your call",
        "unable to answer", "away from the phone", "away from my phone", "get back to you",
        "call you back", "return your call", "sorry i missed your call",
        "you know what to do", "talk to you soon", "talk to you later", "speak to you soon",
    ),
    Category.UNREACHABLE: (
        "try again later", "try your call again", "please try again", "try later",
        "not reachable", "cannot be reached", "unreachable",
    ),
    Category.MACHINE: (
        "is not available", "is unavailable", "not available right now",
        "the person you are calling", "the person you are trying to reach",
        "customer you are calling", "subscriber", "number you are trying to reach",
        "number you are calling", "has been forwarded", "is being forwarded",
    ),
}  # fmt: skip
"""Phrases per category, normalized (:func:`normalize`), in order of precedence."""

TONE_ANNOUNCEMENTS = (
    "at the tone", "after the tone", "at the beep", "after the beep", "at the signal",
    "after the signal", "hear the tone", "hear the beep", "wait for the tone",
    "wait for the beep",
)  # fmt: skip
"""What a greeting says of the beep to come (normalized): the message waits for it."""

HOLD_NOTICES = (
    "stay on the line", "please hold", "see if this person is available",
    "see if they are available", "connecting you", "trying to connect you", "one moment",
)  # fmt: skip
"""What a call screener says once it has the caller's answer (normalized): no question."""

_CONTRACTIONS = (
    ("can't", "cannot"), ("won't", "will not"), ("n't", " not"), ("'re", " are"),
    ("'ve", " have"), ("'ll", " will"), ("'d", " would"), ("i'm", "i am"),
    ("it's", "it is"), ("that's", "that is"), ("who's", "who is"), ("what's", "what is"),
    ("there's", "there is"), ("here's", "here is"), ("let's", "let us"),
)  # fmt: skip
_NOT_WORD = re.compile(r"[^a-z0-9' ]+")
_VOICE_MAIL = re.compile(r"\bvoice mail\b")


def normalize(text: str) -> str:
    """Lower case, contractions spelled out, punctuation dropped, single spaces.

    >>> normalize("Hi, you've reached Ana's voice mail!")
    "hi you have reached ana's voicemail"
    """
    text = text.lower().replace("\u2019", "'").replace("-", " ").replace("dialled", "dialed")
    for short, long in _CONTRACTIONS:
        text = text.replace(short, long)
    text = _NOT_WORD.sub(" ", text)
    return _VOICE_MAIL.sub("voicemail", " ".join(text.split()))


def word_count(text: str) -> int:
    """Words in a transcript (after :func:`normalize`)."""
    return len(normalize(text).split())


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    """The category that decided, and the phrase found."""

    category: Category
    phrase: str


def match(text: str) -> PhraseMatch | None:
    """The first category (in precedence order) with one of its phrases in ``text``, or None.

    A number read out digit by digit (:func:`read_digits`) is a
    :attr:`Category.MACHINE` phrase: carriers' voicemail and announcements read the
    number dialled ("five five five, zero one two three"); a person picking up does not.
    """
    normalized = normalize(text)
    padded = f" {normalized} "
    for category, phrases in CATEGORIES.items():
        for phrase in phrases:
            if f" {phrase} " in padded:
                return PhraseMatch(category, phrase)
    digits = read_digits(normalized)
    return PhraseMatch(Category.MACHINE, digits) if digits else None


_DIGIT_WORDS = frozenset("zero one two three four five six seven eight nine".split())
_TENS = frozenset("twenty thirty forty fifty sixty seventy eighty ninety hundred thousand".split())
READ_DIGITS = 3
"""Digits in a row that make a number read out ("five five five", or "555" once formatted)."""


def read_digits(normalized: str) -> str:
    """The first run of at least :data:`READ_DIGITS` digits in a row in a normalized
    transcript, spoken one by one ("five five five") or written ("555", "555 0123"), as
    it was said; "" if none. Numbers said as numbers ("twenty five") are not digits."""
    run: list[str] = []
    count = 0
    previous = ""
    for word in [*normalized.split(), ""]:
        digit = word.isdigit() or (word in _DIGIT_WORDS and previous not in _TENS)
        previous = word
        if digit:
            run.append(word)
            count += 1 if word in _DIGIT_WORDS else len(word)
            continue
        if count >= READ_DIGITS:
            return " ".join(run)
        run, count = [], 0
    return ""


def announces_tone(text: str) -> bool:
    """Whether a transcript says a tone is coming ("leave your name and number after the
    tone", "talk to me after the beep"): :data:`TONE_ANNOUNCEMENTS`."""
    padded = f" {normalize(text)} "
    return any(f" {phrase} " in padded for phrase in TONE_ANNOUNCEMENTS)


def is_hold_notice(text: str) -> bool:
    """Whether a screener's words only ask to wait ("Thanks, please stay on the line while
    I see if this person is available."), asking nothing of the caller."""
    padded = f" {normalize(text)} "
    if not any(f" {phrase} " in padded for phrase in HOLD_NOTICES):
        return False
    questions = [p for p in CATEGORIES[Category.SCREENER] if p not in HOLD_NOTICES]
    return not any(f" {phrase} " in padded for phrase in questions)


_NAMING = re.compile(
    r"\b(this is|it is|my name is|you have got|you got)( \w+)|"
    r"\w+ (here|speaking)$|\bresidence\b"
)
_CAPITALIZED = re.compile(r"(?<![.?!]\s)(?<!^)\b[A-Z][a-z]+")
_NOT_NAMES = frozenset(
    "I Im Ive Ill Id Monday Tuesday Wednesday Thursday Friday Saturday Sunday January "
    "February March April May June July August September October November December".split()
)


def names_speaker(text: str) -> bool:
    """Whether a transcript (a partial too) introduces the speaker: "this is Ana", "you've
    got Maria", "Dan here", "Kim speaking", "Smith residence"."""
    return _NAMING.search(normalize(text)) is not None


def _proper_noun(final: str) -> bool:
    """A capitalized word inside a sentence of a formatted final: a recognizer that formats
    (AssemblyAI's u3-rt-pro) capitalizes names ("Good evening, you're through to Thomas
    Wright."); days, months and "I" aside."""
    text = final.strip()
    for found in _CAPITALIZED.finditer(text):
        if found.group(0).replace("'", "") not in _NOT_NAMES:
            return True
    return False


SHORT_TURN = 6
"""The most words of a greeting's first sentence that is a person's turn on its own
("Hello, Michael Thompson."): a person says that much and waits."""


def persons_turn(final: str, first: bool) -> str | None:
    """Whether a finished sentence (a recognizer's formatted final) is one after which a
    person waits for an answer: "question" (it ends with "?"), "name" (it introduces the
    speaker: "this is Ana", "Dan here", "Smith residence") or, for the greeting's ``first``
    sentence only, "short" (at most :data:`SHORT_TURN` words); None otherwise, and for a
    sentence with any phrase of :data:`CATEGORIES` (those decide by themselves).

    A recording goes on after such a sentence ("Hi, it's Nina! I'm out surfing."); a
    person stops there, so the silence after it is their turn, not a greeting's pause.
    """
    text = normalize(final)
    if not text or match(final) is not None:
        return None
    if final.rstrip().endswith("?"):
        return "question"
    if _NAMING.search(text) or _proper_noun(final):
        return "name"
    if first and len(text.split()) <= SHORT_TURN:
        return "short"
    return None
