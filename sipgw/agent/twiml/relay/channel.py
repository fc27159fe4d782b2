"""The app's side of a ConversationRelay session: its WebSocket.

:class:`AppChannel` opens the socket signed as Twilio signs it (``X-Twilio-Signature`` over
the URL, Twilio's user agent), writes every message through one queue (so sending never
waits: the caller's side and the speaker send from the tick), keeps what was sent, and
reads the app's messages one at a time: what it sent wrong is answered with ``error`` (the
parser's description) and counted, and the session goes on, as Twilio's does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Final

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, WebSocketException

from sipgw.agent.twiml.streams import StreamFailed
from sipgw.twilio.relay import (
    AppMessage,
    ErrorMessage,
    MalformedRelayMessage,
    PlatformMessage,
    parse_app_message,
    serialize,
)
from sipgw.twilio.signature import signature_for

__all__ = ["MAX_MESSAGE", "AppChannel"]

log = logging.getLogger("sipgw.agent")

MAX_MESSAGE: Final = 65_536


class AppChannel:
    """The app's WebSocket (see the module docstring).

    Args:
        url: the verb's ``url``, absolute.
        auth_token: the token the handshake is signed with.
        open_timeout: seconds to open the socket.
    """

    def __init__(self, url: str, auth_token: str, open_timeout: float = 5.0) -> None:
        self.url = url
        self.auth_token = auth_token
        self.open_timeout = open_timeout
        self.sent: list[PlatformMessage] = []
        """Every message sent to the app, in order (tests and the call record)."""
        self.errors = 0
        """Bad messages the app sent (each answered with ``error``)."""
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self._writer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Open the socket and start writing to it.

        Raises:
            StreamFailed: the socket could not be opened.
        """
        headers = {"X-Twilio-Signature": signature_for(self.auth_token, self.url)}
        try:
            ws = await ws_connect(
                self.url, additional_headers=headers, open_timeout=self.open_timeout,
                max_size=MAX_MESSAGE, user_agent_header="Twilio.TmeWs/1.0",
                logger=log.getChild("relay"),
            )  # fmt: skip
        except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
            raise StreamFailed(
                f"ConversationRelay {self.url[:200]} could not be opened: {exc}"
            ) from None
        self._ws = ws
        self._writer = asyncio.get_running_loop().create_task(self._write(ws))

    async def messages(self) -> AsyncGenerator[AppMessage, None]:
        """The app's messages, each as it comes, until it closes the socket; the writer is
        stopped when they end (consume with ``contextlib.aclosing``).

        Raises:
            StreamFailed: the socket broke.
        """
        ws = self._ws
        assert ws is not None, "open() first"
        try:
            async for frame in ws:
                try:
                    message = parse_app_message(frame)
                except MalformedRelayMessage as exc:
                    self.errors += 1
                    self.send(ErrorMessage(f"Invalid message received: {exc}"))
                    continue
                yield message
        except ConnectionClosedError as exc:
            raise StreamFailed(f"the ConversationRelay socket broke ({exc})") from None
        except ConnectionClosedOK:
            pass
        finally:
            self._outbox.put_nowait(None)
            if self._writer is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await self._writer

    async def _write(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosedOK, ConnectionClosedError):
            while (text := await self._outbox.get()) is not None:
                await ws.send(text)

    def send(self, message: PlatformMessage) -> None:
        """``message`` to the app, queued: it never waits."""
        self.sent.append(message)
        self._outbox.put_nowait(serialize(message))

    async def close(self) -> None:
        """Stop writing and close the socket."""
        self._outbox.put_nowait(None)
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await ws.close()
