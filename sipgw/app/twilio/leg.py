"""A Twilio Media Stream as a call: the stream's media as a leg, its events as the call's.

:class:`TwilioStream` is one WebSocket Twilio opened (the admin server's ``/twilio/stream``,
:mod:`sipgw.app.twilio.endpoints`, checked its signature, which covers the URL only): the frames
go through the sans-IO session and its adapter (:mod:`sipgw.twilio.stream`,
:mod:`sipgw.twilio.aio.connection`).
On ``start``, before anything that costs money: the stream must carry the one-time token our
webhook's TwiML gave it (:mod:`sipgw.twilio.token`: for the ``start``'s Call SID, with the
parameters as the signed webhook gave them, unexpired, unused), else it is refused and closed
(no agent is built); unless ``own_twiml`` (``SIPGW_TWILIO_OWN_TWIML``) lets a stream without
any token in (a TwiML of the operator's own, never met our webhook). Then the call is admitted
(:meth:`~sipgw.app.legs.calls.LegCalls.admit`: the caller being the ``From`` parameter, which
the token binds to the signed webhook's; a call with a token was charged to the call rates by
the webhook, one without is charged here; a refused stream is closed, and Twilio's call ends
with the TwiML) and started with the custom parameters as its variables (its
:class:`~sipgw.agent.base.CallDetails`, the token left out; those the rule of every call's
variables refuses are left out and named in the log: :func:`stream_variables`), ``From`` and
``To`` as its parties; ``dtmf`` is a keypad digit for the agent, ``stop`` or the socket's end
hangs up. :class:`TwilioMedia` is the stream as :class:`~sipgw.app.legs.handle.LegMedia`: a
barge-in sends ``clear`` and reports the frames the marks had not confirmed; after the agent
hangs up, the stream closes once the marks say its last words played.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping

from sipgw.agent.base import CallDetails
from sipgw.agent.variables import MAX_VALUE, MAX_VARIABLES, check_variables
from sipgw.app.legs.calls import LegCalls, party, twilio_caller
from sipgw.app.legs.handle import LegHandle
from sipgw.media.quality import CallQuality
from sipgw.twilio.aio.connection import MediaStreamConnection
from sipgw.twilio.messages import DtmfReceived, StreamEvent, StreamStarted, StreamStopped
from sipgw.twilio.stream import MediaStreamConfig, MediaStreamSession, StreamState
from sipgw.twilio.token import TOKEN_PARAMETER, StreamTokenRefused, StreamTokens

__all__ = ["TwilioMedia", "TwilioStream", "stream_variables", "twilio_party"]

log = logging.getLogger("sipgw")

_NUMBER = re.compile(r"\+?[0-9]{2,20}")


def twilio_party(value: str, call_sid: str) -> str:
    """A Twilio ``From`` or ``To`` as a URI: ``+15551234567`` as ``tel:``, ``client:alice``
    and ``sip:`` ones as they are; nothing (an anonymous caller) as ``twilio:CALLSID``."""
    value = value.strip()
    if _NUMBER.fullmatch(value):
        return f"tel:{value}"
    return value or f"twilio:{call_sid or 'unknown'}"


def stream_variables(parameters: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """A stream's custom parameters as its call's variables, and the names left out.

    Each parameter is kept if the rule of every call's variables takes it
    (:func:`sipgw.agent.variables.check_variables`: an identifier for a name, one line of
    bounded text for a value), up to :data:`~sipgw.agent.variables.MAX_VARIABLES` of them;
    a bot's ``customer-id`` or a value of several lines is left out, not the call.
    """
    kept: dict[str, str] = {}
    left_out: list[str] = []
    for name, value in parameters.items():
        if len(kept) < MAX_VARIABLES:
            try:
                kept.update(check_variables({name: value}))
                continue
            except ValueError:
                pass
        left_out.append(name)
    return kept, tuple(left_out)


class TwilioMedia:
    """One stream's media as a leg (:class:`~sipgw.app.legs.handle.LegMedia`).

    Args:
        connection: the stream's adapter (its session inside).
        close: closes the WebSocket.
    """

    name = "twilio"

    def __init__(
        self, connection: MediaStreamConnection, close: Callable[[], Awaitable[object]]
    ) -> None:
        self.connection = connection
        self.session: MediaStreamSession = connection.session
        self._close = close

    def listen(self, on_audio: Callable[[bytes], None] | None) -> None:
        self.session.on_audio = on_audio

    def poll_ingress(self, now: float) -> None:
        self.session.poll_ingress(now)

    def caller_frame(self, now: float) -> bytes | None:
        return self.session.caller_frame(now)

    def send_frame(self, frame: bytes | None) -> None:
        self.connection.send_frame(frame)

    def skip(self, ticks: int) -> None:
        self.session.skip(ticks)

    def idle_for(self, now: float) -> float:
        return self.session.idle_for(now)

    def clear(self) -> int:
        """``clear`` to Twilio: the frames sent that its marks had not confirmed played."""
        if self.session.state is not StreamState.STREAMING:
            return 0
        return self.connection.clear().unheard_frames

    def quality(self) -> CallQuality | None:
        """None: over TCP nothing is lost, and Twilio reports nothing of the phone line."""
        return None

    def describe(self) -> dict[str, object]:
        stats, jitter = self.session.stats, self.session.jitter.stats
        return {
            "transport": "Twilio Media Streams", "codec": "PCMU",
            "stream": self.session.stream_sid, "media in": stats.media_in,
            "frames out": stats.frames_out, "marks played": stats.marks_played,
            "clears": stats.clears, "frames cleared": stats.frames_cleared,
            "frames played": self.session.frames_played,
            "jitter ms": round(jitter.jitter * 1000, 1), "reanchors": stats.reanchors,
            "dropped": self.connection.dropped, "malformed": self.connection.malformed,
        }  # fmt: skip

    async def played_out(self, within: float) -> bool:
        return await self.connection.played_out(within)

    async def close(self) -> None:
        await self.connection.close()
        await self._close()


class TwilioStream:
    """One Media Streams WebSocket as a call; see the module docstring.

    Args:
        calls: the gateway's leg calls.
        send: sends one text frame on the socket.
        close: closes the socket.
        config: the stream's settings (the jitter buffer: the gateway's).
        tokens: the webhook's one-time tokens, one of which the ``start`` must carry.
        own_twiml: let a stream without a token in (``SIPGW_TWILIO_OWN_TWIML``).
        taken: marks the token's Call SID used in the cluster's store, False if it was
            (another gateway took it); None: this process's memory only.
    """

    def __init__(
        self,
        calls: LegCalls,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[object]],
        config: MediaStreamConfig,
        tokens: StreamTokens,
        *,
        own_twiml: bool = False,
        taken: Callable[[str, float], Awaitable[bool]] | None = None,
    ) -> None:
        self.calls = calls
        self.tokens = tokens
        self.taken = taken
        self.own_twiml = own_twiml
        loop = asyncio.get_running_loop()
        self.session = MediaStreamSession(loop.time(), config)
        self.connection = MediaStreamConnection(self.session, send, self._event)
        self.media = TwilioMedia(self.connection, close)
        self.handle: LegHandle | None = None
        self.refused = ""
        """Why the call was refused at its ``start`` ("" if it was not)."""
        self._closing: asyncio.Task[None] | None = None
        self._starting: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        """Whether Twilio's ``start`` came."""
        return self.session.started is not None

    async def run(self, frames: AsyncIterable[str | bytes]) -> None:
        """Read the socket until ``stop``, its end or a stream error; the call ends with it."""
        try:
            await self.connection.run(frames)
        finally:
            handle = self.handle
            if handle is None:
                await self.connection.close()
            else:
                error = self.connection.error
                handle.end("stream-error" if error is not None else "remote-hangup")
                await self.calls.finished(handle)

    def _event(self, event: StreamEvent) -> None:
        handle = self.handle
        if isinstance(event, StreamStarted):
            self._start(event)
        elif handle is None:
            return
        elif isinstance(event, DtmfReceived):
            handle.dtmf_received(event.digit, "Twilio")
        elif isinstance(event, StreamStopped):
            handle.end("remote-hangup")

    def _start(self, event: StreamStarted) -> None:
        parameters = dict(event.custom_parameters)
        token = parameters.pop(TOKEN_PARAMETER, "")
        refusal: str | None = None
        if token or not self.own_twiml:
            try:
                self.tokens.check(token, event.call_sid, parameters, time.time())
            except StreamTokenRefused as exc:
                refusal = str(exc)
        if refusal is None and token and self.taken is not None:
            self._starting = asyncio.get_running_loop().create_task(
                self._start_once(event, parameters, self.taken)
            )  # the cluster's store says whether another gateway took this token
            return
        self._admit(event, parameters, token, refusal)

    async def _start_once(
        self, event: StreamStarted, parameters: dict[str, str],
        taken: Callable[[str, float], Awaitable[bool]],
    ) -> None:  # fmt: skip
        refusal = None
        try:  # kept as long as the token could still be taken, and a minute more
            if not await taken(event.call_sid, time.time() + self.tokens.lifetime):
                refusal = "the stream token was used already (by another gateway)"
        except Exception as exc:  # the store is away: refused, as an unchecked token
            refusal = f"the stream token could not be checked ({exc})"
        self._admit(event, parameters, "token", refusal)

    def _admit(
        self, event: StreamStarted, parameters: dict[str, str], token: str, refusal: str | None
    ) -> None:
        """The rest of the ``start``: the call admitted and started, or refused."""
        loop = asyncio.get_running_loop()
        if refusal is None:
            # With a token the webhook charged the call rates, and its From is the signed one.
            admitted = self.calls.admit(twilio_caller(parameters.get("From", "")),
                                        charge=not token, leg="twilio")  # fmt: skip
            refusal = admitted.reason if admitted is not None else None
        if refusal is not None:
            self.refused = refusal
            log.warning("Twilio stream %.80r of call %.80r refused: %s",
                        event.stream_sid, event.call_sid, refusal)  # fmt: skip
            self._closing = loop.create_task(self.media.close())
            return
        variables, left_out = stream_variables(parameters)
        caller = twilio_party(parameters.get("From", ""), event.call_sid)
        called = twilio_party(parameters.get("To", ""), event.call_sid)
        fallback = f"twilio:{event.call_sid or event.stream_sid}"
        self.handle = self.calls.start(
            self.media,
            call_id=event.call_sid or event.stream_sid,
            caller=party(caller, parameters.get("CallerName"), fallback=fallback),
            called=party(called, fallback=fallback),
            details=CallDetails(variables=variables),
        )
        if left_out:
            self.handle.log.warning(
                "custom parameter(s) %s left out of the call's variables: a name must be an "
                "identifier, a value one line of at most %d characters, at most %d of them",
                ", ".join(repr(name[:64]) for name in left_out[:10]), MAX_VALUE, MAX_VARIABLES,
            )  # fmt: skip
