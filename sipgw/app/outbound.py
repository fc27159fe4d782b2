"""Placing calls: :meth:`Gateway.place_call <sipgw.app.gateway.Gateway.place_call>` and its parts.

A call goes to a phone number (digits, an optional leading ``+``) or a SIP
URI, read once by :func:`call_target` (the URI it gives is the Request-URI
sent, and what a dial policy judges). A number becomes ``sip:NUMBER@HOST``
(blanks and separators dropped) with the outbound proxy's host, or else the
registered AOR's; with an outbound proxy every INVITE goes through
it (a loose ``Route``, ``;lr`` added when missing, its ``;transport=``
picking the transport). The From is ``SIPGW_CALLER_ID`` or else the
registered AOR. 401/407 challenges are answered with ``SIPGW_AUTH_USERNAME``
and ``SIPGW_AUTH_PASSWORD``.

The call's RTP port is bound before the INVITE goes out, so early media
(183 with SDP) arrives at a socket - and is dropped there: no media session
exists until the call is answered. Only the 2xx starts the media session
and the agent (built, prepared, then told :meth:`~agent.base.Agent.on_answered`),
so the agent never talks into early media; from the 2xx on a placed call takes
the steps every call takes (:mod:`sipgw.app.callpath`). :class:`PlacedCall` is
the call as it runs, :class:`CallOutcome` says how it ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agent.base import AgentFactory
from sipgw.addressing import Flow
from sipgw.app.callhandle import CallHandle
from sipgw.app.callpath import CallPath
from sipgw.app.dialout import CallTarget, OutboundConfig, call_target, caller, proxy_route
from sipgw.call import CallInfo, CallKey
from sipgw.errors import SipError
from sipgw.events import CallAnswered, CallEnded, CallProgress, EndReason, SipEvent
from sipgw.useragent import OutboundCall

__all__ = ["CallOutcome", "OutboundCalls", "PlacedCall"]

_DIGITS = re.compile(r"\+?[0-9]+")
_NUMBER_PUNCTUATION = re.compile(r"[\s().-]")

_KINDS: dict[EndReason, str] = {
    EndReason.BUSY: "busy",
    EndReason.DECLINED: "declined",
    EndReason.NO_ANSWER: "no-answer",
    EndReason.UNREACHABLE: "unreachable",
    EndReason.TRANSPORT_ERROR: "unreachable",
}


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How a placed call ended."""

    target: str
    """The URI that was called."""
    kind: str
    """``answered``, ``busy``, ``declined``, ``no-answer``, ``unreachable`` or ``failed``."""
    answered: bool
    """Whether the far end answered (2xx)."""
    duration: float
    """Seconds from the answer to the end (0 when not answered)."""
    status: int | None
    """The final SIP status of the INVITE (None when none applies)."""
    reason: str
    """Why it ended: a :class:`~sipgw.events.EndReason` value, or what went wrong locally."""

    def describe(self) -> str:
        """One line for people, e.g. ``busy (SIP 486)``."""
        if self.answered:
            return f"answered, {self.duration:.1f} s, ended by {self.reason}"
        text = self.kind.replace("-", " ")
        if self.status is not None:
            text += f" (SIP {self.status})"
        if self.kind == "failed" or self.reason not in (self.kind, ""):
            text += f": {self.reason}"
        return text


@dataclass(eq=False)
class PlacedCall:
    """A call we placed: its handle once the INVITE is out, and how it ends."""

    target: str
    """The URI called (what was asked for, when it could not be read)."""
    outcome: asyncio.Future[CallOutcome]
    """Done when the call is over; at once for a call that could not be placed."""
    handle: CallHandle | None = None
    """The call, from the moment its INVITE went out; None if it never did."""
    factory: AgentFactory | None = None
    """Who talks once it is answered."""
    answered_at: float | None = None
    """Monotonic time of the answer."""

    @classmethod
    def failed(cls, target: str, reason: str) -> PlacedCall:
        """A call that ended before any INVITE went out."""
        outcome: asyncio.Future[CallOutcome] = asyncio.get_running_loop().create_future()
        outcome.set_result(CallOutcome(target, "failed", False, 0.0, None, reason))
        return cls(target, outcome)


class OutboundCalls:
    """The gateway's placed calls: places them and follows their events.

    Once answered, a placed call takes the shared steps of
    :class:`~sipgw.app.callpath.CallPath`: media session, agent prepared, ``on_answered``.
    Answering-machine detection would run in :meth:`_answered`, before the agent; what
    a call is placed with (per-call variables, extra headers) would travel on
    :class:`PlacedCall` and :class:`~sipgw.useragent.OutboundCall`.

    Args:
        path: the calls and their shared steps.
        config: the outbound settings.
    """

    def __init__(self, path: CallPath, config: OutboundConfig) -> None:
        self.path = path
        self.config = config
        self.locate: Callable[[OutboundCall], Awaitable[tuple[Flow, ...]]] | None = None
        """Finds the first hop's servers (RFC 3263, :mod:`sipgw.app.trunks`); None = none."""
        self._placed: dict[CallKey, PlacedCall] = {}

    def resolve(self, target: str) -> CallTarget:
        """Where a call to ``target`` (a phone number or a SIP URI) goes.

        Raises:
            ValueError: it goes nowhere (see :func:`call_target`).
        """
        return call_target(target, self.config)

    async def originate(
        self,
        target: CallTarget,
        factory: AgentFactory,
        *,
        caller_id: str | None = None,
        ring_timeout: float | None = None,
    ) -> PlacedCall:
        """Send the INVITE to ``target``; returns at once with the call (see the module
        docstring), whose ``outcome`` is done when it is over.

        Args:
            target: where the call goes (:meth:`resolve`).
            factory: who talks once answered.
            caller_id: the From for this call (default ``SIPGW_CALLER_ID``).
            ring_timeout: seconds before CANCEL (default ``SIPGW_RING_TIMEOUT``).
        """
        config, uri, sip = self.config, str(target.uri), self.path.sip
        try:
            if caller_id is not None:
                config = dataclasses.replace(config, caller_id=caller_id)
            from_uri, display = caller(config, sip.ua.config.public_host)
        except ValueError as exc:
            return PlacedCall.failed(uri, str(exc))
        endpoint = await self.path.open_rtp()
        if endpoint is None:
            return PlacedCall.failed(uri, "no free RTP port")
        spec = OutboundCall(
            target=target.uri,
            rtp_port=endpoint.port,
            from_uri=from_uri,
            display_name=display,
            route=(proxy_route(config.proxy),) if config.proxy else (),
            credentials=config.credentials,
            ring_timeout=config.ring_timeout if ring_timeout is None else ring_timeout,
        )
        calls: list[CallInfo] = []
        try:
            if self.locate is not None:
                spec = dataclasses.replace(spec, targets=await self.locate(spec))
            sip.act(lambda now: calls.append(sip.ua.call(spec, now)))
        except SipError as exc:
            self.path.close_rtp(endpoint)
            return PlacedCall.failed(uri, str(exc))
        handle = self.path.admit(calls[0], endpoint, ringing=True)  # on the dashboard as it rings
        outcome: asyncio.Future[CallOutcome] = asyncio.get_running_loop().create_future()
        placed = PlacedCall(uri, outcome, handle, factory)
        self._placed[handle.call.key] = placed
        via = f" via {config.proxy}" if config.proxy else ""
        handle.log.info("calling %s from %s%s, RTP port %d", uri, from_uri, via, endpoint.port)
        return placed

    def on_event(self, handle: CallHandle, event: SipEvent) -> None:
        """An event about a call we placed (the gateway passes them on)."""
        placed = self._placed.get(handle.call.key)
        if placed is None:
            return
        if isinstance(event, CallProgress):
            early = ", early media (dropped until answered)" if event.early_media else ""
            handle.log.info("progress: %d %s%s", event.status, event.reason, early)
        elif isinstance(event, CallAnswered):
            placed.answered_at = time.monotonic()
            handle.log.info("answered")
            self.path.feed.call_answered(handle)
            self.path.start_media(handle, event.media)
            if placed.factory is not None:
                self.path.run_setup(handle, self._answered(handle, placed.factory))
        elif isinstance(event, CallEnded):
            del self._placed[handle.call.key]
            if placed.answered_at is not None:
                kind, duration = "answered", time.monotonic() - placed.answered_at
            else:
                kind, duration = _KINDS.get(event.reason, "failed"), 0.0
            outcome = CallOutcome(
                placed.target, kind, placed.answered_at is not None, duration,
                event.status, event.reason.value,
            )  # fmt: skip
            handle.log.info("outcome: %s", outcome.describe())
            if not placed.outcome.done():
                placed.outcome.set_result(outcome)

    async def _answered(self, handle: CallHandle, factory: AgentFactory) -> None:
        """Build and prepare the agent now that the call is answered, then let it talk."""
        agent = await self.path.prepare_agent(handle, factory)
        if agent is None:
            if not handle.ended:
                handle.hangup(by="gateway")
            return
        self.path.agent_answered(handle, agent)
