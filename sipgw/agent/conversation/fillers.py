"""Filler lines' rules, sans-IO: when one is due while a slow tool runs, and which comes next.

Both AI agents follow them: the assistant says the line through its text-to-speech
(:mod:`sipgw.agent.assistant.fillers`), a speech-to-speech model says it itself
(:mod:`sipgw.agent.s2s.fillers`)."""

from __future__ import annotations

__all__ = ["FillerLines", "ToolRound"]


class ToolRound:
    """One reply's running tool calls, sans-IO: when a filler line becomes due.

    Args:
        filler_after: seconds a round may run before a filler is due; None = never.

    Attributes:
        due_at: when the running round's filler is due; None without one.
    """

    __slots__ = ("_after", "_running", "due_at")

    def __init__(self, filler_after: float | None) -> None:
        self._after = filler_after
        self._running = 0
        self.due_at: float | None = None

    def tool_called(self, now: float) -> bool:
        """A tool call started at ``now``; True if it opened a round with a filler due."""
        opens = self._running == 0 and self._after is not None
        self._running += 1
        if opens:
            assert self._after is not None
            self.due_at = now + self._after
        return opens

    def shift(self, seconds: float) -> None:
        """The due time moves by ``seconds`` (the time the caller held the call)."""
        if self.due_at is not None:
            self.due_at += seconds

    def tool_returned(self) -> bool:
        """A tool call answered; True if that ended a round whose filler was due."""
        self._running -= 1
        if self._running == 0 and self.due_at is not None:
            self.due_at = None
            return True
        return False


class FillerLines:
    """Which filler line comes next, sans-IO: in turn, across the call.

    Attributes:
        said: how many have been said.
    """

    __slots__ = ("_lines", "said")

    def __init__(self, lines: tuple[str, ...]) -> None:
        self._lines = lines
        self.said = 0

    def pick(self, *, audio_queued: bool, reply_waiting: bool, own: str = "") -> str | None:
        """The line to say now that one is due, or None.

        Args:
            audio_queued: agent audio is queued (it fills the silence already).
            reply_waiting: the reply the round belongs to is still the current one,
                not cut off, and has no filler line yet.
            own: the slow tool's own filler line, said instead of the next one (the
                same rules otherwise; the turn of the lines does not move).
        """
        if audio_queued or not reply_waiting:
            return None
        if own:
            return own
        if not self._lines:
            return None
        text = self._lines[self.said % len(self._lines)]
        self.said += 1
        return text
