"""One call's signalling state: the dialog (RFC 3261 §12) and the call phase."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any

from sipgw.addressing import Flow, is_private_address, uri_flow
from sipgw.headers import NameAddr, Via
from sipgw.message import Headers, SipRequest
from sipgw.offeranswer import LocalMedia, NegotiatedAudio
from sipgw.sdp import SessionDescription
from sipgw.sessiontimer import SessionTimer
from sipgw.transaction import InviteServerTransaction
from sipgw.uri import SipUri, Uri

__all__ = ["Call", "CallState", "Dialog"]


class CallState(Enum):
    """Where an incoming call is.

    INCOMING → RINGING → ANSWERED (2xx sent) → CONFIRMED (ACK) → ENDING (our
    BYE in flight) → ENDED. CANCEL, a rejection or a BYE can end it earlier.
    """

    INCOMING = auto()
    RINGING = auto()
    ANSWERED = auto()
    CONFIRMED = auto()
    ENDING = auto()
    ENDED = auto()


@dataclass(slots=True)
class Dialog:
    """A dialog as the UAS sees it (RFC 3261 §12.1.1).

    Attributes:
        local_uri: the INVITE's To value with our tag; the From of our requests.
        remote_uri: the INVITE's From value; the To of our requests.
        remote_target: the peer's Contact URI (updated by target refreshes).
        route_set: the INVITE's Record-Route values, in order.
        source: the flow the INVITE arrived on.
        nat_fix: send in-dialog requests to ``source`` instead of the Contact
            when the Contact is a private address the request did not come from.
    """

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: Uri
    route_set: list[str]
    source: Flow
    local_cseq: int
    remote_cseq: int
    nat_fix: bool = True

    def next_request(
        self, method: str, via: Via, *, user_agent: str, extra: Headers | None = None
    ) -> tuple[SipRequest, Flow]:
        """Build an in-dialog request and where it goes (RFC 3261 §12.2.1.1)."""
        if method not in ("ACK", "CANCEL"):
            self.local_cseq += 1
        headers = Headers()
        headers.add("Via", str(via))
        target = str(self.remote_target)
        destination: Uri = self.remote_target
        if self.route_set:
            first = NameAddr.parse(self.route_set[0]).uri
            destination = first
            if isinstance(first, SipUri) and "lr" not in first.params:
                # Strict routing (§12.2.1.1): the first route becomes the R-URI
                # and the remote target goes last in the Route set.
                strict = SipUri(
                    first.scheme,
                    first.user,
                    first.password,
                    first.host,
                    first.port,
                    dict(first.params),
                )
                target = str(strict)
                for route in self.route_set[1:]:
                    headers.add("Route", route)
                headers.add("Route", f"<{self.remote_target}>")
            else:
                for route in self.route_set:
                    headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", self.local_uri)
        headers.add("To", self.remote_uri)
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{self.local_cseq} {method}")
        headers.add("User-Agent", user_agent)
        for name, value in extra or ():
            headers.add(name, value)
        return SipRequest(method, target, headers), self._flow_to(destination, via.transport)

    def _flow_to(self, uri: Uri, transport: str) -> Flow:
        if self.source.reliable and not self.route_set:
            return self.source  # reuse the connection the call came on
        if not isinstance(uri, SipUri):
            return self.source
        flow = uri_flow(uri, transport)
        host = flow.address[0]
        if (
            self.nat_fix
            and not self.route_set
            and is_private_address(host)
            and flow.address != self.source.address
        ):
            return self.source  # Contact written behind a NAT: answer where it came from
        return flow


@dataclass(slots=True, eq=False)
class Call:
    """An incoming call as the user agent core tracks it.

    The application reads the identity fields and ``media``; everything else
    belongs to :class:`sipgw.useragent.UserAgent`. ``context`` is free for
    the application to attach its own per-call object.
    """

    call_id: str
    invite: SipRequest
    transaction: InviteServerTransaction
    dialog: Dialog
    offer: SessionDescription | None
    state: CallState = CallState.INCOMING
    media: NegotiatedAudio | None = None
    local_media: LocalMedia | None = None
    local_sdp: SessionDescription | None = None
    offer_in_2xx: bool = False
    """We sent an offer in a 2xx and wait for the answer in the ACK."""
    awaiting_ack_cseq: int | None = None
    retransmit_bytes: bytes | None = None
    retransmit_interval: float = 0.0
    pending_invite: InviteServerTransaction | None = None
    bye_pending: bool = False
    end_reported: bool = False
    session_timer: SessionTimer | None = None
    timers: dict[str, float] = field(default_factory=dict)
    context: Any = None

    @property
    def caller(self) -> NameAddr:
        """Who is calling (the From)."""
        return self.invite.from_

    @property
    def called(self) -> NameAddr:
        """Who was called (the To)."""
        return self.invite.to

    @property
    def established(self) -> bool:
        """Whether a 2xx was sent (media may flow)."""
        return self.state in (CallState.ANSWERED, CallState.CONFIRMED)

    @property
    def log_id(self) -> str:
        """A short identifier for log lines."""
        return self.call_id[:24]
