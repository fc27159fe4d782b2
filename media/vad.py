"""Voice activity detection on μ-law frames, sans-IO.

An energy detector with an adaptive noise floor: a 20 ms frame is *loud* when
its level exceeds both an absolute floor and the noise estimate by a margin.
Speech *starts* after ``start_frames`` loud frames in a row (so clicks and
single noisy frames don't count) and *ends* after ``hangover_frames`` quiet
ones.

The noise estimate is the minimum over a sliding window of each 100 ms
block's second-quietest frame, so stationary noise (fans, line hiss) becomes
the floor within one window even when it is there from the first frame, while
speech, which always has quieter gaps, does not. The second-quietest, not the
quietest: one frame that fades out (a lost packet concealed) is not the line's
noise. The first ``calibration_ms`` of a
call only feed the estimate: speech cannot start before the line is known.

Likewise a frame that holds a run of digital silence (:data:`SILENCE_RUN`
samples at most :data:`NEAR_ZERO` in magnitude) feeds the estimate only after
:data:`SILENT_FRAMES` such frames in a row: a few of them are what a receive
path makes up for lost packets (concealment fading to silence, then silence),
and would otherwise pin the floor at silence for a whole window, letting a
room's noise count as speech meanwhile. A line that really is silent (a
softphone playing a file) stays silent longer.

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
NEAR_ZERO = 16
"""Samples this small (16-bit) are digital silence: 66 dB below full scale."""
SILENCE_RUN = 8
"""Consecutive near-zero samples (1 ms) that mark a frame as holding digital silence."""
SILENT_FRAMES = 5
"""Frames with digital silence in a row before they feed the noise estimate (100 ms)."""
_NEAR_ZERO_CODES = bytes(
    0 if abs(v) <= NEAR_ZERO else 1
    for v in memoryview(g711.ulaw_to_linear(bytes(range(256)))).cast("h")
)
"""Per μ-law code: 0 for a near-zero sample, 1 otherwise."""
_SILENCE_RUN = bytes(SILENCE_RUN)


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
        "_block_min", "_block_min2", "_block_used", "_blocks", "_calibration_frames", "_config",
        "_frames", "_hangover_frames", "_loud_run", "_quiet_run", "_silent_run", "_start_frames",
        "level_dbfs", "loud", "noise_dbfs", "speaking", "speech_frames",
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
        self._block_min = self._block_min2 = math.inf
        self._block_used = 0
        self._silent_run = 0

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
        if not frame or _SILENCE_RUN in frame.translate(_NEAR_ZERO_CODES):
            self._silent_run += 1
        else:
            self._silent_run = 0
        self._track_noise(level, 0 < self._silent_run <= SILENT_FRAMES)
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

    def _track_noise(self, level: float, made_up: bool) -> None:
        """Sliding minimum of the blocks' second-quietest frames, the current block excluded.

        A frame that may be made up (a short run of digital silence) does not count.
        """
        if not made_up:
            if level < self._block_min:
                self._block_min, self._block_min2 = level, self._block_min
            elif level < self._block_min2:
                self._block_min2 = level
        self._block_used += 1
        if self._block_used == BLOCK_FRAMES:
            self._blocks.append(self._block_floor())
            self._block_min = self._block_min2 = math.inf
            self._block_used = 0
            self.noise_dbfs = min(self._blocks)
        elif not self._blocks:
            self.noise_dbfs = self._block_floor()

    def _block_floor(self) -> float:
        """The block's second-quietest frame (its quietest if it has one, else silence)."""
        if self._block_min2 != math.inf:
            return self._block_min2
        return SILENT_DBFS if self._block_min == math.inf else self._block_min

    @property
    def speech_ms(self) -> int:
        """Loud audio in the current speech, in ms."""
        return self.speech_frames * FRAME_MS
