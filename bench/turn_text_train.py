"""Fit the text end-of-turn scorer (``sipgw/agent/turns/text.json``) and report its figures.

Run from the repository root::

    .venv/bin/python -m bench.turn_text_train            # fit, write the weights, report
    .venv/bin/python -m bench.turn_text_train --check    # report with the shipped weights

The labelled set (:func:`labelled`) comes from ``tests/toolkit/turnset/texts.txt`` and
``short_turns.txt`` (whole short turns: "Yes please.", "Can you hear me?", "Thursday."):
every line ("I'd like to book a table for | two people at eight tonight.") gives each of
its word prefixes as *unfinished* ("i'd", "i'd like", ... "i'd like to book a table for two
people at eight": the caller goes on) and the whole line as *finished*. Splits: each
fourth line held out (``test``), as the turn model's set does; lines that share four words
in a row with a sentence of ``bench.turn_ends`` are left out of both, so the bench's own
sentences are a third set (:func:`bench_set`: each prefix and each whole).

Said after the agent's question, ``answers.txt`` (:func:`answers`: "What's your name? >>
My name is | Ana Lopez.") gives each prefix of the answer's words before its last pause
mark as *unfinished* and the whole answer as *finished*, read with the question (its
answer features: :mod:`sipgw.agent.turns.question`); an answer without a mark gives its
whole only ("Ana" of "Ana Lopez" answers too). Split the same way, each fourth line held
out.

A logistic model (L2, gradient descent, numpy) is fitted on both ``train`` sets; its
threshold :attr:`~sipgw.agent.turns.text.TextScorer.finished_at` is the highest probability
at which :data:`RECALL` of train's finished lines said after no question score finished
(the answers, which score higher, would raise it for the rest), but never one at which more
than :data:`FALSE_FINISHED` of train's unfinished prefixes said after no question would.
Reports accuracy, false
"finished" (an unfinished prefix called finished: a reply the caller talks over if they
pause there) and recall of finished lines on each set, ``test_at_pauses`` being the held-out
lines of ``texts.txt`` at their marked pause (the rules of
:data:`~sipgw.agent.turns.text.OPEN_WORDS` applied), ``test_short`` the held-out lines of
``short_turns.txt`` alone (its recall: the short complete answers not held),
``test_answers_at_pauses`` the held-out answers at their marked pause and whole, after
their question and (``..._without_question``) without it; and ``short_answers_held``: of
the answers of three words or fewer, the share held, after their question and without;
``short_waits``: how many whole turns of three words or fewer wait for the 1 s hold, and
their mean wait in the pause (:func:`short_waits`).

``--weights OLD.json`` reports an older ``text.json`` instead (the features it lacks
weigh nothing: :func:`older_scorer`), for a before-and-after on the same sets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.turn_ends import SENTENCES
from sipgw.agent.turns.question import question_of
from sipgw.agent.turns.tentative import HELD_TURN_MS
from sipgw.agent.turns.text import FEATURES, WEIGHTS, TextScorer, features, words_of

__all__ = [
    "answers", "answers_at_pauses", "at_pauses", "bench_set", "fit", "labelled", "main",
    "older_scorer", "short_answers", "short_answers_held", "short_waits",
]  # fmt: skip

TURNSET: Final = Path(__file__).resolve().parent.parent / "tests/toolkit/turnset"
TEXTS: Final = TURNSET / "texts.txt"
SHORT: Final = TURNSET / "short_turns.txt"
ANSWERS: Final = TURNSET / "answers.txt"
RECALL: Final = 0.9
"""Share of train's finished lines that score finished at the threshold: a finished turn
the scorer misses waits for the hold (1 s), one it passes wrongly is a reply the caller
talks over, paused at once (docs/assistant.md)."""
FALSE_FINISHED: Final = 0.29
"""Share of train's unfinished prefixes said after no question that may score finished:
the threshold is never lower (a feature that lets more short answers through must not
buy them with more replies the caller talks over, or cut-offs)."""
L2: Final = 0.01


def _lines(path: Path = TEXTS) -> list[tuple[str, str]]:
    out = []
    for raw in path.read_text().splitlines():
        raw = raw.strip()
        if raw and not raw.startswith("#"):
            head, _, tail = raw.partition("|")
            out.append((head.strip(), tail.strip()))
    return out


def _short(path: Path = SHORT) -> list[str]:
    return [
        raw.strip() for raw in path.read_text().splitlines()
        if raw.strip() and not raw.startswith("#")
    ]  # fmt: skip


def _grams(words: Sequence[str], n: int = 4) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _bench_grams() -> set[tuple[str, ...]]:
    grams: set[tuple[str, ...]] = set()
    for a, b in SENTENCES:
        grams |= _grams(words_of(f"{a} {b}"))
    return grams


def labelled(split: str) -> list[tuple[str, int]]:
    """(words, 1 if finished) for every prefix and whole line of the split's lines."""
    bench = _bench_grams()
    out = []
    lines = [f"{head} {tail}" for head, tail in _lines()]
    for k, line in enumerate([*lines, *_short()]):
        if ("test" if k % 4 == 3 else "train") != split:
            continue
        words = words_of(line)
        if _grams(words) & bench:
            continue  # the bench's own wording: neither fitted nor held out
        out += [(" ".join(words[:n]), 0) for n in range(1, len(words))]
        out.append((" ".join(words), 1))
    return out


def short_answers(split: str) -> list[tuple[str, int]]:
    """The split's lines of ``short_turns.txt`` alone (each prefix unfinished, each whole
    finished): whether a short complete answer ("Thursday.", "Order 5821.") is held."""
    offset = len(_lines())
    out = []
    for k, line in enumerate(_short(), start=offset):
        if ("test" if k % 4 == 3 else "train") == split:
            words = words_of(line)
            out += [(" ".join(words[:n]), 0) for n in range(1, len(words))]
            out.append((" ".join(words), 1))
    return out


def at_pauses(split: str) -> list[tuple[str, int]]:
    """The split's lines of ``texts.txt`` at their marked pause: the words before the
    ``|`` (unfinished) and the whole line (finished), as a caller pauses."""
    bench = _bench_grams()
    out = []
    for k, (head, tail) in enumerate(_lines()):
        words = words_of(f"{head} {tail}")
        if ("test" if k % 4 == 3 else "train") == split and not _grams(words) & bench:
            out += [(" ".join(words_of(head)), 0), (" ".join(words), 1)]
    return out


def _answer_lines(path: Path = ANSWERS) -> list[tuple[str, list[str]]]:
    """(the agent's question, the answer's parts between its pause marks)."""
    out = []
    for raw in path.read_text().splitlines():
        raw = raw.strip()
        if raw and not raw.startswith("#"):
            question, _, answer = raw.partition(">>")
            out.append((question.strip(), [p.strip() for p in answer.split("|")]))
    return out


def _prefix(tokens: Sequence[str]) -> str:
    return " ".join(tokens).rstrip(",.;")  # a final at a pause ends in no comma


def answers(split: str) -> list[tuple[str, str, int]]:
    """(the agent's question, the caller's words as written, 1 if finished) for the split's
    lines of ``answers.txt``: every prefix of the words before the answer's last pause
    mark (unfinished) and the whole answer (finished)."""
    bench = _bench_grams()
    out = []
    for k, (question, parts) in enumerate(_answer_lines()):
        whole = " ".join(parts)
        if ("test" if k % 4 == 3 else "train") != split or _grams(words_of(whole)) & bench:
            continue
        head = " ".join(parts[:-1]).split()
        out += [(question, _prefix(head[:n]), 0) for n in range(1, len(head) + 1)]
        out.append((question, whole, 1))
    return out


def answers_at_pauses(split: str) -> list[tuple[str, str, int]]:
    """The split's answers at their last marked pause (unfinished) and whole (finished);
    an answer without a mark gives its whole only."""
    bench = _bench_grams()
    out = []
    for k, (question, parts) in enumerate(_answer_lines()):
        whole = " ".join(parts)
        if ("test" if k % 4 == 3 else "train") != split or _grams(words_of(whole)) & bench:
            continue
        if len(parts) > 1:
            out.append((question, _prefix(" ".join(parts[:-1]).split()), 0))
        out.append((question, whole, 1))
    return out


def short_answers_held(scorer: TextScorer, split: str) -> dict[str, Any]:
    """Of the split's whole answers of three words or fewer ("Ana Lopez.", "7 3 1 9.",
    "Thursday."), the share held (scored unfinished), after their question and without."""
    wholes = [(q, t) for q, t, label in answers(split) if label and len(words_of(t)) <= 3]
    return {
        "answers": len(wholes),
        "held_after_question": round(
            sum(not scorer.finished(t, q) for q, t in wholes) / len(wholes), 3
        ),
        "held_without": round(sum(not scorer.finished(t) for _, t in wholes) / len(wholes), 3),
    }


def short_waits(scorer: TextScorer, split: str, early_ms: int = 200) -> dict[str, Any]:
    """How long the split's whole turns of three words or fewer wait in the pause before
    they are answered (the final's, LLM's and TTS's own delays not counted): the early
    end's ``early_ms`` when the scorer calls them finished, :data:`HELD_TURN_MS` when it
    holds them. Per set: ``short_turns.txt`` (after no question), ``answers.txt`` after
    their question and the same words after none (an open question, or a line that asks
    nothing); each with the turns, how many wait for the hold, and the mean wait."""
    plain = [(t, "") for t, label in short_answers(split) if label and len(t.split()) <= 3]
    asked = [(t, q) for q, t, label in answers(split) if label and len(words_of(t)) <= 3]
    out = {}
    for name, turns in (("short_turns", plain), ("answers_after_question", asked),
                        ("answers_without_question", [(t, "") for t, _ in asked])):  # fmt: skip
        held = sum(not scorer.finished(t, q) for t, q in turns)
        waits = held * HELD_TURN_MS + (len(turns) - held) * early_ms
        out[name] = {"turns": len(turns), "wait_for_hold": held,
                     "mean_wait_ms": round(waits / len(turns))}  # fmt: skip
    return out


def older_scorer(path: Path) -> TextScorer:
    """The weights at ``path`` made for fewer features (an older ``text.json``), each
    feature they lack weighing nothing: the scorer they were, read by today's features."""
    data = json.loads(path.read_text())
    own = dict(zip(data["features"], zip(data["mean"], data["scale"], data["weights"],
                                         strict=True), strict=True))  # fmt: skip
    if not set(own) <= set(FEATURES):
        raise ValueError("the weights have features today's scorer does not compute")
    mean, scale, weight = zip(*(own.get(name, (0.0, 1.0, 0.0)) for name in FEATURES),
                              strict=True)  # fmt: skip
    return TextScorer(mean, scale, weight, float(data["bias"]), float(data["finished_at"]))


def bench_set() -> list[tuple[str, int]]:
    """The bench's sentences: each prefix (unfinished) and each whole (finished)."""
    out = []
    for a, b in SENTENCES:
        words = words_of(f"{a} {b}")
        out += [(" ".join(words[:n]), 0) for n in range(1, len(words))]
        out.append((" ".join(words), 1))
    return out


def fit(
    rows: Sequence[tuple[str, int]], answered: Sequence[tuple[str, str, int]] = ()
) -> dict[str, Any]:
    """Weights on ``rows`` (words said after no question) and ``answered`` (words said
    after the agent's question: :func:`answers`)."""
    x = np.array(
        [features(words_of(t)) for t, _ in rows]
        + [features(words_of(t), question_of(q), t) for q, t, _ in answered]
    )
    y = np.array([label for _, label in rows] + [label for *_, label in answered], dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(4000):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= 0.5 * (z.T @ (p - y) / len(y) + L2 * w)
        b -= 0.5 * float(np.mean(p - y))
    p = 1 / (1 + np.exp(-(z @ w + b)))
    # The threshold keeps RECALL of the finished lines said after no question finished
    # (the answers after one score higher: they would raise it for the others), but is
    # never lower than where FALSE_FINISHED of their unfinished prefixes would pass.
    plain = np.arange(len(y)) < len(rows)
    positives = np.sort(p[(y == 1) & plain])
    threshold = float(positives[int(np.floor(len(positives) * (1 - RECALL)))]) - 1e-6
    negatives = np.sort(p[(y == 0) & plain])[::-1]
    capped = float(negatives[int(np.floor(len(negatives) * FALSE_FINISHED))]) + 1e-6
    threshold = max(threshold, capped)
    return {
        "features": list(FEATURES),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "weights": [round(float(v), 6) for v in w],
        "bias": round(b, 6),
        "finished_at": round(threshold, 6),
    }


def report(
    scorer: TextScorer, rows: Sequence[tuple[str, int] | tuple[str, str, int]]
) -> dict[str, Any]:
    """Accuracy, false "finished" and recall of finished turns; rows of three are scored
    after their question."""
    said = [
        (scorer.finished(row[1], row[0]) if len(row) == 3 else scorer.finished(row[0]), row[-1])
        for row in rows
    ]
    finished = sum(label for _, label in said)
    unfinished = len(said) - finished
    return {
        "samples": len(said),
        "finished": finished,
        "accuracy": round(sum(f == bool(label) for f, label in said) / len(said), 3),
        "false_finished": round(sum(f and not label for f, label in said) / unfinished, 3),
        "recall_finished": round(sum(f and label for f, label in said) / finished, 3),
    }


def _median_us(run: Callable[[], object], calls: int, rounds: int = 9) -> float:
    """Median over ``rounds`` of the CPU time of one of ``run``'s ``calls``, in µs."""
    times = []
    for _ in range(rounds):
        started = time.process_time()
        run()
        times.append((time.process_time() - started) / calls * 1e6)
    return round(statistics.median(times), 1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="report the shipped weights")
    parser.add_argument(
        "--weights", type=Path,
        help="report these weights instead (--check implied); an older file's missing "
        "features weigh nothing (`git show REV:sipgw/agent/turns/text.json > old.json`)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.weights is not None:
        scorer = older_scorer(args.weights)
    else:
        if not args.check:
            weights = fit(labelled("train"), answers("train"))
            WEIGHTS.write_text(json.dumps(weights, indent=1) + "\n")
        scorer = TextScorer.load(WEIGHTS)
    result = {name: report(scorer, rows) for name, rows in
              (("train", labelled("train")), ("test", labelled("test")),
               ("test_at_pauses", at_pauses("test")),
               ("test_short", short_answers("test")), ("bench", bench_set()),
               ("train_answers", answers("train")), ("test_answers", answers("test")),
               ("test_answers_at_pauses", answers_at_pauses("test")),
               ("test_answers_at_pauses_without_question",
                [(t, label) for _, t, label in answers_at_pauses("test")]))}  # fmt: skip
    held = {split: short_answers_held(scorer, split) for split in ("train", "test")}
    waits = {split: short_waits(scorer, split) for split in ("train", "test")}
    clauses = [(a, scorer.probability(a)) for a, _ in SENTENCES]
    wholes = [(f"{a} {b}", scorer.probability(f"{a} {b}")) for a, b in SENTENCES]
    plain = [t for t, _ in labelled("test")]
    asked = [(q, t) for q, t, _ in answers("test")]
    per_call_us = _median_us(lambda: [scorer.probability(t) for t in plain], len(plain))
    asked_us = _median_us(lambda: [scorer.probability(t, q) for q, t in asked], len(asked))
    reading = question_of.__wrapped__  # a question read afresh (each new line of the agent)
    read_us = _median_us(lambda: [reading(q) for q, _ in asked], len(asked))
    print(json.dumps({"threshold": scorer.finished_at, "sets": result,
                      "short_answers_held": held, "short_waits": waits,
                      "bench_clauses": clauses,
                      "bench_wholes": wholes, "cpu_us_per_call": per_call_us,
                      "cpu_us_per_call_after_question": asked_us,
                      "cpu_us_reading_a_question": read_us}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
