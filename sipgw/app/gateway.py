"""The gateway: its lifecycle (start, drain, stop) and SIP events dispatched to its calls.

:class:`Gateway` is what ``sipgw serve`` and embedders run:
``Gateway(GatewayConfig(...), factory, GatewayParts(...))``, :meth:`~Gateway.start`,
:meth:`~Gateway.place_call` (or :meth:`~Gateway.originate`), :meth:`~Gateway.drain`,
:meth:`~Gateway.stop`. It composes the parts and passes each SIP event on:

- the calls, and the steps every call takes in either direction (media session,
  agent, recording, timers, release): :mod:`sipgw.app.calls.callpath`; incoming calls
  are answered by :mod:`sipgw.app.calls.inbound` (the agent its account names,
  :mod:`sipgw.app.lines.routing`), calls are placed by :mod:`sipgw.app.calls.outbound`;
- one call as it runs (the agent's call control, the 20 ms tick, its timers):
  :mod:`sipgw.app.calls.callhandle`;
- what agents may reach: :mod:`sipgw.app.calls.dialing`; the counters everything
  reads: :mod:`sipgw.app.operations.counters`.

Before any of that, the SIP core's flood guard and the access policy
(:mod:`sipgw.app.security.floods`, :mod:`sipgw.app.security.access`) decide who may call: a
limited or refused INVITE never becomes a call here, it is only counted (and
a refusal logged).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Unpack

from sipgw.agent.base import AgentFactory
from sipgw.agent.capabilities import plugin_factory
from sipgw.agent.resilience.settings import BreakerSection
from sipgw.agent.tools.mcp_servers import close_mcp_servers
from sipgw.aio.endpoint import SipEndpoint, TransportConfig, open_sip_endpoint
from sipgw.app.calls.callfeed import CallFeed
from sipgw.app.calls.callhandle import TRANSFER_NOTIFY_MARGIN, CallHandle
from sipgw.app.calls.callpath import CallPath
from sipgw.app.calls.dialing import DialGate
from sipgw.app.calls.draining import DrainRequest, drain_calls
from sipgw.app.calls.inbound import InboundCalls
from sipgw.app.calls.outbound import CallOptions, CallOutcome, OutboundCalls, PlacedCall
from sipgw.app.calls.recording import Recordings
from sipgw.app.calls.referral import refer_received
from sipgw.app.calls.settings import CallHeadersSection
from sipgw.app.calls.siprecfork import SiprecClient
from sipgw.app.calls.warmtransfer import WarmTransfers
from sipgw.app.codecs import rtp_codecs
from sipgw.app.lines.build import LineTable
from sipgw.app.lines.reload import Lines
from sipgw.app.lines.routing import AgentRoutes
from sipgw.app.operations.breakers import WARM_UP_WAIT, start_warm_up, vendor_breakers, warm_up
from sipgw.app.operations.counters import CallCounters, Counters, ThrottleCount, read_counters
from sipgw.app.operations.metrics import GatewayMetrics
from sipgw.app.operations.overload import OverloadDetector, OverloadRefusals, start_watching
from sipgw.app.operations.settings import OverloadConfig
from sipgw.app.operations.stats import log_stats_forever
from sipgw.app.security.access import (
    AccessConfig,
    RefusalLog,
    build_access_policy,
    resolve_host,
    startup_line,
    summary_level,
)
from sipgw.app.security.floods import FloodSettings
from sipgw.app.security.passports import PassportVerifier
from sipgw.app.security.settings import LimitsConfig
from sipgw.app.settings import GatewayConfig
from sipgw.app.srs.server import RecordingServer
from sipgw.app.upstream.accounts import RegistrationSettings
from sipgw.app.upstream.accounttls import AccountServers
from sipgw.app.upstream.dialout import OutboundConfig
from sipgw.app.upstream.mediaranges import build_media_targets
from sipgw.app.upstream.settings import DnsSection
from sipgw.app.upstream.trunks import Trunks
from sipgw.media.aio.ticker import Ticker
from sipgw.media.ports import PortAllocator
from sipgw.sip.access import AccessPolicy
from sipgw.sip.call import CallKey
from sipgw.sip.dialpolicy import DialPolicy
from sipgw.sip.events import (
    CallConfirmed,
    CallEnded,
    CallOffered,
    DtmfReceived,
    InviteRefusedForOverload,
    MediaUpdated,
    PublicAddressObserved,
    RecordingMetadataReceived,
    RecordingSnapshotAnswered,
    RecordingStreamsOffered,
    RecordingStreamsUpdated,
    RegistrationChanged,
    RegistrationState,
    RequestRefused,
    SipEvent,
    TransferRequested,
    TransferUpdated,
)
from sipgw.sip.mediatarget import MediaTargetPolicy
from sipgw.sip.ratelimit import CallRateLimiter, FloodGuard
from sipgw.sip.sdes import SrtpPolicy
from sipgw.sip.timers import TimerValues
from sipgw.sip.useragent import UserAgent, UserAgentConfig

__all__ = ["Gateway", "GatewayParts", "gateway_load", "gateway_room"]

log = logging.getLogger("sipgw")


@dataclass(frozen=True, slots=True)
class GatewayParts:
    """What a gateway is given besides its settings and its agent; every part has a default
    (what an embedder gets with ``Gateway(config, factory)``). ``sipgw serve`` builds it
    from its :class:`~sipgw.app.startup.Startup` (:func:`sipgw.app.listen.gateway_of`)."""

    access: AccessConfig = field(default_factory=AccessConfig)
    """Who may call; the default (nothing configured) admits nobody
    (``AccessConfig(free_agents=True)``: this host and private networks, for agents that
    spend nothing)."""
    registration: RegistrationSettings = field(default_factory=RegistrationSettings)
    """The accounts to register at start (and unregister at stop)."""
    account_agents: Mapping[str, AgentFactory] = field(default_factory=dict)
    """Agent factories by account name, for accounts whose calls another agent answers
    (``agent`` in the accounts file)."""
    outbound: OutboundConfig = field(default_factory=OutboundConfig)
    """How :meth:`Gateway.place_call` places calls (proxy, caller id, credentials)."""
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    """Bounds on hostile input (message sizes, TCP/TLS connections)."""
    dial_policy: DialPolicy = field(default_factory=DialPolicy)
    """What agents may transfer to, call and key (``SIPGW_DIAL_ALLOW`` and friends,
    :mod:`sipgw.sip.dialpolicy`); default: nothing."""
    floods: FloodSettings = field(default_factory=FloodSettings)
    """Rate limits and the scanner filter (default: on, with the defaults of
    :mod:`sipgw.sip.ratelimit`; :meth:`FloodSettings.off` for none)."""
    overload: OverloadConfig = field(default_factory=OverloadConfig)
    """When new calls are refused for overload (:mod:`sipgw.app.operations.overload`;
    default: on, with its defaults)."""
    breakers: BreakerSection = field(default_factory=BreakerSection)
    """When new calls are turned away because an AI service is down
    (:mod:`sipgw.app.operations.breakers`; default: on, with its defaults)."""
    agents: Mapping[str, AgentFactory] = field(default_factory=dict)
    """The agents a placed call may name, by the name they were started with."""
    headers: CallHeadersSection = field(default_factory=CallHeadersSection)
    """The X- headers agents see, and whether transfers carry a summary."""
    lines: Lines | None = None
    """The lines (:mod:`sipgw.app.lines`); None = every call goes to its account's agent,
    else the gateway's agent."""
    dns: DnsSection = field(default_factory=DnsSection)
    """Which DNS servers find a trunk's servers (RFC 3263; default: the system's)."""
    other_legs: tuple[str, ...] = ()
    """The legs besides SIP that take calls (the admin server's), as the start-up access
    line names them (:func:`sipgw.app.security.access.startup_line`)."""


class Gateway:
    """Runs the SIP endpoint, the ticker and the calls.

    Args:
        config: resolved settings.
        agent_factory: builds each call's agent.
        parts: everything else it is given (:class:`GatewayParts`; default: each part's).
    """

    def __init__(
        self, config: GatewayConfig, agent_factory: AgentFactory, parts: GatewayParts | None = None
    ) -> None:
        parts = parts or GatewayParts()
        self.config = config
        agent_factory = self.agent_factory = plugin_factory(agent_factory)
        account_agents, agents = _read_once(parts.account_agents), _read_once(parts.agents)
        self.access = parts.access
        self.registration = parts.registration
        self.limits = parts.limits
        self.dial_policy = parts.dial_policy
        self.floods = parts.floods
        self.overload = OverloadDetector(parts.overload, time.monotonic(), 0, ready=False)
        """Decides when new calls get 503 for overload (judging once :meth:`ready`)."""
        self.overload_refusals = OverloadRefusals()
        self.refusals = RefusalLog(logging.getLogger("sipgw.sip.access"))
        self.registrations: dict[str, RegistrationChanged] = {}
        """The latest registration event of each account's AOR."""
        self.ports = PortAllocator(*config.rtp_ports)
        self.ticker = Ticker()
        self.ticker.on_lateness = self._tick_lateness
        self.counted = CallCounters()
        """What the gateway counts as calls run (read them all with :meth:`counters`)."""
        self.metrics = GatewayMetrics(self)
        """The Prometheus series (:mod:`sipgw.app.operations.metrics`)."""
        self.breakers = vendor_breakers(parts.breakers, self.metrics)
        """A breaker per AI service across calls (:mod:`sipgw.app.operations.breakers`)."""
        self.feed = CallFeed()
        """Live and recent calls for the dashboard (:mod:`sipgw.app.calls.callfeed`)."""
        self.drain_request = DrainRequest(config.drain_seconds)
        """SIGTERM or ``POST /api/drain`` (:mod:`sipgw.app.calls.draining`)."""
        self.recordings = Recordings(config.record_dir, config.record_retention_days)
        lines = self.lines = parts.lines
        self.other_legs = parts.other_legs
        """The routes file's lines in force, if there is one (:mod:`sipgw.app.lines`)."""
        if lines is not None:
            lines.on_reload = self._lines_reloaded
        self.routes = AgentRoutes(self.registration.accounts, account_agents, agent_factory, lines)
        """Which agent answers an incoming call (:mod:`sipgw.app.lines.routing`)."""
        self.calls = CallPath(
            config,
            ports=self.ports,
            ticker=self.ticker,
            recordings=self.recordings,
            counted=self.counted,
            gate=DialGate(self.dial_policy, self.counted),
            metrics=self.metrics,
            feed=self.feed,
            sip=lambda: self.sip,
        )
        """The calls up now and the steps each takes (:mod:`sipgw.app.calls.callpath`)."""
        self.calls.headers = parts.headers
        self.calls.observer_for = self.breakers.observer
        self.passports = PassportVerifier(
            self.access.stir_anchors, max_age=self.access.stir_max_age
        )
        """Checks the PASSporTs of incoming calls (:mod:`sipgw.app.security.passports`)."""
        self.inbound = InboundCalls(
            self.calls, self.routes, config.ring_time, self.breakers, self.passports
        )
        self.srs = self.inbound.recording = RecordingServer(self.calls)
        """SIPREC recording sessions to the lines that record (:mod:`sipgw.app.srs.server`)."""
        self.account_tls = AccountServers(
            self.registration.accounts, config.tls_ca, config.tls_cert, config.tls_key
        )
        """Accounts' own TLS towards their servers (:mod:`sipgw.app.upstream.accounttls`)."""
        self.trunks = Trunks(parts.dns, lambda: self.sip, config.bind, self.account_tls.targets)
        """Registrars' and call targets' servers, by RFC 3263 (:mod:`sipgw.app.upstream.trunks`)."""
        self.outbound = OutboundCalls(
            self.calls, parts.outbound, agents, default_agent=agent_factory,
            lines=self.routes.line_named, breakers=self.breakers,
        )  # fmt: skip
        # a blind transfer's target rings as long as our own calls' (SIPGW_RING_TIMEOUT)
        self.calls.transfer_wait = self.outbound.config.ring_timeout + TRANSFER_NOTIFY_MARGIN
        self.outbound.locate = self.trunks.call_targets
        self.admin_throttle: ThrottleCount | None = None
        """The admin server's wrong-token throttle, when one runs (its 429s are counted)."""
        self.calls.warm = WarmTransfers(self.calls, self.outbound)  # every call may consult
        self.calls.siprec = SiprecClient(lambda: self.sip, self.ports, config.bind,
                                         self.trunks.call_targets)  # fmt: skip
        """SIPREC recording sessions (:mod:`sipgw.app.calls.siprecfork`)."""
        self._sip: SipEndpoint | None = None
        self._closed = False
        self._background: list[asyncio.Task[object]] = []

    def factories(self) -> list[AgentFactory]:
        """Every agent a call may get now: an incoming call's (:meth:`AgentRoutes.factories`),
        then those a placed call may name."""
        return [*self.routes.factories(), *self.outbound.agents.values()]

    def _lines_reloaded(self, table: LineTable) -> None:
        """A reload put new lines in force: warm up their new agents in the background."""
        if not self.running:
            return
        self._background = [task for task in self._background if not task.done()]
        fresh = (line.factory for line in table.lines.values())
        self._background += start_warm_up(f for f in fresh if f is not self.agent_factory)

    def _tick_lateness(self, seconds: float) -> None:
        self.metrics.observe_tick_lateness(seconds)
        self.overload.observe_lateness(time.monotonic(), seconds, len(self.ticker))

    @property
    def sip(self) -> SipEndpoint:
        """The SIP endpoint (after :meth:`start`)."""
        assert self._sip is not None, "gateway not started"
        return self._sip

    @property
    def running(self) -> bool:
        """Whether the SIP endpoint runs (between :meth:`start` and the end of :meth:`stop`)."""
        return self._sip is not None and not self._closed

    @property
    def ua(self) -> UserAgent:
        """The user agent core (after :meth:`start`)."""
        return self.sip.ua

    @property
    def handles(self) -> dict[CallKey, CallHandle]:
        """The calls up now (ringing or answered), by the SIP core's key."""
        return self.calls.handles

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, ready: bool = True) -> tuple[str, int]:
        """Decide who may call, bind SIP, start the ticker, warm the agents up, register;
        returns the bound SIP address.

        ``ready``: call :meth:`ready` at the end; False: the caller has start-up work of
        its own (``sipgw serve``) and calls it once done.

        Raises:
            SettingError: an ``--allow-from`` host name does not resolve, or the
                recording directory cannot be created (named by their settings:
                :meth:`Sources.explain <sipgw.foundation.settings.Sources.explain>` says how the
                user gave them).
            ConfigError: an account's own TLS files do not load
                (:mod:`sipgw.app.upstream.accounttls`).
            OSError: the SIP port cannot be bound.
        """
        loop = asyncio.get_running_loop()
        policy, summary = await build_access_policy(self.access)
        log.log(summary_level(policy), "%s", startup_line(policy, summary, self.other_legs))
        self.refusals.hint = self.access.unconfigured  # closed, or a lab: say what admits
        media = await build_media_targets(self.access.media_ranges, resolve_host, log)
        log.info("floods: %s", self.floods.describe())
        flood, call_rate = self.floods.build(loop.time())
        make_ua = partial(_user_agent, self.config, self.limits, policy, media, flood, call_rate)
        await self.recordings.start()
        self.account_tls.load()
        self._sip = await open_sip_endpoint(
            _transports(self.config, self.limits), make_ua, self._on_event
        )
        self.account_tls.attach(self._sip.streams.client_ssl if self._sip.streams else None)
        log.info("%s", self.calls.media_io.describe())
        await self.calls.media_io.start(self.ticker, self.config.bind)
        shared = self.calls.media_io.describe_shared()
        if shared is not None:
            log.warning("%s", shared)
        self.ticker.start()
        self._background += start_watching(self.overload, self._set_overload, self.ticker)
        self._background += await warm_up(self.factories(), WARM_UP_WAIT)
        await self.trunks.register_all(  # their registrars' servers first, all at once
            account.registration(self.registration.keepalive_interval, self.registration.retry_base)
            for account in self.registration.accounts
        )
        if self.config.stats_interval > 0:
            stats = log_stats_forever(self, self.config.stats_interval)
            self._background.append(loop.create_task(stats, name="stats"))
        if ready:
            self.ready()
        return self.config.bind, self.ua.config.sip_port

    def ready(self) -> None:
        """Start-up work is done: overload is judged from now on, on ticks and CPU time
        from now on (those before were the start's, not the calls')."""
        self.overload.become_ready(time.monotonic(), time.process_time())

    def _set_overload(self, retry_after: int | None) -> None:
        def set_overload(now: float) -> None:
            self.ua.overload_retry_after = retry_after

        self.sip.act(set_overload)

    async def drain(self, limit: float, cut_short: asyncio.Event) -> int:
        """Refuse new calls and OPTIONS probes with 503, unregister every account, and wait
        for the running calls (of every leg) to end; returns how many are still up (see
        :func:`~sipgw.app.calls.draining.drain_calls`). :meth:`stop` hangs them up."""
        if self._sip is None:
            return 0
        return await drain_calls(self.sip, self.handles, limit, cut_short,
                                 self.config.drain_goodbye, self.calls.when_empty())  # fmt: skip

    async def stop(self, grace: float = 5.0) -> None:
        """Hang up every call (BYE / 503) and unregister, wait for both to complete, close."""
        if self._sip is None:
            return
        self.sip.act(self.ua.shutdown)
        await asyncio.wait([self.sip.when_idle()], timeout=grace)
        for handle in list(self.handles.values()):
            self.calls.release(handle)
            self.srs.release(handle)
        for task in self._background:
            task.cancel()
        await self.trunks.stop()
        self.recordings.stop()
        await self.ticker.stop()
        self.calls.media_io.stop(self.ticker)
        await self.calls.wait_tasks(grace)
        await close_mcp_servers()  # the lines' MCP servers (a stdio server's process ends)
        self.sip.close()
        self._closed = True

    async def place_call(self, target: str, **options: Unpack[CallOptions]) -> CallOutcome:
        """Call ``target`` (a phone number or SIP URI); returns how the call ended.

        :meth:`originate` with the same ``options``, then wait for the outcome (the call
        goes on if this is cancelled).

        Raises:
            DialRefused: ``for_agent`` and ``target`` is not allowed (nothing is sent).
        """
        placed = await self.originate(target, **options)
        return await asyncio.shield(placed.outcome)

    async def originate(self, target: str, **options: Unpack[CallOptions]) -> PlacedCall:
        """Place a call to ``target`` (a phone number or SIP URI); returns once its INVITE
        is out (or it failed before), with its handle and its outcome to come.

        ``options`` (:class:`~sipgw.app.calls.outbound.CallOptions`): the agent (default: the
        line's, else the gateway's), which starts when the far end answers; the caller id,
        ring timeout, variables, ``X-`` headers, account, routes file line,
        answering-machine detection and the goal behind a phone menu (docs/ivr.md);
        ``for_agent=True`` for a call an agent asked for (a
        callback), which the dial policy must allow. See :meth:`OutboundCalls.place
        <sipgw.app.calls.outbound.OutboundCalls.place>`.

        Raises:
            DialRefused: ``for_agent`` and ``target`` is not allowed (nothing is sent).
        """
        return await self.outbound.place(target, **options)

    # ------------------------------------------------------------------ SIP events

    def _on_event(self, event: SipEvent) -> None:
        if isinstance(event, CallOffered):
            self.inbound.offered(event.call)
            return
        if isinstance(event, RequestRefused):
            self.refusals.record(event, asyncio.get_running_loop().time())
            return
        if isinstance(event, InviteRefusedForOverload):
            self.overload_refusals.record(event, asyncio.get_running_loop().time(), self.overload)
            return
        if isinstance(event, PublicAddressObserved):
            _log_public_address(event)
            return
        if isinstance(event, RegistrationChanged):
            self.registrations[event.aor] = event
            _log_registration(event)
            return
        if self.calls.siprec is not None and self.calls.siprec.on_event(event):
            return  # a recording session's
        handle = self.handles.get(event.call.key)
        if handle is None:
            return
        if handle.call.outbound:
            self.outbound.on_event(handle, event)
        if isinstance(event, CallEnded):
            self.calls.ended(handle, event)
            self.srs.release(handle)  # a recording session's streams
        elif isinstance(event, RecordingMetadataReceived):
            self.srs.metadata_received(handle, event.metadata)
        elif isinstance(event, RecordingStreamsUpdated):
            self.srs.streams_updated(handle, event.streams, event.removed, event.refused)
        elif isinstance(event, RecordingStreamsOffered):
            self.srs.streams_offered(handle, event.indexes, event.labels)
        elif isinstance(event, RecordingSnapshotAnswered):
            self.srs.snapshot_answered(handle, event.status)
        elif isinstance(event, MediaUpdated):
            if handle.session is not None or not handle.call.outbound or handle.answered:
                self.calls.start_media(handle, event.media)  # else: at the answer, as agreed
        elif isinstance(event, DtmfReceived):
            handle.dtmf_received(event.digit, "SIP INFO")
        elif isinstance(event, CallConfirmed):
            handle.log.debug("ACK received")
            handle.acked.set()
            self.calls.confirmed(handle)
            self.srs.confirmed(handle)  # a recording session may ask for its metadata
        elif isinstance(event, TransferUpdated):
            handle.transfer_updated(event)
        elif isinstance(event, TransferRequested):
            refer_received(handle, event)

    # ------------------------------------------------------------------ what is read

    def counters(self) -> Counters:
        """Every counter now: calls, RTP, refusals, rate limits, transports, overload."""
        return read_counters(
            self.counted,
            live=[h.session for h in self.handles.values() if h.session is not None],
            calls=len(self.handles),
            ports=self.ports,
            refusals=self.refusals,
            overloaded=self.overload.overloaded,
            sip=self._sip,
            admin_throttled=self.admin_throttle.refused if self.admin_throttle else 0,
            shared=self.calls.media_io.shared_tables(),
        )

    def registration_states(self) -> dict[str, bool]:
        """Each configured account's AOR: registered now or not (for the metrics)."""
        return {
            account.aor: (
                (state := self.registrations.get(account.aor)) is not None
                and state.state is RegistrationState.REGISTERED
            )
            for account in self.registration.accounts
        }

    def line_calls(self) -> dict[str, int]:
        """The calls up now on each line of the routes file (for the metrics)."""
        if self.lines is None:
            return {}
        counts = dict.fromkeys(self.lines.table.lines, 0)
        for handle in self.handles.values():
            if handle.line:
                counts[handle.line] = counts.get(handle.line, 0) + 1
        return counts

    def ticker_counts(self) -> tuple[int, int]:
        """The media ticker's ticks run and skipped (for the metrics)."""
        return self.ticker.ticks, self.ticker.skipped


def gateway_load(gateway: Gateway) -> tuple[int, int | None, bool]:
    """``gateway``'s calls in progress (of every kind), its ``SIPGW_MAX_CALLS`` (None: no
    limit) and whether it takes new calls (not draining nor overloaded)."""
    accepting = not (gateway.ua.draining or gateway.overload.overloaded)
    return len(gateway.handles), gateway.config.max_calls, accepting


def gateway_room(gateway: Gateway) -> int | None:
    """Calls ``gateway`` may still place now: None without a limit, 0 when it is full,
    draining or overloaded (where a cluster's work goes: the gateways with room)."""
    active, limit, accepting = gateway_load(gateway)
    if not accepting:
        return 0
    return None if limit is None else max(0, limit - active)


def _read_once(factories: Mapping[str, AgentFactory] | None) -> dict[str, AgentFactory]:
    """Each factory's record and hooks read once, at start, not per call (a plain function's
    hooks are runtime protocol checks: about 0.25 ms a reading)."""
    return {name: plugin_factory(factory) for name, factory in (factories or {}).items()}


def _user_agent(
    config: GatewayConfig,
    limits: LimitsConfig,
    access: AccessPolicy,
    media: MediaTargetPolicy,
    flood: FloodGuard | None,
    call_rate: CallRateLimiter | None,
    ports: dict[str, int],
) -> UserAgent:
    """The SIP core for the bound ``ports`` (by transport)."""
    return UserAgent(
        UserAgentConfig(
            public_host=config.public_ip or config.bind,
            sip_port=ports.get("UDP") or ports.get("TCP") or ports["TLS"],
            listeners=tuple(ports.items()),
            max_calls=config.max_calls,
            srtp_policy=SrtpPolicy(config.srtp),
            limits=limits.message_limits,
            timers=TimerValues(t1=config.sip_t1),
            media_targets=media,
            user_agent=config.user_agent,
            sdp_username=config.sdp_username,
            sdp_session_name=config.sdp_session_name,
            codecs=rtp_codecs(config.codecs),  # what the operator allows (SIPGW_CODECS)
        ),
        access=access,
        flood=flood,
        call_rate=call_rate,
    )


def _transports(config: GatewayConfig, limits: LimitsConfig) -> TransportConfig:
    return TransportConfig(
        bind=config.bind,
        sip_port=config.sip_port,
        transports=config.transports,
        tls_port=config.tls_port,
        tls_cert=config.tls_cert,
        tls_key=config.tls_key,
        tls_ca=config.tls_ca,
        tls_peer_ca=config.tls_peer_ca,
        tls_peer_names=config.tls_peer_names,
        idle_timeout=config.tcp_idle_timeout,
        message_timeout=limits.tcp_message_timeout,
        handshake_timeout=limits.tls_handshake_timeout,
        max_connections_per_source=limits.tcp_max_per_source,
        max_connections=limits.tcp_max_connections,
        reserved_for_allowed=limits.tcp_reserved_for_allowed,
    )


def _log_public_address(event: PublicAddressObserved) -> None:
    observed, announced = event.observed, event.announced
    if observed[0] != announced[0]:
        log.warning(
            "NAT: %s:%d sees us at %s:%d, but we announce %s:%d in Via, Contact and SDP: "
            "set SIPGW_PUBLIC_IP=%s (or forward the ports)",
            *event.peer, *observed, *announced, observed[0],
        )  # fmt: skip
    else:
        log.info(
            "NAT: %s:%d sees us at %s:%d (we announce port %d): the NAT maps our port",
            *event.peer, *observed, announced[1],
        )  # fmt: skip


def _log_registration(event: RegistrationChanged) -> None:
    """One line per change (and per failed attempt, with why and when the next one is)."""
    host, port = event.registrar.address
    via = f"{host}:{port}"
    if event.registrar.transport != "UDP":
        via += f" over {event.registrar.transport}"
    if event.state is RegistrationState.REGISTERED:
        log.info("registered %s via %s (expires %s s)", event.aor, via, event.expires)
    elif event.state is RegistrationState.FAILED:
        why = f"{event.status} {event.reason}" if event.status else event.reason
        log.warning(
            "registration of %s failed: %s; retrying in %.0f s",
            event.aor, why, event.retry_in or 0.0,
        )  # fmt: skip
    else:
        log.info("unregistered %s at %s", event.aor, via)
