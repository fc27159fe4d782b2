"""Running the calls of the legs that are not SIP through the call path every call takes.

:class:`LegCalls` is the one place a browser or Twilio call becomes a call of the gateway:

1. **Admission** (:meth:`LegCalls.admit`): the rules a SIP INVITE meets apply to every leg:
   no new call while the gateway drains or is overloaded
   (:mod:`sipgw.app.operations.overload`), none past ``SIPGW_MAX_CALLS``, which counts the
   calls of every leg (the SIP core is told how many leg calls are up:
   ``UserAgent.other_calls``), and none over the call rates
   (``SIPGW_CALLS_PER_SECOND``: the SIP core's own bucket, one budget for every leg;
   ``SIPGW_CALLS_PER_CALLER``: keyed by what names the caller on the leg, see
   :func:`browser_caller` and :func:`twilio_caller`). Who may call at all is the leg's
   endpoint's business (the admin token or the dashboard's cookie for a browser, Twilio's
   signature for a stream).
2. **Start** (:meth:`LegCalls.start`): the :class:`~sipgw.app.legs.handle.LegHandle` joins
   the calls and the dashboard's feed (``CallPath.enter``) and the ticker, which drains the
   caller's audio while the agent is built and prepared (``CallPath.prepare_agent``, as for a
   SIP call); then the recording, the no-audio timer (``SIPGW_RTP_TIMEOUT``) and
   ``CallPath.agent_answered`` (the call-length limit, ``on_answered``: the greeting plays).
3. **End**: whoever settles the handle's ``ending`` (the caller's side closing, the agent's
   hang-up, a timer) ends it: after a hang-up of ours the agent's last words are waited for
   (:data:`PLAYED_OUT_WAIT`: a Twilio stream confirms them with a mark), then the leg's media
   figures are logged and handed to the agent, the leg is closed and ``CallPath.release``
   frees the rest (metrics with the leg's label, the feed, the agent).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from sipgw.agent.base import NO_DETAILS, AgentFactory, CallDetails
from sipgw.agent.capabilities import Leg, plugin_factory
from sipgw.app.gateway import Gateway
from sipgw.app.legs.handle import LegHandle, LegMedia
from sipgw.sip.call import CallInfo
from sipgw.sip.errors import MessageParseError
from sipgw.sip.headers import NameAddr
from sipgw.sip.ratelimit import is_anonymous
from sipgw.sip.uri import parse_uri

__all__ = [
    "CLOSE_WAIT",
    "PLAYED_OUT_WAIT",
    "LegCalls",
    "Refusal",
    "browser_caller",
    "party",
    "twilio_caller",
]

log = logging.getLogger("sipgw")

PLAYED_OUT_WAIT = 5.0
"""Seconds the agent's last words may take to be heard after it hangs up, before the leg closes."""
CLOSE_WAIT = 5.0
"""Seconds closing a leg's transport may take."""


def party(uri: str, display_name: str | None = None, *, fallback: str) -> NameAddr:
    """A caller or callee as the call's view names it: ``uri`` if it reads as one, else
    ``fallback`` (a URI of ours)."""
    try:
        return NameAddr(parse_uri(uri), display_name or None)
    except MessageParseError:
        return NameAddr(parse_uri(fallback), display_name or None)


def browser_caller(remote: str) -> str:
    """The per-caller rate's key of a browser call: the address its request came from
    (behind a reverse proxy, the proxy's: every browser shares one budget)."""
    return f"browser:{remote}"


def twilio_caller(number: str) -> str | None:
    """The per-caller rate's key of a Twilio call: the caller's ``From`` (a number,
    ``client:NAME``, a SIP URI); None when it is missing or withheld (Twilio sends
    ``anonymous`` then): such calls count against the gateway's rate only, as anonymous
    SIP callers do."""
    return None if is_anonymous(number) else f"twilio:{number.strip().lower()}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a new call is refused."""

    reason: str
    """What the log and the refused client are told."""
    retry_after: int | None = None
    """Seconds until a call may pass when a call rate refused it (at least 1), else None."""

    @property
    def rate_limited(self) -> bool:
        """A call rate refused it (a client should come back after :attr:`retry_after`)."""
        return self.retry_after is not None


class LegCalls:
    """The gateway's calls on other legs; see the module docstring.

    Args:
        gateway: the running gateway (its call path, counters, overload detector, SIP core).
        agent: builds each leg call's agent (default: the gateway's agent).
    """

    def __init__(self, gateway: Gateway, agent: AgentFactory | None = None) -> None:
        self.gateway = gateway
        self.path = gateway.calls
        self.agent = agent
        self._runs: dict[LegHandle, asyncio.Task[None]] = {}

    @property
    def up(self) -> list[LegHandle]:
        """The leg calls up now."""
        return list(self._runs)

    def refusal(self, *, probe: bool = True, leg: Leg | None = None) -> str:
        """Why a new call would be refused now, or "" when it is welcome: its agent does
        not take calls of ``leg`` (its record's ``legs``), the gateway's state, or a vendor
        its agent needs down for everyone (its breaker open; ``probe`` False: only peek, a
        half-open breaker's probe is left to the call's real start:
        :meth:`sipgw.app.operations.breakers.VendorBreakers.refusal`)."""
        gateway = self.gateway
        if leg is not None:
            factory = plugin_factory(self.agent or gateway.agent_factory)
            if leg not in factory.capabilities.legs:
                name = factory.name or "the gateway's agent"
                takes = ", ".join(sorted(factory.capabilities.legs)) or "none"
                return f"agent {name} takes no {leg} calls (its record's legs: {takes})"
        if not gateway.running:
            return "the gateway is not running"
        if gateway.ua.draining:
            return "the gateway is draining"
        if gateway.overload.overloaded:
            return "the gateway is overloaded"
        limit = gateway.config.max_calls
        if limit is not None and len(gateway.handles) >= limit:
            return f"the gateway has its {limit} call(s) (SIPGW_MAX_CALLS)"
        refused = gateway.breakers.refusal(self.agent or gateway.agent_factory, probe=probe)
        if refused is not None:
            service, vendor = refused
            return f"{vendor} ({service}) is down for everyone (its breaker is open)"
        return ""

    def admit(
        self,
        caller: str | None,
        *,
        charge: bool = True,
        probe: bool = True,
        leg: Leg | None = None,
    ) -> Refusal | None:
        """None if a new call from ``caller`` (a key of :func:`browser_caller` or
        :func:`twilio_caller`; None = anonymous) on ``leg`` may start now, else why not.

        Past :meth:`refusal` (``probe`` and ``leg`` as there), the call is charged to the
        call rates (``charge``: False for a call already charged, a Twilio stream whose
        webhook admitted it).
        """
        state = self.refusal(probe=probe, leg=leg)
        if state:
            return Refusal(state)
        rates = self.gateway.ua.call_rate
        if not charge or rates is None:
            return None
        refused = rates.admit_caller(caller, asyncio.get_running_loop().time())
        if refused is None:
            return None
        setting = "SIPGW_CALLS_PER_CALLER" if refused.per_caller else "SIPGW_CALLS_PER_SECOND"
        return Refusal(f"{refused.reason} ({setting})", max(1, math.ceil(refused.retry_after)))

    def start(
        self,
        media: LegMedia,
        *,
        call_id: str,
        caller: NameAddr,
        called: NameAddr,
        details: CallDetails = NO_DETAILS,
    ) -> LegHandle:
        """Make ``media``'s call one of the gateway's and answer it with the agent, which
        sees ``details`` (the leg's variables).

        Check :meth:`refusal` first: this admits the call whatever it says.
        """
        gateway, path = self.gateway, self.path
        call = CallInfo((call_id, media.name), caller, called)
        handle = LegHandle(call, media, gateway.sip, path.gate, gateway.counted, details)
        gateway.counted.call_started()
        path.enter(handle)
        handle.log.info(
            "incoming %s call from %s to %s", media.name, handle.caller, handle.called
        )  # fmt: skip
        path.ticker.add(handle)
        path.run_setup(handle, self._answer(handle, self.agent or gateway.agent_factory))
        self._runs[handle] = path.spawn(self._run(handle))
        self._count()
        return handle

    async def finished(self, handle: LegHandle) -> None:
        """Wait until ``handle``'s call is over and released."""
        run = self._runs.get(handle)
        if run is not None:
            await asyncio.shield(run)

    async def shutdown(self, grace: float = CLOSE_WAIT) -> None:
        """End every leg call now (the server stops) and wait up to ``grace`` seconds."""
        runs = list(self._runs.values())
        for handle in list(self._runs):
            handle.end("shutdown")
        if runs:
            await asyncio.wait(runs, timeout=grace)

    # ------------------------------------------------------------------ steps

    async def _answer(self, handle: LegHandle, factory: AgentFactory) -> None:
        """Build and prepare the agent (the ticker drains the caller meanwhile), then answer."""
        path = self.path
        agent = await path.prepare_agent(handle, factory)
        if agent is None:
            handle.end("rejected")
            return
        if handle.capabilities.arrival_audio:
            handle.media.listen(agent.on_caller_audio)
        handle.recorder = path.recordings.recorder(handle.log)
        if path.config.rtp_timeout > 0:
            handle.watch_media(path.config.rtp_timeout)
        path.agent_answered(handle, agent)
        handle.log.info("answered (%s)", handle.leg)

    async def _run(self, handle: LegHandle) -> None:
        try:
            reason = await handle.ending
            await self._finish(handle, reason)
        finally:
            self._runs.pop(handle, None)
            self._count()

    async def _finish(self, handle: LegHandle, reason: str) -> None:
        """The call ends: last words heard, media figures kept, the leg closed, all freed."""
        media = handle.media
        if not handle.ended:
            handle.end_reason = reason
            handle.log.info(
                "call ended: %s after %.1f s", reason, time.monotonic() - handle.started
            )  # fmt: skip
        if reason == "local-hangup" and handle.answered and not handle.ended:
            if not await media.played_out(PLAYED_OUT_WAIT):
                handle.log.info("closing before the caller was heard to get the last words")
        self.path.ticker.remove(handle)
        try:
            handle.quality = media.quality()
            handle.log.info("media: %s", ", ".join(f"{k} {v}" for k, v in media.describe().items()))
            if handle.quality is not None:
                handle.log.info("media quality: %s", handle.quality.summary())
                if handle.agent is not None:
                    handle.agent.on_quality(handle.quality)
            async with asyncio.timeout(CLOSE_WAIT):
                await media.close()
        except Exception:
            handle.log.exception("closing the %s leg failed", handle.leg)
        finally:
            self.path.release(handle)

    def _count(self) -> None:
        """Tell the SIP core how many calls the other legs hold (they count for max_calls)."""
        if self.gateway.running:
            self.gateway.ua.other_calls = len(self._runs)
