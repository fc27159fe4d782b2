"""How soon could any simple rule stop the agent for a caller over a room, and at what cost?

    python -m bench.stop_frontier [--seconds 120] [--snr 10 5] [--backgrounds babble tv]

The tracks of :mod:`bench.noise` (the agent's greeting and the caller's first turn, then
the agent's reply over the background alone, or with the caller's sentences over it) go
through the model voice detector as the assistant runs it, the agent's audio pausing where
the detector pauses it. Per 20 ms frame: its level over the room's voices (the detector's
``room_dbfs``, their 90th percentile; their median + 4 dB while unknown), its rise over
the lowest of the 2nd to 4th frames before it, the model's speech probability and that
probability's rise over two frames. A rule is each of those at least a threshold for ``k``
frames in a row (:data:`LEVELS` × :data:`RISES` × :data:`PROBABILITIES` × :data:`SLOPES`
× :data:`RUNS`: the onset cues a two-stage stop or a duck of the agent's audio could start
on). Each rule is scored on the room alone (its pauses a minute, events 0.5 s apart, the
agent talking) and on the sentences (the stop of a pause at its first firing from the
sentence's onset, at :data:`bench.noise.TICK_PHASES_MS`, as :mod:`bench.noise` times it;
a sentence it misses within 12 frames counts 400 ms). Printed per background and SNR: the
best stop p95 of the rules that pause the agent at most N times a minute on the room
alone, and the fewest pauses a minute of a rule whose p95 is at most 100 ms.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from bench.noise import (
    GREETING_S,
    OPENING_S,
    TICK_PHASES_MS,
    Speaking,
    _ulaw_frames,
    interruption_track,
    opening_track,
)
from sipgw.agent.conversation.caller_audio import CallerAudio, NoiseSettings
from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.turns.machine import PauseAgent, TurnTaker
from sipgw.media.voice.vad import ModelVadConfig
from tests.toolkit.noisy_audio import background, mix

LEVELS = (-6.0, -3.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0)
"""dB over the room's 90th percentile."""
RISES = (None, 3.0, 6.0, 9.0)
"""dB over the lowest of the 2nd to 4th frames before (None: no condition)."""
PROBABILITIES = (0.0, 0.3, 0.5, 0.8)
SLOPES = (None, 0.1, 0.3)
"""The model's probability's rise over two frames (None: no condition)."""
RUNS = (1, 2, 3)
BUDGETS = (0, 1, 2, 5, 10, 30, 60)
"""Pauses a minute on the room alone."""
MISSED_MS = 400.0
LOOK_FRAMES = 12
FRAME_S = 0.02

Array = npt.NDArray[np.float64]


@dataclass
class Features:
    """Per frame of a track: level over the room, rise, probability, its slope."""

    over_room: Array
    rise: Array
    probability: Array
    slope: Array
    listening: Array = field(default_factory=lambda: np.zeros(0, bool))
    """Per frame: the agent's audio played and no speech was under way (the frames the
    detector's room hears, as :class:`~sipgw.media.voice.room_loudness.RoomLoudness` takes them)."""
    paused: Array = field(default_factory=lambda: np.zeros(0, bool))
    """Per frame: the detector paused the agent on it."""


def trace(frames: Sequence[bytes]) -> Features:
    """Run the model detector over ``frames`` as :func:`bench.noise.play` does; its features."""
    stage = CallerAudio(NoiseSettings(detector="model", model=ModelVadConfig()))
    agent = Speaking()
    detector = stage.detector(BargeInSettings().vad, lambda: agent.audible, lambda: agent.pending)
    turns = TurnTaker(agent, detector=detector)
    from sipgw.media.voice.model_vad import ModelVoiceDetector  # numpy, onnxruntime

    assert isinstance(detector, ModelVoiceDetector)
    opening, greeting = round(OPENING_S / FRAME_S), round(GREETING_S / FRAME_S)
    agent.audible = agent.pending = True
    level, room, probability, listening, paused = [], [], [], [], []
    for i, frame in enumerate(frames):
        if i == greeting:
            agent.audible = agent.pending = False
        listening.append(agent.audible and not detector.speaking)
        actions = turns.receive_audio(stage.process(frame), (i + 1 - opening) * FRAME_S)
        if i == opening:
            agent.audible = agent.pending = True
        elif i > opening and turns.paused_at is None and not turns.vad.speaking:
            agent.audible = True
        pause = any(isinstance(action, PauseAgent) for action in actions)
        if pause:
            agent.audible = False
        paused.append(pause)
        level.append(detector.level_dbfs)
        known = detector.room_dbfs
        room.append(known if known is not None else detector.room_median + 4.0)
        probability.append(detector.probability)
    stage.close()
    levels = np.array(level)
    floor = np.array([levels[max(0, i - 4) : max(1, i - 1)].min() for i in range(len(levels))])
    p = np.array(probability)
    slope = np.concatenate([np.zeros(2), p[2:] - p[:-2]])
    return Features(
        levels - np.array(room), levels - floor, p, slope, np.array(listening), np.array(paused)
    )  # fmt: skip


def fires(f: Features, rule: tuple[float, float | None, float, float | None, int]) -> Any:
    level, rise, prob, slope, run = rule
    ok = (f.over_room >= level) & (f.probability >= prob)
    if rise is not None:
        ok &= f.rise >= rise
    if slope is not None:
        ok &= f.slope >= slope
    counts = np.convolve(ok.astype(np.int64), np.ones(run, np.int64))[: len(ok)]
    return counts >= run


def events_per_min(fired: Any, minutes: float) -> float:
    events, last = 0, -100
    for i in np.flatnonzero(fired):
        if i - last > 25:  # one pause per 0.5 s
            events += 1
            last = int(i)
    return events / minutes


def frontier(kind: str, snr: float, seconds: float) -> dict[str, Any]:
    """The rules' pauses a minute on the room alone and their stops over one background."""
    noise = background(kind, OPENING_S + seconds)
    quiet = trace(_ulaw_frames(mix(opening_track(seconds), noise, snr)))
    voice, spans = interruption_track(seconds)
    noisy = trace(_ulaw_frames(mix(voice, noise, snr)))
    opening = round(OPENING_S / FRAME_S)
    onsets = [opening + round(onset / FRAME_S) for _, onset, _ in spans]
    minutes = seconds / 60
    scored = []
    for rule in itertools.product(LEVELS, RISES, PROBABILITIES, SLOPES, RUNS):
        alone = fires(quiet, rule)[opening:]
        fired = fires(noisy, rule)
        stops: list[float] = []
        for i in onsets:
            hit = next((j for j in range(LOOK_FRAMES) if fired[i + j]), None)
            arrival = (hit + 1) * 20.0 if hit is not None else MISSED_MS
            stops += [arrival + phase for phase in TICK_PHASES_MS]
        p95 = percentile(stops, 95)
        assert p95 is not None
        scored.append((events_per_min(alone, minutes), p95, rule))
    best = {}
    for budget in BUDGETS:
        within = [s for s in scored if s[0] <= budget]
        best[str(budget)] = min(s[1] for s in within) if within else None
    fast = [s for s in scored if s[1] <= 100.0]
    return {
        "best_stop_ms_p95_at_pauses_per_min": best,
        "fewest_pauses_per_min_for_p95_100": min(s[0] for s in fast) if fast else None,
        "sentences": len(spans),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="per background and SNR")
    parser.add_argument("--snr", type=float, nargs="+", default=[10.0, 5.0])
    parser.add_argument("--backgrounds", nargs="+", default=["babble", "tv"])
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = parser.parse_args(argv)
    results, rows = {}, []
    for snr in args.snr:
        for kind in args.backgrounds:
            log(f"{kind} at {snr:g} dB SNR")
            f = frontier(kind, snr, args.seconds)
            results[f"{kind}@{snr:g}dB"] = f
            best = f["best_stop_ms_p95_at_pauses_per_min"]
            rows.append([
                kind, f"{snr:g}", *(fmt(best[str(b)], ".0f") for b in BUDGETS),
                fmt(f["fewest_pauses_per_min_for_p95_100"], ".1f"),
            ])  # fmt: skip
    print(format_table(
        ["background", "SNR dB", *(f"p95 at ≤{b}/min" for b in BUDGETS),
         "pauses/min for p95 ≤ 100"],
        rows,
    ))  # fmt: skip
    path = write_json(
        {"machine": machine_info(), "seconds": args.seconds, "results": results},
        args.json, "stop_frontier",
    )  # fmt: skip
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
