"""One call's mutable state, private to the user agent core."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.addressing import Flow
from sipgw.call import CallInfo, CallKey, CallState
from sipgw.dialog import Dialog
from sipgw.message import SipRequest
from sipgw.offeranswer import LocalMedia, NegotiatedAudio
from sipgw.sdp import SessionDescription
from sipgw.sessiontimer import SessionTimer
from sipgw.timers import Timer, TimerHeap
from sipgw.transaction import InviteServerTransaction

__all__ = ["CallSession", "PendingAck"]


@dataclass(slots=True, eq=False)
class PendingAck:
    """A 2xx to an INVITE that we keep sending until its ACK comes (RFC 3261 §13.3.1.4).

    Attributes:
        cseq: the INVITE's CSeq number, which the ACK repeats.
        data: the 2xx as sent.
        flow: where it goes.
        interval: the current retransmission interval (T1 doubling to T2).
        retransmit: the next retransmission (None over a reliable transport).
        give_up: 64·T1 after the 2xx: no ACK, end the call.
    """

    cseq: int
    data: bytes
    flow: Flow
    interval: float
    retransmit: Timer | None = None
    give_up: Timer | None = None


@dataclass(slots=True, eq=False)
class CallSession:
    """Everything the user agent keeps about one call; the application sees :attr:`info`.

    Today every session is an incoming call (we are the UAS of its INVITE);
    an outbound call will keep its INVITE client transaction beside
    :attr:`transaction` and build its dialog with
    :meth:`~sipgw.dialog.Dialog.for_uac`.

    Attributes:
        info: the application's read-only view, kept current here.
        invite: the INVITE that created the call.
        transaction: its server transaction.
        dialog: the dialog (early until our 2xx).
        offer: the SDP offer of the INVITE, None for a delayed offer.
        local_media: our media parameters once answered.
        local_sdp: the SDP we last sent.
        offer_in_2xx: we sent an offer in a 2xx and wait for the answer in the ACK.
        pending_ack: our 2xx still waiting for its ACK.
        bye_pending: the application hung up before the ACK (§15): BYE once it comes.
        end_reported: CallEnded went out (exactly once per call).
        session_timer: the RFC 4028 timer agreed, if any.
        session_deadline: our next refresh, or the expiry we watch for.
    """

    info: CallInfo
    invite: SipRequest
    transaction: InviteServerTransaction
    dialog: Dialog
    offer: SessionDescription | None
    local_media: LocalMedia | None = None
    local_sdp: SessionDescription | None = None
    offer_in_2xx: bool = False
    pending_ack: PendingAck | None = None
    bye_pending: bool = False
    end_reported: bool = False
    session_timer: SessionTimer | None = None
    session_deadline: Timer | None = None

    @property
    def key(self) -> CallKey:
        """The call's key in the user agent's table."""
        return self.info.key

    @property
    def state(self) -> CallState:
        """Where the call is (as the application sees it)."""
        return self.info._state

    @state.setter
    def state(self, value: CallState) -> None:
        self.info._state = value

    @property
    def media(self) -> NegotiatedAudio | None:
        """The media agreed so far."""
        return self.info._media

    @media.setter
    def media(self, value: NegotiatedAudio) -> None:
        self.info._media = value

    def stop_timers(self, heap: TimerHeap) -> None:
        """Cancel every deadline of the call (2xx retransmission, no-ACK, session timer)."""
        pending = self.pending_ack
        if pending is not None:
            heap.cancel(pending.retransmit)
            heap.cancel(pending.give_up)
            self.pending_ack = None
        heap.cancel(self.session_deadline)
        self.session_deadline = None
