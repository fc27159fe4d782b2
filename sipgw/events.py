"""Events the user agent core hands to the application (past tense, immutable).

Each names its call by the call's read-only :class:`~sipgw.call.CallInfo`,
the same object in every event about that call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sipgw.access import Refusal
from sipgw.addressing import Address
from sipgw.call import CallInfo
from sipgw.offeranswer import NegotiatedAudio

__all__ = [
    "TransferStage",
    "TransferUpdated",
    "CallConfirmed",
    "CallEnded",
    "CallOffered",
    "DtmfReceived",
    "EndReason",
    "MediaUpdated",
    "PublicAddressObserved",
    "RequestRefused",
    "SipEvent",
]


class EndReason(Enum):
    """Why a call ended; the value is what logs and call records show."""

    REMOTE_BYE = "remote-bye"
    """The caller hung up (BYE)."""
    LOCAL_BYE = "local-bye"
    """We hung up (agent, RTP timeout, shutdown)."""
    CANCELLED = "cancelled"
    """The caller gave up while it was ringing (CANCEL → 487)."""
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


@dataclass(frozen=True, slots=True)
class CallOffered:
    """A new INVITE passed validation; answer it with ring/answer/reject."""

    call: CallInfo


@dataclass(frozen=True, slots=True)
class CallConfirmed:
    """The ACK for our 2xx arrived: the dialog is confirmed."""

    call: CallInfo


@dataclass(frozen=True, slots=True)
class MediaUpdated:
    """The session's media changed (re-INVITE, UPDATE, or the answer in an ACK)."""

    call: CallInfo
    media: NegotiatedAudio


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """A keypad digit signalled in SIP INFO (RFC 4733 digits come via RTP)."""

    call: CallInfo
    digit: str
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over; emitted exactly once per offered call.

    Attributes:
        status: the final SIP status sent or received, when one applies.
    """

    call: CallInfo
    reason: EndReason
    status: int | None = None


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
    """A NOTIFY reported a final error (busy, no answer, ...)."""

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
class RequestRefused:
    """A request that would have cost something was not admitted (:mod:`sipgw.access`).

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


SipEvent = (
    CallOffered
    | CallConfirmed
    | MediaUpdated
    | DtmfReceived
    | CallEnded
    | TransferUpdated
    | RequestRefused
    | PublicAddressObserved
)
