"""A fax machine's answer tone (CED), sans-IO: one frame at a time, the tone once it is sure.

A fax machine that answers sends CED, 2100 Hz ± 15 Hz for 2.6 to 4.0 s (ITU-T T.30 §5.2,
the V.25 answer tone; a V.34 modem's ANSam is the same tone, amplitude-modulated at 15 Hz,
with a phase reversal every 450 ms), before its V.21 preamble. The calling side's CNG (1100
Hz, 0.5 s every 3 s) is the caller's tone, not the callee's, and too close to a voicemail
beep's to be told apart by frequency alone: it is not looked for.

:class:`FaxToneDetector` takes each frame's single-sine measurement
(:func:`~sipgw.media.tones.beep.measure_tone`) and reports :class:`FaxToneDetected` once 2100 Hz has
sounded ``min_seconds`` with at most ``max_gap_frames`` frames in a row without it (a phase
reversal, a lost packet). A voicemail beep lasts at most 1.5 s and is rarely at 2100 Hz; a
second of it is taken for a fax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sipgw.media.tones.beep import FRAME_SECONDS, ToneMeasurement, measure_tone

__all__ = ["CED_HZ", "FaxToneConfig", "FaxToneDetected", "FaxToneDetector"]

CED_HZ: Final = 2100.0
"""The answer tone's frequency (ITU-T V.25)."""


@dataclass(frozen=True, slots=True)
class FaxToneConfig:
    """What counts as CED.

    Attributes:
        min_seconds: how long it must have sounded (frames at its frequency, gaps bridged).
        tolerance_hz: how far from 2100 Hz a frame may measure (V.25 allows ± 15 Hz; the
            measurement's own error is a few hertz).
        min_share: share of a frame's energy the sine must carry.
        min_level_dbfs: quieter frames are not the tone.
        max_gap_frames: frames in a row without it that do not end it.
    """

    min_seconds: float = 1.0
    tolerance_hz: float = 25.0
    min_share: float = 0.6
    min_level_dbfs: float = -45.0
    max_gap_frames: int = 3


@dataclass(frozen=True, slots=True)
class FaxToneDetected:
    """CED has sounded ``min_seconds`` (reported once, while it still sounds)."""

    start: float
    at: float
    frequency_hz: float


class FaxToneDetector:
    """Feed every frame with :meth:`receive_frame` (or its measurement with
    :meth:`receive_tone`); it returns :class:`FaxToneDetected` once."""

    __slots__ = ("_config", "_gap", "_hz", "_start", "detected")

    def __init__(self, config: FaxToneConfig | None = None) -> None:
        self._config = config or FaxToneConfig()
        self._start: float | None = None
        self._gap = 0
        self._hz: list[float] = []
        self.detected: FaxToneDetected | None = None
        """The tone, once reported."""

    def receive_frame(self, frame: bytes | None, now: float) -> FaxToneDetected | None:
        """The 20 ms of μ-law that end at ``now`` (None: nothing received)."""
        if self.detected is not None:
            return None
        return self.receive_tone(measure_tone(frame) if frame else None, now)

    def receive_tone(self, tone: ToneMeasurement | None, now: float) -> FaxToneDetected | None:
        """One frame's measurement (None: silence), ending at ``now``."""
        if self.detected is not None:
            return None
        config = self._config
        if (
            tone is not None
            and abs(tone.frequency_hz - CED_HZ) <= config.tolerance_hz
            and tone.share >= config.min_share
            and tone.level_dbfs >= config.min_level_dbfs
        ):
            if self._start is None:
                self._start = now - FRAME_SECONDS
            self._gap = 0
            self._hz.append(tone.frequency_hz)
            if now - self._start + 1e-9 >= config.min_seconds:
                hz = sum(self._hz) / len(self._hz)
                self.detected = FaxToneDetected(self._start, now, hz)
                return self.detected
            return None
        if self._start is not None:
            self._gap += 1
            if self._gap > config.max_gap_frames:
                self._start, self._gap, self._hz = None, 0, []
        return None
