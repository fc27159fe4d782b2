"""The echo agent: plays the caller's audio back after a fixed delay (a line check)."""

from __future__ import annotations

from collections import deque

from mypy_extensions import mypyc_attr

from agent.base import FRAME_BYTES, Agent, CallControl

__all__ = ["EchoAgent"]


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled (setup.py); plug-ins subclass it
class EchoAgent(Agent):
    """Plays back what the caller says, ``delay_ms`` later.

    The delay line holds frames, not wall time: silence (None) frames keep
    their place, so the echo keeps the caller's timing exactly. It never holds
    more than ``delay_frames`` frames after a tick: while the call is on hold
    the ticker passes the caller's frames but asks for none back (see
    :class:`~agent.base.Agent`), and the oldest go, so the echo is
    ``delay_ms`` late again as soon as the call resumes, whatever the hold's
    length.
    """

    def __init__(self, call: CallControl, delay_ms: int = 500) -> None:
        self.call = call
        self.delay_frames = max(0, round(delay_ms / 20))
        self._line: deque[bytes | None] = deque([None] * self.delay_frames)

    def on_caller_frame(self, frame: bytes | None) -> None:
        """Queue the caller's frame for playback."""
        if frame is not None and len(frame) != FRAME_BYTES:
            frame = None
        line = self._line
        line.append(frame)
        if len(line) > self.delay_frames + 1:
            line.popleft()  # the last tick asked for no frame (on hold)

    def next_frame(self) -> bytes | None:
        """The frame received ``delay_frames`` ticks ago."""
        return self._line.popleft() if len(self._line) > self.delay_frames else None
