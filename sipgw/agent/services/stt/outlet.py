"""A speech-to-text service's events on their way to their one consumer.

:meth:`EventOutlet.emit` queues an event (never blocks); :meth:`EventOutlet.end` ends the
stream once (after it nothing more is queued, and every iterator of
:meth:`EventOutlet.events` ends); :meth:`EventOutlet.fail` reports the service's final
failure and ends it. The parts of a service share one outlet instead of holding the
service (so they make no reference cycle with it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from sipgw.agent.services.stt.base import SttEvent, SttFailed

__all__ = ["EventOutlet"]


class EventOutlet:
    """One service's events.

    Attributes:
        ended: nothing more is queued.
        failed: the service failed for good (:meth:`fail`).
    """

    def __init__(self) -> None:
        self._events: asyncio.Queue[SttEvent | None] = asyncio.Queue()
        self.ended = False
        self.failed = False

    def emit(self, event: SttEvent) -> None:
        """Queue ``event`` (ignored once the stream has ended)."""
        if not self.ended:
            self._events.put_nowait(event)

    def end(self) -> None:
        """End the stream (idempotent)."""
        if not self.ended:
            self.ended = True
            self._events.put_nowait(None)

    def fail(self, failure: SttFailed) -> None:
        """Report the final ``failure`` and end the stream."""
        self.failed = True
        self.emit(failure)
        self.end()

    async def events(self) -> AsyncIterator[SttEvent]:
        """Yield events until the stream ends (one consumer)."""
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)  # later iterators end at once too
                return
            yield event
