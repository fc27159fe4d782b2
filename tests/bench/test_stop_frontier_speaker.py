"""bench.stop_frontier_speaker: a voice's pitch from its harmonics alone (no fundamental), the
correlation at a caller's period, the per-frame cues equal to the bench's, rules that fire on
every condition for k frames in a row, stops counted from the first firing."""

from __future__ import annotations

import math
import random

import numpy as np

from bench.noise import TICK_PHASES_MS
from bench.stop_frontier import MISSED_MS
from bench.stop_frontier_speaker import (
    FRAME,
    Cues,
    at_pitch,
    cepstra,
    correlations,
    decoded,
    fires,
    first_hits,
    one_frame,
    pitch_of,
    profile_of,
    semitones,
    sooner,
    stops,
)
from sipgw.media import g711


def _frames(samples: list[float]) -> list[bytes]:
    pcm = b"".join(
        int(max(-32768, min(32767, s))).to_bytes(2, "little", signed=True) for s in samples
    )
    ulaw = g711.linear_to_ulaw(pcm)
    return [ulaw[i : i + FRAME] for i in range(0, len(ulaw) - FRAME + 1, FRAME)]


def _voice(hz: float, frames: int, amplitude: float = 3000.0) -> list[float]:
    """Harmonics 3 to 10 of ``hz`` (all over 300 Hz: a line cut there has no fundamental)."""
    return [
        sum(amplitude / k * math.sin(2 * math.pi * k * hz * n / 8000 + k) for k in range(3, 11))
        for n in range(FRAME * frames)
    ]


def _noise(frames: int, seed: int = 1, sigma: float = 3000.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0, sigma) for _ in range(FRAME * frames)]


def test_the_pitch_of_a_voice_without_its_fundamental() -> None:
    for hz in (110.0, 160.0, 220.0):
        voicing, pitch = pitch_of(correlations(decoded(_frames(_voice(hz, 6)))))
        assert np.all(voicing[1:] > 0.9)  # the first frame has no history before it
        assert np.all(np.abs(semitones(pitch[1:]) - semitones(np.array(hz))) < 0.5)
    voicing, _ = pitch_of(correlations(decoded(_frames(_noise(6)))))
    assert np.all(voicing[1:] < 0.5)


def test_the_correlation_at_the_callers_period_and_at_another() -> None:
    r = correlations(decoded(_frames(_voice(125.0, 6))))
    at_caller = at_pitch(r, float(semitones(np.array(125.0))), 2.0)
    elsewhere = at_pitch(r, float(semitones(np.array(200.0))), 2.0)
    assert np.all(at_caller[1:] > 0.9)
    assert np.all(elsewhere[1:] < 0.6)


def test_the_callers_profile_is_their_voiced_frames_pitch() -> None:
    quiet = 300.0  # a room 20 dB under the voice
    frames = _frames(_noise(5, 2, quiet) + _voice(140.0, 40) + _noise(5, 3, quiet))
    profile = profile_of(frames, 0, len(frames))
    assert abs(profile.median_semitones - float(semitones(np.array(140.0)))) < 0.5
    assert profile.frames >= 20  # the voiced frames of the loud half (25 of 50)
    assert profile.p90 >= profile.p75


def test_one_frame_computes_the_benchs_cues() -> None:
    x = decoded(_frames(_voice(180.0, 3) + _noise(3)))
    r = correlations(x)
    voicing, pitch = pitch_of(r)
    c = cepstra(x)
    window = np.hamming(FRAME)
    for i in range(1, 6):
        v, lag, cepstrum = one_frame(
            x[(i - 1) * FRAME : i * FRAME], x[i * FRAME : (i + 1) * FRAME], window
        )
        assert math.isclose(v, voicing[i], abs_tol=1e-9)
        assert math.isclose(8000 / lag, pitch[i])
        assert np.allclose(cepstrum, c[i])


def _cues(n: int) -> Cues:
    zeros = np.zeros(n)
    return Cues(
        voicing=zeros.copy(), semitones=np.full(n, 10.0), to_caller=np.full(n, 2.0),
        to_caller_p90=np.full(n, 2.0), nearer=np.zeros(n, bool), over_room=zeros.copy(),
        paused=np.zeros(n, bool), at={"at 2": zeros.copy()},
    )  # fmt: skip


def test_a_rule_fires_on_every_condition_k_frames_in_a_row() -> None:
    c = _cues(8)
    c.voicing[2:5] = 0.8
    c.semitones[2:5] = 1.0
    c.over_room[2:5] = 3.0
    c.nearer[3:5] = True
    assert list(np.flatnonzero(fires(c, (0.7, 2.0, "none", 0.0, 1)))) == [2, 3, 4]
    assert list(np.flatnonzero(fires(c, (0.7, 2.0, "none", 0.0, 3)))) == [4]
    assert list(np.flatnonzero(fires(c, (0.7, 2.0, "nearer", 0.0, 1)))) == [3, 4]
    assert not fires(c, (0.9, 2.0, "none", 0.0, 1)).any()  # voicing under
    assert not fires(c, (0.7, 0.5, "none", 0.0, 1)).any()  # pitch too far
    assert not fires(c, (0.7, 2.0, "none", 4.0, 1)).any()  # not loud enough
    assert not fires(c, (0.7, 2.0, "caller<=p75", 0.0, 1)).any()  # envelope too far
    c.at["at 2"][6] = 0.5  # the correlation at the caller's period, not the frame's own pitch
    assert list(np.flatnonzero(fires(c, (0.4, "at 2", "none", None, 1)))) == [6]


def test_a_sentences_stop_is_its_first_firing_and_a_miss_counts_400_ms() -> None:
    fired = np.zeros(40, bool)
    fired[[3, 12, 30]] = True
    hits = first_hits(fired, [1, 10, 31])  # 31: nothing in its 12 frames
    assert hits == [2, 2, None]
    assert stops([2]) == [60.0 + p for p in TICK_PHASES_MS]
    assert stops([None]) == [MISSED_MS + p for p in TICK_PHASES_MS]
    assert sooner([2, None, 5, None], [4, 3, None, None]) == [2, 3, 5, None]
