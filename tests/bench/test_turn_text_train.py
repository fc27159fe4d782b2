"""bench.turn_text_train: the labelled set, the fit and its held-out figures."""

from __future__ import annotations

from bench.turn_ends import SENTENCES
from bench.turn_text_train import RECALL, bench_set, fit, labelled, report
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
