"""bench.turn_text_train: the labelled set, the fit and its held-out figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.turn_ends import SENTENCES
from bench.turn_text_train import (
    FALSE_FINISHED,
    RECALL,
    answers,
    answers_at_pauses,
    bench_set,
    fit,
    labelled,
    older_scorer,
    report,
    short_answers_held,
    short_waits,
)
from sipgw.agent.turns.tentative import HELD_TURN_MS
from sipgw.agent.turns.text import FEATURES, WEIGHTS, TextScorer, default_scorer, words_of


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


def _scorer(weights: dict[str, object]) -> TextScorer:
    return TextScorer(
        tuple(weights["mean"]), tuple(weights["scale"]), tuple(weights["weights"]),  # type: ignore[arg-type]
        weights["bias"], weights["finished_at"],  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_fit_meets_its_threshold_rules_on_train() -> None:
    """RECALL of the finished lines pass, unless that would let more than FALSE_FINISHED
    of the unfinished prefixes through: then the threshold is where that many pass."""
    rows = labelled("train")[:400]
    scorer = _scorer(fit(rows))
    finished = [t for t, label in rows if label]
    prefixes = [t for t, label in rows if not label]
    passed = sum(scorer.probability(t) >= scorer.finished_at for t in prefixes)
    assert passed <= FALSE_FINISHED * len(prefixes) + 1
    recall = sum(scorer.probability(t) >= scorer.finished_at for t in finished)
    if recall < RECALL * len(finished):  # the cap binds: one more prefix would pass below it
        below = max(p for t in prefixes if (p := scorer.probability(t)) < scorer.finished_at)
        assert scorer.finished_at - below < 1e-5


def test_the_shipped_weights_are_the_fit_of_the_train_split() -> None:
    """`python -m bench.turn_text_train` makes text.json: refitting gives it back."""
    shipped = json.loads(WEIGHTS.read_text())
    refit = fit(labelled("train"), answers("train"))
    assert refit["features"] == shipped["features"] == list(FEATURES)
    for key in ("mean", "scale", "weights"):
        assert refit[key] == pytest.approx(shipped[key], abs=1e-5), key
    assert refit["bias"] == pytest.approx(shipped["bias"], abs=1e-5)
    assert refit["finished_at"] == pytest.approx(shipped["finished_at"], abs=1e-5)


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
    """Short answers are seldom held after their question or without it, and the pauses
    inside answers are called finished no more often after the question than without."""
    scorer = default_scorer()
    held = short_answers_held(scorer, "test")
    assert held["held_after_question"] <= 0.1
    assert held["held_without"] <= 0.1  # a name or a number said alone is whole
    rows = answers_at_pauses("test")
    after = report(scorer, rows)
    without = report(scorer, [(t, label) for _, t, label in rows])
    assert after["recall_finished"] >= max(0.9, without["recall_finished"])
    assert after["false_finished"] <= without["false_finished"]


def test_short_waits_counts_the_hold_for_each_held_turn() -> None:
    everything = TextScorer(
        (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), (0.0,) * len(FEATURES), 5.0, 0.5
    )
    nothing = TextScorer(
        (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), (0.0,) * len(FEATURES), -5.0, 0.5
    )
    sure, never = short_waits(everything, "test"), short_waits(nothing, "test")
    turns = sure["short_turns"]["turns"]
    assert turns > 20 and sure["short_turns"] == {
        "turns": turns,
        "wait_for_hold": 0,
        "mean_wait_ms": 200,
    }
    assert never["short_turns"]["wait_for_hold"] == turns
    assert never["short_turns"]["mean_wait_ms"] == HELD_TURN_MS


def test_older_weights_are_read_with_their_missing_features_at_nothing(tmp_path: Path) -> None:
    shipped = json.loads(WEIGHTS.read_text())
    keep = [k for k, name in enumerate(FEATURES) if not name.startswith("bare_")]
    older = {
        key: [shipped[key][k] for k in keep] for key in ("features", "mean", "scale", "weights")
    }
    older |= {"bias": shipped["bias"], "finished_at": shipped["finished_at"]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(older))
    scorer = older_scorer(path)
    shipped_scorer = default_scorer()
    zeroed = TextScorer(
        shipped_scorer.mean, shipped_scorer.scale,
        tuple(0.0 if name.startswith("bare_") else w
              for name, w in zip(FEATURES, shipped_scorer.weights, strict=True)),
        shipped_scorer.bias, shipped_scorer.finished_at,
    )  # fmt: skip
    for text in ("I'd like to book a table for", "Sarah.", "Two."):
        assert scorer.probability(text) == pytest.approx(zeroed.probability(text))
    path.write_text(json.dumps(older | {"features": ["surprise", *older["features"][1:]]}))
    with pytest.raises(ValueError, match="features"):
        older_scorer(path)
