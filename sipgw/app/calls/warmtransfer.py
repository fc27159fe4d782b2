"""Warm transfers on the gateway's side: the consultation call, and joining the two calls.

:class:`WarmTransfers` is what a call's :meth:`~sipgw.app.calls.callhandle.CallHandle.place_leg`
and :meth:`~sipgw.app.calls.callhandle.CallHandle.join` go through (the agent's side is
:mod:`sipgw.agent.transfer.warm`):

* *Consult*: the target passes the dial gate as a transfer target would (the
  allow-list), is read by the outbound rules (a number goes to the trunk, with our
  caller id and credentials) and is called like any placed call, with the agent
  given (it says the summary). :class:`ConsultCall` is that call as the agent holds it.
  A TwiML ``<Dial>``'s second leg is placed the same way (:meth:`WarmTransfers.place_leg`
  both, this one with the ``callerId`` its agent allowed), and its agent relays it
  (:mod:`sipgw.agent.twiml.dial.bridge`).
* *Join*, ``auto``: when the caller's phone takes REFER (its INVITE's Allow) and the
  person's phone supports Replaces (its 2xx's Supported), an attended transfer
  (RFC 5589 §7: REFER with Replaces, :meth:`sipgw.sip.useragent.UserAgent.refer_replacing`);
  the caller's phone calls the person, whose phone swaps our call for it. On its
  NOTIFY's 2xx our call to the caller ends; the person's phone ends ours to it with a
  BYE (we send one after :data:`REPLACED_GRACE` if not). If the REFER is refused or
  its INVITE fails, or either phone cannot, the gateway bridges the two calls' media
  itself (:func:`sipgw.app.calls.bridge.bridge`) until one side hangs up. ``refer`` and
  ``bridge`` force one way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sipgw.agent.amd.settings import AmdMode, AmdRequest
from sipgw.agent.base import AgentFactory
from sipgw.agent.transfer.settings import JoinHow
from sipgw.agent.transfer.warm import ConsultLeg, JoinFailed, LegEnded, LegProgress
from sipgw.app.calls.bridge import bridge
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.calls.callpath import CallPath
from sipgw.app.calls.outbound import OutboundCalls, PlacedCall
from sipgw.sip.errors import SipError
from sipgw.sip.events import TransferStage, TransferUpdated

__all__ = ["REFER_TIMEOUT", "REPLACED_GRACE", "ConsultCall", "WarmTransfers"]

REFER_TIMEOUT = 20.0
"""Seconds an attended transfer's REFER may take to report success before the bridge."""
REPLACED_GRACE = 5.0
"""Seconds the person's phone has to end the replaced call before we do."""


class ConsultCall:
    """A consultation call the gateway placed (:class:`sipgw.agent.transfer.warm.ConsultLeg`)."""

    def __init__(self, placed: PlacedCall) -> None:
        self.placed = placed

    @property
    def handle(self) -> CallHandle | None:
        """The call, once its INVITE went out."""
        return self.placed.handle

    async def ended(self) -> LegEnded:
        """Wait until it is over; how it ended."""
        outcome = await asyncio.shield(self.placed.outcome)
        handle = self.placed.handle
        call_id = handle.call_id if handle is not None else ""
        return LegEnded(outcome.kind, outcome.status, outcome.reason, call_id, outcome.custom)

    def hangup(self) -> None:
        """CANCEL while it rings, else BYE (nothing once it ended)."""
        handle = self.placed.handle
        if handle is not None and not handle.ended:
            handle.hangup()


class WarmTransfers:
    """The gateway's warm transfers (see the module docstring).

    Args:
        path: the calls and their shared steps (the dial gate, the bridge's agents).
        outbound: places the consultation calls.
    """

    def __init__(self, path: CallPath, outbound: OutboundCalls) -> None:
        self.path = path
        self.outbound = outbound
        self._joins: set[asyncio.Task[str]] = set()

    async def place_leg(
        self,
        handle: CallHandle,
        target: str,
        agent: AgentFactory,
        ring_timeout: float,
        caller_id: str = "",
        why: str = "second leg",
        login: tuple[str, str] | None = None,
        on_progress: Callable[[LegProgress], None] | None = None,
    ) -> ConsultLeg:
        """Place a call on ``handle``'s behalf to ``target`` with ``agent``: a consultation
        call, or a TwiML ``<Dial>``'s second leg (its From ``caller_id``, "" = the
        gateway's own; ``login``: the user name and password its 401/407 is answered
        with, None = the account's), judged, routed and counted as a consultation call.
        ``on_progress`` is told when its INVITE went out (``initiated``) and at its first
        provisional response (``ringing``).

        Raises:
            DialRefused: ``target`` is not on the allow-list (nothing is sent).
        """
        try:
            resolved = self.outbound.resolve(target)
        except ValueError as exc:
            self.path.gate.admit("transfer", target, handle.log)  # a refusal comes first
            return ConsultCall(PlacedCall.failed(target, str(exc)))
        # The object judged is the one sent: the number dialled, or the Request-URI.
        self.path.gate.admit("transfer", target, handle.log, resolved.judged)
        self.path.counted.call_started()
        # Its agent detects who answered itself (sipgw.agent.transfer.consult): no SIPGW_AMD
        # campaign mode.
        off = AmdRequest(AmdMode.OFF)
        placed = await self.outbound.originate(resolved, agent, ring_timeout=ring_timeout,
                                               amd=off, caller_id=caller_id or None,
                                               login=login)  # fmt: skip
        handle.log.info("%s: calling %s (%s)", why, target,
                        placed.handle.call.log_id if placed.handle else "not placed")  # fmt: skip
        if on_progress is not None and placed.handle is not None:
            placed.on_progress = on_progress
            on_progress(LegProgress("initiated", placed.handle.caller, placed.handle.called))
        return ConsultCall(placed)

    async def join(self, handle: CallHandle, leg: ConsultLeg, how: JoinHow) -> str:
        """Join ``handle`` with its consultation call: ``refer`` or ``bridge``.

        Raises:
            JoinFailed: one of the calls is gone, or ``refer`` was asked and failed.
        """
        consult = leg.handle if isinstance(leg, ConsultCall) else None
        if consult is None or consult.ended or handle.ended:
            _end_orphan(handle, consult)
            raise JoinFailed("a call ended before they could be joined")
        # Its own task: the agent that waits for it is closed once the calls are joined.
        task = asyncio.get_running_loop().create_task(self._join(handle, consult, how))
        self._joins.add(task)
        task.add_done_callback(self._joins.discard)
        return await asyncio.shield(task)

    async def _join(self, handle: CallHandle, consult: CallHandle, how: JoinHow) -> str:
        if how != "bridge":
            problem = self._cannot_refer(handle, consult) or await self._refer(handle, consult)
            if not problem:
                return "refer"
            if how == "refer":
                raise JoinFailed(problem)
            handle.log.info("warm transfer: no attended transfer (%s): bridging", problem)
        if consult.ended or handle.ended:
            _end_orphan(handle, consult)
            raise JoinFailed("a call ended before they could be joined")
        bridge(self.path, handle, consult)
        return "bridge"

    def _cannot_refer(self, handle: CallHandle, consult: CallHandle) -> str:
        """Why an attended transfer cannot be tried ("": it can)."""
        ua = self.path.sip.ua
        if not ua.peer_allows(handle.call, "REFER"):
            return "the caller's phone does not list REFER in its Allow"
        if not ua.peer_supports(consult.call, "replaces"):
            return "the person's phone does not list replaces in its Supported"
        return ""

    async def _refer(self, handle: CallHandle, consult: CallHandle) -> str:
        """REFER with Replaces; "" once the caller's phone reached the person, else why not."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[TransferUpdated] = loop.create_future()
        handle.transfer_result = result
        sip = self.path.sip
        try:
            sip.act(lambda now: sip.ua.refer_replacing(handle.call, consult.call, now))
            async with asyncio.timeout(REFER_TIMEOUT):
                event = await result
        except SipError as exc:
            return str(exc)
        except TimeoutError:
            return "no answer to the REFER"
        finally:
            handle.transfer_result = None
        if event.stage is not TransferStage.SUCCEEDED:
            return f"{event.stage.value}: {event.status} {event.reason}".strip()
        handle.log.info("attended transfer done: the caller talks to %s", consult.call.log_id)
        handle.hangup()  # the caller now talks to the person (RFC 5589 §7.1)
        loop.call_later(REPLACED_GRACE, _hang_up_if_up, consult)
        return ""


def _end_orphan(handle: CallHandle, consult: CallHandle | None) -> None:
    """The caller left while they were being joined: the person's call has no one to join."""
    if handle.ended and consult is not None and not consult.ended:
        consult.log.info("the caller left before the calls were joined: hanging up")
        consult.hangup()


def _hang_up_if_up(handle: CallHandle) -> None:
    """The replaced call should have been ended by the person's phone; end it."""
    if not handle.ended:
        handle.log.info("the replaced call is still up: hanging up")
        handle.hangup()
