"""The loudest the room gets under the agent's audio: over it, a frame is the caller's.

While the agent's audio plays the caller listens, so what the line carries then is the
room (voices, a TV, music, street noise, the agent's own residual echo), whatever it is.
:class:`RoomLoudness` keeps the levels of those frames, every one, over the agent's last
:data:`WINDOW_FRAMES` of audio, and says how loud the loudest of them are: their
:data:`QUANTILE` level plus :data:`MARGIN_DB`. A frame over that is louder than all
but the room's loudest half percent by a margin: the caller at the mouthpiece starting to
speak, tens of milliseconds before their voice reaches their own level (a soft first
consonant), which is what the caller-level gate waits for.

A frame counts only :data:`LAG_FRAMES` (300 ms) after it was heard, and only if no speech
started meanwhile (:meth:`RoomLoudness.hear` with ``listening`` false drops the frames
not yet counted): the caller's first frames over the agent, before their speech starts,
are theirs, not the room's. Speech the detector never starts on (a caller talking softly
under the agent) counts: the gate only rises with it. Frames under ``floor_dbfs`` (the
model detector's quiet level: ``min_level_dbfs`` less 10 dB, -50 dBFS by default) do not
count: a quiet room has no gate (its caller-level gate suffices there), and a room heard
silent under the greeting that starts talking later is learned from its first
:data:`MIN_FRAMES` of sound, not measured against the silence (its first words would all
be louder than that).

Sans-IO: one call per 20 ms frame, in order; no clock.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from typing import Final

__all__ = ["LAG_FRAMES", "MARGIN_DB", "MIN_FRAMES", "QUANTILE", "WINDOW_FRAMES", "RoomLoudness"]

WINDOW_FRAMES: Final = 500
"""The agent's latest audio (frames: 10 s) whose room frames count."""
MIN_FRAMES: Final = 100
"""Room frames (2 s of sound) needed before there is a gate."""
LAG_FRAMES: Final = 15
"""Frames (300 ms of sound) a frame waits before it counts; a speech start meanwhile drops
it."""
QUANTILE: Final = 0.995
"""The room's loudest frames: the level this share of them is under."""
MARGIN_DB: Final = 2.0
"""How far over the room's :data:`QUANTILE` level a frame must be to be over the room.
Measured on bench.noise's backgrounds (café babble, a TV, street, music at 5-20 dB under
the caller): a single frame over the 99.5th percentile + 2 dB came 0 times a minute on
the room alone at 10 and 20 dB."""


class RoomLoudness:
    """Per frame: :meth:`hear` its level; :attr:`gate` is the room's loudest + margin."""

    __slots__ = ("_pending", "_ranked", "_window", "floor_dbfs", "gate")

    def __init__(self, floor_dbfs: float) -> None:
        self.floor_dbfs = floor_dbfs
        """Frames quieter than this do not count."""
        self._pending: deque[float] = deque()
        self._window: deque[float] = deque()
        self._ranked: list[float] = []  # the window's levels, sorted
        self.gate: float | None = None
        """The level over which a frame is louder than the room (None: not learned yet)."""

    def hear(self, level: float, listening: bool) -> None:
        """A frame's level (dBFS); ``listening``: the agent's audio plays and no speech is
        under way (false drops the frames not counted yet: they may be the speech's)."""
        pending = self._pending
        if not listening:
            pending.clear()
            return
        if level < self.floor_dbfs:
            return
        pending.append(level)
        if len(pending) <= LAG_FRAMES:
            return
        counted = pending.popleft()
        window, ranked = self._window, self._ranked
        window.append(counted)
        insort(ranked, counted)
        if len(window) > WINDOW_FRAMES:
            del ranked[bisect_left(ranked, window.popleft())]
        if len(ranked) >= MIN_FRAMES:
            self.gate = ranked[int(len(ranked) * QUANTILE)] + MARGIN_DB

    def over(self, level: float) -> bool:
        """Whether a frame this loud is louder than the room (False while not learned)."""
        gate = self.gate
        return gate is not None and level >= gate
