"""bench.turn_text_train: the labelled set, the fit and its held-out figures."""

from __future__ import annotations

from bench.turn_ends import SENTENCES
from bench.turn_text_train import (
    RECALL,
    answers,
    answers_at_pauses,
    bench_set,
    fit,
    labelled,
    report,
    short_answers_held,
)
from sipgw.agent.turn_text import TextScorer, default_scorer, words_of


def test_the_splits_are_apart_and_leave_the_bench_sentences_out() -> None:
    train, test = labelled("train"), labelled("test")
    assert not {t for t, label in train if label} & {t for t, label in test if label}
    bench = {" ".join(words_of(f"{a} {b}")) for a, b in SENTENCES}
    assert not bench & {t for t, _ in train + test}
    assert sum(label for _, label in train) > 100


def test_each_line_gives_its_prefixes_as_unfinished() -> None:
    rows = bench_set()
    assert ("i'd like to book a table for", 0) in rows
    assert ("i'd like to book a table for two people tomorrow night", 1) in rows


def test_the_fit_meets_its_threshold_rule_on_train() -> None:
    rows = labelled("train")[:400]
    weights = fit(rows)
    scorer = TextScorer(
        tuple(weights["mean"]), tuple(weights["scale"]), tuple(weights["weights"]),
        weights["bias"], weights["finished_at"],
    )  # fmt: skip
    finished = [text for text, label in rows if label]
    assert sum(scorer.probability(t) >= scorer.finished_at for t in finished) >= RECALL * len(
        finished
    )


def test_the_shipped_weights_on_the_held_out_lines() -> None:
    figures = report(default_scorer(), labelled("test"))
    assert figures["recall_finished"] >= 0.85
    assert figures["false_finished"] <= 0.35


def test_an_answer_gives_the_prefixes_before_its_pause_and_its_whole() -> None:
    rows = answers("train") + answers("test")
    asked = "What's your name?"
    assert (asked, "My name is", 0) in rows and (asked, "My name is Ana Lopez.", 1) in rows
    assert (asked, "Ana Lopez.", 1) in rows
    assert (asked, "Ana", 0) not in rows  # no mark: "Ana" answers too, it is no prefix
    assert not {t for _, t, label in answers("train") if label} & {
        t for _, t, label in answers("test") if label and len(t) > 12
    }


def test_the_shipped_weights_on_the_held_out_answers() -> None:
    """After their question short answers are held far less, and the pauses inside
    answers are called finished no more often than without the question."""
    scorer = default_scorer()
    held = short_answers_held(scorer, "test")
    assert held["held_after_question"] <= 0.1 < held["held_without"]
    rows = answers_at_pauses("test")
    after = report(scorer, rows)
    without = report(scorer, [(t, label) for _, t, label in rows])
    assert after["recall_finished"] >= 0.9 > without["recall_finished"]
    assert after["false_finished"] <= without["false_finished"]
