"""Changing an established session: re-INVITE (RFC 3261 §14) and UPDATE (RFC 3311).

Either request may carry a new offer (hold, resume, a new address) or none.
We answer an offer on the same local port, and bump the o= version only when
our SDP actually changed (RFC 3264 §8). A re-INVITE without SDP gets our
current SDP again as an offer in the 2xx, answered in the ACK. Both are
target refreshes (§12.2) and session refreshes (RFC 4028 §7).

Glare (§14.2, RFC 3311 §5.2): a re-INVITE while an INVITE is still in
progress - the initial one unanswered, or our 2xx not yet acknowledged - gets
491, and so does an UPDATE offer while our own offer (in a 2xx) waits for its
answer. A re-INVITE we refuse (488 for an offer we cannot take) leaves the
call exactly as it was.

A SIPREC recording session we answered as its SRS (RFC 7866 §8) keeps its streams: a new
offer is answered line by line on the same ports (:func:`~sipgw.sip.srs.recording_answer`),
what each stream agrees now comes to the application as
:class:`~sipgw.sip.events.RecordingStreamsUpdated` (a pause is ``a=inactive``; the streams
the offer removes, port 0, in its ``removed``), and new metadata in either request as
:class:`~sipgw.sip.events.RecordingMetadataReceived`. An offer that adds streams (RFC 7866
§8.1: a participant joins, a transfer) waits for their ports: a re-INVITE gets its 100 at
once, the metadata goes to the application first (the new streams' speakers), then
:class:`~sipgw.sip.events.RecordingStreamsOffered`; the application binds the ports and
calls :meth:`ModifyUsage.answer_recording_offer`, or :data:`RECORDING_OFFER_WAIT` seconds
pass and the new streams are rejected. Meanwhile another re-INVITE, or an UPDATE with an
offer, gets 500 with Retry-After (RFC 3261 §14.2, RFC 3311 §5.2), and a BYE ends the wait
(487, RFC 3261 §15.1.2). At most :data:`~sipgw.sip.srs.MAX_RECORDED_STREAMS` streams are
recorded at a time; the lines over it are rejected (port 0).

UPDATE before the INVITE's 2xx (RFC 3311 §5.1), in an early dialog: a placed
call's (the callee's, after its 1xx with SDP) or an incoming call's (ours,
after our reliable 183 with SDP was PRACKed). An offer before that point gets
500 with Retry-After (§5.2: the INVITE's offer/answer is not complete). It is
no session refresh: the session timer starts with the call.

SRTP (RFC 4568 §7.1.4): our key stays while the crypto suite stays, so an
unchanged offer gets an unchanged answer; a new suite, or SRTP again after
plain RTP, gets a fresh key of ours. The peer's new key (if any) comes to the
application in :class:`~sipgw.sip.events.MediaUpdated`.
"""

from __future__ import annotations

import dataclasses
import secrets
from functools import partial

from sipgw.sip.errors import InvalidState, RemoteProtocolError
from sipgw.sip.events import (
    RecordingMetadataReceived,
    RecordingStreamsOffered,
    RecordingStreamsUpdated,
)
from sipgw.sip.message import SipRequest
from sipgw.sip.offeranswer import NegotiatedAudio, answer_with, choose_answer
from sipgw.sip.sdes import KEY_SALT_LENGTH
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.srs import recording_answer, recording_metadata, recording_streams, stream_changes
from sipgw.sip.transaction import InviteServerTransaction, ServerTransaction
from sipgw.sip.usages.context import UsageContext
from sipgw.sip.usages.invite import InviteUsage, parse_offer
from sipgw.sip.usages.session import CallSession, PendingRecordingOffer
from sipgw.sip.usages.sessiontimer import SessionTimerUsage

__all__ = ["RECORDING_OFFER_WAIT", "ModifyUsage"]

RECORDING_OFFER_WAIT = 8.0
"""Seconds the application has to bind the ports of the streams a recording session's
offer adds (an RTP port and a speech-to-text session each) before the core answers with
them rejected: well inside the SRC's 32 s Timer F of an UPDATE."""


def _without_origin(sdp: SessionDescription) -> bytes:
    """The SDP without its o= line, to tell whether an answer changed (RFC 3264 §8)."""
    return b"\r\n".join(
        line for line in sdp.serialize().split(b"\r\n") if not line.startswith(b"o=")
    )


class ModifyUsage:
    """re-INVITE and UPDATE on established calls; see the module docstring."""

    def __init__(
        self, ctx: UsageContext, invite: InviteUsage, session_timers: SessionTimerUsage
    ) -> None:
        self.ctx = ctx
        self.invite = invite
        self.session_timers = session_timers

    def reinvite(
        self,
        session: CallSession,
        tx: ServerTransaction,
        request: SipRequest,
        now: float,
        resumed: bool = False,
    ) -> None:
        """A re-INVITE: 2xx with our answer (or offer), resent until its ACK (``resumed``:
        a recording session's, whose new streams were given their ports).

        Raises:
            RemoteProtocolError: 491 while another INVITE is in progress, 500 while a
                recording session's re-INVITE waits for its new streams' ports, 488
                for an offer we cannot take, 422 for a too short session interval.
        """
        assert isinstance(tx, InviteServerTransaction)
        # §14.2: one INVITE at a time per dialog. The initial INVITE pending,
        # or a 2xx (ours) still waiting for its ACK, both count as pending.
        if not session.info.established or session.pending_ack is not None:
            raise RemoteProtocolError("another INVITE is in progress", 491)
        if session.recording_offer is not None:  # §14.2: ours unanswered: 500, Retry-After
            raise RemoteProtocolError("a re-INVITE of the recording is being answered", 500)
        offer = parse_offer(request)
        self.session_timers.check(request)
        if (
            offer is not None
            and not resumed
            and self._wait_for_ports(session, tx, request, offer, now)
        ):
            return
        assert session.local_sdp is not None
        media = None
        if offer is not None:
            sdp, media = self._answer_again(session, offer)
        else:
            sdp = session.local_sdp  # RFC 3264 §8: offer our current session again
            session.offer_in_2xx = True
        session.dialog.refresh_target(request)
        response = self.ctx.dialog_response(session, 200, request)
        self.session_timers.announce(session, request, response)
        self.ctx.attach_sdp(response, sdp)
        self.invite.send_2xx(session, tx, response, now)
        self.session_timers.restart(session, now)  # a re-INVITE is a session refresh
        session.local_sdp = sdp
        if media is not None:
            self.ctx.set_media(session, media)
        if not resumed:
            self._metadata(session, request)

    def _metadata(self, session: CallSession, request: SipRequest) -> None:
        """New metadata of a recording session, to the application (RFC 7866 §8)."""
        if session.recording_ports is not None and (metadata := recording_metadata(request)):
            self.ctx.events.append(RecordingMetadataReceived(session.info, metadata))

    def update(
        self,
        session: CallSession,
        tx: ServerTransaction,
        request: SipRequest,
        now: float,
        resumed: bool = False,
    ) -> None:
        """An UPDATE: 200, with our answer when it carried an offer (``resumed``: a
        recording session's, whose new streams were given their ports).

        Before the INVITE's 2xx it comes in an early dialog (RFC 3311 §5.1): a placed
        call's comes in one of the callee's, and its answer becomes that dialog's early
        media, the call's at a 2xx without SDP; an incoming call's comes in ours, after our
        183 with SDP, and its answer changes our early media (and is what the 2xx repeats).
        Either way the session timer starts with the call, not here (RFC 4028 §9 negotiates
        it in the INVITE's 2xx).

        Raises:
            RemoteProtocolError: 491 while our own offer is pending, 500 before
                the INVITE's offer was answered or while a recording session's offer
                waits for its new streams' ports, 488 for an offer we cannot take.
        """
        offer = parse_offer(request)
        uac = session.uac
        early = not uac.answered if uac is not None else self.invite.early(session)
        if offer is not None and session.offer_in_2xx:
            raise RemoteProtocolError("our offer is pending", 491)  # RFC 3311 §5.2
        if offer is not None and session.recording_offer is not None:
            # RFC 3311 §5.2: an offer we have not answered yet: 500 with Retry-After
            raise RemoteProtocolError("an offer of the recording is being answered", 500)
        if offer is not None and (
            session.local_sdp is None or (early and not self._answered(session))
        ):
            # RFC 3311 §5.2: an offer before we answered the INVITE's: 500 with Retry-After
            raise RemoteProtocolError("the INVITE's offer is not answered yet", 500)
        if not early:
            self.session_timers.check(request)
        if (
            offer is not None
            and not resumed
            and self._wait_for_ports(session, tx, request, offer, now)
        ):
            return
        response = self.ctx.dialog_response(session, 200, request)
        if not early:
            self.session_timers.announce(session, request, response)
        media = None
        if offer is not None:
            sdp, media = self._answer_again(session, offer)
            self.ctx.attach_sdp(response, sdp)
            session.local_sdp = sdp
        if uac is None or not early:
            # RFC 3311 §5.2: a target refresh, in our early dialog too (a placed call's
            # dialog comes with its 2xx)
            session.dialog.refresh_target(request)
        self.ctx.transactions.respond(tx, response, now)
        if not early:
            self.session_timers.restart(session, now)
        if media is not None:
            if early and uac is not None:
                uac.early_media[request.from_.tag or ""] = media
            self.ctx.set_media(session, media)
        if not resumed:
            self._metadata(session, request)

    def _answered(self, session: CallSession) -> bool:
        """Whether the INVITE's offer/answer completed in an early dialog (RFC 3311 §5.1): a
        placed call's in a 1xx with SDP; an incoming call's in a reliable 1xx with our answer
        that was PRACKed (RFC 3262 §5: until then the PRACK may bring an offer, and an
        answer in an unreliable 1xx is no final answer, RFC 3261 §13.2.1)."""
        if session.uac is not None:
            return bool(session.uac.early_media)
        return self.invite.reliable.answer_acknowledged(session)

    def _answer_again(
        self, session: CallSession, offer: SessionDescription
    ) -> tuple[SessionDescription, NegotiatedAudio]:
        """Answer a new offer on the same port; bump o= only if the SDP changed (§8).

        Raises:
            SdpError: 488 for an offer we cannot take or an address we may not send to.
        """
        local, previous = session.local_media, session.local_sdp
        assert local is not None and previous is not None
        if session.recording_ports is not None:
            return self._record_again(session, offer)
        choice = choose_answer(offer, local.codecs, local.srtp)  # chosen once, answered from
        self.ctx.check_media(choice.remote_address, session.dialog.source.address[0])  # or 488
        sdp, media = answer_with(offer, choice, local)
        current = session.media.srtp if session.media is not None else None
        if media.srtp is not None and (current is None or current.suite != media.srtp.suite):
            # A new SRTP context starts its packet index again: never with a key
            # that protected packets before (RFC 3711 §9.1, keystream reuse).
            local = dataclasses.replace(local, srtp_key=secrets.token_bytes(KEY_SALT_LENGTH))
            session.local_media = local
            sdp, media = answer_with(offer, choice, local)
        if _without_origin(sdp) != _without_origin(previous):
            version = previous.origin.session_version + 1
            session.local_media = dataclasses.replace(local, session_version=version)
            sdp, media = answer_with(offer, choice, session.local_media)
        else:
            sdp = previous
        return sdp, media

    def _record_again(
        self, session: CallSession, offer: SessionDescription
    ) -> tuple[SessionDescription, NegotiatedAudio]:
        """A recording session's new offer answered on its ports (RFC 7866 §8): each line
        we receive again, a new one rejected; o= bumped only if the SDP changed (§8).

        Raises:
            SdpError: 488 when none of its lines can be received any more, or one names an
                address we may not send to.
        """
        local, previous, ports = session.local_media, session.local_sdp, session.recording_ports
        assert local is not None and previous is not None and ports is not None
        removed = stream_changes(offer, ports).removed  # RFC 3264 §8.2: port 0 ends a stream
        ports = {index: port for index, port in ports.items() if index not in removed}
        sdp, agreed = recording_answer(offer, local, ports)
        for stream in agreed.values():  # or 488, as a call's new address
            self.ctx.check_media(stream.remote_address, session.dialog.source.address[0])
        if _without_origin(sdp) != _without_origin(previous):
            session.local_media = dataclasses.replace(
                local, session_version=previous.origin.session_version + 1
            )
            sdp, agreed = recording_answer(offer, session.local_media, ports)
        else:
            sdp = previous
        ended = sorted({*removed, *(index for index in ports if index not in agreed)})
        refused = tuple(i for i in recording_streams(offer) if i not in agreed and i not in ports)
        session.recording_ports = {index: ports[index] for index in agreed}
        updated = RecordingStreamsUpdated(
            session.info, tuple(agreed.values()), tuple(ended), refused
        )
        self.ctx.events.append(updated)
        return sdp, next(iter(agreed.values()))

    # ------------------------------------------------------------ streams added (RFC 7866 §8.1)

    def _wait_for_ports(
        self,
        session: CallSession,
        tx: ServerTransaction,
        request: SipRequest,
        offer: SessionDescription,
        now: float,
    ) -> bool:
        """Whether a recording session's ``offer`` adds streams, and so waits for their
        ports (see the module docstring)."""
        if session.recording_ports is None:
            return False
        added = stream_changes(offer, session.recording_ports).added
        if not added:
            return False
        if isinstance(tx, InviteServerTransaction):
            self.ctx.respond(tx, request, 100, now)  # RFC 3261 §17.2.1: no retransmissions
        pending = PendingRecordingOffer(tx, request, added)
        pending.deadline = self.ctx.heap.schedule(
            now + RECORDING_OFFER_WAIT, partial(self._unanswered, session)
        )
        session.recording_offer = pending
        self._metadata(session, request)  # first: who speaks on the new streams
        labels = tuple(offer.media[index].attribute("label") or "" for index in added)
        self.ctx.events.append(RecordingStreamsOffered(session.info, added, labels))
        return True

    def answer_recording_offer(
        self, session: CallSession, ports: dict[int, int], now: float
    ) -> None:
        """Answer the offer that added streams, each new one of ``ports`` (``m=`` line
        index -> our RTP port) received, the others rejected (port 0).

        Raises:
            InvalidState: no such offer awaits an answer.
        """
        pending, session.recording_offer = session.recording_offer, None
        if pending is None or session.recording_ports is None:
            raise InvalidState("no offer of new recorded streams awaits an answer")
        self.ctx.heap.cancel(pending.deadline)
        taken = {index: port for index, port in ports.items() if index in pending.added}
        session.recording_ports = {**session.recording_ports, **taken}
        answer = self.reinvite if pending.request.method == "INVITE" else self.update
        try:
            answer(session, pending.transaction, pending.request, now, resumed=True)
        except RemoteProtocolError as exc:  # 488: an address we may not send to
            for index in taken:
                session.recording_ports.pop(index, None)
            self.ctx.respond_error(pending.transaction, pending.request, exc, now)

    def _unanswered(self, session: CallSession, now: float) -> None:
        if session.recording_offer is not None:
            session.recording_offer.deadline = None
            self.answer_recording_offer(session, {}, now)

    def drop_recording_offer(self, session: CallSession, now: float) -> None:
        """The call ends while an offer waits for its new streams' ports: 487 to it (RFC
        3261 §15.1.2)."""
        pending, session.recording_offer = session.recording_offer, None
        if pending is not None:
            self.ctx.heap.cancel(pending.deadline)
            self.ctx.respond(pending.transaction, pending.request, 487, now)
