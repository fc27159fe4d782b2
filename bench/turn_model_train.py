"""Trains the turn model's weights (``sipgw/media/voice/turn_model.json``) on the turn set's train
split.

    python -m bench.turn_model_train [--seed 1] [--limit N] [--out PATH]

Builds the ``train`` split of :mod:`tests.toolkit.turnset.labelled` (three lines in four
of its texts, spoken by :data:`~tests.toolkit.turnset.labelled.TRAIN_VOICES`) under every
line condition, computes :mod:`sipgw.media.voice.turn_model`'s features, and fits two
logistic regressions with numpy (Newton's method on the L2-penalized log-likelihood,
features standardized; deterministic: the same set gives the same weights): one on the
audio features, one on the audio and text features, the pitch features held to the
direction a voice means (:data:`FALLING_MEANS_FINISHED`). Each one's threshold is the lowest
probability at which no more than :data:`FALSE_FINISHED_TARGET` of the split's
unfinished turns are called finished: cutting a caller off costs more than waiting for
the speech-to-text service's own end of turn. Each one's graded wait
(:data:`WAIT_TARGETS`): for each pause length, the lowest probability at which no more
than that share of the split's unfinished turns are called finished (a caller cut off
after a longer wait has paused that long). The ``test`` split is never read here
(``bench/turn_model.py`` measures on it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from bench._harness import log
from bench.turn_model import featurize
from sipgw.media.voice.turn_model import AUDIO_FEATURES, TEXT_FEATURES, WEIGHTS
from tests.toolkit.turnset.labelled import CONDITIONS, build

FALSE_FINISHED_TARGET = 0.10
WAIT_TARGETS: tuple[tuple[int, float], ...] = ((200, 0.01), (300, 0.02), (500, 0.05), (700, 0.10))
"""The graded wait: (ms of pause, the share of unfinished turns it may end). A turn ends
after the shortest wait whose probability it is over; under every one, the service ends
it."""
PENALTY = 1.0
FALLING_MEANS_FINISHED = ("final_pitch", "final_above_low", "final_slope")
"""Features whose weight may not be positive: a voice that ends higher cannot make a turn
more finished. The synthetic voices do not all carry the continuation tune (flite's and
festival's end an utterance alike with or without a comma), and a free fit learns their
quirks in these weights (docs/quality.md)."""


def fit(x: np.ndarray, y: np.ndarray, penalty: float = PENALTY) -> dict[str, Any]:
    """Logistic regression on standardized ``x``: mean, scale, weights, bias."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    ridge = penalty * np.eye(z.shape[1])
    ridge[-1, -1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        gradient = z.T @ (p - y) + ridge @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + ridge
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return {
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "weights": [round(float(v), 6) for v in w[:-1]],
        "bias": round(float(w[-1]), 6),
    }


def fit_signed(
    x: np.ndarray, y: np.ndarray, names: list[str], penalty: float = PENALTY
) -> dict[str, Any]:
    """:func:`fit` with the weights of :data:`FALLING_MEANS_FINISHED` at most 0: a feature
    whose weight comes out positive is left out (weight 0) and the rest fitted again."""
    out: list[str] = []
    while True:
        keep = [i for i, n in enumerate(names) if n not in out]
        model = fit(x[:, keep], y, penalty)
        wrong = [
            names[i]
            for i, w in zip(keep, model["weights"], strict=True)
            if names[i] in FALLING_MEANS_FINISHED and w > 0
        ]
        if not wrong:
            break
        out.append(max(wrong, key=lambda n: model["weights"][keep.index(names.index(n))]))
    full: dict[str, Any] = {"mean": [], "scale": [], "weights": [], "bias": model["bias"]}
    for i in range(len(names)):
        at = keep.index(i) if i in keep else None
        full["mean"].append(model["mean"][at] if at is not None else 0.0)
        full["scale"].append(model["scale"][at] if at is not None else 1.0)
        full["weights"].append(model["weights"][at] if at is not None else 0.0)
    full["left_out"] = out
    return full


def probabilities(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """The fitted model's probabilities for ``x``."""
    z = (x - np.array(model["mean"])) / np.array(model["scale"])
    logits: np.ndarray = z @ np.array(model["weights"]) + model["bias"]
    result: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
    return result


def threshold(p: np.ndarray, y: np.ndarray, target: float = FALSE_FINISHED_TARGET) -> float:
    """The lowest probability cut (of 0.01 steps) with at most ``target`` of the
    unfinished (``y == 0``) above it."""
    unfinished = p[y == 0]
    for cut in np.arange(0.5, 1.0, 0.01):
        if (unfinished > cut).mean() <= target:
            return round(float(cut), 2)
    return 0.99


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--limit", type=int, help="the first N utterances of the split only")
    p.add_argument("--out", type=Path, default=WEIGHTS)
    args = p.parse_args(argv)
    log("building the train split and its features")
    rows = featurize(build("train", CONDITIONS, args.seed, args.limit))
    y = np.array([float(r["finished"]) for r in rows])
    audio = np.array([r["audio"] for r in rows])
    both = np.hstack([audio, np.array([r["text"] for r in rows])])
    result: dict[str, Any] = {
        "audio_features": list(AUDIO_FEATURES),
        "text_features": list(TEXT_FEATURES),
        "trained_on": {
            "split": "train",
            "seed": args.seed,
            "samples": len(rows),
            "conditions": [c.name for c in CONDITIONS],
            "penalty": PENALTY,
            "false_finished_target": FALSE_FINISHED_TARGET,
            "wait_targets": [list(t) for t in WAIT_TARGETS],
        },  # fmt: skip
    }
    for name, x, names in (
        ("audio", audio, list(AUDIO_FEATURES)),
        ("audio+text", both, [*AUDIO_FEATURES, *TEXT_FEATURES]),
    ):
        model = fit_signed(x, y, names)
        prob = probabilities(model, x)
        model["threshold"] = threshold(prob, y)
        model["waits"] = [[ms, threshold(prob, y, share)] for ms, share in WAIT_TARGETS]
        for ms, cut in model["waits"]:
            cut_off, ended = (prob[y == 0] > cut).mean(), (prob[y == 1] > cut).mean()
            log(f"{name}: after {ms} ms over {cut}: false finished {cut_off:.3f}, "
                f"finished ended {ended:.3f}")  # fmt: skip
        said = prob > model["threshold"]
        log(
            f"{name}: train accuracy {(said == (y > 0.5)).mean():.3f}, false finished "
            f"{said[y == 0].mean():.3f}, false not yet {(~said[y == 1]).mean():.3f} "
            f"at {model['threshold']}"
        )
        result[name] = model
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
