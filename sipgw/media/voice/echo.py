"""The agent's own voice returned in the caller's audio (line echo), sans-IO.

Phones and PBXs send back part of what they are sent: a speakerphone some 12 dB down and
120 ms late with its reflections, a 2-wire hybrid or a loud handset some 6 dB down and 40 ms
late; in general 0-30 dB down and 10-300 ms late, with a tail, the delay drifting. Heard as
the caller, that echo pauses and cuts off the agent, becomes turns, and teaches the voice
detector a room that is not there. :class:`EchoGuard` tells it apart.

Theory of operation
-------------------
The guard is fed two streams on one timeline counted in frames: :meth:`EchoGuard.sent`
with each frame the gateway sent the caller (the *reference*: the agent's voice, or None
for silence), one per tick, and :meth:`EchoGuard.heard` with each frame received from the
caller, in order; a frame heard is placed at the reference frame sent last. No clock: the
frames are the time. Each frame's power is kept per 10 ms step, the last
:data:`HISTORY` steps of each.

*The path*: every :data:`LOOK_FRAMES` while it has none (less often, up to
:data:`SEARCH_FRAMES`, while the evidence shows no echo), every :data:`RELOOK_FRAMES` once it
has one, the guard correlates the two envelopes over the last :data:`WINDOW` steps at lags
up to :data:`MAX_LAG` (:mod:`sipgw.media.voice.echo_path`): a clear peak gives the bulk delay,
and the gain at it. Re-estimated so, a drifting delay is followed. Until a clear peak has
been seen the guard flags nothing at all: a caller who starts talking at the agent's first
words, or over it on a line that has given no evidence of echo, is never muted. A path
whose echo is gone (the echo at its delay :data:`GONE_DB` under the path's gain, twice in a
row) is dropped.

*A frame*: with a path, a frame heard is *echo only* when its power is no more than
:data:`MARGIN_DB` over the echo the path predicts: the reference's power at the delay times
the gain, the loudest over the few steps around the delay (:data:`JITTER`: the arrival's
jitter), and, a little less each step, over :data:`LEAD` steps after it (a speakerphone's
first arrival comes before the peak its reflections make) and :data:`TAIL` steps before it
(the reflections and the room's reverberation, fading as fast as the path's fitted
``decay_db``), and never under the line's floor. A frame clearly over the prediction
(:data:`TALK_DB`) right after one over it is the caller talking over the echo: it and the
frames for :data:`TALK_HANG` after the last such pass untouched (double talk: the caller's
syllables dip under the echo between their peaks).

*Found late*: what the caller's side sounded in the agent's speech before the path was
found passed as the caller's. When the path, once found, says all of it was echo,
:meth:`EchoGuard.take_retraction` says so, once: the turn it may have started is not the
caller's (:mod:`sipgw.agent.turns.room`).

*Cost*: nothing is measured while the reference has been silent for the delay and the tail
(the agent is quiet), nor before the agent has spoken; each frame heard while it speaks
costs two power readings and, with a path, one short vectorised maximum. An estimate over a
window in which the caller's side never rose (a silent line, a steady hum) skips the
correlation: no echo can be found there.

:meth:`EchoGuard.comfort_noise` is a frame of noise at the line's floor (the quietest the
caller's frames have been lately), what the detectors and speech-to-text hear instead of an
echo-only frame.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Final

import numpy as np

from sipgw.media import g711
from sipgw.media.voice.echo_path import (
    ACTIVE_DB,
    MIN_ACTIVE,
    EchoPath,
    estimate,
    fitted_decay,
    weights,
)

__all__ = [
    "HISTORY",
    "LOOK_FRAMES",
    "MARGIN_DB",
    "MAX_LAG",
    "RELOOK_FRAMES",
    "SEARCH_FRAMES",
    "TAIL",
    "TALK_DB",
    "TALK_HANG",
    "WINDOW",
    "EchoGuard",
]

HISTORY: Final = 1024
"""Steps (10 ms) of each stream kept."""
WINDOW: Final = 300
"""Steps (3 s) an estimate of the path looks back over."""
MAX_LAG: Final = 60
"""The longest delay looked for (steps: 600 ms)."""
LOOK_FRAMES: Final = 5
"""Frames heard (while the agent speaks) between estimates until a path is found (100 ms)."""
RELOOK_FRAMES: Final = 100
"""Frames heard between estimates once it is (2 s): a drifting delay is followed."""
FULL_EVIDENCE: Final = 4 * MIN_ACTIVE
"""Active reference steps (1 s) past which a peak is asked no lower a correlation
(:func:`~sipgw.media.voice.echo_path.needed`)."""
SEARCH_FRAMES: Final = 50
"""The longest wait between estimates while none has found a path on full evidence
(:data:`FULL_EVIDENCE`; 1 s of the agent's active voice, in one estimate's window or, short
replies each holding less, over the estimates since the wait last grew): each time, the wait
doubles from :data:`LOOK_FRAMES`. A line with no echo then costs an estimate a second of the
agent's voice (about 100 µs: a peak its correlation rules out is not measured further), not
ten; one whose echo shows later (a phone put on speaker) is found within a second of when it
would have been."""
MARGIN_DB: Final = 2.0
"""A frame no more than this over the predicted echo is echo only."""
TALK_DB: Final = 5.0
"""A frame this far over the predicted echo is the caller talking over it."""
TALK_HANG: Final = 10
"""Frames that pass untouched after one clearly over the echo (200 ms)."""
JITTER: Final = 1
"""Steps either side of the delay the prediction takes the loudest of (the frames'
arrival against the ticks varies)."""
LEAD: Final = 4
"""Steps ahead of the delay the prediction covers, each a little less (the first arrival of
a speakerphone's echo comes before the peak its reflections make)."""
TAIL: Final = 25
"""Steps before the delay (250 ms of reflections and reverberation) the prediction covers,
each a little less (the path's ``decay_db``, fitted to the echo heard)."""
GONE_DB: Final = 12.0
"""An estimate whose gain is this far under the path's says the echo is gone."""
SOUNDING_DB: Final = 10.0
"""A frame this far over the line's floor sounded (for :meth:`EchoGuard.take_retraction`)."""
FLOOR_DB: Final = -70.0
"""Levels are read no lower than this (dBFS): digital silence and a quiet line alike."""
FLOOR_RISE_DB: Final = 0.05
"""The line's floor rises by this each frame heard over it (2.5 dB/s), and falls at once."""
_FULL_SCALE: Final = 32767.0 * 32767.0
_STEP: Final = 2  # steps a frame


def _db(mean_square: int) -> float:
    """A power (mean square of 16-bit samples) in dBFS, no lower than :data:`FLOOR_DB`."""
    if mean_square <= 0:
        return FLOOR_DB
    return max(FLOOR_DB, 10.0 * math.log10(mean_square / _FULL_SCALE))


def _noise(seed: int) -> bytes:
    """A 20 ms frame of white noise at -30 dBFS, 16-bit samples."""
    rng = np.random.default_rng(seed)
    samples = rng.standard_normal(160) * (32767.0 * 10 ** (-30 / 20))
    frame: bytes = np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()
    return frame


_NOISE: Final = tuple(_noise(seed) for seed in range(4))


class EchoGuard:
    """One call's echo guard; see the module docstring.

    Args:
        linear_reference: the frames :meth:`sent` takes are 16-bit samples (the agent's
            format on an HD-voice call) rather than μ-law.

    Attributes:
        path: the echo path it acts on, None until one is clear.
        flagged: frames heard so far that were echo only.
    """

    __slots__ = (
        "_active_at", "_floor_db", "_heard_since", "_linear", "_mic", "_misses", "_next_look",
        "_noise_index", "_noise_cache", "_over", "_ref", "_ref_pos", "_retract", "_talk",
        "_weights", "flagged", "path", "_active_steps", "_looked_active", "_evidence",
    )  # fmt: skip

    def __init__(self, linear_reference: bool = False) -> None:
        self._linear = linear_reference
        # Each stream twice over, so every window is one slice: step i at i % H and i % H + H.
        self._ref = np.full(2 * HISTORY, FLOOR_DB)
        self._mic = np.full(2 * HISTORY, np.nan)
        self._ref_pos = 0  # steps of the reference so far
        self._active_at = -(10**9)  # the last step the reference was active
        self._heard_since = 0  # frames measured since the last estimate
        self._next_look = LOOK_FRAMES
        self._misses = 0  # estimates in a row that said the echo is gone
        self._active_steps = 0  # the reference's active steps so far
        self._looked_active = 0  # ... at the latest estimate
        self._evidence = 0  # active steps estimates found no path over, since the wait grew
        self._talk = 0  # frames left of the caller's double talk
        self._over = False  # the last frame heard was over the echo
        self._retract = False  # the path just found says what was heard before was echo
        self._floor_db: float | None = None
        self._noise_index = 0
        self._noise_cache: tuple[float, tuple[bytes, ...]] | None = None
        self.path: EchoPath | None = None
        self._weights = weights(0.0, TAIL, JITTER, LEAD)  # the path's
        self.flagged = 0

    # -- the two streams

    def sent(self, frame: bytes | None) -> None:
        """The frame the gateway sent the caller this tick (None: silence)."""
        pos = self._ref_pos
        self._ref_pos = pos + _STEP
        i = pos % HISTORY
        ref, mic = self._ref, self._mic
        if not frame:
            ref[i] = ref[i + 1] = ref[i + HISTORY] = ref[i + HISTORY + 1] = FLOOR_DB
        else:
            pcm = frame if self._linear else g711.ulaw_to_linear(frame)
            half = len(pcm) // 2
            first = _db(g711.mean_square(pcm[:half]))
            second = _db(g711.mean_square(pcm[half:]))
            ref[i] = ref[i + HISTORY] = first
            ref[i + 1] = ref[i + 1 + HISTORY] = second
            if max(first, second) > ACTIVE_DB:
                self._active_at = pos + 1
                self._active_steps += (first > ACTIVE_DB) + (second > ACTIVE_DB)
        mic[i] = mic[i + 1] = mic[i + HISTORY] = mic[i + HISTORY + 1] = np.nan

    def heard(self, frame: bytes) -> bool:
        """The caller's next frame (20 ms of μ-law): whether it is echo only."""
        pos = self._ref_pos - _STEP  # the steps of the frame sent last
        path = self.path
        reach = MAX_LAG + TAIL + JITTER if path is None else path.lag + TAIL + JITTER
        if pos < 0 or pos - self._active_at > reach:
            self._talk = 0
            return False  # the agent has been quiet for longer than its echo lasts
        pcm = g711.ulaw_to_linear(frame)
        first = _db(g711.mean_square(pcm[:160]))
        second = _db(g711.mean_square(pcm[160:]))
        i = pos % HISTORY
        mic = self._mic
        mic[i] = mic[i + HISTORY] = first
        mic[i + 1] = mic[i + 1 + HISTORY] = second
        level = 10.0 * math.log10((10 ** (first / 10) + 10 ** (second / 10)) / 2)
        floor = self._floor_db
        self._floor_db = floor = level if floor is None else min(floor + FLOOR_RISE_DB, level)
        self._heard_since += 1
        if self._heard_since >= self._next_look:
            self._look(pos + _STEP)
            path = self.path
        if path is None:
            return False
        # The line's own noise is no talk: nothing quieter than the floor is predicted.
        predicted = max(self._predicted(pos, path), floor)
        if self._talk > 0:  # double talk: every frame passes
            self._talk = TALK_HANG if level > predicted + TALK_DB else self._talk - 1
            return False
        over = level > predicted + MARGIN_DB
        if self._over and level > predicted + TALK_DB:  # not one frame alone: the echo's
            self._talk = TALK_HANG  # early edge may be that
        self._over = over
        if over:
            return False
        self.flagged += 1
        return True

    # -- the path

    def _predicted(self, pos: int, path: EchoPath) -> float:
        """The echo's predicted level (dBFS) in the frame heard at steps ``pos``, ``pos + 1``."""
        w = self._weights
        # The oldest step it may echo (before the call's first: the ring's silence).
        start = pos + _STEP - path.lag + JITTER + LEAD - len(w)
        n = min(len(w), self._ref_pos - start)  # not past the reference sent so far
        s = start % HISTORY
        return path.gain_db + float((self._ref[s : s + n] + w[:n]).max())

    def _look(self, end: int) -> None:
        """Estimate the path over the window ending before step ``end``."""
        self._heard_since = 0
        new = self._active_steps - self._looked_active  # the agent's voice since the last
        self._looked_active = self._active_steps
        # The call's first seconds: what there is (the reference before it: silence).
        window = min(WINDOW, end)
        if window < MIN_ACTIVE or end > HISTORY - MAX_LAG and end < HISTORY:
            return
        start = end - window
        s = start % HISTORY
        mic = self._mic[s : s + window]
        r = (start - MAX_LAG) % HISTORY
        ref = self._ref[r : r + window + MAX_LAG]
        found = estimate(ref, mic, MAX_LAG, measure_unclear=False)
        path = self.path
        if found is None:
            return
        if found.clear:
            decay = fitted_decay(ref, mic, found, MAX_LAG, TAIL, JITTER, LEAD)
            self.path = dataclasses.replace(found, decay_db=decay)
            self._weights = weights(decay, TAIL, JITTER, LEAD)
            if path is None:
                self._retract = self._all_echo(end - window, end, self.path)
            self._misses = 0
            self._evidence = 0
            self._next_look = RELOOK_FRAMES
        elif path is None:
            # No clear peak on all the evidence a peak is ever asked for, in this window or
            # over the replies looked at since the wait last grew (each shorter than it).
            self._evidence += new
            if found.active >= FULL_EVIDENCE or self._evidence >= FULL_EVIDENCE:
                self._evidence = 0
                self._next_look = min(SEARCH_FRAMES, 2 * self._next_look)
        elif found.active >= 4 * LOOK_FRAMES * _STEP:
            at_path = estimate_gain(ref, mic, path.lag)
            if at_path is not None and at_path < path.gain_db - GONE_DB:
                self._misses += 1
                if self._misses >= 2:  # the echo is gone (the phone off speaker)
                    self.path = None
                    self._misses = self._evidence = 0
                    self._next_look = LOOK_FRAMES

    def _all_echo(self, start: int, end: int, path: EchoPath) -> bool:
        """Whether every frame that sounded (:data:`SOUNDING_DB` over the floor) from step
        ``start`` to ``end`` was echo only by ``path`` (at least one did)."""
        mic, floor = self._mic, self._floor_db or FLOOR_DB
        sounded = False
        for pos in range(start - start % _STEP, end - _STEP + 1, _STEP):
            i = pos % HISTORY
            first, second = float(mic[i]), float(mic[i + 1])
            if math.isnan(first) or math.isnan(second):
                continue
            level = 10.0 * math.log10((10 ** (first / 10) + 10 ** (second / 10)) / 2)
            if level <= floor + SOUNDING_DB:
                continue
            if level > self._predicted(pos, path) + MARGIN_DB:
                return False
            sounded = True
        return sounded

    def take_retraction(self) -> bool:
        """Once, right after the path was found: everything the caller's side sounded
        before it, in the agent's current speech, was its echo (the detectors and
        speech-to-text heard it as the caller: what they made of it is not the caller's)."""
        retract, self._retract = self._retract, False
        return retract

    # -- what is heard instead

    def comfort_noise(self) -> bytes:
        """20 ms of μ-law noise at the line's floor (a new one each call, of four)."""
        level = round(self._floor_db if self._floor_db is not None else FLOOR_DB)
        level = max(-80, min(-40, level))
        cache = self._noise_cache
        if cache is None or cache[0] != level:
            quieter = -30.0 - level
            frames = tuple(g711.linear_to_ulaw(g711.softer(pcm, quieter, True)) for pcm in _NOISE)
            cache = self._noise_cache = (level, frames)
        self._noise_index = (self._noise_index + 1) % len(_NOISE)
        return cache[1][self._noise_index]


def estimate_gain(ref_db: np.ndarray, mic_db: np.ndarray, lag: int) -> float | None:
    """The echo's gain (dB) at ``lag`` over the window (as :func:`estimate` lays it out):
    the median over the steps where the reference was loud and the microphone measured."""
    at_lag = ref_db[MAX_LAG - lag : MAX_LAG - lag + len(mic_db)]
    loud = (at_lag > ACTIVE_DB) & ~np.isnan(mic_db)
    if not loud.any():
        return None
    return float(np.median(mic_db[loud] - at_lag[loud]))
