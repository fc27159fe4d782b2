"""The asyncio side of one Twilio Media Streams WebSocket, whatever library carries it.

Thin, as the house's adapters are: :meth:`MediaStreamConnection.run` hands each text frame and
``loop.time()`` to the sans-IO :class:`~sipgw.twilio.stream.MediaStreamSession` and
reports its events; :meth:`MediaStreamConnection.send_frame` (from the ticker: it returns at
once) queues what the session builds for one writer task, which sends in order. The WebSocket
itself (an aiohttp route, a ``websockets`` server) belongs to the caller, who passes its
``send``.

Bounded: at most ``max_queued`` frames wait for the socket (5 s of audio by default); past
that new audio is dropped and counted, never buffered without end. :meth:`clear` drops what
still waits here as well as what Twilio buffers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable

from sipgw.twilio.messages import MalformedMessage, StreamEvent, StreamStopped
from sipgw.twilio.stream import Clearing, MediaStreamError, MediaStreamSession

__all__ = ["MediaStreamConnection"]

log = logging.getLogger("sipgw.media")


class MediaStreamConnection:
    """One stream's socket: frames in to the session, the session's frames out in order.

    Args:
        session: the stream's sans-IO core.
        send: sends one text frame on the WebSocket.
        on_event: called with every event Twilio's frames carry (``start``, ``dtmf``,
            ``stop``...), on the loop, after the session took it in.
        max_queued: text frames that may wait for the socket.

    Attributes:
        malformed: frames that were not Media Streams messages (dropped, the stream goes on).
        dropped: our frames dropped because the socket was that far behind.
        error: why the stream ended early, if it did (an out-of-place message, a format
            other than 8 kHz μ-law).
    """

    def __init__(
        self,
        session: MediaStreamSession,
        send: Callable[[str], Awaitable[None]],
        on_event: Callable[[StreamEvent], None] | None = None,
        max_queued: int = 250,
    ) -> None:
        self.session = session
        self._send = send
        self.on_event = on_event
        self.max_queued = max_queued
        self.malformed = 0
        self.dropped = 0
        self.error: MediaStreamError | None = None
        self._outbox: deque[str] = deque()
        self._wake = asyncio.Event()
        self._played = asyncio.Event()
        self._played.set()  # nothing sent yet: nothing to wait for
        self._closed = False
        self._writer: asyncio.Task[None] | None = None

    async def run(self, frames: AsyncIterable[str | bytes]) -> None:
        """Read the socket's frames until ``stop``, the socket's end, or a stream error."""
        loop = asyncio.get_running_loop()
        if self._writer is None:
            self._writer = loop.create_task(self._write(), name="media-stream-writer")
        try:
            async for frame in frames:
                try:
                    event = self.session.receive_text(frame, loop.time())
                except MalformedMessage as exc:
                    self.malformed += 1
                    if self.malformed <= 3:  # a few lines, not one per frame
                        log.warning("Media Streams: dropped a frame: %s", exc)
                    continue
                except MediaStreamError as exc:
                    self.error = exc
                    log.warning("Media Streams: ending the stream: %s", exc)
                    return
                if self.session.played_out:
                    self._played.set()
                if self.on_event is not None:
                    self.on_event(event)
                if isinstance(event, StreamStopped):
                    return
        finally:
            self._played.set()  # nothing more will be confirmed: do not keep anyone waiting

    # ------------------------------------------------------------------ out

    def send_frame(self, frame: bytes | None) -> None:
        """This tick's agent frame (None: silence); returns at once."""
        texts = self.session.send_frame(frame)
        if texts:
            self._played.clear()
            self._enqueue(texts)

    def clear(self) -> Clearing:
        """Barge-in: drop what waits here and what Twilio buffers (``MediaStreamSession.clear``)."""
        self._outbox.clear()
        clearing = self.session.clear()
        self._enqueue([clearing.message])
        self._played.set()
        return clearing

    def _enqueue(self, texts: list[str]) -> None:
        if self._closed:
            return
        if len(self._outbox) + len(texts) > self.max_queued:
            self.dropped += len(texts)
            return
        self._outbox.extend(texts)
        self._wake.set()

    async def _write(self) -> None:
        outbox = self._outbox
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while outbox:
                    await self._send(outbox.popleft())
        except Exception as exc:  # the socket went away: the reader's end tells the rest
            log.info("Media Streams: sending stopped: %s", exc or type(exc).__name__)
            self._closed = True
            outbox.clear()

    async def played_out(self, within: float) -> bool:
        """Wait until Twilio confirmed playing all the agent audio sent (or it was cleared).

        Before hanging up after a goodbye: closing the stream drops what Twilio still
        buffers. False if ``within`` seconds pass first or the stream ended unconfirmed.
        """
        try:
            async with asyncio.timeout(within):
                await self._played.wait()
        except TimeoutError:
            return False
        return self.session.played_out

    async def close(self) -> None:
        """Stop writing (what is queued is dropped); the caller closes the socket."""
        self._closed = True
        self._outbox.clear()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            try:
                await writer
            except asyncio.CancelledError:
                pass
