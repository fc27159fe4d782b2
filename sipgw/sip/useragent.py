"""The user agent core: validates requests and routes them to the dialog usages, sans-IO.

Theory of operation
-------------------
Bytes come in with :meth:`UserAgent.receive_datagram`; they are parsed,
stamped with ``received``/``rport`` (RFC 3261 §18.2.1, RFC 3581 §4) and
handed to the :class:`~sipgw.sip.transaction.TransactionLayer`. Its events drive
this dispatcher: a new request passes the checks of §8.2 and goes to the
usage that owns it (:mod:`sipgw.sip.usages`); in-dialog requests find their call
by dialog (§12.2.2). Responses to our own requests never come through here:
they go to the continuation each usage gave when it sent the request. The
application hears about calls through :mod:`sipgw.sip.events`, each naming the
call by its read-only :class:`~sipgw.sip.call.CallInfo`, and acts with
:meth:`ring`, :meth:`answer`, :meth:`reject`, :meth:`hangup` and
:meth:`refer`, which take that view, and places calls with :meth:`call`.
Every deadline, ours and the transactions', lives in one
:class:`~sipgw.sip.timers.TimerHeap`.

What this core guarantees:

* a malformed request that can be answered gets a 400 with a reason; one that
  cannot is dropped; nothing raises out of :meth:`receive_datagram`;
* a 2xx to INVITE is retransmitted (T1 doubling to T2) until its ACK arrives;
  after 64·T1 without one the call is ended with a BYE (§13.3.1.4);
* we never send BYE before the ACK of our 2xx (§15): a hang-up in between is
  deferred until the ACK or the give-up;
* an INVITE on a dialog that has an INVITE in progress gets 491 (§14.2);
  a rejected re-INVITE (e.g. 488) leaves the call as it was;
* every offered or placed call ends with exactly one :class:`~sipgw.sip.events.CallEnded`.

Outbound calls (:mod:`sipgw.sip.usages.outbound`) live beside the incoming ones:
our INVITE goes out through ``send_request`` with continuations (1xx for
early dialogs, each 2xx to ACK), its dialog comes from
:meth:`~sipgw.sip.dialog.Dialog.for_uac`, and a 2xx retransmitted after its
transaction ended arrives here as a :class:`~sipgw.sip.transaction.StrayResponse`
and goes to that usage to be ACKed again. Once answered, the same usages serve
both kinds of call.

Who may call is the :class:`~sipgw.sip.access.AccessPolicy`'s to say: a request
from a source outside its allow list (a *stranger*) is checked before any
transaction exists (:mod:`sipgw.sip.usages.strangers`): it gets one only for a
dialog or INVITE it has with us, or once its digest credentials verified;
anything else is answered statelessly (401 or 403 when refused, reported as
:class:`~sipgw.sip.events.RequestRefused`, never as a call), within the request's
size over UDP, so a forged source can neither grow our state nor draw more
bytes than it sent. NAT: every response
to one of our requests tells us, in its Via's ``received``/``rport``, where
the peer saw us; when that is not the address we announce, a
:class:`~sipgw.sip.events.PublicAddressObserved` says so.

Floods (:mod:`sipgw.sip.ratelimit`): a request that would open a new transaction
first passes the :class:`~sipgw.sip.ratelimit.FloodGuard` (scanner User-Agents,
per-source token buckets), before any transaction exists; a limited one is
answered 503 with Retry-After statelessly, or dropped. Over TCP and TLS, where
the handshake proved the source, every limited request gets its 503, and a
request we will not answer (a scanner's) closes the connection
(:meth:`UserAgent.connections_to_close`). Retransmissions of an existing
transaction and ACKs are not charged. An admitted new INVITE then passes the
:class:`~sipgw.sip.ratelimit.CallRateLimiter` (503 with Retry-After); an INVITE
refused before any provisional response is answered once, without Timer G
(:meth:`~sipgw.sip.transaction.TransactionLayer.respond_once`).
"""

from __future__ import annotations

import ipaddress
import random
import secrets
from collections.abc import Callable

from sipgw.sip.access import AccessPolicy
from sipgw.sip.addressing import Flow, response_flow
from sipgw.sip.body import DTMF_CONTENT_TYPES, parse_dtmf_info
from sipgw.sip.call import CallInfo, CallState
from sipgw.sip.config import UserAgentConfig
from sipgw.sip.errors import InvalidState, MessageParseError, RemoteProtocolError, SipError
from sipgw.sip.events import DtmfReceived, PublicAddressObserved, SipEvent
from sipgw.sip.message import (
    KNOWN_METHODS,
    RequestParseError,
    SipRequest,
    SipResponse,
    parse_message,
)
from sipgw.sip.offeranswer import NegotiatedAudio, RtpCodec
from sipgw.sip.ratelimit import CallRateLimiter, FloodGuard, FloodVerdict, RequestKind
from sipgw.sip.stateless import StatelessResponder
from sipgw.sip.transaction import (
    AckReceived,
    InviteServerTransaction,
    RequestReceived,
    ServerTransaction,
    StrayResponse,
    TransactionTimedOut,
)
from sipgw.sip.uri import SipUri, Uri
from sipgw.sip.usages.context import ALLOW, Rejection, UsageContext, reason_phrase
from sipgw.sip.usages.invite import InviteUsage
from sipgw.sip.usages.modify import ModifyUsage
from sipgw.sip.usages.outbound import OutboundCall, OutboundUsage
from sipgw.sip.usages.refer import DEFAULT_NOTIFY_TIMEOUT, ReferUsage, replacing_target, tokens
from sipgw.sip.usages.referee import RefereeUsage
from sipgw.sip.usages.register import RegisterUsage, RegistrationConfig
from sipgw.sip.usages.session import CallSession
from sipgw.sip.usages.sessiontimer import SessionTimerUsage
from sipgw.sip.usages.snapshot import SnapshotUsage
from sipgw.sip.usages.strangers import StrangerUsage

__all__ = [
    "ALLOW",
    "MAX_AWAITING",
    "OutboundCall",
    "RegistrationConfig",
    "UserAgent",
    "UserAgentConfig",
]

MAX_AWAITING = 256
"""Requests held at most at once while their users' guessing state loads
(:meth:`UserAgent.awaiting_users`)."""
_SUPPORTED_TAGS = frozenset({"timer", "100rel", "siprec"})  # siprec: judged by the line
_DIALOG_ONLY = frozenset({"BYE", "UPDATE", "INFO", "PRACK", "NOTIFY"})

_InDialogHandler = Callable[[CallSession, ServerTransaction, SipRequest, float], None]


class UserAgent:
    """Answers SIP calls; see the module docstring.

    Args:
        config: the core's settings.
        rng: random source for tags, branches, Call-IDs and session ids (inject in tests);
            default: the operating system's (:class:`secrets.SystemRandom`), so that
            none can be predicted from the ones a peer has seen.
        access: who may call (:mod:`sipgw.sip.access`); None admits everyone.
        flood: per-source limits and the scanner filter; None = no limits.
        call_rate: new-call rate limits (after the access check); None = no limits.
    """

    def __init__(
        self,
        config: UserAgentConfig,
        rng: random.Random | None = None,
        access: AccessPolicy | None = None,
        flood: FloodGuard | None = None,
        call_rate: CallRateLimiter | None = None,
    ) -> None:
        self.config = config
        self.access = access or AccessPolicy.open()
        self.flood = flood
        self.call_rate = call_rate
        self._observed: tuple[str, int] | None = None
        self._ctx = ctx = UsageContext(config, rng or secrets.SystemRandom())
        self._session_timers = SessionTimerUsage(ctx)
        self._invite = InviteUsage(ctx, self._session_timers)
        self._modify = ModifyUsage(ctx, self._invite, self._session_timers)
        self._refer = ReferUsage(ctx)
        self._referee = RefereeUsage(ctx)
        self._snapshot = SnapshotUsage(ctx)
        self._register = RegisterUsage(ctx)
        self._outbound = OutboundUsage(ctx, self._session_timers)
        self.responder = StatelessResponder(config.user_agent)
        """Builds our stateless responses and keeps them within their request's size."""
        self.strangers = StrangerUsage(ctx, self.access, self.responder, self._check_request)
        """Requests from sources outside the allow list (sipgw/sip/usages/strangers.py)."""
        self._close: list[tuple[int, str]] = []
        self._awaiting: list[tuple[str, bytes, Flow]] = []
        # Requests in a confirmed (or early) dialog, by method; BYE is handled first.
        self._in_dialog: dict[str, _InDialogHandler] = {
            "INVITE": self._modify.reinvite,
            "UPDATE": self._modify.update,
            "INFO": self._on_info,
            "OPTIONS": lambda session, tx, req, now: self._on_options(tx, req, now, in_dialog=True),
            "NOTIFY": self._refer.notify,
            "REFER": self._referee.receive,
        }

    @property
    def draining(self) -> bool:
        """Whether new calls and OPTIONS probes get 503 (set by :meth:`shutdown`)."""
        return self._ctx.draining

    @draining.setter
    def draining(self, value: bool) -> None:
        self._ctx.draining = value

    @property
    def overload_retry_after(self) -> int | None:
        """While set, new calls and OPTIONS probes get 503 with this Retry-After (seconds);
        the application sets it while overloaded (calls already up are untouched)."""
        return self._ctx.overload_retry_after

    @overload_retry_after.setter
    def overload_retry_after(self, value: int | None) -> None:
        self._ctx.overload_retry_after = value

    @property
    def other_calls(self) -> int:
        """Calls the application runs outside SIP (a browser, a Twilio stream): they count
        towards ``max_calls`` with the core's own."""
        return self._ctx.other_calls

    @other_calls.setter
    def other_calls(self, value: int) -> None:
        self._ctx.other_calls = value

    @property
    def overload_refused(self) -> int:
        """New INVITEs answered 503 because :attr:`overload_retry_after` was set."""
        return self._ctx.overload_refused

    # ------------------------------------------------------------------ inputs

    def receive_datagram(self, data: bytes, flow: Flow, now: float) -> None:
        """Process one datagram (or one framed message from a stream)."""
        size = len(data)
        guard = self.flood
        if guard is not None and not flow.reliable and self._drops_unread(guard, data, flow, now):
            return  # the cheapest place: a flood costs a bucket lookup, not a parse
        try:
            message = parse_message(data, self.config.limits)
        except RequestParseError as exc:
            if exc.partial.method != "ACK" and self._may_answer_malformed(flow, now):
                try:  # RFC 3261 §18.2.1: the 400 goes where the request came from too
                    self._stamp_via(exc.partial, flow)
                except SipError:
                    pass  # a Via we cannot read: _reply_stateless answers the source
                # A 400 says what is malformed; a 413/414/513 not which limit was passed.
                detail = str(exc) if exc.status_hint == 400 else ""
                self._reply_stateless(exc.partial, flow, size, exc.status_hint, detail)
            return
        except MessageParseError:
            if flow.reliable and data[:8] != b"SIP/2.0 ":
                self._close_connection(flow, "a request that cannot be answered")
            return  # not answerable: dropped
        try:
            if isinstance(message, SipRequest):
                self._stamp_via(message, flow)
                if not self._passes_flood_guard(message, flow, size, now):
                    return
                if self.strangers.answer(message, flow, size, now):
                    if self.strangers.pending is not None:
                        self._await_user(self.strangers.pending, data, flow)
                    return
                self._ctx.transactions.receive_request(message, flow, now)
            else:
                self._observe_public_address(message, flow)
                self._ctx.transactions.receive_response(message, flow, now)
        except SipError:
            # e.g. a response whose Via or CSeq cannot be read: dropped; a request
            # on a connection is never left unanswered without its closing
            if flow.reliable and isinstance(message, SipRequest):
                self._close_connection(flow, "a request that cannot be answered")
        self._process(now)

    def _await_user(self, username: str, data: bytes, flow: Flow) -> None:
        """Hold a request until ``username``'s guessing state is loaded (at most
        :data:`MAX_AWAITING` at once: past that it is dropped, its connection closed)."""
        if len(self._awaiting) >= MAX_AWAITING:
            self._close_connection(flow, "too many requests waiting for credentials' state")
            return
        self._awaiting.append((username, data, flow))

    def awaiting_users(self) -> list[tuple[str, bytes, Flow]]:
        """Requests held since the last call until their user's guessing state is loaded
        (:attr:`~sipgw.sip.auth.DigestServer.shared`): ``(user name, the request's bytes,
        its flow)``. The application loads the state, installs it in the access policy's
        digest server and hands each request to :meth:`receive_datagram` again."""
        out, self._awaiting = self._awaiting, []
        return out

    def _passes_flood_guard(self, req: SipRequest, flow: Flow, size: int, now: float) -> bool:
        """Whether a request goes on; a limited one is answered, dropped, or its connection closed.

        Raises:
            SipError: the request's Via cannot be read (the caller drops it).
        """
        guard = self.flood
        if guard is None or req.method == "ACK":
            return True
        if self._ctx.transactions.knows(req):
            return True  # a retransmission: it creates nothing (RFC 3261 §17.2.3)
        verdict = guard.check(req, flow.address[0], now, reliable=flow.reliable)
        if verdict is FloodVerdict.REJECT:
            self._reply_stateless(
                req, flow, size, 503, "",  # a plain reason phrase: nothing on our defences
                headers=(("Retry-After", str(guard.config.retry_after)),),
            )  # fmt: skip
        elif verdict is FloodVerdict.DROP and flow.reliable:
            self._close_connection(flow, "a request over the limits or from a scanner")
        return verdict is FloodVerdict.PASS

    def _drops_unread(self, guard: FloodGuard, data: bytes, flow: Flow, now: float) -> bool:
        """Whether a UDP datagram is a request its source's limit would drop unanswered,
        read from the start line's method alone (see :mod:`sipgw.sip.ratelimit`); responses
        and ACKs, which start nothing, always go on to be parsed."""
        start = data.lstrip(b"\r\n") if data[:1] in (b"\r", b"\n") else data
        end = start.find(b" ", 0, 32)
        if end <= 0 or start.startswith(b"SIP/"):
            return False
        method = start[:end].decode("latin-1")
        if method == "ACK":
            return False
        return guard.drops_unread(RequestKind.of(method), flow.address[0], now)

    def _may_answer_malformed(self, flow: Flow, now: float) -> bool:
        """Whether a 400 may go to this source: garbage is charged to its "other" bucket."""
        guard = self.flood
        if guard is None:
            return True
        verdict = guard.take(RequestKind.OTHER, flow.address[0], now, reliable=flow.reliable)
        if not flow.reliable:
            return verdict is FloodVerdict.PASS
        if verdict is FloodVerdict.DROP:
            self._close_connection(flow, "malformed requests over the limits")
        return verdict is not FloodVerdict.DROP  # over TCP/TLS: every request is answered

    def _close_connection(self, flow: Flow, why: str) -> None:
        if flow.connection_id is not None:
            self._close.append((flow.connection_id, why))

    def connections_to_close(self) -> list[tuple[int, str]]:
        """Stream connections to close, and why, since the last call.

        Over TCP and TLS every request gets a final response or its connection is
        closed: this is the second case (a scanner, a request we cannot answer).
        """
        out, self._close = self._close, []
        return out

    def transport_error(self, flow: Flow, now: float) -> None:
        """The transport could not deliver on ``flow`` (RFC 3261 §17.1.4, §17.2.4).

        E.g. a connection refused, reset or closed, or a TLS handshake that
        failed: the transactions sending on it fail at once instead of timing out.
        """
        self._ctx.transactions.transport_error(flow, now)
        self._process(now)

    def uses_connection(self, connection_id: int) -> bool:
        """Whether a call's dialog or a transaction still sends on this stream connection."""
        if any(s.dialog.source.connection_id == connection_id for s in self._ctx.calls.values()):
            return True
        layer = self._ctx.transactions
        return any(
            tx.flow.connection_id == connection_id
            for tx in (*layer.server.values(), *layer.client.values())
        )

    def handle_timer(self, now: float) -> None:
        """Fire every timer (transactions' and calls') due at ``now``."""
        heap = self._ctx.heap
        while (callback := heap.pop_due(now)) is not None:
            try:
                callback(now)
            except SipError:
                continue  # e.g. a BYE to a Route we cannot parse: the call still ends
        self._process(now)

    # ------------------------------------------------------------------ outputs

    def next_event(self) -> SipEvent | None:
        """The next event for the application, or None."""
        events = self._ctx.events
        return events.popleft() if events else None

    def datagrams_to_send(self) -> list[tuple[bytes, Flow]]:
        """Everything to transmit since the last call."""
        return self._ctx.transactions.datagrams_to_send()

    def get_timer(self) -> float | None:
        """The earliest deadline at which :meth:`handle_timer` must run."""
        return self._ctx.heap.next_deadline()

    @property
    def busy(self) -> bool:
        """Whether calls, our BYEs or unregisters are still in progress (for a clean shutdown)."""
        return bool(self._ctx.calls) or self._register.busy

    # ------------------------------------------------------------------ application actions

    def call(self, spec: OutboundCall, now: float) -> CallInfo:
        """Place a call: send the INVITE; events follow (see :mod:`~sipgw.sip.usages.outbound`).

        Raises:
            InvalidState: we are shutting down.
            LocalProtocolError: the target, From or a route is not a SIP URI.
        """
        return self._outbound.call(spec, now)

    def ring(self, call: CallInfo, now: float) -> None:
        """Send 180 Ringing (once); nothing for an outbound call."""
        session = self._ctx.session_of(call)
        if session is not None and session.uac is None:
            self._invite.ring(session, now)

    def prefer_codecs(self, call: CallInfo, codecs: tuple[RtpCodec, ...]) -> str | None:
        """An incoming call's own codecs, most preferred first, before it is answered (a
        line's or an account's): the name of the codec the answer will carry, None for an
        INVITE without an offer.

        Raises:
            SdpError: none of them is in the offer (status_hint 488: reject the call).
            InvalidState: the call has ended, is ours, or is answered already.
        """
        session = self._ctx.session_of(call)
        if session is None or session.uac is not None:
            raise InvalidState("only a ringing incoming call's codecs can be chosen")
        return self._invite.prefer_codecs(session, codecs)

    def progress(self, call: CallInfo, rtp_port: int, now: float) -> NegotiatedAudio | None:
        """Early media: 183 Session Progress with our answer (the 200 OK of :meth:`answer`
        repeats it); the media, None for an INVITE without an offer.

        Raises:
            InvalidState: the call is not ringing any more, or is ours.
        """
        session = self._ctx.session_of(call)
        if session is None or session.uac is not None:
            raise InvalidState("only a ringing incoming call has early media from us")
        return self._invite.progress(session, rtp_port, now)

    def answer(self, call: CallInfo, rtp_port: int, now: float) -> NegotiatedAudio | None:
        """Answer with 200 OK; returns the media, or None until the ACK brings the answer.

        Raises:
            InvalidState: the call is not ringing any more.
        """
        session = self._ctx.session_of(call)
        if session is None:
            raise InvalidState("cannot answer a call that has ended")
        if session.uac is not None:
            raise InvalidState("an outbound call is answered by the peer")
        return self._invite.answer(session, rtp_port, now)

    def reject(
        self,
        call: CallInfo,
        status: int,
        now: float,
        reason: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Answer the INVITE with a final error status and end the call (incoming calls);
        ``headers`` go in the response (a 420's Unsupported, a 421's Require)."""
        session = self._ctx.session_of(call)
        if session is not None and session.uac is None:
            self._invite.reject(session, status, now, reason, headers)

    def answer_recording(
        self, call: CallInfo, ports: dict[int, int], now: float
    ) -> dict[int, NegotiatedAudio]:
        """Answer a SIPREC recording session as its SRS (:mod:`sipgw.sip.srs`): 200 OK,
        each stream of ``ports`` (``m=`` line index -> our RTP port) received. What was
        agreed for each stream answered, by index.

        Raises:
            InvalidState: the call has ended, is not ringing, or has no offer.
            SdpError: no stream can be received, or one names an address we may not send
                to (488; nothing was sent).
        """
        session = self._ctx.session_of(call)
        if session is None or session.uac is not None:
            raise InvalidState("cannot answer a recording session that has ended")
        return self._invite.answer_recording(session, ports, now)

    def answer_recording_offer(self, call: CallInfo, ports: dict[int, int], now: float) -> None:
        """Answer a recording session's re-INVITE or UPDATE that offered new streams
        (:class:`~sipgw.sip.events.RecordingStreamsOffered`): each new stream of ``ports``
        (``m=`` line index -> our RTP port) ``a=recvonly``, the others rejected (port 0);
        what the streams agree comes as :class:`~sipgw.sip.events.RecordingStreamsUpdated`.

        Raises:
            InvalidState: the call has ended, or no such offer awaits an answer.
        """
        session = self._ctx.session_of(call)
        if session is None:
            raise InvalidState("the call has ended")
        self._modify.answer_recording_offer(session, ports, now)

    def request_recording_metadata(self, call: CallInfo, reason: str, now: float) -> bool:
        """Ask a recording session's SRC for a metadata snapshot (RFC 7866 §9.3: an UPDATE,
        :mod:`sipgw.sip.usages.snapshot`); False when it is not sent: the session was asked
        :data:`~sipgw.sip.usages.snapshot.MAX_SNAPSHOT_REQUESTS` times already, or its SRC
        does not allow UPDATE.

        Raises:
            InvalidState: the call has ended, is no recording session, or is not confirmed.
        """
        session = self._ctx.session_of(call)
        if session is None:
            raise InvalidState("the call has ended")
        return self._snapshot.request(session, reason, now)

    def hangup(self, call: CallInfo, now: float, status: int = 480) -> None:
        """End the call from our side.

        Incoming: reject it with ``status`` if unanswered, else BYE (§15).
        Outbound: CANCEL it while it rings (§9.1), else BYE.
        """
        session = self._ctx.session_of(call)
        if session is None:
            return
        self._modify.drop_recording_offer(session, now)
        if session.uac is not None:
            self._outbound.hangup(session, now)
        else:
            self._invite.hangup(session, now, status)

    def refer(
        self,
        call: CallInfo,
        target: Uri | str,
        now: float,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        user_to_user: str | None = None,
        notify_timeout: float = DEFAULT_NOTIFY_TIMEOUT,
    ) -> None:
        """Ask the caller's phone to call ``target`` instead (blind transfer, RFC 3515).

        ``target`` is a URI or its text; ``Refer-To`` carries the URI as parsed, with
        ``user_to_user`` embedded (RFC 7433); ``headers`` are ``X-`` headers for the REFER.

        Progress comes back as :class:`~sipgw.sip.events.TransferUpdated` events; a final
        NOTIFY that has not come ``notify_timeout`` seconds after the REFER's 2xx is a
        failure (408, :mod:`sipgw.sip.usages.refer`).

        Raises:
            InvalidState: the call is not confirmed.
            LocalProtocolError: ``target`` is not a URI, or a header is not allowed.
        """
        session = self._ctx.session_of(call)
        if session is None:
            raise InvalidState("cannot transfer a call that has ended")
        self._refer.refer(session, target, now, headers, user_to_user, notify_timeout)

    def refer_replacing(self, call: CallInfo, replaced: CallInfo, now: float) -> None:
        """Attended transfer (RFC 5589 §7): ask ``call``'s phone to call the peer of
        ``replaced`` (another call of ours, confirmed) with ``Replaces``, so that the new
        call takes the place of ``replaced``. Progress as for :meth:`refer`; the peer of
        ``replaced`` then ends it with a BYE.

        Raises:
            InvalidState: either call is not confirmed, or has ended.
            LocalProtocolError: the peer's Contact is no SIP URI.
        """
        session, other = self._ctx.session_of(call), self._ctx.session_of(replaced)
        if session is None or other is None:
            raise InvalidState("cannot transfer a call that has ended")
        if other.state is not CallState.CONFIRMED:
            raise InvalidState(f"cannot replace a call in state {other.state.name}")
        self._refer.refer(session, replacing_target(other.dialog), now)

    def answer_refer(self, call: CallInfo, status: int, now: float) -> None:
        """Answer the peer's REFER (:class:`~sipgw.sip.events.TransferRequested`): 202 accepts
        it and sends the first NOTIFY (``SIP/2.0 100 Trying``), 300 and up refuse it
        (:mod:`sipgw.sip.usages.referee`).

        Raises:
            InvalidState: the call has ended, or no REFER of it awaits an answer.
            ValueError: ``status`` is neither 202 nor a refusal.
        """
        session = self._ctx.session_of(call)
        if session is None:
            raise InvalidState("the call has ended")
        self._referee.answer(session, status, now)

    def notify_refer(self, call: CallInfo, status: int, now: float, reason: str = "") -> None:
        """Report on the peer's REFER we accepted: a NOTIFY whose sipfrag holds ``status``
        (from 200 the last one, which ends the subscription).

        Raises:
            InvalidState: the call has ended, or no accepted REFER of it is open.
        """
        session = self._ctx.session_of(call)
        if session is None:
            raise InvalidState("the call has ended")
        self._referee.notify(session, status, now, reason)

    def peer_allows(self, call: CallInfo, method: str) -> bool:
        """Whether the call's peer listed ``method`` in its Allow (its INVITE's or 2xx's)."""
        session = self._ctx.session_of(call)
        return session is not None and method.lower() in tokens(session.peer_allow)

    def peer_supports(self, call: CallInfo, option: str) -> bool:
        """Whether the call's peer listed ``option`` in its Supported (e.g. ``replaces``)."""
        session = self._ctx.session_of(call)
        return session is not None and option.lower() in tokens(session.peer_supported)

    def register(self, account: RegistrationConfig, now: float) -> None:
        """Start registering an account (RFC 3261 §10); the first REGISTER goes out now.

        Its progress comes back as :class:`~sipgw.sip.events.RegistrationChanged`
        events; it refreshes and retries by itself until :meth:`unregister`.

        Raises:
            LocalProtocolError: a URI or the transport of ``account`` is unusable.
            InvalidState: that AOR is already registering.
        """
        self._register.start(account, now)

    def retarget(self, aor: str, targets: tuple[Flow, ...], now: float) -> None:
        """New places an account's REGISTERs may go, in order (its registrar's DNS answers
        were looked up again, RFC 3263); they take effect from its next request."""
        self._register.retarget(aor, targets)

    def unregister(self, aor: str | None, now: float) -> None:
        """Remove one account's binding (Expires: 0), or every account's when ``aor`` is None.

        Each ends with a :class:`~sipgw.sip.events.RegistrationChanged` UNREGISTERED.
        """
        self._register.stop(aor, now)

    @property
    def registrations(self) -> list[str]:
        """The AORs being registered (until their unregister completes)."""
        return list(self._register.bindings)

    def shutdown(self, now: float) -> None:
        """Stop taking calls, hang up every call (503 for unanswered ones), unregister all."""
        self._register.stop(None, now)
        self._ctx.draining = True
        for session in list(self._ctx.calls.values()):
            if session.uac is not None:
                self._outbound.hangup(session, now)
            elif not session.bye_pending and session.state is not CallState.ENDING:
                self._invite.hangup(session, now, status=503)

    # ------------------------------------------------------------------ event dispatch

    def _process(self, now: float) -> None:
        transactions = self._ctx.transactions
        while (event := transactions.next_event()) is not None:
            try:
                if isinstance(event, RequestReceived):
                    self._on_request(event.transaction, event.request, event.flow, now)
                elif isinstance(event, AckReceived):
                    self._invite.ack(event.request, now)
                elif isinstance(event, TransactionTimedOut):
                    if isinstance(event.transaction, InviteServerTransaction):
                        self._invite.invite_timed_out(event.transaction)
                elif isinstance(event, StrayResponse):
                    # An outbound call's 2xx retransmitted after Timer M: its
                    # ACK goes again (RFC 3261 §13.2.2.4).
                    self._outbound.stray_response(event.response, now)
            except SipError:
                continue

    def _on_request(self, tx: ServerTransaction, req: SipRequest, flow: Flow, now: float) -> None:
        try:
            self._check_request(req)
            # Who may call was decided before the transaction existed (strangers.py).
            if req.method == "INVITE" and self.access.guards(req):
                self._check_call_rate(req, now)
            if req.method == "CANCEL":
                self._invite.cancel(tx, req, now)
            elif req.to.tag:
                self._on_in_dialog(tx, req, now)
            elif req.method == "INVITE":
                assert isinstance(tx, InviteServerTransaction)
                # named sources only, never "anyone" nor a default (RFC 3325 §4)
                trusted = self.access.trusts(flow.address[0])
                self._invite.offer(tx, req, flow, now, trusted_source=trusted)
            elif req.method == "OPTIONS":
                self._on_options(tx, req, now)
            elif req.method in _DIALOG_ONLY:
                self._ctx.respond(tx, req, 481, now)
            else:
                self._ctx.respond(tx, req, 405, now)
        except RemoteProtocolError as exc:
            self._ctx.respond_error(tx, req, exc, now)

    def _check_call_rate(self, req: SipRequest, now: float) -> None:
        """The new-call rate limits, for an admitted INVITE outside a dialog.

        Raises:
            RemoteProtocolError: 503 (with Retry-After, as every 503 of ours).
        """
        if self.call_rate is None:
            return
        why = self.call_rate.admit(req, now)
        if why is not None:
            raise RemoteProtocolError(why, 503)

    def _check_request(self, req: SipRequest) -> None:
        """The checks of RFC 3261 §8.2.1–8.2.2 that precede method handling."""
        if req.method not in KNOWN_METHODS:
            raise RemoteProtocolError(f"method {req.method} not implemented", 501)
        uri = req.request_uri
        if not isinstance(uri, SipUri):
            raise RemoteProtocolError(f"unsupported URI scheme {uri.scheme}", 416)
        if req.method != "CANCEL":
            require = req.headers.get_all("Require")
            unsupported = [tag for tag in require if tag.lower() not in _SUPPORTED_TAGS]
            if unsupported:  # §8.2.2.3: 420 naming them
                tags = ", ".join(unsupported)
                raise Rejection(f"unsupported extension {tags}", 420, [("Unsupported", tags)])

    def _on_in_dialog(self, tx: ServerTransaction, req: SipRequest, now: float) -> None:
        session = self._ctx.find_dialog(req)
        if session is None:
            raise RemoteProtocolError("call leg does not exist", 481)  # §12.2.2
        session.dialog.check_remote_cseq(req)
        if req.method == "BYE":
            self._modify.drop_recording_offer(session, now)
            self._invite.bye(session, tx, req, now)
            return
        if session.state in (CallState.ENDING, CallState.ENDED) or session.bye_pending:
            raise RemoteProtocolError("call is ending", 481)
        if req.method == "PRACK":
            self._invite.reliable.prack(session, tx, req, now)
            return
        handler = self._in_dialog.get(req.method)
        if handler is None:
            self._ctx.respond(tx, req, 405, now)
        else:
            handler(session, tx, req, now)

    def _on_options(
        self, tx: ServerTransaction, req: SipRequest, now: float, in_dialog: bool = False
    ) -> None:
        # An in-dialog probe (a call's keep-alive) is never refused: while draining or
        # overloaded the running calls go on; only new calls and dispatcher probes get 503.
        overloaded = self._ctx.overload_retry_after is not None
        refuse = (self._ctx.draining or overloaded) and not in_dialog
        self._ctx.respond(tx, req, 503 if refuse else 200, now)

    def _on_info(
        self, session: CallSession, tx: ServerTransaction, req: SipRequest, now: float
    ) -> None:
        """SIP INFO: keypad digits (application/dtmf-relay or dtmf), or a keep-alive probe."""
        if not req.body:
            self._ctx.respond(tx, req, 200, now)  # an empty INFO is a keep-alive probe
            return
        content_type = req.content_type or ""
        if content_type not in DTMF_CONTENT_TYPES:
            raise RemoteProtocolError(f"unsupported INFO body {content_type}", 415)
        digit, duration = parse_dtmf_info(req)
        self._ctx.respond(tx, req, 200, now)
        self._ctx.events.append(DtmfReceived(session.info, digit, duration))

    # ------------------------------------------------------------------ stateless helpers

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

    def _observe_public_address(self, response: SipResponse, flow: Flow) -> None:
        """Where the peer saw our request come from (RFC 3261 §18.2.1, RFC 3581 §4)."""
        try:
            via = response.top_via
        except SipError:
            return
        if via.received is None and via.rport is None:
            return
        config = self.config
        if via.host.strip("[]").lower() != config.public_host.lower():
            return  # not a Via of ours
        announced = (config.public_host, config.sip_port)
        port = via.rport if flow.transport == "UDP" and via.rport is not None else config.sip_port
        observed = ((via.received or via.host).strip("[]"), port)
        previous, self._observed = self._observed, observed
        if observed != previous and not _same_address(observed, announced):
            self._ctx.events.append(PublicAddressObserved(announced, observed, flow.address))

    def _reply_stateless(
        self,
        req: SipRequest,
        flow: Flow,
        size: int,
        status: int,
        reason: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Answer without a transaction; over UDP within ``size`` octets
        (sipgw/sip/stateless.py)."""
        try:
            destination = response_flow(req.top_via, flow)
        except SipError:
            destination = flow  # a Via we cannot read: answer where the packet came from
        response = self.responder.build(req, status, reason_phrase(status, reason), headers)
        data = self.responder.fit(response, None if flow.reliable else size)
        if data is not None:
            self._ctx.transactions.send_stateless(data, destination)


def _same_address(a: tuple[str, int], b: tuple[str, int]) -> bool:
    """Equal hosts (IP literals compared as addresses) and ports."""
    if a[1] != b[1]:
        return False
    try:
        return ipaddress.ip_address(a[0]) == ipaddress.ip_address(b[0])
    except ValueError:
        return a[0].lower() == b[0].lower()
