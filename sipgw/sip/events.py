"""Events the user agent core hands to the application (past tense, immutable).

Each names its call by the call's read-only :class:`~sipgw.sip.call.CallInfo`,
the same object in every event about that call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sipgw.sip.access import Refusal
from sipgw.sip.addressing import Address, Flow
from sipgw.sip.call import CallInfo
from sipgw.sip.finalreply import FinalReply
from sipgw.sip.offeranswer import NegotiatedAudio
from sipgw.sip.uri import SipUri

__all__ = [
    "TransferStage",
    "TransferUpdated",
    "TransferRequested",
    "CallAnswered",
    "CallConfirmed",
    "CallEnded",
    "CallOffered",
    "CallProgress",
    "CallRedirected",
    "InviteRefusedForOverload",
    "DtmfReceived",
    "EndReason",
    "MediaUpdated",
    "RecordingSnapshotAnswered",
    "RecordingMetadataReceived",
    "RecordingStreamsOffered",
    "RecordingStreamsUpdated",
    "PublicAddressObserved",
    "RequestRefused",
    "RegistrationChanged",
    "RegistrationState",
    "SipEvent",
]


class EndReason(Enum):
    """Why a call ended; the value is what logs and call records show."""

    REMOTE_BYE = "remote-bye"
    """The peer hung up (BYE)."""
    LOCAL_BYE = "local-bye"
    """We hung up (agent, RTP timeout, shutdown)."""
    CANCELLED = "cancelled"
    """Whoever called gave up while it rang: the caller's CANCEL (→ 487), or
    on an outbound call our hang-up before the answer (our CANCEL)."""
    REJECTED = "rejected"
    """We answered the INVITE with a final error response."""
    NO_ACK = "no-ack"
    """Our 2xx was never acknowledged within 64·T1 (RFC 3261 §13.3.1.4)."""
    SESSION_EXPIRED = "session-expired"
    """No session refresh arrived in time (RFC 4028 §10)."""
    MEDIA_FAILED = "media-failed"
    """We offered SDP in our 2xx and the ACK brought no usable answer."""
    TRANSPORT_ERROR = "transport-error"
    """A request of ours could not be delivered or timed out."""
    BUSY = "busy"
    """Outbound: the peer is busy (486 Busy Here, 600 Busy Everywhere)."""
    DECLINED = "declined"
    """Outbound: the peer declined the call (603 Decline)."""
    NO_ANSWER = "no-answer"
    """Outbound: nobody answered: our ring timeout (CANCEL), 480 or 408."""
    UNREACHABLE = "unreachable"
    """Outbound: the target cannot be reached: no response at all to the INVITE
    (timeout or transport error), 404, 410, 484, 502, 503, 504, 604, ..."""
    FAILED = "failed"
    """Outbound: any other final error (e.g. 401/407 we could not answer, 488)."""


@dataclass(frozen=True, slots=True)
class CallOffered:
    """A new INVITE passed validation; answer it with ring/answer/reject."""

    call: CallInfo


@dataclass(frozen=True, slots=True)
class CallConfirmed:
    """The ACK for our 2xx arrived: the dialog is confirmed."""

    call: CallInfo


@dataclass(frozen=True, slots=True)
class CallProgress:
    """A provisional response to our INVITE (outbound calls): 180 Ringing, 183, ...

    Attributes:
        status: the 1xx status (100 Trying is not reported).
        reason: its reason phrase.
        early_media: the response carried an SDP answer, so the peer may send
            audio before it answers (ring-back tones, announcements); :attr:`media`
            says where from.
        media: the early media agreed, when :attr:`early_media`.
    """

    call: CallInfo
    status: int
    reason: str
    early_media: bool = False
    media: NegotiatedAudio | None = None


@dataclass(frozen=True, slots=True)
class CallRedirected:
    """A final response to our INVITE that a redirect may follow (RFC 3261 §8.1.3.4): a 3xx,
    or a failure of a target a 3xx gave while it gave others.

    Attributes:
        status: the response's status (0: no response at all).
        reason: its reason phrase.
        target: where the INVITE goes now; None = nowhere, the call ends with ``status``.
        refused: the 3xx's targets the call may not go to (:class:`~sipgw.sip.redirect.Redirects`).
        why: when ``target`` is None, why not: ``"hops"`` (more 3xx than the call follows),
            ``"refused"`` (every target refused) or ``"none"`` (no SIP URI left to try).
    """

    call: CallInfo
    status: int
    reason: str
    target: SipUri | None
    refused: tuple[str, ...] = ()
    why: str = ""


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """A 2xx to our INVITE arrived and was acknowledged: the outbound call is up.

    Attributes:
        media: what the 2xx's SDP answer (or the early dialog's) agreed.
        custom: the 2xx's ``X-`` headers, name as sent and first value
            (:func:`~sipgw.sip.customheaders.received_custom_headers`).
        recorded: a recording session's streams (:mod:`sipgw.sip.siprec`), in label order:
            where each goes, None for one the recording server does not take; empty for
            another call.
    """

    call: CallInfo
    media: NegotiatedAudio
    custom: tuple[tuple[str, str], ...] = ()
    recorded: tuple[NegotiatedAudio | None, ...] = ()


@dataclass(frozen=True, slots=True)
class MediaUpdated:
    """The session's media changed (re-INVITE, UPDATE, or the answer in an ACK)."""

    call: CallInfo
    media: NegotiatedAudio


@dataclass(frozen=True, slots=True)
class RecordingMetadataReceived:
    """A recording session's SRC sent new metadata in a re-INVITE or UPDATE (RFC 7866 §8;
    :mod:`sipgw.sip.rsmetadata` reads it), answered already; or, when its offer adds
    streams, just before :class:`RecordingStreamsOffered` (so the new streams are named)."""

    call: CallInfo
    metadata: bytes
    """The ``application/rs-metadata+xml`` document, as received."""


@dataclass(frozen=True, slots=True)
class RecordingStreamsOffered:
    """A recording session's re-INVITE or UPDATE offers new streams (RFC 7866 §8.1, a new
    participant, a transfer): it waits for their RTP ports, given with
    :meth:`~sipgw.sip.useragent.UserAgent.answer_recording_offer` (a stream given none is
    rejected, port 0); :data:`~sipgw.sip.usages.modify.RECORDING_OFFER_WAIT` seconds
    without them, and the core answers with every new stream rejected."""

    call: CallInfo
    indexes: tuple[int, ...]
    """The ``m=`` line of each new stream, in order (at most
    :data:`~sipgw.sip.srs.MAX_RECORDED_STREAMS` recorded in all)."""
    labels: tuple[str, ...]
    """Each one's ``a=label`` ("" for a line without one)."""


@dataclass(frozen=True, slots=True)
class RecordingStreamsUpdated:
    """A recording session's re-INVITE or UPDATE was answered with a new offer (RFC 7866 §8:
    a pause, ``a=inactive``; a resume; a new address, codec or key; a stream added or
    removed): what its streams agree now, each with the ``media_index`` of its ``m=`` line."""

    call: CallInfo
    streams: tuple[NegotiatedAudio, ...]
    removed: tuple[int, ...] = ()
    """The ``m=`` lines of the streams that ended (port 0 in the offer, RFC 3264 §8.2, or
    rejected in our answer)."""
    refused: tuple[int, ...] = ()
    """The new recordable lines rejected (port 0): over
    :data:`~sipgw.sip.srs.MAX_RECORDED_STREAMS`, given no port, or in no codec of ours."""


@dataclass(frozen=True, slots=True)
class RecordingSnapshotAnswered:
    """The SRC's answer to our metadata snapshot request (RFC 7866 §9.3,
    :mod:`sipgw.sip.usages.snapshot`); the snapshot itself comes in a re-INVITE or UPDATE
    of its own (:class:`RecordingMetadataReceived`)."""

    call: CallInfo
    status: int
    """The UPDATE's final status (408: no answer)."""


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """A keypad digit signalled in SIP INFO (RFC 4733 digits come via RTP)."""

    call: CallInfo
    digit: str
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over; emitted exactly once per offered or placed call.

    Attributes:
        status: the final SIP status sent or received, when one applies (on an
            outbound call that never got one: 408 for no response, 503 for a
            transport error, RFC 3261 §8.1.3.1).
        reply: on an outbound call the far end refused, what its final response said
            (reason phrase, Reason and Warning headers).
    """

    call: CallInfo
    reason: EndReason
    status: int | None = None
    reply: FinalReply | None = None


class TransferStage(Enum):
    """Where a blind transfer (REFER, RFC 3515) stands."""

    REJECTED = "rejected"
    """The REFER got an error response or no response: nothing happens."""
    ACCEPTED = "accepted"
    """The REFER got 2xx: the caller's phone is calling the target."""
    PROGRESS = "progress"
    """A NOTIFY reported a provisional status (the target rings)."""
    SUCCEEDED = "succeeded"
    """A NOTIFY reported 2xx: the caller is connected to the target."""
    FAILED = "failed"
    """A NOTIFY reported a final error (busy, no answer, ...), or the subscription ended
    without one, or no final NOTIFY came in time after the 2xx (status 408)."""

    @property
    def final(self) -> bool:
        """No further update follows."""
        return self in (TransferStage.REJECTED, TransferStage.SUCCEEDED, TransferStage.FAILED)


@dataclass(frozen=True, slots=True)
class TransferUpdated:
    """News about a transfer we asked for with :meth:`UserAgent.refer`.

    Attributes:
        status: the REFER's status, or the one in the NOTIFY's sipfrag body.
        reason: its reason phrase.
    """

    call: CallInfo
    stage: TransferStage
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class TransferRequested:
    """The peer asked us to transfer the call (a REFER in its dialog, RFC 3515 §2.4).

    The application answers with :meth:`UserAgent.answer_refer` (202: accepted, or a
    refusal) and reports the outcome with :meth:`UserAgent.notify_refer`
    (:mod:`sipgw.sip.usages.referee`).

    Attributes:
        refer_to: the ``Refer-To`` header's value as received (``<sip:bob@example.com>``).
        target: its URI (embedded headers included), e.g. ``sip:bob@example.com``.
        referred_by: the ``Referred-By`` header's value, "" without one.
    """

    call: CallInfo
    refer_to: str
    target: str
    referred_by: str


@dataclass(frozen=True, slots=True)
class RequestRefused:
    """A request that would have cost something was not admitted (:mod:`sipgw.sip.access`).

    It was answered (401 with a challenge, or 403) and no call exists for it.

    Attributes:
        source: where it came from (the packet's address).
        method: its method, e.g. INVITE.
        caller: its From URI, as sent (unverified).
        refusal: why; ``refusal.status`` is the status answered.
        username: the user name of its credentials, if it carried any.
    """

    source: Address
    method: str
    caller: str
    refusal: Refusal
    username: str | None = None


@dataclass(frozen=True, slots=True)
class InviteRefusedForOverload:
    """A new INVITE was answered 503 because the application said it is overloaded
    (:attr:`UserAgent.overload_retry_after <sipgw.sip.useragent.UserAgent.overload_retry_after>`);
    no call exists for it.

    Attributes:
        source: where it came from (the packet's address).
        caller: its From URI, as sent (unverified).
    """

    source: Address
    caller: str


@dataclass(frozen=True, slots=True)
class PublicAddressObserved:
    """A peer saw our requests come from another address than the one we announce.

    Read from ``received``/``rport`` in the Via of a response to one of our
    requests (RFC 3261 §18.2.1, RFC 3581 §4): behind a NAT this is the public
    address, which should be the configured one. Reported when it first
    differs, and again each time it changes.

    Attributes:
        announced: the host and port we write into Via and Contact.
        observed: the host and port the peer saw (the port only over UDP;
            over TCP/TLS it is the announced one, as our connection's port
            says nothing about where we listen).
        peer: who saw it (the response's source).
    """

    announced: Address
    observed: Address
    peer: Address


class RegistrationState(Enum):
    """Where a registration (RFC 3261 §10) stands; the value is what logs show."""

    REGISTERED = "registered"
    """The registrar accepted our binding; refreshes keep it."""
    FAILED = "failed"
    """The last attempt failed; another follows after the backoff."""
    UNREGISTERED = "unregistered"
    """The binding was removed (or never made) and the registration stopped."""


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    """A registration changed state (and every failed attempt, with its reason).

    Attributes:
        aor: the address of record, e.g. ``sip:1001@pbx.example.com``.
        state: where it stands now.
        registrar: where the REGISTERs go (registrar or outbound proxy).
        expires: the expiry the registrar granted, seconds (when registered).
        status: the SIP status behind the change (408 for no response), if any.
        reason: its reason phrase, or what went wrong.
        retry_in: seconds until the next attempt (when failed).
    """

    aor: str
    state: RegistrationState
    registrar: Flow
    expires: int | None = None
    status: int | None = None
    reason: str = ""
    retry_in: float | None = None


SipEvent = (
    CallOffered
    | CallProgress
    | CallRedirected
    | CallAnswered
    | CallConfirmed
    | MediaUpdated
    | RecordingMetadataReceived
    | RecordingStreamsOffered
    | RecordingStreamsUpdated
    | RecordingSnapshotAnswered
    | DtmfReceived
    | CallEnded
    | TransferUpdated
    | TransferRequested
    | RequestRefused
    | InviteRefusedForOverload
    | PublicAddressObserved
    | RegistrationChanged
)
