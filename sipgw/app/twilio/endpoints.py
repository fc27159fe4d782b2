"""Twilio's two endpoints on the admin server: the number's voice webhook and the Media Stream.

On only with ``SIPGW_TWILIO_AUTH_TOKEN`` (and ``SIPGW_PUBLIC_URL``: :mod:`sipgw.app.legs.settings`).
Twilio cannot send the admin token: each request must carry ``X-Twilio-Signature`` made with
the account's Auth Token over the URL Twilio requested (our public one: behind a TLS proxy the
request we see names another host), checked by
:func:`sipgw.twilio.signature.verify_signature`; anything else gets 403 and a log line.

- ``POST /twilio/voice``: the number's "A call comes in" webhook (form-encoded; the
  signature folds in the form's parameters). While new calls are refused (draining,
  overloaded, at ``SIPGW_MAX_CALLS``, over ``SIPGW_CALLS_PER_SECOND`` or, for the signed
  ``From``, ``SIPGW_CALLS_PER_CALLER``) the answer is ``<Reject reason="busy"/>``, so
  Twilio never picks the call up; else ``<Connect><Stream>`` to ``/twilio/stream`` with
  ``From``, ``To`` and ``CallerName`` as parameters (they reach the agent as the call's
  variables and parties) and the one-time token that binds the stream to this call and
  these parameters (:mod:`sipgw.twilio.token`; the call was charged to the call rates here).
- ``GET /twilio/stream``: the bidirectional Media Stream's WebSocket, run as a call by
  :class:`sipgw.app.twilio.leg.TwilioStream`. The handshake's signature covers the
  ``wss://`` URL only, the same for every stream: a replayed handshake passes it, so the
  stream's ``start`` must carry our webhook's token (else it is closed before any agent is
  built). ``SIPGW_TWILIO_OWN_TWIML`` lets streams without one in (a TwiML of the operator's
  own pointing its ``<Stream url>`` here: its ``<Parameter>`` s become the call's variables),
  trusting the URL's signature alone.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import WSMsgType, web

from sipgw.app.legs.calls import LegCalls, twilio_caller
from sipgw.app.legs.settings import LegsSettings
from sipgw.app.twilio.leg import TwilioStream
from sipgw.twilio.messages import MAX_MESSAGE_CHARS
from sipgw.twilio.signature import verify_signature
from sipgw.twilio.stream import MediaStreamConfig
from sipgw.twilio.token import TOKEN_PARAMETER, StreamTokens
from sipgw.twilio.twiml import MAX_PARAMETER_CHARS, connect_stream_twiml, reject_twiml

__all__ = ["PASSED_PARAMETERS", "START_WAIT", "TWILIO_PATHS", "TwilioEndpoints"]

log = logging.getLogger("sipgw.admin")

TWILIO_PATHS = frozenset({"/twilio/voice", "/twilio/stream"})
"""The paths Twilio's signature opens instead of the admin token."""
PASSED_PARAMETERS = ("From", "To", "CallerName")
"""The webhook's parameters the stream gets (Twilio's voice request parameters)."""
START_WAIT = 10.0
"""Seconds a stream may take to send ``start`` (Twilio sends it at once)."""
MAX_WEBHOOK_BYTES = 64 * 1024
"""The largest webhook body read (Twilio's voice requests are a few hundred bytes)."""

_TWIML = "application/xml"


class TwilioEndpoints:
    """The webhook and the stream, for ``calls`` as ``settings`` say."""

    def __init__(self, calls: LegCalls, settings: LegsSettings, config: MediaStreamConfig) -> None:
        self.calls = calls
        self.settings = settings
        self.config = config
        self.tokens = StreamTokens(secrets.token_bytes(32))
        """The webhook's one-time stream tokens (its key made afresh by each process, or the
        cluster's: :func:`sipgw.app.twilio.sharedtokens.share_stream_tokens`)."""
        self.taken: Callable[[str, float], Awaitable[bool]] | None = None
        """Marks a Call SID's token used in the cluster's store (False: used already)."""

    def add_routes(self, app: web.Application) -> None:
        """Register both routes when Twilio is configured (else they do not exist: 404)."""
        if self.settings.twilio:
            app.router.add_post("/twilio/voice", self.voice)
            app.router.add_get("/twilio/stream", self.stream)

    def _signed(self, request: web.Request, url: str, params: list[tuple[str, str]]) -> bool:
        signature = request.headers.get("X-Twilio-Signature")
        if verify_signature(self.settings.twilio_auth_token, signature, url, params):
            return True
        log.warning(
            "Twilio request refused: %s signature for %s (from %s)",
            "wrong" if signature else "no", url, request.remote,
        )  # fmt: skip
        return False

    async def voice(self, request: web.Request) -> web.Response:
        """The webhook: TwiML that streams the call here, or rejects it (busy)."""
        if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
            return web.Response(status=413, text="too large")
        form = await request.post()
        params = [(name, value) for name, value in form.items() if isinstance(value, str)]
        url = self.settings.public_url + request.path_qs
        if not self._signed(request, url, params):
            return web.Response(status=403, text="bad signature")
        values = dict(params)
        caller = values.get("From") or values.get("Caller", "")
        # Only a peek at a half-open breaker: the stream's start takes its probe.
        refusal = self.calls.admit(twilio_caller(caller), probe=False, leg="twilio")
        if refusal is not None:
            log.warning("Twilio call %s from %s rejected (busy): %s",
                        values.get("CallSid", "?"), caller or "?", refusal.reason)  # fmt: skip
            return web.Response(text=reject_twiml("busy"), content_type=_TWIML)
        passed = {
            name: values[name]
            for name in PASSED_PARAMETERS
            if name in values and len(name) + len(values[name]) < MAX_PARAMETER_CHARS
        }
        call_sid = values.get("CallSid", "")
        try:
            token = self.tokens.issue(call_sid, passed, time.time())
        except ValueError as exc:  # signed, yet no CallSid: not a voice webhook's request
            log.warning("Twilio webhook without a call: %s", exc)
            return web.Response(text=reject_twiml("rejected"), content_type=_TWIML)
        twiml = connect_stream_twiml(self.settings.stream_url, {**passed, TOKEN_PARAMETER: token})
        return web.Response(text=twiml, content_type=_TWIML)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """The Media Stream: a call for as long as the socket lives."""
        if not self._signed(request, self.settings.stream_url, []):
            return web.Response(status=403, text="bad signature")
        # no permessage-deflate: base64 μ-law barely compresses, and every 20 ms frame both
        # ways would pay for it in CPU (docs/performance.md)
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_CHARS + 1024, compress=False)
        await ws.prepare(request)
        stream = TwilioStream(
            self.calls, ws.send_str, ws.close, self.config, self.tokens,
            own_twiml=self.settings.twilio_own_twiml, taken=self.taken,
        )  # fmt: skip
        await stream.run(_texts(ws, stream))
        if not ws.closed:
            await ws.close()
        return ws


async def _texts(ws: web.WebSocketResponse, stream: TwilioStream) -> AsyncIterator[str | bytes]:
    """The socket's text frames (a binary one as bytes: counted as malformed) until it
    closes; the stream ends if ``start`` takes longer than :data:`START_WAIT`."""
    while True:
        try:
            message = await ws.receive(timeout=None if stream.started else START_WAIT)
        except TimeoutError:
            log.warning("Twilio stream sent no 'start' in %g s: closing it", START_WAIT)
            return
        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            yield message.data
        else:  # CLOSE, CLOSING, CLOSED, ERROR
            return
