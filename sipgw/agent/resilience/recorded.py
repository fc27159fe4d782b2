"""A fallback line as a text-to-speech reply whose audio is already there.

The assistant says everything through :class:`sipgw.agent.services.tts.base.TtsReply` s (its
speaker, fillers, the playout's heard text and barge-ins all work on them). A
fallback line from memory (:func:`sipgw.agent.resilience.line_cache.fallback_audio`)
needs no service: :class:`RecordedReply` hands out its frames the moment it is
finished, and never fails. So a cached line plays, is cut by a barge-in and is
recorded like a synthesized one (what was heard of it is estimated from the
audio played, as for a vendor that does not align its audio).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Final

from sipgw.agent.resilience.line_cache import LineAudio
from sipgw.agent.services.tts.base import TtsReply

__all__ = ["RecordedReply"]

_IDS: Final = itertools.count(1)


class RecordedReply(TtsReply):
    """``audio`` as a reply (see the module docstring); ``text`` is what it says."""

    def __init__(self, audio: LineAudio, text: str) -> None:
        super().__init__(f"line-{audio.line.value}-{next(_IDS)}")
        self.format = audio.format
        self.line = audio
        self.text = text

    async def send_text(self, text: str) -> None:
        """Nothing to synthesize: the audio is recorded."""

    async def finish(self) -> None:
        """Hand out the whole line at once (idempotent)."""
        if self.done:
            return
        self._push(b"".join(self.line.frames), asyncio.get_running_loop().time(), None)
        self._end()

    async def cancel(self) -> None:
        """Barge-in: nothing more is handed out."""
        self._mark_cancelled()
