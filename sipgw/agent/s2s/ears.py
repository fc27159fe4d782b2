"""The words of a warm transfer's person, heard through a session of the agent's own service.

A warm transfer's consultation call (:mod:`sipgw.agent.transfer.consult`) needs to hear
whether the person says "yes" or "no"; a speech-to-speech agent has no speech-to-text
service of its own, but its service transcribes what it hears. :class:`SessionEars` is a
:class:`sipgw.agent.services.stt.base.SpeechToText` made of one session of that service, opened
when the consultation call is placed: the person's audio goes in unchanged (μ-law), and
each of their turns comes out as an :class:`~sipgw.agent.services.stt.base.SttTurnEnded` with the
service's transcript (Voice Agent: ``transcript.user``; Realtime: input transcription,
which must be on: ``OPENAI_REALTIME_TRANSCRIPTION_MODEL``). The end of a turn is the
service's, or, with local turn-taking, a silence endpointer's on our voice-activity
detector, as in the caller's session (:mod:`sipgw.agent.turns.endpointing`).

The session only listens: what its model would answer is never played (the brief is
spoken by :class:`sipgw.agent.s2s.lines.SessionVoice`, in the same voice), and each reply
is cancelled as it starts where the service has a client event for it (Realtime's
``response.cancel``; the Voice Agent API has none, so its replies run unheard).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Final

from sipgw.agent.services.s2s.base import (
    CallerTranscript,
    ReplyStarted,
    S2sConnectError,
    SessionConfig,
    SessionFailed,
    SpeechToSpeech,
)
from sipgw.agent.services.stt.base import (
    SttConnectError,
    SttEvent,
    SttFailed,
    SttStats,
    SttTurnEnded,
)
from sipgw.agent.turns.endpointing import SilenceEndpointer
from sipgw.foundation.stopping import cancel_and_wait
from sipgw.media.voice.vad import VadConfig, VoiceActivityDetector

__all__ = ["EARS_INSTRUCTIONS", "SessionEars"]

log = logging.getLogger("sipgw.agent")

EARS_INSTRUCTIONS: Final = (
    "You only listen to a phone call; nobody hears you. Never speak: answer anything with "
    "silence or, if you must, with one word."
)


class SessionEars:
    """A :class:`~sipgw.agent.services.stt.base.SpeechToText` made of one listening session.

    Args:
        new_session: makes a session of the agent's service.
        silence_ms: silence after speech that ends a turn, with local turn-taking.
    """

    def __init__(self, new_session: Callable[[], SpeechToSpeech], silence_ms: int = 500) -> None:
        self._new_session = new_session
        self._session: SpeechToSpeech | None = None
        self._queue: asyncio.Queue[SttEvent | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._turns = 0
        self._frames = 0
        self._vad = VoiceActivityDetector(VadConfig(start_ms=60, hangover_ms=300))
        self._endpointer = SilenceEndpointer(silence_ms)

    @property
    def stats(self) -> SttStats:
        """What was sent (the session keeps its own counts)."""
        return SttStats(
            chunks_sent=self._frames, bytes_sent=self._frames * 160, sessions=1, reconnects=0,
            backlog_seconds=0.0, backlog_dropped_seconds=0.0, silence_dropped_seconds=0.0,
            last_error=None, server_audio_duration_seconds=None,
        )  # fmt: skip

    @property
    def turn_end_silence(self) -> float | None:
        """Unknown: the service's."""
        return None

    @property
    def turn_check_silence(self) -> float | None:
        """Unknown: the service's."""
        return None

    async def connect(self) -> None:
        """Open the listening session.

        Raises:
            SttConnectError: the service refused it or could not be reached.
        """
        session = self._new_session()
        try:
            await session.connect(SessionConfig(EARS_INSTRUCTIONS))
        except S2sConnectError as exc:
            raise SttConnectError(f"{session.name}: {exc}", status=exc.status) from exc
        self._session = session
        self._task = asyncio.get_running_loop().create_task(self._listen(session))

    def send_audio(self, frame: bytes) -> None:
        """The person's next 20 ms frame (μ-law)."""
        session = self._session
        if session is None:
            return
        self._frames += 1
        session.send_audio(frame)
        if not session.server_turns:
            vad = self._vad
            vad.push(frame)
            # speech counts while loud: the detector's hangover does not start a new turn
            if self._endpointer.push(vad.speaking and vad.loud, vad.loud):
                session.end_turn()

    def set_chunk_ms(self, chunk_ms: int | None) -> None:
        """The session's chunking is its own."""

    def mark_speech_end(self) -> None:
        """Not needed: the session sends each frame as it comes."""

    def end_turn_now(self) -> None:
        """Ignored: the service (or the endpointer) ends turns."""

    def set_reconnect_window(self, seconds: float) -> None:
        """Ignored: a consultation call is short; a session that fails leaves keys only."""

    async def events(self) -> AsyncIterator[SttEvent]:
        """The person's turns, until the session ends."""
        while True:
            event = await self._queue.get()
            if event is None:  # the session ended
                return
            yield event

    async def close(self) -> None:
        """End the session (idempotent)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()
        self._queue.put_nowait(None)

    async def _listen(self, session: SpeechToSpeech) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for event in session.events():
                if isinstance(event, CallerTranscript):
                    self._queue.put_nowait(
                        SttTurnEnded(event.text, self._turns, (), loop.time(), None)
                    )
                    self._turns += 1
                elif isinstance(event, ReplyStarted):
                    session.cancel_reply(event.reply_id, 0)  # nobody hears it
                elif isinstance(event, SessionFailed):
                    log.warning("consultation call: %s stopped listening: %s", session.name,
                                event.reason)  # fmt: skip
                    self._queue.put_nowait(SttFailed(event.reason, None))
                    return
        finally:
            self._queue.put_nowait(None)
