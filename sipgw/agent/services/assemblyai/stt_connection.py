"""The connection to AssemblyAI's streaming API: sessions opened, supervised, replaced.

:class:`AssemblyAIConnection` is the I/O of
:class:`sipgw.agent.services.assemblyai.stt.AssemblyAISTTService` (its theory of operation: that
module's docstring). It opens a session and waits for ``Begin`` within ``connect_timeout``
(:meth:`~AssemblyAIConnection.open`), then serves sessions until the service closes or a
final failure (:meth:`~AssemblyAIConnection.supervise`): the uplink's chunks go paced to
real time, written at once as whole frames by
:meth:`~AssemblyAIConnection.wake_sender` while the sender task is idle, else by that task
(through ``websockets``' ``send`` when the socket's buffer is not empty), the receive
loop turns the server's messages into events
(:class:`sipgw.agent.services.assemblyai.stt_session.StreamState`), and an unexpected close is
retried with backoff for ``reconnect_for`` seconds of the outage. Every path that gives
up a session that may be open sends ``Terminate`` (:func:`terminate`). It shares the
service's settings, updated fields, uplink, state and event outlet, never the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.protocol import State

from sipgw.agent.services.assemblyai.stt_options import AssemblyAISettings
from sipgw.agent.services.assemblyai.stt_protocol import (
    RETRYABLE_HTTP,
    TERMINATE,
    body_excerpt,
    close_is_fatal,
    describe_close,
    headers,
    http_hint,
    is_rate_limited,
    public_url,
    session_url,
)
from sipgw.agent.services.assemblyai.stt_session import StreamState
from sipgw.agent.services.backoff import Backoff
from sipgw.agent.services.json_messages import json_object
from sipgw.agent.services.stt.base import (
    SttConnectError,
    SttDisconnected,
    SttFailed,
    SttReconnected,
)
from sipgw.agent.services.stt.outlet import EventOutlet
from sipgw.agent.services.stt.uplink import AudioUplink
from sipgw.agent.services.websocket_client import VendorConnection
from sipgw.foundation.redact import websocket_logger

__all__ = [
    "RATE_LIMIT_BACKOFF_CAP",
    "RATE_LIMIT_BACKOFF_FIRST",
    "STABLE_SESSION_SECONDS",
    "TERMINATION_TIMEOUT",
    "AssemblyAIConnection",
    "terminate",
]

logger = logging.getLogger("sipgw.agent.services.assemblyai.stt")  # the client's one logger
_WS_LOG = websocket_logger("websockets.client.assemblyai")  # masks the Authorization header

TERMINATION_TIMEOUT: Final = 2.0
"""Longest :meth:`sipgw.agent.services.assemblyai.stt.AssemblyAISTTService.close` waits for
``Termination``."""

STABLE_SESSION_SECONDS: Final = 2.0
"""A session must stay open this long before the reconnect budget is renewed."""

RATE_LIMIT_BACKOFF_FIRST: Final = 5.0
"""First wait after a concurrency or rate-limit refusal (it doubles per attempt)."""

RATE_LIMIT_BACKOFF_CAP: Final = 60.0
"""Longest such wait: the service limits *new sessions per minute*, so the attempts of
one outage are spread across that window instead of hammering it."""

_ABORT_TERMINATION_TIMEOUT: Final = 0.5  # a connect that failed or was cancelled
_RECONNECT: Final = Backoff(0.2, cap=2.0)
_RATE_LIMITED: Final = Backoff(RATE_LIMIT_BACKOFF_FIRST, cap=RATE_LIMIT_BACKOFF_CAP)
_CLOSE_TIMEOUT: Final = 1.0
_PING_INTERVAL: Final = 10.0


class AssemblyAIConnection:
    """One service's sessions, one at a time, reconnecting as needed.

    Attributes:
        ws: the open session (None: none right now).
        closing: the service is closing: no session is replaced, no message sent.
        reconnect_for: seconds one outage is retried (``reconnect_for``, or
            :meth:`~sipgw.agent.services.assemblyai.stt.AssemblyAISTTService.set_reconnect_window`).
        chunk_ready: set when the uplink has a chunk for the sender.
    """

    def __init__(
        self,
        settings: AssemblyAISettings,
        overrides: dict[str, object],
        audio: AudioUplink,
        state: StreamState,
        outlet: EventOutlet,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        """Share the service's parts: ``overrides`` are the fields it updated (carried
        into every reconnect's query); ``sleep`` waits out the backoff."""
        self.settings = settings
        self.overrides = overrides
        self.audio = audio
        self.state = state
        self.outlet = outlet
        self.sleep = sleep
        self.chunk_ready = asyncio.Event()
        self.ws: ClientConnection | None = None
        self.closing = False
        self.reconnect_for = settings.reconnect_for
        self._sender: asyncio.Task[None] | None = None
        self._sender_idle = False  # the sender task waits for a chunk (wake_sender may send)
        self._inline_error: Exception | None = None  # raised in wake_sender, for the sender
        self._attempts_used = 0
        self._outage_spent = 0.0  # seconds of waits and attempts in the current outage

    async def open(self) -> ClientConnection:
        """Connect and wait for ``Begin``, within ``connect_timeout``."""
        self.state.error_frame = ""
        settings = self.settings
        url = session_url(settings, self.overrides)
        where = public_url(settings.url)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.connect_timeout
        try:
            async with asyncio.timeout_at(deadline):
                ws = await ws_connect(
                    url,
                    additional_headers=headers(settings.api_key),
                    logger=_WS_LOG,
                    compression=None,
                    open_timeout=None,
                    ping_interval=_PING_INTERVAL,
                    ping_timeout=_PING_INTERVAL,
                    close_timeout=_CLOSE_TIMEOUT,
                    create_connection=VendorConnection,
                )
        except TimeoutError:
            raise SttConnectError(
                f"AssemblyAI at {where} did not answer within {settings.connect_timeout:g} s"
            ) from None
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = body_excerpt(exc.response.body)
            raise SttConnectError(
                f"AssemblyAI rejected the connection: HTTP {status} ({http_hint(status)}){body}",
                status=status,
                retryable=status >= 500 or status in RETRYABLE_HTTP,
            ) from exc
        except InvalidURI as exc:
            raise SttConnectError(f"invalid AssemblyAI URL: {exc}", retryable=False) from exc
        except (OSError, InvalidHandshake) as exc:
            raise SttConnectError(f"could not connect to AssemblyAI at {where}: {exc}") from exc
        try:
            async with asyncio.timeout_at(deadline):
                await self._await_begin(ws)
        except BaseException as exc:
            if ws.state is State.OPEN:  # the session may exist: it must not bill on
                await terminate(ws, _ABORT_TERMINATION_TIMEOUT)
            if ws.state is not State.CLOSED:
                ws.transport.abort()
            if isinstance(exc, TimeoutError):
                raise SttConnectError(
                    f"AssemblyAI at {where} sent no Begin within {settings.connect_timeout:g} s"
                ) from None
            raise
        return ws

    async def _await_begin(self, ws: ClientConnection) -> None:
        while True:
            try:
                raw = await ws.recv()
            except ConnectionClosed:
                code, reason = ws.close_code, self.state.close_text(ws.close_reason or "")
                description = describe_close(code, reason)
                raise SttConnectError(
                    f"AssemblyAI closed the session before it began: {description}",
                    close_code=code,
                    retryable=not close_is_fatal(code, reason),
                ) from None
            message = json_object(raw, "AssemblyAI", logger)
            if message is None:
                continue
            now = asyncio.get_running_loop().time()
            if message.get("type") == "Begin":
                self.outlet.emit(self.state.begin(message, now))
                return
            self._dispatch(message, now)

    async def supervise(self, ws: ClientConnection) -> None:
        """Serve sessions until close() or a final failure, reconnecting between."""
        loop = asyncio.get_running_loop()
        current: ClientConnection | None = ws
        while current is not None:
            opened_at = loop.time()
            await self._serve(current)
            if self.closing:
                return
            code, reason = current.close_code, self.state.close_text(current.close_reason or "")
            description = describe_close(code, reason)
            self.state.last_error = description
            if close_is_fatal(code, reason):
                self._fail(f"AssemblyAI closed the session: {description}", code)
                return
            logger.warning("AssemblyAI session dropped: %s; reconnecting", description)
            if loop.time() - opened_at >= STABLE_SESSION_SECONDS:
                self._attempts_used, self._outage_spent = 0, 0.0  # a new outage
            current = await self._recover(description, is_rate_limited(code, reason))

    async def _recover(self, description: str, limited: bool) -> ClientConnection | None:
        """Reconnect after a drop; report the outage. None if we gave up."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        audio = self.audio
        dropped_before, skipped_before = audio.dropped_seconds, audio.skipped_seconds
        audio.begin_outage()
        self.outlet.emit(SttDisconnected(reason=description, received_at=started))
        ws = await self._reconnect(description, limited)
        if ws is None:
            return None
        self.state.reconnects += 1
        self.outlet.emit(
            SttReconnected(
                outage_seconds=loop.time() - started,
                backlog_seconds=audio.backlog_seconds,
                dropped_seconds=audio.dropped_seconds - dropped_before,
                silence_skipped_seconds=audio.skipped_seconds - skipped_before,
            )
        )
        return ws

    async def _reconnect(self, last_error: str, limited: bool) -> ClientConnection | None:
        """Try again with backoff: 0.2 s doubling up to 2 s; after a concurrency or
        rate-limit refusal, 5 s doubling up to 60 s (the per-minute window); for
        ``reconnect_for`` seconds of the outage, the last wait cut short so that an
        attempt starts at its end."""
        loop = asyncio.get_running_loop()
        window = self.reconnect_for
        limited_tries = 0
        while (left := window - self._outage_spent) > 0:
            if limited:
                delay = _RATE_LIMITED.within(limited_tries, left)
                limited_tries += 1
            else:
                delay = _RECONNECT.within(self._attempts_used, left)
            if delay is None:  # not reached: a backoff without steps, and time left
                break
            self._attempts_used += 1
            await self.sleep(delay)
            started = loop.time()
            try:
                return await self.open()
            except SttConnectError as exc:
                last_error = str(exc)
                self.state.last_error = last_error
                # A retryable 1008 is one whose reason is about concurrency.
                limited = limited or (exc.retryable and exc.code in (1008, 3009, 429))
                if not exc.retryable:
                    self._fail(last_error, exc.code)
                    return None
                logger.info("AssemblyAI reconnect attempt failed: %s", last_error)
            finally:
                self._outage_spent += delay + (loop.time() - started)
        self._fail(
            f"gave up after {window:g} s of reconnect attempts ({self._attempts_used}); "
            f"last error: {last_error}",
            None,
        )
        return None

    async def _serve(self, ws: ClientConnection) -> None:
        """Run one session: send audio, handle messages, until the socket closes."""
        self.ws = ws
        self._sender = asyncio.get_running_loop().create_task(
            self._send_loop(ws), name="assemblyai-stt-sender"
        )
        try:
            await self._receive_loop(ws)
        finally:
            self.ws = None
            await self.stop_sender()

    async def stop_sender(self) -> None:
        task, self._sender = self._sender, None
        self._sender_idle = False
        error, self._inline_error = self._inline_error, None
        if error is not None:  # the session ended before its sender raised it: not the next's
            logger.error("AssemblyAI sender failed: %r", error)
            self.state.last_error = f"sender failed: {error!r}"
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    async def _receive_loop(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                message = json_object(raw, "AssemblyAI", logger)
                if message is not None:
                    self._dispatch(message, loop.time())

    # ----------------------------------------------------------------- sending

    def wake_sender(self) -> None:
        """The uplink has a chunk: send what the pacer allows now, else wake the sender.

        While the sender task waits for audio (none queued before this chunk), the chunks
        the pacer lets go now are written here, at once, as whole frames
        (:meth:`~sipgw.agent.services.websocket_client.VendorConnection.send_binary_now`): no task
        step a message. Whatever is left (a chunk the pacer holds back, a socket whose
        buffer is not empty, a connection that is not open) is the sender task's, as before.
        """
        ws = self.ws
        if self._sender_idle and ws is not None and not self.closing and self._inline_error is None:
            try:
                if not self._send_due(ws):
                    return
            except Exception as exc:  # the sender task's error path handles it
                self._inline_error = exc
        self.chunk_ready.set()

    def _send_due(self, ws: ClientConnection) -> bool:
        """Write the chunks the pacer allows now, while the connection takes them at once;
        True when one is left for the sender task."""
        if not isinstance(ws, VendorConnection):
            return True
        clock = ws.clock  # the connection's loop (get_running_loop asks the OS for the pid)
        audio = self.audio
        while True:
            now = clock()
            delay = audio.wait_before_next(now)
            if delay is None:
                return False
            if delay > 0:
                return True
            chunk = audio.pop()
            if chunk is None:
                continue
            if not ws.send_binary_now(chunk):
                audio.put_back(chunk)
                return True
            audio.sent(chunk, now)
            self.state.sent(chunk)

    async def _send_loop(self, ws: ClientConnection) -> None:
        """Send queued chunks, paced to real time; return when the socket closes."""
        loop = asyncio.get_running_loop()
        audio = self.audio
        audio.begin_session(loop.time())
        try:
            while True:
                if (error := self._inline_error) is not None:
                    self._inline_error = None
                    raise error
                # what is due and the socket takes at once goes whole; the rest as before
                left = self._send_due(ws)
                delay = audio.wait_before_next(loop.time()) if left else None
                if delay is None:  # nothing queued: wait for send_audio()
                    self.chunk_ready.clear()
                    self._sender_idle = True
                    try:
                        await self.chunk_ready.wait()
                    finally:
                        self._sender_idle = False
                    continue
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue  # the queue may have been re-cut meanwhile: look again
                chunk = audio.pop()
                if chunk is None:
                    continue
                try:  # declined at once (data waits in the buffer): the library's flow control
                    await ws.send(chunk)
                except ConnectionClosed:
                    audio.put_back(chunk)
                    return
                audio.sent(chunk, loop.time())
                self.state.sent(chunk)
        except Exception as exc:  # a bug here must not leave a silent session behind
            logger.exception("AssemblyAI sender failed")
            self.state.last_error = f"sender failed: {exc!r}"
            await terminate(ws)  # the session is replaced: this one must stop billing
            await ws.close(1011, "client error")

    async def send_text(self, message: str) -> None:
        """Send a text message on the open session (none: nothing is sent)."""
        ws = self.ws
        if ws is None or self.closing:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(message)

    def _fail(self, reason: str, code: int | None) -> None:
        logger.error("AssemblyAI STT failed: %s", reason)
        self.state.last_error = reason
        self.outlet.fail(SttFailed(reason=reason, code=code))

    def _dispatch(self, message: dict[str, object], now: float) -> None:
        event = self.state.receive(message, now)
        if event is not None:
            self.outlet.emit(event)


async def terminate(ws: ClientConnection, within: float = TERMINATION_TIMEOUT) -> None:
    """Send ``Terminate`` and wait (at most ``within`` s) for the server's close.

    Used on every path that gives up a session that may be open: an unterminated
    session keeps billing until the 3-hour cap. Never raises.
    """
    with contextlib.suppress(ConnectionClosed, TimeoutError, OSError):
        async with asyncio.timeout(within):
            await ws.send(TERMINATE)
            await ws.wait_closed()
