"""The audio the TwiML interpreter queues for the caller (``<Say>``, ``<Play>``, the
fallback's line): 20 ms μ-law frames the gateway's tick takes one at a time."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from sipgw.agent.base import FRAME_BYTES, CallControl


class Outbox:
    """The frames queued for the caller, and :attr:`done` once the last one was taken."""

    def __init__(self, call: CallControl) -> None:
        self.call = call
        self.frames: deque[bytes] = deque()
        self.done = asyncio.Event()
        self.done.set()

    async def play_audio(self, audio: bytes) -> None:
        audio += b"\xff" * (-len(audio) % FRAME_BYTES)
        await self.play_frames([audio[i : i + FRAME_BYTES] for i in range(0, len(audio), 160)])

    async def play_frames(self, frames: Sequence[bytes]) -> None:
        if not frames:
            return
        self.frames.extend(frames)
        self.done.clear()
        self.call.audio_ready()
        await self.done.wait()

    def clear(self) -> None:
        """What is queued dropped at once (a barge-in, an update, the end of wait music)."""
        self.frames.clear()
        self.done.set()

    def next_frame(self) -> bytes | None:
        """The next frame (None: nothing queued); :attr:`done` set once the last is taken."""
        if not self.frames:
            return None
        frame = self.frames.popleft()
        if not self.frames:
            self.done.set()
        return frame
