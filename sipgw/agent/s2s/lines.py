"""The fallback lines in a speech-to-speech model's own voice, made through its sessions.

A speech-to-speech agent has no text-to-speech service of its own, yet the caller
should hear the fallback lines (agent/resilience/) in the voice they have been
hearing. :class:`SessionVoice` is a :class:`sipgw.agent.services.tts.base.TextToSpeech` made of
sessions: each line is one short session whose greeting is that line (the
service speaks a greeting as soon as the session is ready:
:class:`sipgw.agent.services.s2s.base.SessionConfig`); its first reply's audio is the line.
:func:`sipgw.agent.resilience.line_cache.prepare_lines` uses it at start-up, once per
voice, and the line cache keeps the result on disk, so this costs a handful of
short sessions per voice, not per call or per start.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Final

from sipgw.agent.services.s2s.base import (
    ReplyAudio,
    ReplyDone,
    S2sConnectError,
    SessionConfig,
    SessionFailed,
    SpeechToSpeech,
)
from sipgw.agent.services.tts.base import TtsConnectError, TtsError, TtsReply

__all__ = ["LINE_INSTRUCTIONS", "SessionVoice"]

LINE_INSTRUCTIONS: Final = (
    "You are recording short announcements for a phone line. Say each one exactly as "
    "given, calmly, and nothing else."
)
_IDS: Final = itertools.count(1)


class SessionVoice:
    """A :class:`~sipgw.agent.services.tts.base.TextToSpeech` whose replies are greeting-only
    sessions.

    Args:
        new_session: makes a session of the agent's service (the voice it speaks in).
    """

    def __init__(self, new_session: Callable[[], SpeechToSpeech]) -> None:
        self._new_session = new_session
        self._replies: list[_LineReply] = []

    async def connect(self) -> None:
        """Nothing to open: each line opens its own session."""

    def start_reply(self) -> TtsReply:
        """A line: its text, then :meth:`TtsReply.finish` speaks it."""
        reply = _LineReply(f"line-{next(_IDS)}", self._new_session)
        self._replies.append(reply)
        return reply

    async def close(self) -> None:
        """Stop every line still being spoken."""
        await asyncio.gather(*(reply.cancel() for reply in self._replies))


class _LineReply(TtsReply):
    """One line: one session whose greeting it is."""

    def __init__(self, reply_id: str, new_session: Callable[[], SpeechToSpeech]) -> None:
        super().__init__(reply_id)
        self._new_session = new_session
        self._text: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def send_text(self, text: str) -> None:
        sent = self._text_to_send(text, self._task is not None)
        if sent is not None:
            self._text.append(sent)

    async def finish(self) -> None:
        if self._task is None and not self.done:
            self._task = asyncio.get_running_loop().create_task(self._speak(" ".join(self._text)))

    async def cancel(self) -> None:
        if self._mark_cancelled() and self._task is not None:
            self._task.cancel()

    async def _speak(self, text: str) -> None:
        session = self._new_session()
        try:
            await session.connect(SessionConfig(LINE_INSTRUCTIONS, text))
        except S2sConnectError as exc:
            self._fail(TtsConnectError(f"{session.name}: {exc}", status=exc.status))
            return
        try:
            async for event in session.events():
                if isinstance(event, ReplyAudio):
                    self._push(event.audio, event.received_at, None)
                elif isinstance(event, ReplyDone):
                    if event.status == "completed":
                        self._end()
                    else:
                        self._fail(TtsError(f"{session.name}: the line ended {event.status}"))
                    return
                elif isinstance(event, SessionFailed):
                    self._fail(TtsError(f"{session.name}: {event.reason}"))
                    return
            self._fail(TtsError(f"{session.name}: the session ended before the line"))
        finally:
            await session.close()
