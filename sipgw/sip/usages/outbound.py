"""Outbound calls: the UAC side of an INVITE (RFC 3261 §13.2, §9.1, §22), sans-IO.

Theory of operation
-------------------
:meth:`OutboundUsage.call` builds an INVITE (§8.1.1) with our SDP offer and
sends it through an INVITE client transaction, to the first route (an
outbound proxy, loose routing) or else to the target. The call is a
:class:`~sipgw.sip.usages.session.CallSession` like an incoming one, with a
:class:`~sipgw.sip.usages.session.UacLeg` for what only a UAC keeps. The From is our
caller id; a trunk that reads P-Asserted-Identity or P-Preferred-Identity first gets it
there too, and a withheld caller id makes the From anonymous (:mod:`sipgw.sip.identity`).
``X-`` headers the application adds are checked against header injection first
(:mod:`sipgw.sip.customheaders`).

What comes back:

* **1xx** - the call is ``EARLY``. A 1xx with a To tag creates an early
  dialog (§13.2.2.1); one with SDP is the answer to our offer, so the peer
  may send early media (ring-back, announcements). Each 1xx but 100 is a
  :class:`~sipgw.sip.events.CallProgress`. One sent reliably (RFC 3262: ``Require:
  100rel``, an RSeq) gets a PRACK in its early dialog when it is that dialog's next in
  order; a repeat (the callee's retransmission) or one ahead of a missing one is
  neither acknowledged nor reported (§4). The 2xx's dialog goes on from the CSeq of the
  PRACKs.
* **2xx** - the first one confirms the call: its dialog comes from
  :meth:`~sipgw.sip.dialog.Dialog.for_uac`, we ACK it (§13.2.2.4) and report
  :class:`~sipgw.sip.events.CallAnswered` with the media of its SDP (or the
  early dialog's, when the 2xx repeats none). Every retransmission of a 2xx
  gets the same ACK again - also one arriving after the transaction ended,
  as a :class:`~sipgw.sip.transaction.StrayResponse`. A 2xx with another To tag
  is a fork that answered too (§13.2.2.4): it gets an ACK, then a BYE.
* **401/407** - answered once per challenge with the call's
  :class:`~sipgw.sip.auth.DigestClient`: a new INVITE with a new CSeq and branch,
  the same Call-ID and tags (§22.2); a second challenge the client refuses
  to answer ends the call.
* **3xx** - with :attr:`OutboundCall.redirects`, the INVITE goes to the targets its
  Contacts name (:mod:`sipgw.sip.redirect`: best ``q`` first, each judged before it is
  tried, none twice, at most ``hops`` 3xx in a call) as a new request with the
  same Call-ID, From and To, a new CSeq and branch (§8.1.3.4); a failure (not 6xx) of such
  a target moves on to the next. Each is a :class:`~sipgw.sip.events.CallRedirected`. The
  credentials of an earlier challenge are not sent to a redirect's target, nor are its own
  challenges answered, unless the INVITE goes through our outbound proxy (whose stay).
* **3xx-6xx** - the transaction layer ACKs it; the call ends with a reason
  for the status (:func:`end_reason`).
* **no response** - Timer B or a transport error: the target is unreachable.

The first hop may be several servers (RFC 3263; :mod:`sipgw.sip.locate`): with
:attr:`OutboundCall.targets`, a transport error or a timeout before any response, or a 503,
sends the INVITE again to the next one (§4.3: same CSeq, new Via branch; the Contact and
Via follow its transport); the call ends only when the last one failed.

Giving up before the answer (:meth:`OutboundUsage.hangup`, or the ring
timeout) sends CANCEL - but only once a provisional response arrived (§9.1);
until then it waits for one. The INVITE then normally ends with 487. If a 2xx
crosses our CANCEL, the call is ACKed and ended with BYE. If no final
response comes 64·T1 after the CANCEL, the INVITE is abandoned (§9.1).

Before the answer the callee may send an UPDATE in an early dialog (RFC 3311 §5.1):
:mod:`sipgw.sip.usages.modify` answers it, and its media becomes that dialog's.

Once confirmed, an outbound call is like any other: BYE both ways, re-INVITE
and UPDATE from the peer, session timers (the 2xx's Session-Expires says who
refreshes, RFC 4028 §7.2), INFO digits and REFER. Every placed call ends with
exactly one :class:`~sipgw.sip.events.CallEnded`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from functools import partial

from sipgw.sip.addressing import Flow, uri_flow
from sipgw.sip.auth import Credentials, DigestClient
from sipgw.sip.body import sdp_body
from sipgw.sip.call import CallInfo, CallState, Direction
from sipgw.sip.customheaders import check_custom_headers, received_custom_headers
from sipgw.sip.dialog import Dialog
from sipgw.sip.errors import InvalidState, LocalProtocolError, SipError
from sipgw.sip.events import CallAnswered, CallProgress, CallRedirected, EndReason
from sipgw.sip.finalreply import FinalReply
from sipgw.sip.headers import NameAddr
from sipgw.sip.identity import IdentityHeader, identity_headers
from sipgw.sip.message import Headers, SipRequest, SipResponse
from sipgw.sip.offeranswer import (
    LocalMedia,
    NegotiatedAudio,
    RtpCodec,
    accept_answer,
    create_offer,
)
from sipgw.sip.redirect import Redirects, redirect_targets, target_key
from sipgw.sip.reliable import OPTION, Rack, Reliability, next_in_order, rseq_of
from sipgw.sip.sdes import KEY_SALT_LENGTH, SrtpUse, srtp_use
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.sessiontimer import SessionTimer, parse_session_expires
from sipgw.sip.siprec import (
    REQUIRE,
    SRC_FEATURE,
    RecordingOffer,
    accept_recording_answer,
    multipart_body,
    recording_offer,
)
from sipgw.sip.transaction import InviteClientTransaction, NoResponse, Outcome
from sipgw.sip.uri import SipUri, copy_uri, parse_uri
from sipgw.sip.usages.context import ALLOW, SUPPORTED, UsageContext
from sipgw.sip.usages.session import CallSession, UacLeg
from sipgw.sip.usages.sessiontimer import SessionTimerUsage

__all__ = ["OutboundCall", "OutboundUsage", "end_reason", "first_hop"]

_AUTH_HEADERS = ("Authorization", "Proxy-Authorization")

_UNREACHABLE = frozenset({404, 410, 413, 414, 416, 484, 485, 502, 503, 504, 604})


def end_reason(status: int) -> EndReason:
    """Why an outbound call ended, from the final error status of its INVITE."""
    if status in (486, 600):
        return EndReason.BUSY
    if status == 603:
        return EndReason.DECLINED
    if status in (408, 480, 487):
        return EndReason.NO_ANSWER
    if status in _UNREACHABLE:
        return EndReason.UNREACHABLE
    return EndReason.FAILED


@dataclass(frozen=True, slots=True)
class OutboundCall:
    """A call to place with :meth:`~sipgw.sip.useragent.UserAgent.call`.

    Attributes:
        target: the URI to call (``sip:`` or ``sips:``), the Request-URI and To: as
            text, or parsed (the object a dial policy judged is then the one sent).
        rtp_port: our RTP port, offered in the SDP.
        from_uri: our address of record, the From; "" = ``sip:sipgw@<our host>``.
        display_name: the From's display name (caller id shown), if any.
        route: the route set to use, in order (an outbound proxy); each a SIP
            URI with ``;lr`` (loose routing), with or without angle brackets.
        credentials: what to answer 401/407 challenges with; None = give up on one.
        ring_timeout: seconds before we CANCEL an unanswered call; None = never.
        identity: the header that also carries ``from_uri`` as our caller id
            (P-Asserted-Identity or P-Preferred-Identity, RFC 3325), for trunks that
            read it before the From.
        withhold: hide our caller id from the callee (RFC 3323, ``Privacy: id``): the
            From is anonymous, ``from_uri`` goes in the identity header only.
        headers: ``X-`` headers to send (checked by
            :func:`~sipgw.sip.customheaders.check_custom_headers`).
        targets: where the INVITE may go, in order (the first hop's servers, RFC 3263,
            found by the application); empty = the first hop's own flow.
        codecs: the codecs our offer lists, most preferred first (a line's, an
            account's); empty = the gateway's (``UserAgentConfig.codecs``).
        recording: makes the call a SIPREC recording session (RFC 7866,
            :mod:`sipgw.sip.siprec`): the offer has one labelled ``sendonly`` stream per
            port of it (``rtp_port`` unused), the body is ``multipart/mixed`` with its
            metadata, the INVITE requires ``siprec`` and its Contact says ``+sip.src``;
            never SRTP. None: an ordinary call.
        redirects: whether and where a 3xx takes the call (:mod:`sipgw.sip.redirect`);
            None: a 3xx ends it.
        reliable: reliable provisional responses (RFC 3262, :mod:`sipgw.sip.reliable`):
            ``supported`` (the INVITE says ``Supported: 100rel``; a callee's reliable 1xx is
            PRACKed), ``required`` (``Require: 100rel``: a callee that cannot refuses the
            call with 420) or ``off`` (neither: a callee that requires them refuses it with
            421).
    """

    target: SipUri | str
    rtp_port: int
    from_uri: str = ""
    display_name: str | None = None
    route: tuple[str, ...] = ()
    credentials: Credentials | None = None
    ring_timeout: float | None = 60.0
    identity: IdentityHeader = IdentityHeader.NONE
    withhold: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    targets: tuple[Flow, ...] = ()
    codecs: tuple[RtpCodec, ...] = ()
    recording: RecordingOffer | None = None
    redirects: Redirects | None = None
    reliable: Reliability = "supported"


class OutboundUsage:
    """Places calls and follows them until answered; see the module docstring."""

    def __init__(self, ctx: UsageContext, session_timers: SessionTimerUsage) -> None:
        self.ctx = ctx
        self.session_timers = session_timers

    # ------------------------------------------------------------------ placing a call

    def call(self, spec: OutboundCall, now: float) -> CallInfo:
        """Send the INVITE; returns the new call's view.

        Raises:
            InvalidState: we are shutting down.
            LocalProtocolError: the target, From or a route is not a usable SIP URI, or a
                custom header is not allowed.
        """
        ctx = self.ctx
        if ctx.draining:
            raise InvalidState("shutting down: no new calls")
        target = _sip_uri(spec.target, "target")
        routes = [_route(value) for value in spec.route]
        targets = spec.targets or (uri_flow(first_hop(spec), ctx.config.transport),)
        flow = targets[0]
        caller = str(_sip_uri(spec.from_uri or f"sip:sipgw@{ctx.config.public_host}", "from"))
        try:
            custom = check_custom_headers(spec.headers)
            caller, display, identity = identity_headers(
                caller, spec.display_name or None, spec.identity, spec.withhold
            )
        except (ValueError, SipError) as exc:
            raise LocalProtocolError(str(exc)) from None
        from_uri = _sip_uri(caller, "from")
        local_tag = ctx.new_tag()
        local = NameAddr(from_uri, display, {"tag": local_tag})
        remote = NameAddr(target)
        call_id = f"{ctx.rng.getrandbits(64):016x}@{ctx.config.public_host}"
        cseq = ctx.rng.randrange(1, 2**16)
        srtp = srtp_use(ctx.config.srtp_policy, flow.transport)
        media = LocalMedia(
            address=ctx.config.public_host,
            port=spec.rtp_port,
            session_id=str(ctx.rng.getrandbits(31)),
            session_version=1,
            codecs=spec.codecs or ctx.config.codecs,
            telephone_event=ctx.config.telephone_event,
            ptime=ctx.config.ptime,
            # Over TLS we offer RTP/SAVP (RFC 4568 keys stay inside the TLS channel).
            srtp=srtp,
            srtp_key=secrets.token_bytes(KEY_SALT_LENGTH) if srtp is not SrtpUse.OFF else b"",
            origin_username=ctx.config.sdp_username,
            session_name=ctx.config.sdp_session_name,
        )
        recording = spec.recording
        if recording is not None:
            media = replace(media, srtp=SrtpUse.OFF, srtp_key=b"")
            offer = recording_offer(media, recording.ports, recording.labels)
            boundary = f"siprec{ctx.rng.getrandbits(64):016x}"
            content_type, body = multipart_body(offer.serialize(), recording.metadata, boundary)
        else:
            offer = create_offer(media)
            content_type, body = "application/sdp", offer.serialize()
        secure = target.scheme == "sips" or from_uri.scheme == "sips"
        contact = ctx.config.contact(from_uri.user or "", flow.transport, secure=secure)
        if recording is not None:
            contact += f";{SRC_FEATURE}"  # RFC 7866 §6.1.1
        headers = Headers()
        headers.add("Via", str(ctx.new_via(flow)))
        for route in routes:
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", str(local))
        headers.add("To", str(remote))
        headers.add("Call-ID", call_id)
        headers.add("CSeq", f"{cseq} INVITE")
        headers.add("Contact", contact)
        for name, value in (*identity, *custom):
            headers.add(name, value)
        headers.add("Allow", ALLOW)
        headers.add("Supported", SUPPORTED if spec.reliable == "off" else f"{SUPPORTED}, {OPTION}")
        require = [REQUIRE] if recording is not None else []
        if spec.reliable == "required":
            require.append(OPTION)
        if require:
            headers.add("Require", ", ".join(require))
        if ctx.config.user_agent:
            headers.add("User-Agent", ctx.config.user_agent)
        headers.add("Content-Type", content_type)
        invite = SipRequest("INVITE", str(target), headers, body)
        # Until a 2xx gives the real one, the dialog is what our INVITE says.
        dialog = Dialog(
            call_id=call_id,
            local_tag=local_tag,
            remote_tag="",
            local_uri=str(local),
            remote_uri=str(remote),
            remote_target=target,
            route_set=routes,
            source=flow,
            local_cseq=cseq,
            remote_cseq=None,
            nat_fix=ctx.config.nat_fix,
        )
        info = CallInfo((call_id, local_tag), local, remote, Direction.OUTBOUND)
        digest = DigestClient(spec.credentials, ctx.rng) if spec.credentials is not None else None
        leg = UacLeg(invite, flow, contact, digest, targets=targets, redirects=spec.redirects)
        leg.recording = recording is not None
        leg.tried.add(target_key(target))
        session = CallSession(info, invite, None, dialog, None, uac=leg)
        session.local_media = media
        session.local_sdp = offer
        ctx.add(session)
        if spec.ring_timeout is not None:
            leg.ring_timer = ctx.heap.schedule(
                now + spec.ring_timeout, partial(self._ring_timeout, session)
            )
        self._send_invite(session, invite, now)
        return info

    def _send_invite(self, session: CallSession, invite: SipRequest, now: float) -> None:
        leg = _leg(session)
        leg.request = session.invite = invite
        leg.provisional = leg.cancelled = False
        leg.early_media.clear()
        leg.rseqs.clear()  # a new INVITE: its reliable 1xx are numbered afresh (RFC 3262 §4)
        leg.early_dialogs.clear()
        cseq = invite.cseq.number
        tx = self.ctx.transactions.send_request(
            invite,
            leg.flow,
            now,
            partial(self._on_final, session, cseq),
            partial(self._on_provisional, session, cseq),
        )
        assert isinstance(tx, InviteClientTransaction)
        leg.transaction = tx

    # ------------------------------------------------------------------ responses

    def _on_provisional(
        self, session: CallSession, cseq: int, response: SipResponse, now: float
    ) -> None:
        leg = _leg(session)
        if cseq != leg.request.cseq.number or leg.answered or session.end_reported:
            return
        leg.provisional = True
        if leg.cancel_reason is not None:
            if not leg.cancelled:
                self._send_cancel(session, now)  # §9.1: now CANCEL may go
            return
        if response.status == 100:
            return
        if session.state is CallState.CALLING:
            session.state = CallState.EARLY
        media: NegotiatedAudio | None = None
        tag = response.to.tag
        if tag:
            leg.early_tags.add(tag)
            rseq = rseq_of(response)
            if rseq is not None and not self._prack(session, response, tag, rseq, now):
                return  # a repeat, or ahead of one missing: not processed (RFC 3262 §4)
        if tag and response.body:
            media = self._answer_media(session, response)
            if media is not None:
                leg.early_media[tag] = media
        self.ctx.events.append(
            CallProgress(session.info, response.status, response.reason, media is not None, media)
        )

    def _prack(
        self, session: CallSession, response: SipResponse, tag: str, rseq: int, now: float
    ) -> bool:
        """A reliable 1xx: PRACK it in its early dialog if it is that dialog's next
        (RFC 3262 §4, §7.2); returns whether it was."""
        leg = _leg(session)
        if not next_in_order(leg.rseqs.get(tag), rseq):
            return False
        leg.rseqs[tag] = rseq
        ctx = self.ctx
        dialog = leg.early_dialogs.get(tag)
        if dialog is None:
            dialog = Dialog.for_uac(leg.request, response, leg.flow, nat_fix=ctx.config.nat_fix)
            leg.early_dialogs[tag] = dialog
        via = ctx.new_via(dialog.request_flow(leg.flow.transport))
        extra = Headers()
        extra.add("RAck", str(Rack(rseq, leg.request.cseq.number)))
        prack, flow = dialog.next_request("PRACK", via, user_agent=ctx.config.user_agent,
                                          extra=extra)  # fmt: skip
        ctx.transactions.send_request(prack, flow, now, _ignore)
        return True

    def _on_final(self, session: CallSession, cseq: int, outcome: Outcome, now: float) -> None:
        leg = _leg(session)
        if cseq != leg.request.cseq.number:
            return  # an INVITE we already replaced (401/407)
        if isinstance(outcome, SipResponse) and 200 <= outcome.status < 300:
            self._on_2xx(session, outcome, now)
            return
        if leg.answered or session.end_reported:
            return
        status = outcome.status
        if (
            isinstance(outcome, SipResponse)
            and status in (401, 407)
            and leg.cancel_reason is None
            and self._retry_with_credentials(session, outcome, now)
        ):
            return
        if status == 488 and leg.cancel_reason is None and self._retry_without_srtp(session, now):
            return
        if leg.cancel_reason is None and self._next_target(session, outcome, now):
            return
        if leg.cancel_reason is None and self._redirect(session, outcome, now):
            return
        if leg.cancel_reason is not None:
            reason = leg.cancel_reason
        elif isinstance(outcome, NoResponse):
            reason = EndReason.UNREACHABLE  # nobody answered the INVITE at all
        else:
            reason = end_reason(status)
        reply = FinalReply.of(outcome) if isinstance(outcome, SipResponse) else None
        self.ctx.end(session, reason, status, reply=reply)

    def _retry_with_credentials(
        self, session: CallSession, challenge: SipResponse, now: float
    ) -> bool:
        """§22.2: the INVITE again with credentials, a new CSeq and branch; False = give up."""
        leg = _leg(session)
        if leg.digest is None:
            return False
        old = leg.request
        headers = old.headers.copy()
        via = self.ctx.new_via(leg.flow)
        headers.replace_first("Via", str(via))
        headers.set("CSeq", f"{old.cseq.number + 1} INVITE")
        # The copy keeps the credentials that were challenged: the client
        # replaces them for the challenge's realm, and tells from them
        # whether this password was already refused.
        invite = SipRequest("INVITE", old.uri, headers, old.body)
        if not leg.digest.authorize(invite, challenge):
            return False
        session.dialog.local_cseq = invite.cseq.number
        self._send_invite(session, invite, now)
        return True

    def _retry_without_srtp(self, session: CallSession, now: float) -> bool:
        """A 488 to our RTP/SAVP offer where plain RTP is allowed: offer RTP/AVP once.

        Over TLS the ``tls-only`` policy prefers SRTP but still takes plain RTP
        (many PBXs and phones do TLS without SRTP); there is no SDES fallback
        inside one offer that phones understand (RFC 5939 is rare), so the
        INVITE goes again with a new CSeq and branch and a plain offer.
        """
        leg = _leg(session)
        local = session.local_media
        if local is None or local.srtp is not SrtpUse.PREFERRED:
            return False
        plain = replace(
            local, srtp=SrtpUse.OFF, srtp_key=b"", session_version=local.session_version + 1
        )
        offer = create_offer(plain)
        old = leg.request
        headers = old.headers.copy()  # with any credentials the proxy took
        headers.replace_first("Via", str(self.ctx.new_via(leg.flow)))
        headers.set("CSeq", f"{old.cseq.number + 1} INVITE")
        invite = SipRequest("INVITE", old.uri, headers, offer.serialize())
        session.local_media = plain
        session.local_sdp = offer
        session.dialog.local_cseq = invite.cseq.number
        self._send_invite(session, invite, now)
        return True

    def _next_target(self, session: CallSession, outcome: Outcome, now: float) -> bool:
        """RFC 3263 §4.3: after a transport error or a timeout with no response at all, or
        a 503, the same INVITE (new branch) to the next server; False = none left."""
        leg = _leg(session)
        failed = outcome.status == 503 or (isinstance(outcome, NoResponse) and not leg.provisional)
        index = leg.targets.index(leg.flow) + 1 if leg.flow in leg.targets else len(leg.targets)
        if not failed or index >= len(leg.targets):
            return False
        self._resend(session, leg.request.uri, leg.targets[index], now)
        return True

    def _redirect(self, session: CallSession, outcome: Outcome, now: float) -> bool:
        """§8.1.3.4: a 3xx's targets join the call's (first, :mod:`sipgw.sip.redirect`), and
        the INVITE goes to the next one; so does a failure (not 6xx) while targets are left.
        False: the call ends with ``outcome``."""
        leg = _leg(session)
        rule, status = leg.redirects, outcome.status
        if rule is None:
            return False
        reason = outcome.reason if isinstance(outcome, SipResponse) else "no response"
        moved = isinstance(outcome, SipResponse) and 300 <= status < 400
        refused: tuple[str, ...] = ()
        over = moved and leg.redirected >= rule.hops
        if moved and not over:
            assert isinstance(outcome, SipResponse)
            leg.redirected += 1
            found = redirect_targets(outcome, leg.tried)
            leg.tried.update(target_key(uri) for uri in found)
            allowed = [uri for uri in found if rule.allows(uri)]
            refused = tuple(str(uri) for uri in found if uri not in allowed)
            leg.pending[:0] = allowed
        elif status >= 600:
            return False  # §21.6: a global failure ends the search
        if not leg.pending:
            if not moved:
                return False
            why = "hops" if over else "refused" if refused else "none"
            return self._not_redirected(session, outcome, reason, why, refused)
        target = leg.pending.pop(0)
        routed = bool(session.dialog.route_set)
        flow = leg.flow if routed else uri_flow(target, self.ctx.config.transport)
        if not routed:
            leg.targets = (flow,)
        session.dialog.remote_target = target
        self.ctx.events.append(CallRedirected(session.info, status, reason, target, refused))
        # Credentials answered another server's challenge: never shown to the next one (a
        # redirect's target is anybody's), nor is our password offered to it; a proxy's
        # stay, and its challenges are answered, while the INVITE goes through it.
        drop = ("Authorization",) if routed else _AUTH_HEADERS
        if not routed:
            leg.digest = None
        self._resend(session, str(target), flow, now, new_cseq=True, drop=drop)
        return True

    def _not_redirected(
        self,
        session: CallSession,
        outcome: Outcome,
        reason: str,
        why: str,
        refused: tuple[str, ...] = (),
    ) -> bool:
        self.ctx.events.append(
            CallRedirected(session.info, outcome.status, reason, None, refused, why)
        )
        return False

    def _resend(
        self,
        session: CallSession,
        uri: str,
        flow: Flow,
        now: float,
        new_cseq: bool = False,
        drop: tuple[str, ...] = (),
    ) -> None:
        """The INVITE again, to ``uri`` through ``flow``: a new branch (and CSeq), the
        Contact's transport the flow's, without the headers ``drop`` names; every other
        header and the body as they were."""
        leg = _leg(session)
        leg.flow = flow
        old = leg.request
        headers = old.headers.copy()
        for name in drop:
            headers.remove(name)
        headers.replace_first("Via", str(self.ctx.new_via(flow)))
        if new_cseq:
            session.dialog.local_cseq = old.cseq.number + 1
            headers.set("CSeq", f"{old.cseq.number + 1} INVITE")
        if flow.transport != old.top_via.transport:  # our Contact names the transport
            secure = old.uri.lower().startswith("sips:") or leg.contact.startswith("<sips:")
            user = session.dialog.local_uri
            leg.contact = self.ctx.config.contact(_user_of(user), flow.transport, secure=secure)
            headers.set("Contact", leg.contact)
        session.dialog.source = flow
        self._send_invite(session, SipRequest("INVITE", uri, headers, old.body), now)

    def _on_2xx(self, session: CallSession, response: SipResponse, now: float) -> None:
        """Every 2xx to our INVITE: ACK it; the first confirms the call (§13.2.2.4)."""
        leg = _leg(session)
        tag = response.to.tag
        if not tag:
            return  # a 2xx without a To tag creates no dialog: nothing we could ACK in
        sent = leg.acks.get(tag)
        if sent is not None:
            self.ctx.transactions.send_stateless(*sent)  # a retransmitted 2xx
            return
        dialog = Dialog.for_uac(leg.request, response, leg.flow, nat_fix=self.ctx.config.nat_fix)
        self._ack(leg, dialog)
        early = leg.early_dialogs.get(tag)
        if early is not None:  # our PRACKs went in it: its CSeq goes on from theirs
            dialog.local_cseq = max(dialog.local_cseq, early.local_cseq)
        if leg.answered or session.end_reported:
            self._bye(dialog, now)  # another fork answered too: end that dialog
            return
        leg.answered = True
        session.dialog = dialog
        heap = self.ctx.heap
        heap.cancel(leg.ring_timer)
        heap.cancel(leg.cancel_timer)
        leg.ring_timer = leg.cancel_timer = None
        leg.peer_allow = response.headers.get_all("Allow")
        leg.peer_supported = response.headers.get_all("Supported")
        session.state = CallState.CONFIRMED
        if leg.cancel_reason is not None:  # the 2xx crossed our CANCEL
            self.ctx.hang_up(session, leg.cancel_reason, now, response.status)
            return
        media = self._answer_media(session, response) if response.body else None
        if media is None:
            media = leg.early_media.get(tag)
        if media is None:
            self.ctx.hang_up(session, EndReason.MEDIA_FAILED, now, response.status)
            return
        session.media = media
        session.session_timer = _session_timer(response)
        self.session_timers.restart(session, now)
        custom = received_custom_headers(response.headers)
        recorded = self._recorded(session, response) if leg.recording else ()
        self.ctx.events.append(CallAnswered(session.info, media, custom, recorded))

    def _recorded(
        self, session: CallSession, response: SipResponse
    ) -> tuple[NegotiatedAudio | None, ...]:
        """A recording session's streams as its 2xx answers them (each checked as a media
        target, :mod:`sipgw.sip.mediatarget`); none when its answer is unusable."""
        assert session.local_sdp is not None
        try:
            body = sdp_body(response)
            if body is None:
                return ()
            streams = accept_recording_answer(session.local_sdp, SessionDescription.parse(body))
            for stream in streams:
                if stream is not None:
                    self.ctx.check_media(stream.remote_address, _leg(session).flow.address[0])
            return streams
        except SipError:
            return ()

    def stray_response(self, response: SipResponse, now: float) -> None:
        """A response no transaction wanted: a 2xx to our INVITE after Timer M gets its ACK."""
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            return
        session = self.ctx.calls.get((response.call_id, response.from_.tag or ""))
        if session is None or session.uac is None:
            return
        if response.cseq.number == session.uac.request.cseq.number:
            self._on_2xx(session, response, now)

    def _answer_media(self, session: CallSession, response: SipResponse) -> NegotiatedAudio | None:
        """The media an SDP answer in ``response`` agrees to, or None if it is unusable
        (or names an address we may not send to, :mod:`sipgw.sip.mediatarget`)."""
        assert session.local_sdp is not None
        try:
            body = sdp_body(response)
            if body is None:
                return None
            media = accept_answer(session.local_sdp, SessionDescription.parse(body))
            self.ctx.check_media(media.remote_address, _leg(session).flow.address[0])
            return media
        except SipError:
            return None

    # ------------------------------------------------------------------ requests we send

    def _ack(self, leg: UacLeg, dialog: Dialog) -> None:
        """ACK a 2xx in its dialog (§13.2.2.4), with the INVITE's credentials (§22.1)."""
        via = self.ctx.new_via(dialog.request_flow(leg.flow.transport))
        ack, flow = dialog.next_request("ACK", via, user_agent=self.ctx.config.user_agent)
        for name in _AUTH_HEADERS:
            for value in leg.request.headers.get_all(name):
                ack.headers.add(name, value)
        data = ack.serialize()
        leg.acks[dialog.remote_tag] = (data, flow)
        self.ctx.transactions.send_stateless(data, flow)

    def _bye(self, dialog: Dialog, now: float) -> None:
        via = self.ctx.new_via(dialog.request_flow(dialog.source.transport))
        bye, flow = dialog.next_request("BYE", via, user_agent=self.ctx.config.user_agent)
        self.ctx.transactions.send_request(bye, flow, now, _ignore)

    def _send_cancel(self, session: CallSession, now: float) -> None:
        """CANCEL the INVITE in progress (§9.1): its Request-URI, top Via, tags, CSeq number."""
        leg = _leg(session)
        invite = leg.request
        headers = Headers()
        headers.add("Via", invite.headers.get_all("Via")[0])
        for route in invite.headers.get_all("Route"):
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        for name in ("From", "To", "Call-ID"):
            headers.add(name, invite.headers.get(name) or "")
        headers.add("CSeq", f"{invite.cseq.number} CANCEL")
        if self.ctx.config.user_agent:
            headers.add("User-Agent", self.ctx.config.user_agent)
        cancel = SipRequest("CANCEL", invite.uri, headers)
        self.ctx.transactions.send_request(cancel, leg.flow, now, _ignore)
        leg.cancelled = True
        leg.cancel_timer = self.ctx.heap.schedule(
            now + self.ctx.config.timers.b, partial(self._cancel_unanswered, session)
        )

    # ------------------------------------------------------------------ giving up

    def hangup(
        self, session: CallSession, now: float, reason: EndReason = EndReason.CANCELLED
    ) -> None:
        """End the call from our side: CANCEL while it rings (§9.1), BYE once answered."""
        leg = _leg(session)
        if leg.answered:
            if session.state is CallState.CONFIRMED:
                self.ctx.hang_up(session, EndReason.LOCAL_BYE, now)
            return
        if leg.cancel_reason is not None or session.end_reported:
            return
        leg.cancel_reason = reason
        self.ctx.heap.cancel(leg.ring_timer)
        leg.ring_timer = None
        if leg.provisional:
            self._send_cancel(session, now)
        # else: CANCEL waits for the first provisional response (§9.1)

    def _ring_timeout(self, session: CallSession, now: float) -> None:
        _leg(session).ring_timer = None
        self.hangup(session, now, EndReason.NO_ANSWER)

    def _cancel_unanswered(self, session: CallSession, now: float) -> None:
        """§9.1: no final response 64·T1 after our CANCEL: abandon the INVITE."""
        leg = _leg(session)
        leg.cancel_timer = None
        if leg.answered or session.end_reported:
            return
        if leg.transaction is not None:
            self.ctx.transactions.abandon(leg.transaction)
        self.ctx.end(session, leg.cancel_reason or EndReason.CANCELLED)


def first_hop(spec: OutboundCall) -> SipUri:
    """Where a call's INVITE is sent first: its first route (an outbound proxy), else its
    target.

    Raises:
        LocalProtocolError: the target or the route is not a usable SIP URI.
    """
    if spec.route:
        hop = NameAddr.parse(_route(spec.route[0])).uri
        assert isinstance(hop, SipUri)
        return hop
    return _sip_uri(spec.target, "target")


def _user_of(name_addr: str) -> str:
    """The user part of our From (for the Contact), "" without one."""
    uri = NameAddr.parse(name_addr).uri
    return (uri.user if isinstance(uri, SipUri) else None) or ""


def _leg(session: CallSession) -> UacLeg:
    assert session.uac is not None, "not an outbound call"
    return session.uac


def _ignore(outcome: Outcome, now: float) -> None:
    """The outcome of a CANCEL or of the BYE to an extra fork changes nothing for the call."""


def _sip_uri(text: SipUri | str, what: str) -> SipUri:
    try:
        if isinstance(text, SipUri):
            uri = copy_uri(text)  # ours from here on: the caller's object stays as judged
        else:
            uri = parse_uri(text.strip().removeprefix("<").removesuffix(">"))
    except SipError:
        raise LocalProtocolError(f"{what} {text!r} is not a SIP URI") from None
    if not isinstance(uri, SipUri):
        raise LocalProtocolError(f"{what} {text!r} is not a sip: or sips: URI")
    return uri


def _route(text: str) -> str:
    """A Route value in angle brackets (``sip:proxy;lr`` or ``<sip:proxy;lr>``)."""
    return f"<{_sip_uri(text, 'route')}>"


def _session_timer(response: SipResponse) -> SessionTimer | None:
    """The session timer a 2xx to our INVITE sets (RFC 4028 §7.2): who refreshes."""
    value = response.headers.get("Session-Expires")
    if value is None:
        return None
    try:
        seconds, refresher = parse_session_expires(value)
    except SipError:
        return None
    return SessionTimer(seconds, we_refresh=refresher == "uac")
