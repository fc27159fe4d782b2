"""A REFER the other party sent on a call (:class:`~sipgw.sip.events.TransferRequested`), to
its agent as a :class:`~sipgw.agent.base.Referral`.

The target passes the dial allow-list first (``transfer``, as every REFER the gateway
sends): one it refuses is declined with 403 Forbidden before the agent hears of it, so a
called party cannot take the caller somewhere the operator did not allow (toll fraud by
transfer). A call without an agent declines it (603); an agent answers it itself
(:meth:`~sipgw.agent.base.Agent.on_refer`, whose default declines). The answer and the
NOTIFYs go to the SIP core (:meth:`~sipgw.sip.useragent.UserAgent.answer_refer`,
:meth:`~sipgw.sip.useragent.UserAgent.notify_refer`); once the call has ended there is no
one to tell, and that is logged, not raised.
"""

from __future__ import annotations

from collections.abc import Callable

from sipgw.agent.dialpolicy import DialRefused
from sipgw.app.calls.callhandle import CallHandle
from sipgw.sip.errors import SipError
from sipgw.sip.events import TransferRequested

__all__ = ["SipReferral", "refer_received"]


class SipReferral:
    """One REFER of ``handle``'s call, as its agent answers it (see the module docstring)."""

    def __init__(self, handle: CallHandle, event: TransferRequested) -> None:
        self.handle = handle
        self.event = event
        self.answered = False

    @property
    def refer_to(self) -> str:
        """The ``Refer-To`` header as received."""
        return self.event.refer_to

    @property
    def target(self) -> str:
        """Its URI."""
        return self.event.target

    def accept(self) -> None:
        """202 Accepted, then the first NOTIFY (100 Trying)."""
        self._answer(202)

    def refuse(self, status: int = 603) -> None:
        """Decline it with ``status`` (from 300)."""
        self._answer(max(status, 300))

    def report(self, status: int, reason: str = "") -> None:
        """A NOTIFY with ``status`` (from 200 the last)."""
        call = self.handle.call
        self.handle.log.info("transfer asked by the other party: %d %s", status, reason)
        self.handle.sip.act(lambda now: self._quietly(self.handle.sip.ua.notify_refer,
                                                      call, status, now, reason))  # fmt: skip

    def _answer(self, status: int) -> None:
        if self.answered:
            return
        self.answered = True
        self.handle.log.info("REFER to %s: %d", self.target, status)
        call = self.handle.call
        self.handle.sip.act(lambda now: self._quietly(self.handle.sip.ua.answer_refer,
                                                      call, status, now))  # fmt: skip

    def _quietly(self, action: Callable[..., None], *args: object) -> None:
        try:
            action(*args)
        except SipError as exc:  # the call ended meanwhile
            self.handle.log.info("REFER not answered: %s", exc)


def refer_received(handle: CallHandle, event: TransferRequested) -> None:
    """The other party's REFER: judged by the dial allow-list, then to the call's agent."""
    referral = SipReferral(handle, event)
    handle.log.info("REFER received: Refer-To %s", event.refer_to)
    try:
        handle.gate.admit("transfer", event.target, handle.log)
    except DialRefused:
        referral.refuse(403)
        return
    if handle.agent is None or handle.ended:
        referral.refuse(603)
        return
    handle.agent.on_refer(referral)  # it answers now, or from a task of its own
