"""REFERs the peer sends us, and the NOTIFYs that report on them (RFC 3515 §2.4).

This is the other side of :mod:`sipgw.sip.usages.refer`: the peer (a called party's PBX
or phone pressing "transfer") asks us to move the call elsewhere. The core checks the
request (exactly one ``Refer-To``, a URI in it: RFC 3515 §2.4.1, else 400; one REFER at
a time per call, else 403) and hands it to the application as a
:class:`~sipgw.sip.events.TransferRequested`, keeping its server transaction. The
application decides, since only it knows whether the call may be transferred and where
(one that has not answered within :data:`ANSWER_WAIT` seconds, well inside the peer's
32 s Timer F, gets the REFER declined for it, 603):

- :meth:`RefereeUsage.answer` with a refusal (403, 603...) ends it there;
- with 202 Accepted it opens the implicit subscription (§2.4.4), and the core sends the
  first NOTIFY at once: ``Event: refer``, ``Subscription-State: active``, a
  ``message/sipfrag`` body ``SIP/2.0 100 Trying`` (§2.4.5);
- :meth:`RefereeUsage.notify` then reports how the transfer went: a provisional status
  keeps the subscription active, a final one (200 OK, 486, 603...) terminates it
  (``Subscription-State: terminated;reason=noresource``, RFC 6665 §4.1.3).

What answers the NOTIFYs get is not the application's concern (a transferor that hung up
meanwhile answers 481): they are sent and forgotten.
"""

from __future__ import annotations

from functools import partial

from sipgw.sip.errors import InvalidState, RemoteProtocolError, SipError
from sipgw.sip.events import TransferRequested
from sipgw.sip.headers import NameAddr
from sipgw.sip.message import Headers, SipRequest
from sipgw.sip.transaction import Outcome, ServerTransaction
from sipgw.sip.usages.context import UsageContext, reason_phrase
from sipgw.sip.usages.session import CallSession

__all__ = ["ANSWER_WAIT", "SUBSCRIPTION_EXPIRES", "RefereeUsage", "sipfrag"]

ANSWER_WAIT = 10.0
"""Seconds the application has to answer a REFER before the core declines it (603)."""

SUBSCRIPTION_EXPIRES = 60
"""Seconds the implicit subscription of an accepted REFER lasts (RFC 3515 §2.4.4 leaves
the choice to us); the final NOTIFY ends it sooner."""


def sipfrag(status: int, reason: str = "") -> bytes:
    """A message/sipfrag body (RFC 3420) holding one status line."""
    return f"SIP/2.0 {status} {reason or reason_phrase(status, None)}\r\n".encode()


class RefereeUsage:
    """The REFERs every call receives; see the module docstring."""

    def __init__(self, ctx: UsageContext) -> None:
        self.ctx = ctx

    def receive(
        self, session: CallSession, tx: ServerTransaction, request: SipRequest, now: float
    ) -> None:
        """A REFER in the call's dialog: checked, then handed to the application.

        Raises:
            RemoteProtocolError: 400 without exactly one ``Refer-To`` holding a URI; 403
                while another REFER of the call is still being answered or carried out.
        """
        values = request.headers.get_all("Refer-To")
        if len(values) != 1:
            raise RemoteProtocolError("a REFER needs exactly one Refer-To", 400)
        try:
            target = str(NameAddr.parse(values[0]).uri)
        except SipError:
            raise RemoteProtocolError("Refer-To holds no URI", 400) from None
        if session.referred is not None or session.referred_open:
            raise RemoteProtocolError("a transfer of this call is in progress", 403)
        session.referred = (tx, request)
        unanswered = partial(self._unanswered, session)
        session.referred_deadline = self.ctx.heap.schedule(now + ANSWER_WAIT, unanswered)
        referred_by = request.headers.get("Referred-By") or ""
        asked = TransferRequested(session.info, values[0].strip(), target, referred_by)
        self.ctx.events.append(asked)

    def answer(self, session: CallSession, status: int, now: float) -> None:
        """Answer the peer's REFER: 202 accepts it (and sends ``SIP/2.0 100 Trying`` in
        the first NOTIFY), any status from 300 refuses it.

        Raises:
            InvalidState: no REFER of the call awaits an answer.
            ValueError: ``status`` is neither 202 nor a refusal.
        """
        if status != 202 and status < 300:
            raise ValueError(f"a REFER is accepted with 202 or refused, not {status}")
        pending, session.referred = session.referred, None
        if pending is None:
            raise InvalidState("no REFER awaits an answer")
        self.ctx.heap.cancel(session.referred_deadline)
        session.referred_deadline = None
        tx, request = pending
        self.ctx.respond(tx, request, status, now)
        if status == 202:
            session.referred_open = True
            self.notify(session, 100, now)

    def _unanswered(self, session: CallSession, now: float) -> None:
        session.referred_deadline = None
        if session.referred is not None:
            self.answer(session, 603, now)

    def notify(self, session: CallSession, status: int, now: float, reason: str = "") -> None:
        """Report the transfer's progress (1xx) or outcome (from 200: the last NOTIFY).

        Raises:
            InvalidState: no accepted REFER of the call is open, or the call is ending.
        """
        if not session.referred_open:
            raise InvalidState("no accepted REFER to report on")
        final = status >= 200
        if final:
            session.referred_open = False
        if session.bye_pending or session.dialog.remote_target is None:
            raise InvalidState("the call is ending")
        extra = Headers()
        extra.add("Event", "refer")
        active = f"active;expires={SUBSCRIPTION_EXPIRES}"
        extra.add("Subscription-State", "terminated;reason=noresource" if final else active)
        extra.add("Contact", self.ctx.session_contact(session))
        extra.add("Content-Type", "message/sipfrag;version=2.0")
        self.ctx.send_in_dialog(session, "NOTIFY", now, _forget, extra, sipfrag(status, reason))


def _forget(outcome: Outcome, now: float) -> None:
    """A NOTIFY's answer: nothing follows from it (see the module docstring)."""
