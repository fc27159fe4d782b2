"""How soon any level rule could stop the agent for a caller over a room, at a given cost.

A detector that pauses the agent on a frame's level must pause on every room frame as
loud, too. So the first frame of a caller's sentence (from its onset) louder than the
room's ``q``-th percentile frame is the earliest pause of any level rule that pauses on
at most ``100 - q`` % of the room's frames (at ``q`` = 99: one frame in a hundred, about
30 pauses a minute with the agent talking over the room: far more than any usable
detector). The stop that pause gives is a floor for every level rule at that cost;
:mod:`bench.noise` reports it beside the detector's own stop.

The room's frames are those of the same background at the same level with no caller
(the levels of 20 ms μ-law frames, dBFS); the sentence's frames are the caller over it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sipgw.media import g711
from sipgw.media.voice.vad import SILENT_DBFS

__all__ = ["frame_levels", "level_at_percentile", "room_bound_pause"]

FRAME_S = 0.02


def frame_levels(frames: Sequence[bytes]) -> list[float]:
    """Each μ-law frame's level, dBFS (silence: :data:`~sipgw.media.voice.vad.SILENT_DBFS`)."""
    return [max(g711.rms_dbfs(frame), SILENT_DBFS) for frame in frames]


def level_at_percentile(levels: Sequence[float], q: float) -> float:
    """The level ``q`` % of ``levels`` are under (nearest rank)."""
    ranked = sorted(levels)
    return ranked[min(len(ranked) - 1, int(len(ranked) * q / 100))]


def room_bound_pause(
    levels: Sequence[float], threshold: float, onset: float, end: float, at: Callable[[int], float]
) -> float | None:
    """The arrival (``at(i)``: frame ``i``'s arrival, s) of the first frame from ``onset`` to
    ``end`` (s, on the same clock as ``at``) at least ``threshold`` loud; None if none is."""
    i = 0
    while i < len(levels) and at(i) < onset + FRAME_S / 2:
        i += 1  # the frames that end by the onset hold none of it
    while i < len(levels) and at(i) - FRAME_S < end:
        if levels[i] >= threshold:
            return at(i)
        i += 1
    return None
