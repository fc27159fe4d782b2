"""Voice activity detection on μ-law frames, sans-IO.

An energy detector with an adaptive noise floor: a 20 ms frame is *loud* when
its level exceeds both an absolute floor and the noise estimate by a margin.
Speech *starts* after ``start_frames`` loud frames in a row (so clicks and
single noisy frames don't count) and *ends* after ``hangover_frames`` quiet
ones.

The noise estimate is the minimum frame level over a sliding window (kept as
per-block minima), so stationary noise (fans, line hiss) becomes the floor
within one window even when it is there from the first frame, while speech,
which always has quieter gaps, does not. The first ``calibration_ms`` of a
call only feed the estimate: speech cannot start before the line is known.

The detector counts frames, not seconds; the caller feeds one frame per
20 ms tick, so frame counts are time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum

from media import g711

__all__ = ["VadConfig", "VadEvent", "VoiceActivityDetector"]

FRAME_MS = 20
BLOCK_FRAMES = 5
"""Frames per noise-estimate block (100 ms)."""
SILENT_DBFS = -100.0


class VadEvent(Enum):
    """What one frame changed."""

    NONE = "none"
    STARTED = "started"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class VadConfig:
    """Detector settings.

    Attributes:
        min_level_dbfs: frames quieter than this are never speech.
        margin_db: how far above the noise floor a frame must be to be loud.
        start_ms: consecutive loud audio before speech starts.
        hangover_ms: quiet audio before speech ends.
        calibration_ms: audio at the start that only feeds the noise estimate.
        noise_window_ms: how far back the noise estimate looks.
    """

    min_level_dbfs: float = -40.0
    margin_db: float = 10.0
    start_ms: int = 60
    hangover_ms: int = 300
    calibration_ms: int = 200
    noise_window_ms: int = 2000

    @property
    def start_frames(self) -> int:
        """``start_ms`` in frames (at least one)."""
        return max(1, self.start_ms // FRAME_MS)

    @property
    def hangover_frames(self) -> int:
        """``hangover_ms`` in frames (at least one)."""
        return max(1, self.hangover_ms // FRAME_MS)


class VoiceActivityDetector:
    """Feed one μ-law frame per tick; read :attr:`speaking` and the returned events.

    Attributes:
        speaking: whether speech is in progress.
        speech_frames: loud frames since the current speech started (0 when silent).
        loud: whether the last frame was loud (a speech frame).
        noise_dbfs: the current noise floor estimate.
        level_dbfs: the level of the last frame.
    """

    __slots__ = (
        "_block_min", "_block_used", "_blocks", "_calibration_frames", "_config", "_frames",
        "_hangover_frames", "_loud_run", "_quiet_run", "_start_frames", "level_dbfs", "loud",
        "noise_dbfs", "speaking", "speech_frames",
    )  # fmt: skip

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config or VadConfig()
        self.speaking = False
        self.speech_frames = 0
        self.noise_dbfs = SILENT_DBFS
        self.level_dbfs = SILENT_DBFS
        self.loud = False
        self._loud_run = 0
        self._quiet_run = 0
        self._frames = 0
        window_blocks = max(1, self.config.noise_window_ms // (BLOCK_FRAMES * FRAME_MS))
        self._blocks: deque[float] = deque(maxlen=window_blocks)
        self._block_min = math.inf
        self._block_used = 0

    @property
    def config(self) -> VadConfig:
        """The thresholds; setting it takes effect from the next frame."""
        return self._config

    @config.setter
    def config(self, config: VadConfig) -> None:
        self._config = config
        # Per frame these would be three divisions and two property calls.
        self._calibration_frames = config.calibration_ms // FRAME_MS
        self._start_frames = config.start_frames
        self._hangover_frames = config.hangover_frames

    def push(self, frame: bytes | None) -> VadEvent:
        """Process one 20 ms frame (None = nothing received, treated as silence)."""
        level = max(g711.rms_dbfs(frame), SILENT_DBFS) if frame else SILENT_DBFS
        self.level_dbfs = level
        self._frames += 1
        self._track_noise(level)
        if self._frames <= self._calibration_frames:
            return VadEvent.NONE
        config = self._config
        loud = level >= config.min_level_dbfs and level >= self.noise_dbfs + config.margin_db
        self.loud = loud
        if loud:
            self._loud_run += 1
            self._quiet_run = 0
        else:
            self._quiet_run += 1
            self._loud_run = 0
        if self.speaking:
            if loud:
                self.speech_frames += 1
            elif self._quiet_run >= self._hangover_frames:
                self.speaking = False
                self.speech_frames = 0
                return VadEvent.ENDED
            return VadEvent.NONE
        if self._loud_run >= self._start_frames:
            self.speaking = True
            self.speech_frames = self._loud_run
            return VadEvent.STARTED
        return VadEvent.NONE

    def _track_noise(self, level: float) -> None:
        """Sliding minimum: per-block minima over the window, the current block excluded."""
        self._block_min = min(self._block_min, level)
        self._block_used += 1
        if self._block_used == BLOCK_FRAMES:
            self._blocks.append(self._block_min)
            self._block_min, self._block_used = math.inf, 0
            self.noise_dbfs = min(self._blocks)
        elif not self._blocks:
            self.noise_dbfs = SILENT_DBFS if self._block_min is math.inf else self._block_min

    @property
    def speech_ms(self) -> int:
        """Loud audio in the current speech, in ms."""
        return self.speech_frames * FRAME_MS
