"""Can a backchannel be told from an interruption by its sound alone, before any partial?

    python -m bench.backchannel_sound [--json PATH]

Every item of :mod:`tests.toolkit.backchannels.labelled` under both conditions (clean,
babble 10 dB), its first :data:`WINDOWS_MS` after the words' onset (the true onset: a
detector starts 60-160 ms later, so this is the classifier's best case), described by
:func:`features`: the level contour (mean and end under the peak, slope, share within
10 dB of the peak), the spectral tilt (energy of the first difference over the energy:
fricatives high, nasals and vowels low; mean, peak, first and last 60 ms), the zero
crossings, and the pitch (share of voiced frames, slope and spread of the log F0 from
autocorrelation). A logistic regression (numpy, L2) is fitted on the turn set's train
voices and judged on its test voices, which it never heard (the held-out split of
:mod:`tests.toolkit.turnset.labelled`). Per window: the accuracy on each split, and at
the threshold that lets :data:`LET_THROUGH` of the train interruptions pass for
backchannels (a reply played on over them), the share of the test backchannels caught and
of the test interruptions let through.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench._harness import format_table, log, machine_info, write_json
from sipgw.media import g711
from tests.toolkit.backchannels.labelled import (
    BACKCHANNEL,
    CONDITIONS,
    LEAD_SECONDS,
    items,
    make_sample,
)
from tests.toolkit.turnset.labelled import TRAIN_VOICES

WINDOWS_MS = (160, 240, 300, 360)
"""How much of each item's words (from their onset) the classifier hears."""
LET_THROUGH = 0.02
"""The share of the train interruptions a deployed threshold may take for backchannels."""
FRAME = 160

Array = NDArray[np.float64]


def frames(ulaw: bytes) -> Array:
    """The μ-law as 20 ms frames of linear samples, one a row."""
    x = np.frombuffer(g711.ulaw_to_linear(ulaw), dtype="<i2").astype(np.float64)
    return x[: len(x) // FRAME * FRAME].reshape(-1, FRAME)


def pitch(frame: Array) -> tuple[float, float]:
    """(F0 in Hz, normalized autocorrelation there) over lags of 80-400 Hz."""
    f = frame - frame.mean()
    ac = np.correlate(f, f, "full")[FRAME - 1 :]
    if ac[0] <= 1e-3:
        return 0.0, 0.0
    lag = 20 + int(np.argmax(ac[20:100]))
    return 8000 / lag, float(ac[lag] / ac[0])


def features(ulaw: bytes, window_ms: int) -> list[float]:
    """The burst's description over its first ``window_ms`` (see the module docstring)."""
    count = window_ms // 20
    onset = round(LEAD_SECONDS * 1000) // 20
    seg = frames(ulaw)[onset : onset + count]
    power = (seg**2).mean(1)
    level = 10 * np.log10(power + 1)
    tilt = np.log((np.diff(seg, axis=1) ** 2).mean(1) / (power + 1) + 1e-3)
    crossings = (np.abs(np.diff(np.sign(seg), axis=1)) > 0).mean(1)
    pitches = np.array([pitch(f) for f in seg])
    voiced = pitches[:, 1] > 0.5
    f0 = np.log(pitches[voiced, 0])
    peak = level.max()
    t = np.arange(count)
    return [
        level.mean() - peak, float(np.polyfit(t, level, 1)[0]), level[-2:].mean() - peak,
        float((level > peak - 10).mean()), tilt.mean(), tilt.max(), tilt[:3].mean(),
        tilt[-3:].mean(), crossings.mean(), crossings.max(), float(voiced.mean()),
        float(np.polyfit(np.arange(len(f0)), f0, 1)[0]) if len(f0) > 2 else 0.0,
        float(np.std(f0)) if len(f0) > 2 else 0.0,
    ]  # fmt: skip


def fit(x: Array, y: Array, l2: float = 1.0, steps: int = 3000, rate: float = 0.1) -> Array:
    """Logistic regression by gradient descent; the weights, the bias last."""
    w = np.zeros(x.shape[1] + 1)
    xb = np.hstack([x, np.ones((len(x), 1))])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) / len(y)
        grad[:-1] += l2 * w[:-1] / len(y)
        w -= rate * grad
    return w


def judge(window_ms: int, samples: Sequence[tuple[bytes, bool, bool]]) -> dict[str, float]:
    """Fit on the train voices, judge on the test voices, at one window."""
    x = np.array([features(ulaw, window_ms) for ulaw, _, _ in samples])
    y = np.array([label for _, label, _ in samples], dtype=np.float64)
    train = np.array([t for _, _, t in samples])
    mean, spread = x[train].mean(0), x[train].std(0) + 1e-9
    z = (x - mean) / spread
    w = fit(z[train], y[train])
    score = np.hstack([z, np.ones((len(z), 1))]) @ w
    said = y > 0.5
    threshold = np.quantile(score[train & ~said], 1 - LET_THROUGH)
    test = ~train
    return {
        "train_accuracy": round(float(((score[train] > 0) == said[train]).mean()), 3),
        "test_accuracy": round(float(((score[test] > 0) == said[test]).mean()), 3),
        "test_backchannels_caught": round(float((score[test & said] > threshold).mean()), 3),
        "test_interruptions_let_through": round(float((score[test & ~said] > threshold).mean()), 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = parser.parse_args(argv)
    log("synthesizing the labelled set")
    samples = []
    for item in items(1):
        voice = (item.voice.engine, item.voice.name)
        for condition in CONDITIONS:
            ulaw = make_sample(item, condition).ulaw
            samples.append((ulaw, item.label == BACKCHANNEL, voice in TRAIN_VOICES))
    results: dict[str, Any] = {}
    rows = []
    for window in WINDOWS_MS:
        f = results[str(window)] = judge(window, samples)
        rows.append([
            str(window), f"{f['train_accuracy']:.0%}", f"{f['test_accuracy']:.0%}",
            f"{f['test_backchannels_caught']:.0%}", f"{f['test_interruptions_let_through']:.0%}",
        ])  # fmt: skip
    machine = machine_info()
    print(f"CPU {machine.get('cpu_model')}, {len(samples)} samples, "
          f"threshold letting {LET_THROUGH:.0%} of the train interruptions through")  # fmt: skip
    print(format_table(
        ["window ms", "train accuracy", "test accuracy", "test backchannels caught",
         "test interruptions let through"],
        rows,
    ))  # fmt: skip
    path = write_json({"machine": machine, "results": results}, args.json, "backchannel_sound")
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
