"""One call's mutable state, private to the user agent core."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sipgw.sip.addressing import Flow
from sipgw.sip.auth import DigestClient
from sipgw.sip.call import CallInfo, CallKey, CallState
from sipgw.sip.dialog import Dialog
from sipgw.sip.errors import InvalidState
from sipgw.sip.events import EndReason
from sipgw.sip.message import SipRequest, SipResponse
from sipgw.sip.offeranswer import LocalMedia, NegotiatedAudio, OfferChoice, RtpCodec
from sipgw.sip.redirect import Redirects
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.sessiontimer import SessionTimer
from sipgw.sip.timers import Timer, TimerHeap
from sipgw.sip.transaction import (
    InviteClientTransaction,
    InviteServerTransaction,
    ServerTransaction,
)
from sipgw.sip.uri import SipUri

__all__ = ["CallSession", "PendingAck", "PendingRecordingOffer", "UacLeg"]


@dataclass(slots=True, eq=False)
class PendingRecordingOffer:
    """A recording session's re-INVITE or UPDATE whose offer adds streams, waiting for the
    application to bind their ports (:mod:`sipgw.sip.usages.modify`).

    Attributes:
        transaction: its server transaction, answered once the ports come.
        request: the request.
        added: the ``m=`` lines of the new streams.
        deadline: when it is answered without them.
    """

    transaction: ServerTransaction
    request: SipRequest
    added: tuple[int, ...]
    deadline: Timer | None = None


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
class UacLeg:
    """What an outbound call keeps as the UAC of its INVITE (:mod:`sipgw.sip.usages.outbound`).

    Attributes:
        request: the INVITE in progress (after a 401/407, the one with credentials).
        flow: where the INVITE went (the first route, or the target).
        contact: our Contact URI, in angle brackets.
        digest: answers 401/407 challenges; None without credentials.
        transaction: the client transaction of :attr:`request`.
        provisional: a 1xx arrived for :attr:`request`, so CANCEL may go (RFC 3261 §9.1).
        cancel_reason: set once we gave up ringing (hang-up, ring timeout): CANCEL
            goes as soon as it may, and the call ends with this reason.
        cancelled: the CANCEL for :attr:`request` went out.
        answered: a 2xx arrived: the dialog of :class:`CallSession` is confirmed.
        early_media: the SDP answer of each early dialog's 1xx, by To tag.
        acks: the ACK sent for each 2xx, by its To tag (the call's and extra
            forks'), re-sent for every retransmission of that 2xx (§13.2.2.4).
        peer_allow: the Allow values of the 2xx (which requests the peer takes).
        peer_supported: the Supported values of the 2xx (the extensions it implements).
        ring_timer: the ring timeout (CANCEL when it fires).
        cancel_timer: 64·T1 after our CANCEL: stop waiting for the final response.
        targets: where the INVITE may go, in order (RFC 3263); :attr:`flow` is the one
            in use.
        recording: the call is a SIPREC recording session (:mod:`sipgw.sip.siprec`): its
            answer is read stream by stream.
        redirects: whether and where a 3xx takes the call (None: it ends it).
        redirected: the 3xx responses followed so far.
        pending: the targets 3xx responses gave that are still to try, next first.
        tried: every target the call went to or was given (:func:`~sipgw.sip.redirect.target_key`).
        early_tags: the To tags of the 1xx responses so far: the early dialogs a request
            from the callee may come in (an UPDATE before the answer, RFC 3311 §5.1).
        early_dialogs: the early dialogs our PRACKs went in, by To tag (RFC 3262 §4): the
            dialog a 2xx confirms goes on from their CSeq.
        rseqs: the last in-order RSeq of each early dialog's reliable 1xx, by To tag.
    """

    request: SipRequest
    flow: Flow
    contact: str
    digest: DigestClient | None
    transaction: InviteClientTransaction | None = None
    provisional: bool = False
    cancel_reason: EndReason | None = None
    cancelled: bool = False
    answered: bool = False
    early_media: dict[str, NegotiatedAudio] = field(default_factory=dict)
    acks: dict[str, tuple[bytes, Flow]] = field(default_factory=dict)
    peer_allow: list[str] = field(default_factory=list)
    peer_supported: list[str] = field(default_factory=list)
    ring_timer: Timer | None = None
    cancel_timer: Timer | None = None
    targets: tuple[Flow, ...] = ()
    recording: bool = False
    redirects: Redirects | None = None
    redirected: int = 0
    pending: list[SipUri] = field(default_factory=list)
    tried: set[str] = field(default_factory=set)
    early_tags: set[str] = field(default_factory=set)
    early_dialogs: dict[str, Dialog] = field(default_factory=dict)
    rseqs: dict[str, int] = field(default_factory=dict)


Send = Callable[[float], None]
"""A response held back until the outstanding reliable 1xx is acknowledged; sent at a time."""


@dataclass(slots=True, eq=False)
class ReliableState:
    """One incoming call's reliable 1xx: the next RSeq, the one outstanding, what waits."""

    next_rseq: int
    outstanding: SipResponse | None = None
    """The last reliable 1xx sent (it stays to match a late PRACK after the 2xx went)."""
    rseq: int = 0
    unacknowledged: bool = False
    """:attr:`outstanding` has not been PRACKed yet."""
    with_sdp: bool = False
    answer_acknowledged: bool = False
    """A reliable 1xx with our SDP answer was PRACKed: the INVITE's offer/answer is complete
    and the caller may send new offers in UPDATEs before the 2xx (RFC 3311 §5.1)."""
    interval: float = 0.0
    retransmit: Timer | None = None
    give_up: Timer | None = None
    waiting: deque[Send] = field(default_factory=deque)


@dataclass(slots=True, eq=False)
class CallSession:
    """Everything the user agent keeps about one call; the application sees :attr:`info`.

    An incoming call has the INVITE server :attr:`transaction` and a dialog
    from :meth:`~sipgw.sip.dialog.Dialog.for_uas`; an outbound call has no server
    transaction but a :attr:`uac` leg, and its dialog comes from
    :meth:`~sipgw.sip.dialog.Dialog.for_uac` when the 2xx arrives.

    Attributes:
        info: the application's read-only view, kept current here.
        invite: the INVITE that created the call (ours, on an outbound call).
        transaction: its server transaction (None on an outbound call).
        dialog: the dialog (early until our 2xx; on an outbound call, built
            from our INVITE until the 2xx gives the confirmed one).
        offer: the SDP offer of the INVITE, None for a delayed offer.
        choice: what we accept of :attr:`offer` (:func:`sipgw.sip.offeranswer.choose_answer`),
            chosen when the INVITE came and kept for the answer.
        codecs: the call's own codecs, most preferred first (a line's or account's, given
            by the application before the answer: :meth:`InviteUsage.prefer_codecs`); None:
            the gateway's (``UserAgentConfig.codecs``).
        local_media: our media parameters once answered.
        local_sdp: the SDP we last sent.
        offer_in_2xx: we sent an offer in a 2xx and wait for the answer in the ACK.
        pending_ack: our 2xx still waiting for its ACK.
        bye_pending: the application hung up before the ACK (§15): BYE once it comes.
        end_reported: CallEnded went out (exactly once per call).
        session_timer: the RFC 4028 timer agreed, if any.
        session_deadline: our next refresh, or the expiry we watch for.
        uac: the outbound call's UAC state; None for an incoming call.
        refer: where our last REFER stands (:mod:`sipgw.sip.usages.refer`): "" (none),
            "open" (its final NOTIFY is awaited), "timed out" (it did not come in
            time), "done".
        refer_deadline: when a REFER that was accepted is given up on without a
            final NOTIFY.
        referred: the peer's REFER we have not answered yet, with its server
            transaction (:mod:`sipgw.sip.usages.referee`).
        referred_open: the peer's REFER was accepted and its final NOTIFY not sent yet.
        referred_deadline: when the peer's REFER is declined for want of an answer.
        reliable: an incoming call whose INVITE requires ``100rel``: its reliable 1xx
            (:mod:`sipgw.sip.usages.prack`); None: 1xx go the usual way.
        recording_ports: a recording session answered as its SRS (RFC 7866,
            :mod:`sipgw.sip.srs`): our RTP port of each ``m=`` line we receive, by index;
            None for any other call.
        recording_offer: its re-INVITE or UPDATE that adds streams, until answered.
        snapshot_requests: how many metadata snapshot requests it was sent (RFC 7866 §9.3,
            :mod:`sipgw.sip.usages.snapshot`).
    """

    info: CallInfo
    invite: SipRequest
    transaction: InviteServerTransaction | None
    dialog: Dialog
    offer: SessionDescription | None
    choice: OfferChoice | None = None
    codecs: tuple[RtpCodec, ...] | None = None
    local_media: LocalMedia | None = None
    local_sdp: SessionDescription | None = None
    offer_in_2xx: bool = False
    pending_ack: PendingAck | None = None
    bye_pending: bool = False
    end_reported: bool = False
    session_timer: SessionTimer | None = None
    session_deadline: Timer | None = None
    uac: UacLeg | None = None
    refer: str = ""
    refer_deadline: Timer | None = None
    referred: tuple[ServerTransaction, SipRequest] | None = None
    referred_open: bool = False
    referred_deadline: Timer | None = None
    reliable: ReliableState | None = None
    recording_ports: dict[int, int] | None = None
    recording_offer: PendingRecordingOffer | None = None
    snapshot_requests: int = 0

    @property
    def key(self) -> CallKey:
        """The call's key in the user agent's table."""
        return self.info.key

    @property
    def state(self) -> CallState:
        """Where the call is (as the application sees it)."""
        return self.info.state

    @state.setter
    def state(self, value: CallState) -> None:
        self.info.update_state(value)

    @property
    def media(self) -> NegotiatedAudio | None:
        """The media agreed so far."""
        return self.info.media

    @media.setter
    def media(self, value: NegotiatedAudio) -> None:
        self.info.update_media(value)

    @property
    def server_transaction(self) -> InviteServerTransaction:
        """The INVITE server transaction of an incoming call.

        Raises:
            InvalidState: the call is outbound (we sent the INVITE).
        """
        if self.transaction is None:
            raise InvalidState("an outbound call has no INVITE server transaction")
        return self.transaction

    @property
    def peer_allow(self) -> list[str]:
        """The methods the peer said it allows (its INVITE's, or its 2xx's, Allow)."""
        if self.uac is not None:
            return self.uac.peer_allow
        return self.invite.headers.get_all("Allow")

    @property
    def peer_supported(self) -> list[str]:
        """The option tags the peer said it supports (its INVITE's, or its 2xx's, Supported)."""
        if self.uac is not None:
            return self.uac.peer_supported
        return self.invite.headers.get_all("Supported")

    def stop_timers(self, heap: TimerHeap) -> None:
        """Cancel every deadline of the call (2xx retransmission, no-ACK, session timer,
        a REFER's wait for its NOTIFY, the peer's REFER's wait for our answer)."""
        pending = self.pending_ack
        if pending is not None:
            heap.cancel(pending.retransmit)
            heap.cancel(pending.give_up)
            self.pending_ack = None
        heap.cancel(self.session_deadline)
        self.session_deadline = None
        heap.cancel(self.refer_deadline)
        self.refer_deadline = None
        heap.cancel(self.referred_deadline)
        self.referred_deadline = None
        if self.recording_offer is not None:
            heap.cancel(self.recording_offer.deadline)
            self.recording_offer.deadline = None
        if self.uac is not None:
            heap.cancel(self.uac.ring_timer)
            heap.cancel(self.uac.cancel_timer)
            self.uac.ring_timer = self.uac.cancel_timer = None
