"""The gateway: SIP events in, one media session and one agent per call.

For each offered call: bind an RTP port pair, send 180, ring for the ring
time, let the agent prepare, answer with 200 and the SDP answer, then let the shared
ticker move audio between the jitter buffer, the agent and the RTP sender
every 20 ms (see :mod:`sipgw.app.callhandle`). When the call ends, for
whatever reason, everything the call held is released exactly once.

Before any of that, the SIP core's flood guard and the access policy
(:mod:`sipgw.app.floods`, :mod:`sipgw.app.access`) decide who may call: a
limited or refused INVITE never becomes a call here, it is only counted (and
a refusal logged). The agent is built only for an offered (admitted) call,
and prepares (opens its paid sessions) only after the ring time, right before
the answer: a caller who hangs up while it rings costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from agent.base import Agent, AgentFactory
from agent.dialpolicy import DialPolicy, DialRefused
from agent.private_files import make_private_dir
from media.aio.rtp_endpoint import RtpEndpoint, open_rtp_endpoint
from media.aio.ticker import Ticker
from media.jitterbuffer import JitterBufferConfig
from media.ports import PortAllocator
from media.session import MediaSession
from sipgw.aio.endpoint import SipEndpoint, TransportConfig, open_sip_endpoint
from sipgw.app.access import AccessConfig, RefusalLog, build_access_policy
from sipgw.app.accounts import Account, RegistrationSettings
from sipgw.app.callfeed import CallFeed
from sipgw.app.callhandle import CallHandle, CallLog, stream_params
from sipgw.app.config import GatewayConfig
from sipgw.app.draining import GOODBYE_WAIT, DrainRequest, say_goodbyes
from sipgw.app.floods import FloodSettings
from sipgw.app.limits import LimitsConfig
from sipgw.app.metrics import GatewayMetrics
from sipgw.app.outbound import CallOutcome, OutboundCalls, OutboundConfig
from sipgw.app.overload import OverloadConfig, OverloadDetector, watch_overload
from sipgw.app.recording import RETENTION_CHECK_INTERVAL, CallRecorder, delete_expired
from sipgw.app.settings import ConfigError
from sipgw.app.stats import log_stats_forever
from sipgw.call import CallInfo, CallKey
from sipgw.events import (
    CallConfirmed,
    CallEnded,
    CallOffered,
    DtmfReceived,
    MediaUpdated,
    PublicAddressObserved,
    RegistrationChanged,
    RegistrationState,
    RequestRefused,
    SipEvent,
    TransferStage,
    TransferUpdated,
)
from sipgw.offeranswer import NegotiatedAudio
from sipgw.sdes import SrtpPolicy
from sipgw.timers import TimerValues
from sipgw.useragent import UserAgent, UserAgentConfig

__all__ = ["CallHandle", "Gateway", "PREPARE_TIMEOUT"]

log = logging.getLogger("sipgw")

PREPARE_TIMEOUT = 10.0
"""Seconds an agent may take to prepare before the call is rejected with 503."""


@dataclass
class _MediaTotals:
    rtp_in: int = 0
    rtp_out: int = 0
    jb_lost: int = 0
    jb_late: int = 0
    jb_concealed: int = 0
    jb_inserted: int = 0
    jb_dropped: int = 0
    jb_reanchors: int = 0

    def add(self, session: MediaSession) -> None:
        jb = session.jitter.stats
        self.rtp_in += session.stats.packets_in
        self.rtp_out += session.sender.packets_sent
        self.jb_lost += jb.lost
        self.jb_late += jb.late
        self.jb_concealed += jb.concealed_frames
        self.jb_inserted += jb.inserted_frames
        self.jb_dropped += jb.compressed_frames
        self.jb_reanchors += jb.reanchors


def _srtp_summary(session: MediaSession) -> str:
    """The SRTP part of the end-of-call media line (counts only, never keys)."""
    if session.srtp is None:
        return ""
    s = session.srtp.stats
    text = (
        f", SRTP protected {s.protected}, unprotected {s.unprotected}, dropped {s.dropped} "
        f"(auth {s.auth_failed}, replay {s.replayed}, expired {s.expired}, other {s.other_errors})"
        f", plain RTCP {s.plain_rtcp}"
    )
    if s.plain_rtcp:  # not an SRTP failure: RTCP the peer sent unprotected, ignored
        text += f" [last {s.last_plain}]"
    if s.other_errors:  # which libsrtp error, and the last such packet's headers
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(s.other_kinds.items()))
        text += f" [other: {kinds}; last {s.last_other}]"
    return text


class Gateway:
    """Runs the SIP endpoint, the ticker and the calls.

    Args:
        config: resolved settings.
        agent_factory: builds each call's agent.
        access: who may call; the default (nothing configured) admits anyone.
        registration: the accounts to register at start (and unregister at stop).
        account_agents: agent factories by account name, for accounts whose
            calls another agent answers (``agent`` in the accounts file).
        outbound: how :meth:`place_call` places calls (proxy, caller id, credentials).
        limits: bounds on hostile input (message sizes, TCP/TLS connections).
        dial_policy: what agents may transfer to, call and key (``SIPGW_DIAL_ALLOW``
            and friends, :mod:`agent.dialpolicy`); default: nothing.
        floods: rate limits and the scanner filter (default: on, with the defaults of
            :mod:`sipgw.ratelimit`; :meth:`FloodSettings.off` for none).
        overload: when new calls are refused for overload (:mod:`sipgw.app.overload`;
            default: on, with its defaults).
    """

    def __init__(
        self,
        config: GatewayConfig,
        agent_factory: AgentFactory,
        *,
        access: AccessConfig | None = None,
        registration: RegistrationSettings | None = None,
        account_agents: Mapping[str, AgentFactory] | None = None,
        outbound: OutboundConfig | None = None,
        limits: LimitsConfig | None = None,
        dial_policy: DialPolicy | None = None,
        floods: FloodSettings | None = None,
        overload: OverloadConfig | None = None,
    ) -> None:
        self.config = config
        self.overload = OverloadDetector(overload or OverloadConfig(), time.monotonic(), 0.0)
        """Decides when new calls get 503 for overload (fed by the ticker once started)."""
        self._overload_watch: asyncio.Task[None] | None = None
        self.limits = limits or LimitsConfig()
        self.dial_policy = dial_policy or DialPolicy()
        self.dial_refused = 0
        self.access = access or AccessConfig()
        self.floods = floods or FloodSettings()
        self.refusals = RefusalLog(logging.getLogger("sipgw.access"))
        self.agent_factory = agent_factory
        self.registration = registration or RegistrationSettings()
        self.account_agents = dict(account_agents or {})
        self.registrations: dict[str, RegistrationChanged] = {}
        self.ports = PortAllocator(*config.rtp_ports)
        self.ticker = Ticker()
        self.handles: dict[CallKey, CallHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sip: SipEndpoint | None = None
        self._closed = False
        self._stats: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        self.calls_total = 0
        self.early_sends = 0
        self._ended_media = _MediaTotals()
        self.jitter = JitterBufferConfig(
            min_delay=config.jitter_min_ms / 1000, max_delay=config.jitter_max_ms / 1000
        )
        self.outbound = OutboundCalls(
            self, outbound or OutboundConfig(), config.bind, config.max_call_seconds
        )
        self.drain_request = DrainRequest(config.drain_seconds)
        """What starts the drain: SIGTERM or ``POST /api/drain`` (:mod:`sipgw.app.draining`)."""
        self.metrics = GatewayMetrics(self)
        """The Prometheus series (:mod:`sipgw.app.metrics`), served by the admin server."""
        self.ticker.on_lateness = self._tick_lateness
        self.feed = CallFeed()
        """Live and recent calls for the dashboard (:mod:`sipgw.app.callfeed`)."""

    def _tick_lateness(self, seconds: float) -> None:
        self.metrics.observe_tick_lateness(seconds)
        self.overload.observe_lateness(time.monotonic(), seconds)

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

    async def start(self) -> tuple[str, int]:
        """Decide who may call, bind SIP, start the ticker; returns the bound SIP address.

        Raises:
            ConfigError: an ``--allow-from`` host name does not resolve, or
                ``SIPGW_RECORD_DIR`` cannot be created.
            OSError: the SIP port cannot be bound.
        """
        public = self.config.public_ip or self.config.bind
        policy, summary = await build_access_policy(self.access)
        log.info("%s", summary)
        log.info("floods: %s", self.floods.describe())
        flood, call_rate = self.floods.build(asyncio.get_running_loop().time())

        config = self.config

        def make_ua(ports: dict[str, int]) -> UserAgent:
            sip_port = ports.get("UDP") or ports.get("TCP") or ports["TLS"]
            return UserAgent(
                UserAgentConfig(
                    public_host=public,
                    sip_port=sip_port,
                    listeners=tuple(ports.items()),
                    max_calls=config.max_calls,
                    srtp_policy=SrtpPolicy(config.srtp),
                    limits=self.limits.message_limits,
                    timers=TimerValues(t1=config.sip_t1),
                ),
                access=policy,
                flood=flood,
                call_rate=call_rate,
            )

        transports = TransportConfig(
            bind=config.bind,
            sip_port=config.sip_port,
            transports=config.transports,
            tls_port=config.tls_port,
            tls_cert=config.tls_cert,
            tls_key=config.tls_key,
            tls_ca=config.tls_ca,
            idle_timeout=config.tcp_idle_timeout,
            message_timeout=self.limits.tcp_message_timeout,
            handshake_timeout=self.limits.tls_handshake_timeout,
            max_connections_per_source=self.limits.tcp_max_per_source,
            max_connections=self.limits.tcp_max_connections,
        )
        await self._start_recording()
        self._sip = await open_sip_endpoint(transports, make_ua, self._on_event)
        self.ticker.start()
        self._watch_overload()
        for account in self.registration.accounts:
            registration = account.registration(
                self.registration.keepalive_interval, self.registration.retry_base
            )
            self.sip.act(partial(self.ua.register, registration))
        if self.config.stats_interval > 0:
            self._stats = asyncio.get_running_loop().create_task(
                log_stats_forever(self, self.config.stats_interval), name="stats"
            )
        return self.config.bind, self.ua.config.sip_port

    def _watch_overload(self) -> None:
        config = self.overload.config
        log.info("%s", config.describe())
        if not config.enabled:
            return
        self.overload = OverloadDetector(config, time.monotonic(), time.process_time())

        def apply(retry_after: int | None) -> None:
            def set_overload(now: float) -> None:
                self.ua.overload_retry_after = retry_after

            self.sip.act(set_overload)

        self._overload_watch = asyncio.get_running_loop().create_task(
            watch_overload(self.overload, apply), name="overload"
        )

    async def drain(self, limit: float, cut_short: asyncio.Event) -> int:
        """Refuse new calls and OPTIONS probes with 503, unregister every account, and wait
        for the running calls to end.

        Waits until no call is left, ``limit`` seconds pass, or ``cut_short`` is set (a
        second SIGTERM), whichever comes first. When the limit passes with calls up, each
        answered call's agent says the goodbye line (``config.drain_goodbye``), bounded by
        :data:`~sipgw.app.draining.GOODBYE_WAIT` and ``cut_short``; a call still ringing
        gets no goodbye (nothing of its agent plays yet): it is ended at once (503 to an
        incoming one, CANCEL for one we placed). Returns how many calls are still up;
        :meth:`stop` hangs them up.
        """
        if self._sip is None:
            return 0

        def start_draining(now: float) -> None:
            self.ua.draining = True
            self.ua.unregister(None, now)  # the registrar stops sending us calls now

        self.sip.act(start_draining)
        idle: asyncio.Future[None] = self.sip.when_idle()
        interrupted: asyncio.Future[None] = asyncio.ensure_future(self._wait_set(cut_short))
        waiters = [idle, interrupted]
        await asyncio.wait(waiters, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        up = [h for h in self.handles.values() if not h.ended]
        ringing = [h.call for h in up if not h.answered]
        if ringing and not cut_short.is_set():
            log.info("drain limit reached: %d call(s) not answered yet end now", len(ringing))

            def end_ringing(now: float) -> None:
                for call in ringing:
                    self.ua.hangup(call, now, 503)

            self.sip.act(end_ringing)
        agents = [h.agent for h in up if h.answered and h.agent is not None]
        if agents and not cut_short.is_set() and self.config.drain_goodbye:
            log.info("drain limit reached: %d call(s) say goodbye, then BYE", len(agents))
            played = await say_goodbyes(agents, self.config.drain_goodbye, GOODBYE_WAIT, cut_short)
            log.info("goodbye played on %d of %d call(s)", played, len(agents))
        return len(self.handles)

    @staticmethod
    async def _wait_set(event: asyncio.Event) -> None:
        await event.wait()

    async def stop(self, grace: float = 5.0) -> None:
        """Hang up every call (BYE / 503) and unregister, wait for both to complete, close."""
        if self._sip is None:
            return
        self.sip.act(self.ua.shutdown)
        await asyncio.wait([self.sip.when_idle()], timeout=grace)
        for handle in list(self.handles.values()):
            self._release(handle)
        if self._stats is not None:
            self._stats.cancel()
        if self._retention is not None:
            self._retention.cancel()
        if self._overload_watch is not None:
            self._overload_watch.cancel()
        await self.ticker.stop()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
        self.sip.close()
        self._closed = True

    async def place_call(
        self,
        target: str,
        *,
        agent: AgentFactory | None = None,
        caller_id: str | None = None,
        ring_timeout: float | None = None,
        for_agent: bool = False,
    ) -> CallOutcome:
        """Call ``target`` (a phone number or SIP URI); returns how the call ended.

        The agent (default: the gateway's) starts when the far end answers.
        See :mod:`sipgw.app.outbound`. A call placed on an agent's behalf
        (``for_agent``: a callback) must be allowed by the dial policy; the
        operator's own ``sipgw call`` is not checked.

        Raises:
            DialRefused: ``for_agent`` and ``target`` is not allowed (nothing is sent).
        """
        if for_agent:
            try:
                self.dial_policy.check("call", target)
            except DialRefused:
                log.warning("refused a call for the agent to %r: not in the dial allow-list",
                            target)  # fmt: skip
                self.dial_refused += 1
                raise
        self.calls_total += 1
        return await self.outbound.place(
            target, agent=agent, caller_id=caller_id, ring_timeout=ring_timeout
        )

    # ------------------------------------------------------------------ SIP events

    def _on_event(self, event: SipEvent) -> None:
        if isinstance(event, CallOffered):
            self._offered(event.call)
            return
        if isinstance(event, RequestRefused):
            self.refusals.record(event, asyncio.get_running_loop().time())
            return
        if isinstance(event, PublicAddressObserved):
            self._public_address_observed(event)
            return
        if isinstance(event, RegistrationChanged):
            self._registration_changed(event)
            return
        handle = self.handles.get(event.call.key)
        if handle is None:
            return
        if handle.call.outbound:
            self.outbound.on_event(handle, event)
        if isinstance(event, CallEnded):
            handle.end_reason = event.reason.value
            handle.log.info(
                "call ended: %s%s after %.1f s",
                event.reason.value,
                f" ({event.status})" if event.status else "",
                time.monotonic() - handle.started,
            )
            self._release(handle)
        elif isinstance(event, MediaUpdated):
            self._media_ready(handle, event.media)
        elif isinstance(event, DtmfReceived):
            handle.log.info("DTMF %s (SIP INFO)", event.digit)
            if handle.agent is not None:
                handle.agent.on_dtmf(event.digit)
        elif isinstance(event, CallConfirmed):
            handle.log.debug("ACK received")
        elif isinstance(event, TransferUpdated):
            self._transfer_updated(handle, event)

    def _public_address_observed(self, event: PublicAddressObserved) -> None:
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

    def _registration_changed(self, event: RegistrationChanged) -> None:
        """One log line per change (and per failed attempt, with why and when the next one is)."""
        self.registrations[event.aor] = event
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

    def account_for(self, call: CallInfo) -> Account | None:
        """The account a call was made to: its AOR's user and host, else the user alone.

        A registrar routes a call to the Contact we registered but keeps the
        AOR in To, so To names the account.
        """
        uri = call.called.uri
        user = getattr(uri, "user", None) or ""
        host = str(getattr(uri, "host", "")).lower()
        same_user = [a for a in self.registration.accounts if a.user == user]
        for account in same_user:
            if account.host == host:
                return account
        return same_user[0] if len(same_user) == 1 else None

    def agent_factory_for(self, call: CallInfo) -> AgentFactory:
        """The agent of the account the call was made to, else the gateway's (``--agent``)."""
        account = self.account_for(call)
        if account is not None and account.name in self.account_agents:
            return self.account_agents[account.name]
        return self.agent_factory

    def _transfer_updated(self, handle: CallHandle, event: TransferUpdated) -> None:
        handle.log.info("transfer %s: %d %s", event.stage.value, event.status, event.reason)
        waiter = handle.transfer_waiter
        if event.stage in (TransferStage.ACCEPTED, TransferStage.REJECTED):
            if waiter is not None and not waiter.done():
                waiter.set_result(event.stage is TransferStage.ACCEPTED)
        elif event.stage is TransferStage.SUCCEEDED:
            handle.hangup()  # the caller now talks to the target (RFC 5589 §6)
        elif event.stage is TransferStage.FAILED:
            if handle.agent is not None:
                handle.agent.on_transfer_failed(event.status, event.reason)

    def build_agent(self, factory: AgentFactory, handle: CallHandle) -> Agent:
        """Build a call's agent, reporting to the metrics (:attr:`Agent.observer`)."""
        agent = factory(handle)
        agent.observer = self.metrics.agent_observer
        self.feed.agent_built(handle, agent)
        return agent

    def registration_states(self) -> dict[str, bool]:
        """Each configured account's AOR: registered now or not (for the metrics)."""
        return {
            account.aor: (
                (state := self.registrations.get(account.aor)) is not None
                and state.state is RegistrationState.REGISTERED
            )
            for account in self.registration.accounts
        }

    def ticker_counts(self) -> tuple[int, int]:
        """The media ticker's ticks run and skipped (for the metrics)."""
        return self.ticker.ticks, self.ticker.skipped

    def media_totals(self) -> dict[str, int]:
        """RTP counters over all calls, ended and live."""
        totals = _MediaTotals(**vars(self._ended_media))
        for handle in self.handles.values():
            if handle.session is not None:
                totals.add(handle.session)
        return vars(totals)

    def call_counters(self) -> dict[str, int]:
        """Calls now and in all, RTP ports taken, RTP and jitter-buffer counters."""
        return {
            "calls": len(self.handles),
            "calls_total": self.calls_total,
            "rtp_ports_in_use": self.ports.in_use,
            **self.media_totals(),
            "early_sends": self.early_sends,
            "refused": self.refusals.refused,
            "challenged": self.refusals.challenged,
            "dial_refused": self.dial_refused,
            **self.flood_counters(),
            "overloaded": int(self.overload.overloaded),
            "overload_refused": self._sip.ua.overload_refused if self._sip is not None else 0,
            **self.transport_counters(),
        }

    def transport_counters(self) -> dict[str, int]:
        """What the transports refused (zeros before :meth:`start`)."""
        udp = self._sip.udp if self._sip is not None else None
        streams = self._sip.streams if self._sip is not None else None
        return {
            "udp_oversized": udp.oversized if udp is not None else 0,
            "tcp_refused": streams.refused if streams is not None else 0,
            "tcp_slow_senders": streams.slow_senders if streams is not None else 0,
        }

    def flood_counters(self) -> dict[str, int]:
        """What the rate limits did (zeros before :meth:`start`)."""
        ua = self._sip.ua if self._sip is not None else None
        flood = ua.flood if ua is not None else None
        call_rate = ua.call_rate if ua is not None else None
        return {
            "rate_limited": flood.counters.rate_limited if flood else 0,
            "rate_limit_503s": flood.counters.rate_limit_replies if flood else 0,
            "scanners_dropped": flood.counters.scanners_dropped if flood else 0,
            "flood_sources": flood.sources if flood else 0,
            "call_rate_limited": call_rate.limited_global if call_rate else 0,
            "caller_rate_limited": call_rate.limited_caller if call_rate else 0,
        }

    def _offered(self, call: CallInfo) -> None:
        self.calls_total += 1
        handle = CallHandle(self, call, CallLog.for_call(log, call))
        self.handles[call.key] = handle
        self.feed.call_started(handle)
        account = self.account_for(call)
        handle.log.info(
            "incoming call from %s to %s%s",
            handle.caller, handle.called, f" (account {account.name})" if account else "",
        )  # fmt: skip
        handle.setup = self._spawn(self._setup(handle))

    async def _setup(self, handle: CallHandle) -> None:
        """Answer the call; any unexpected failure still gets the caller a final response."""
        try:
            await self._answer(handle)
        except asyncio.CancelledError:
            raise
        except Exception:
            handle.log.exception("call setup failed: ending the call (500 or BYE)")
            if not handle.ended:
                self.sip.act(lambda now: self.ua.hangup(handle.call, now, status=500))

    async def _answer(self, handle: CallHandle) -> None:
        """Bind RTP, ring for the ring time, then build and prepare the agent, answer.

        The agent is prepared after the ring time, not during it: its paid
        sessions (speech-to-text, text-to-speech, the greeting) open only once
        the gateway is about to answer, so a caller who hangs up while it rings
        opens nothing. A failure to prepare still gets the caller a 503.
        """
        endpoint = await open_rtp_endpoint(self.config.bind, self.ports)
        if handle.ended:
            if endpoint is not None:
                self._close_endpoint(endpoint)
            return
        if endpoint is None:
            handle.log.warning("no free RTP port in %d-%d: rejecting", *self.config.rtp_ports)
            self.sip.act(lambda now: self.ua.reject(handle.call, 503, now))
            return
        handle.endpoint = endpoint
        self.sip.act(lambda now: self.ua.ring(handle.call, now))
        if self.config.ring_time > 0:
            await asyncio.sleep(self.config.ring_time)
            if handle.ended:
                return  # cancelled while ringing: no agent was built
        try:
            handle.agent = self.build_agent(self.agent_factory_for(handle.call), handle)
            await asyncio.wait_for(handle.agent.prepare(), PREPARE_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            handle.log.error("agent failed to prepare (%s): rejecting with 503", exc or type(exc))
            self.sip.act(lambda now: self.ua.reject(handle.call, 503, now))
            return
        if handle.ended:
            return

        def answer(now: float) -> None:
            media = self.ua.answer(handle.call, endpoint.port, now)
            handle.log.info("answered on RTP port %d", endpoint.port)
            if media is not None:
                # before act() sends the 200: our first RTP packet opens the NAT's mapping
                # for the caller's RTP before the caller learns where to send it
                self._media_ready(handle, media)

        self.sip.act(answer)
        if self.config.max_call_seconds > 0:
            handle.limit_duration(self.config.max_call_seconds)
        handle.answered = True
        handle.agent.on_answered()

    def _media_ready(self, handle: CallHandle, media: NegotiatedAudio) -> None:
        params = stream_params(media)
        srtp = f", SRTP {media.srtp.suite}" if media.srtp is not None else ""
        srtp += ", rtcp-mux" if media.rtcp_mux else ""
        if handle.session is None:
            if handle.endpoint is None or handle.ended:
                return
            handle.session = MediaSession(
                params, asyncio.get_running_loop().time(), jitter=self.jitter
            )
            if handle.agent is not None and handle.agent.wants_arrival_audio:
                handle.session.on_audio = handle.agent.on_caller_audio
            handle.endpoint.session = handle.session
            if params.send:  # silence now, not at the next tick (see _answer); the stream
                handle.endpoint.send(handle.session.packets_for(None))  # runs one frame ahead
            self._start_recorder(handle)
            self.ticker.add(handle)
            if self.config.rtp_timeout > 0:
                handle.watch_rtp(self.config.rtp_timeout)
            handle.log.info(
                "media: %s/%d to %s:%d, ptime %d ms, %s%s",
                media.codec, media.payload_type, media.remote_address, media.remote_port,
                media.ptime, media.direction, srtp,
            )  # fmt: skip
        else:
            handle.session.update(params, asyncio.get_running_loop().time())
            handle.log.info("media updated: %s to %s:%d%s", media.direction, *params.remote, srtp)

    async def _start_recording(self) -> None:
        """With ``SIPGW_RECORD_DIR``: create it (0700), delete expired recordings, daily after.

        Raises:
            ConfigError: the directory cannot be created.
        """
        if not self.config.record_dir:
            return
        directory = Path(self.config.record_dir)
        try:
            make_private_dir(directory)
        except OSError as exc:
            raise ConfigError(f"SIPGW_RECORD_DIR: cannot create {directory}: {exc}") from None
        days = self.config.record_retention_days
        await asyncio.to_thread(delete_expired, directory, days)
        log.info("recording calls to %s (kept %s)", directory,
                 f"{days:g} days" if days > 0 else "forever")  # fmt: skip
        if days > 0:
            self._retention = asyncio.get_running_loop().create_task(
                self._sweep_recordings(directory, days), name="recording retention"
            )

    async def _sweep_recordings(self, directory: Path, days: float) -> None:
        while True:
            await asyncio.sleep(RETENTION_CHECK_INTERVAL)
            try:
                await asyncio.to_thread(delete_expired, directory, days)
            except OSError as exc:
                log.warning("recording retention sweep failed: %s", exc)

    def _start_recorder(self, handle: CallHandle) -> None:
        if self.config.record_dir and handle.recorder is None:
            try:
                handle.recorder = CallRecorder.start(
                    Path(self.config.record_dir), handle.call.log_id
                )
            except OSError as exc:
                handle.log.warning("not recording this call: %s", exc)
            else:
                handle.log.info("recording to %s", handle.recorder.path.name)

    def _release(self, handle: CallHandle) -> None:
        """Free everything the call holds (idempotent)."""
        if handle.ended:
            return
        handle.ended = True
        self.handles.pop(handle.call.key, None)
        if handle.setup is not None and not handle.setup.done():
            handle.setup.cancel()
        handle.setup = None
        handle.cancel_timers()
        self.ticker.remove(handle)
        if handle.recorder is not None:
            handle.recorder.close()
            handle.log.info("recorded %.1f s to %s", handle.recorder.ticks * 0.02,
                            handle.recorder.path.name)  # fmt: skip
        if handle.session is not None:
            session, handle.session = handle.session, None
            session.on_audio = None
            self._ended_media.add(session)
            jb = session.jitter.stats
            handle.log.info(
                "media stats: in %d, played %d, lost %d, late %d, jitter %.1f ms, "
                "adjusted +%d/-%d (%d loud), re-anchored %d%s",
                session.stats.packets_in, jb.played, jb.lost, jb.late, jb.jitter * 1000,
                jb.inserted_frames, jb.compressed_frames, jb.loud_adjustments, jb.reanchors,
                _srtp_summary(session),
            )  # fmt: skip
            quality = session.quality()
            handle.quality = quality
            handle.log.info("media quality: %s", quality.summary())
            if handle.agent is not None:
                handle.agent.on_quality(quality)
        self.metrics.call_ended(handle.direction, handle.end_reason, handle.quality)
        self.feed.call_ended(handle)
        if handle.endpoint is not None:
            self._close_endpoint(handle.endpoint)
            handle.endpoint = None
        if handle.transfer_waiter is not None and not handle.transfer_waiter.done():
            handle.transfer_waiter.set_result(False)
        if handle.agent is not None:
            self._spawn(self._close_agent(handle, handle.agent))

    def _close_endpoint(self, endpoint: RtpEndpoint) -> None:
        endpoint.close()
        self.ports.release(endpoint.port)

    async def _close_agent(self, handle: CallHandle, agent: Agent) -> None:
        try:
            await asyncio.wait_for(agent.close(handle.end_reason), 5.0)
        except Exception:
            handle.log.exception("agent close failed")
        finally:
            handle.agent = None  # the agent holds the handle: no cycle left behind

    def _spawn(self, coro: object) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("internal error in a call task", exc_info=task.exception())
