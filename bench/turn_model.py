"""Turn models on phone-band audio: is the caller finished, 200 ms into a pause?

    python -m bench.turn_model [--limit N] [--conditions g712/clean,...] [--seed 1]
                               [--json PATH]

Builds the ``test`` split of the turn set (:mod:`tests.toolkit.turnset.labelled`: each
fourth line of its texts, spoken by voices the ``train`` split never uses; finished and
unfinished utterances, 8 kHz μ-law, 200 ms of line after the words) under each line
condition (G.712 band or wider, clean or babble at 10 and 5 dB SNR), and asks each
candidate, per sample, "finished?":

* ``vad``: sipgw's ``SIPGW_EARLY_TURN_END=vad``: every pause of 200 ms ends the turn;
* ``vad+text``: ``SIPGW_EARLY_TURN_END=vad+text``: the same, unless the words so far
  leave the sentence open (:func:`sipgw.agent.turns.early_end.sentence_open`), given the
  sample's words as the partial transcript;
* ``model/audio`` and ``model/audio+text``: :mod:`sipgw.media.voice.turn_model` with its
  shipped weights (``bench/turn_model_train.py``), without and with the words;
* ``model/wired``: the same with the words, the way ``SIPGW_EARLY_TURN_END=model`` asks
  it (:class:`sipgw.media.voice.turn_tail.TurnTail`: the sample's frames pushed one by one, the
  pitch measured a share on each quiet frame before the decision); its CPU is the
  deciding frame's alone, and the costliest quiet frame before it is printed below the
  table (median and 95th percentile over the samples).

Per candidate and condition: accuracy, the false-finished rate (unfinished turns called
finished: the caller is cut off), the false-not-yet rate (finished turns left to the
speech-to-text service's own end: a later answer), and the CPU time of one decision
(median, process time; the CPU model and load are in the JSON's ``machine``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, write_json
from sipgw.media.voice.turn_model import audio_features, default_model, text_features
from sipgw.media.voice.turn_tail import FRAME_SAMPLES, TurnTail
from tests.toolkit.turnset.labelled import CONDITIONS, Condition, Sample, build

CANDIDATES = ("vad", "vad+text", "model/audio", "model/audio+text", "model/wired")
PAUSE_FRAMES = 10
"""The decision's quiet frames (200 ms), as ``SIPGW_EARLY_TURN_END_MS`` defaults."""


def wired(ulaw: bytes, words: str) -> tuple[float, float, float]:
    """The gateway's path on one sample: its probability, the CPU ms of the deciding frame,
    and of the costliest quiet frame before it."""
    tail = TurnTail()
    frames = [ulaw[i : i + FRAME_SAMPLES] for i in range(len(ulaw) % FRAME_SAMPLES, len(ulaw),
                                                           FRAME_SAMPLES)]  # fmt: skip
    prepare_ms = 0.0
    for n, frame in enumerate(frames):
        tail.push(frame)
        quiet = n - (len(frames) - PAUSE_FRAMES) + 1
        if 1 <= quiet < PAUSE_FRAMES:
            start = time.process_time()
            tail.prepare(quiet, PAUSE_FRAMES - quiet)
            prepare_ms = max(prepare_ms, (time.process_time() - start) * 1000)
    start = time.process_time()
    probability = tail.probability(PAUSE_FRAMES, words)
    return probability, (time.process_time() - start) * 1000, prepare_ms


def featurize(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """Each sample's label, words, condition and turn-model features (with the CPU time
    of the audio features, in ms)."""
    rows = []
    for sample in samples:
        pcm = sample.pcm()
        start = time.process_time()
        audio = audio_features(pcm)
        cpu_ms = (time.process_time() - start) * 1000
        rows.append(
            {
                "key": sample.utterance.key,
                "condition": sample.condition.name,
                "finished": sample.finished,
                "continuation": sample.utterance.continuation,
                "words": sample.utterance.words,
                "audio": audio,
                "text": text_features(sample.utterance.words),
                "features_cpu_ms": cpu_ms,
                "wired": wired(sample.ulaw, sample.utterance.words),
            }
        )
    return rows


def decisions(rows: Sequence[dict[str, Any]]) -> dict[str, list[tuple[bool, bool, float | None]]]:
    """Per candidate: (truth, said finished, CPU ms of the decision) for every row."""
    from sipgw.agent.turns.early_end import sentence_open

    model = default_model()
    out: dict[str, list[tuple[bool, bool, float | None]]] = {c: [] for c in CANDIDATES}
    for row in rows:
        truth = row["finished"]
        out["vad"].append((truth, True, None))
        out["vad+text"].append((truth, not sentence_open(row["words"]), None))
        for name, words in (("model/audio", None), ("model/audio+text", row["words"])):
            start = time.process_time()
            p = model.probability(row["audio"], words)
            cpu_ms = row["features_cpu_ms"] + (time.process_time() - start) * 1000
            out[name].append((truth, model.finished(p, words is not None), cpu_ms))
        if "wired" in row:
            p, decide_ms, _ = row["wired"]
            out["model/wired"].append((truth, model.finished(p, True), decide_ms))
    return {name: rows_ for name, rows_ in out.items() if rows_}


def scores(results: Sequence[tuple[bool, bool, float | None]]) -> dict[str, Any]:
    """Accuracy, false-finished and false-not-yet rates, median CPU ms."""
    unfinished = [said for truth, said, _ in results if not truth]
    finished = [said for truth, said, _ in results if truth]
    right = sum(truth == said for truth, said, _ in results)
    cpu = [ms for _, _, ms in results if ms is not None]
    return {
        "n": len(results),
        "accuracy": round(right / len(results), 4) if results else None,
        "false_finished": round(sum(unfinished) / len(unfinished), 4) if unfinished else None,
        "false_not_yet": round(finished.count(False) / len(finished), 4) if finished else None,
        "cpu_ms_median": round(statistics.median(cpu), 2) if cpu else None,
    }


def evaluate(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Scores per candidate, per condition and over all conditions ("all")."""
    conditions = sorted({row["condition"] for row in rows})
    table: dict[str, dict[str, Any]] = {}
    for condition in [*conditions, "all"]:
        chosen = [r for r in rows if condition in ("all", r["condition"])]
        for name, results in decisions(chosen).items():
            table.setdefault(name, {})[condition] = scores(results)
    return table


def graded_waits(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The shipped graded wait (``SIPGW_EARLY_TURN_END=model``) on ``rows``, without and with
    the words: per wait, the share of unfinished turns it ends by then (the callers it cuts
    off if they pause that long) and of finished ones (the turns it ends early by then)."""
    model = default_model()
    out: dict[str, dict[str, Any]] = {}
    for name, with_words, weights in (
        ("model/audio", False, model.audio), ("model/audio+text", True, model.audio_text),
    ):  # fmt: skip
        waits = [
            (row["finished"], model.wait_ms(
                model.probability(row["audio"], row["words"] if with_words else None), with_words
            ))
            for row in rows
        ]  # fmt: skip
        unfinished = [w for done, w in waits if not done]
        finished = [w for done, w in waits if done]
        out[name] = {
            str(ms): {
                "cut": cut,
                "false_finished": _share_by(unfinished, ms),
                "finished_ended": _share_by(finished, ms),
            }
            for ms, cut in weights.waits
        }
    return out


def _share_by(waits: Sequence[int | None], ms: int) -> float:
    """The share of ``waits`` that end a turn by ``ms`` of pause."""
    return round(sum(w is not None and w <= ms for w in waits) / max(1, len(waits)), 4)


def _conditions(names: str | None) -> tuple[Condition, ...]:
    if not names:
        return CONDITIONS
    by_name = {c.name: c for c in CONDITIONS}
    return tuple(by_name[n] for n in names.split(","))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--limit", type=int, help="the first N utterances of the split only")
    p.add_argument("--conditions", help="comma-separated, e.g. g712/clean,wide/babble5")
    p.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = p.parse_args(argv)
    machine = machine_info()
    conditions = _conditions(args.conditions)
    log(f"building and measuring the test split ({len(conditions)} conditions)")
    rows = featurize(build("test", conditions, args.seed, args.limit))
    table = evaluate(rows)
    data = {
        "machine": {**machine, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "params": {
            "seed": args.seed,
            "limit": args.limit,
            "split": "test",
            "conditions": [c.name for c in conditions],
            "samples": len(rows),
            "finished": sum(r["finished"] for r in rows),
            "pause_ms": 200,
        },  # fmt: skip
        "candidates": table,
    }
    headers = ["candidate", "condition", "n", "accuracy", "false finished", "false not yet",
               "CPU ms/decision"]  # fmt: skip
    lines = []
    for name, by_condition in table.items():
        for condition, s in by_condition.items():
            lines.append([
                name, condition, str(s["n"]), _pct(s["accuracy"]), _pct(s["false_finished"]),
                _pct(s["false_not_yet"]), fmt(s["cpu_ms_median"], ".1f"),
            ])  # fmt: skip
    load = data["machine"]["loadavg_at_start"]
    print(
        f"Turn models on the turn set's test split (held-out voices and wording; {len(rows)} "
        f"samples, 200 ms into the pause); {machine['cpu_model']}, load {load}"
    )
    print(format_table(headers, lines))
    before = sorted(row["wired"][2] for row in rows)
    data["wired_quiet_frame_cpu_ms"] = {
        "median": round(statistics.median(before), 2),
        "p95": round(before[int(0.95 * (len(before) - 1))], 2),
    }
    quiet_frame = data["wired_quiet_frame_cpu_ms"]
    print(
        "model/wired, the costliest quiet frame before the decision: CPU ms median "
        f"{quiet_frame['median']}, p95 {quiet_frame['p95']}"
    )
    data["graded_wait"] = graded_waits(rows)
    print("The graded wait, by pause length: probability over / false finished / finished "
          "ended by then")  # fmt: skip
    print(format_table(
        ["candidate", *(f"{ms} ms" for ms in next(iter(data["graded_wait"].values())))],
        [[name, *(f"{w['cut']:.2f} / {_pct(w['false_finished'])} / {_pct(w['finished_ended'])}"
                  for w in by_wait.values())]
         for name, by_wait in data["graded_wait"].items()],
    ))  # fmt: skip
    print(f"JSON: {write_json(data, args.json, 'turn_model')}")
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


if __name__ == "__main__":
    raise SystemExit(main())
