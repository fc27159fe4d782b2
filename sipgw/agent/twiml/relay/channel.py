"""The app's side of a ConversationRelay session: its WebSocket.

:class:`AppChannel` opens the socket signed as Twilio signs it (``X-Twilio-Signature`` over
the URL, Twilio's user agent), writes every message through one queue (so sending never
waits: the caller's side and the speaker send from the tick), keeps what was sent, and
reads the app's messages one at a time: what it sent wrong is answered with ``error`` (the
parser's description) and counted, and the session goes on, as Twilio's does.

With ``applicationReconnect`` (a :class:`~sipgw.agent.twiml.relay.reconnect.ReconnectPolicy`)
a socket that drops (no close frame, or a close code other than 1000; an empty close frame
is an app ending the session, as 1000 is) does not end the session: the messages still
queued and those sent while the app is away are kept (an
:class:`~sipgw.agent.twiml.relay.reconnect.Absence`), the same URL is tried again, signed
the same way, and once it answers the first ``setup`` goes again, then what was kept, in
order. Past the policy's bound the drop is a :class:`StreamFailed`, as without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Final

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, WebSocketException
from websockets.frames import CloseCode

from sipgw.agent.twiml.relay.reconnect import Absence, ReconnectPolicy
from sipgw.agent.twiml.streams import StreamFailed
from sipgw.twilio.relay import (
    AppMessage,
    ErrorMessage,
    MalformedRelayMessage,
    PlatformMessage,
    SetupMessage,
    parse_app_message,
    serialize,
)
from sipgw.twilio.signature import signature_for

__all__ = ["MAX_MESSAGE", "AppChannel"]

log = logging.getLogger("sipgw.agent")

MAX_MESSAGE: Final = 65_536
_ENDED: Final = (CloseCode.NORMAL_CLOSURE, CloseCode.NO_STATUS_RCVD)
"""Close codes of an app ending the session (Node's ``ws.close()`` sends no code)."""


class AppChannel:
    """The app's WebSocket (see the module docstring).

    Args:
        url: the verb's ``url``, absolute.
        auth_token: the token the handshake is signed with.
        open_timeout: seconds to open the socket.
        reconnect: how to reconnect when the socket drops (``applicationReconnect``);
            None: a drop is a :class:`StreamFailed`.
        call_id: the call, for the log.
    """

    def __init__(
        self, url: str, auth_token: str, open_timeout: float = 5.0,
        reconnect: ReconnectPolicy | None = None, call_id: str = "",
    ) -> None:  # fmt: skip
        self.url = url
        self.call_id = call_id
        self.auth_token = auth_token
        self.open_timeout = open_timeout
        self.reconnect = reconnect
        self.sent: list[PlatformMessage] = []
        """Every message sent to the app, in order (tests and the call record): kept while
        it was away too, ``setup`` again when it came back; those dropped are not."""
        self.errors = 0
        """Bad messages the app sent (each answered with ``error``)."""
        self.reconnects = 0
        """Times the socket dropped and came back."""
        self.events_dropped = 0
        """Messages not kept while the app was away: the cap was reached."""
        self.absence: Absence[PlatformMessage] | None = None
        """The app away, the socket being reconnected (None: the socket is up)."""
        self.on_away: Callable[[], None] = lambda: None
        """Told when the socket dropped and is being reconnected."""
        self._outbox: asyncio.Queue[PlatformMessage | None] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self._writer: asyncio.Task[None] | None = None
        self._unsent: list[PlatformMessage] = []  # the message whose write failed
        self._setup: SetupMessage | None = None  # the first setup, sent again on reconnect
        self._heard = False  # the app sent something on this socket
        self._went_away: Absence[PlatformMessage] | None = None  # the latest absence
        self._back_at = 0.0  # when the socket last came back
        self._closed = False  # close() was called: the session is over

    async def open(self) -> None:
        """Open the socket and start writing to it.

        Raises:
            StreamFailed: the socket could not be opened.
        """
        self._start(await self._connect(self.open_timeout))

    async def _connect(self, seconds: float) -> ClientConnection:
        headers = {"X-Twilio-Signature": signature_for(self.auth_token, self.url)}
        try:
            return await ws_connect(
                self.url, additional_headers=headers, open_timeout=seconds,
                max_size=MAX_MESSAGE, user_agent_header="Twilio.TmeWs/1.0",
                logger=log.getChild("relay"),
            )  # fmt: skip
        except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
            raise StreamFailed(
                f"ConversationRelay {self.url[:200]} could not be opened: {exc}"
            ) from None

    def _start(self, ws: ClientConnection) -> None:
        self._ws, self._heard = ws, False
        self._writer = asyncio.get_running_loop().create_task(self._write(ws, self._outbox))

    async def messages(self) -> AsyncGenerator[AppMessage, None]:
        """The app's messages, each as it comes, until it ends the session; the writer is
        stopped when they end (consume with ``contextlib.aclosing``).

        Raises:
            StreamFailed: the socket broke (and, with ``reconnect``, was not back in time).
        """
        try:
            while not self._closed:
                ws = self._ws
                assert ws is not None, "open() first"
                try:
                    frame = await ws.recv()
                except ConnectionClosed as exc:
                    if not self._dropped(exc):
                        return
                    await self._reconnect(exc)
                    continue
                self._heard = True
                try:
                    message = parse_app_message(frame)
                except MalformedRelayMessage as exc:
                    self.errors += 1
                    self.send(ErrorMessage(f"Invalid message received: {exc}"))
                    continue
                yield message
        finally:
            self._outbox.put_nowait(None)
            await self._stop_writer()

    def _dropped(self, closed: ConnectionClosed) -> bool:
        """Whether the socket dropped unexpectedly and is to be reconnected (False: the app
        ended the session).

        Raises:
            StreamFailed: it broke and is not to be reconnected.
        """
        if self._closed or (closed.rcvd is not None and closed.rcvd.code in _ENDED):
            return False
        if self.reconnect is not None:
            return True
        if isinstance(closed, ConnectionClosedOK):  # 1001, going away: as before
            return False
        raise StreamFailed(f"the ConversationRelay socket broke ({closed})")

    async def _reconnect(self, closed: ConnectionClosed) -> None:
        """Keep what is sent while the app is away, and try the URL until it answers
        (``setup`` and what was kept go first) or the bound is past.

        Raises:
            StreamFailed: the bound is past.
        """
        assert self.reconnect is not None
        loop = asyncio.get_running_loop()
        unsent: list[PlatformMessage] = [
            m for m in await self._take_unsent() if not isinstance(m, SetupMessage)
        ]
        before, now = self._went_away, loop.time()
        # back, and dropped again before the app said a word: the same absence, its bound
        goes_on = not self._heard and now - self._back_at < self.reconnect.within
        since = before.since if before is not None and goes_on else None
        absence = Absence(self.reconnect, now, unsent, since)
        self.absence = self._went_away = absence
        log.warning("[%s] ConversationRelay %s dropped (%s): reconnecting for up to %.1f s, "
                    "%d messages kept", self.call_id, self.url[:200], closed,
                    absence.deadline - now, absence.kept)  # fmt: skip
        self.on_away()
        try:
            while (at := absence.next_attempt()) is not None and not self._closed:
                await asyncio.sleep(max(0.0, at - loop.time()))
                seconds = absence.attempt_timeout(loop.time(), self.open_timeout)
                try:
                    ws = await self._connect(seconds)
                except StreamFailed as exc:
                    log.info("[%s] %s; trying again", self.call_id, exc)
                    absence.attempt_failed(loop.time())
                    continue
                if self._closed:  # the session ended meanwhile
                    await ws.close()
                    return
                self._back(ws, absence, loop.time())
                return
        finally:
            self.absence = None
            self.events_dropped += absence.dropped
        if self._closed:
            return
        raise StreamFailed(f"the ConversationRelay socket broke ({closed}) and was not back "
                           f"within {self.reconnect.within:g} s")  # fmt: skip

    def _back(self, ws: ClientConnection, absence: Absence[PlatformMessage], now: float) -> None:
        """The socket is back: ``setup`` first, then what was kept, then what comes."""
        self._outbox = asyncio.Queue()
        if self._setup is not None:
            self.sent.append(self._setup)
            self._outbox.put_nowait(self._setup)
        replay = absence.replay()
        for message in replay:
            self._outbox.put_nowait(message)
        self.reconnects += 1
        self._back_at = now
        self._start(ws)
        log.info("[%s] ConversationRelay %s back after %.1f s: setup and %d messages sent "
                 "again (%d dropped)", self.call_id, self.url[:200], now - absence.since,
                 len(replay), absence.dropped)  # fmt: skip

    async def _take_unsent(self) -> list[PlatformMessage]:
        """The messages handed to the dropped socket and not written, in order."""
        outbox = self._outbox
        outbox.put_nowait(None)
        await self._stop_writer()
        unsent, self._unsent = self._unsent, []
        while not outbox.empty():
            message = outbox.get_nowait()
            if message is not None:
                unsent.append(message)
        return unsent

    async def _stop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await writer

    async def _write(
        self, ws: ClientConnection, outbox: asyncio.Queue[PlatformMessage | None]
    ) -> None:
        while (message := await outbox.get()) is not None:
            try:
                await ws.send(serialize(message))
            except ConnectionClosed:
                self._unsent.append(message)
                return

    def send(self, message: PlatformMessage) -> None:
        """``message`` to the app, queued (kept while it is away): it never waits."""
        if isinstance(message, SetupMessage) and self._setup is None:
            self._setup = message
        absence = self.absence
        if absence is None:
            self._outbox.put_nowait(message)
        elif not absence.keep(message):
            if absence.dropped == 1:
                log.warning("[%s] ConversationRelay %s away: over %d messages, the later ones "
                            "are dropped", self.call_id, self.url[:200],
                            absence.policy.max_events)  # fmt: skip
            return
        self.sent.append(message)

    async def close(self) -> None:
        """Stop writing and close the socket (and stop reconnecting it)."""
        self._closed = True
        self._outbox.put_nowait(None)
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await ws.close()
