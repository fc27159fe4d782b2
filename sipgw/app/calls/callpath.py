"""The one path every call takes, whoever placed it: media, agent, recording, timers, release.

Incoming calls (:mod:`sipgw.app.calls.inbound`) and calls we place
(:mod:`sipgw.app.calls.outbound`) differ only in how they reach the answer; both go
through these steps of :class:`CallPath`, and nothing else makes or frees a call:

- :meth:`~CallPath.admit`: a :class:`~sipgw.app.calls.callhandle.CallHandle` among the
  gateway's calls and on the dashboard's feed.
- :meth:`~CallPath.open_rtp`: the call's RTP port pair, bound before the SIP
  message that announces it.
- :meth:`~CallPath.prepare_agent`: the agent built (with the metrics' observer)
  and prepared within :data:`PREPARE_TIMEOUT`; it joins the call only once
  prepared, and only if the call is still up (else it is closed at once).
- :meth:`~CallPath.start_media`: what offer/answer agreed becomes the call's
  :class:`~sipgw.media.session.MediaSession`, the recorder and the RTP timeout start,
  the call joins the ticker; a later offer/answer (hold, re-INVITE) updates the
  session. An incoming call sends nothing before :meth:`~CallPath.confirmed`
  (the ACK); then, as for a call we placed, its first packet goes out at once
  (it opens a NAT's mapping).
- :meth:`~CallPath.agent_answered`: the call-length timer starts (a placed call's at
  the callee's 200 OK already) and the agent hears ``on_answered``: its audio plays
  from now on.
- :meth:`~CallPath.ended` and :meth:`~CallPath.release`: everything the call
  held, freed exactly once, whatever ended it.

Where the next features plug in: answering-machine detection runs on an
outbound call between :meth:`~CallPath.start_media` and
:meth:`~CallPath.prepare_agent`; a per-call agent choice is
:class:`sipgw.app.lines.routing.AgentRoutes`. A leg that is not SIP and RTP (a
browser, a Twilio Media Streams socket) has a handle of its own with the
same two faces (the agent's :class:`~sipgw.agent.base.CallControl`, a ticker
participant moving 20 ms μ-law frames; :mod:`sipgw.app.legs`): it comes in
with :meth:`~CallPath.enter`, and the agent steps
(:meth:`~CallPath.prepare_agent`, :meth:`~CallPath.agent_answered`,
:meth:`~CallPath.close_agent`) and :meth:`~CallPath.release` use a handle only
as its agent's call and its state (log, ended, answered, agent, timers), while
:meth:`~CallPath.start_media` is where RTP starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sipgw.agent.base import Agent, AgentFactory
from sipgw.agent.capabilities import AgentCapabilities, check_audio, plugin_factory
from sipgw.agent.observer import AgentObserver
from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.calls.calldetails import call_details, with_numbers
from sipgw.app.calls.callfeed import CallFeed, chart_feed
from sipgw.app.calls.callhandle import (
    TRANSFER_NOTIFY_MARGIN,
    CallHandle,
    CallLog,
    Consulting,
    stream_params,
)
from sipgw.app.calls.dialing import DialGate
from sipgw.app.calls.lineswitch import first_switch, record_lines
from sipgw.app.calls.mediaio import MediaIO
from sipgw.app.calls.recording import Recordings, formats_of
from sipgw.app.calls.settings import CallHeadersSection
from sipgw.app.calls.siprecfork import SiprecClient
from sipgw.app.lines.build import Line
from sipgw.app.operations.counters import CallCounters
from sipgw.app.operations.metrics import GatewayMetrics
from sipgw.app.operations.opentelemetry import CallTracer, call_tracer
from sipgw.app.settings import GatewayConfig
from sipgw.foundation.handled_errors import forget_frames
from sipgw.foundation.tracing import NO_SPAN, AttributeValue, Span
from sipgw.media.aio.rtp_endpoint import RtpEndpoint
from sipgw.media.aio.ticker import Ticker
from sipgw.media.codecs import ULAW_8K
from sipgw.media.jitterbuffer import JitterBufferConfig
from sipgw.media.liveness import LivenessConfig
from sipgw.media.ports import PortAllocator
from sipgw.media.quality import CallQuality
from sipgw.media.session import MediaSession
from sipgw.sip.call import CallInfo, CallKey, CallState
from sipgw.sip.events import CallEnded
from sipgw.sip.offeranswer import NegotiatedAudio

__all__ = ["AGENT_CLOSE_TIMEOUT", "PREPARE_TIMEOUT", "CallPath"]

log = logging.getLogger("sipgw")

CallHandleT = TypeVar("CallHandleT", bound=CallHandle)

PREPARE_TIMEOUT = 10.0
"""Seconds an agent may take to prepare before the call is ended (503, or BYE once answered)."""
AGENT_CLOSE_TIMEOUT = 5.0
"""Seconds an agent may take to close once its call has ended."""


def _log_media_end(
    log: logging.LoggerAdapter[logging.Logger], session: MediaSession
) -> CallQuality:
    """The end-of-call media lines (the jitter buffer's counters, the quality figures)."""
    jb = session.jitter.stats
    log.info(
        "media stats: in %d, played %d, lost %d, late %d, jitter %.1f ms, "
        "adjusted +%d/-%d (%d loud), re-anchored %d%s",
        session.stats.packets_in, jb.played, jb.lost, jb.late, jb.jitter * 1000,
        jb.inserted_frames, jb.compressed_frames, jb.loud_adjustments, jb.reanchors,
        _srtp_summary(session),
    )  # fmt: skip
    quality = session.quality()
    log.info("media quality: %s", quality.summary())
    return quality


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


class CallPath:
    """The gateway's calls and the steps every call takes (see the module docstring).

    Args:
        config: the gateway's settings (bind address, RTP ports and timeout, jitter
            buffer, longest call).
        ports: the RTP port pairs calls take.
        ticker: the shared 20 ms ticker.
        recordings: where calls are recorded, if anywhere.
        counted: the gateway's counters.
        gate: the dial gate each call's transfers and DTMF pass.
        metrics: the Prometheus series (agents report to them; ended calls count).
        feed: the dashboard's live calls.
        sip: the SIP endpoint (once the gateway has started).
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        ports: PortAllocator,
        ticker: Ticker,
        recordings: Recordings,
        counted: CallCounters,
        gate: DialGate,
        metrics: GatewayMetrics,
        feed: CallFeed,
        sip: Callable[[], SipEndpoint],
    ) -> None:
        self.config = config
        self.ports = ports
        self.ticker = ticker
        self.media_io = MediaIO(config.rtp_read_window_ms / 1000, config.rtp_shared_port)
        """How the calls' RTP sockets are read (:mod:`sipgw.app.calls.mediaio`)."""
        self.recordings = recordings
        self.counted = counted
        self.gate = gate
        self.metrics = metrics
        self.feed = feed
        chart_feed(feed, metrics.timeline)  # the dashboard's charts
        self._sip = sip
        self.jitter = JitterBufferConfig(
            min_delay=config.jitter_min_ms / 1000, max_delay=config.jitter_max_ms / 1000
        )
        self.liveness = LivenessConfig(
            pause_after=config.rtp_pause_after, first_sign=config.rtp_first_sign
        )
        """When a call's RTP pauses for its peer's silence (media/liveness.py)."""
        self.handles: dict[CallKey, CallHandle] = {}
        """The calls up now (ringing or answered), by the SIP core's key."""
        self.headers = CallHeadersSection()
        """The X- headers agents see, and whether transfers carry a summary."""
        self.warm: Consulting | None = None
        self.siprec: SiprecClient | None = None
        """Places the calls' SIPREC recording sessions (the gateway sets it)."""
        self.transfer_wait = 60.0 + TRANSFER_NOTIFY_MARGIN
        """Each call's wait for a REFER's final NOTIFY: the ring timeout and a margin."""
        """Warm transfers, for the calls' agents (the gateway sets it)."""
        self.observer_for: Callable[[AgentFactory], AgentObserver] = lambda _: (
            metrics.agent_observer
        )
        """Each call's observer, by its agent's factory (the gateway's: its vendors' breakers,
        then the metrics: :meth:`sipgw.app.operations.breakers.VendorBreakers.observer`)."""
        self.tracer: CallTracer | None = call_tracer()  # None unless OTEL_* asks for traces
        self._tasks: set[asyncio.Task[None]] = set()
        self._empty: asyncio.Future[None] | None = None

    @property
    def sip(self) -> SipEndpoint:
        """The SIP endpoint (once the gateway has started)."""
        return self._sip()

    def when_empty(self) -> asyncio.Future[None]:
        """Resolves once no call of any leg is up (at once when none is): a drain waits for it."""
        if self._empty is None or self._empty.done():
            self._empty = asyncio.get_running_loop().create_future()
        if not self.handles:
            self._empty.set_result(None)
        return self._empty

    # ------------------------------------------------------------------ a call begins

    def call_started(self) -> None:
        """A call taken or asked to be placed (routed or not): counted once, either way."""
        self.counted.call_started()

    def admit(
        self,
        call: CallInfo,
        endpoint: RtpEndpoint | None = None,
        *,
        ringing: bool = False,
        line: Line | None = None,
    ) -> CallHandle:
        """A new call's handle, among the calls and on the feed (``ringing``: not answered);
        ``endpoint``: its RTP ports if bound; ``line``: its routes file's line, if any."""
        gate = self.gate if line is None else DialGate(line.dial_policy, self.counted)
        handle = CallHandle(call, CallLog.for_call(log, call), self.sip, gate, self.counted)
        if line is not None:
            handle.line, handle.record = line.name, line.spec.recording
            first_switch(self, handle, line)  # it may be handed to another line
        variables = line.spec.variables if line is not None else None
        handle.details = call_details(call, self.headers.pass_headers, variables)
        handle.refer_headers = tuple(handle.details.headers.items())  # back to the PBX
        handle.transfer_summary = self.headers.transfer_summary
        handle.transfer_wait = self.transfer_wait
        handle.endpoint = endpoint
        handle.warm = self.warm
        handle.forks.client = self.siprec
        return self.enter(handle, ringing=ringing)

    def enter(self, handle: CallHandleT, *, ringing: bool = False) -> CallHandleT:
        """``handle`` among the calls and on the feed: :meth:`admit`'s, or a call of another
        leg (:mod:`sipgw.app.legs`); its details get the caller's and called numbers."""
        handle.details = with_numbers(handle.details, handle.call)
        self.handles[handle.call.key] = handle
        self.feed.call_started(handle, state="ringing" if ringing else "active")
        return handle

    async def open_rtp(self) -> RtpEndpoint | None:
        """Bind a free RTP port pair; None when the range is exhausted."""
        return await self.media_io.open_endpoint(self.config.bind, self.ports)

    def close_rtp(self, endpoint: RtpEndpoint) -> None:
        """Close an RTP port pair and give its ports back."""
        self.media_io.release(endpoint, self.ports)

    def run_setup(self, handle: CallHandle, steps: Coroutine[Any, Any, None]) -> None:
        """Run a call's setup ``steps`` as its task; an unexpected failure ends the call
        (500 while it rings, else BYE) instead of leaving it up without an agent."""

        async def setup() -> None:
            try:
                await steps
            except asyncio.CancelledError:
                raise
            except Exception:
                handle.log.exception("call setup failed: ending the call (500 or BYE)")
                handle.hangup(500, by="gateway")

        handle.setup = self.spawn(setup())

    # ------------------------------------------------------------------ the agent

    async def prepare_agent(self, handle: CallHandle, factory: AgentFactory) -> Agent | None:
        """Build and prepare the call's agent, then attach it to the call.

        Returns None, with the agent closed, when building or preparing it failed
        (logged; the caller ends the call) or the call ended meanwhile.
        """
        agent: Agent | None = None
        plugin = plugin_factory(factory)
        try:
            agent = plugin(handle)
            check_audio(agent, plugin)
            agent.observer = self.observer_for(factory)
            agent.span = handle.span = _call_span(self.tracer, handle)
            self.feed.agent_built(handle, agent)
            _hear_early(handle, agent, plugin.capabilities)
            async with asyncio.timeout(PREPARE_TIMEOUT):
                await agent.prepare()
        except asyncio.CancelledError:
            if agent is not None:
                _unhear(handle, agent)
                self.close_agent(handle, agent, handle.end_reason or "ended")
            raise
        except Exception as exc:
            _prepare_failed(handle, exc)
            if agent is not None:
                _unhear(handle, agent)
                self.close_agent(handle, agent, "prepare-failed")
            return None
        if handle.ended:
            _unhear(handle, agent)
            self.close_agent(handle, agent, handle.end_reason or "ended")
            return None
        handle.use_agent(agent, plugin.capabilities)
        if handle.session is not None and plugin.capabilities.arrival_audio:
            handle.session.on_audio = agent.on_caller_audio
        return agent

    def agent_answered(
        self, handle: CallHandle, agent: Agent, start: bool = True, limit: bool = True
    ) -> None:
        """The call is answered: start the call-length timer (``limit``: a placed call's
        started at its 200 OK, before the agent was prepared), let the agent talk (``start``)."""
        if limit and self.config.max_call_seconds > 0:
            handle.limit_duration(self.config.max_call_seconds)
        handle.answered = True
        self.feed.call_answered(handle)
        if start:
            agent.on_answered()

    def close_agent(self, handle: CallHandle, agent: Agent, reason: str) -> None:
        """Close ``agent`` in a task of its own (bounded by :data:`AGENT_CLOSE_TIMEOUT`)."""

        async def close() -> None:
            try:
                async with asyncio.timeout(AGENT_CLOSE_TIMEOUT):
                    await agent.close(reason)
            except Exception:
                handle.log.exception("agent close failed")
            finally:
                if handle.agent is agent:
                    handle.use_agent(None)  # the agent holds the handle: no cycle left behind

        self.spawn(close())

    # ------------------------------------------------------------------ media

    def start_media(self, handle: CallHandle, media: NegotiatedAudio, early: bool = False) -> None:
        """Start the call's media as offer/answer agreed (``early``: a 183's), or update it."""
        params = stream_params(media)
        srtp = f", SRTP {media.srtp.suite}" if media.srtp is not None else ""
        srtp += ", rtcp-mux" if media.rtcp_mux else ""
        now = asyncio.get_running_loop().time()
        if handle.session is not None:
            was_sending = handle.session.params.send
            self.media_io.update(handle.session, handle.endpoint, params, now)
            handle.log.info("media updated: %s to %s:%d%s", media.direction, *params.remote, srtp)
            if handle.agent is not None and params.send != was_sending:
                handle.agent.on_hold(not params.send)  # the caller holds the call, or resumes
            return
        endpoint = handle.endpoint
        if endpoint is None or handle.ended:
            return
        session = handle.session = MediaSession(
            params,
            now,
            jitter=self.jitter,
            liveness=self.liveness,
            # no RTP before the ACK, unless early media (183); a placed call's is confirmed
            confirmed=early or handle.call.state is CallState.CONFIRMED,
            agent_format=ULAW_8K if handle.agent is None else handle.agent.audio_format,
            caller_format=None if handle.agent is None else handle.agent.caller_format,
        )
        if handle.agent is not None and handle.capabilities.arrival_audio:
            session.on_audio = handle.agent.on_caller_audio
        endpoint.session = session
        if not session.may_send(now):  # an answer waiting for its ACK: it goes out after this
            endpoint.open_mapping()  # our NAT maps our RTP port before the caller sends to it
        self._first_packet(handle, now)
        if handle.recorder is None and handle.record is not False:  # a line may say no
            handle.recorder = self.recordings.recorder(handle.log, formats_of(handle.agent))
        self.ticker.add(handle.start_media(session, endpoint))
        if self.config.rtp_timeout > 0:
            handle.watch_rtp(self.config.rtp_timeout)
        handle.log.info(
            "media: %s/%d to %s:%d, ptime %d ms, %s%s",
            media.codec, media.payload_type, media.remote_address, media.remote_port,
            session.params.ptime_ms, media.direction, srtp,
        )  # fmt: skip

    def confirmed(self, handle: CallHandle) -> None:
        """The dialog is confirmed (the ACK came): the call's media may start."""
        if handle.session is not None:
            now = asyncio.get_running_loop().time()
            handle.session.confirm(now)
            self._first_packet(handle, now)

    @staticmethod
    def _first_packet(handle: CallHandle, now: float) -> None:
        """Silence now, not at the next tick: it opens a NAT's mapping for the caller's RTP
        (the stream runs one frame ahead); a greeting waiting follows by the fast path."""
        session, endpoint = handle.session, handle.endpoint
        if session is None or endpoint is None or not session.may_send(now):
            return
        if session.params.send:
            endpoint.send(session.packets_for(None, now))
            handle.audio_ready()

    # ------------------------------------------------------------------ the end

    def ended(self, handle: CallHandle, event: CallEnded) -> None:
        """The SIP core ended the call (its one :class:`~sipgw.sip.events.CallEnded`)."""
        handle.end_reason = event.reason.value
        handle.end_status = event.status
        handle.log.info(
            "call ended: %s%s after %.1f s",
            event.reason.value,
            f" ({event.status})" if event.status else "",
            time.monotonic() - handle.started,
        )
        self.release(handle)

    def release(self, handle: CallHandle) -> None:
        """Free everything the call holds (idempotent)."""
        if handle.ended:
            return
        handle.ended = True
        self.handles.pop(handle.call.key, None)
        if not self.handles and self._empty is not None and not self._empty.done():
            self._empty.set_result(None)
        if handle.setup is not None and not handle.setup.done():
            handle.setup.cancel()
        handle.setup = None
        handle.cancel_timers()
        handle.forks.stop_all()
        if handle.rtp_step is not None:
            self.ticker.remove(handle.rtp_step)
        if handle.recorder is not None:
            handle.recorder.close()
            handle.log.info("recorded %.1f s to %s", handle.recorder.ticks * 0.02,
                            handle.recorder.path.name)  # fmt: skip
        if handle.session is not None:
            self._media_ended(handle, handle.session)
        self.metrics.call_ended(
            handle.direction, handle.end_reason, handle.quality, handle.leg, handle.line
        )
        record_lines(handle)  # a call handed between lines: each line with its times
        _end_call_span(handle)
        self.feed.call_ended(handle)
        handle.rtp_step = None  # it holds the agent, which holds the handle
        if handle.endpoint is not None:
            self.close_rtp(handle.endpoint)
            handle.endpoint = None
        if handle.transfer_waiter is not None and not handle.transfer_waiter.done():
            handle.transfer_waiter.set_result(False)
        if handle.agent is not None:
            self.close_agent(handle, handle.agent, handle.end_reason)

    def _media_ended(self, handle: CallHandle, session: MediaSession) -> None:
        """The end-of-call media lines; the counters and the quality figures kept."""
        handle.session = None
        session.on_audio = None
        self.counted.media_ended(session)
        quality = handle.quality = _log_media_end(handle.log, session)
        if handle.agent is not None:
            handle.agent.on_quality(quality)

    # ------------------------------------------------------------------ tasks

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as one of the calls' tasks (kept, waited for at stop, errors logged)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("internal error in a call task", exc_info=task.exception())

    async def wait_tasks(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the calls' tasks, those they start included."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks and (left := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=left)


def _prepare_failed(handle: CallHandle, exc: Exception) -> None:
    """Log why the agent could not be prepared, then let go of the failure's frames: they
    hold ``wait_for``'s task, which holds the failure (a reference cycle)."""
    handle.log.error("agent failed to prepare (%s): ending the call", exc or type(exc))
    forget_frames(exc)


def _hear_early(handle: CallHandle, agent: Agent, capabilities: AgentCapabilities) -> None:
    """A placed call with detection or a phone menu's goal (or a consultation call): its
    agent hears the callee from the answer on, while it prepares (docs/amd.md, ivr.md)."""
    early = handle.amd is not None or handle.ivr_goal or capabilities.hears_while_preparing
    if early and handle.session is not None and capabilities.arrival_audio:
        handle.session.on_audio = agent.on_caller_audio


def _unhear(handle: CallHandle, agent: Agent) -> None:
    """The call's caller audio no longer goes to ``agent`` (it is closing)."""
    session = handle.session
    if session is not None and session.on_audio == agent.on_caller_audio:
        session.on_audio = None


def _call_span(tracer: CallTracer | None, handle: CallHandle) -> Span:
    """The call's trace span, started once with its SIP and media attributes
    (:data:`NO_SPAN` when nothing traces)."""
    if tracer is None or handle.span is not NO_SPAN:
        return handle.span
    attributes: dict[str, AttributeValue] = {
        "sip.call_id": handle.call_id, "call.direction": handle.direction,
        "call.leg": handle.leg,
        "call.line": handle.line,  # "" without a routes file, as sipgw_calls_total's label
    }  # fmt: skip
    if handle.codec:
        attributes["media.codec"] = handle.codec
    return tracer.call_span(attributes)


def _end_call_span(handle: CallHandle) -> None:
    """End the call's span with how it ended and its media quality (loss, jitter, MOS)."""
    span = handle.span
    if not span.recording:
        return
    span.set_attribute("call.end_reason", handle.end_reason or "ended")
    quality = handle.quality
    if quality is not None:
        if quality.codec:
            span.set_attribute("media.codec", quality.codec)
        span.set_attribute("media.packets_lost", quality.packets_lost)
        span.set_attribute("media.loss_percent", round(quality.loss_percent, 2))
        span.set_attribute("media.jitter_ms", round(quality.jitter_ms, 2))
        span.set_attribute("media.mos", round(quality.mos, 2))
        if quality.rtt_ms is not None:
            span.set_attribute("media.rtt_ms", round(quality.rtt_ms, 1))
    span.end()
