"""A local stand-in for Twilio's side of a bidirectional Media Stream (``<Connect><Stream>``).

Twilio is the WebSocket *client* of a Media Stream: it connects to the URL of the TwiML's
``<Stream>`` and speaks the protocol of docs/cloud-apis.md, "Twilio Media Streams". This fake
does the same over a real socket (``websockets``), written from Twilio's pages, not from our
code, so the production endpoint is exercised unchanged::

    async with FakeTwilioStream(url, audio=ulaw, custom_parameters={"caller": "+1555..."}) as call:
        await call.wait_for(lambda: call.heard_seconds() >= 1.0, within=5)
        await call.press("5")

or, for a number's whole call, the webhook first (:func:`call_the_webhook`)::

    answer = await call_the_webhook(http, local_webhook, TOKEN, public_webhook, form)
    async with answer.stream(local_stream_url, TOKEN) as call: ...

What it does, as the docs describe Twilio:

* **The webhook** (:func:`call_the_webhook`). An incoming call makes Twilio POST the number's
  "A call comes in" URL, form-encoded (``CallSid``, ``AccountSid``, ``From``, ``To``, ...),
  signed over the URL and the form's parameters sorted by name ("Webhooks security"). The
  answer is TwiML: ``<Reject reason>`` ends the call unanswered; ``<Connect><Stream url>``
  opens a stream to ``url``, each ``<Parameter name value>`` in it one of the ``start``
  message's ``customParameters`` ("TwiML Voice: <Stream>"); the ``start``'s ``callSid`` is
  the webhook's ``CallSid``.
* **Handshake.** With ``auth_token``, the upgrade carries ``X-Twilio-Signature``: the
  HMAC-SHA1 of the URL (a GET: no parameters), keyed by the token, base64. Twilio signs the
  URL of its TwiML; behind a TLS proxy that is another than the one connected to
  (``signed_url``: the public ``wss://`` one).
* **Its messages.** ``connected`` (``protocol`` "Call", ``version`` "1.0.0"), ``start`` (the
  SIDs, ``tracks`` ["inbound"], ``customParameters``, ``mediaFormat`` audio/x-mulaw, 8000 Hz,
  1 channel), then one ``media`` message per 20 ms on absolute deadlines (track "inbound",
  ``chunk`` from 1, ``timestamp`` in ms from the start, base64 μ-law): the caller's audio while
  there is some (:meth:`say`), silence after it, as a phone line never stops. ``dtmf`` with
  track "inbound_track" (:meth:`press`); ``stop`` last (:meth:`stop`). Numbers are strings,
  as in the docs' examples; ``sequenceNumber`` counts every message from 1.
* **Playback.** Our ``media`` is "buffered and played in the order received", at 8000 bytes a
  second: :attr:`heard` keeps each piece with the time it started playing; a piece arriving
  while nothing plays starts ``playout_delay`` later (0 by default: at once). A delay stands
  for what lies between Twilio and the caller's ear (the phone network, the phone's jitter
  buffer), which only marks reveal and only ``clear`` cuts short.
* **Marks.** A ``mark`` is echoed (same name) once the audio queued before it has played, or at
  once "if there is no audio buffered".
* **Clear.** ``clear`` "empties all buffered audio and causes any mark messages to be sent
  back": what had not started playing is dropped (and what was playing is cut), and every
  pending mark is echoed at once.
* **Checks.** A message without a known ``event``, with another ``streamSid``, or with a
  payload that is not base64 is recorded in :attr:`protocol_errors` (Twilio's own reaction is
  not documented; it is never silently accepted here).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sipgw.app.evaluation.audio import encode, read_wav

__all__ = ["FakeTwilioStream", "PlayedAudio", "TwimlAnswer", "call_the_webhook", "ulaw_from_wav"]

CHUNK = 160  # 20 ms of 8 kHz μ-law
SILENCE = b"\xff" * CHUNK


def ulaw_from_wav(path: str | Path) -> bytes:
    """A mono 8 kHz 16-bit WAV file as μ-law bytes (the caller's audio)."""
    samples, rate = read_wav(path)
    if rate != 8000:
        raise ValueError(f"{path}: {rate} Hz; Twilio's caller audio is 8000 Hz")
    return encode(samples, "PCMU")


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _signature(auth_token: str, url: str, form: dict[str, str] | None = None) -> str:
    """``X-Twilio-Signature``: the URL, then each POST parameter's name and value sorted by
    name, HMAC-SHA1 keyed by the Auth Token, base64 (Twilio's "Webhooks security")."""
    data = url + "".join(name + value for name, value in sorted((form or {}).items()))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class TwimlAnswer:
    """What the webhook's TwiML told Twilio to do with the call.

    Attributes:
        status: the HTTP status of the webhook's answer.
        call_sid: the call's ``CallSid`` (the webhook's form).
        reject: ``<Reject reason>`` when the call is rejected ("" otherwise).
        stream_url: the ``<Connect><Stream url>``, when the call is streamed.
        parameters: the ``<Stream>``'s ``<Parameter>`` pairs, in order.
        body: the answer as received.
    """

    status: int
    call_sid: str
    reject: str = ""
    stream_url: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def stream(self, url: str, auth_token: str | None, **options: Any) -> FakeTwilioStream:
        """The stream Twilio opens for this answer: to ``url`` (the local address of
        :attr:`stream_url`, which it signs), with the ``<Parameter>`` s as its
        ``customParameters`` and the webhook's ``CallSid``."""
        if not self.stream_url:
            raise ValueError(f"no <Connect><Stream> in the webhook's answer: {self.body[:200]!r}")
        return FakeTwilioStream(
            url, auth_token=auth_token, signed_url=self.stream_url, call_sid=self.call_sid,
            custom_parameters=dict(self.parameters), **options,
        )  # fmt: skip


async def call_the_webhook(
    http: aiohttp.ClientSession,
    url: str,
    auth_token: str,
    signed_url: str,
    form: dict[str, str],
) -> TwimlAnswer:
    """Post the number's voice webhook as Twilio does for an incoming call; read its TwiML.

    Args:
        http: the client session.
        url: where to post (the local address of ``signed_url``).
        auth_token: the account's Auth Token (signs the request).
        signed_url: the webhook URL configured at Twilio, which it signs.
        form: the voice request's parameters (``CallSid``, ``From``, ``To``, ...).
    """
    headers = {"X-Twilio-Signature": _signature(auth_token, signed_url, form),
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    async with http.post(url, data=urlencode(form), headers=headers) as response:
        body = await response.text()
        status = response.status
    call_sid = form.get("CallSid", "")
    if status != 200:
        return TwimlAnswer(status, call_sid, body=body)
    root = ET.fromstring(body)
    if root.tag != "Response":
        raise ValueError(f"the TwiML's root is <{root.tag}>, not <Response>")
    reject = root.find("./Reject")
    if reject is not None:
        return TwimlAnswer(status, call_sid, reject=reject.get("reason", "rejected"), body=body)
    stream = root.find("./Connect/Stream")
    if stream is None or not stream.get("url"):
        raise ValueError(f"TwiML without <Reject> or <Connect><Stream url>: {body[:200]!r}")
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("./Parameter")}
    return TwimlAnswer(status, call_sid, stream_url=stream.get("url", ""),
                       parameters=parameters, body=body)  # fmt: skip


@dataclass(slots=True)
class PlayedAudio:
    """A piece of our audio as the caller hears it: from ``start`` (loop time) on."""

    start: float
    audio: bytes

    @property
    def end(self) -> float:
        return self.start + len(self.audio) / 8000


@dataclass(slots=True)
class _Mark:
    name: str
    due: float
    received: float


@dataclass
class FakeTwilioStream:
    """Twilio's end of one bidirectional Media Stream; see the module docstring.

    Attributes:
        received: every message we got, as (loop time, decoded JSON).
        heard: our audio as played to the caller, in order (cut short by a clear).
        echoed: marks echoed, as (name, loop time, True if by a clear).
        clears: loop times of the ``clear`` messages.
        protocol_errors: what a real Twilio would not accept.
    """

    url: str
    audio: bytes = b""
    custom_parameters: dict[str, str] = field(default_factory=dict)
    auth_token: str | None = None
    signed_url: str | None = None
    """The URL Twilio was told to stream to, which it signs (default: ``url``)."""
    playout_delay: float = 0.0
    """Seconds from our audio's arrival to its playing, when nothing else is queued."""
    stream_sid: str = field(default_factory=lambda: _sid("MZ"))
    call_sid: str = field(default_factory=lambda: _sid("CA"))
    account_sid: str = field(default_factory=lambda: _sid("AC"))
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    heard: list[PlayedAudio] = field(default_factory=list)
    echoed: list[tuple[str, float, bool]] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    chunks_sent: int = 0
    sent_at: list[float] = field(default_factory=list)
    """Loop time right after each ``media`` chunk of the caller was written (index = chunk)."""
    closed_at: float | None = None
    """Loop time the socket closed: the endpoint closed it (as when it refuses the stream
    at its ``start``), or :meth:`stop` did."""

    def __post_init__(self) -> None:
        self._source: deque[bytes] = deque()
        self._pending = b""
        self.say(self.audio)
        self._sequence = 0
        self._playhead = 0.0  # loop time when all audio queued so far has played
        self._marks: deque[_Mark] = deque()
        self._mark_wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ws: ClientConnection | None = None
        self._stopped = False
        self._t0 = 0.0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        headers = {}
        if self.auth_token is not None:  # a GET: the URL alone is signed
            headers["X-Twilio-Signature"] = _signature(self.auth_token, self.signed_url or self.url)
        self._ws = await connect(self.url, additional_headers=headers)
        loop = asyncio.get_running_loop()
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send_numbered({
            "event": "start",
            "start": {
                "accountSid": self.account_sid, "streamSid": self.stream_sid,
                "callSid": self.call_sid, "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": self.custom_parameters,
            },
            "streamSid": self.stream_sid,
        })  # fmt: skip
        self._t0 = loop.time()
        self._tasks = [
            loop.create_task(self._send_audio(), name="fake-twilio-audio"),
            loop.create_task(self._receive(), name="fake-twilio-receive"),
            loop.create_task(self._echo_marks(), name="fake-twilio-marks"),
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        """End the call: ``stop``, then the socket closes (as when the caller hangs up)."""
        if self._stopped:
            return
        self._stopped = True
        self._cut(asyncio.get_running_loop().time())  # the caller is gone: nothing more plays
        with contextlib.suppress(ConnectionClosed):
            await self._send_numbered({
                "event": "stop",
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                "streamSid": self.stream_sid,
            })  # fmt: skip
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ws is not None:
            await self._ws.close()

    # ------------------------------------------------------------------ the caller

    def say(self, audio: bytes) -> int:
        """Queue caller audio (μ-law), sent in 20 ms chunks after what is already queued;
        returns the index its first chunk will have in :attr:`sent_at`."""
        first = self.chunks_sent + len(self._source)
        data = self._pending + audio
        for start in range(0, len(data) - len(data) % CHUNK, CHUNK):
            self._source.append(data[start : start + CHUNK])
        self._pending = data[len(data) - len(data) % CHUNK :]
        return first

    async def press(self, digit: str) -> None:
        """The caller presses a key."""
        await self._send_numbered({
            "event": "dtmf", "streamSid": self.stream_sid,
            "dtmf": {"track": "inbound_track", "digit": digit},
        })  # fmt: skip

    async def send_raw(self, text: str) -> None:
        """Send any text frame (to test how the endpoint takes what Twilio never sends)."""
        await self._socket().send(text)

    def _socket(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("the stream is not connected (use `async with`)")
        return self._ws

    async def _send_audio(self) -> None:
        loop = asyncio.get_running_loop()
        n = 0
        while self.closed_at is None:  # until the socket closes: the call is over
            deadline = self._t0 + n * 0.020
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = self._source.popleft() if self._source else SILENCE
            try:
                await self._send_numbered({
                    "event": "media", "streamSid": self.stream_sid,
                    "media": {"track": "inbound", "chunk": str(n + 1), "timestamp": str(n * 20),
                              "payload": base64.b64encode(chunk).decode()},
                })  # fmt: skip
            except ConnectionClosed:
                return
            self.sent_at.append(loop.time())
            self.chunks_sent += 1
            n += 1

    async def _send(self, message: dict[str, Any]) -> None:
        await self._socket().send(json.dumps(message))

    async def _send_numbered(self, message: dict[str, Any]) -> None:
        self._sequence += 1
        await self._send({**message, "sequenceNumber": str(self._sequence)})

    # ------------------------------------------------------------------ what we receive

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await self._read(loop)
        finally:
            self.closed_at = loop.time()
            self._changed.set()

    async def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in self._socket():
                now = loop.time()
                try:
                    message = json.loads(text)
                except (TypeError, ValueError):
                    self.protocol_errors.append(f"not JSON: {str(text)[:60]!r}")
                    continue
                self.received.append((now, message))
                self._take(message, now)
                self._changed.set()

    def _take(self, message: dict[str, Any], now: float) -> None:
        event = message.get("event")
        if message.get("streamSid") != self.stream_sid:
            self.protocol_errors.append(f"{event}: streamSid {message.get('streamSid')!r}")
            return
        if event == "media":
            try:
                audio = base64.b64decode(message["media"]["payload"], validate=True)
            except (KeyError, TypeError, binascii.Error, ValueError):
                self.protocol_errors.append("media: no base64 payload")
                return
            start = max(now + self.playout_delay, self._playhead)
            self.heard.append(PlayedAudio(start, audio))
            self._playhead = start + len(audio) / 8000
        elif event == "mark":
            name = (message.get("mark") or {}).get("name")
            if not isinstance(name, str):
                self.protocol_errors.append("mark: no name")
                return
            self._marks.append(_Mark(name, max(now, self._playhead), now))
            self._mark_wake.set()
        elif event == "clear":
            self.clears.append(now)
            self._cut(now)
            while self._marks:
                self._echo(self._marks.popleft().name, now, cleared=True)
        else:
            self.protocol_errors.append(f"unknown event {event!r}")

    def _cut(self, now: float) -> None:
        """Drop the audio that has not played by ``now``."""
        kept = []
        for piece in self.heard:
            if piece.start >= now:
                continue
            if piece.end > now:
                piece.audio = piece.audio[: int((now - piece.start) * 8000)]
            kept.append(piece)
        self.heard = kept
        self._playhead = now

    async def _echo_marks(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._marks:
                self._mark_wake.clear()
                await self._mark_wake.wait()
                continue
            first = self._marks[0]
            delay = first.due - loop.time()
            if delay > 0:
                self._mark_wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._mark_wake.wait()
                continue
            self._marks.popleft()
            self._echo(first.name, loop.time(), cleared=False)

    def _echo(self, name: str, now: float, cleared: bool) -> None:
        self.echoed.append((name, now, cleared))
        self._changed.set()
        self._sequence += 1
        message = {"event": "mark", "sequenceNumber": str(self._sequence),
                   "streamSid": self.stream_sid, "mark": {"name": name}}  # fmt: skip
        task = asyncio.get_running_loop().create_task(self._send_quietly(message))
        self._tasks.append(task)

    async def _send_quietly(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send(message)

    # ------------------------------------------------------------------ for tests

    def heard_by(self, when: float) -> list[PlayedAudio]:
        """What the caller has heard by loop time ``when`` (not what is still to play)."""
        heard = []
        for piece in self.heard:
            if piece.start >= when:
                break
            played = int((when - piece.start) * 8000)
            heard.append(piece if played >= len(piece.audio) else
                         PlayedAudio(piece.start, piece.audio[:played]))  # fmt: skip
        return heard

    def heard_audio(self) -> bytes:
        """Everything the caller heard of our audio, joined (the pauses left out)."""
        return b"".join(piece.audio for piece in self.heard)

    def heard_seconds(self) -> float:
        """How much of our audio the caller heard."""
        return len(self.heard_audio()) / 8000

    def media_received(self) -> list[bytes]:
        """The payloads of our ``media`` messages, in order (played or not)."""
        return [
            base64.b64decode(m["media"]["payload"]) for _, m in self.received
            if m.get("event") == "media"
        ]  # fmt: skip

    async def wait_for(self, condition: Callable[[], bool], within: float) -> None:
        """Wait until ``condition()`` holds, re-checked on each message; TimeoutError else."""
        deadline = time.monotonic() + within
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"condition not met in {within} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.1)):
                    await self._changed.wait()
