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
from collections.abc import Coroutine
from typing import Any

from sipgw.agent.services.stt.base import SpeechToText

__all__ = ["StreamSessions"]


class StreamSessions:
    """One call's sessions by stream (see the module docstring).

    Attributes:
        sessions: stream -> its session.
        pumps: the tasks that read the sessions' events.
        readers: stream -> the task that reads its session's events (those started with
            :meth:`read`).
    """

    def __init__(self) -> None:
        self.sessions: dict[str, SpeechToText] = {}
        self.pumps: list[asyncio.Task[None]] = []
        self.readers: dict[str, asyncio.Task[None]] = {}
        self._open: set[str] = set()
        self._settled = asyncio.Event()  # set while no turn is under way
        self._settled.set()
        self._ending: dict[str, asyncio.Event] = {}  # a stream being closed: its turn ended

    def read(self, stream: str, reader: Coroutine[Any, Any, None]) -> None:
        """Run ``reader`` (what reads the session of ``stream``) as that stream's task."""
        task = asyncio.get_running_loop().create_task(reader)
        self.pumps.append(task)
        self.readers[stream] = task

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
            if stream in self._ending:
                self._ending[stream].set()
            if not self._open:
                self._settled.set()

    async def close_stream(self, stream: str, wait: float) -> None:
        """End one stream's session while the others go on (its stream was removed): its
        turn under way ends with the words heard so far (awaited at most ``wait`` seconds),
        its session closes, its reader stops."""
        stt = self.sessions.get(stream)
        if stt is None:
            return
        if stream in self._open:
            ended = self._ending[stream] = asyncio.Event()
            stt.end_turn_now()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await ended.wait()
            self._ending.pop(stream, None)
            self.turn(stream, under_way=False)
        del self.sessions[stream]
        with contextlib.suppress(Exception):
            await stt.close()
        reader = self.readers.pop(stream, None)
        if reader is not None:
            await asyncio.wait([reader], timeout=0.1)  # its last events
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            self.pumps.remove(reader)

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
