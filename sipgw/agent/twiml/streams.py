"""One Media Stream to the app's WebSocket server, as Twilio opens it (asyncio adapter).

:class:`MediaStream` opens the socket (the handshake signed with ``X-Twilio-Signature``
over the URL, as Twilio signs it), sends what :class:`~sipgw.twilio.streamside.StreamSide`
makes (``connected``, ``start``, ``media`` per tick, ``dtmf``, mark echoes, ``stop``) through
one bounded writer queue (the ticker never awaits), and feeds what the app sends back to
the stream side. :meth:`MediaStream.run` returns when the app closes the socket normally
(the TwiML goes on) and raises :class:`StreamFailed` when it cannot be opened or breaks.

The app's close is its close frame, not the end of its TCP connection: once the frame
came (websockets answers it at once), the stream is over. The TCP connection is given
:data:`CLOSE_GRACE` to end from the app's side, as RFC 6455 (section 7.1.1) would have
it, then closed from ours. Waiting for the app's FIN instead left a caller in silence
for up to websockets' close timeout (10 s) whenever something between the gateway and
the app (a tunnel, a load balancer) holds a half-closed connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, WebSocketException

from sipgw.agent.twiml.webhook import TwilioIdentity
from sipgw.twilio.signature import signature_for
from sipgw.twilio.streamside import AppCleared, AudioWaiting, StreamSide

__all__ = ["CLOSE_GRACE", "CLOSE_TIMEOUT", "MAX_OUTBOX", "MediaStream", "StreamFailed"]

log = logging.getLogger("sipgw.agent")

MAX_OUTBOX: Final = 500
"""Messages waiting for a slow socket (10 s of audio); past it they are dropped, counted."""
MAX_MESSAGE: Final = 1 << 20
"""Largest message taken from the app (1 MiB: a minute of μ-law in base64)."""
CLOSE_GRACE: Final = 0.05
"""Seconds the app's TCP connection has to end after its close frame before we end it."""
CLOSE_TIMEOUT: Final = 1.0
"""Seconds our own close waits for the app's close frame in reply (then the socket is
aborted): bounds the end of a call, whose agent closes within 5 s."""


class _Connection(ClientConnection):
    """websockets' client connection that says when the app's close frame came."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.close_received = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # a close frame is answered in there
        if self.protocol.close_rcvd is not None:
            self.close_received.set()


class StreamFailed(Exception):
    """The stream could not be opened, or broke (the message says how)."""


class MediaStream:
    """One stream (see the module docstring).

    Args:
        url: the app's ``wss://`` (or ``ws://``) URL.
        side: the stream's messages.
        identity: what the handshake is signed with.
        open_timeout: seconds to open the socket.
        log_id: how log lines name the call.
        on_audio: called when the app's audio comes to an empty buffer (the call's
            ``audio_ready``: its frame goes now, not at the next tick).
        on_open: called once the socket is open and ``connected``/``start`` are queued.
    """

    def __init__(
        self,
        url: str,
        side: StreamSide,
        identity: TwilioIdentity,
        open_timeout: float,
        log_id: str,
        on_audio: Callable[[], None] | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.side = side
        self.identity = identity
        self.open_timeout = open_timeout
        self.log_id = log_id
        self.on_audio = on_audio
        self.on_open = on_open
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._ws: _Connection | None = None
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0
        self.ready = False
        """Open, ``connected`` and ``start`` queued: media may follow."""
        self.cleared: list[AppCleared] = []

    def send(self, message: str | None) -> None:
        """Queue ``message`` for the app (None: nothing); never waits."""
        if message is None:
            return
        if self._outbox.qsize() >= MAX_OUTBOX:
            self.dropped += 1
            return
        self._outbox.put_nowait(message)

    async def run(self) -> None:
        """Open the stream and serve it until the app closes it.

        Raises:
            StreamFailed: the socket could not be opened or closed abnormally.
        """
        headers = {"X-Twilio-Signature": signature_for(self.identity.auth_token, self.url)}
        try:
            ws = await ws_connect(
                self.url, additional_headers=headers, open_timeout=self.open_timeout,
                max_size=MAX_MESSAGE, user_agent_header="Twilio.TmeWs/1.0",
                logger=log.getChild("twiml-stream"), create_connection=_Connection,
                close_timeout=CLOSE_TIMEOUT,
            )  # fmt: skip
        except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
            raise StreamFailed(f"stream {self.url[:200]} could not be opened: {exc}") from None
        assert isinstance(ws, _Connection)
        self._ws = ws
        for message in self.side.opening():
            self.send(message)
        self.ready = True
        if self.on_open is not None:
            self.on_open()
        writer = self._writer = asyncio.create_task(self._write(ws))
        reader = asyncio.create_task(self._read(ws))
        closing = asyncio.create_task(ws.close_received.wait())
        try:
            await asyncio.wait((reader, closing), return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():  # the app's close frame came: the stream is over
                await asyncio.wait((reader,), timeout=CLOSE_GRACE)
                if not reader.done():  # its FIN is held somewhere: we end the connection
                    ws.transport.close()
            await reader
        finally:
            for task in (writer, reader, closing):
                task.cancel()
            for task in (writer, reader, closing):
                with contextlib.suppress(asyncio.CancelledError, StreamFailed):
                    await task
        if ws.close_code not in (None, 1000, 1001, 1005):  # closed, but not normally
            raise StreamFailed(f"the app closed the stream with code {ws.close_code}")

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                for item in self.side.receive(text):
                    if isinstance(item, AppCleared):
                        self.cleared.append(item)
                    elif isinstance(item, AudioWaiting):
                        if self.on_audio is not None:
                            self.on_audio()
                    else:
                        self.send(item)
        except ConnectionClosedError as exc:
            if ws.protocol.close_rcvd is None:  # no close frame: it broke
                raise StreamFailed(f"the stream's WebSocket broke ({exc})") from None
        except ConnectionClosedOK:
            pass

    async def _write(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosedOK, ConnectionClosedError):
            while True:
                message = await self._outbox.get()
                if message is None:
                    return
                await ws.send(message)

    async def stop(self) -> None:
        """``stop`` sent (the call ended or the TwiML moved on), then the socket closed.

        What is queued goes first, in order, through the writer (one sender: no reordering).
        """
        ws, self._ws = self._ws, None
        self.ready = False
        stop = self.side.stop()
        if ws is None:
            return
        writer = self._writer
        if writer is not None and not writer.done():
            if stop is not None:
                self._outbox.put_nowait(stop)  # past the bound: the last message is never dropped
            self._outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await asyncio.shield(writer)
        elif stop is not None:
            with contextlib.suppress(ConnectionClosedOK, ConnectionClosedError, OSError):
                async with asyncio.timeout(1.0):
                    await ws.send(stop)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await ws.close()
