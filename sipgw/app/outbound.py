"""Placing calls: :meth:`Gateway.place_call <sipgw.app.gateway.Gateway.place_call>` and its parts.

A call goes to a phone number (digits, an optional leading ``+``) or a SIP
URI. A number becomes ``sip:NUMBER@HOST`` with the outbound proxy's host, or
else the registered AOR's; with an outbound proxy every INVITE goes through
it (a loose ``Route``, ``;lr`` added when missing, its ``;transport=``
picking the transport). The From is ``SIPGW_CALLER_ID`` or else the
registered AOR. 401/407 challenges are answered with ``SIPGW_AUTH_USERNAME``
and ``SIPGW_AUTH_PASSWORD``.

The call's RTP port is bound before the INVITE goes out, so early media
(183 with SDP) arrives at a socket - and is dropped there: no media session
exists until the call is answered. Only the 2xx starts the media session
and the agent (built, prepared, then told :meth:`~agent.base.Agent.on_answered`),
so the agent never talks into early media. :class:`CallOutcome` says how
the call ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Protocol

from agent.base import Agent, AgentFactory
from agent.dialpolicy import DialPolicy
from media.aio.rtp_endpoint import RtpEndpoint, open_rtp_endpoint
from media.ports import PortAllocator
from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.callfeed import CallFeed
from sipgw.app.callhandle import CallHandle, CallLog
from sipgw.auth import Credentials
from sipgw.call import CallInfo, CallKey
from sipgw.errors import SipError
from sipgw.events import CallAnswered, CallEnded, CallProgress, EndReason, SipEvent
from sipgw.headers import NameAddr
from sipgw.offeranswer import NegotiatedAudio
from sipgw.uri import SipUri, parse_uri
from sipgw.useragent import OutboundCall, UserAgent

__all__ = [
    "CallOutcome",
    "OutboundCalls",
    "OutboundConfig",
    "proxy_route",
    "target_uri",
]

log = logging.getLogger("sipgw")

PREPARE_TIMEOUT = 10.0
"""Seconds an agent may take to prepare once the call is answered (then: BYE)."""

_NUMBER = re.compile(r"\+?[0-9]+")
_NUMBER_PUNCTUATION = re.compile(r"[\s().-]")

_KINDS: dict[EndReason, str] = {
    EndReason.BUSY: "busy",
    EndReason.DECLINED: "declined",
    EndReason.NO_ANSWER: "no-answer",
    EndReason.UNREACHABLE: "unreachable",
    EndReason.TRANSPORT_ERROR: "unreachable",
}


@dataclass(frozen=True, slots=True)
class OutboundConfig:
    """How calls are placed (:func:`sipgw.app.startup.outbound_config` builds it)."""

    proxy: str = ""
    """Outbound proxy URI (every INVITE goes through it); "" = straight to the target."""
    caller_id: str = ""
    """The From: a SIP URI, ``"Name" <sip:...>``, or a user/number; "" = the AOR."""
    ring_timeout: float = 60.0
    """Seconds before an unanswered call is cancelled."""
    aor: str = ""
    """The registered address of record, if any (default From and number domain)."""
    username: str = ""
    """Digest user name for 401/407 challenges; "" = none."""
    password: str = field(default="", repr=False)
    """Digest password (never shown)."""

    @property
    def credentials(self) -> Credentials | None:
        """What to answer challenges with, if anything."""
        return Credentials(self.username, self.password) if self.username else None


def _sip_uri(text: str) -> SipUri:
    try:
        uri = parse_uri(text.strip())
    except SipError:
        raise ValueError("not a SIP URI") from None
    if not isinstance(uri, SipUri) or not uri.host:
        raise ValueError("not a sip: or sips: URI")
    return uri


def proxy_route(proxy: str) -> str:
    """The Route for an outbound proxy URI: loose routing, ``;lr`` added when missing.

    Raises:
        ValueError: not a SIP URI.
    """
    uri = _sip_uri(proxy.strip().removeprefix("<").removesuffix(">"))
    if "lr" not in uri.params:
        uri.params["lr"] = None
    return str(uri)


def target_uri(target: str, config: OutboundConfig) -> str:
    """The URI to call: a SIP URI as given, or a phone number at the proxy's or AOR's host.

    Raises:
        ValueError: neither, or a number with no host to send it to.
    """
    text = target.strip()
    number = _NUMBER_PUNCTUATION.sub("", text)
    if _NUMBER.fullmatch(number):
        for source in (config.proxy, config.aor):
            if source:
                host = _sip_uri(source.strip().removeprefix("<").removesuffix(">"))
                return f"sip:{number}@{host.host_port}"
        raise ValueError(
            f"a phone number ({target}) needs an outbound proxy (SIPGW_OUTBOUND_PROXY) "
            "or a registration (SIPGW_REGISTER) to say where it goes"
        )
    if not text.lower().startswith(("sip:", "sips:")) and "@" in text:
        text = f"sip:{text}"
    return str(_sip_uri(text))


def caller(config: OutboundConfig, host: str) -> tuple[str, str | None]:
    """Our From (URI, display name): the caller id, else the AOR, else ``sip:sipgw@host``.

    Raises:
        ValueError: a caller id that looks like a URI but is not one.
    """
    caller_id = config.caller_id.strip()
    domain = host
    if config.aor:
        domain = _sip_uri(config.aor).host_port
    if not caller_id:
        return (config.aor or f"sip:sipgw@{domain}"), None
    if "<" in caller_id:
        try:
            name_addr = NameAddr.parse(caller_id)
        except SipError:
            raise ValueError('not a name-addr like "Name" <sip:user@host>') from None
        return str(_sip_uri(str(name_addr.uri))), name_addr.display_name
    if caller_id.lower().startswith(("sip:", "sips:")):
        return str(_sip_uri(caller_id)), None
    user = _NUMBER_PUNCTUATION.sub("", caller_id)
    if not re.fullmatch(r"[A-Za-z0-9+_.!~*'-]+", user):
        raise ValueError("must be a SIP URI, a name-addr, or a user name or number")
    return f"sip:{user}@{domain}", None


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


class OutboundOwner(Protocol):
    """What placing calls needs of the gateway."""

    agent_factory: AgentFactory
    ports: PortAllocator
    handles: dict[CallKey, CallHandle]
    early_sends: int
    dial_refused: int
    dial_policy: DialPolicy
    feed: CallFeed

    @property
    def sip(self) -> SipEndpoint:
        """The SIP endpoint."""
        ...

    @property
    def ua(self) -> UserAgent:
        """The user agent core."""
        ...

    def _media_ready(self, handle: CallHandle, media: NegotiatedAudio) -> None: ...

    def _spawn(self, coro: object) -> asyncio.Task[None]: ...

    def build_agent(self, factory: AgentFactory, handle: CallHandle) -> Agent: ...


@dataclass(eq=False)
class _Placed:
    """One call we placed, until its outcome is known."""

    target: str
    factory: AgentFactory
    outcome: asyncio.Future[CallOutcome]
    answered_at: float | None = None


class OutboundCalls:
    """The gateway's placed calls: places them and follows their events.

    Args:
        gateway: the gateway the calls run in.
        config: the outbound settings.
        bind: the local address for RTP sockets.
        max_call_seconds: hang up answered calls after this long; 0 = never.
    """

    def __init__(
        self, gateway: OutboundOwner, config: OutboundConfig, bind: str, max_call_seconds: float
    ) -> None:
        self.gateway = gateway
        self.config = config
        self.bind = bind
        self.max_call_seconds = max_call_seconds
        self._placed: dict[CallKey, _Placed] = {}

    async def place(
        self,
        target: str,
        *,
        agent: AgentFactory | None = None,
        caller_id: str | None = None,
        ring_timeout: float | None = None,
    ) -> CallOutcome:
        """Call ``target`` and wait until the call is over; see the module docstring.

        Args:
            target: a phone number or a SIP URI.
            agent: who talks once answered; default the gateway's agent.
            caller_id: the From for this call (default ``SIPGW_CALLER_ID``).
            ring_timeout: seconds before CANCEL (default ``SIPGW_RING_TIMEOUT``).
        """
        gateway, config = self.gateway, self.config
        try:
            uri = target_uri(target, config)
            if caller_id is not None:
                config = dataclasses.replace(config, caller_id=caller_id)
            from_uri, display = caller(config, gateway.ua.config.public_host)
        except ValueError as exc:
            return CallOutcome(target, "failed", False, 0.0, None, str(exc))
        endpoint = await open_rtp_endpoint(self.bind, gateway.ports)
        if endpoint is None:
            return CallOutcome(uri, "failed", False, 0.0, None, "no free RTP port")
        spec = OutboundCall(
            target=uri,
            rtp_port=endpoint.port,
            from_uri=from_uri,
            display_name=display,
            route=(proxy_route(config.proxy),) if config.proxy else (),
            credentials=config.credentials,
            ring_timeout=config.ring_timeout if ring_timeout is None else ring_timeout,
        )
        calls: list[CallInfo] = []
        try:
            gateway.sip.act(lambda now: calls.append(gateway.ua.call(spec, now)))
        except SipError as exc:
            _close(gateway, endpoint)
            return CallOutcome(uri, "failed", False, 0.0, None, str(exc))
        call = calls[0]
        handle = CallHandle(gateway, call, CallLog.for_call(log, call))
        handle.endpoint = endpoint
        gateway.handles[call.key] = handle
        placed = _Placed(
            uri, agent or gateway.agent_factory, asyncio.get_running_loop().create_future()
        )
        self._placed[call.key] = placed
        gateway.feed.call_started(handle, state="ringing")  # on the dashboard while it rings
        via = f" via {config.proxy}" if config.proxy else ""
        handle.log.info("calling %s from %s%s, RTP port %d", uri, from_uri, via, endpoint.port)
        return await asyncio.shield(placed.outcome)

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
            self.gateway.feed.call_answered(handle)
            self.gateway._media_ready(handle, event.media)
            handle.setup = self.gateway._spawn(self._start_agent(handle, placed.factory))
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

    async def _start_agent(self, handle: CallHandle, factory: AgentFactory) -> None:
        """Build and prepare the agent now that the call is answered, then let it talk."""
        agent: Agent | None = None
        try:
            agent = self.gateway.build_agent(factory, handle)
            await asyncio.wait_for(agent.prepare(), PREPARE_TIMEOUT)
        except asyncio.CancelledError:
            if agent is not None:
                self.gateway._spawn(agent.close(handle.end_reason or "ended"))
            raise
        except Exception as exc:
            handle.log.error("agent failed to prepare (%s): hanging up", exc or type(exc))
            if agent is not None:
                self.gateway._spawn(agent.close("prepare-failed"))
            handle.hangup()
            return
        if handle.ended:
            self.gateway._spawn(agent.close(handle.end_reason or "ended"))
            return
        handle.agent = agent
        if handle.session is not None and agent.wants_arrival_audio:
            handle.session.on_audio = agent.on_caller_audio
        if self.max_call_seconds > 0:
            handle.limit_duration(self.max_call_seconds)
        handle.answered = True
        agent.on_answered()


def _close(gateway: OutboundOwner, endpoint: RtpEndpoint) -> None:
    endpoint.close()
    gateway.ports.release(endpoint.port)
