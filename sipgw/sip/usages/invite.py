"""The INVITE usage: a call from its INVITE to its BYE, as the UAS (RFC 3261 §13-15).

Theory of operation
-------------------
A new INVITE that passes the checks (§8.2, and ours: capacity, an offer we
can answer, an acceptable session interval) gets 100 Trying, a dialog
(§12.1.1) and a :class:`~sipgw.sip.events.CallOffered`. The application then
rings, answers or rejects.

Our 2xx to an INVITE (the first one, or a re-INVITE's, which
:mod:`~sipgw.sip.usages.modify` sends through :meth:`InviteUsage.send_2xx`) is
retransmitted at T1, 2·T1, ... capped at T2 until its ACK comes
(§13.3.1.4). With no ACK after 64·T1 the call is confirmed and ended with a
BYE. The ACK may carry the answer to an offer we made in the 2xx (delayed
offer, or a re-INVITE without SDP); an initial offer left unanswered ends the
call.

We never send BYE before the ACK of our 2xx (§15): a hang-up in between
marks the call ``bye_pending`` and reports it ended at once; the BYE goes
out with the ACK or the give-up. CANCEL of a ringing call answers the
INVITE with 487 (§9.2); a BYE on the early dialog does the same (§15.1.2).
"""

from __future__ import annotations

import secrets
from functools import partial

from sipgw.sip.addressing import Flow
from sipgw.sip.body import sdp_body
from sipgw.sip.call import CallInfo, CallState
from sipgw.sip.dialog import Dialog
from sipgw.sip.errors import InvalidState, RemoteProtocolError, SdpError
from sipgw.sip.events import CallConfirmed, CallOffered, EndReason, InviteRefusedForOverload
from sipgw.sip.identity import uri_number
from sipgw.sip.invitedetails import InviteDetails
from sipgw.sip.message import SipRequest, SipResponse, make_response
from sipgw.sip.offeranswer import (
    LocalMedia,
    NegotiatedAudio,
    OfferChoice,
    RtpCodec,
    accept_answer,
    answer_with,
    choose_answer,
    create_offer,
)
from sipgw.sip.sdes import KEY_SALT_LENGTH, SrtpUse, srtp_use
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.srs import recording_answer, recording_request
from sipgw.sip.transaction import InviteServerTransaction, ServerTransaction
from sipgw.sip.trustedid import trusted_number
from sipgw.sip.usages.context import UsageContext
from sipgw.sip.usages.prack import ReliableProvisionals
from sipgw.sip.usages.session import CallSession, PendingAck
from sipgw.sip.usages.sessiontimer import SessionTimerUsage
from sipgw.sip.verification import NOT_VERIFIED, caller_verification

__all__ = ["InviteUsage", "parse_offer"]

_RINGING = (CallState.INCOMING, CallState.RINGING)


def parse_offer(request: SipRequest) -> SessionDescription | None:
    """The SDP of a request, or None when it carries none."""
    body = sdp_body(request)
    return None if body is None else SessionDescription.parse(body)


class InviteUsage:
    """Calls from INVITE to BYE; see the module docstring."""

    def __init__(self, ctx: UsageContext, session_timers: SessionTimerUsage) -> None:
        self.ctx = ctx
        self.session_timers = session_timers
        self.reliable = ReliableProvisionals(ctx, self.reject)

    # ------------------------------------------------------------------ a new INVITE

    def offer(
        self,
        tx: InviteServerTransaction,
        request: SipRequest,
        flow: Flow,
        now: float,
        trusted_source: bool = False,
    ) -> None:
        """Validate a new INVITE and offer the call to the application.

        ``trusted_source``: it came from a source the operator named, whose
        P-Asserted-Identity may be believed (:mod:`sipgw.sip.trustedid`).

        Raises:
            RemoteProtocolError: the status to refuse it with (406, 482, 488, 491, 503, ...).
        """
        ctx = self.ctx
        self._check_accept(request)
        remote_tag = request.from_.tag or ""
        existing = ctx.find_incoming(request.call_id, remote_tag)
        if existing is not None:
            if existing.invite.cseq.number == request.cseq.number:
                raise RemoteProtocolError("merged request", 482)  # §8.2.2.2
            raise RemoteProtocolError("request pending", 491)  # §14.2
        if ctx.draining:
            raise RemoteProtocolError("shutting down", 503)
        if ctx.overload_retry_after is not None:
            ctx.overload_refused += 1
            ctx.events.append(InviteRefusedForOverload(flow.address, str(request.from_.uri)))
            raise RemoteProtocolError("overloaded", 503)
        limit = ctx.config.max_calls
        if limit is not None and len(ctx.calls) + ctx.other_calls >= limit:
            raise RemoteProtocolError("at capacity", 503)
        offer = parse_offer(request)
        choice = None
        if offer is not None:
            # Chosen once, kept for the answer: 488 now rather than after ringing (an SRTP
            # offer the policy refuses, too, and an address we will not send media to).
            choice = self.choose(offer, flow.transport)
            ctx.check_media(choice.remote_address, flow.address[0])
        self.session_timers.check(request)
        dialog = Dialog.for_uas(
            request,
            flow,
            local_tag=ctx.new_tag(),
            local_cseq=ctx.rng.randrange(1, 2**16),
            nat_fix=ctx.config.nat_fix,
        )
        details = InviteDetails.of(request.headers)
        asserted = trusted_number(request.headers) if trusted_source else ""
        verification = (
            caller_verification(
                request.headers, str(request.from_.uri), (uri_number(request.from_.uri), asserted)
            )
            if trusted_source
            else NOT_VERIFIED
        )  # a carrier's word, believed from a named source only, like its PAI
        info = CallInfo(
            (request.call_id, dialog.local_tag), request.from_, request.to, details=details,
            request_uri=request.uri, source=flow,
            trusted_identity=asserted, verification=verification,
            recording=recording_request(request, offer),
        )  # fmt: skip
        session = CallSession(info, request, tx, dialog, offer, choice=choice)
        self.reliable.start(session)
        ctx.add(session)
        ctx.respond(tx, request, 100, now)
        ctx.events.append(CallOffered(info))

    def _check_accept(self, request: SipRequest) -> None:
        """§8.2.3 / RFC 4475 §3.3.15: our 2xx carries SDP; 406 if the UAC won't take it."""
        accepted = [v.split(";")[0].strip().lower() for v in request.headers.get_all("Accept")]
        if accepted and not any(v in ("application/sdp", "application/*", "*/*") for v in accepted):
            raise RemoteProtocolError("Accept does not include application/sdp", 406)

    def choose(self, offer: SessionDescription, transport: str) -> OfferChoice:
        """What we accept of ``offer`` on a call signalled over ``transport`` (raises SdpError)."""
        config = self.ctx.config
        return choose_answer(offer, config.codecs, srtp_use(config.srtp_policy, transport))

    def prefer_codecs(self, session: CallSession, codecs: tuple[RtpCodec, ...]) -> str | None:
        """The call's own codecs (a line's, an account's) before it is answered: the offer's
        codec is chosen again from them (RFC 3264 §6.1: ours, in our order), and the answer
        and any later offer of ours list them. The chosen codec's name, None without an
        offer (a delayed offer: our offer in the 2xx lists them).

        Raises:
            SdpError: none of ``codecs`` is in the offer (488).
            InvalidState: the call is answered already.
        """
        if session.state not in _RINGING:
            raise InvalidState(f"cannot change the codecs of a call in state {session.state.name}")
        if not codecs:
            raise ValueError("codecs must not be empty")
        choice = None
        if session.offer is not None:
            transport = session.server_transaction.flow.transport
            config = self.ctx.config
            choice = choose_answer(session.offer, codecs, srtp_use(config.srtp_policy, transport))
            self.ctx.check_media(choice.remote_address, session.dialog.source.address[0])
        session.codecs = codecs
        if choice is None:
            return None
        session.choice = choice
        return choice.codec

    def _local_media(
        self,
        transport: str,
        port: int,
        session_id: str = "0",
        version: int = 0,
        key: bytes | None = None,
        codecs: tuple[RtpCodec, ...] | None = None,
    ) -> LocalMedia:
        """Our media for a call signalled over ``transport``; a fresh SRTP key
        (RFC 4568 §6.1: random, from the OS) unless ``key`` is given."""
        config = self.ctx.config
        srtp = srtp_use(config.srtp_policy, transport)
        if srtp is not SrtpUse.OFF and key is None:
            key = secrets.token_bytes(KEY_SALT_LENGTH)
        return LocalMedia(
            address=config.public_host,
            port=port,
            session_id=session_id,
            session_version=version,
            codecs=codecs or config.codecs,
            telephone_event=config.telephone_event,
            ptime=config.ptime,
            srtp=srtp,
            srtp_key=key if srtp is not SrtpUse.OFF and key is not None else b"",
            origin_username=config.sdp_username,
            session_name=config.sdp_session_name,
        )

    # ------------------------------------------------------------------ application actions

    def ring(self, session: CallSession, now: float) -> None:
        """Send 180 Ringing (once)."""
        if session.state is not CallState.INCOMING:
            return
        response = self.ctx.dialog_response(session, 180)
        self.reliable.send_1xx(session, response, now)
        session.state = CallState.RINGING

    def progress(self, session: CallSession, rtp_port: int, now: float) -> NegotiatedAudio | None:
        """183 Session Progress with our SDP answer: early media (the gateway model of
        RFC 3960 §3.1; RFC 3261 §13.3.1.1 lets a UAS send it). The 200 OK that answers the
        call later carries the same answer (§13.2.1: the answer in the 2xx, which is the
        reliable one, is the one given here). The media, or None for an INVITE without an
        offer (no early media: our offer goes in the 2xx).

        Raises:
            InvalidState: the call is not ringing any more.
        """
        if session.state not in _RINGING:
            raise InvalidState(f"cannot send early media on a call in state {session.state.name}")
        if session.offer is None:
            return None
        if session.media is None:
            transport = session.server_transaction.flow.transport
            local = self._local_media(
                transport, rtp_port, str(self.ctx.rng.getrandbits(31)), 1, codecs=session.codecs
            )
            session.local_media = local
            choice = session.choice or self.choose(session.offer, transport)
            session.local_sdp, session.media = answer_with(session.offer, choice, local)
        response = self.ctx.dialog_response(session, 183)
        assert session.local_sdp is not None
        self.ctx.attach_sdp(response, session.local_sdp)
        self.reliable.send_1xx(session, response, now)
        session.state = CallState.RINGING
        return session.media

    def answer(self, session: CallSession, rtp_port: int, now: float) -> NegotiatedAudio | None:
        """Answer with 200 OK and SDP (the answer of an earlier 183, if one was sent:
        :meth:`progress`); the media, or None until the ACK brings the answer.

        Raises:
            InvalidState: the call is not ringing any more.
        """
        if session.state not in _RINGING:
            raise InvalidState(f"cannot answer a call in state {session.state.name}")
        if session.media is not None and session.local_sdp is not None:
            # given in a 183 (the current one, if an UPDATE in the early dialog changed it)
            response = self.ctx.dialog_response(session, 200)
            self.session_timers.announce(session, session.invite, response)
            self.ctx.attach_sdp(response, session.local_sdp)
            self._answer(session, response, now)
            session.state = CallState.ANSWERED
            return session.media
        transport = session.server_transaction.flow.transport
        local = self._local_media(
            transport, rtp_port, str(self.ctx.rng.getrandbits(31)), 1, codecs=session.codecs
        )
        session.local_media = local
        media = None
        if session.offer is not None:
            # The choice made when the INVITE came (a session built without one chooses now).
            choice = session.choice or self.choose(session.offer, transport)
            session.local_sdp, media = answer_with(session.offer, choice, local)
            session.media = media
        else:
            session.local_sdp = create_offer(local)
            session.offer_in_2xx = True
        response = self.ctx.dialog_response(session, 200)
        self.session_timers.announce(session, session.invite, response)
        self.ctx.attach_sdp(response, session.local_sdp)
        self._answer(session, response, now)
        session.state = CallState.ANSWERED
        return media

    def answer_recording(
        self, session: CallSession, ports: dict[int, int], now: float
    ) -> dict[int, NegotiatedAudio]:
        """Answer a recording session as its SRS (RFC 7866 §8.1.1, :mod:`sipgw.sip.srs`):
        200 OK with each stream of ``ports`` (``m=`` line index -> our RTP port)
        ``a=recvonly``, our Contact with ``+sip.srs``. What was agreed for each stream
        answered, by index (the call's media is the first's).

        Raises:
            InvalidState: the call is not ringing any more, or has no offer.
            SdpError: no stream can be received, or one names an address we may not send
                to (:mod:`sipgw.sip.mediatarget`; our RTCP goes there): 488, nothing sent.
        """
        if session.state not in _RINGING or session.offer is None:
            raise InvalidState(f"cannot answer a recording session in state {session.state.name}")
        transport = session.server_transaction.flow.transport
        port = next(iter(ports.values()), 0)
        local = self._local_media(
            transport, port or 9, str(self.ctx.rng.getrandbits(31)), 1, codecs=session.codecs
        )
        sdp, agreed = recording_answer(session.offer, local, ports)
        for stream in agreed.values():  # our RTCP goes there: the same rule as a call's RTP
            self.ctx.check_media(stream.remote_address, session.dialog.source.address[0])
        session.local_sdp = sdp
        session.local_media = local
        session.recording_ports = {index: ports[index] for index in agreed}
        session.media = next(iter(agreed.values()))
        response = self.ctx.dialog_response(session, 200)
        self.session_timers.announce(session, session.invite, response)
        self.ctx.attach_sdp(response, session.local_sdp)
        self._answer(session, response, now)
        session.state = CallState.ANSWERED
        return agreed

    def early(self, session: CallSession) -> bool:
        """Whether an incoming call's dialog is still early: its INVITE has no 2xx yet
        (ringing, or the 2xx waits for the PRACK of a reliable 1xx)."""
        return session.state in _RINGING or self.reliable.holding(session)

    def _answer(self, session: CallSession, response: SipResponse, now: float) -> None:
        """Send the 2xx to the INVITE, after the PRACK of a reliable 1xx that carried our
        answer (:mod:`sipgw.sip.usages.prack`)."""
        send = partial(self.send_2xx, session, session.server_transaction, response)
        self.reliable.send_2xx(session, send, now)

    def reject(
        self,
        session: CallSession,
        status: int,
        now: float,
        reason: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Answer the INVITE with a final error status (and ``headers``: a 420's
        Unsupported, a 421's Require) and end the call."""
        if session.state not in _RINGING:
            return
        self.reliable.stop(session)
        response = make_response(session.invite, status, reason, to_tag=session.dialog.local_tag)
        for name, value in headers:
            response.headers.add(name, value)
        if status == 503:
            response.headers.add("Retry-After", "30")
        self.ctx.transactions.respond(session.server_transaction, response, now)
        self.ctx.end(session, EndReason.REJECTED, status)

    def hangup(self, session: CallSession, now: float, status: int = 480) -> None:
        """End the call from our side: reject it if unanswered, else BYE (§15)."""
        if session.state in _RINGING:
            self.reject(session, status, now)
        elif session.state is CallState.ANSWERED:
            session.bye_pending = True  # §15: no BYE before the ACK of our 2xx
            self.ctx.end(session, EndReason.LOCAL_BYE, keep_dialog=True)
        elif session.state is CallState.CONFIRMED:
            self.ctx.hang_up(session, EndReason.LOCAL_BYE, now)

    # ------------------------------------------------------------------ CANCEL and BYE

    def cancel(self, tx: ServerTransaction, request: SipRequest, now: float) -> None:
        """CANCEL (§9.2): 200 to it; 487 to the INVITE if the call still rings.

        Raises:
            RemoteProtocolError: 481 when no INVITE transaction matches.
        """
        invite_tx = self.ctx.transactions.find_server(request, "INVITE")
        if invite_tx is None:
            raise RemoteProtocolError("no matching INVITE", 481)
        self.ctx.respond(tx, request, 200, now)
        session = self.ctx.find_incoming(request.call_id, request.from_.tag or "")
        if session is None or session.transaction is not invite_tx:
            return
        if session.state in _RINGING or self.reliable.holding(session):
            self.reliable.stop(session)  # a 2xx that waited for a PRACK goes no more
            self._terminate_invite(session, now)
            self.ctx.end(session, EndReason.CANCELLED, 487)

    def bye(
        self, session: CallSession, tx: ServerTransaction, request: SipRequest, now: float
    ) -> None:
        """The caller hung up."""
        self.ctx.respond(tx, request, 200, now)
        if session.state in _RINGING:
            self._terminate_invite(session, now)  # §15.1.2: BYE on the early dialog
        self.ctx.end(session, EndReason.REMOTE_BYE)

    def _terminate_invite(self, session: CallSession, now: float) -> None:
        response = make_response(session.invite, 487, to_tag=session.dialog.local_tag)
        self.ctx.transactions.respond(session.server_transaction, response, now)

    def invite_timed_out(self, tx: ServerTransaction) -> None:
        """The INVITE's transaction gave up (no ACK for our error, or a transport error)."""
        request = tx.request
        session = self.ctx.find_incoming(request.call_id, request.from_.tag or "")
        if session is not None and session.transaction is tx:
            self.ctx.end(session, EndReason.TRANSPORT_ERROR)

    # ------------------------------------------------------------------ 2xx reliability

    def send_2xx(
        self, session: CallSession, tx: InviteServerTransaction, response: SipResponse, now: float
    ) -> None:
        """Send a 2xx to an INVITE and keep sending it until its ACK (§13.3.1.4)."""
        self.ctx.transactions.respond(tx, response, now)
        self._stop_resending(session)
        timers = self.ctx.config.timers
        heap = self.ctx.heap
        pending = PendingAck(tx.request.cseq.number, response.serialize(), tx.flow, timers.t1)
        if not tx.reliable:
            pending.retransmit = heap.schedule(
                now + pending.interval, partial(self._resend, session)
            )
        pending.give_up = heap.schedule(now + timers.h, partial(self._no_ack, session))
        session.pending_ack = pending

    def _resend(self, session: CallSession, now: float) -> None:
        pending = session.pending_ack
        if pending is None:
            return
        # §13.3.1.4: T1, 2·T1, ... capped at T2, until the ACK arrives.
        self.ctx.transactions.send_stateless(pending.data, pending.flow)
        pending.interval = min(2 * pending.interval, self.ctx.config.timers.t2)
        pending.retransmit = self.ctx.heap.schedule(
            now + pending.interval, partial(self._resend, session)
        )

    def _no_ack(self, session: CallSession, now: float) -> None:
        # §13.3.1.4: no ACK within 64·T1 - confirm the dialog and end it with BYE.
        self._stop_resending(session)
        session.bye_pending = False
        if session.state is not CallState.ENDING:
            self.ctx.send_bye(session, now)
        self.ctx.end(session, EndReason.NO_ACK, keep_dialog=True)

    def _stop_resending(self, session: CallSession) -> None:
        pending = session.pending_ack
        if pending is not None:
            self.ctx.heap.cancel(pending.retransmit)
            self.ctx.heap.cancel(pending.give_up)
            session.pending_ack = None

    def ack(self, request: SipRequest, now: float) -> None:
        """An ACK for a 2xx: stop resending it, take an answer it carries, confirm the call."""
        if not request.to.tag:
            return
        session = self.ctx.find_dialog(request)
        if session is None:
            return
        pending = session.pending_ack
        if pending is None or pending.cseq != request.cseq.number:
            return  # a retransmitted or stray ACK
        self._stop_resending(session)
        media: NegotiatedAudio | None = None
        failed = False
        if session.offer_in_2xx:
            session.offer_in_2xx = False
            try:
                body = sdp_body(request)
                if body is not None and session.local_sdp is not None:
                    media = accept_answer(session.local_sdp, SessionDescription.parse(body))
                    self.ctx.check_media(media.remote_address, session.dialog.source.address[0])
                else:
                    failed = session.media is None  # initial offer never answered
            except (SdpError, RemoteProtocolError):
                failed = session.media is None
        first = session.state is CallState.ANSWERED
        if first:
            session.state = CallState.CONFIRMED
            self.session_timers.restart(session, now)
        if session.bye_pending or failed:
            session.bye_pending = False
            reason = EndReason.MEDIA_FAILED if failed else EndReason.LOCAL_BYE
            self.ctx.hang_up(session, reason, now)
            return
        if first:
            self.ctx.events.append(CallConfirmed(session.info))
        if media is not None:
            self.ctx.set_media(session, media)
