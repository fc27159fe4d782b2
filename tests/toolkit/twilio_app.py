"""A small app built for Twilio, on the official ``twilio`` SDK: the peer of ``--agent twiml``.

What a Twilio developer writes (docs/twilio-apps.md): a voice webhook that checks
``X-Twilio-Signature`` with the SDK's :class:`twilio.request_validator.RequestValidator`
(and answers 403 when it fails, as Twilio's own samples do) and returns TwiML built with
the SDK's :class:`twilio.twiml.voice_response.VoiceResponse`; and a Media Streams
WebSocket server (``websockets``) that reads Twilio's messages and sends ``media``,
``mark`` and ``clear``. Nothing of sipgw is imported: it knows Twilio only.

The test scripts the app: :attr:`TwilioSdkApp.twiml` builds each webhook answer from the
request's form, and :attr:`TwilioSdkApp.bot` runs each stream (:class:`AppStream`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = ["AppStream", "TwilioSdkApp", "WebhookRequest"]


@dataclass
class WebhookRequest:
    """One request the webhook got: its form, and whether the SDK validated it."""

    path: str
    params: dict[str, str]
    valid: bool
    method: str = "POST"


@dataclass
class AppStream:
    """One Media Stream as the app sees it."""

    ws: ServerConnection
    handshake_valid: bool
    messages: list[dict[str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    """When each message arrived (time.monotonic())."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stream_sid: str = ""

    def events(self, name: str) -> list[dict[str, Any]]:
        """The messages of one event, in order."""
        return [m for m in self.messages if m.get("event") == name]

    def caller_audio(self) -> bytes:
        """Every inbound ``media`` payload, decoded, in order."""
        return b"".join(
            base64.b64decode(m["media"]["payload"])
            for m in self.events("media")
            if m["media"].get("track", "inbound") == "inbound"
        )

    async def wait(self, condition: Callable[[], object], within: float = 10.0) -> None:
        """Until ``condition()`` holds (checked as each message arrives)."""
        async with asyncio.timeout(within):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    async def send_media(self, audio: bytes) -> None:
        """``media``: μ-law to play to the caller."""
        payload = base64.b64encode(audio).decode()
        await self.ws.send(json.dumps(
            {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
        ))  # fmt: skip

    async def send_mark(self, name: str) -> None:
        """``mark``: to be echoed once the audio before it has played."""
        await self.ws.send(json.dumps(
            {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}}
        ))  # fmt: skip

    async def send_clear(self) -> None:
        """``clear``: drop the audio not played yet."""
        await self.ws.send(json.dumps({"event": "clear", "streamSid": self.stream_sid}))


Bot = Callable[[AppStream], Awaitable[None]]


async def _idle_bot(stream: AppStream) -> None:
    await stream.wait(lambda: stream.events("stop"), within=3600)


@dataclass
class TwilioSdkApp:
    """The app (see the module docstring). :meth:`start` before use, :meth:`stop` after."""

    auth_token: str
    twiml: Callable[[TwilioSdkApp, WebhookRequest], VoiceResponse | str] = lambda app, req: (
        VoiceResponse()
    )
    bot: Bot = _idle_bot
    host: str = "127.0.0.1"
    webhook_delay: float = 0.0
    own_reader: bool = False
    behind_tunnel: bool = False
    """The stream is reached through a tunnel (as ngrok, or a load balancer, fronts an app)
    that forwards bytes both ways but not a half-close: the app's TCP FIN after its close
    handshake reaches the gateway only once the gateway closed its own side."""
    """The bot reads the socket itself (``async for`` in its handler, as websockets' docs
    show): the app's reader does not run, the bot fills :attr:`AppStream.messages` or not."""
    requests: list[WebhookRequest] = field(default_factory=list)
    streams: list[AppStream] = field(default_factory=list)
    stream_opened: asyncio.Event = field(default_factory=asyncio.Event)
    http_port: int = 0
    ws_port: int = 0
    _runner: web.AppRunner | None = None
    _tunnel: asyncio.Server | None = None
    _server: Server | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The voice webhook's URL."""
        return f"http://{self.host}:{self.http_port}/voice"

    @property
    def ws_url(self) -> str:
        """The Media Streams WebSocket's URL."""
        return f"ws://{self.host}:{self.ws_port}/media"

    async def start(self) -> None:
        """Serve the webhook and the stream on free ports."""
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.http_port = self._runner.addresses[0][1]
        self._server = await serve(self._stream, self.host, 0)
        self.ws_port = next(iter(self._server.sockets)).getsockname()[1]
        if self.behind_tunnel:
            self._tunnel = await asyncio.start_server(self._relay, self.host, 0)
            self.ws_port, self._app_port = self._tunnel.sockets[0].getsockname()[1], self.ws_port

    _app_port: int = 0

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection through the tunnel (see :attr:`behind_tunnel`)."""
        up_reader, up_writer = await asyncio.open_connection(self.host, self._app_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()

        down = asyncio.create_task(pump(reader, up_writer))
        up = asyncio.create_task(pump(up_reader, writer))
        await down  # the gateway's side ended: only now does the tunnel close both
        up.cancel()
        for w in (writer, up_writer):
            w.close()

    async def stop(self) -> None:
        """Stop both servers."""
        if self._tunnel is not None:
            self._tunnel.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()

    def start_in_thread(self) -> TwilioSdkApp:
        """Serve from a daemon thread with its own loop (for a gateway in a subprocess)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._loop, self._thread = loop, threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the Twilio SDK app did not start")
        return self

    def stop_thread(self) -> None:
        """Stop the thread :meth:`start_in_thread` started."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def wait_until(self, condition: Callable[[], object], within: float = 10.0) -> None:
        """From the test's thread: until ``condition()`` holds (checked every 10 ms)."""
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"the app did not see it within {within} s")
            time.sleep(0.01)

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else request.query
        params = {k: str(v) for k, v in form.items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        url = str(request.url)
        valid = RequestValidator(self.auth_token).validate(
            url, params if request.method == "POST" else {}, signature
        )
        req = WebhookRequest(request.path, params, valid, request.method)
        self.requests.append(req)
        if not valid:
            return web.Response(status=403, text="invalid signature")
        if self.webhook_delay:
            await asyncio.sleep(self.webhook_delay)
        answer = self.twiml(self, req)
        return web.Response(text=str(answer), content_type="application/xml")

    async def _stream(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        signature = ws.request.headers.get("X-Twilio-Signature", "")
        url = f"ws://{self.host}:{self.ws_port}{ws.request.path}"  # as the gateway called it
        valid = RequestValidator(self.auth_token).validate(url, {}, signature)
        stream = AppStream(ws, valid)
        self.streams.append(stream)
        self.stream_opened.set()
        reader = asyncio.create_task(
            self._read(stream) if not self.own_reader else asyncio.sleep(0)
        )
        try:
            await self.bot(stream)
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    @staticmethod
    async def _read(stream: AppStream) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in stream.ws:
                message = json.loads(text)
                stream.messages.append(message)
                stream.arrived.append(time.monotonic())
                if message.get("event") == "start":
                    stream.stream_sid = message["start"]["streamSid"]
                stream.changed.set()
        stream.changed.set()
