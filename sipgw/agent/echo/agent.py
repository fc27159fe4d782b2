"""The echo agent: plays the caller's audio back after a fixed delay (a line check)."""

from __future__ import annotations

from mypy_extensions import mypyc_attr

from sipgw.agent.base import Agent, CallControl
from sipgw.media.codecs.base import PCM16_16K

__all__ = ["EchoAgent"]


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled (setup.py); plug-ins subclass it
class EchoAgent(Agent):
    """Plays back what the caller says, ``delay_ms`` later.

    The delay line holds frames, not wall time: silence (None) frames keep
    their place, so the echo keeps the caller's timing exactly. It never holds
    more than ``delay_frames`` frames after a tick: while the call is on hold
    the ticker passes the caller's frames but asks for none back (see
    :class:`~sipgw.agent.base.Agent`), and the oldest go, so the echo is
    ``delay_ms`` late again as soon as the call resumes, whatever the hold's
    length.

    On an HD-voice call (:attr:`~sipgw.agent.base.CallDetails.sample_rate` 16000) it takes
    and gives 16 kHz linear frames, so a G.722 caller hears their wideband audio back.
    """

    def __init__(self, call: CallControl, delay_ms: int = 500) -> None:
        self.call = call
        if call.details.sample_rate == 16000:
            self.audio_format = PCM16_16K  # else its class's (8 kHz μ-law unless a subclass says)
        self._frame_bytes = self.audio_format.frame_bytes
        self.delay_frames = max(0, round(delay_ms / 20))
        # The delay line: a ring of delay_frames + 1 slots (a list and two indices, which
        # compiled are C operations; a deque's append was the top user-space symbol of the
        # echo gateway's perf profile: it allocates and frees a block every 64 frames).
        self._ring: list[bytes | None] = [None] * (self.delay_frames + 1)
        self._head = 0
        self._held = self.delay_frames

    def on_caller_frame(self, frame: bytes | None) -> None:
        """Queue the caller's frame for playback."""
        if frame is not None and len(frame) != self._frame_bytes:
            frame = None
        ring = self._ring
        size = len(ring)
        if self._held == size:  # the last tick asked for no frame (on hold): the oldest goes
            ring[self._head] = None
            self._head = (self._head + 1) % size
            self._held -= 1
        ring[(self._head + self._held) % size] = frame
        self._held += 1

    def next_frame(self) -> bytes | None:
        """The frame received ``delay_frames`` ticks ago."""
        if self._held <= self.delay_frames:
            return None
        ring = self._ring
        head = self._head
        frame = ring[head]
        ring[head] = None
        self._head = (head + 1) % len(ring)
        self._held -= 1
        return frame
