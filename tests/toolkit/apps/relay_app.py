"""A ConversationRelay app as Twilio's docs describe one, with no LLM: the peer of
``<Connect><ConversationRelay>`` (docs/twilio-apps.md).

Written from Twilio's "ConversationRelay WebSocket messages" page, on ``websockets``, and
knowing nothing of sipgw: it checks the handshake's ``X-Twilio-Signature`` with the official
SDK's ``RequestValidator``, reads ``setup``, ``prompt``, ``dtmf``, ``interrupt`` and
``error``, and answers each finished ``prompt`` with ``text`` tokens (one word each, the last
with ``last: true``): "You said <the prompt>." A prompt naming ``goodbye`` is answered with
``end`` and ``handoffData`` (a JSON string, as the docs' example); one naming ``long`` with a
long reply, for barge-ins. :attr:`RelayApp.updates` has it change its session before
answering a given prompt, as the guide "Update configuration during a call" describes (a
``config`` or ``hints`` message, then the reply). The test reads what it got
(:attr:`RelayApp.sessions`).

It keeps each call's prompts by ``callSid``, as an app written from Twilio's pages keys its
state, so a socket that comes back for a call it knows (``applicationReconnect``: ``setup``
again) goes on with that call (:attr:`RelaySessionSeen.resumed`). To be the app that goes
away: :attr:`RelayApp.drop_after` drops its socket once after answering a prompt naming a
word (a redeploy: closed with 1001, or aborted), and its handshakes are refused with 503
while :attr:`RelayApp.refusing` (the new instance not up yet; :attr:`RelayApp.away_for`
seconds after the drop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from twilio.request_validator import RequestValidator
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["LONG_REPLY", "RelayApp", "RelaySessionSeen"]

LONG_REPLY = (
    "Let me tell you about our opening hours. We are open from nine in the morning "
    "until six in the evening on weekdays. On Saturdays we open at ten and close at four. "
    "On Sundays and public holidays the shop stays closed all day long."
)


@dataclass
class RelaySessionSeen:
    """One session as the app saw it."""

    ws: ServerConnection
    handshake_valid: bool
    messages: list[dict[str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    """When each message arrived (time.monotonic())."""
    tokens_sent_at: list[float] = field(default_factory=list)
    """When each reply's first token went (time.monotonic())."""
    resumed: bool = False
    """Its ``setup`` named a call the app already had: a socket back after a drop."""

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """The messages of one ``type``, in order."""
        return [m for m in self.messages if m.get("type") == kind]


@dataclass
class RelayApp:
    """The app (see the module docstring). :meth:`start` before use, :meth:`stop` after."""

    auth_token: str
    host: str = "127.0.0.1"
    token_gap: float = 0.01
    """Seconds between two tokens (an LLM's stream)."""
    handoff: str = '{"reason":"caller said goodbye"}'
    updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Sent before answering the n-th finished prompt of a session (1-based)."""
    sessions: list[RelaySessionSeen] = field(default_factory=list)
    port: int = 0
    calls: dict[str, list[str]] = field(default_factory=dict)
    """Each call's prompts so far, by ``callSid`` (the app's state)."""
    drop_after: str = ""
    """A prompt naming this word is answered, then the socket dropped (once)."""
    drop_code: int | None = 1001
    """The close code the socket is dropped with (1001: going away); None: aborted, no close
    frame (a crash)."""
    away_for: float = 0.0
    """Seconds after the drop the handshakes are refused."""
    refusing: bool = False
    """Handshakes are refused with 503 (the app is being redeployed)."""
    refused: int = 0
    _dropped: bool = False
    _server: Server | None = None

    @property
    def url(self) -> str:
        """The WebSocket's URL (what ``<ConversationRelay url>`` names)."""
        return f"ws://{self.host}:{self.port}/relay"

    async def start(self) -> None:
        """Serve on a free port."""
        self._server = await serve(self._serve, self.host, 0, process_request=self._refuse)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()

    def _refuse(self, ws: ServerConnection, request: Request) -> Response | None:
        if not self.refusing:
            return None
        self.refused += 1
        return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "redeploying\n")

    async def _serve(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        signature = ws.request.headers.get("X-Twilio-Signature", "")
        url = f"ws://{self.host}:{self.port}{ws.request.path}"
        seen = RelaySessionSeen(ws, RequestValidator(self.auth_token).validate(url, {}, signature))
        self.sessions.append(seen)
        replying: asyncio.Task[None] | None = None
        prompts: list[str] = []
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                message = json.loads(text)
                seen.messages.append(message)
                seen.arrived.append(time.monotonic())
                kind = message.get("type")
                if kind == "setup":
                    seen.resumed = message["callSid"] in self.calls
                    prompts = self.calls.setdefault(message["callSid"], [])
                if kind == "prompt" and message.get("last"):
                    words = message["voicePrompt"]
                    prompts.append(words)
                    update = self.updates.get(len(seen.of_type("prompt")))
                    if update is not None:
                        await ws.send(json.dumps(update))
                    if "goodbye" in words.lower():
                        await ws.send(json.dumps({"type": "end", "handoffData": self.handoff}))
                        continue
                    answer = LONG_REPLY if "long" in words.lower() else f"You said {words}."
                    drop = bool(self.drop_after) and self.drop_after in words.lower()
                    replying = asyncio.create_task(self._reply(seen, answer, drop))
                elif kind == "interrupt" and replying is not None:
                    replying.cancel()  # the caller cut the reply: stop streaming it
        if replying is not None:
            replying.cancel()

    async def _reply(self, seen: RelaySessionSeen, answer: str, drop: bool = False) -> None:
        words = answer.split(" ")
        seen.tokens_sent_at.append(time.monotonic())
        for n, word in enumerate(words):
            last = n == len(words) - 1
            token = word if last else word + " "
            await seen.ws.send(json.dumps({"type": "text", "token": token, "last": last}))
            if not last:
                await asyncio.sleep(self.token_gap)
        if drop and not self._dropped:
            await self._drop(seen)

    async def _drop(self, seen: RelaySessionSeen) -> None:
        """The app's instance goes away; a new one takes sockets :attr:`away_for` later."""
        self._dropped = True
        if self.away_for > 0:
            self.refusing = True
            asyncio.get_running_loop().call_later(self.away_for, setattr, self, "refusing", False)
        if self.drop_code is None:
            seen.ws.transport.abort()
        else:
            await seen.ws.close(self.drop_code, "going away")
