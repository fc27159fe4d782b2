"""The phrase rules: normalization, whole-word matching, precedence between categories."""

from __future__ import annotations

import pytest

from sipgw.agent.amd.phrases import (
    CATEGORIES,
    Category,
    announces_tone,
    match,
    names_speaker,
    normalize,
    persons_turn,
    read_digits,
    word_count,
)

C = Category

CASES = [
    ("Hello?", None),
    ("Hi, this is Ana.", None),
    ("Ana speaking.", (C.HUMAN, "speaking")),
    ("Hello, this is Doctor Smith's office, how can I help you?", (C.HUMAN, "how can i help")),
    ("Who's this?", (C.HUMAN, "who is this")),
    ("Hi, you've reached Ana. Please leave a message.", (C.VOICEMAIL, "leave a message")),
    ("Hi, you've reached Ana.", (C.GREETING, "you have reached")),
    ("I can't come to the phone right now.", (C.GREETING, "cannot come to the phone")),
    ("Leave it at the beep.", (C.VOICEMAIL, "at the beep")),
    ("You have reached the voice mailbox of five five five.", (C.VOICEMAIL, "mailbox")),
    ("Please leave a message in my voice mail.", (C.VOICEMAIL, "leave a message")),
    ("Sorry, I'm not available; voice mail is on.", (C.VOICEMAIL, "voicemail")),
    ("Please try again later, or leave a message.", (C.VOICEMAIL, "leave a message")),
    ("The mailbox is full and cannot accept any messages.", (C.ANNOUNCEMENT, "mailbox is full")),
    ("The number you have dialled is not in service.", (C.ANNOUNCEMENT, "not in service")),
    ("The subscriber you have dialled is unavailable.", (C.MACHINE, "is unavailable")),
    ("The person you are calling cannot be reached.", (C.UNREACHABLE, "cannot be reached")),
    ("The person you are calling is not available.", (C.MACHINE, "is not available")),
    (
        "Hi, I'm Call Assist by Google, recording this call for the person you're trying to reach.",
        (C.SCREENER, "call assist"),
    ),
    ("Please state your name and reason for calling.", (C.SCREENER, "name and reason")),
    ("Hello, this call is being screened.", (C.SCREENER, "being screened")),
    (
        "Hi, before I connect you, who's calling and why you're calling?",
        (C.SCREENER, "why you are calling"),
    ),
    # a machine's words that come early, in partials (issue 44): a call forwarded, a number
    # read digit by digit, the subscriber, a farewell, a screening
    ("your call has been forwarded to an automated", (C.MACHINE, "has been forwarded")),
    ("the number you are trying to reach", (C.MACHINE, "number you are trying to reach")),
    ("the google subscriber you have called is not", (C.MACHINE, "subscriber")),
    ("you have reached five five five zero one", (C.GREETING, "you have reached")),
    ("five five five zero one", (C.MACHINE, "five five five zero one")),
    ("Please call 555-0123.", (C.MACHINE, "555 0123")),
    ("twenty five, one two", None),  # numbers, and two digits, are not a number read out
    ("This is Raj. Talk to you soon.", (C.GREETING, "talk to you soon")),
    ("I'm out surfing, you know what to do.", (C.GREETING, "you know what to do")),
    ("hi i'm a virtual assistant screening", (C.SCREENER, "screening")),
    ("This call is being screened by Google.", (C.SCREENER, "being screened")),
    ("Please state the purpose of your call.", (C.SCREENER, "purpose of your call")),
    ("MAILBOXES", None),  # whole words only
    ("I'm speakingly clear", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_match(text: str, expected: tuple[Category, str] | None) -> None:
    found = match(text)
    assert ((found.category, found.phrase) if found else None) == expected


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("Hi, you've reached Ana's voice mail!", "hi you have reached ana's voicemail"),
        ("I can't, won't; don't!", "i cannot will not do not"),
        ("It\u2019s MIKE -- leave a message.", "it is mike leave a message"),
        ("the voice mailbox", "the voice mailbox"),
        ("Number you have dialled", "number you have dialed"),
    ],
)
def test_normalize(text: str, normalized: str) -> None:
    assert normalize(text) == normalized


def test_every_phrase_is_written_normalized_and_only_once() -> None:
    seen: set[str] = set()
    for phrases in CATEGORIES.values():
        for phrase in phrases:
            assert normalize(phrase) == phrase, phrase
            assert phrase not in seen, phrase
            seen.add(phrase)


def test_word_count() -> None:
    assert word_count("Hi, you've reached Ana.") == 5  # hi you have reached ana
    assert word_count("") == 0


@pytest.mark.parametrize(
    ("final", "first", "expected"),
    [
        ("Hello? Is this a good time?", False, "question"),
        ("Hi, this is Ana Lopez, from the accounting office.", False, "name"),
        ("Good morning, Smith residence.", True, "name"),
        ("Morning, Daniel Kim here.", False, "name"),
        ("Good evening, you're through to Thomas Wright.", False, "name"),  # capitalized
        ("I'm out until Monday, sorry.", False, None),  # days and "I" are no names
        ("Hello, Michael Thompson.", False, "name"),
        ("Hello there, yes.", True, "short"),
        ("Hello there, yes.", False, None),
        ("I'm probably out surfing, so you know what to do.", True, None),
        # a phrase decides by itself: no person's turn
        ("Can I ask what you're calling about?", True, None),
        ("Hi, this is Ana, leave a message.", True, None),
        ("", True, None),
    ],
)
def test_persons_turn(final: str, first: bool, expected: str | None) -> None:
    assert persons_turn(final, first) == expected


def test_read_digits() -> None:
    assert read_digits(normalize("Five five five, zero one two three, is not available.")) == (
        "five five five zero one two three"
    )
    assert read_digits(normalize("call 555-0142 now")) == "555 0142"
    assert read_digits(normalize("one two 7")) == "one two 7"
    assert read_digits(normalize("one two, and 7")) == ""  # not in a row
    assert read_digits(normalize("twenty five people, one two")) == ""
    assert read_digits("") == ""


def test_announces_tone() -> None:
    assert announces_tone("Please leave your name and number after the tone.")
    assert announces_tone("talk to me after the beep")
    assert announces_tone("At the tone, please record your message.")
    assert not announces_tone("Hi, it's Nina! Leave a message.")  # no tone promised
    assert not announces_tone("the tone of his voice")


def test_names_speaker() -> None:
    assert names_speaker("hello this is doctor smith's office")
    assert names_speaker("hi you've got maria")
    assert names_speaker("good morning smith residence")
    assert not names_speaker("hello before i put you through")
    assert not names_speaker("hi this is")  # not yet: the name comes after
