"""The callee's speech as stretches and greetings, frame by frame (sans-IO).

A *stretch* is speech with pauses shorter than ``human_silence`` (its length runs from its
first voiced frame to its last, pauses included); a *greeting* is stretches with pauses
shorter than ``greeting_gap`` (its length is its stretches'). Speech begins after ``onset``
of voiced frames in a row. :class:`sipgw.agent.amd.classifier.AnswerClassifier` judges what
these lengths mean; this module only measures them. Nothing reads a clock: each frame comes
with the time its audio ends.
"""

from __future__ import annotations

from typing import Final

from sipgw.agent.amd.settings import AmdConfig

__all__ = ["EPSILON", "FRAME", "Cadence"]

FRAME: Final = 0.02
"""One frame of the callee's audio, in seconds."""

EPSILON: Final = 1e-6
"""Frame times are sums of 0.02: compare them with this slack."""


class Cadence:
    """One answered call's stretches and greetings.

    Attributes:
        in_speech: in a stretch (it has begun and not ended).
        last_voice: end of the last voiced frame of speech (None before any).
        stretch_start: when the current stretch began.
        greeting_before: length of the current greeting's finished stretches.
    """

    def __init__(self, config: AmdConfig) -> None:
        self.config = config
        self.onset_frames = max(1, round(config.onset / FRAME))
        self.run = 0  # voiced frames in a row
        self.in_speech = False
        self.stretch_start = 0.0
        self.greeting_before = 0.0
        self.last_voice: float | None = None

    def voiced(self, now: float) -> bool:
        """A voiced frame ending at ``now``; True if it began a new greeting."""
        self.run += 1
        if self.in_speech:
            self.last_voice = now
            return False
        if self.run < self.onset_frames:
            return False
        self.in_speech = True
        onset = now - self.run * FRAME
        new = self.last_voice is None or onset - self.last_voice >= self.config.greeting_gap
        if new:
            self.greeting_before = 0.0
        self.stretch_start = onset
        self.last_voice = now
        return new

    def unvoiced(self, now: float) -> float | None:
        """A frame without voice ending at ``now``: the greeting's length if it ended the
        stretch (``human_silence`` after its last voiced frame), else None."""
        self.run = 0
        if (
            self.in_speech
            and self.last_voice is not None
            and now - self.last_voice + EPSILON >= self.config.human_silence
        ):
            length = self.greeting_length()
            self.greeting_before = length
            self.in_speech = False
            return length
        return None

    def greeting_length(self) -> float:
        """The current greeting's stretches, the one going on included."""
        if not self.in_speech or self.last_voice is None:
            return self.greeting_before
        return self.greeting_before + self.last_voice - self.stretch_start
