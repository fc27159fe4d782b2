"""Reliable provisional responses on incoming calls (RFC 3262 §3), sans-IO.

An INVITE that requires ``100rel`` gets its 180 and 183 reliably: ``Require: 100rel`` and an
RSeq, the first chosen at random, each next one more (§3). Each is sent again at T1, 2·T1,
4·T1 ... until the caller's PRACK names it in its RAck, which gets 200; a PRACK that names
none outstanding gets 481 (§3). After 64·T1 without one the INVITE is refused with 500 (§3).

One reliable 1xx is outstanding at a time (§3): a 1xx that comes meanwhile waits for its
PRACK, and so does the 2xx when the outstanding one carried our SDP answer (the answer must
be acknowledged before the call is); after a 1xx without SDP the 2xx goes at once and the
1xx is sent no more. A caller that only supports ``100rel`` gets its 1xx the usual way.

A reliable 1xx with our SDP answer lists UPDATE in its Allow (RFC 3311 §4), and once it is
PRACKed the INVITE's offer/answer is complete: the caller may then send a new offer in an
UPDATE in the early dialog (RFC 3311 §5.1; :mod:`sipgw.sip.usages.modify` answers it).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sipgw.sip.call import CallState
from sipgw.sip.errors import RemoteProtocolError
from sipgw.sip.message import SipRequest, SipResponse
from sipgw.sip.reliable import OPTION, RSEQ_MAX, Rack, requires_reliable
from sipgw.sip.transaction import ServerTransaction
from sipgw.sip.usages.context import ALLOW, UsageContext
from sipgw.sip.usages.session import CallSession, ReliableState, Send

__all__ = ["ReliableProvisionals"]

_RINGING = (CallState.INCOMING, CallState.RINGING)


class ReliableProvisionals:
    """Sends an incoming call's 1xx reliably when its INVITE requires it; takes its PRACKs.

    Args:
        ctx: the usages' shared context.
        refuse: refuses the INVITE with a status (the 500 after 64·T1 without a PRACK).
    """

    def __init__(self, ctx: UsageContext, refuse: Callable[[CallSession, int, float], None]):
        self.ctx = ctx
        self.refuse = refuse

    def start(self, session: CallSession) -> None:
        """A new incoming call: its 1xx go reliably if its INVITE requires ``100rel``."""
        if requires_reliable(session.invite):
            # §3: a random first RSeq; from the lower half, so that counting up never wraps.
            session.reliable = ReliableState(self.ctx.rng.randrange(1, RSEQ_MAX // 2))

    def send_1xx(self, session: CallSession, response: SipResponse, now: float) -> None:
        """Send a 180 or 183: the usual way, reliably, or after the outstanding one's PRACK."""
        state = session.reliable
        if state is None:
            self.ctx.transactions.respond(session.server_transaction, response, now)
            return
        if state.unacknowledged:
            state.waiting.append(partial(self._send_waiting, session, response))
            return
        rseq, state.next_rseq = state.next_rseq, state.next_rseq + 1
        response.headers.add("Require", OPTION)
        response.headers.add("RSeq", str(rseq))
        if response.body:
            response.headers.add("Allow", ALLOW)  # RFC 3311 §4: SHOULD, with SDP
        state.outstanding, state.rseq, state.unacknowledged = response, rseq, True
        state.with_sdp = bool(response.body)
        timers = self.ctx.config.timers
        state.interval = timers.t1
        self.ctx.transactions.respond(session.server_transaction, response, now)
        heap = self.ctx.heap
        state.retransmit = heap.schedule(now + timers.t1, partial(self._resend, session))
        state.give_up = heap.schedule(now + 64 * timers.t1, partial(self._no_prack, session))

    def send_2xx(self, session: CallSession, send: Send, now: float) -> None:
        """Send the 2xx (``send``) now, or once the outstanding 1xx with our SDP answer is
        acknowledged; a 1xx without SDP is sent no more either way."""
        state = session.reliable
        if state is not None and state.unacknowledged and state.with_sdp:
            state.waiting.append(send)
            return
        if state is not None:
            self.stop(session)
        send(now)

    def prack(
        self, session: CallSession, tx: ServerTransaction, request: SipRequest, now: float
    ) -> None:
        """A PRACK: 200 when its RAck names the outstanding 1xx, then what waited goes.

        Raises:
            RemoteProtocolError: 481 for a PRACK that names no reliable 1xx of ours.
        """
        state = session.reliable
        rack = Rack.parse(request.headers.get("RAck") or "")
        if (
            state is None
            or state.outstanding is None
            or rack != Rack(state.rseq, session.invite.cseq.number)
        ):
            raise RemoteProtocolError("no such reliable provisional response", 481)
        self.ctx.transactions.respond(tx, self.ctx.dialog_response(session, 200, request), now)
        if not state.unacknowledged:
            return  # a PRACK for a 1xx the 2xx already went after
        self._quiet(state)
        state.unacknowledged = False
        state.answer_acknowledged |= state.with_sdp
        while state.waiting and not state.unacknowledged:
            state.waiting.popleft()(now)

    def answer_acknowledged(self, session: CallSession) -> bool:
        """Whether our SDP answer went in a reliable 1xx that was PRACKed (RFC 3262 §5):
        only then may an UPDATE in the early dialog bring a new offer (RFC 3311 §5.1)."""
        state = session.reliable
        return state is not None and state.answer_acknowledged

    def holding(self, session: CallSession) -> bool:
        """Whether the call's 2xx waits for a PRACK (the INVITE has no final response yet)."""
        state = session.reliable
        return state is not None and bool(state.waiting) and session.state not in _RINGING

    def stop(self, session: CallSession) -> None:
        """Send the outstanding 1xx no more (a final response went, or the call ended)."""
        state = session.reliable
        if state is None:
            return
        self._quiet(state)
        if session.state not in _RINGING:
            state.waiting.clear()  # a final response went, or the call ended

    def _quiet(self, state: ReliableState) -> None:
        """No more resending of the outstanding 1xx, nor giving up on its PRACK."""
        self.ctx.heap.cancel(state.retransmit)
        self.ctx.heap.cancel(state.give_up)
        state.retransmit = state.give_up = None

    def _send_waiting(self, session: CallSession, response: SipResponse, now: float) -> None:
        if session.state in _RINGING:
            self.send_1xx(session, response, now)

    def _resend(self, session: CallSession, now: float) -> None:
        state = session.reliable
        if state is None or state.outstanding is None:
            return
        if session.state not in _RINGING and not self.holding(session):
            return  # a final response went, or the call ended
        self.ctx.transactions.respond(session.server_transaction, state.outstanding, now)
        state.interval *= 2  # §3: the interval doubles (no cap)
        state.retransmit = self.ctx.heap.schedule(
            now + state.interval, partial(self._resend, session)
        )

    def _no_prack(self, session: CallSession, now: float) -> None:
        state = session.reliable
        if state is None:
            return
        self._quiet(state)
        if not (session.state in _RINGING or state.waiting):
            return
        state.waiting.clear()  # a 2xx that waited for the PRACK goes no more
        session.state = CallState.RINGING
        self.refuse(session, 500, now)  # §3: "SHOULD reject ... with a 5xx response"
