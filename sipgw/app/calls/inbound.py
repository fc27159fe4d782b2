"""Answering the calls the SIP core offers: RTP port, 180, ring time, agent prepared, 200.

By the time a call is offered (:class:`~sipgw.sip.events.CallOffered`) the SIP core's
flood guard and access policy have admitted it. :class:`InboundCalls` then binds
its RTP port pair, has 180 Ringing sent, waits the ring time, and only then builds
and prepares the agent of the call's line or account (:mod:`sipgw.app.lines.routing`): its
paid sessions (speech-to-text, text-to-speech, the greeting) open right before the
answer, so a caller who hangs up while it rings costs nothing. The 200 OK carries
the SDP answer; the media session starts with it but sends no RTP before the ACK
(an INVITE's SDP can name anyone's address: only the ACK shows the caller is
there), then its first packet at once. One NUL octet, sent just before the 200 OK,
opens our NAT's mapping for the caller's RTP (docs/nat.md). A port range that is
full or an agent that fails to prepare gets the caller a 503, which lets a trunk or
a load balancer try another gateway; so does an AI service the agent needs being
down for everyone (its breaker is open, :mod:`sipgw.app.operations.breakers`), unless a
recorded message is configured to answer instead. A call the routes refuse (no
route, a line at its limit) is answered at once with their status and never admitted.

An INVITE from a trusted source with a PASSporT (STIR/SHAKEN) has its signature checked
before the routes choose (a route may ask for ``verified`` callers): at once when nothing
needs fetching, else after its certificate is fetched (:mod:`sipgw.app.security.passports`,
a couple of seconds at most, while the caller has the 100 Trying).

Every step but the ringing is :class:`~sipgw.app.calls.callpath.CallPath`'s, shared with
the calls we place.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from functools import partial
from typing import Protocol

from sipgw.agent.base import Agent, AgentFactory, DefersAnswer
from sipgw.agent.resilience.announcement import AnnouncementAgent
from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.calls.callpath import CallPath
from sipgw.app.codecs import call_codecs, rtp_codecs
from sipgw.app.lines.routing import AgentRoutes, CallRoute
from sipgw.app.operations.breakers import VendorBreakers
from sipgw.app.security.passports import PassportVerifier
from sipgw.media.codecs import codec_named
from sipgw.sip.call import CallInfo, CallState
from sipgw.sip.errors import InvalidState, SdpError, SipError
from sipgw.sip.identity import uri_number
from sipgw.sip.passportcheck import SignatureCheck
from sipgw.sip.uri import parse_uri
from sipgw.sip.verification import CallerVerification

__all__ = ["InboundCalls", "RecordingSessions"]

log = logging.getLogger("sipgw")


class RecordingSessions(Protocol):
    """Where the SIPREC recording sessions go (:class:`sipgw.app.srs.server.RecordingServer`)."""

    def refusal(self, call: CallInfo, route: CallRoute) -> CallRoute | None:
        """The refusal of ``call`` when it and its route's line do not go together."""
        ...

    async def answer(self, handle: CallHandle, factory: AgentFactory) -> None:
        """Answer a recording session its line takes."""
        ...


class InboundCalls:
    """Takes and answers offered calls.

    Args:
        path: the calls and their shared steps.
        routes: which agent answers a call.
        ring_time: seconds to ring before the agent is built and the call answered.
        breakers: turn a call away while an AI service its agent needs is down.
        passports: checks the signature of a call's PASSporT before it is routed (None:
            the signature stays as the SIP core read it, ``unverified``).
    """

    def __init__(
        self,
        path: CallPath,
        routes: AgentRoutes,
        ring_time: float,
        breakers: VendorBreakers,
        passports: PassportVerifier | None = None,
    ) -> None:
        self.path = path
        self.routes = routes
        self.ring_time = ring_time
        self.breakers = breakers
        self.passports = passports
        self.recording: RecordingSessions | None = None
        """Answers the SIPREC recording sessions of the lines that take them (the gateway
        sets it: :mod:`sipgw.app.srs.server`); None: a recording session is a call as any."""

    def offered(self, call: CallInfo) -> CallHandle | None:
        """Take an offered call: its handle now, the answer in its setup task; None when
        the routes refuse it (answered with their status at once, never admitted), or
        when its PASSporT's certificate must be fetched first (:meth:`check_passport`:
        the call is taken once the check is done)."""
        verification = call.verification
        if self.passports is not None and verification.needs_check:
            callers = (uri_number(call.caller.uri), call.trusted_identity)
            called = (uri_number(call.called.uri), _request_uri_number(call.request_uri))
            found = self.passports.at_once(verification, callers, called)
            if found is None:
                self.path.spawn(self.check_passport(call, callers, called))
                return None
            _record(call, verification.with_signature(found))
        return self._take(call)

    async def check_passport(
        self, call: CallInfo, callers: tuple[str, str], called: tuple[str, str]
    ) -> None:
        """Fetch the certificate of ``call``'s PASSporT, record what its check found, then
        take the call (unless it ended meanwhile: a CANCEL while the fetch ran)."""
        assert self.passports is not None
        verification = call.verification
        try:
            checked = await self.passports.check(verification, callers, called)
        except Exception:  # a bug of the check must not leave the caller at 100 Trying
            log.exception("[%s] the PASSporT check failed", call.log_id)
            checked = verification.with_signature(
                SignatureCheck("unverified", "the check failed (see the log)")
            )
        _record(call, checked)
        if call.state is not CallState.INCOMING:
            return
        self._take(call)

    def _take(self, call: CallInfo) -> CallHandle | None:
        self.path.call_started()
        route = self.routes.choose(call, self.calls_on, self.path.sip.tls_peer)
        factory = route.factory
        if factory is None:
            self._refuse(call, route)
            return None
        recording = self.recording
        refused = None if recording is None else recording.refusal(call, route)
        if refused is not None:  # a recording session and a line that differ
            self._refuse(call, refused)
            return None
        codec = self._choose_codec(call, route)
        if codec is None:
            return None
        line = route.line
        handle = self.path.admit(call, line=line)
        if codec:  # the agent, built later, may take 16 kHz audio (docs/hd-voice.md)
            rate = codec_named(codec).sample_rate
            handle.details = dataclasses.replace(handle.details, sample_rate=rate)
        account = route.account
        handle.inband_dtmf = (
            (line.spec.inband_dtmf if line is not None else None)
            or (account.inband_dtmf if account is not None else None)
            or self.path.config.inband_dtmf
        )
        handle.log.info(
            "incoming call from %s to %s%s%s",
            handle.caller, handle.called, f" (account {account.name})" if account else "",
            f", line {line.name}" if line else "",
        )  # fmt: skip
        if recording is not None and call.recording is not None:  # its line records them
            self.path.run_setup(handle, recording.answer(handle, factory))
        else:
            self.path.run_setup(handle, self._answer(handle, factory))
        return handle

    def _choose_codec(self, call: CallInfo, route: CallRoute) -> str | None:
        """The call's codecs (its line's, its account's, the gateway's: sipgw.app.codecs)
        given to the SIP core: the codec the answer carries ("" without an offer); None when
        the offer has none of them (refused with 488 at once, as an offer with none of the
        gateway's is)."""
        names = call_codecs(
            self.path.config.codecs,
            route.line.spec.codecs if route.line is not None else None,
            route.account.codecs if route.account is not None else None,
            via_account=route.account is not None,
        )
        sip = self.path.sip
        try:
            if not names:
                raise SdpError("the line's or account's codecs are not in SIPGW_CODECS", 488)
            return sip.ua.prefer_codecs(call, rtp_codecs(names)) or ""
        except InvalidState:
            return ""  # gone already (its end comes as an event of its own)
        except SdpError as exc:
            why = f"no codec of {', '.join(names) or 'its own'} in the offer ({exc})"
            self._refuse(call, CallRoute(None, route.line, route.account, 488, why))
            return None

    def calls_on(self, line: str) -> int:
        """The calls up now on ``line``."""
        return sum(1 for handle in self.path.handles.values() if handle.line == line)

    def _refuse(self, call: CallInfo, route: CallRoute) -> None:
        """Answer a call the routes refuse with their status (and headers); it is counted
        and fed."""
        status = route.refuse or 404
        line = route.line.name if route.line else ""
        log.info(
            "[%s] refused call from %s to %s: %s (%d)",
            call.log_id, call.caller.uri, call.called.uri, route.why, status,
        )  # fmt: skip
        why = route.kind or (
            "no-codec" if status == 488 else "line-busy" if route.line else "no-route"
        )
        self.path.metrics.route_refusals.labels(line=line, why=why).inc()
        self.path.feed.call_refused(call, status, route.why, line)
        sip = self.path.sip
        sip.act(lambda now: sip.ua.reject(call, status, now, headers=route.headers))

    async def _answer(self, handle: CallHandle, factory: AgentFactory) -> None:
        """Ask the breakers, bind RTP, ring for the ring time, then build and prepare the
        agent, answer."""
        path, sip = self.path, handle.sip
        refused = self.breakers.refusal(factory)
        if refused is not None:  # before any port is taken, before it rings
            message = self.breakers.message
            then = "answering with the recorded message" if message else "503"
            handle.log.warning("the %s breaker is open: %s", " ".join(refused), then)
            if message is None:
                handle.hangup(503, by="gateway")
                return
            factory = partial(AnnouncementAgent, frames=message)
        endpoint = await path.open_rtp()
        if handle.ended:
            if endpoint is not None:
                path.close_rtp(endpoint)
            return
        if endpoint is None:
            low, high = path.config.rtp_ports
            handle.log.warning("no free RTP port in %d-%d: rejecting", low, high)
            handle.hangup(503, by="gateway")
            return
        handle.endpoint = endpoint
        sip.act(lambda now: sip.ua.ring(handle.call, now))
        if self.ring_time > 0:
            await asyncio.sleep(self.ring_time)
            if handle.ended:
                return  # cancelled while ringing: no agent was built
        agent = await path.prepare_agent(handle, factory)
        if agent is None:
            if not handle.ended:
                handle.hangup(503, by="gateway")
            return
        if isinstance(agent, DefersAnswer) and agent.answer_deferred:
            self._early_media(handle, agent, endpoint.port)
            return
        sip.act(lambda now: self._send_answer(sip, handle, endpoint.port, now))
        path.agent_answered(handle, agent)

    def _early_media(self, handle: CallHandle, agent: Agent, rtp_port: int) -> None:
        """The agent runs with the call unanswered (:mod:`sipgw.agent.base`): 183
        with our SDP, the media started (early media); the 200 OK when it asks."""
        path, sip = self.path, handle.sip

        def progress(now: float) -> None:
            media = sip.ua.progress(handle.call, rtp_port, now)
            handle.log.info("early media (183) on RTP port %d", rtp_port)
            if media is not None:
                path.start_media(handle, media, early=True)

        def answer_at(now: float) -> None:
            with contextlib.suppress(InvalidState):  # ended meanwhile (its CANCEL crossed)
                self._send_answer(sip, handle, rtp_port, now)

        def answer() -> None:
            handle.answer_now = None  # once
            if not handle.ended:
                sip.act(answer_at)
                path.agent_answered(handle, agent, start=False)

        sip.act(progress)
        handle.answer_now = answer
        agent.on_answered()

    def _send_answer(self, sip: SipEndpoint, handle: CallHandle, rtp_port: int, now: float) -> None:
        media = sip.ua.answer(handle.call, rtp_port, now)
        handle.log.info("answered on RTP port %d", rtp_port)
        if media is not None:
            self.path.start_media(handle, media)  # no RTP before the ACK


def _record(call: CallInfo, verification: CallerVerification) -> None:
    """Keep what the check of ``call``'s PASSporT found, and say it in the log."""
    call.update_verification(verification)
    reason = verification.signature_reason
    log.info(
        "[%s] PASSporT signature %s%s", call.log_id, verification.signature,
        f": {reason}" if reason else "",
    )  # fmt: skip


def _request_uri_number(request_uri: str) -> str:
    """The number of an INVITE's Request-URI (a trunk may put the dialled number there
    rather than in To); "" when it has none or does not parse."""
    try:
        return uri_number(parse_uri(request_uri)) if request_uri else ""
    except SipError:
        return ""
