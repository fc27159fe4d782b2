"""Cutting streamed LLM text into sentences for text-to-speech (sipgw.agent.services.llm.sentences).

The table is fed whole and one character at a time; Hypothesis checks that any
chunking of a text gives the same sentences, and that nothing is lost or invented.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.agent.services.llm.sentences import SentenceSplitter

SENTENCE_CASES = [
    ("Hello there. How are you?", ["Hello there.", "How are you?"]),
    ("It costs $3.50 in total. Thanks!", ["It costs $3.50 in total.", "Thanks!"]),
    ("Mr. Smith will call you. Dr. Jones too.", ["Mr. Smith will call you.", "Dr. Jones too."]),
    ("Bring e.g. a receipt. Or i.e. proof.", ["Bring e.g. a receipt.", "Or i.e. proof."]),
    ("Your order No. 1234 shipped. No. It did not.",
     ["Your order No. 1234 shipped.", "No.", "It did not."]),
    ("Visit example.com/help. Or mail help@shop.example.com. Bye",
     ["Visit example.com/help.", "Or mail help@shop.example.com.", "Bye"]),
    ("We open at 9 a.m. tomorrow. Call at 5 p.m. Thanks.",
     ["We open at 9 a.m. tomorrow.", "Call at 5 p.m.", "Thanks."]),
    ("Wait… what? Yes. Well... let me see.", ["Wait… what?", "Yes.", "Well... let me see."]),
    ("Really?! \"Sure.\" (Okay.) Done", ["Really?!", "\"Sure.\"", "(Okay.)", "Done"]),
    ("Two items:\n1. A jacket\n2. A scarf", ["Two items:", "1. A jacket", "2. A scarf"]),
    ("The total is 1,234.56 dollars.", ["The total is 1,234.56 dollars."]),
    ("It's approx. five days. Ok", ["It's approx. five days.", "Ok"]),
    ("No punctuation at the end", ["No punctuation at the end"]),
    ("   ", []),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), SENTENCE_CASES)
def test_sentences_table(text, expected):
    assert split_all(text, early_comma_chars=None) == expected


@pytest.mark.parametrize(("text", "expected"), SENTENCE_CASES)
def test_sentences_table_one_character_at_a_time(text, expected):
    assert split_all(text, chunks=list(text), early_comma_chars=None) == expected


def split_all(text: str, chunks: list[str] | None = None, **options) -> list[str]:
    splitter = SentenceSplitter(**options)
    out: list[str] = []
    for chunk in chunks if chunks is not None else [text]:
        out.extend(splitter.push(chunk))
    rest = splitter.flush()
    return out + ([rest] if rest else [])


def test_sentence_is_emitted_as_soon_as_the_next_word_starts():
    splitter = SentenceSplitter()
    assert splitter.push("Your order has shipped.") == []  # "shipped.com"? wait for more
    assert splitter.push(" It") == ["Your order has shipped."]
    assert splitter.push(" arrives today!") == []
    assert splitter.push(" ") == ["It arrives today!"]
    assert splitter.flush() is None


def test_early_comma_cut_only_for_the_first_long_clause():
    text = (
        "Thanks for waiting on the line with me today, your order is on its way, "
        "and it should arrive by Thursday, at the latest."
    )
    assert split_all(text) == [
        "Thanks for waiting on the line with me today,",
        "your order is on its way, and it should arrive by Thursday, at the latest.",
    ]
    assert split_all(text, early_comma_chars=None) == [text]
    assert split_all("Sure, thing.") == ["Sure, thing."]  # too short to cut


def test_the_first_sentence_cuts_at_a_clause_once_it_has_a_few_words():
    text = "Your order has shipped, it arrives on Monday. Anything else?"
    assert split_all(text, early_comma_chars=16) == [
        "Your order has shipped,", "it arrives on Monday.", "Anything else?",
    ]  # fmt: skip
    assert split_all("Here is what I found: it shipped.", early_comma_chars=16) == [
        "Here is what I found:", "it shipped.",
    ]  # fmt: skip
    assert split_all("Sure, it shipped.", early_comma_chars=16) == ["Sure, it shipped."]


def test_long_clauses_split_at_colon_and_semicolon():
    long = "Here is everything I found about the order you asked me about:"
    assert split_all(long + " it shipped.") == [long, "it shipped."]
    assert split_all("Note: it shipped; today.") == ["Note: it shipped; today."]
    assert split_all("We open at 10:30 today.", clause_chars=1) == ["We open at 10:30 today."]


def test_run_on_text_is_cut_at_max_chars():
    text = " ".join(["word"] * 100)
    sentences = split_all(text, max_chars=50)
    assert len(sentences) == 5
    assert all(len(s) <= 2 * 50 + len(" word") for s in sentences)
    assert " ".join(sentences) == text


FRAGMENTS = st.sampled_from(
    [
        "Hello", " there", ".", " ", "  ", "3.5", " Mr.", " e.g.", " No. 12", " no.", "!", "?",
        "…", "...", ",", ":", ";", "\n", " a", " B", '"', ")", " example.com", " 10:30",
        " order", " it", "1. ", " approx.",
    ]
)  # fmt: skip


TEXTS = st.one_of(
    st.lists(FRAGMENTS, max_size=40).map("".join),
    st.text(alphabet=st.sampled_from(list("ab AB.,!?;:\n…'\"1")), max_size=200),
)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, data=st.data())
def test_any_chunking_gives_the_same_sentences(text, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=20)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    expected = split_all(text, early_comma_chars=10, clause_chars=15, max_chars=30)
    assert split_all(text, chunks, early_comma_chars=10, clause_chars=15, max_chars=30) == expected
    # Nothing is lost or invented, and no sentence is blank.
    assert "".join("".join(expected).split()) == "".join(text.split())
    assert all(s == s.strip() and s for s in expected)


@pytest.mark.parametrize(
    ("deltas", "expected"),
    [
        (["Your order has shipped."], ["Your order has shipped."]),
        (["Can I help?"], ["Can I help?"]),
        (["Great!"], ["Great!"]),
        (["Call Dr."], []),  # an abbreviation: wait
        (["It costs 3."], []),  # a number: wait (maybe 3.5)
        (["Go to No."], []),
        (["Hmm…"], ["Hmm…"]),
    ],
)
def test_eager_end_cuts_a_finished_sentence_without_waiting(
    deltas: list[str], expected: list[str]
) -> None:
    splitter = SentenceSplitter(eager_end=True)
    out: list[str] = []
    for delta in deltas:
        out += splitter.push(delta)
    assert out == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        ("Go.", ["Go."]),  # a word of two letters or more
        ("Plan A.", []),  # one letter: maybe an initial, wait
        ("Call Mr.", []),
        ("Mail jane.doe@example.", []),  # not a plain word
        ('Thanks!"', ['Thanks!"']),  # closing quotes belong to the sentence
        ("Wait for it", []),  # no terminator at all
    ],
)
def test_eager_end_only_for_a_terminator_that_surely_ends_a_sentence(
    delta: str, expected: list[str]
) -> None:
    assert SentenceSplitter(eager_end=True).push(delta) == expected


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, data=st.data())
def test_eager_end_loses_and_invents_nothing_whatever_the_chunking(text, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=20)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    sentences = split_all(text, chunks, eager_end=True, early_comma_chars=10, max_chars=30)
    assert "".join("".join(sentences).split()) == "".join(text.split())
    assert all(s == s.strip() and s for s in sentences)


def test_flush_gives_the_rest_and_the_early_comma_waits_for_a_reset() -> None:
    clause = "Thanks for waiting on the line with me today, "
    splitter = SentenceSplitter(early_comma_chars=20)
    assert splitter.push(clause + "it") == [clause.strip()]
    assert splitter.flush() == "it"
    assert splitter.flush() is None  # nothing left
    assert splitter.push("   ") == [] and splitter.flush() is None
    assert splitter.push(clause + "it") == []  # the early cut is for a reply's first sentence
    assert splitter.flush() == clause + "it"
    splitter.reset()
    assert splitter.push(clause + "it") == [clause.strip()]


def test_a_clause_mark_needs_the_space_after_it() -> None:
    splitter = SentenceSplitter(clause_chars=5)
    assert splitter.push("The time is 10:30") == []
    assert splitter.push(" and then: more") == ["The time is 10:30 and then:"]
