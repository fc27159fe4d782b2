"""The end of the caller's turn from voice activity alone, sans-IO (local turn-taking).

A speech-to-speech session that leaves turns to the client (OpenAI Realtime with
``turn_detection`` null) needs to be told when the caller has finished. There is
no transcript to read punctuation from, so the rule is the one server VADs use:
a turn is speech the voice-activity detector confirmed (:attr:`speaking` went
True), and it ends after ``silence_ms`` of quiet audio following it. Frames are
counted as time, one per 20 ms, exactly like :mod:`sipgw.agent.turns.machine`, whose detector
the agent shares: :meth:`SilenceEndpointer.push` reads its state after each frame.
"""

from __future__ import annotations

from sipgw.media.voice.vad import FRAME_MS

__all__ = ["SilenceEndpointer"]


class SilenceEndpointer:
    """Says when a confirmed stretch of caller speech has been followed by enough silence.

    Args:
        silence_ms: quiet audio after the speech that ends the turn.
        early_ms: quiet audio after which :attr:`early` is set once (a reply may start
            before the end of turn); 0 = never.

    Attributes:
        in_turn: speech was confirmed and the turn has not ended yet.
        early: the frame just pushed made the quiet after the turn's speech reach
            ``early_ms`` (set for that one frame).
    """

    __slots__ = ("_quiet_frames", "early", "early_ms", "in_turn", "silence_ms")

    def __init__(self, silence_ms: int, early_ms: int = 0) -> None:
        self.silence_ms = silence_ms
        self.early_ms = early_ms
        self.in_turn = False
        self.early = False
        self._quiet_frames = 0

    def push(self, speaking: bool, loud: bool) -> bool:
        """One frame's detector state (after it was fed); True when the turn just ended."""
        self.early = False
        if speaking:
            self.in_turn = True
        if not self.in_turn:
            return False
        if loud:
            self._quiet_frames = 0
            return False
        self._quiet_frames += 1
        quiet_ms = self._quiet_frames * FRAME_MS
        self.early = bool(self.early_ms) and quiet_ms - FRAME_MS < self.early_ms <= quiet_ms
        if quiet_ms < self.silence_ms:
            return False
        self.reset()
        return True

    def reset(self) -> None:
        """Forget the turn in progress (it was handled some other way)."""
        self.in_turn = False
        self._quiet_frames = 0
