"""What every dialog usage shares: the user agent's services and its table of calls.

:class:`UsageContext` holds the transaction layer, the one timer heap, the
calls by key, and the queue of events for the application, and builds the
responses and in-dialog requests the usages send. Ending a call lives here
too, since every usage can end one: :meth:`UsageContext.end` reports
:class:`~sipgw.sip.events.CallEnded` exactly once, :meth:`UsageContext.send_bye`
sends our BYE and :meth:`UsageContext.forget` drops the call.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable

from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallInfo, CallKey, CallState
from sipgw.sip.config import UserAgentConfig
from sipgw.sip.errors import RemoteProtocolError, SipError
from sipgw.sip.events import CallEnded, EndReason, MediaUpdated, SipEvent
from sipgw.sip.finalreply import FinalReply
from sipgw.sip.headers import Via
from sipgw.sip.mediatarget import MediaAddressRefused
from sipgw.sip.message import REASON_PHRASES, Headers, SipRequest, SipResponse, make_response
from sipgw.sip.offeranswer import NegotiatedAudio
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.srs import SRS_FEATURE
from sipgw.sip.timers import TimerHeap
from sipgw.sip.transaction import (
    InviteServerTransaction,
    OnFinal,
    ServerTransaction,
    State,
    TransactionLayer,
)
from sipgw.sip.uri import SipUri
from sipgw.sip.usages.session import CallSession

__all__ = [
    "ACCEPT",
    "ALLOW",
    "DRAIN_RETRY_AFTER",
    "SUPPORTED",
    "Rejection",
    "UsageContext",
    "reason_phrase",
]

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, NOTIFY, REFER"
ACCEPT = "application/sdp, application/dtmf-relay, application/dtmf, multipart/mixed"
SUPPORTED = "timer"
DRAIN_RETRY_AFTER = 30
"""Retry-After (seconds) of a 503 while draining, and of any 503 with no overload set."""


class Rejection(RemoteProtocolError):
    """A request refused with a status that needs header fields of its own.

    E.g. 420 with Unsupported (RFC 3261 §8.2.2.3) or 422 with Min-SE (RFC 4028 §6).

    Attributes:
        headers: the (name, value) pairs to add to the response.
    """

    def __init__(self, message: str, status: int, headers: Iterable[tuple[str, str]]) -> None:
        super().__init__(message, status)
        self.headers = tuple(headers)


def reason_phrase(status: int, detail: str | None = None) -> str:
    """A reason phrase; with ``detail`` (for 400 and 500) it says what was wrong."""
    phrase = REASON_PHRASES.get(status, "Unknown")
    if not detail:
        return phrase
    printable = "".join(ch if ch.isprintable() else "?" for ch in detail)[:120]
    return f"{phrase} ({printable})"


class UsageContext:
    """The user agent's state and helpers, shared by the dialog usages.

    Args:
        config: the core's settings.
        rng: random source for tags, branches and session ids.
    """

    def __init__(self, config: UserAgentConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.heap = TimerHeap()
        self.transactions = TransactionLayer(config.timers, rng, self.heap)
        self.events: deque[SipEvent] = deque()
        self.calls: dict[CallKey, CallSession] = {}
        # Incoming calls by (Call-ID, From tag): a request without our tag
        # (CANCEL, a second INVITE) names its call that way.
        self._incoming: dict[tuple[str, str], CallSession] = {}
        self.draining = False
        self.overload_retry_after: int | None = None
        self.overload_refused = 0
        self.other_calls = 0

    # ------------------------------------------------------------------ the call table

    def new_tag(self) -> str:
        """A fresh tag for To or From (RFC 3261 §19.3)."""
        return f"{self.rng.getrandbits(48):012x}"

    def add(self, session: CallSession) -> None:
        """Track a new call."""
        self.calls[session.key] = session
        if session.uac is None:
            self._incoming[(session.dialog.call_id, session.dialog.remote_tag)] = session

    def session_of(self, call: CallInfo) -> CallSession | None:
        """The live session behind an application's view, or None once forgotten."""
        session = self.calls.get(call.key)
        return session if session is not None and session.info is call else None

    def find_dialog(self, request: SipRequest) -> CallSession | None:
        """The call an in-dialog request from the peer belongs to (§12.2.2)."""
        session = self.calls.get((request.call_id, request.to.tag or ""))
        if session is None:
            return None
        tag = request.from_.tag or ""
        if session.dialog.remote_tag == tag:
            return session
        leg = session.uac  # a placed call not answered yet: its early dialogs (§12.1)
        if leg is not None and not leg.answered and tag in leg.early_tags:
            return session
        return None

    def find_incoming(self, call_id: str, remote_tag: str) -> CallSession | None:
        """An incoming call by its Call-ID and the caller's tag."""
        return self._incoming.get((call_id, remote_tag))

    def check_media(self, address: str, source: str) -> None:
        """Whether we may send to the address the peer's SDP named (:mod:`sipgw.sip.mediatarget`).

        Args:
            address: the ``c=`` address offer/answer agreed on.
            source: the host the signalling came from.

        Raises:
            MediaAddressRefused: 488 with why (an SdpError).
        """
        self.config.media_targets.check(address, source)

    def set_media(self, session: CallSession, media: NegotiatedAudio) -> None:
        """Record new media and tell the application."""
        session.media = media
        self.events.append(MediaUpdated(session.info, media))

    # ------------------------------------------------------------------ ending a call

    def end(
        self,
        session: CallSession,
        reason: EndReason,
        status: int | None = None,
        keep_dialog: bool = False,
        reply: FinalReply | None = None,
    ) -> None:
        """Report CallEnded once; forget the call unless a BYE is still to go out."""
        if not session.end_reported:
            session.end_reported = True
            self.events.append(CallEnded(session.info, reason, status, reply))
        if not keep_dialog:
            self.forget(session)

    def hang_up(
        self, session: CallSession, reason: EndReason, now: float, status: int | None = None
    ) -> None:
        """End a confirmed (or given-up) call with our BYE."""
        self.send_bye(session, now)
        self.end(session, reason, status, keep_dialog=True)

    def send_bye(self, session: CallSession, now: float) -> None:
        """Send BYE; the call is forgotten when it completes or times out."""
        session.state = CallState.ENDING
        session.stop_timers(self.heap)
        self.send_in_dialog(session, "BYE", now, lambda outcome, now: self.forget(session))

    def forget(self, session: CallSession) -> None:
        """Drop the call (idempotent)."""
        session.state = CallState.ENDED
        session.stop_timers(self.heap)
        if self.calls.get(session.key) is session:
            del self.calls[session.key]
        incoming = (session.dialog.call_id, session.dialog.remote_tag)
        if self._incoming.get(incoming) is session:
            del self._incoming[incoming]

    # ------------------------------------------------------------------ requests we send

    def send_in_dialog(
        self,
        session: CallSession,
        method: str,
        now: float,
        on_final: OnFinal,
        extra: Headers | None = None,
        body: bytes = b"",
    ) -> None:
        """Send a request in the call's dialog (``extra`` headers, ``body`` with its
        Content-Type among them); its outcome goes to ``on_final``."""
        via = self.new_via(session.dialog.request_flow())
        request, flow = session.dialog.next_request(
            method, via, user_agent=self.config.user_agent, extra=extra
        )
        request.body = body
        self.transactions.send_request(request, flow, now, on_final)

    def new_via(self, flow: Flow) -> Via:
        """A Via (fresh branch, ``rport``) for a request we send on ``flow``.

        Its transport and sent-by are those of the flow's transport (RFC 3261 §18.1.1).
        """
        return self.transactions.new_via(flow.transport, self.config.sent_by_for(flow.transport))

    def contact(self, request: SipRequest, transport: str | None = None) -> str:
        """Our Contact for a dialog set up by ``request`` over ``transport``.

        The user part is the Request-URI's; the address and port are ours for
        that transport (default: the configured one). Over TLS, a request with a
        SIPS Request-URI or top Record-Route (RFC 3261 §12.1.1) gets a SIPS Contact.
        """
        uri = request.request_uri
        user = uri.user if isinstance(uri, SipUri) and uri.user else ""
        transport = (transport or self.config.transport).upper()
        return self.config.contact(user, transport, secure=_is_sips_request(request))

    def session_contact(self, session: CallSession) -> str:
        """Our Contact in the call's dialog: an outbound call keeps the one of its INVITE,
        an inbound one names the transport its dialog was set up on."""
        if session.uac is not None:
            return session.uac.contact
        contact = self.contact(session.invite, session.dialog.source.transport)
        if session.recording_ports is not None:
            contact += f";{SRS_FEATURE}"  # a recording session's SRS (RFC 7866 §6.1.1)
        return contact

    # ------------------------------------------------------------------ responses we send

    def dialog_response(
        self, session: CallSession, status: int, request: SipRequest | None = None
    ) -> SipResponse:
        """A response that creates or refreshes the dialog: tag, Contact, Record-Route (§12.1.1)."""
        req = request or session.invite
        response = make_response(req, status, to_tag=session.dialog.local_tag)
        for route in req.headers.get_all("Record-Route"):
            response.headers.add("Record-Route", route)
        response.headers.add("Contact", self.session_contact(session))
        if status >= 200:
            response.headers.add("Allow", ALLOW)
            response.headers.add("Supported", SUPPORTED)
        if self.config.user_agent:
            response.headers.add("Server", self.config.user_agent)
        return response

    @staticmethod
    def attach_sdp(response: SipResponse, sdp: SessionDescription) -> None:
        """Make ``sdp`` the response's body."""
        response.headers.set("Content-Type", "application/sdp")
        response.body = sdp.serialize()

    def respond(self, tx: ServerTransaction, req: SipRequest, status: int, now: float) -> None:
        """Answer with a plain response (a To tag if needed, Allow or Accept where due)."""
        to_tag = None
        if status > 100 and not req.to.tag:
            to_tag = self.new_tag()
        response = make_response(req, status, to_tag=to_tag)
        self._decorate(response, req, status)
        self.transactions.respond(tx, response, now)

    def respond_error(
        self, tx: ServerTransaction, req: SipRequest, exc: RemoteProtocolError, now: float
    ) -> None:
        """Answer a request we refuse with the status the error names, if still possible."""
        if tx.state not in (State.TRYING, State.PROCEEDING):
            return  # already answered
        status = exc.status_hint
        to_tag = None
        try:
            if not req.to.tag:
                to_tag = self.new_tag()
        except SipError:
            pass
        reason = str(exc) if status in (400, 500) else None
        response = make_response(req, status, reason_phrase(status, reason), to_tag=to_tag)
        self._decorate(response, req, status)
        if isinstance(exc, Rejection):
            for name, value in exc.headers:
                response.headers.add(name, value)
        elif status == 500:
            response.headers.add("Retry-After", str(self.rng.randint(0, 10)))
        elif isinstance(exc, MediaAddressRefused):  # RFC 3261 §20.43: 399, the reason
            response.headers.add("Warning", f'399 {self.config.public_host} "{exc}"')
        elif status == 488:
            response.headers.add("Warning", f'304 {self.config.public_host} "{exc}"')
        elif status == 406:
            response.headers.add("Warning", f'399 {self.config.public_host} "{exc}"')
            response.headers.add("Accept", ACCEPT)
        try:
            if not req.to.tag and tx.last_response is None and not tx.reliable and status >= 300:
                # An INVITE refused before anything was sent: once, no Timer G (see
                # sipgw.sip.transaction); another request simply gets its response.
                if isinstance(tx, InviteServerTransaction):
                    self.transactions.respond_once(tx, response)
                    return
            self.transactions.respond(tx, response, now)
        except SipError:
            pass

    def _decorate(self, response: SipResponse, req: SipRequest, status: int) -> None:
        if status in (405, 501) or (req.method == "OPTIONS" and status == 200):
            response.headers.add("Allow", ALLOW)
        if status == 415 or (req.method == "OPTIONS" and status == 200):
            response.headers.add("Accept", ACCEPT)
        if req.method == "OPTIONS" and status == 200:
            response.headers.add("Accept-Encoding", "identity")
            response.headers.add("Supported", SUPPORTED)
        if status == 503:  # RFC 3261 §21.5.4; while draining the drain's own value wins
            retry_after = self.overload_retry_after
            if self.draining or retry_after is None:
                retry_after = DRAIN_RETRY_AFTER
            response.headers.add("Retry-After", str(retry_after))
        if self.config.user_agent:  # optional (RFC 3261 §20.35); none by default
            response.headers.add("Server", self.config.user_agent)


def _is_sips_request(request: SipRequest) -> bool:
    """Whether ``request`` asks for a SIPS dialog (RFC 3261 §12.1.1)."""
    try:
        if request.request_uri.scheme == "sips":
            return True
        routes = request.record_routes
        return bool(routes) and routes[0].uri.scheme == "sips"
    except SipError:
        return False
