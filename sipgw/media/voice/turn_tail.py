"""The caller's latest audio, kept for the turn model and measured ahead, sans-IO.

Theory of operation
-------------------
:mod:`sipgw.media.voice.turn_model` judges a pause from the 1.2 s of speech before it. Asked
from scratch, that costs about 10 ms of CPU, nearly all of it the pitch tracker's 59
windows: too long for the frame that decides, where it would delay the end of the turn
and every call's audio on the same loop. :class:`TurnTail` keeps the call's last
:data:`TAIL_FRAMES` frames (1.6 s of μ-law, 160 bytes each) and measures the pitch a
window at a time, each window once (its F0 depends on its own 257 samples only, so a
window measured at one pause serves the next): :meth:`TurnTail.prepare`, called on the
quiet frames before the decision, measures the windows the decision will read, spread
evenly over them; :meth:`TurnTail.probability` then measures only what is left (usually
nothing) and the cheap rest (levels, the pause's level, the regression).

The result is exactly :func:`~sipgw.media.voice.turn_model.audio_features` of the same audio
(the windows line up with the track's: frames start on even samples); the tests hold it
to that.

Frames are counted, not timed: frame ``n`` is the ``n``-th pushed, and a decision at
``pause_frames`` quiet frames reads the speech that ended ``pause_frames`` ago.
"""

from __future__ import annotations

import array
import itertools
import sys
from collections import deque
from typing import Final

from sipgw.media.g711 import ulaw_to_linear
from sipgw.media.voice.turn_model import (
    RATE,
    TurnModel,
    audio_features,
    default_model,
    speech_span,
    track_windows,
    window_pitch,
)

__all__ = ["FRAME_SAMPLES", "TAIL_FRAMES", "TurnTail"]

FRAME_SAMPLES: Final = 160
"""Samples in one 20 ms frame at 8 kHz."""
TAIL_FRAMES: Final = 80
"""Frames kept: 1.6 s, the model's 1.2 s of speech and a pause of up to 400 ms."""
_BIG_ENDIAN: Final = sys.byteorder == "big"


def _decode(ulaw: bytes) -> list[int]:
    samples = array.array("h", ulaw_to_linear(ulaw))
    if _BIG_ENDIAN:
        samples.byteswap()  # ulaw_to_linear gives little-endian samples
    return samples.tolist()


class TurnTail:
    """One call's recent audio and its pitch, measured ahead; see the module docstring.

    Args:
        model: the weights; the shipped ones by default.
        frames: how many 20 ms frames are kept.
    """

    __slots__ = ("_count", "_frames", "_pitch", "model")

    def __init__(self, model: TurnModel | None = None, frames: int = TAIL_FRAMES) -> None:
        self.model = model if model is not None else default_model()
        self._frames: deque[bytes] = deque(maxlen=frames)
        self._count = 0  # frames pushed since the call began
        self._pitch: dict[int, float | None] = {}  # window at frame n -> F0 (Hz) or None

    @property
    def frames(self) -> int:
        """Frames held now."""
        return len(self._frames)

    @property
    def measured(self) -> int:
        """Pitch windows measured and still held (for tests and figures)."""
        return len(self._pitch)

    def push(self, ulaw: bytes) -> None:
        """The call's next 20 ms frame (160 μ-law bytes)."""
        frames = self._frames
        if len(frames) == frames.maxlen:
            self._pitch.pop(self._count - len(frames), None)  # its window leaves with it
        frames.append(ulaw)
        self._count += 1

    def _span(self, pause_frames: int) -> tuple[int, int]:
        """The speech (first frame, end frame), absolute, of a decision at ``pause_frames``."""
        held = len(self._frames)
        start, end = speech_span(held * FRAME_SAMPLES, pause_frames * FRAME_SAMPLES / RATE)
        first = self._count - held
        return first + start // FRAME_SAMPLES, first + end // FRAME_SAMPLES

    def _missing(self, pause_frames: int) -> list[int]:
        """The windows (by their first frame) that a decision at ``pause_frames`` reads and
        that are not measured yet."""
        start, end = self._span(pause_frames)
        windows = track_windows((end - start) * FRAME_SAMPLES)
        return [n for n in range(start, start + windows) if n not in self._pitch]

    def _measure(self, windows: list[int]) -> None:
        first = self._count - len(self._frames)
        frames = self._frames
        pitch = self._pitch
        for n in windows:
            # a window reads 257 samples from its frame's first: that frame and the next
            pitch[n] = window_pitch(_decode(frames[n - first] + frames[n - first + 1]), 0)

    def prepare(self, pause_frames: int, frames_left: int) -> int:
        """Measure part of what a decision at ``pause_frames`` (the caller is quiet for that
        many frames now) will read, ``frames_left`` frames from now: an even share of the
        windows missing. Returns how many were measured."""
        missing = self._missing(pause_frames)
        if not missing:
            return 0
        share = -(-len(missing) // max(1, frames_left))  # ceil
        self._measure(missing[:share])
        return share

    def probability(self, pause_frames: int, words: str | None = None) -> float:
        """The model's probability that the turn is finished, the caller quiet for the last
        ``pause_frames`` frames; ``words``: the turn's latest partial transcript."""
        return self.model.probability(self.features(pause_frames), words)

    def features(self, pause_frames: int) -> list[float]:
        """:func:`~sipgw.media.voice.turn_model.audio_features` of a decision at ``pause_frames``
        (kept, a later partial's words are weighed against the same audio at no cost:
        :meth:`TurnModel.probability <sipgw.media.voice.turn_model.TurnModel.probability>`)."""
        self._measure(self._missing(pause_frames))
        start, end = self._span(pause_frames)
        first = self._count - len(self._frames)
        # from the speech's first frame on: audio_features finds the same span in it
        samples = _decode(b"".join(itertools.islice(self._frames, start - first, None)))
        windows = track_windows((end - start) * FRAME_SAMPLES)
        track = [self._pitch[n] for n in range(start, start + windows)]
        pause_seconds = pause_frames * FRAME_SAMPLES / RATE
        return audio_features(samples, pause_seconds, track)

    def finished(self, pause_frames: int, words: str | None = None) -> bool:
        """Whether the model says the turn is over (:meth:`probability` over its
        threshold, with or without ``words``)."""
        probability = self.probability(pause_frames, words)
        return self.model.finished(probability, bool(words and words.strip()))
