"""Placing calls: :meth:`Gateway.place_call <sipgw.app.gateway.Gateway.place_call>` and its parts.

A call goes to a phone number (digits, an optional leading ``+``) or a SIP
URI, read once by :func:`call_target` (the URI it gives is the Request-URI
sent, and what a dial policy judges). A number becomes ``sip:NUMBER@HOST``
(blanks and separators dropped) with the outbound proxy's host, or else the
registered AOR's; with an outbound proxy every INVITE goes through
it (a loose ``Route``, ``;lr`` added when missing, its ``;transport=``
picking the transport). The From is the call's caller id, else
``SIPGW_CALLER_ID``, else the registered AOR (:mod:`sipgw.app.upstream.dialout`).
401/407 challenges are answered with ``SIPGW_AUTH_USERNAME`` and
``SIPGW_AUTH_PASSWORD``. A call may go through an account of the accounts
file instead (its proxy, credentials and caller id), carry ``X-`` headers
(on its INVITE and its REFERs) and variables for its agent
(:class:`~sipgw.app.upstream.callrequest.CallRequest`); one whose agent's prompt or
greeting needs a variable it lacks is refused before it is dialled.

A call the far end refuses ends with its words: the final status, the reason
phrase, any Reason and Warning header (:class:`~sipgw.sip.finalreply.FinalReply`),
and a hint for the common statuses (:mod:`sipgw.app.calls.hints`), in the
:class:`CallOutcome`, its log line, the dashboard, the ``call.failed`` webhook and a call
record of its own (the agent never ran to write one).

The call's RTP port is bound before the INVITE goes out, so early media
(183 with SDP) arrives at a socket - and is dropped there: no media session
exists until the call is answered. Only the 2xx starts the media session
and the agent (built, prepared, then told :meth:`~sipgw.agent.base.Agent.on_answered`),
so the agent never talks into early media; from the 2xx on a placed call takes
the steps every call takes (:mod:`sipgw.app.calls.callpath`). An agent whose capabilities
say ``early_media`` (a TwiML ``<Dial>``'s second leg) is the exception: the 183's media
starts the session and builds it, so it hears the callee's ringback; it is told
``on_answered`` at the 2xx. :class:`PlacedCall` is
the call as it runs, :class:`CallOutcome` says how it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from sipgw.agent.amd.settings import AmdMode, AmdRequest
from sipgw.agent.base import Agent, AgentFactory
from sipgw.agent.capabilities import plugin_factory
from sipgw.agent.conversation.opening import call_data
from sipgw.agent.transfer.warm import LegProgress
from sipgw.agent.variables import TemplateError
from sipgw.app.calls.callfeed import RECORD_CLOSE_WAIT, CallEntry, FeedEvent
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.calls.callpath import CallPath
from sipgw.app.calls.hints import Refused, hint
from sipgw.app.codecs import call_codecs, rtp_codecs
from sipgw.app.lines.build import Line
from sipgw.app.operations.breakers import VendorBreakers
from sipgw.app.upstream.callrequest import CallRequest, TwimlSource
from sipgw.app.upstream.dialout import CallTarget, OutboundConfig, call_target, caller, proxy_route
from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallInfo, CallKey
from sipgw.sip.dialpolicy import DialPolicy
from sipgw.sip.errors import SipError
from sipgw.sip.events import (
    CallAnswered,
    CallEnded,
    CallProgress,
    CallRedirected,
    EndReason,
    SipEvent,
)
from sipgw.sip.redirect import Redirects
from sipgw.sip.useragent import OutboundCall

__all__ = ["RECENT_OUTCOMES", "CallOptions", "CallOutcome", "OutboundCalls", "PlacedCall"]

log = logging.getLogger("sipgw")

RECENT_OUTCOMES = 200
"""Placed calls whose outcome the gateway keeps for ``GET /api/calls/{id}/outcome``."""

_KINDS: dict[EndReason, str] = {
    EndReason.BUSY: "busy",
    EndReason.DECLINED: "declined",
    EndReason.NO_ANSWER: "no-answer",
    EndReason.UNREACHABLE: "unreachable",
    EndReason.TRANSPORT_ERROR: "unreachable",
}


class CallOptions(TypedDict, total=False):
    """What a call to place may say besides its target (:meth:`OutboundCalls.place`;
    ``Gateway.place_call`` and ``Gateway.originate`` take them as keywords)."""

    agent: AgentFactory | None
    """Who talks once it is answered; None: the line's, else the gateway's."""
    caller_id: str | None
    """The From; None: the line's, the account's, else ``SIPGW_CALLER_ID``."""
    ring_timeout: float | None
    """Seconds before CANCEL; None: ``SIPGW_RING_TIMEOUT`` (or the account's)."""
    for_agent: bool
    """An agent asked for it (a callback): the dial policy must allow the target."""
    variables: Mapping[str, str] | None
    """The call's variables, for its agent (over the line's)."""
    headers: tuple[tuple[str, str], ...]
    """``X-`` headers for its INVITE and its REFERs (over the line's)."""
    account: str | None
    """The account of the accounts file to call through; None: the ``--register`` one."""
    line: str | None
    """The routes file's line whose agent talks and whose defaults fill in the rest."""
    amd: AmdRequest | None
    """Its answering-machine detection; None: the line's, else ``SIPGW_AMD`` (docs/amd.md)."""
    twiml: TwimlSource | None
    """Its own TwiML (``twiml_url`` or ``twiml``), for an agent that follows TwiML
    (docs/twilio-apps.md); None: the agent's own settings."""
    ivr_goal: str | None
    """What to reach through a phone menu first (docs/ivr.md); None: the line's; "": none."""


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
    """Why it ended: a :class:`~sipgw.sip.events.EndReason` value, or what went wrong locally."""
    phrase: str = ""
    """The reason phrase of the far end's final response (``Caller Origination Number is
    Invalid D35``), when it refused the call."""
    detail: str = ""
    """Its Reason and Warning headers, e.g. ``Reason: Q.850 cause 21: Call Rejected``."""
    hint: str = ""
    """What the status usually means and what to check (:mod:`sipgw.app.calls.hints`)."""
    id: str | None = None
    """The call's log id (the dashboard's and the admin API's), when an INVITE went out."""
    amd: Mapping[str, Any] | None = None
    """Who answered, when answering-machine detection ran: ``kind`` (human, voicemail,
    announcement, screener, unknown), ``elapsed_ms`` to the decision, ``reason``,
    ``action`` (conversation, message, hang_up) (docs/amd.md); None without detection."""
    ivr: Mapping[str, Any] | None = None
    """How a call placed with a goal got through the phone menu that answered: ``outcome``
    (reached, stuck, voicemail; hung_up once the call ended first: the outcome waits for
    the agent to write it as it closes), ``reason``, ``digits`` (docs/ivr.md); None without
    a goal, or when the call was not answered or its agent never started."""
    custom: tuple[tuple[str, str], ...] = ()
    """The ``X-`` headers of the INVITE's final response (its 2xx, or its refusal), name
    as sent and first value (a TwiML ``<Dial><Sip>``'s ``DialSipHeader_<name>``)."""

    def describe(self) -> str:
        """One line for people, e.g. ``busy (SIP 486 Busy Here)``."""
        if self.answered:
            by = ""
            if self.amd is not None and self.amd.get("kind"):
                by = f" by {self.amd['kind']} ({self.amd.get('elapsed_ms')} ms)"
            if self.ivr is not None and self.ivr.get("outcome"):
                by += f", phone menu {self.ivr['outcome']} ({self.ivr.get('reason', '')})"
            return f"answered{by}, {self.duration:.1f} s, ended by {self.reason}"
        text = self.kind.replace("-", " ")
        if self.status is not None:
            text += f" (SIP {self.status}{f' {self.phrase}' if self.phrase else ''})"
        if self.detail:
            text += f" [{self.detail}]"
        if self.reason not in (self.kind, "", "failed"):
            text += f": {self.reason}"
        if self.hint:
            text += f" - {self.hint}"
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
    id: str | None = None
    """The call's log id, once its INVITE went out."""
    refused: bool = False
    """It was refused for what it asked (variables its agent lacks, detection its agent
    does not run, an unknown account): the admin API answers 400."""
    early: asyncio.Task[Agent | None] | None = None
    """Its agent, built at the callee's early media (capabilities ``early_media``)."""
    on_progress: Callable[[LegProgress], None] | None = None
    """Told when its INVITE went out and at the far end's first provisional response (a
    TwiML ``<Dial>``'s leg: its ``initiated`` and ``ringing`` status callbacks)."""
    rang: bool = False
    """A provisional response (180, 183) came."""
    answer_custom: tuple[tuple[str, str], ...] = ()
    """The ``X-`` headers of the 2xx that answered it."""

    @classmethod
    def failed(cls, target: str, reason: str, *, refused: bool = False) -> PlacedCall:
        """A call that ended before any INVITE went out (``refused``: for what it asked)."""
        outcome: asyncio.Future[CallOutcome] = asyncio.get_running_loop().create_future()
        outcome.set_result(CallOutcome(target, "failed", False, 0.0, None, reason))
        return cls(target, outcome, refused=refused)


class OutboundCalls:
    """The gateway's placed calls: places them and follows their events.

    Once answered, a placed call takes the shared steps of
    :class:`~sipgw.app.calls.callpath.CallPath`: media session, agent prepared, ``on_answered``.
    Answering-machine detection would run in :meth:`_answered`, before the agent. The
    outcomes of the last :data:`RECENT_OUTCOMES` placed calls stay readable by log id
    (:meth:`outcome_of`), for ``sipgw call`` through the admin API.

    Args:
        path: the calls and their shared steps.
        config: the outbound settings (and each account's).
        agents: the agents a call may name (``agent`` of ``POST /api/calls``), by the
            name they were started with.
        default_agent: who talks on a call that names no agent and no line.
        lines: the routes file's line by name (raises ``ValueError`` for none such).
    """

    def __init__(
        self,
        path: CallPath,
        config: OutboundConfig,
        agents: Mapping[str, AgentFactory] | None = None,
        *,
        default_agent: AgentFactory,
        lines: Callable[[str], Line],
        breakers: VendorBreakers | None = None,
    ) -> None:
        self.path = path
        self.config = config
        self.agents = dict(agents or {})
        self.default_agent = default_agent
        """Who talks on a placed call that names no agent and no line (:meth:`place`)."""
        self.lines = lines
        """The routes file's line by name (raises ``ValueError`` for none such)."""
        self.breakers = breakers
        """Asked before a call is dialled: a vendor its agent needs may be down for
        everyone (:mod:`sipgw.app.operations.breakers`)."""
        self.locate: Callable[[OutboundCall], Awaitable[tuple[Flow, ...]]] | None = None
        """Finds the first hop's servers (RFC 3263, :mod:`sipgw.app.upstream.trunks`); None =
        none."""
        self._placed: dict[CallKey, PlacedCall] = {}
        self._recent: OrderedDict[str, asyncio.Future[CallOutcome]] = OrderedDict()

    def resolve(self, target: str, account: str | None = None) -> CallTarget:
        """Where a call to ``target`` (a phone number or a SIP URI) goes, through
        ``account`` (None: the ``--register`` one and the outbound settings).

        Raises:
            ValueError: it goes nowhere (see :func:`call_target`), or no such account.
        """
        return call_target(target, self.config.for_account(account))

    def agent_named(self, name: str) -> AgentFactory:
        """The factory of the agent started as ``name``.

        Raises:
            ValueError: no agent of that name runs here (the message lists those that do).
        """
        factory = self.agents.get(name)
        if factory is None:
            known = ", ".join(sorted(self.agents)) or "none"
            raise ValueError(f"no agent {name!r} here (this gateway runs: {known})")
        return factory

    def outcome_of(self, log_id: str) -> asyncio.Future[CallOutcome] | None:
        """The outcome (to come, or come) of a recent placed call, by its log id."""
        return self._recent.get(log_id)

    async def place(
        self,
        target: str,
        *,
        agent: AgentFactory | None = None,
        caller_id: str | None = None,
        ring_timeout: float | None = None,
        for_agent: bool = False,
        variables: Mapping[str, str] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        account: str | None = None,
        line: str | None = None,
        amd: AmdRequest | None = None,
        twiml: TwimlSource | None = None,
        ivr_goal: str | None = None,
    ) -> PlacedCall:
        """Place a call to ``target`` (a phone number or SIP URI); returns once its INVITE
        is out (or it failed before), with its handle and its outcome to come.

        ``line`` names the routes file's line whose agent talks and whose defaults fill in
        what the call leaves open (:meth:`CallRequest.over
        <sipgw.app.upstream.callrequest.CallRequest.over>`); the agent is ``agent``, else the
        line's, else :attr:`default_agent`. A call placed on an agent's behalf (``for_agent``: a
        callback) must be allowed by the dial policy, which judges the Request-URI then
        sent (or the number it was dialled as); the operator's own calls are not checked.
        Every call asked for is counted, placed or not (:meth:`CallPath.call_started
        <sipgw.app.calls.callpath.CallPath.call_started>`).

        Raises:
            DialRefused: ``for_agent`` and ``target`` is not allowed (nothing is sent).
        """
        resolved: CallTarget | None = None
        problem, on_line = "", None
        try:
            if line is not None:
                on_line = self.lines(line)
                asked = CallRequest(target, caller_id, dict(variables or {}), headers, None,
                                    account, amd=amd, ivr_goal=ivr_goal)  # fmt: skip
                request = asked.over(on_line.spec.defaults)
                caller_id, variables = request.caller_id, request.variables
                headers, account, amd = request.headers, request.account, request.amd
                ivr_goal = request.ivr_goal
                agent = agent or on_line.factory
            resolved = self.resolve(target, account)
        except ValueError as exc:
            problem = str(exc)
        if for_agent:
            judged = resolved.judged if resolved is not None else None
            self.path.gate.admit("call", target, log, judged)
        self.path.call_started()
        if resolved is None:
            return PlacedCall.failed(target, problem)
        return await self.originate(
            resolved, agent or self.default_agent, caller_id=caller_id, ring_timeout=ring_timeout,
            variables=variables, headers=headers, account=account, line=on_line, amd=amd,
            twiml=twiml, ivr_goal=ivr_goal or "",
        )  # fmt: skip

    async def originate(
        self,
        target: CallTarget,
        factory: AgentFactory,
        *,
        caller_id: str | None = None,
        ring_timeout: float | None = None,
        variables: Mapping[str, str] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        account: str | None = None,
        line: Line | None = None,
        amd: AmdRequest | None = None,
        twiml: TwimlSource | None = None,
        ivr_goal: str = "",
        login: tuple[str, str] | None = None,
    ) -> PlacedCall:
        """Send the INVITE to ``target``; returns at once with the call (see the module
        docstring), whose ``outcome`` is done when it is over.

        Args:
            target: where the call goes (:meth:`resolve`, with the same ``account``).
            factory: who talks once answered.
            caller_id: the From for this call (default: the account's, ``SIPGW_CALLER_ID``).
            ring_timeout: seconds before CANCEL (default ``SIPGW_RING_TIMEOUT``).
            variables: the call's variables, for its agent (checked by the caller).
            headers: ``X-`` headers for its INVITE and REFERs (checked here again).
            account: the account to call through (None: the ``--register`` one).
            line: the routes file's line it is placed on (its name and allow-list).
            amd: its answering-machine detection (default ``SIPGW_AMD``, no message of
                its own).
            twiml: its own TwiML, for an agent that follows TwiML (refused for others).
            ivr_goal: what to reach through a phone menu before the agent talks ("" = none;
                refused for an agent that does not navigate menus: docs/ivr.md).
            login: the digest user name and password a 401/407 is answered with in place
                of the account's (a TwiML ``<Sip username password>``); never logged.
        """
        uri, sip = str(target.uri), self.path.sip
        variables = dict(variables or {})
        try:
            config = self.config.for_account(account)
            if caller_id is not None:
                config = dataclasses.replace(config, caller_id=caller_id)
            if login is not None:
                config = dataclasses.replace(config, username=login[0], password=login[1])
            from_uri, display = caller(config, sip.ua.config.public_host)
            _check_variables(factory, variables)
            detection = _detection(amd, self.config.amd)
            _check_detection(factory, detection)
            _check_twiml(factory, twiml)
            _check_goal(factory, ivr_goal)
        except ValueError as exc:
            return PlacedCall.failed(uri, str(exc), refused=True)
        refused = self.breakers.refusal(factory) if self.breakers is not None else None
        if refused is not None:  # the callee would answer into a dead call
            service, vendor = refused
            return PlacedCall.failed(
                uri, f"not dialled: {vendor} ({service}) is down for everyone (its breaker "
                "is open; docs/operations.md, Circuit breakers)"
            )  # fmt: skip
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
            identity=config.identity,
            withhold=config.withhold,
            headers=headers,
            codecs=rtp_codecs(
                call_codecs(self.path.config.codecs, line.spec.codecs if line else None,
                            config.codecs, via_account=bool(config.aor))
            ),
            redirects=_redirects(config, line.dial_policy if line else self.path.gate.policy),
            reliable=config.reliable,
        )  # fmt: skip
        calls: list[CallInfo] = []
        try:
            if self.locate is not None:
                spec = dataclasses.replace(spec, targets=await self.locate(spec))
            sip.act(lambda now: calls.append(sip.ua.call(spec, now)))
        except SipError as exc:
            self.path.close_rtp(endpoint)
            return PlacedCall.failed(uri, str(exc))
        handle = self.path.admit(calls[0], endpoint, ringing=True, line=line)  # it rings
        handle.details = dataclasses.replace(handle.details, variables=variables)  # numbers kept
        if twiml is not None:
            handle.details = dataclasses.replace(
                handle.details,
                twiml_url=twiml.url,
                twiml=twiml.document,
                machine_detection=twiml.machine_detection,
            )
        handle.refer_headers = headers
        handle.amd = detection
        handle.ivr_goal = ivr_goal
        handle.inband_dtmf = (
            (line.spec.inband_dtmf if line is not None else None)
            or config.inband_dtmf  # the account's
            or self.path.config.inband_dtmf
        )
        outcome: asyncio.Future[CallOutcome] = asyncio.get_running_loop().create_future()
        placed = PlacedCall(uri, outcome, handle, factory, id=handle.call.log_id)
        self._placed[handle.call.key] = placed
        self._remember(placed)
        via = f" via {config.proxy}" if config.proxy else ""
        handle.log.info("calling %s from %s%s, RTP port %d", uri, from_uri, via, endpoint.port)
        return placed

    def on_event(self, handle: CallHandle, event: SipEvent) -> None:
        """An event about a call we placed (the gateway passes them on)."""
        placed = self._placed.get(handle.call.key)
        if placed is None:
            return
        if isinstance(event, CallProgress):
            if not placed.rang and placed.on_progress is not None:
                placed.on_progress(LegProgress("ringing", handle.caller, handle.called,
                                               event.status))  # fmt: skip
            placed.rang = True
            heard = event.early_media and self._hear_early(placed, handle, event)
            early = ", early media" if event.early_media else ""
            early += " (dropped until answered)" if event.early_media and not heard else ""
            handle.log.info("progress: %d %s%s", event.status, event.reason, early)
            self.path.feed.call_ringing(handle)
        elif isinstance(event, CallRedirected):
            _log_redirect(handle, event, self.config.redirect_hops)
            if event.refused:
                self.path.gate.count_refused(len(event.refused))
        elif isinstance(event, CallAnswered):
            placed.answered_at = time.monotonic()
            placed.answer_custom = event.custom
            handle.log.info("answered")
            self.path.feed.call_answered(handle)
            self.path.start_media(handle, event.media)
            if self.path.config.max_call_seconds > 0:  # from the answer, as the outcome's
                handle.limit_duration(self.path.config.max_call_seconds)  # duration counts
            if placed.factory is not None:
                self.path.run_setup(handle, self._answered(handle, placed.factory, placed.early))
        elif isinstance(event, CallEnded):
            del self._placed[handle.call.key]
            entry = self.path.feed.live.get(handle.call.log_id)
            outcome = _outcome(placed, event, entry.amd if entry is not None else None)
            if not outcome.answered and event.reply is not None:
                handle.refused = Refused.of(event.reply)  # the dashboard's, the webhooks'
            if not outcome.answered:
                _record_unanswered(placed, handle, outcome)
            menu = outcome.answered and bool(handle.ivr_goal) and handle.agent is not None
            if entry is not None and entry.ivr is None and menu:  # hung up in the menu:
                # the agent writes the menu's result (hung_up) as it closes, after this
                self.path.spawn(self._menu_result(placed, handle, entry, outcome))
                return
            self._ended(placed, handle, entry, outcome)

    async def _menu_result(
        self, placed: PlacedCall, handle: CallHandle, entry: CallEntry, outcome: CallOutcome
    ) -> None:
        """Settle the outcome of a call that ended while its agent was in a phone menu once
        the agent wrote the menu's result (``hung_up``, as it closes after the call ended):
        the record's ``ivr_result``, or its ``end`` line, within :data:`RECORD_CLOSE_WAIT`."""
        done = asyncio.Event()

        def on_feed(event: FeedEvent) -> None:
            if event.call == entry.id and event.kind in ("ivr", "record_closed"):
                done.set()

        unsubscribe = self.path.feed.subscribe(on_feed)
        try:
            if entry.ivr is None and not entry.record_closed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RECORD_CLOSE_WAIT):
                        await done.wait()
        finally:
            unsubscribe()
            self._ended(placed, handle, entry, outcome)

    @staticmethod
    def _ended(
        placed: PlacedCall, handle: CallHandle, entry: CallEntry | None, outcome: CallOutcome
    ) -> None:
        """Say how the call ended: its log line, and the outcome's waiters."""
        if entry is not None and entry.ivr is not None:
            outcome = dataclasses.replace(outcome, ivr=dict(entry.ivr))
        handle.log.info("outcome: %s", outcome.describe())
        if not placed.outcome.done():
            placed.outcome.set_result(outcome)

    def _remember(self, placed: PlacedCall) -> None:
        if placed.id is None:
            return
        self._recent[placed.id] = placed.outcome
        while len(self._recent) > RECENT_OUTCOMES:
            self._recent.popitem(last=False)

    def _hear_early(self, placed: PlacedCall, handle: CallHandle, event: CallProgress) -> bool:
        """Early media to an agent that takes it (``early_media``): the media starts and the
        agent is built now (it hears the callee's ringback); it talks from the answer."""
        factory = placed.factory
        if factory is None or event.media is None or placed.early is not None:
            return placed.early is not None
        if not plugin_factory(factory).capabilities.early_media:
            return False
        self.path.start_media(handle, event.media, early=True)
        placed.early = asyncio.ensure_future(self.path.prepare_agent(handle, factory))
        return True

    async def _answered(
        self, handle: CallHandle, factory: AgentFactory, early: asyncio.Task[Agent | None] | None
    ) -> None:
        """Build and prepare the agent now that the call is answered (or take the one built
        at its early media), then let it talk."""
        agent = await (early if early is not None else self.path.prepare_agent(handle, factory))
        if agent is None:
            if not handle.ended:
                handle.hangup(by="gateway")
            return
        self.path.agent_answered(handle, agent, limit=False)  # started at the answer


def _detection(asked: AmdRequest | None, default: AmdMode) -> AmdRequest | None:
    """What detection a call runs: what it asked for, else the default; None when off."""
    request = asked if asked is not None else AmdRequest(default)
    return None if request.mode is AmdMode.OFF else request


def _outcome(
    placed: PlacedCall, event: CallEnded, amd: Mapping[str, Any] | None = None
) -> CallOutcome:
    """How a placed call ended, with the far end's words when it refused it, and who
    answered it (answering-machine detection's result)."""
    if placed.answered_at is not None:
        kind, duration = "answered", time.monotonic() - placed.answered_at
    else:
        kind, duration = _KINDS.get(event.reason, "failed"), 0.0
    reply = event.reply if placed.answered_at is None else None
    refused = Refused.of(reply) if reply is not None else None
    hinted = placed.answered_at is None and event.status is not None
    return CallOutcome(
        placed.target, kind, placed.answered_at is not None, duration, event.status,
        event.reason.value, refused.phrase if refused is not None else "",
        refused.detail if refused is not None else "", hint(event.status) if hinted else "",
        placed.id, amd, custom=placed.answer_custom if reply is None else reply.custom,
    )  # fmt: skip


def _record_unanswered(placed: PlacedCall, handle: CallHandle, outcome: CallOutcome) -> None:
    """The call record of a placed call nobody answered (its agent never ran, so never
    wrote one): the call, its variables and line, and how it ended, in the words of the
    far end (status, reason phrase, Reason and Warning) with our hint. Only when its agent
    keeps records (:attr:`sipgw.agent.capabilities.PluginFactory.new_record`)."""
    if placed.factory is None:
        return
    new_record = plugin_factory(placed.factory).new_record
    if new_record is None:
        return
    record = new_record(handle.call.call_id)
    if record is None:
        return
    started = time.time() - (time.monotonic() - handle.started)
    try:
        record.write(
            {"type": "call", "call_id": handle.call_id, "caller": handle.caller,
             "called": handle.called, "direction": "outbound", "leg": handle.leg,
             "started": round(started, 3), **call_data(handle.details)}
        )  # fmt: skip
        if handle.line:
            record.write({"type": "line", "line": handle.line})
        refused = handle.refused.fields() if handle.refused is not None else {}
        record.write(
            {"type": "end", "reason": outcome.kind, "answered": False,
             "sip_status": outcome.status, **refused}
        )  # fmt: skip
    finally:
        record.close()


def _check_detection(factory: AgentFactory, detection: AmdRequest | None) -> None:
    """Refuse detection that the call's agent would not act on (a speech-to-speech agent's
    service hears the callee, not the detector): rather than greet every voicemail.

    Raises:
        ValueError: naming ``amd``.
    """
    if detection is not None and not plugin_factory(factory).capabilities.amd:
        raise ValueError(
            f'"amd" {detection.mode.value}: this call\'s agent does not run answering-machine '
            "detection (the twiml and stream agents do not; docs/amd.md): place it with "
            '"amd": "off" (--amd off), or on an assistant line'
        )


def _check_goal(factory: AgentFactory, goal: str) -> None:
    """Refuse a goal behind a phone menu when the call's agent does not navigate menus.

    Raises:
        ValueError: naming ``ivr_goal``.
    """
    if goal and not plugin_factory(factory).capabilities.ivr:
        raise ValueError(
            '"ivr_goal": this call\'s agent does not navigate phone menus (the assistant '
            "does; docs/ivr.md): place it on an assistant line, or without a goal"
        )


def _check_twiml(factory: AgentFactory, twiml: TwimlSource | None) -> None:
    """Refuse a call's own TwiML when its agent does not follow TwiML (it would be ignored).

    Raises:
        ValueError: naming ``twiml_url`` or ``twiml``.
    """
    if twiml is not None and not plugin_factory(factory).capabilities.twiml:
        field = "twiml_url" if twiml.url else "twiml"
        raise ValueError(
            f'"{field}": this call\'s agent does not follow TwiML; place it with the twiml '
            'agent ("agent": "twiml", or a line whose agent is twiml; docs/twilio-apps.md)'
        )


def _check_variables(factory: AgentFactory, variables: Mapping[str, str]) -> None:
    """Refuse a call whose agent's prompt or greeting needs variables it lacks.

    Raises:
        ValueError: naming the variables.
    """
    check = plugin_factory(factory).missing_variables
    if check is None:
        return
    try:
        missing = check(variables, "outbound")
    except TemplateError:
        return  # checked at start-up
    if missing:
        names = ", ".join(missing)
        raise ValueError(
            f"the agent's prompt or greeting uses {{{missing[0]}}}"
            f"{' and more' if len(missing) > 1 else ''}: give the variables {names} "
            '(--var NAME=VALUE, or "variables" in POST /api/calls)'
        )


def _redirects(config: OutboundConfig, policy: DialPolicy) -> Redirects | None:
    """How a 3xx is followed: to the targets ``policy`` allows (the line's, else the
    gateway's), for every placed call: a carrier's Contact is a target nobody chose."""
    if config.redirect_hops <= 0:
        return None
    return Redirects(config.redirect_hops, lambda uri: policy.allows("call", uri))


def _log_redirect(handle: CallHandle, event: CallRedirected, hops: int) -> None:
    """The log lines of a 3xx (or a redirected target's failure): where the call goes now,
    the targets refused, or why it goes nowhere."""
    what = f"{event.status} {event.reason}" if event.status else event.reason
    for target in event.refused:
        handle.log.warning("redirect: %s names %s, not in the dial allow-list (SIPGW_DIAL_ALLOW"
                           "): not followed", what, target)  # fmt: skip
    if event.target is not None:
        handle.log.info("redirect: %s, calling %s", what, event.target)
    elif event.why == "hops":
        handle.log.warning("redirect: %s not followed: more than %d redirects "
                           "(SIPGW_REDIRECT_HOPS)", what, hops)  # fmt: skip
    elif event.why == "none":
        handle.log.warning("redirect: %s names no SIP target not tried already", what)
