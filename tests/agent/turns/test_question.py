"""What the agent's question asks for and whether the caller's words answer it
(agent/turns/question.py), and the text scorer reading short answers after a question."""

from __future__ import annotations

import pytest

from sipgw.agent.turns.question import (
    ANSWER_FEATURES,
    NO_QUESTION,
    AnswerKind,
    Question,
    answer_features,
    bare_answer,
    digit_count,
    question_of,
)
from sipgw.agent.turns.text import FEATURES, default_scorer, features, words_of


@pytest.mark.parametrize(
    ("said", "kind", "digits"),
    [
        ("Thanks. What's your name?", AnswerKind.NAME, None),
        ("Who am I speaking with?", AnswerKind.NAME, None),
        ("Can I have the six digit code we sent you?", AnswerKind.CODE, 6),
        ("What's the best phone number to reach you?", AnswerKind.CODE, 10),
        ("Can you give me the last four digits of your card?", AnswerKind.CODE, 4),
        ("What's your order number?", AnswerKind.CODE, None),
        ("How many people will be joining?", AnswerKind.COUNT, None),
        ("What day works best for you?", AnswerKind.DATE, None),
        ("What time works for you?", AnswerKind.DATE, None),
        ("Is that correct?", AnswerKind.YES_NO, None),
        ("Do you have your account number handy?", AnswerKind.YES_NO, None),
        ("What's your name? Take your time.", AnswerKind.NAME, None),
    ],
)
def test_the_kind_a_question_asks_for(said: str, kind: AnswerKind, digits: int | None) -> None:
    question = question_of(said)
    assert (question.kind, question.digits) == (kind, digits)


def test_a_choice_names_its_options() -> None:
    question = question_of("Would you like delivery or pickup?")
    assert question.kind is AnswerKind.CHOICE
    assert {"delivery", "pickup"} <= question.options


@pytest.mark.parametrize(
    "said",
    ["How can I help you today?", "Your order has shipped.", "", "Anything else?",
     "What's your name? I can look it up. It takes a moment."],
)  # fmt: skip
def test_no_question_or_an_open_one_asks_no_kind(said: str) -> None:
    assert question_of(said) == NO_QUESTION


@pytest.mark.parametrize(
    ("words", "digits"),
    [
        ("7 3 1 9", 4), ("7319", 4), ("four five", 2), ("forty two", 2),
        ("double five", 2), ("one two three four five six", 6), ("oh four", 2),
        ("my account", None), ("", None), ("and", None),
    ],
)  # fmt: skip
def test_digits_read(words: str, digits: int | None) -> None:
    assert digit_count(words.split()) == digits


def answers(said: str, text: str) -> set[str]:
    """The answer features that are on for ``text`` after ``said``."""
    on = answer_features(question_of(said), text)
    return {
        name for name, x in zip(ANSWER_FEATURES, on, strict=True) if x and name != "code_digits"
    }


@pytest.mark.parametrize(
    ("said", "text", "expected"),
    [
        ("What's your name?", "Ana Lopez.", {"answers_name"}),
        ("What's your name?", "It's Maria.", {"answers_name"}),
        ("What's your name?", "My name is", set()),
        ("What's your name?", "Sorry?", set()),
        ("What's your name?", "I'm calling about my bill", set()),
        ("What's your account number?", "7 3 1 9.", {"answers_code"}),
        ("Can I have the six digit code we sent you?", "It's four two", {"code_short"}),
        ("Can I have the six digit code we sent you?", "4 2 7 1 9 3", {"answers_code"}),
        ("How old are you?", "Forty two.", {"answers_count"}),
        ("What day works best for you?", "Thursday.", {"answers_date"}),
        ("What day works best for you?", "On the 21st.", {"answers_date"}),
        ("Is that correct?", "Yes.", {"answers_yes_no"}),
        ("Is that correct?", "Yes, but", set()),
        ("Would you like delivery or pickup?", "Pickup please.", {"answers_choice"}),
        ("Would you like delivery or pickup?", "I'm not sure", set()),
        ("How can I help you today?", "Ana Lopez.", set()),
    ],
)
def test_whether_the_words_answer_the_question(said: str, text: str, expected: set[str]) -> None:
    assert answers(said, text) == expected


def test_a_lower_case_partial_still_reads_as_a_name_but_a_formatted_common_word_does_not() -> None:
    name = question_of("What's your name?")
    assert answer_features(name, "ana lopez")[0] == 1.0
    assert answer_features(name, "Ana lopez")[0] == 0.0  # formatted: "lopez" would be capital


def test_no_question_leaves_the_features_of_words_alone() -> None:
    words = words_of("Ana Lopez.")
    assert features(words) == features(words, NO_QUESTION, "Ana Lopez.")
    assert features(words, Question(AnswerKind.NAME), "Ana Lopez.") != features(words)
    assert len(features(words)) == len(FEATURES)


# --------------------------------------------------------------------------- the decision


@pytest.mark.parametrize(
    ("said", "text"),
    [
        ("Thanks. And what's your name?", "Ana Lopez."),
        ("Could you tell me your first name?", "Tomasz."),
        ("What's your account number?", "7 3 1 9."),
        ("How old are you?", "Forty two."),
        ("How many people will be joining?", "Two."),
        ("Would you like delivery or pickup?", "Delivery."),
    ],
)
def test_a_short_answer_to_the_agents_question_is_finished(said: str, text: str) -> None:
    scorer = default_scorer()
    assert scorer.finished(text, said)
    assert scorer.probability(text, said) > scorer.probability(text)


@pytest.mark.parametrize(
    ("said", "text"),
    [
        ("What's your name?", "My name is"),
        ("Can I have the six digit code we sent you?", "It's four two"),
        ("What's the best phone number to reach you?", "five five five"),
        ("What's your account number?", "My account number is"),
        ("When did you place the order?", "I placed it"),
    ],
)
def test_a_fragment_that_does_not_answer_yet_is_held(said: str, text: str) -> None:
    assert not default_scorer().finished(text, said)


@pytest.mark.parametrize(
    ("said", "text"),
    [("Did you get the code?", "Yes I did."),
     ("Do you have your account number handy?", "Yeah I do."),
     ("Is that right?", "Yes it is.")],
)  # fmt: skip
def test_what_the_question_changes(said: str, text: str) -> None:
    """The same words out of context, or after an open question, still look unfinished
    (a name or a number said alone no longer does: :func:`bare_answer`)."""
    scorer = default_scorer()
    assert not scorer.finished(text)
    assert not scorer.finished(text, "How can I help you today?")
    assert scorer.finished(text, said)


def test_a_code_with_fewer_digits_than_asked_scores_lower_than_the_whole() -> None:
    scorer, said = default_scorer(), "Can I have the six digit code we sent you?"
    assert scorer.probability("four two seven", said) < scorer.probability(
        "four two seven one nine three", said
    )


# --------------------------------------------------------------------------- bare answers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sarah", (True, False)), ("it's maria", (True, False)),
        ("this is laura", (True, False)), ("berlin", (True, False)),
        ("billing please", (True, False)), ("mister brown", (True, False)),
        ("two", (False, True)), ("forty two", (False, True)), ("it's 7", (False, True)),
        ("i'm calling", (False, False)),  # a verb after a lead-in
        ("we're", (False, False)), ("hold", (False, False)), ("mister", (False, False)),
        ("hi this is ana", (True, False)), ("my name is ana lopez", (True, False)),
        ("yes two", (False, True)),  # an opening yes, then the answer
        ("this is laura ann smith", (False, False)),  # more than two words of substance
        ("i was charged twice", (False, False)),  # no lead-in: four words of substance
        ("it's four and", (False, False)),  # an open tail
        ("it's", (False, False)),  # a lead-in alone
    ],
)  # fmt: skip
def test_a_bare_answer_is_a_name_word_or_a_number_after_its_lead_in(
    text: str, expected: tuple[bool, bool]
) -> None:
    assert bare_answer(words_of(text)) == expected


def test_words_the_caller_names_as_no_bare_answer_are_none() -> None:
    assert bare_answer(["could"]) == (True, False)
    assert bare_answer(["could"], frozenset({"could"})) == (False, False)
