"""Voice activity detection on μ-law frames, sans-IO.

An energy detector with an adaptive noise floor: a 20 ms frame is *loud* when
its level exceeds both an absolute floor and the noise estimate by a margin.
Speech *starts* after ``start_frames`` loud frames in a row (so clicks and
single noisy frames don't count) and *ends* after ``hangover_frames`` quiet
ones.

The noise estimate is a low order statistic of the frame levels over a
sliding window: the :data:`QUIET_SHARE` quietest frames' loudest (the 5th
quietest of the 100 frames of 2 s). So stationary noise (fans, line hiss)
becomes the floor within one window even when it is there from the first
frame, while speech, which always has quieter gaps, does not.

Frames made up for lost packets (concealment fading to silence, then
silence) are not the line's noise, and must not pin the floor at silence for
a whole window, letting a room's noise count as speech meanwhile. Hence the
order statistic rather than the minimum (a faded frame or two), and frames
of digital silence (below :data:`SILENCE_DBFS`) count only when they are at
least :data:`SILENT_SHARE` of the window: a line that really is silent
between words (a softphone playing a file), not an outage of a few packets.

The first ``calibration_ms`` of a call only feed the estimate: speech cannot
start before the line is known.

The detector counts frames, not seconds; the caller feeds one frame per
20 ms tick, so frame counts are time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Final, Protocol

from sipgw.media import g711

__all__ = [
    "CALLER_MARGIN_DB",
    "LOW_BAND_START",
    "NOISE_MARGIN_DB",
    "ROOM_MARGIN_DB",
    "SPEECH_PROBABILITY",
    "ModelVadConfig",
    "VadConfig",
    "VadEvent",
    "VoiceActivityDetector",
    "VoiceDetector",
]

FRAME_MS: Final = 20
BLOCK_FRAMES: Final = 5
"""Frames per noise-estimate block (100 ms): the estimate is updated once per block."""
QUIET_SHARE: Final = 0.05
"""The noise floor is the loudest of this share of the window's quietest frames."""
SILENCE_DBFS: Final = -66.0
"""Frames quieter than this are digital silence (a 16-bit sample of 16 is -66 dBFS)."""
SILENT_SHARE: Final = 0.2
"""Digital silence is the floor when at least this share of the window is silent."""
SILENT_DBFS: Final = -100.0


def _rank_quietest(
    blocks: deque[tuple[int, list[float]]], rank: int, best: list[float], ages: list[int], age: int
) -> None:
    """Fill ``best`` with the ``rank`` smallest of the blocks' levels, ascending (all of them
    when fewer), and ``ages`` with the block each came from (``age`` is the newest block's;
    the deque's first block is ``age - len(blocks) + 1``).

    Each block's levels are sorted, so a block is read only while its levels can
    still be among the ``rank`` smallest: a few comparisons a block, where sorting
    every block's levels at each block's end was the detector's dearest step.
    """
    best.clear()
    ages.clear()
    block_age = age - len(blocks)
    for _, quiet in blocks:
        block_age += 1
        _add_block(quiet, rank, best, ages, block_age)


def _add_block(quiet: list[float], rank: int, best: list[float], ages: list[int], age: int) -> None:
    """Merge one block's sorted levels (of block ``age``) into ``best``, the ``rank`` smallest
    so far, ascending, and ``ages``: read only while its levels can still be among them."""
    for value in quiet:
        if len(best) == rank:
            if value >= best[-1]:
                return  # this block's later levels are larger still
            best.pop()
            ages.pop()
        _insert(best, ages, value, age)


def _insert(best: list[float], ages: list[int], value: float, age: int) -> None:
    """Put ``value`` (of block ``age``) into ``best`` after its equals, keeping it ascending."""
    i = len(best)
    best.append(value)
    ages.append(age)
    while i > 0 and best[i - 1] > value:
        best[i] = best[i - 1]
        ages[i] = ages[i - 1]
        i -= 1
    best[i] = value
    ages[i] = age


class VadEvent(Enum):
    """What one frame changed."""

    NONE = "none"
    STARTED = "started"
    ENDED = "ended"


# The detectors' thresholds, tuned once against the noise and room benchmarks (bench/noise.py,
# bench/room.py; docs/quality.md and docs/performance.md give the figures): they hold
# together, so none is a setting. A study varies them through the configs below.
NOISE_MARGIN_DB: Final = 10.0
"""The energy detector: how far above the line's noise floor a frame must be to be loud."""
SPEECH_PROBABILITY: Final = 0.5
"""The model detector: the speech probability that makes a frame speech (Silero's own)."""
ROOM_MARGIN_DB: Final = 3.0
"""The model detector: how far above the room's loudest voices the caller's speech starts."""
CALLER_MARGIN_DB: Final = 6.0
"""The model detector: how far below the caller's own loud level a barge-in may start."""
LOW_BAND_START: Final = False
"""The model detector's 100-300 Hz provisional start: off, since over a TV 5 dB under the
caller it pauses the agent about 4 times a minute (docs/quality.md)."""


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
    margin_db: float = NOISE_MARGIN_DB
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


@dataclass(frozen=True, slots=True)
class ModelVadConfig:
    """The model detector's own settings (:mod:`sipgw.media.voice.model_vad`); the energy ones
    are a :class:`VadConfig`.

    Attributes:
        threshold: speech probability that makes a frame speech.
        room_margin_db: how far above the room's loudest voices (90th percentile of
            their levels) the caller's speech must start.
        caller_margin_db: while the agent's audio plays, how far below the caller's
            own loud level (90th percentile of their turns' speech) a barge-in may
            start; None: no such gate.
        low_band: while the agent's audio plays, two frames near the room's loudest in
            100-300 Hz start speech provisionally (a nasal onset over babble, on a line
            that carries 100-300 Hz).
    """

    threshold: float = SPEECH_PROBABILITY
    room_margin_db: float = ROOM_MARGIN_DB
    caller_margin_db: float | None = CALLER_MARGIN_DB
    low_band: bool = LOW_BAND_START


class VoiceDetector(Protocol):
    """What the turn-taking machine reads of a detector (this energy one, or the model one
    of :mod:`sipgw.media.voice.model_vad`): one :meth:`push` per 20 ms frame, in order."""

    speaking: bool
    speech_frames: int
    loud: bool
    level_dbfs: float
    """The last frame's level."""
    noise_dbfs: float
    """The detector's noise floor (its quiet level)."""
    caller_dbfs: float | None
    """The caller's own loud level (the 90th percentile of their speech's levels), for a
    detector that tells the caller from the room (the model one); None while unknown, and
    always for this energy one."""
    room_dbfs: float | None
    """The room's voices' level (their 90th percentile, heard under the agent's audio), for
    a detector that tells the caller from the room; None while unknown, and always for this
    energy one."""

    @property
    def config(self) -> VadConfig: ...

    @property
    def speech_ms(self) -> int: ...

    def push(self, frame: bytes | None) -> VadEvent: ...

    def judge_turns(self) -> None:
        """From now on, learn the caller's own level only from the turns :meth:`turn_judged`
        says are theirs (the turn machine's room gate); a no-op for this energy one."""

    def turn_judged(self, callers: bool) -> None:
        """A final came: the turn machine took the speech heard since the previous one for
        the caller's (``callers``) or the room's."""


class VoiceActivityDetector:
    """Feed one μ-law frame per tick; read :attr:`speaking` and the returned events.

    Attributes:
        speaking: whether speech is in progress.
        speech_frames: loud frames since the current speech started (0 when silent).
        loud: whether the last frame was loud (a speech frame).
        noise_dbfs: the current noise floor estimate.
        level_dbfs: the level of the last frame.
        caller_dbfs: None: it does not tell the caller from the room.
        room_dbfs: None: the same.
    """

    __slots__ = (
        "_age", "_ages", "_best", "_block", "_blocks", "_calibration_frames", "_config", "_frames",
        "_rank", "_silent", "_window_blocks",
        "_hangover_frames", "_loud_run", "_quiet_run", "_start_frames", "caller_dbfs",
        "level_dbfs", "loud", "noise_dbfs", "room_dbfs", "speaking", "speech_frames",
    )  # fmt: skip

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config or VadConfig()
        self.speaking = False
        self.speech_frames = 0
        self.noise_dbfs = SILENT_DBFS
        self.level_dbfs = SILENT_DBFS
        self.caller_dbfs: float | None = None
        self.room_dbfs: float | None = None
        self.loud = False
        self._loud_run = 0
        self._quiet_run = 0
        self._frames = 0
        window_blocks = max(1, self.config.noise_window_ms // (BLOCK_FRAMES * FRAME_MS))
        self._blocks: deque[tuple[int, list[float]]] = deque(maxlen=window_blocks)
        self._block: list[float] = []
        self._rank = max(1, round(QUIET_SHARE * window_blocks * BLOCK_FRAMES))
        self._window_blocks = window_blocks
        self._silent = 0  # the window's blocks' silent frames
        self._best: list[float] = []  # the window's rank quietest kept levels, ascending
        self._ages: list[int] = []  # the block each came from (its number: self._age)
        self._age = 0  # blocks finished so far

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
        return self.push_level(max(g711.rms_dbfs(frame), SILENT_DBFS) if frame else SILENT_DBFS)

    def push_level(self, level: float) -> VadEvent:
        """Process one 20 ms frame given its level (dBFS, at least :data:`SILENT_DBFS`),
        for a caller that has measured it already."""
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
        """The window's ``rank``-th quietest frame, the current block excluded.

        Each finished block keeps its count of silent frames and only its ``rank``
        quietest other levels, which is all the statistic needs; before the first
        block, the quietest frame so far. The window's ``rank`` quietest kept levels
        are kept too, each with its block's number, and a finished block is merged
        into them: they are found again over the whole window only when the block
        leaving it held one of them (a few blocks in the window's twenty: reading
        every block's levels at each block's end was most of the detector's frame).
        """
        block = self._block
        block.append(level)
        if len(block) < BLOCK_FRAMES:
            if not self._blocks:
                self.noise_dbfs = min(block)
            return
        sounding = sorted([v for v in block if v >= SILENCE_DBFS])
        rank = self._rank
        kept = sounding[:rank]
        count = BLOCK_FRAMES - len(sounding)
        blocks, best, ages = self._blocks, self._best, self._ages
        self._age = age = self._age + 1
        again = False
        if len(blocks) == self._window_blocks:  # the oldest block leaves the window
            self._silent -= blocks[0][0]
            again = age - self._window_blocks in ages
        blocks.append((count, kept))
        self._silent += count
        self._block = []
        if again:
            _rank_quietest(blocks, rank, best, ages, age)
        else:
            _add_block(kept, rank, best, ages, age)
        if self._silent >= SILENT_SHARE * BLOCK_FRAMES * len(blocks):
            self.noise_dbfs = SILENT_DBFS
            return
        self.noise_dbfs = best[-1] if best else SILENT_DBFS

    @property
    def speech_ms(self) -> int:
        """Loud audio in the current speech, in ms."""
        return self.speech_frames * FRAME_MS

    def judge_turns(self) -> None:
        """It learns no caller's level: nothing to judge."""

    def turn_judged(self, callers: bool) -> None:
        """It learns no caller's level: nothing to do."""
