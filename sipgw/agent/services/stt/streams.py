"""Speech-to-text sessions, one per stream of a call, and the turns under way in them.

A live transcription hears several streams, each through a session of its own (a TwiML
``<Transcription>``'s tracks, a SIPREC recording session's participants). :class:`StreamSessions`
keeps the sessions, the tasks that read their events, and which streams have a turn under way
(speech heard, its end not yet come), so that a stop ends those turns with the words heard so
far and waits, within a bound, for their ends before the sessions close.
"""

from __future__ import annotations

import asyncio
import contextlib

from sipgw.agent.services.stt.base import SpeechToText

__all__ = ["StreamSessions"]


class StreamSessions:
    """One call's sessions by stream (see the module docstring).

    Attributes:
        sessions: stream -> its session.
        pumps: the tasks that read the sessions' events.
    """

    def __init__(self) -> None:
        self.sessions: dict[str, SpeechToText] = {}
        self.pumps: list[asyncio.Task[None]] = []
        self._open: set[str] = set()
        self._settled = asyncio.Event()  # set while no turn is under way
        self._settled.set()

    @property
    def under_way(self) -> frozenset[str]:
        """The streams with a turn under way."""
        return frozenset(self._open)

    def turn(self, stream: str, under_way: bool) -> None:
        """A turn of ``stream`` began (speech heard) or ended."""
        if under_way:
            self._open.add(stream)
            self._settled.clear()
        else:
            self._open.discard(stream)
            if not self._open:
                self._settled.set()

    async def close_sessions(self) -> None:
        """Close every session (an error of one does not keep the others open)."""
        with contextlib.suppress(Exception):
            await asyncio.gather(*(stt.close() for stt in self.sessions.values()))

    async def stop(self, wait: float) -> None:
        """End the turns under way now with the words heard so far, await their ends (at
        most ``wait`` seconds, the readers' last events too), close the sessions, stop the
        readers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        for stream in self._open:
            self.sessions[stream].end_turn_now()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._settled.wait()
        await self.close_sessions()
        pumps = self.pumps
        if pumps:
            await asyncio.wait(pumps, timeout=max(0.1, deadline - loop.time()))
        for pump in pumps:
            pump.cancel()
        for pump in pumps:
            with contextlib.suppress(BaseException):
                await pump
