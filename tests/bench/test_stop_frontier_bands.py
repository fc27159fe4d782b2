"""bench.stop_frontier_bands: a frame's band levels, flux and flatness; its rules fire on
every condition for k frames in a row; the joint budget counts the larger of two rooms'
pauses."""

from __future__ import annotations

import math
import random

import numpy as np

from bench.stop_frontier_bands import (
    BANDS,
    BROADBAND,
    EXCESS,
    LOUDEST,
    LOW,
    UNGATED,
    Cues,
    Rule,
    also,
    fires,
    gated,
    own_pauses,
    spectra,
    stops_of,
    summarize,
)
from sipgw.media import g711


def _frames(samples: list[float]) -> list[bytes]:
    pcm = b"".join(
        int(max(-32768, min(32767, s))).to_bytes(2, "little", signed=True) for s in samples
    )
    ulaw = g711.linear_to_ulaw(pcm)
    return [ulaw[i : i + 160] for i in range(0, len(ulaw) - 159, 160)]


def _tone(hz: float, dbfs: float, frames: int) -> list[float]:
    peak = 32768 * 10 ** (dbfs / 20) * math.sqrt(2)
    return [peak * math.sin(2 * math.pi * hz * n / 8000) for n in range(160 * frames)]


def test_a_tone_is_heard_in_its_band_at_its_level() -> None:
    bands, flux, flat = spectra(_frames(_tone(400, -20.0, 5)))
    low = bands[:, LOW]
    assert np.all(np.abs(low - -20.0) < 1.0)  # 300-500 Hz: the tone's RMS level
    assert np.all(bands[:, LOW + 2 :] < -40.0)  # 800 Hz and up: only its window's leakage
    assert np.all(flux[1:] < 1.0)  # steady: no rise from frame to frame


def test_noise_is_flatter_than_a_tone_and_a_start_is_flux() -> None:
    rng = random.Random(1)
    noise = [rng.gauss(0, 3000) for _ in range(160 * 3)]
    _, _, tone_flat = spectra(_frames(_tone(1000, -20.0, 3)))
    _, _, noise_flat = spectra(_frames(noise))
    assert noise_flat.min() > tone_flat.max() + 10
    _, flux, _ = spectra(_frames([0.0] * 160 + _tone(1000, -20.0, 1)))
    assert flux[1] > 10  # silence, then a tone: every bin rises


def _cues(over: list[list[float]], probability: list[float]) -> Cues:
    n = len(over)
    table = np.array(over, dtype=np.float64)
    return Cues(
        table, np.zeros_like(table), np.zeros(n), np.zeros(n), np.array(probability),
        np.zeros(n), np.zeros((n, len(BANDS))), np.zeros((n, len(BANDS) + 2)),
        np.zeros(n, bool),
    )  # fmt: skip


def test_a_rule_needs_its_band_the_second_condition_and_the_probability_k_frames() -> None:
    rows = []
    for low, mid in [(0, 0), (5, 5), (5, 0), (5, 5), (5, 5), (-1, 5)]:
        row = [-10.0] * (BROADBAND + 1)
        row[LOW], row[LOW + 1] = float(low), float(mid)
        row[LOUDEST] = max(low, mid)
        row[EXCESS] = max(low, 0) + max(mid, 0)
        row[BROADBAND] = -5.0
        rows.append(row)
    c = _cues(rows, [1, 1, 1, 1, 0.1, 1])
    masks = {"low>=3": also(c, "low>=3"), "bands2>=0": also(c, "bands2>=0")}
    mid = LOW + 1
    rule: Rule = (mid, 4.0, None, "none", 0.0, 1)
    assert list(fires(c, rule, masks)) == [0, 1, 0, 1, 1, 1]
    assert list(fires(c, (mid, 4.0, None, "low>=3", 0.0, 1), masks)) == [0, 1, 0, 1, 1, 0]
    assert list(fires(c, (mid, 4.0, None, "bands2>=0", 0.5, 2), masks)) == [0, 0, 0, 0, 0, 0]
    assert list(fires(c, (EXCESS, 8.0, None, "none", 0.0, 1), masks)) == [0, 1, 0, 1, 1, 0]
    assert list(fires(c, (LOUDEST, 4.0, None, "none", 0.5, 2), masks)) == [0, 0, 1, 1, 0, 0]
    assert not fires(c, (BROADBAND, 0.0, None, "none", 0.0, 1), masks).any()


def test_a_band_gate_learns_from_the_frames_heard_under_the_agent() -> None:
    quiet = np.array([-40.0] * 150 + [-30.0, -36.0])
    over = gated(quiet, np.ones(len(quiet), bool))
    assert over[0] == UNGATED  # nothing learned yet
    # The room's frames at -40 dBFS: the gate at -38 once 100 have counted (300 ms late).
    assert over[-2] == 8.0 and over[-1] == 2.0
    # Frames heard while speech is under way (or the agent silent) teach it nothing.
    assert (gated(quiet, np.zeros(len(quiet), bool)) == UNGATED).all()


def test_the_detectors_own_pause_counts_from_the_sentences_start() -> None:
    paused = np.zeros(40, bool)
    paused[[8, 30]] = True
    # Sentences starting at 5 and 25, heard from 10 and 27: the first paused 2 frames before
    # its onset, the second 3 after.
    assert own_pauses(paused, [5, 25], [10, 27]) == [-2, 3]
    assert own_pauses(np.zeros(40, bool), [5], [10]) == [None]
    fired = np.zeros(40, bool)
    fired[[11, 28]] = True  # the rule: 1 frame after each onset
    # The sooner of the two: the detector's own for the first, the rule's for the second.
    stops = stops_of(fired, [10, 27], [-2, 3])
    assert stops[0] == (-2 + 1) * 20.0 + 1 and stops[10] == (1 + 1) * 20.0 + 1


def test_the_joint_budget_counts_the_louder_rooms_pauses() -> None:
    fast: Rule = (0, 0.0, None, "none", 0.0, 1)
    slow: Rule = (0, 8.0, None, "none", 0.0, 1)
    at_10 = {fast: (0.0, 90.0), slow: (0.0, 170.0)}
    at_5 = {fast: (12.0, 95.0), slow: (1.0, 180.0)}
    alone = summarize(at_10)
    assert alone["best_at_pauses_per_min"]["0"]["p95_ms"] == 90.0
    joint = summarize(at_10, pauses_of=at_5)
    assert joint["best_at_pauses_per_min"]["0"] is None
    assert joint["best_at_pauses_per_min"]["2"]["p95_ms"] == 170.0
    assert joint["fewest_pauses_per_min_for_p95_100"]["pauses_per_min"] == 12.0
