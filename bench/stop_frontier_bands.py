"""Can a frame's spectrum start a pause sooner than its level, without pausing on the room?

    python -m bench.stop_frontier_bands [--seconds 120] [--snr 10 5] [--backgrounds babble tv]
        [--low-hz 300]

The tracks of :mod:`bench.stop_frontier` (the same calls through the model detector, the
agent's audio pausing where it pauses) and, per 20 ms frame, cues that frontier never
tried: each band's level (:data:`BANDS`, 100-3400 Hz) over the room's 90th percentile
level in that band, that band's rise over the lowest of the 2nd to 4th frames before, the
sum of the bands' dB over their rooms', the spectral flux (the mean rise of the FFT bins
from 300 to 3400 Hz in dB over the frame before, rises only) over the room's 90th
percentile flux, and the spectral flatness (dB, the same bins) under the room's 10th
percentile flatness (a voiced frame is less flat than babble), each with the model's
probability. A frame's spectrum: a Hann window over its 160 samples, a 256-point FFT
(31.25 Hz bins). The voices and the backgrounds are cut under ``--low-hz`` (300 Hz, the
telephone band, as in :mod:`bench.noise`; 100 to keep a nasal murmur's lowest part).

The room's per-band (and flux, flatness) percentiles are those of the same background at
the same level with no caller, over the whole reply (as :mod:`bench.stop_bound` takes the
room's level): known in advance, which no detector can do, so the frontier is a bound in
the rules' favour. A rule (:data:`LEVELS` × :data:`RISES` × :data:`ALSO` ×
:data:`PROBABILITIES` × :data:`RUNS`, for each band, the loudest band over its room, the
bands' sum over their rooms, and the broadband level over the detector's room as
:mod:`bench.stop_frontier` takes it): the cue at least a level over the room's, its rise
at least a value, a second condition (a spectral one, a low band over its room, several
bands over theirs, the probability's rise), the model's probability at least a value,
``k`` frames in a row. Scored as
:mod:`bench.stop_frontier` scores its rules (pauses a minute on the room alone, events 0.5
s apart; the stop of a pause at its first firing from each sentence's onset, over the
ticker's phases; a miss within 12 frames counts 400 ms). Printed per background and SNR:
the best stop p95 of the rules pausing the agent at most N times a minute on the room
alone, and the fewest pauses a minute of a rule with a p95 of at most 100 ms, for every
rule and for the broadband ones alone (the frontier without the bands, on the same
tracks); then, with two SNRs, the stop at the higher with the pauses at both (the larger
counting). In the JSON besides: each budget's best rule, the sentences' stops under the
best rule at 2 pauses a minute, and, for each instance of "No, no, I wanted..." (the
sentence that sets the p95), each band's level over its room's 90th percentile in its
first four frames, the loudest of them over the room's 99.5th percentile, and the share
of the room's frames at least as loud in that band.
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from bench.noise import (
    INTERRUPTIONS,
    OPENING_S,
    TICK_PHASES_MS,
    _ulaw_frames,
    interruption_track,
    opening_track,
)
from bench.stop_bound import frame_levels
from bench.stop_frontier import BUDGETS, FRAME_S, LOOK_FRAMES, MISSED_MS, events_per_min, trace
from sipgw.media import g711
from sipgw.media.voice.room_loudness import RoomLoudness
from tests.toolkit.noisy_audio import background, mix

BANDS = (
    (100, 300),
    (300, 500),
    (500, 800),
    (800, 1200),
    (1200, 1800),
    (1800, 2600),
    (2600, 3400),
)
"""Hz, low edge inclusive. Under 300 Hz only with ``--low-hz`` under 300 (the voices and
the rooms are cut there otherwise, the band holding the filter's skirt)."""
SUB, LOW = 0, 1
"""The bands under 300 Hz and from 300 to 500 Hz (a nasal murmur's)."""
SPECTRUM_HZ = (300, 3400)
"""The bins whose flux and flatness count."""
LOUDEST = len(BANDS)
"""The band index that stands for the loudest band over its room's level."""
EXCESS = LOUDEST + 1
"""The index that stands for the sum of the bands' dB over their rooms' (those over)."""
BROADBAND = EXCESS + 1
"""The index that stands for the frame's level over the detector's room (as
:mod:`bench.stop_frontier` takes it: the union of both frontiers' cues)."""
LEVELS = (-6.0, -3.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0)
"""dB over the room's 90th percentile in the band."""
RISES = (None, 3.0, 6.0, 9.0)
"""dB over the band's lowest of the 2nd to 4th frames before."""
ALSO = (
    "none",
    "flux>=0",
    "flux>=3",
    "flat<=0",
    "flat<=-3",
    "low>=0",
    "low>=3",
    "sub>=0",
    "sub>=3",
    "bands2>=0",
    "bands3>=0",
    "slope>=0.1",
)
"""A second condition: the flux at least that many dB over the room's 90th percentile flux;
the flatness at most that many dB over the room's 10th percentile flatness; the 300-500 Hz
(``low``) or 100-300 Hz (``sub``) band that far over its room's 90th percentile; at least
2 (3) bands over theirs; the model's probability risen that much over two frames."""
PROBABILITIES = (0.0, 0.3, 0.5)
RUNS = (1, 2)
TARGET_MS = 100.0
GATED_LEVELS = (-8.0, -6.0, -4.0, -2.0, 0.0, 2.0)
"""dB over a band's own room gate (its 99.5th percentile + 2 dB, learned as it goes)."""
GATED_SUB = (None, -4.0, -2.0, 0.0)
"""The 100-300 Hz band at least that far over its own gate (None: no condition)."""
GATED_PROBABILITIES = (0.0, 0.3)
BAND_FLOOR_DBFS = -90.0
"""The band gates' quiet level: frames under it do not count (none here)."""
UNGATED = -99.0
N_FFT = 256
HZ_PER_BIN = 8000 / N_FFT
SILENT_POWER = 1e-3

Array = npt.NDArray[np.float64]
Rule = tuple[int, float, float | None, str, float, int]
Scored = dict[Rule, tuple[float, float]]
"""Per rule: pauses a minute on the room alone, stop p95 (ms)."""


def spectra(frames: Sequence[bytes]) -> tuple[Array, Array, Array]:
    """Per frame: each band's level (dBFS, frames × bands), flux (dB), flatness (dB)."""
    pcm = np.frombuffer(g711.ulaw_to_linear(b"".join(frames)), dtype="<i2").astype(np.float64)
    x = pcm.reshape(len(frames), -1) / 32768.0
    window = np.hanning(x.shape[1])
    power = np.abs(np.fft.rfft(x * window, N_FFT, axis=1)) ** 2 + SILENT_POWER / N_FFT**2
    bins = np.arange(power.shape[1]) * HZ_PER_BIN
    scale = 2.0 / (N_FFT * (window**2).sum())  # a band's mean square of the frame
    bands = np.stack(
        [10 * np.log10(power[:, (bins >= lo) & (bins < hi)].sum(axis=1) * scale)
         for lo, hi in BANDS],
        axis=1,
    )  # fmt: skip
    inside = (bins >= SPECTRUM_HZ[0]) & (bins < SPECTRUM_HZ[1])
    db = 10 * np.log10(power[:, inside])
    flux = np.concatenate([[0.0], np.maximum(db[1:] - db[:-1], 0.0).mean(axis=1)])
    p = power[:, inside]
    flatness = 10 * np.log10(np.exp(np.log(p).mean(axis=1)) / p.mean(axis=1))
    return bands, flux, flatness


def rise(levels: Array) -> Array:
    """Each frame's level over the lowest of the 2nd to 4th frames before it."""
    floor = [levels[max(0, i - 4) : max(1, i - 1)].min() for i in range(len(levels))]
    out: Array = levels - np.array(floor)
    return out


@dataclass
class Cues:
    """Per frame of a track, against the room's percentiles."""

    over: Array
    """frames × (bands + 2): each band over its room's 90th percentile; then the loudest;
    then the broadband level over the detector's room."""
    rise: Array
    """frames × (bands + 2): each band's rise; then the rise of the band loudest over its
    room; then the broadband rise."""
    flux: Array
    flat: Array
    probability: Array
    slope: Array
    bands_level: Array
    """frames × bands, dBFS."""
    gated: Array
    """frames × (bands + 2): each band over the gate of a
    :class:`~sipgw.media.voice.room_loudness.RoomLoudness` of its own, fed as the detector feeds
    its own (the frames heard while the agent's audio plays and no speech is under way,
    counted 300 ms later, over the last 10 s: the room's 99.5th percentile + 2 dB); then
    the loudest band over its gate; then the broadband level over the detector's gate of
    the same kind (:data:`UNGATED` while a gate is not learned)."""
    paused: Array
    """Per frame: the detector paused the agent on it (its own starts)."""


@dataclass
class Room:
    levels: Array
    """The room's frames × bands, dBFS."""
    bands: Array
    flux: float
    flat: float


def room_of(frames: Sequence[bytes], start: int) -> Room:
    bands, flux, flat = spectra(frames[start:])
    return Room(
        bands, np.percentile(bands, 90, axis=0), float(np.percentile(flux, 90)),
        float(np.percentile(flat, 10)),
    )  # fmt: skip


def gated(levels: Array, listening: Array) -> Array:
    """Each frame's level over the gate of a :class:`RoomLoudness` learning as it goes."""
    loudness = RoomLoudness(BAND_FLOOR_DBFS)
    out = np.full(len(levels), UNGATED)
    for i, (level, heard) in enumerate(zip(levels.tolist(), listening.tolist(), strict=True)):
        if loudness.gate is not None:
            out[i] = level - loudness.gate
        loudness.hear(level, heard)
    return out


def cues(frames: Sequence[bytes], room: Room) -> Cues:
    bands, flux, flat = spectra(frames)
    features = trace(frames)
    by_band = np.stack([gated(bands[:, b], features.listening) for b in range(len(BANDS))], 1)
    broadband = gated(np.array(frame_levels(frames)), features.listening)
    gates = np.concatenate(
        [by_band, by_band.max(axis=1, keepdims=True), broadband[:, None]], axis=1
    )  # fmt: skip
    over = bands - room.bands
    rises = np.stack([rise(bands[:, b]) for b in range(len(BANDS))], axis=1)
    loudest = over.argmax(axis=1)
    excess = np.maximum(over, 0.0).sum(axis=1)
    over = np.concatenate(
        [over, over.max(axis=1, keepdims=True), excess[:, None], features.over_room[:, None]],
        axis=1,
    )  # fmt: skip
    rises = np.concatenate(
        [rises, rises[np.arange(len(loudest)), loudest][:, None], rise(excess)[:, None],
         features.rise[:, None]],
        axis=1,
    )  # fmt: skip
    return Cues(
        over, rises, flux - room.flux, flat - room.flat, features.probability,
        features.slope, bands, gates, features.paused,
    )  # fmt: skip


def also(c: Cues, condition: str) -> Any:
    """Where the second condition holds (:data:`ALSO`)."""
    name, value = condition.split(">=" if ">=" in condition else "<=")
    v = float(value)
    if name == "flux":
        return c.flux >= v
    if name == "flat":
        return c.flat <= v
    if name in ("low", "sub"):
        return c.over[:, LOW if name == "low" else SUB] >= v
    if name.startswith("bands"):
        return (c.over[:, : len(BANDS)] >= v).sum(axis=1) >= int(name[5:])
    assert name == "slope"
    return c.slope >= v


def fires(c: Cues, rule: Rule, masks: dict[str, Any]) -> Any:
    band, level, min_rise, second, prob, run = rule
    ok = (c.over[:, band] >= level) & (c.probability >= prob)
    if min_rise is not None:
        ok &= c.rise[:, band] >= min_rise
    if second != "none":
        ok &= masks[second]
    if run == 1:
        return ok
    counts = np.convolve(ok.astype(np.int64), np.ones(run, np.int64))[: len(ok)]
    return counts >= run


def stops_of(
    fired: Any, onsets: Sequence[int], own: Sequence[int | None] | None = None
) -> list[float]:
    """Each sentence's stops over the ticker's phases for a pause at the rule's first firing
    from its onset (or, given ``own``, at the detector's own first pause, frames from the
    onset, if that is sooner)."""
    stops: list[float] = []
    for n, i in enumerate(onsets):
        hit = next((j for j in range(LOOK_FRAMES) if fired[i + j]), None)
        mine = own[n] if own is not None else None
        if mine is not None and (hit is None or mine < hit):
            hit = mine
        arrival = (hit + 1) * 20.0 if hit is not None else MISSED_MS
        stops += [arrival + phase for phase in TICK_PHASES_MS]
    return stops


def own_pauses(paused: Any, starts: Sequence[int], onsets: Sequence[int]) -> list[int | None]:
    """The detector's first pause of each sentence (frames from its onset; from the
    sentence's start, as :mod:`bench.noise` takes it, to :data:`LOOK_FRAMES` after the
    onset), None if none."""
    out: list[int | None] = []
    for start, onset in zip(starts, onsets, strict=True):
        hits = np.flatnonzero(paused[start : onset + LOOK_FRAMES])
        out.append(int(hits[0]) + start - onset if len(hits) else None)
    return out


def by_sentence(fired: Any, onsets: Sequence[int]) -> dict[str, list[float]]:
    """Each sentence's stops (ms, the ticker's mid phase) under one rule, by its text."""
    out: dict[str, list[float]] = {}
    for n, i in enumerate(onsets):
        text = INTERRUPTIONS[n % len(INTERRUPTIONS)][1]
        out.setdefault(text, []).append(stops_of(fired, [i])[len(TICK_PHASES_MS) // 2])
    return out


def frontier(
    kind: str, snr: float, seconds: float, low_hz: int = 300
) -> tuple[dict[str, Any], Scored, dict[Any, tuple[float, float]], dict[Any, tuple[float, float]]]:
    """The rules' pauses a minute on the room alone and their stops over one room (the
    voices and the room from ``low_hz``)."""
    noise = background(kind, OPENING_S + seconds, low_hz)
    opening = round(OPENING_S / FRAME_S)
    quiet_frames = _ulaw_frames(mix(opening_track(seconds, low_hz), noise, snr))
    room = room_of(quiet_frames, opening)
    quiet = cues(quiet_frames, room)
    voice, spans = interruption_track(seconds, low_hz)
    noisy = cues(_ulaw_frames(mix(voice, noise, snr)), room)
    onsets = [opening + round(onset / FRAME_S) for _, onset, _ in spans]
    starts = [opening + round(start / FRAME_S) for start, _, _ in spans]
    minutes = seconds / 60
    quiet_masks = {a: also(quiet, a) for a in ALSO if a != "none"}
    noisy_masks = {a: also(noisy, a) for a in ALSO if a != "none"}
    scored: Scored = {}
    rules = itertools.product(range(BROADBAND + 1), LEVELS, RISES, ALSO, PROBABILITIES, RUNS)
    for rule in rules:
        pauses = events_per_min(fires(quiet, rule, quiet_masks)[opening:], minutes)
        p95 = percentile(stops_of(fires(noisy, rule, noisy_masks), onsets), 95)
        assert p95 is not None
        scored[rule] = (pauses, p95)
    summary = summarize(scored)
    summary["broadband_only"] = summarize(broadband_only(scored))
    own = own_pauses(noisy.paused, starts, onsets)
    gated_scored, with_detector = gated_scores(quiet, noisy, onsets, own, opening, minutes)
    summary["learned_gates"] = summarize(gated_scored, describe_gated)
    summary["learned_gates_with_the_detector"] = summarize(with_detector, describe_gated)
    detector_p95 = percentile(stops_of(np.zeros(len(noisy.paused), bool), onsets, own), 95)
    summary["the_detector_alone"] = {
        "p95_ms": detector_p95,
        "pauses_per_min": events_per_min(quiet.paused[opening:], minutes),
    }
    summary["sentences"] = len(spans)
    top = min((r for r in scored.items() if r[1][0] <= 2), key=lambda r: (r[1][1], r[1][0]))
    summary["stops_of_the_best_rule_at_2_per_min_ms"] = by_sentence(
        fires(noisy, top[0], noisy_masks), onsets
    )  # fmt: skip
    summary["p95_sentence_onset"] = onset_arithmetic(noisy, room, onsets)
    return summary, scored, gated_scored, with_detector


GatedRule = tuple[int, float, float | None, float, int]


def gated_scores(
    quiet: Cues,
    noisy: Cues,
    onsets: Sequence[int],
    own: Sequence[int | None],
    opening: int,
    minutes: float,
) -> tuple[dict[Any, tuple[float, float]], dict[Any, tuple[float, float]]]:
    """The rules on the learned gates: a band (the loudest; the broadband level) at least a
    level over its gate, the 100-300 Hz band over its own, the probability, k frames; scored
    alone, and added to the detector's own starts (a pause at the first of either)."""
    scored: dict[Any, tuple[float, float]] = {}
    with_detector: dict[Any, tuple[float, float]] = {}
    columns = range(quiet.gated.shape[1])
    for rule in itertools.product(columns, GATED_LEVELS, GATED_SUB, GATED_PROBABILITIES, RUNS):
        alone, fired = fires_gated(quiet, rule), fires_gated(noisy, rule)
        p95 = percentile(stops_of(fired, onsets), 95)
        both = percentile(stops_of(fired, onsets, own), 95)
        assert p95 is not None and both is not None
        scored[rule] = (events_per_min(alone[opening:], minutes), p95)
        with_detector[rule] = (events_per_min((alone | quiet.paused)[opening:], minutes), both)
    return scored, with_detector


def fires_gated(c: Cues, rule: GatedRule) -> Any:
    column, level, sub, prob, run = rule
    ok = (c.gated[:, column] >= level) & (c.probability >= prob)
    if sub is not None:
        ok &= c.gated[:, SUB] >= sub
    if run == 1:
        return ok
    return np.convolve(ok.astype(np.int64), np.ones(run, np.int64))[: len(ok)] >= run


def describe_gated(rule: Any) -> str:
    column, level, sub, prob, run = rule
    if column == len(BANDS) + 1:
        name = "broadband level"
    elif column == len(BANDS):
        name = "loudest band"
    else:
        name = f"{BANDS[column][0]}-{BANDS[column][1]} Hz"
    parts = [f"{name} ≥ its learned room gate + {level:g} dB"]
    if sub is not None:
        parts.append(f"100-300 Hz ≥ its gate + {sub:g} dB")
    if prob:
        parts.append(f"p ≥ {prob:g}")
    return ", ".join(parts) + f", {run} frame{'s' if run > 1 else ''}"


def broadband_only(scored: Scored) -> Scored:
    """The rules on the broadband level, its rise and the model alone (those of
    :mod:`bench.stop_frontier`, on this search's grid): the frontier without the bands."""
    return {r: v for r, v in scored.items() if r[0] == BROADBAND and r[3] in ("none", "slope>=0.1")}


def summarize(
    scored: dict[Any, tuple[float, float]],
    name: Callable[[Any], str] | None = None,
    pauses_of: dict[Any, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """The best p95 at each budget of pauses a minute (those of ``pauses_of`` if given: the
    room at another SNR, the larger of both counting), and the fewest pauses for ≤ 100 ms."""
    rows = [
        (max(pauses, pauses_of[rule][0]) if pauses_of else pauses, p95, rule)
        for rule, (pauses, p95) in scored.items()
    ]
    best: dict[str, Any] = {}
    for budget in BUDGETS:
        within = [r for r in rows if r[0] <= budget]
        top = min(within, key=lambda r: (r[1], r[0])) if within else None
        best[str(budget)] = None if top is None else {
            "p95_ms": round(top[1], 1), "pauses_per_min": top[0],
            "rule": (name or describe)(top[2]),
        }  # fmt: skip
    fast = [r for r in rows if r[1] <= TARGET_MS]
    fastest = min(fast, key=lambda r: (r[0], r[1])) if fast else None
    return {
        "rules": len(rows),
        "best_at_pauses_per_min": best,
        "fewest_pauses_per_min_for_p95_100": None if fastest is None else {
            "pauses_per_min": fastest[0], "p95_ms": round(fastest[1], 1),
            "rule": (name or describe)(fastest[2]),
        },
    }  # fmt: skip


def describe(rule: Rule) -> str:
    band, level, min_rise, second, prob, run = rule
    if band == BROADBAND:
        name = "broadband level ≥ the detector's room"
    elif band == EXCESS:
        name = "the bands' dB over their rooms' p90, summed,"
    else:
        name = "loudest band" if band == LOUDEST else f"{BANDS[band][0]}-{BANDS[band][1]} Hz"
        name += " ≥ its room's p90"
    parts = [f"{name} + {level:g} dB"]
    if min_rise is not None:
        parts.append(f"rise ≥ {min_rise:g} dB")
    if second != "none":
        parts.append(second)
    if prob:
        parts.append(f"p ≥ {prob:g}")
    return ", ".join(parts) + f", {run} frame{'s' if run > 1 else ''}"


def onset_arithmetic(noisy: Cues, room: Room, onsets: Sequence[int]) -> dict[str, Any]:
    """For each instance of "No, no, I wanted...": per band, its first four frames' dB over
    the room's 90th percentile in the band, and the share of the room's frames at least as
    loud in that band as the loudest of the four (a rule firing there fires on that share
    of the room's frames, 50 a second); the broadband level over the detector's room."""
    which = [i for i in range(len(onsets)) if INTERRUPTIONS[i % len(INTERRUPTIONS)][1][:3] == "No,"]
    instances = []
    for i in which:
        o = onsets[i]
        first = slice(o, o + 4)
        instances.append({
            "bands_over_room_p90_db": {
                f"{lo}-{hi}": [round(float(v), 1) for v in noisy.over[first, b]]
                for b, (lo, hi) in enumerate(BANDS)
            },
            "loudest_of_four_over_room_p99_5_db": {
                f"{lo}-{hi}": round(float(
                    noisy.bands_level[first, b].max() - np.percentile(room.levels[:, b], 99.5)), 1)
                for b, (lo, hi) in enumerate(BANDS)
            },
            "room_share_as_loud_as_the_loudest_of_four": {
                f"{lo}-{hi}": round(float(np.mean(
                    room.levels[:, b] >= noisy.bands_level[first, b].max())), 3)
                for b, (lo, hi) in enumerate(BANDS)
            },
            "broadband_over_room_db": [round(float(v), 1) for v in noisy.over[first, BROADBAND]],
            "probability": [round(float(v), 2) for v in noisy.probability[first]],
        })  # fmt: skip
    return {
        "room_p90_band_dbfs": {f"{lo}-{hi}": round(float(v), 1)
                               for (lo, hi), v in zip(BANDS, room.bands, strict=True)},
        "instances": instances,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="per background and SNR")
    parser.add_argument("--snr", type=float, nargs="+", default=[10.0, 5.0])
    parser.add_argument("--backgrounds", nargs="+", default=["babble", "tv"])
    parser.add_argument(
        "--low-hz", type=int, default=300, help="the telephone band's low edge (Hz)"
    )
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = parser.parse_args(argv)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    results: dict[str, Any] = {}
    rows: list[list[str]] = []
    every: dict[tuple[str, float], Scored] = {}
    gated_every: dict[tuple[str, float], dict[Any, tuple[float, float]]] = {}
    both_every: dict[tuple[str, float], dict[Any, tuple[float, float]]] = {}

    def row(name: str, snr: str, f: dict[str, Any]) -> list[str]:
        best, fastest = f["best_at_pauses_per_min"], f["fewest_pauses_per_min_for_p95_100"]
        return [
            name, snr,
            *(fmt(best[str(b)]["p95_ms"] if best[str(b)] else None, ".0f") for b in BUDGETS),
            fmt(fastest["pauses_per_min"] if fastest else None, ".1f"),
        ]  # fmt: skip

    for snr in args.snr:
        for kind in args.backgrounds:
            log(f"{kind} at {snr:g} dB SNR")
            f, every[kind, snr], gated_every[kind, snr], both_every[kind, snr] = frontier(
                kind, snr, args.seconds, args.low_hz
            )  # fmt: skip
            results[f"{kind}@{snr:g}dB"] = f
            rows.append(row(kind, f"{snr:g}", f))
            rows.append(row(f"{kind}, broadband only", f"{snr:g}", f["broadband_only"]))
            rows.append(row(f"{kind}, learned band gates", f"{snr:g}", f["learned_gates"]))
            rows.append(row(
                f"{kind}, learned gates + detector", f"{snr:g}",
                f["learned_gates_with_the_detector"],
            ))  # fmt: skip
            alone = f["the_detector_alone"]
            log(f"{kind} at {snr:g} dB: the detector alone stops at {alone['p95_ms']:.0f} ms "
                f"(p95), {alone['pauses_per_min']:g} pauses a minute on the room")  # fmt: skip
    high, low = max(args.snr), min(args.snr)
    if high != low:  # the stop at the higher SNR, the pauses at both
        for kind in args.backgrounds:
            f = summarize(every[kind, high], pauses_of=every[kind, low])
            f["broadband_only"] = summarize(
                broadband_only(every[kind, high]), pauses_of=broadband_only(every[kind, low])
            )  # fmt: skip
            f["learned_gates"] = summarize(
                gated_every[kind, high], describe_gated, gated_every[kind, low]
            )  # fmt: skip
            f["learned_gates_with_the_detector"] = summarize(
                both_every[kind, high], describe_gated, both_every[kind, low]
            )  # fmt: skip
            results[f"{kind}@{high:g}dB, pauses at {low:g} and {high:g} dB"] = f
            rows.append(row(kind, f"{high:g} (room: {low:g} and {high:g})", f))
            rows.append(row(
                f"{kind}, broadband only", f"{high:g} (room: {low:g} and {high:g})",
                f["broadband_only"],
            ))  # fmt: skip
            rows.append(row(
                f"{kind}, learned band gates", f"{high:g} (room: {low:g} and {high:g})",
                f["learned_gates"],
            ))  # fmt: skip
            rows.append(row(
                f"{kind}, learned gates + detector", f"{high:g} (room: {low:g} and {high:g})",
                f["learned_gates_with_the_detector"],
            ))  # fmt: skip
    print(format_table(
        ["background", "SNR dB", *(f"p95 at ≤{b}/min" for b in BUDGETS),
         "pauses/min for p95 ≤ 100"],
        rows,
    ))  # fmt: skip
    machine = machine_info()
    machine["loadavg_at_end"] = machine["loadavg_at_start"]
    machine["loadavg_at_start"] = load_at_start
    log(f"{machine['cpu_model']}, {machine['cores']} cores, load average "
        f"{machine['loadavg_at_start'][0]:g}-{machine['loadavg_at_end'][0]:g}")  # fmt: skip
    path = write_json(
        {"machine": machine, "seconds": args.seconds, "low_hz": args.low_hz, "bands_hz": BANDS,
         "results": results},
        args.json, "stop_frontier_bands",
    )  # fmt: skip
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
