"""The echo path's bulk delay and gain, from the envelopes of what was sent and heard.

:func:`estimate` takes two log-power envelopes on one timeline (10 ms steps): the reference
(the frames the gateway sent) and the microphone (the caller's frames, NaN where none was
measured). For every lag from 0 to ``max_lag`` it correlates the reference, shifted by the
lag, with the microphone (Pearson, over the steps measured while the reference was active
somewhere within ``max_lag`` before them). A line that returns the agent's voice shows one
clear peak at its delay: the echo rises and falls with the agent's syllables. Speech of the
caller's own, or a line's noise, correlates with no lag in particular.

The peak is *clear* when it is high enough for the evidence it stands on (:func:`needed`:
a short stretch of the agent's speech needs a higher correlation than a long one), stands
over the correlation at lags away from it (:data:`STANDS_OUT`), is met by the microphone's
rise at :data:`MIN_ONSETS` of the reference's syllable onsets, and the microphone follows
the reference's level at that delay within :data:`SPREAD_DB`: a caller who starts over the
agent's first words matches one onset at some small lag, not three, nor syllable by
syllable in level. The gain is the median ratio of the microphone's
power to the reference's at that delay, over the steps where the reference was loud: a
median, so the caller talking over part of the window does not raise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["ACTIVE_DB", "DECAYS", "EchoPath", "estimate", "fitted_decay", "needed", "weights"]

# an explicit alias: where numpy is not installed (the wheel's build) it is Any, still a type
Array: TypeAlias = npt.NDArray[np.float64]

ACTIVE_DB: Final = -50.0
"""A reference step this loud (dBFS) is the agent speaking."""
LOUD_DB: Final = 15.0
"""Steps within this much of the window's loudest reference count for the gain."""
MIN_ACTIVE: Final = 25
"""Active reference steps (10 ms) an estimate needs at least (250 ms of the agent's voice)."""
FAR: Final = 8
"""Lags (steps) this far or farther from the peak are "away from it"."""
STANDS_OUT: Final = 0.15
"""How far the peak's correlation must stand over the best one away from it."""
MIN_ONSETS: Final = 3
"""The agent's syllables (onsets after a gap) an estimate needs, each met by a rise of the
microphone at the delay, and at least half of them so met: a caller who starts with the
agent's first syllable matches it at some small lag once, not three times."""
RISE_DB: Final = 3.0
"""How much the microphone rises (dB) at an onset of the reference to meet it."""
ONSET_GAP: Final = 3
"""Quiet steps before an active one that make it an onset (30 ms)."""
SPREAD_DB: Final = 6.0
"""How far apart (dB, between the quartiles) the microphone's level may be from the
reference's at the delay, over the loud steps: an echo follows its reference within a few
dB; another voice, loud when the agent is, not."""
DECAYS: Final = (6.0, 3.0, 1.5, 0.6)
"""The tails a path may have (dB a step), the shortest first: a hybrid's echo ends with the
agent's syllable, a speakerphone's room rings on."""
LEAD_DB: Final = 3.0
"""How much less each step ahead of the delay counts in a prediction, at least (dB)."""
FIT_DB: Final = 1.5
"""The shortest tail that keeps 99% of the echo's frames within this of the prediction is
the path's (a frame within 2 dB of it is echo only: :mod:`sipgw.media.voice.echo`)."""


@dataclass(frozen=True, slots=True)
class EchoPath:
    """One estimate of the echo path.

    Attributes:
        lag: the bulk delay, in 10 ms steps.
        gain_db: the echo's level against the reference (dB, 0 = as loud).
        correlation: the peak's correlation.
        runner_up: the best correlation away from the peak.
        active: the active reference steps the estimate stands on.
        clear: the peak is clear enough to act on (module docstring).
        decay_db: how fast its tail fades (dB a step; :func:`fitted_decay`).
    """

    lag: int
    gain_db: float
    correlation: float
    runner_up: float
    active: int
    clear: bool
    decay_db: float = DECAYS[-1]


def needed(active: int) -> float:
    """The correlation a peak needs with ``active`` steps of the agent's voice behind it:
    0.9 on 250 ms, falling to 0.6 on 2.5 s and more."""
    return max(0.6, 0.5 + 0.4 * MIN_ACTIVE / max(active, 1))


def estimate(
    ref_db: Array, mic_db: Array, max_lag: int, *, measure_unclear: bool = True
) -> EchoPath | None:
    """The echo path from ``ref_db`` (``max_lag`` steps longer than ``mic_db``, ending at
    the same step) and ``mic_db`` (NaN: not measured); None without the evidence for one
    (too little of the agent's voice, or nothing measured).

    ``measure_unclear`` False: a peak the correlation alone rules out (too low for its
    evidence, or not standing out) comes back unclear without its gain measured (NaN) and
    without the spread and onsets read, which are most of an estimate's cost on a line with
    no echo (the guard reads only a clear path's gain); and a window whose microphone rises
    :data:`RISE_DB` at fewer than :data:`MIN_ONSETS` steps (a silent or steady line: no lag
    can meet that many onsets) comes back unclear at lag 0 without the correlation, on
    every row it would have stood on."""
    steps = len(mic_db)
    # Column l of row q is the reference l steps before the microphone's step q.
    shifted = np.lib.stride_tricks.sliding_window_view(ref_db, max_lag + 1)[:steps, ::-1]
    measured = ~np.isnan(mic_db)
    # Row q is active when any of reference steps q .. q + max_lag is (running counts).
    counts = np.concatenate(([0], np.cumsum(ref_db > ACTIVE_DB)))
    active_rows = (counts[max_lag + 1 : max_lag + 1 + steps] > counts[:steps]) & measured
    if int(active_rows.sum()) < MIN_ACTIVE:
        return None
    y = mic_db[active_rows]
    rises = _rises(y)
    if not measure_unclear and int(rises.sum()) < MIN_ONSETS:
        return EchoPath(0, float("nan"), 0.0, 0.0, int(active_rows.sum()), False)
    x = shifted[active_rows]
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    spread = np.sqrt((xc * xc).sum(axis=0) * float((yc * yc).sum()))
    corr = np.where(spread > 0, (xc.T @ yc) / np.maximum(spread, 1e-12), 0.0)
    lag = int(np.argmax(corr))
    peak = float(corr[lag])
    away = np.abs(np.arange(max_lag + 1) - lag) >= FAR
    runner_up = float(corr[away].max()) if away.any() else 0.0
    at_lag = x[:, lag]
    active = int((at_lag > ACTIVE_DB).sum())
    loud = at_lag > max(ACTIVE_DB, float(at_lag.max()) - LOUD_DB)
    if not loud.any():
        return None
    correlated = active >= MIN_ACTIVE and peak >= needed(active) and peak - runner_up >= STANDS_OUT
    if not correlated and not measure_unclear:
        return EchoPath(lag, float("nan"), peak, runner_up, active, False)
    residual = y[loud] - at_lag[loud]
    gain_db = float(np.median(residual))
    spread = float(np.subtract(*np.percentile(residual, [75, 25])))
    clear = correlated and spread <= SPREAD_DB and _matched_onsets(at_lag, rises) >= MIN_ONSETS
    return EchoPath(lag, gain_db, peak, runner_up, active, clear)


def weights(decay_db: float, tail: int, jitter: int, lead: int = 0) -> Array:
    """The prediction's weights (dB), oldest step first: ``tail`` steps fading by
    ``decay_db`` each, then the delay's frame and ``jitter`` steps either side of it, then
    ``lead`` steps fading by :data:`LEAD_DB` each at least (an echo whose first arrival
    comes before the correlation's peak: the peak of a speakerphone's reflections is later)."""
    fading = -decay_db * np.arange(tail, 0, -1, dtype=np.float64)
    ahead = -max(decay_db, LEAD_DB) * np.arange(1, lead + 1, dtype=np.float64)
    return np.concatenate([fading, np.zeros(2 * jitter + 2), ahead])


def fitted_decay(
    ref_db: Array,
    mic_db: Array,
    path: EchoPath,
    max_lag: int,
    tail: int,
    jitter: int,
    lead: int = 0,
) -> float:
    """The shortest tail of :data:`DECAYS` under whose prediction 99% of the echo's frames
    stay within :data:`FIT_DB` (the frames where the reference at the delay was active), or
    when that is not the shortest of all (the path rings), the next longer one; the longest
    when none does. The window is laid out as :func:`estimate`'s."""
    frames = len(mic_db) // 2
    mic = mic_db[: 2 * frames].reshape(frames, 2)
    measured = ~np.isnan(mic).any(axis=1)
    level = 10 * np.log10(np.mean(10 ** (np.nan_to_num(mic, nan=-100.0) / 10), axis=1))
    # The frame at steps 2f, 2f + 1 echoes reference steps up to 2f + 2 - lag + jitter + lead
    # (exclusive), at max_lag + that in ref_db.
    ends = max_lag + 2 * np.arange(frames) + 2 - path.lag + jitter + lead
    for decay in DECAYS:
        w = weights(decay, tail, jitter, lead)
        starts = ends - len(w)
        ok = measured & (starts >= 0) & (ends <= len(ref_db))
        if not ok.any():
            return DECAYS[-1]
        rows = np.lib.stride_tricks.sliding_window_view(ref_db, len(w))[starts[ok]]
        unit = (rows + w).max(axis=1)
        audible = unit > ACTIVE_DB
        if int(audible.sum()) < MIN_ACTIVE // 2:
            return DECAYS[-1]
        excess = level[ok][audible] - (path.gain_db + unit[audible])
        if float(np.percentile(excess, 99)) <= FIT_DB:
            if decay == DECAYS[0]:
                return decay
            # A ringing path: one step longer than the window shows (its loudest rings
            # may not be in it).
            return DECAYS[min(DECAYS.index(decay) + 1, len(DECAYS) - 1)]
    return DECAYS[-1]


def _matched_onsets(at_lag: Array, rises: npt.NDArray[np.bool_]) -> int:
    """The reference's onsets (a step within :data:`LOUD_DB` of the window's loudest after
    :data:`ONSET_GAP` steps under it) that the microphone meets, rising by :data:`RISE_DB`
    over the quietest of those steps (``rises``: :func:`_rises` of the microphone); 0 when
    fewer than half of them are met."""
    gap = ONSET_GAP
    if len(at_lag) <= gap:
        return 0
    on = at_lag > float(at_lag.max()) - LOUD_DB
    quiet_before = np.ones(len(on) - gap, dtype=bool)
    for k in range(1, gap + 1):
        quiet_before &= ~on[gap - k : len(on) - k]
    onsets = on[gap:] & quiet_before
    total = int(onsets.sum())
    met = int((onsets & rises).sum())
    return met if 2 * met >= total else 0


def _rises(mic: Array) -> npt.NDArray[np.bool_]:
    """Each step after the first :data:`ONSET_GAP`: the microphone rose :data:`RISE_DB` over
    the quietest of the steps before it (the rise that meets an onset)."""
    gap = ONSET_GAP
    if len(mic) <= gap:
        return np.zeros(0, dtype=bool)
    lowest = np.full(len(mic) - gap, np.inf)
    for k in range(1, gap + 1):
        lowest = np.fmin(lowest, mic[gap - k : len(mic) - k])
    rises: npt.NDArray[np.bool_] = (mic[gap:] - lowest) >= RISE_DB
    return rises
