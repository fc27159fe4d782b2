"""Can the caller's own voice (pitch, envelope) start a pause sooner than the room's level allows?

    python -m bench.stop_frontier_speaker [--seconds 60] [--snr 10 5] [--backgrounds babble tv]
        [--callers NAME ...] [--cpu-frames 5000]

By the time a caller barges in they have spoken, so the gateway has heard their voice: its
pitch and its spectral envelope. A voice in the room (café babble, a TV) differs in both and
is quieter. This bench asks whether a frame that sounds like the caller can start the
provisional pause before any level rule dares to (:mod:`bench.stop_frontier_bands`: on the
telephone band the best rule within 5 room pauses a minute stops at p95 138-158 ms).

The calls are those of :mod:`bench.stop_frontier` (the agent's greeting, the caller's
opening turn, then the agent's reply over the room alone, or with the caller's sentences
every 4 s; the voices and the room cut under ``--low-hz``, 300 Hz by default), but each
caller (:data:`CALLERS`) says both the opening and every interruption in one voice: the
voice heard in the opening is the voice that barges in. Callers come in three groups:
other variants of the room's engine (espeak-ng, as the callers of :mod:`bench.noise`),
another engine (flite, festival), and the room's own voice at another pitch (the hard
case: the TV's reader, or the babble's first voice, 5 steps of espeak-ng's pitch higher).
And per room, whatever their group, the callers whose pitch is apart from the room's (under
10 % of the room's voiced frames within 4 semitones of their median pitch): a gateway could
tell those calls from the room it hears under the agent's audio.

Per 20 ms frame of the μ-law track as the gateway decodes it:

* **voicing and pitch**: the normalized cross-correlation of the frame's 160 samples with
  the same samples :data:`LAGS` earlier (70-400 Hz; the previous frame supplies the history),
  the lag of its first local maximum within 0.85 of the highest (a line cut at 300 Hz has
  no fundamental, but its harmonics repeat at the pitch period); voicing is that peak;
* **envelope**: a 10th-order LPC of the frame (pre-emphasis 0.97, Hamming window), as 12
  cepstral coefficients; its distance to the caller's mean and to the room's;
* **level** over the room's 90th percentile frame (dBFS).

The caller's profile is learned from their opening turn: its frames with voicing at least
0.7 and a level over the turn's median give the median pitch (semitones) and the mean
cepstrum, and the 75th / 90th percentile of those frames' own distance to it. The room's
mean cepstrum is that of its voiced frames (voicing 0.5 and more) and its 90th percentile
level is that of all its frames, over the reply with no caller: known in advance, which no
gateway can do, so the frontier is a bound in the rules' favour (as in
:mod:`bench.stop_frontier_bands`).

A rule (:data:`VOICINGS` × :data:`PITCHES` × :data:`ENVELOPES` × :data:`LEVELS` ×
:data:`RUNS`): voicing at least a value, the pitch within X semitones of the caller's
median (an octave up or down counts as a miss), the envelope near the caller's (within its
own 75th or 90th percentile distance) or nearer the caller's than the room's, the level at
least L dB over the room's, ``k`` frames in a row. Scored as :mod:`bench.stop_frontier`
scores its rules: on the room alone, its pauses a minute (events 0.5 s apart); on the
sentences, the stop of a pause at its first firing from the sentence's onset over the
ticker's phases (a miss within 12 frames counts 400 ms). Each rule is also scored joined
to the model detector's own pauses (a pause at the first of either: what the gateway would
do with the rule as an extra start), and the level-only rules (no voicing, pitch or
envelope condition) are the baseline on the same tracks. Pauses a minute are the mean over
the callers (each caller's profile pauses on the room its own way) and the worst caller's.

Printed per background and SNR and caller group: the best stop p95 of the rules pausing
the agent at most N times a minute on the room alone; with two SNRs, the stop at the higher
with the pauses at both. Then the CPU of the cues per frame (numpy, one frame at a time, as
a call would compute them; and the multiply-adds they take).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from bench.noise import (
    GREETING_S,
    INTERRUPTIONS,
    OPENING,
    OPENING_S,
    TICK_PHASES_MS,
    _ulaw_frames,
    onset_s,
)
from bench.stop_bound import frame_levels
from bench.stop_frontier import BUDGETS, FRAME_S, LOOK_FRAMES, MISSED_MS, events_per_min, trace
from sipgw.media import g711
from tests.toolkit.amdset.speech import RATE, Voice, synthesize_clause
from tests.toolkit.noisy_audio import background, mix

Array = npt.NDArray[np.float64]

FRAME = 160
LAGS = np.arange(20, 115)
"""Pitch periods tried, samples at 8 kHz: 400 down to 70 Hz."""
PEAK_SHARE = 0.85
"""The pitch is the first local maximum of the correlation within this share of its highest."""
ORDER = 10
"""LPC order."""
CEPSTRA = 12
PROFILE_VOICING = 0.7
ROOM_VOICING = 0.5

CALLERS: dict[str, tuple[Voice, str]] = {
    "espeak en-us": (Voice("en-us"), "espeak-ng"),
    "espeak en-us+f3": (Voice("en-us+f3"), "espeak-ng"),
    "espeak en-us+m4": (Voice("en-us+m4"), "espeak-ng"),
    "espeak en-us+f2": (Voice("en-us+f2"), "espeak-ng"),
    "flite slt": (Voice("slt", engine="flite"), "other engine"),
    "flite awb": (Voice("awb", engine="flite"), "other engine"),
    "flite rms": (Voice("rms", engine="flite"), "other engine"),
    "festival kal": (Voice("kal_diphone", engine="festival"), "other engine"),
    "flite slt high": (Voice("slt", pitch=99, engine="flite"), "other engine"),
    "festival slt": (Voice("cmu_us_slt_arctic_hts", engine="festival"), "other engine"),
}
"""Callers, each with its group."""
ROOM_VOICES = {"babble": Voice("en-us+m3", pitch=45), "tv": Voice("en-gb", pitch=50)}
"""The hard case per background: the room's own voice (babble's first voice says its line at
pitch 40; the TV reads at 45), 5 pitch steps higher, as the caller. This espeak-ng ignores
the variants of ``en-gb`` (``en-gb+m3``, ``en-gb+f3`` and ``en-gb`` give the same samples),
so the TV's reader is plain ``en-gb`` (named ``en-gb+m3`` here until 2026-11-27: the same
samples), and so are two of the babble's voices (now named so in
:mod:`tests.toolkit.noisy_audio`): no ``en-gb`` caller is among :data:`CALLERS`."""
HARD = "the room's own voice"
DEFAULT_CALLERS = (*list(CALLERS)[:8], HARD)
"""The callers of a run without ``--callers``; the last two of :data:`CALLERS` (flite's slt
at 199 Hz, festival's slt) are for ``--callers``: more voices pitched apart from a TV's."""
APART = "pitch apart from the room's"
"""The callers (of any group) whose median pitch few of the room's voiced frames share."""
APART_ST = 4.0
APART_SHARE = 0.1
"""A caller's pitch is apart from the room's when under this share of the room's voiced
frames are within :data:`APART_ST` semitones of it (taken at the first SNR, the room alone:
a gateway could learn it from the frames it hears under the agent's audio)."""

VOICINGS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
"""The frame's normalized correlation at its pitch, at least (0: no condition)."""
PITCHES: tuple[float | str | None, ...] = (None, 2.0, 3.0, 4.0, 6.0, "at 2", "at 3", "at 4")
"""Semitones from the caller's median pitch, at most (None: no condition); or ``at X``: the
voicing condition is taken at the caller's own period (the highest correlation at the lags
within X semitones of their median pitch), not at the frame's own pitch."""
AT_PITCH = (2.0, 3.0, 4.0)
ENVELOPES = ("none", "caller<=p75", "caller<=p90", "nearer")
"""The frame's cepstrum within the caller's own 75th / 90th percentile distance of their
mean, or nearer the caller's mean than the room's."""
LEVELS = (None, -6.0, -3.0, 0.0, 2.0, 4.0, 6.0)
"""dB over the room's 90th percentile frame, at least (None: no condition)."""
RUNS = (1, 2, 3)
TARGET_MS = 100.0

Rule = tuple[float, float | str | None, str, float | None, int]


def caller_voice(name: str, kind: str) -> Voice:
    if name == HARD:
        return ROOM_VOICES[kind]
    return CALLERS[name][0]


def said(text: str, voice: Voice, low_hz: int) -> list[int]:
    return list(synthesize_clause(text, voice, low_hz).samples)


def tracks(
    voice: Voice, seconds: float, low_hz: int
) -> tuple[list[int], list[int], list[tuple[float, float, float]]]:
    """The opening track (greeting's silence, the caller's opening turn, silence), the same
    with the caller's sentences every 4 s from 2 s into the reply, and their (start, onset,
    end)s from the opening's end: as :func:`bench.noise.interruption_track`, one voice."""
    quiet = [0] * int((OPENING_S + seconds) * RATE)
    first = said(OPENING[1], voice, low_hz)
    at = int(GREETING_S * RATE)
    quiet[at : at + len(first)] = first[: int(OPENING_S * RATE) - at]
    noisy = list(quiet)
    spans = []
    t, n = 2.0, 0
    while t + 3.0 < seconds:
        sentence = said(INTERRUPTIONS[n % len(INTERRUPTIONS)][1], voice, low_hz)
        start = int((OPENING_S + t) * RATE)
        noisy[start : start + len(sentence)] = sentence
        spans.append((t, t + onset_s(sentence), t + len(sentence) / RATE))
        t += 4.0
        n += 1
    return quiet, noisy, spans


def decoded(frames: Sequence[bytes]) -> Array:
    """The frames' samples as the gateway decodes them, full scale 1."""
    pcm = g711.ulaw_to_linear(b"".join(frames))
    out: Array = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768.0
    return out


def correlations(x: Array) -> Array:
    """Per frame (rows) and lag (:data:`LAGS`, columns): the frame's normalized correlation
    with its samples that many samples earlier."""
    n = len(x) // FRAME
    padded = np.concatenate([np.zeros(FRAME), x[: n * FRAME]])
    now = padded[FRAME:].reshape(n, FRAME)
    energy_now = (now * now).sum(axis=1)
    square = np.concatenate([[0.0], np.cumsum(padded * padded)])
    r = np.empty((n, len(LAGS)))
    starts = np.arange(n) * FRAME + FRAME
    for j, lag in enumerate(LAGS):
        before = padded[FRAME - lag : FRAME - lag + n * FRAME].reshape(n, FRAME)
        energy_before = square[starts - lag + FRAME] - square[starts - lag]
        r[:, j] = (now * before).sum(axis=1) / np.sqrt(energy_now * energy_before + 1e-20)
    return r


def pitch_of(r: Array) -> tuple[Array, Array]:
    """Per frame: voicing (the normalized correlation at the pitch lag) and pitch (Hz)."""
    n = len(r)
    peak = np.zeros_like(r, bool)
    peak[:, 1:-1] = (r[:, 1:-1] >= r[:, :-2]) & (r[:, 1:-1] >= r[:, 2:])
    high = r.max(axis=1, keepdims=True)
    chosen = peak & (r >= PEAK_SHARE * high)
    first = np.where(chosen.any(axis=1), chosen.argmax(axis=1), r.argmax(axis=1))
    voicing = r[np.arange(n), first]
    return voicing, RATE / LAGS[first].astype(np.float64)


def pitch_track(x: Array) -> tuple[Array, Array]:
    """Per frame: voicing and pitch (Hz)."""
    return pitch_of(correlations(x))


def at_pitch(r: Array, median_semitones: float, within: float) -> Array:
    """Per frame: the highest correlation at the lags within ``within`` semitones of the
    caller's median pitch (how strongly the frame repeats at the caller's period)."""
    hz = RATE / LAGS.astype(np.float64)
    near = np.abs(semitones(hz) - median_semitones) <= within
    out: Array = r[:, near].max(axis=1)
    return out


def cepstra(x: Array) -> Array:
    """Per frame: :data:`CEPSTRA` cepstral coefficients of a 10th-order LPC."""
    n = len(x) // FRAME
    emphasized = np.concatenate([[x[0]], x[1:] - 0.97 * x[:-1]])[: n * FRAME].reshape(n, FRAME)
    w = emphasized * np.hamming(FRAME)
    acf = np.stack([(w[:, : FRAME - k] * w[:, k:]).sum(axis=1) for k in range(ORDER + 1)], 1)
    acf[:, 0] = acf[:, 0] * (1 + 1e-6) + 1e-12
    a = np.zeros((n, ORDER + 1))
    a[:, 0] = 1.0
    error = acf[:, 0].copy()
    for i in range(1, ORDER + 1):  # Levinson-Durbin, every frame at once
        k = -(a[:, :i] * acf[:, i:0:-1]).sum(axis=1) / error
        a[:, 1 : i + 1] = a[:, 1 : i + 1] + k[:, None] * a[:, i - 1 :: -1][:, :i]
        error = error * (1 - k * k)
    c = np.zeros((n, CEPSTRA + 1))
    for m in range(1, CEPSTRA + 1):  # LPC to cepstrum, 1/A(z)
        acc = -a[:, m] if m <= ORDER else np.zeros(n)
        for k in range(1, m):
            if m - k <= ORDER:
                acc = acc - (k / m) * c[:, k] * a[:, m - k]
        c[:, m] = acc
    out: Array = c[:, 1:]
    return out


@dataclass
class Cues:
    voicing: Array
    semitones: Array
    """The pitch in semitones from the caller's median."""
    to_caller: Array
    """The cepstral distance to the caller's mean, over the caller's own 75th percentile."""
    to_caller_p90: Array
    nearer: npt.NDArray[np.bool_]
    """Nearer the caller's mean than the room's."""
    over_room: Array
    paused: Array
    """The model detector paused the agent on the frame."""
    at: dict[str, Array]
    """Per ``at X`` of :data:`PITCHES`: the correlation at the caller's period."""


@dataclass
class Profile:
    median_semitones: float
    cepstrum: Array
    p75: float
    p90: float
    frames: int


def semitones(hz: Array) -> Array:
    out: Array = 12 * np.log2(hz / 100.0)
    return out


def profile_of(frames: Sequence[bytes], first: int, last: int) -> Profile:
    """The caller's voice from their opening turn (frames ``first`` to ``last``)."""
    x = decoded(frames[first:last])
    voicing, hz = pitch_track(x)
    levels = np.array(frame_levels(frames[first:last]))
    keep = (voicing >= PROFILE_VOICING) & (levels >= np.median(levels))
    c = cepstra(x)[keep]
    mean = c.mean(axis=0)
    d = np.linalg.norm(c - mean, axis=1)
    return Profile(
        float(np.median(semitones(hz[keep]))), mean, float(np.percentile(d, 75)),
        float(np.percentile(d, 90)), int(keep.sum()),
    )  # fmt: skip


@dataclass
class RoomVoice:
    cepstrum: Array
    p90_dbfs: float


def room_voice(frames: Sequence[bytes]) -> RoomVoice:
    x = decoded(frames)
    voicing, _ = pitch_track(x)
    c = cepstra(x)
    return RoomVoice(
        c[voicing >= ROOM_VOICING].mean(axis=0), float(np.percentile(frame_levels(frames), 90))
    )  # fmt: skip


def cues(frames: Sequence[bytes], caller: Profile, room: RoomVoice) -> Cues:
    x = decoded(frames)
    r = correlations(x)
    voicing, hz = pitch_of(r)
    c = cepstra(x)
    d_caller = np.linalg.norm(c - caller.cepstrum, axis=1)
    d_room = np.linalg.norm(c - room.cepstrum, axis=1)
    return Cues(
        voicing, np.abs(semitones(hz) - caller.median_semitones), d_caller / caller.p75,
        d_caller / caller.p90, d_caller < d_room,
        np.array(frame_levels(frames)) - room.p90_dbfs, trace(frames).paused,
        {f"at {w:g}": at_pitch(r, caller.median_semitones, w) for w in AT_PITCH},
    )  # fmt: skip


def fires(c: Cues, rule: Rule) -> Any:
    voicing, pitch, envelope, level, run = rule
    if isinstance(pitch, str):
        ok = c.at[pitch] >= voicing
    else:
        ok = c.voicing >= voicing
    if isinstance(pitch, float):
        ok = ok & (c.semitones <= pitch)
    if envelope == "caller<=p75":
        ok = ok & (c.to_caller <= 1.0)
    elif envelope == "caller<=p90":
        ok = ok & (c.to_caller_p90 <= 1.0)
    elif envelope == "nearer":
        ok = ok & c.nearer
    if level is not None:
        ok = ok & (c.over_room >= level)
    if run == 1:
        return ok
    return np.convolve(ok.astype(np.int64), np.ones(run, np.int64))[: len(ok)] >= run


def first_hits(fired: Any, onsets: Sequence[int]) -> list[int | None]:
    out: list[int | None] = []
    for i in onsets:
        hits = np.flatnonzero(fired[i : i + LOOK_FRAMES])
        out.append(int(hits[0]) if len(hits) else None)
    return out


def own_pauses(paused: Any, starts: Sequence[int], onsets: Sequence[int]) -> list[int | None]:
    """The detector's first pause of each sentence, frames from its onset (from its start)."""
    out: list[int | None] = []
    for start, onset in zip(starts, onsets, strict=True):
        hits = np.flatnonzero(paused[start : onset + LOOK_FRAMES])
        out.append(int(hits[0]) + start - onset if len(hits) else None)
    return out


def stops(hits: Sequence[int | None]) -> list[float]:
    out: list[float] = []
    for hit in hits:
        arrival = (hit + 1) * 20.0 if hit is not None else MISSED_MS
        out += [arrival + phase for phase in TICK_PHASES_MS]
    return out


def sooner(a: Sequence[int | None], b: Sequence[int | None]) -> list[int | None]:
    return [x if y is None else y if x is None else min(x, y) for x, y in zip(a, b, strict=True)]


@dataclass
class Call:
    """One caller's two tracks over one room at one SNR."""

    quiet: Cues
    noisy: Cues
    onsets: list[int]
    own: list[int | None]
    minutes: float
    opening: int
    profile: Profile
    room_near: float
    """The share of the room's voiced frames (voicing at least :data:`ROOM_VOICING`, room
    alone) whose pitch is within :data:`APART_ST` semitones of the caller's median."""


def call(name: str, kind: str, snr: float, seconds: float, low_hz: int) -> Call:
    voice = caller_voice(name, kind)
    noise = background(kind, OPENING_S + seconds, low_hz)
    quiet_track, noisy_track, spans = tracks(voice, seconds, low_hz)
    quiet_frames = _ulaw_frames(mix(quiet_track, noise, snr))
    noisy_frames = _ulaw_frames(mix(noisy_track, noise, snr))
    opening = round(OPENING_S / FRAME_S)
    first = round(GREETING_S / FRAME_S)
    profile = profile_of(quiet_frames, first, opening)
    room = room_voice(quiet_frames[opening:])
    onsets = [opening + round(onset / FRAME_S) for _, onset, _ in spans]
    starts = [opening + round(start / FRAME_S) for start, _, _ in spans]
    noisy = cues(noisy_frames, profile, room)
    quiet = cues(quiet_frames, profile, room)
    voiced = quiet.voicing[opening:] >= ROOM_VOICING
    near = float(np.mean(quiet.semitones[opening:][voiced] <= APART_ST))
    return Call(
        quiet, noisy, onsets, own_pauses(noisy.paused, starts, onsets), seconds / 60, opening,
        profile, near,
    )  # fmt: skip


Scored = dict[Rule, tuple[float, float, float]]
"""Per rule: pauses a minute on the room alone (mean over callers, worst caller), p95 (ms)."""


def score(calls: Sequence[Call], with_detector: bool) -> Scored:
    out: Scored = {}
    for rule in itertools.product(VOICINGS, PITCHES, ENVELOPES, LEVELS, RUNS):
        if rule[0] == 0.0 and rule[1] is None and rule[2] == "none" and rule[3] is None:
            continue  # fires on every frame
        if rule[0] == 0.0 and isinstance(rule[1], str):
            continue  # the same as no pitch condition
        every: list[float] = []
        pauses: list[float] = []
        for c in calls:
            alone = fires(c.quiet, rule)
            hits = first_hits(fires(c.noisy, rule), c.onsets)
            if with_detector:
                alone = alone | c.quiet.paused
                hits = sooner(hits, c.own)
            pauses.append(events_per_min(alone[c.opening :], c.minutes))
            every += stops(hits)
        p95 = percentile(every, 95)
        assert p95 is not None
        out[rule] = (float(np.mean(pauses)), max(pauses), p95)
    return out


def by_sentence(calls: Sequence[Call], rule: Rule) -> dict[str, list[float]]:
    """Each sentence's stop (ms, the ticker's mid phase) under ``rule``, by its text."""
    out: dict[str, list[float]] = {}
    for c in calls:
        hits = first_hits(fires(c.noisy, rule), c.onsets)
        for n, hit in enumerate(hits):
            text = INTERRUPTIONS[n % len(INTERRUPTIONS)][1]
            out.setdefault(text, []).append(stops([hit])[len(TICK_PHASES_MS) // 2])
    return out


def onset_arithmetic(calls: dict[str, Call]) -> dict[str, Any]:
    """For each caller's instances of "No, no, I wanted..." (the sentence that sets the p95):
    in its first four frames, the correlation at the caller's period (±2 semitones), the
    share of the room's frames (the same caller's room-alone track) with at least the
    loudest of the four's, the frame's own pitch in semitones from the caller's, and its
    level over the room's 90th percentile."""
    out: dict[str, Any] = {}
    for name, c in calls.items():
        room = c.quiet.at["at 2"][c.opening :]
        instances = []
        for n, o in enumerate(c.onsets):
            if INTERRUPTIONS[n % len(INTERRUPTIONS)][1][:3] != "No,":
                continue
            four = slice(o, o + 4)
            top = float(c.noisy.at["at 2"][four].max())
            instances.append({
                "at_callers_period": [round(float(v), 2) for v in c.noisy.at["at 2"][four]],
                "room_share_as_high": round(float(np.mean(room >= top)), 3),
                "pitch_from_callers_st": [round(float(v), 1) for v in c.noisy.semitones[four]],
                "over_room_p90_db": [round(float(v), 1) for v in c.noisy.over_room[four]],
            })  # fmt: skip
        out[name] = instances
    return out


def best_within(scored: Scored, budget: float) -> Rule | None:
    within = [(v[2], v[0], r) for r, v in scored.items() if v[0] <= budget]
    return min(within, key=lambda t: (t[0], t[1]))[2] if within else None


def level_only(scored: Scored) -> Scored:
    return {r: v for r, v in scored.items() if r[0] == 0.0 and r[1] is None and r[2] == "none"}


def describe(rule: Rule) -> str:
    voicing, pitch, envelope, level, run = rule
    parts = []
    if voicing:
        parts.append(f"voicing ≥ {voicing:g}")
    if isinstance(pitch, str):
        parts[-1:] = [f"correlation ≥ {voicing:g} at the caller's period ±{pitch[3:]} st"]
    elif pitch is not None:
        parts.append(f"pitch within {pitch:g} st of the caller's")
    if envelope != "none":
        parts.append(f"envelope {envelope}")
    if level is not None:
        parts.append(f"level ≥ room p90 + {level:g} dB")
    return ", ".join(parts) + f", {run} frame{'s' if run > 1 else ''}"


def summarize(scored: Scored, pauses_of: Scored | None = None) -> dict[str, Any]:
    """The best p95 at each budget of pauses a minute (the callers' mean; with ``pauses_of``
    the larger of both SNRs'), and the fewest pauses for a p95 ≤ 100 ms."""
    rows = [
        (max(mean, pauses_of[rule][0]) if pauses_of else mean,
         max(worst, pauses_of[rule][1]) if pauses_of else worst, p95, rule)
        for rule, (mean, worst, p95) in scored.items()
    ]  # fmt: skip
    best: dict[str, Any] = {}
    for budget in BUDGETS:
        within = [r for r in rows if r[0] <= budget]
        top = min(within, key=lambda r: (r[2], r[0])) if within else None
        best[str(budget)] = None if top is None else {
            "p95_ms": round(top[2], 1), "pauses_per_min": round(top[0], 2),
            "worst_caller_pauses_per_min": round(top[1], 2), "rule": describe(top[3]),
        }  # fmt: skip
    fast = [r for r in rows if r[2] <= TARGET_MS]
    fastest = min(fast, key=lambda r: (r[0], r[2])) if fast else None
    return {
        "rules": len(rows),
        "best_at_pauses_per_min": best,
        "fewest_pauses_per_min_for_p95_100": None if fastest is None else {
            "pauses_per_min": round(fastest[0], 2), "p95_ms": round(fastest[2], 1),
            "worst_caller_pauses_per_min": round(fastest[1], 2), "rule": describe(fastest[3]),
        },
    }  # fmt: skip


def one_frame(prev: Array, frame: Array, window: Array) -> tuple[float, int, Array]:
    """The cues of one frame as a call would compute them (numpy): voicing, pitch lag,
    cepstrum; ``prev`` is the frame before."""
    both = np.concatenate([prev, frame])
    energy = frame @ frame
    square = np.cumsum(both * both)
    lagged = np.lib.stride_tricks.sliding_window_view(both, FRAME)[FRAME - LAGS]
    r = (lagged @ frame) / np.sqrt(
        energy * (square[2 * FRAME - 1 - LAGS] - square[FRAME - 1 - LAGS]) + 1e-20
    )  # fmt: skip
    peak = np.flatnonzero(
        (r[1:-1] >= r[:-2]) & (r[1:-1] >= r[2:]) & (r[1:-1] >= PEAK_SHARE * r.max())
    )
    j = int(peak[0]) + 1 if len(peak) else int(r.argmax())
    w = np.empty(FRAME)
    w[0] = frame[0] - 0.97 * prev[-1]
    w[1:] = frame[1:] - 0.97 * frame[:-1]
    w *= window
    acf = np.array([w[: FRAME - k] @ w[k:] for k in range(ORDER + 1)])
    acf[0] = acf[0] * (1 + 1e-6) + 1e-12
    a = np.zeros(ORDER + 1)
    a[0] = 1.0
    error = float(acf[0])
    for i in range(1, ORDER + 1):
        k = -float(a[:i] @ acf[i:0:-1]) / error
        a[1 : i + 1] = a[1 : i + 1] + k * a[i - 1 :: -1][:i]
        error *= 1 - k * k
    c = np.zeros(CEPSTRA + 1)
    for m in range(1, CEPSTRA + 1):
        acc = -a[m] if m <= ORDER else 0.0
        for kk in range(max(1, m - ORDER), m):
            acc -= (kk / m) * c[kk] * a[m - kk]
        c[m] = acc
    return float(r[j]), int(LAGS[j]), c[1:]


def at_caller_period(prev: Array, frame: Array, lags: Any) -> float:
    """One frame's highest normalized correlation at ``lags`` (the caller's period, as
    :func:`at_pitch` takes it), in numpy: the cue alone, without the pitch search or the
    envelope."""
    both = np.concatenate([prev, frame])
    square = np.cumsum(both * both)
    lagged = np.lib.stride_tricks.sliding_window_view(both, FRAME)[FRAME - lags]
    r = (lagged @ frame) / np.sqrt(
        (frame @ frame) * (square[2 * FRAME - 1 - lags] - square[FRAME - 1 - lags]) + 1e-20
    )  # fmt: skip
    return float(r.max())


def cpu_per_frame(frames: int) -> dict[str, Any]:
    """The per-frame cues' CPU, one frame at a time in numpy, over ``frames`` frames of
    babble; and their multiply-adds (what compiled code would do): all the cues (the pitch
    search over :data:`LAGS`, the LPC cepstrum), and the correlation at a 105 Hz caller's
    period ±3 semitones alone."""
    noise = np.array(background("babble", frames * FRAME_S + 0.1), np.float64) / 32768.0
    window = np.hamming(FRAME)
    hz = RATE / LAGS.astype(np.float64)
    near = LAGS[np.abs(semitones(hz) - semitones(np.array(105.0))) <= 3.0]
    spent = []
    for cue in ("all", "at"):
        prev = np.zeros(FRAME)
        started = time.process_time()
        for i in range(frames):
            frame = noise[i * FRAME : (i + 1) * FRAME]
            if cue == "all":
                one_frame(prev, frame, window)
            else:
                at_caller_period(prev, frame, near)
            prev = frame
        spent.append(time.process_time() - started)
    macs = len(LAGS) * FRAME + FRAME + (ORDER + 1) * FRAME + ORDER * ORDER + CEPSTRA * ORDER
    return {
        "frames": frames,
        "all_cues_numpy_us_per_frame": round(spent[0] / frames * 1e6, 1),
        "all_cues_multiply_adds_per_frame": macs,
        "at_caller_period_numpy_us_per_frame": round(spent[1] / frames * 1e6, 1),
        "at_caller_period_lags": len(near),
        "at_caller_period_multiply_adds_per_frame": (len(near) + 2) * FRAME,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per caller, room and SNR")
    parser.add_argument("--snr", type=float, nargs="+", default=[10.0, 5.0])
    parser.add_argument("--backgrounds", nargs="+", default=["babble", "tv"])
    parser.add_argument("--callers", nargs="+", default=list(DEFAULT_CALLERS))
    parser.add_argument("--low-hz", type=int, default=300)
    parser.add_argument("--cpu-frames", type=int, default=5000)
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = parser.parse_args(argv)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    groups: dict[str, list[str]] = {}
    for name in args.callers:
        groups.setdefault(HARD if name == HARD else CALLERS[name][1], []).append(name)
    results: dict[str, Any] = {}
    rows: list[list[str]] = []
    scored: dict[tuple[str, float, str, bool], Scored] = {}
    apart: dict[str, list[str]] = {}

    def row(name: str, snr: str, f: dict[str, Any]) -> list[str]:
        best, fastest = f["best_at_pauses_per_min"], f["fewest_pauses_per_min_for_p95_100"]
        return [
            name, snr,
            *(fmt(best[str(b)]["p95_ms"] if best[str(b)] else None, ".0f") for b in BUDGETS),
            fmt(fastest["pauses_per_min"] if fastest else None, ".1f"),
        ]  # fmt: skip

    views = (("speaker rules", False), ("speaker rules + detector", True))
    for snr in args.snr:
        for kind in args.backgrounds:
            log(f"{kind} at {snr:g} dB SNR")
            calls = {n: call(n, kind, snr, args.seconds, args.low_hz) for n in args.callers}
            entry: dict[str, Any] = {
                "profiles": {
                    n: {"median_pitch_hz": round(100 * 2 ** (c.profile.median_semitones / 12), 1),
                        "voiced_frames": c.profile.frames,
                        "room_voiced_frames_within_4_st": round(c.room_near, 3)}
                    for n, c in calls.items()
                },
            }  # fmt: skip
            entry["p95_sentence_onset"] = onset_arithmetic(calls)
            if kind not in apart:
                apart[kind] = [n for n, c in calls.items() if c.room_near < APART_SHARE]
            entry[APART] = apart[kind]
            every = [("all", list(args.callers)), *groups.items()]
            for group, names in every + ([(APART, apart[kind])] if apart[kind] else []):
                chosen = [calls[n] for n in names]
                for view, joined in views:
                    s = score(chosen, joined)
                    scored[kind, snr, group, joined] = s
                    f = summarize(s)
                    f["level_only"] = summarize(level_only(s))
                    top = best_within(s, 5)
                    if top is not None and not joined:
                        f["stops_of_the_best_rule_at_5_per_min_ms"] = by_sentence(chosen, top)
                    entry[f"{group}: {view}"] = f
                    rows.append(row(f"{kind}, {group}, {view}", f"{snr:g}", f))
                    rows.append(row(f"{kind}, {group}, {view}, level only", f"{snr:g}",
                                    f["level_only"]))  # fmt: skip
                detector: list[float] = []
                alone: list[float] = []
                for c in chosen:
                    detector += stops(c.own)
                    alone.append(events_per_min(c.quiet.paused[c.opening :], c.minutes))
                entry[f"{group}: the detector alone"] = {
                    "p95_ms": percentile(detector, 95),
                    "pauses_per_min": round(float(np.mean(alone)), 2),
                }
            results[f"{kind}@{snr:g}dB"] = entry
    high, low = max(args.snr), min(args.snr)
    if high != low:
        for kind in args.backgrounds:
            entry = {}
            for group in ["all", *groups, *([APART] if apart[kind] else [])]:
                for view, joined in views:
                    s, other = scored[kind, high, group, joined], scored[kind, low, group, joined]
                    f = summarize(s, other)
                    f["level_only"] = summarize(level_only(s), level_only(other))
                    entry[f"{group}: {view}"] = f
                    where = f"{high:g} (room: {low:g} and {high:g})"
                    rows.append(row(f"{kind}, {group}, {view}", where, f))
                    rows.append(row(f"{kind}, {group}, {view}, level only", where,
                                    f["level_only"]))  # fmt: skip
            results[f"{kind}@{high:g}dB, pauses at {low:g} and {high:g} dB"] = entry
    print(format_table(
        ["background, callers, rules", "SNR dB", *(f"p95 at ≤{b}/min" for b in BUDGETS),
         "pauses/min for p95 ≤ 100"],
        rows,
    ))  # fmt: skip
    cpu = cpu_per_frame(args.cpu_frames)
    log(f"cues per frame: {cpu['all_cues_numpy_us_per_frame']} µs in numpy, "
        f"{cpu['all_cues_multiply_adds_per_frame']} multiply-adds; the correlation at the "
        f"caller's period alone {cpu['at_caller_period_numpy_us_per_frame']} µs, "
        f"{cpu['at_caller_period_multiply_adds_per_frame']} multiply-adds")  # fmt: skip
    machine = machine_info()
    machine["loadavg_at_end"] = machine["loadavg_at_start"]
    machine["loadavg_at_start"] = load_at_start
    log(f"{machine['cpu_model']}, {machine['cores']} cores, load average "
        f"{machine['loadavg_at_start'][0]:g}-{machine['loadavg_at_end'][0]:g}")  # fmt: skip
    path = write_json(
        {"machine": machine, "seconds": args.seconds, "low_hz": args.low_hz,
         "callers": {n: ("room's voice, 5 steps higher" if n == HARD else CALLERS[n][1])
                     for n in args.callers},
         "cpu": cpu, "results": results},
        args.json, "stop_frontier_speaker",
    )  # fmt: skip
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
