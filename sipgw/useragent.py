"""The user agent core: answers calls over the transaction layer, sans-IO.

Theory of operation
-------------------
Bytes come in with :meth:`UserAgent.receive_datagram`; they are parsed,
stamped with ``received``/``rport`` (RFC 3261 §18.2.1, RFC 3581 §4) and
handed to the :class:`~sipgw.transaction.TransactionLayer`. The layer's
events drive this core, which validates requests (§8.2), answers what it can
by itself (OPTIONS, CANCEL, BYE, re-INVITE, UPDATE, INFO, errors) and tells
the application about calls through :mod:`sipgw.events`. The application
answers with :meth:`ring`, :meth:`answer`, :meth:`reject` and
:meth:`hangup`.

What this core guarantees:

* a malformed request that can be answered gets a 400 with a reason; one that
  cannot is dropped; nothing raises out of :meth:`receive_datagram`;
* a 2xx to INVITE is retransmitted (T1 doubling to T2) until its ACK arrives;
  after 64·T1 without one the call is ended with a BYE (§13.3.1.4);
* we never send BYE before the ACK of our 2xx (§15): a hang-up in between is
  deferred until the ACK or the give-up;
* an INVITE on a dialog that has an INVITE in progress gets 491 (§14.2);
  a rejected re-INVITE (e.g. 488) leaves the call as it was;
* every offered call ends with exactly one :class:`~sipgw.events.CallEnded`.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from collections import deque
from dataclasses import dataclass, field

from sipgw import __version__
from sipgw.addressing import Flow, response_flow
from sipgw.body import DTMF_CONTENT_TYPES, parse_dtmf_info, sdp_body
from sipgw.call import Call, CallState, Dialog
from sipgw.errors import (
    InvalidState,
    LocalProtocolError,
    MessageParseError,
    RemoteProtocolError,
    SdpError,
    SipError,
)
from sipgw.events import (
    CallConfirmed,
    CallEnded,
    CallOffered,
    DtmfReceived,
    EndReason,
    MediaUpdated,
    SipEvent,
    TransferStage,
    TransferUpdated,
)
from sipgw.headers import NameAddr
from sipgw.message import (
    REASON_PHRASES,
    Headers,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from sipgw.offeranswer import LocalMedia, NegotiatedAudio, accept_answer, answer_offer, create_offer
from sipgw.sdp import SessionDescription
from sipgw.sessiontimer import negotiate, parse_session_expires
from sipgw.timers import TimerValues
from sipgw.transaction import (
    AckReceived,
    InviteServerTransaction,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    State,
    StrayResponse,
    TransactionLayer,
    TransactionTimedOut,
)
from sipgw.uri import SipUri, parse_uri

__all__ = ["ALLOW", "UserAgent", "UserAgentConfig"]

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, NOTIFY"
ACCEPT = "application/sdp, application/dtmf-relay, application/dtmf, multipart/mixed"
SUPPORTED = "timer"
_SUPPORTED_TAGS = frozenset({"timer"})
_KNOWN_METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "CANCEL",
        "BYE",
        "OPTIONS",
        "UPDATE",
        "INFO",
        "REGISTER",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "MESSAGE",
        "REFER",
        "PRACK",
    }
)
_DIALOG_ONLY = frozenset({"BYE", "UPDATE", "INFO", "PRACK", "NOTIFY"})


class _Unsupported(RemoteProtocolError):
    """420 Bad Extension with the tags we do not support (RFC 3261 §8.2.2.3)."""

    def __init__(self, tags: list[str]) -> None:
        super().__init__(f"unsupported extension {', '.join(tags)}", 420)
        self.tags = tags


class _TooSmall(RemoteProtocolError):
    """422 Session Interval Too Small (RFC 4028 §8.1)."""

    def __init__(self, min_se: int) -> None:
        super().__init__("session interval too small", 422)
        self.min_se = min_se


def _reason(status: int, detail: str | None = None) -> str:
    """A reason phrase; for 400 and 500 it says what was wrong."""
    phrase = REASON_PHRASES.get(status, "Unknown")
    if not detail:
        return phrase
    printable = "".join(ch if ch.isprintable() else "?" for ch in detail)[:120]
    return f"{phrase} ({printable})"


def _body_without_origin(sdp: SessionDescription) -> bytes:
    """The SDP without its o= line, to tell whether an answer changed (RFC 3264 §8)."""
    return b"\r\n".join(
        line for line in sdp.serialize().split(b"\r\n") if not line.startswith(b"o=")
    )


def _sipfrag_status(body: bytes) -> tuple[int | None, str]:
    """The status line of a message/sipfrag body (RFC 3420), e.g. ``SIP/2.0 180 Ringing``."""
    first = body.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    parts = first.split(" ", 2)
    if len(parts) >= 2 and parts[0].upper().startswith("SIP/") and parts[1].isdigit():
        return int(parts[1]), parts[2] if len(parts) == 3 else ""
    return None, ""


def _with_version(media: LocalMedia, version: int) -> LocalMedia:
    return dataclasses.replace(media, session_version=version)


@dataclass(frozen=True, slots=True)
class UserAgentConfig:
    """Settings of the user agent core.

    Attributes:
        public_host: the address peers reach us at; goes into Via, Contact and SDP.
        sip_port: our SIP port as peers see it.
        transport: the transport of our listening socket.
        codecs: audio codecs we answer with, in preference order.
        telephone_event: whether to negotiate RFC 4733 DTMF.
        ptime: our packetization time in ms when the offer does not ask for one.
        max_calls: concurrent calls accepted before answering 503; None = no limit.
        nat_fix: send in-dialog requests to where the INVITE came from when its
            Contact is a private address (a caller behind NAT).
        min_session_expires: our Min-SE for RFC 4028 session timers, seconds.
        user_agent: the User-Agent / Server header value.
        timers: SIP timer base values (T1, T2, T4).
    """

    public_host: str
    sip_port: int
    transport: str = "UDP"
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    telephone_event: bool = True
    ptime: int = 20
    max_calls: int | None = None
    nat_fix: bool = True
    min_session_expires: int = 90
    user_agent: str = f"sipgw/{__version__}"
    timers: TimerValues = field(default_factory=TimerValues)

    @property
    def sent_by(self) -> str:
        """host:port for our Via headers."""
        host = f"[{self.public_host}]" if ":" in self.public_host else self.public_host
        return f"{host}:{self.sip_port}"


class UserAgent:
    """Answers SIP calls; see the module docstring.

    Args:
        config: the core's settings.
        rng: random source for tags, branches and session ids (inject in tests).
    """

    def __init__(self, config: UserAgentConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()
        self.transactions = TransactionLayer(config.timers, self.rng)
        self.calls: dict[tuple[str, str], Call] = {}
        self.draining = False
        self._events: deque[SipEvent] = deque()
        self._heap: list[tuple[float, int, Call, str]] = []
        self._seq = 0
        # Our client transactions in flight, by id(transaction): REFERs, session
        # refresh UPDATEs and BYEs, each mapped to its call.
        self._refers: dict[int, Call] = {}
        self._refreshes: dict[int, Call] = {}
        self._byes: dict[int, Call] = {}

    # ------------------------------------------------------------------ inputs

    def receive_datagram(self, data: bytes, flow: Flow, now: float) -> None:
        """Process one datagram (or one framed message from a stream)."""
        try:
            message = parse_message(data)
        except MessageParseError as exc:
            if exc.partial is not None and exc.partial.method != "ACK":
                self._reply_stateless(exc.partial, flow, exc.status_hint, str(exc))
            return
        try:
            if isinstance(message, SipRequest):
                self._stamp_via(message, flow)
                self.transactions.receive_request(message, flow, now)
            else:
                self.transactions.receive_response(message, flow, now)
        except SipError:
            return  # e.g. a response whose Via or CSeq cannot be read: drop it
        self._process(now)

    def handle_timer(self, now: float) -> None:
        """Fire every timer (transaction and call) due at ``now``."""
        self.transactions.handle_timer(now)
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, call, name = heapq.heappop(heap)
            if call.timers.get(name) == deadline:
                del call.timers[name]
                self._fire(call, name, now)
        self._process(now)

    # ------------------------------------------------------------------ outputs

    def next_event(self) -> SipEvent | None:
        """The next event for the application, or None."""
        return self._events.popleft() if self._events else None

    def datagrams_to_send(self) -> list[tuple[bytes, Flow]]:
        """Everything to transmit since the last call."""
        return self.transactions.datagrams_to_send()

    def get_timer(self) -> float | None:
        """The earliest deadline at which :meth:`handle_timer` must run."""
        deadlines = [d for d in (self.transactions.get_timer(), self._next_call_timer()) if d]
        return min(deadlines) if deadlines else None

    @property
    def busy(self) -> bool:
        """Whether calls or our BYEs are still in progress (for a clean shutdown)."""
        return bool(self.calls) or bool(self._byes)

    # ------------------------------------------------------------------ application actions

    def ring(self, call: Call, now: float) -> None:
        """Send 180 Ringing (once)."""
        if call.state is not CallState.INCOMING:
            return
        response = self._dialog_response(call, 180)
        self.transactions.respond(call.transaction, response, now)
        call.state = CallState.RINGING

    def answer(self, call: Call, rtp_port: int, now: float) -> NegotiatedAudio | None:
        """Answer with 200 OK; returns the media, or None until the ACK brings the answer.

        Raises:
            sipgw.errors.InvalidState: the call is not ringing any more.
        """
        if call.state not in (CallState.INCOMING, CallState.RINGING):
            raise InvalidState(f"cannot answer a call in state {call.state.name}")
        call.local_media = LocalMedia(
            address=self.config.public_host,
            port=rtp_port,
            session_id=str(self.rng.getrandbits(31)),
            session_version=1,
            codecs=self.config.codecs,
            telephone_event=self.config.telephone_event,
            ptime=self.config.ptime,
        )
        if call.offer is not None:
            call.local_sdp, call.media = answer_offer(call.offer, call.local_media)
        else:
            call.local_sdp = create_offer(call.local_media)
            call.offer_in_2xx = True
        response = self._dialog_response(call, 200)
        self._add_session_timer(call, call.invite, response)
        self._attach_sdp(response, call.local_sdp)
        self._send_2xx(call, call.transaction, response, now)
        call.state = CallState.ANSWERED
        return call.media

    def reject(self, call: Call, status: int, now: float, reason: str | None = None) -> None:
        """Answer the INVITE with a final error status and end the call."""
        if call.state not in (CallState.INCOMING, CallState.RINGING):
            return
        response = make_response(call.invite, status, reason, to_tag=call.dialog.local_tag)
        if status == 503:
            response.headers.add("Retry-After", "30")
        self.transactions.respond(call.transaction, response, now)
        self._end(call, EndReason.REJECTED, status)

    def hangup(self, call: Call, now: float, status: int = 480) -> None:
        """End the call from our side: reject it if unanswered, else BYE (§15)."""
        if call.state in (CallState.INCOMING, CallState.RINGING):
            self.reject(call, status, now)
        elif call.state is CallState.ANSWERED:
            call.bye_pending = True  # §15: no BYE before the ACK of our 2xx
            self._end(call, EndReason.LOCAL_BYE, keep_dialog=True)
        elif call.state is CallState.CONFIRMED:
            self._send_bye(call, now)
            self._end(call, EndReason.LOCAL_BYE, keep_dialog=True)

    def refer(self, call: Call, target: str, now: float) -> None:
        """Ask the caller's phone to call ``target`` instead (blind transfer, RFC 3515).

        Progress comes back as :class:`~sipgw.events.TransferUpdated` events.

        Raises:
            InvalidState: the call is not confirmed.
            LocalProtocolError: ``target`` is not a URI.
        """
        if call.state is not CallState.CONFIRMED or call.bye_pending:
            raise InvalidState(f"cannot transfer a call in state {call.state.name}")
        try:
            parse_uri(target)
        except SipError:
            raise LocalProtocolError(f"transfer target {target!r} is not a URI") from None
        extra = Headers()
        extra.add("Refer-To", f"<{target}>")
        extra.add("Referred-By", f"<{NameAddr.parse(call.dialog.local_uri).uri}>")
        extra.add("Contact", self._contact(call.invite))
        via = self.transactions.new_via(self.config.transport, self.config.sent_by)
        refer, flow = call.dialog.next_request(
            "REFER", via, user_agent=self.config.user_agent, extra=extra
        )
        tx = self.transactions.send_request(refer, flow, now)
        self._refers[id(tx)] = call

    def shutdown(self, now: float) -> None:
        """Stop taking calls and hang up every call (503 for unanswered ones)."""
        self.draining = True
        for call in list(self.calls.values()):
            if not call.bye_pending and call.state is not CallState.ENDING:
                self.hangup(call, now, status=503)

    # ------------------------------------------------------------------ event dispatch

    def _process(self, now: float) -> None:
        while (event := self.transactions.next_event()) is not None:
            try:
                if isinstance(event, RequestReceived):
                    self._on_request(event.transaction, event.request, event.flow, now)
                elif isinstance(event, AckReceived):
                    self._on_ack(event.request, now)
                elif isinstance(event, ResponseReceived):
                    self._on_response(event, now)
                elif isinstance(event, TransactionTimedOut):
                    self._on_timeout(event, now)
                elif isinstance(event, StrayResponse):
                    pass  # nothing of ours: we send no INVITE yet
            except SipError:
                continue

    def _on_request(self, tx: ServerTransaction, req: SipRequest, flow: Flow, now: float) -> None:
        try:
            self._check_request(req)
            if req.method == "CANCEL":
                self._on_cancel(tx, req, now)
            elif req.to.tag:
                self._on_in_dialog(tx, req, now)
            elif req.method == "INVITE":
                self._on_invite(tx, req, flow, now)
            elif req.method == "OPTIONS":
                self._on_options(tx, req, now)
            elif req.method in _DIALOG_ONLY:
                self._respond(tx, req, 481, now)
            else:
                self._respond(tx, req, 405, now)
        except RemoteProtocolError as exc:
            self._respond_error(tx, req, exc, now)

    def _check_request(self, req: SipRequest) -> None:
        """The checks of RFC 3261 §8.2.1–8.2.2 that precede method handling."""
        if req.method not in _KNOWN_METHODS:
            raise RemoteProtocolError(f"method {req.method} not implemented", 501)
        uri = req.request_uri
        if not isinstance(uri, SipUri):
            raise RemoteProtocolError(f"unsupported URI scheme {uri.scheme}", 416)
        if req.method != "CANCEL":
            unsupported = [
                tag for tag in req.headers.get_all("Require") if tag.lower() not in _SUPPORTED_TAGS
            ]
            if unsupported:
                raise _Unsupported(unsupported)

    # ------------------------------------------------------------------ INVITE (new call)

    def _on_invite(self, tx: ServerTransaction, req: SipRequest, flow: Flow, now: float) -> None:
        assert isinstance(tx, InviteServerTransaction)
        self._check_accept(req)
        # RFC 2543 INVITEs may lack a Contact (RFC 4475 §3.4.1 inv2543): the From
        # is then where in-dialog requests go.
        contacts = req.contacts
        remote_target = contacts[0].uri if contacts else req.from_.uri
        remote_tag = req.from_.tag or ""
        existing = self.calls.get((req.call_id, remote_tag))
        if existing is not None:
            if existing.invite.cseq.number == req.cseq.number:
                raise RemoteProtocolError("merged request", 482)  # §8.2.2.2
            raise RemoteProtocolError("request pending", 491)  # §14.2
        if self.draining:
            raise RemoteProtocolError("shutting down", 503)
        if self.config.max_calls is not None and len(self.calls) >= self.config.max_calls:
            raise RemoteProtocolError("at capacity", 503)
        offer = self._parse_offer(req)
        if offer is not None:
            answer_offer(offer, self._probe_media())  # 488 now rather than after ringing
        self._check_session_expires(req)
        dialog = Dialog(
            call_id=req.call_id,
            local_tag=f"{self.rng.getrandbits(48):012x}",
            remote_tag=remote_tag,
            local_uri="",
            remote_uri=req.headers.get("From") or "",
            remote_target=remote_target,
            route_set=req.headers.get_all("Record-Route"),
            source=flow,
            local_cseq=self.rng.randrange(1, 2**16),
            remote_cseq=req.cseq.number,
            nat_fix=self.config.nat_fix,
        )
        dialog.local_uri = f"{req.headers.get('To')};tag={dialog.local_tag}"
        call = Call(req.call_id, req, tx, dialog, offer)
        self.calls[(req.call_id, remote_tag)] = call
        self._respond(tx, req, 100, now)
        self._events.append(CallOffered(call))

    def _check_accept(self, req: SipRequest) -> None:
        """§8.2.3 / RFC 4475 §3.3.15: our 2xx carries SDP; 406 if the UAC won't take it."""
        accepted = [value.split(";")[0].strip().lower() for value in req.headers.get_all("Accept")]
        if accepted and not any(
            value in ("application/sdp", "application/*", "*/*") for value in accepted
        ):
            raise RemoteProtocolError("Accept does not include application/sdp", 406)

    def _parse_offer(self, req: SipRequest) -> SessionDescription | None:
        body = sdp_body(req)
        return None if body is None else SessionDescription.parse(body)

    def _probe_media(self) -> LocalMedia:
        return LocalMedia(
            address=self.config.public_host,
            port=9,
            session_id="0",
            session_version=0,
            codecs=self.config.codecs,
            telephone_event=self.config.telephone_event,
            ptime=self.config.ptime,
        )

    # ------------------------------------------------------------------ in-dialog requests

    def _on_in_dialog(self, tx: ServerTransaction, req: SipRequest, now: float) -> None:
        call = self._find_call(req)
        if call is None:
            raise RemoteProtocolError("call leg does not exist", 481)  # §12.2.2
        if req.cseq.number < call.dialog.remote_cseq:
            raise RemoteProtocolError("CSeq out of order", 500)  # §12.2.2
        call.dialog.remote_cseq = req.cseq.number
        if req.method == "BYE":
            self._respond(tx, req, 200, now)
            if call.state in (CallState.INCOMING, CallState.RINGING):
                # §15.1.2: a BYE on the early dialog; the INVITE gets 487.
                response = make_response(call.invite, 487, to_tag=call.dialog.local_tag)
                self.transactions.respond(call.transaction, response, now)
            self._end(call, EndReason.REMOTE_BYE)
        elif call.state in (CallState.ENDING, CallState.ENDED) or call.bye_pending:
            raise RemoteProtocolError("call is ending", 481)
        elif req.method == "INVITE":
            assert isinstance(tx, InviteServerTransaction)
            self._on_reinvite(call, tx, req, now)
        elif req.method == "UPDATE":
            self._on_update(call, tx, req, now)
        elif req.method == "INFO":
            self._on_info(call, tx, req, now)
        elif req.method == "OPTIONS":
            self._on_options(tx, req, now)
        elif req.method == "NOTIFY":
            self._on_notify(call, tx, req, now)
        elif req.method == "PRACK":
            raise RemoteProtocolError("no reliable provisional response pending", 481)
        else:
            self._respond(tx, req, 405, now)

    def _find_call(self, req: SipRequest) -> Call | None:
        call = self.calls.get((req.call_id, req.from_.tag or ""))
        if call is None or call.dialog.local_tag != req.to.tag:
            return None
        return call

    def _on_reinvite(
        self, call: Call, tx: InviteServerTransaction, req: SipRequest, now: float
    ) -> None:
        # §14.2: one INVITE at a time per dialog. The initial INVITE pending,
        # or a 2xx (ours) still waiting for its ACK, both count as pending.
        if not call.established or call.awaiting_ack_cseq is not None:
            raise RemoteProtocolError("another INVITE is in progress", 491)
        offer = self._parse_offer(req)
        self._check_session_expires(req)
        assert call.local_media is not None and call.local_sdp is not None
        media = None
        if offer is not None:
            sdp, media = self._answer_again(call, offer)
        else:
            sdp = call.local_sdp  # RFC 3264 §8: offer our current session again
            call.offer_in_2xx = True
        self._refresh_target(call, req)
        response = self._dialog_response(call, 200, req)
        self._add_session_timer(call, req, response)
        self._attach_sdp(response, sdp)
        self._send_2xx(call, tx, response, now)
        self._arm_session_timer(call, now)  # a re-INVITE is a session refresh (RFC 4028 §7)
        call.local_sdp = sdp
        if media is not None:
            self._set_media(call, media)

    def _on_update(self, call: Call, tx: ServerTransaction, req: SipRequest, now: float) -> None:
        offer = self._parse_offer(req)
        if offer is not None and call.offer_in_2xx:
            raise RemoteProtocolError("our offer is pending", 491)  # RFC 3311 §5.2
        if offer is not None and call.local_sdp is None:
            raise RemoteProtocolError("the INVITE's offer is not answered yet", 500)
        self._check_session_expires(req)
        response = self._dialog_response(call, 200, req)
        self._add_session_timer(call, req, response)
        media = None
        if offer is not None:
            sdp, media = self._answer_again(call, offer)
            self._attach_sdp(response, sdp)
            call.local_sdp = sdp
        self._refresh_target(call, req)
        self.transactions.respond(tx, response, now)
        self._arm_session_timer(call, now)
        if media is not None:
            self._set_media(call, media)

    def _answer_again(
        self, call: Call, offer: SessionDescription
    ) -> tuple[SessionDescription, NegotiatedAudio]:
        """Answer a new offer on the same port; bump o= only if the SDP changed (§8)."""
        assert call.local_media is not None and call.local_sdp is not None
        sdp, media = answer_offer(offer, call.local_media)
        previous = call.local_sdp
        if _body_without_origin(sdp) != _body_without_origin(previous):
            version = previous.origin.session_version + 1
            call.local_media = _with_version(call.local_media, version)
            sdp, media = answer_offer(offer, call.local_media)
        else:
            sdp = previous
        return sdp, media

    def _on_info(self, call: Call, tx: ServerTransaction, req: SipRequest, now: float) -> None:
        content_type = req.content_type or ""
        if not req.body:
            self._respond(tx, req, 200, now)  # an empty INFO is a keep-alive probe
            return
        if content_type not in DTMF_CONTENT_TYPES:
            raise RemoteProtocolError(f"unsupported INFO body {content_type}", 415)
        digit, duration = parse_dtmf_info(req)
        self._respond(tx, req, 200, now)
        self._events.append(DtmfReceived(call, digit, duration))

    def _on_notify(self, call: Call, tx: ServerTransaction, req: SipRequest, now: float) -> None:
        """Progress of our REFER: ``Event: refer`` with a message/sipfrag body (RFC 3515 §2.4.5)."""
        event = (req.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            raise RemoteProtocolError(f"no subscription to {event or 'that event'}", 489)
        state = (req.headers.get("Subscription-State") or "").split(";")[0].strip().lower()
        status, reason = _sipfrag_status(req.body)
        self._respond(tx, req, 200, now)
        if status is None:
            if state == "terminated":
                stage = TransferStage.FAILED
                self._events.append(TransferUpdated(call, stage, 0, "subscription terminated"))
            return
        if status < 200:
            stage = TransferStage.PROGRESS
        elif status < 300:
            stage = TransferStage.SUCCEEDED
        else:
            stage = TransferStage.FAILED
        self._events.append(TransferUpdated(call, stage, status, reason))

    def _on_options(self, tx: ServerTransaction, req: SipRequest, now: float) -> None:
        self._respond(tx, req, 503 if self.draining else 200, now)

    def _on_cancel(self, tx: ServerTransaction, req: SipRequest, now: float) -> None:
        invite_tx = self.transactions.find_server(req, "INVITE")
        if invite_tx is None:
            raise RemoteProtocolError("no matching INVITE", 481)  # §9.2
        self._respond(tx, req, 200, now)
        call = self.calls.get((req.call_id, req.from_.tag or ""))
        if call is None or call.transaction is not invite_tx:
            return
        if call.state in (CallState.INCOMING, CallState.RINGING):
            response = make_response(call.invite, 487, to_tag=call.dialog.local_tag)
            self.transactions.respond(invite_tx, response, now)
            self._end(call, EndReason.CANCELLED, 487)

    def _on_ack(self, req: SipRequest, now: float) -> None:
        if not req.to.tag:
            return
        call = self._find_call(req)
        if call is None or call.awaiting_ack_cseq != req.cseq.number:
            return  # a retransmitted or stray ACK
        call.awaiting_ack_cseq = None
        call.retransmit_bytes = None
        call.timers.pop("2xx", None)
        call.timers.pop("no-ack", None)
        media: NegotiatedAudio | None = None
        failed = False
        if call.offer_in_2xx:
            call.offer_in_2xx = False
            try:
                body = sdp_body(req)
                if body is not None and call.local_sdp is not None:
                    media = accept_answer(call.local_sdp, SessionDescription.parse(body))
                else:
                    failed = call.media is None  # initial offer never answered
            except (SdpError, RemoteProtocolError):
                failed = call.media is None
        first = call.state is CallState.ANSWERED
        if first:
            call.state = CallState.CONFIRMED
            self._arm_session_timer(call, now)
        if call.bye_pending or failed:
            call.bye_pending = False
            self._send_bye(call, now)
            self._end(
                call, EndReason.MEDIA_FAILED if failed else EndReason.LOCAL_BYE, keep_dialog=True
            )
            return
        if first:
            self._events.append(CallConfirmed(call))
        if media is not None:
            self._set_media(call, media)

    # ------------------------------------------------------------------ our BYE

    def _send_bye(self, call: Call, now: float) -> None:
        via = self.transactions.new_via(self.config.transport, self.config.sent_by)
        bye, flow = call.dialog.next_request("BYE", via, user_agent=self.config.user_agent)
        tx = self.transactions.send_request(bye, flow, now)
        self._byes[id(tx)] = call
        call.state = CallState.ENDING
        call.timers.clear()

    def _on_response(self, event: ResponseReceived, now: float) -> None:
        response = event.response
        if response.status < 200:
            return
        refreshed = self._refreshes.pop(id(event.transaction), None)
        if refreshed is not None:
            self._refresh_answered(refreshed, response, now)
            return
        referred = self._refers.pop(id(event.transaction), None)
        if referred is not None:
            stage = TransferStage.ACCEPTED if response.status < 300 else TransferStage.REJECTED
            self._events.append(TransferUpdated(referred, stage, response.status, response.reason))
            return
        call = self._byes.pop(id(event.transaction), None)
        if call is not None:
            self._forget(call)

    def _on_timeout(self, event: TransactionTimedOut, now: float) -> None:
        refreshed = self._refreshes.pop(id(event.transaction), None)
        if refreshed is not None:
            self._refresh_answered(refreshed, None, now)
            return
        referred = self._refers.pop(id(event.transaction), None)
        if referred is not None:
            stage = TransferStage.REJECTED
            self._events.append(TransferUpdated(referred, stage, 408, "no response to REFER"))
            return
        call = self._byes.pop(id(event.transaction), None)
        if call is not None:
            self._forget(call)
            return
        tx = event.transaction
        if isinstance(tx, InviteServerTransaction):
            for call in list(self.calls.values()):
                if call.transaction is tx and call.state is not CallState.ENDED:
                    self._end(call, EndReason.TRANSPORT_ERROR)

    # ------------------------------------------------------------------ 2xx reliability and timers

    def _send_2xx(
        self, call: Call, tx: InviteServerTransaction, response: SipResponse, now: float
    ) -> None:
        self.transactions.respond(tx, response, now)
        call.awaiting_ack_cseq = tx.request.cseq.number
        call.retransmit_bytes = response.serialize()
        call.retransmit_interval = self.config.timers.t1
        if not tx.reliable:
            self._arm(call, "2xx", now + call.retransmit_interval)
        self._arm(call, "no-ack", now + self.config.timers.h)

    def _fire(self, call: Call, name: str, now: float) -> None:
        if name == "2xx" and call.retransmit_bytes is not None:
            # §13.3.1.4: T1, 2·T1, ... capped at T2, until the ACK arrives.
            self.transactions.send_stateless(call.retransmit_bytes, call.transaction.flow)
            call.retransmit_interval = min(2 * call.retransmit_interval, self.config.timers.t2)
            self._arm(call, "2xx", now + call.retransmit_interval)
        elif name == "no-ack":
            # §13.3.1.4: no ACK within 64·T1 - confirm the dialog and end it with BYE.
            call.retransmit_bytes = None
            call.awaiting_ack_cseq = None
            call.bye_pending = False
            call.timers.pop("2xx", None)
            if call.state is not CallState.ENDING:
                self._send_bye(call, now)
            self._end(call, EndReason.NO_ACK, keep_dialog=True)
        elif name == "session":
            self._send_bye(call, now)
            self._end(call, EndReason.SESSION_EXPIRED, keep_dialog=True)
        elif name == "refresh":
            self._send_refresh(call, now)

    def _arm(self, call: Call, name: str, deadline: float) -> None:
        call.timers[name] = deadline
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, call, name))

    def _next_call_timer(self) -> float | None:
        heap = self._heap
        while heap:
            deadline, _, call, name = heap[0]
            if call.timers.get(name) == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    # ------------------------------------------------------------------ RFC 4028 session timers

    def _check_session_expires(self, req: SipRequest) -> None:
        value = req.headers.get("Session-Expires")
        if value is None:
            return
        seconds, _ = parse_session_expires(value)
        if seconds < self.config.min_session_expires:
            raise _TooSmall(self.config.min_session_expires)  # §8.1: 422 with Min-SE

    def _add_session_timer(self, call: Call, req: SipRequest, response: SipResponse) -> None:
        """Put the session timer agreed for this request into its 2xx (RFC 4028 §9)."""
        timer = negotiate(req.headers, call.invite.headers.get_all("Allow"))
        call.session_timer = timer
        if timer is None:
            return
        response.headers.add("Session-Expires", timer.header)
        if not timer.we_refresh:
            response.headers.add("Require", "timer")  # the UAC must refresh

    def _arm_session_timer(self, call: Call, now: float) -> None:
        """After a 2xx that set or refreshed the timer: refresh, or expect a refresh (§10)."""
        call.timers.pop("session", None)
        call.timers.pop("refresh", None)
        timer = call.session_timer
        if timer is None:
            return
        if timer.we_refresh:
            self._arm(call, "refresh", now + timer.refresh_after)
        else:
            self._arm(call, "session", now + timer.expire_after)

    def _send_refresh(self, call: Call, now: float) -> None:
        """Refresh the session with an UPDATE without SDP (RFC 4028 §7.4, RFC 3311)."""
        timer = call.session_timer
        if timer is None or call.state is not CallState.CONFIRMED:
            return
        extra = Headers()
        extra.add("Session-Expires", f"{timer.interval};refresher=uac")  # we are its UAC
        extra.add("Supported", SUPPORTED)
        extra.add("Contact", self._contact(call.invite))
        via = self.transactions.new_via(self.config.transport, self.config.sent_by)
        update, flow = call.dialog.next_request(
            "UPDATE", via, user_agent=self.config.user_agent, extra=extra
        )
        tx = self.transactions.send_request(update, flow, now)
        self._refreshes[id(tx)] = call

    def _refresh_answered(self, call: Call, response: SipResponse | None, now: float) -> None:
        """§10: a refresh that times out or gets 408/481 means the session is gone."""
        status = 408 if response is None else response.status
        if 200 <= status < 300:
            self._arm_session_timer(call, now)
        elif status in (408, 481) and call.state is CallState.CONFIRMED:
            self._send_bye(call, now)
            self._end(call, EndReason.SESSION_EXPIRED, status, keep_dialog=True)
        # other errors (e.g. 405): stop refreshing; the call goes on

    # ------------------------------------------------------------------ helpers

    def _stamp_via(self, req: SipRequest, flow: Flow) -> None:
        """RFC 3261 §18.2.1 ``received`` and RFC 3581 §4 ``rport``."""
        via = req.top_via
        host, port = flow.address
        changed = False
        if via.has_rport:
            via.params["rport"] = str(port)
            via.params["received"] = host
            changed = True
        elif via.host.lower() != host.lower():
            via.params["received"] = host
            changed = True
        if changed:
            req.headers.replace_first("Via", str(via))

    def _refresh_target(self, call: Call, req: SipRequest) -> None:
        contacts = req.contacts
        if contacts:
            call.dialog.remote_target = contacts[0].uri  # §12.2.2 target refresh

    def _set_media(self, call: Call, media: NegotiatedAudio) -> None:
        call.media = media
        self._events.append(MediaUpdated(call, media))

    def _contact(self, req: SipRequest) -> str:
        uri = req.request_uri
        user = uri.user if isinstance(uri, SipUri) and uri.user else "sipgw"
        suffix = (
            "" if self.config.transport == "UDP" else f";transport={self.config.transport.lower()}"
        )
        return f"<sip:{user}@{self.config.sent_by}{suffix}>"

    def _dialog_response(
        self, call: Call, status: int, req: SipRequest | None = None
    ) -> SipResponse:
        """A response that creates or refreshes the dialog: tag, Contact, Record-Route (§12.1.1)."""
        request = req or call.invite
        response = make_response(request, status, to_tag=call.dialog.local_tag)
        for route in request.headers.get_all("Record-Route"):
            response.headers.add("Record-Route", route)
        response.headers.add("Contact", self._contact(call.invite))
        if status >= 200:
            response.headers.add("Allow", ALLOW)
            response.headers.add("Supported", SUPPORTED)
        response.headers.add("Server", self.config.user_agent)
        return response

    def _attach_sdp(self, response: SipResponse, sdp: SessionDescription) -> None:
        response.headers.set("Content-Type", "application/sdp")
        response.body = sdp.serialize()

    def _respond(self, tx: ServerTransaction, req: SipRequest, status: int, now: float) -> None:
        to_tag = None
        if status > 100 and not req.to.tag:
            to_tag = f"{self.rng.getrandbits(48):012x}"
        response = make_response(req, status, to_tag=to_tag)
        self._decorate(response, req, status)
        self.transactions.respond(tx, response, now)

    def _respond_error(
        self, tx: ServerTransaction, req: SipRequest, exc: RemoteProtocolError, now: float
    ) -> None:
        if tx.state not in (State.TRYING, State.PROCEEDING):
            return  # already answered
        status = exc.status_hint
        to_tag = None
        try:
            if not req.to.tag:
                to_tag = f"{self.rng.getrandbits(48):012x}"
        except SipError:
            pass
        reason = str(exc) if status in (400, 500) else None
        response = make_response(req, status, _reason(status, reason), to_tag=to_tag)
        self._decorate(response, req, status)
        if isinstance(exc, _Unsupported):
            response.headers.add("Unsupported", ", ".join(exc.tags))
        elif isinstance(exc, _TooSmall):
            response.headers.add("Min-SE", str(exc.min_se))
        elif status == 500:
            response.headers.add("Retry-After", str(self.rng.randint(0, 10)))
        elif status == 488:
            response.headers.add("Warning", f'304 {self.config.public_host} "{exc}"')
        elif status == 406:
            response.headers.add("Warning", f'399 {self.config.public_host} "{exc}"')
            response.headers.add("Accept", ACCEPT)
        try:
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
        if status == 503:
            response.headers.add("Retry-After", "30")
        response.headers.add("Server", self.config.user_agent)

    def _reply_stateless(self, req: SipRequest, flow: Flow, status: int, reason: str) -> None:
        try:
            destination = response_flow(req.top_via, flow)
        except SipError:
            destination = flow  # a Via we cannot read: answer where the packet came from
        response = make_response(req, status, _reason(status, reason))
        response.headers.add("Server", self.config.user_agent)
        self.transactions.send_stateless(response.serialize(), destination)

    def _end(
        self, call: Call, reason: EndReason, status: int | None = None, keep_dialog: bool = False
    ) -> None:
        """Report CallEnded once; forget the call unless a BYE is still to go out."""
        if not call.end_reported:
            call.end_reported = True
            self._events.append(CallEnded(call, reason, status))
        if not keep_dialog:
            self._forget(call)

    def _forget(self, call: Call) -> None:
        call.state = CallState.ENDED
        call.timers.clear()
        self.calls.pop((call.call_id, call.dialog.remote_tag), None)
