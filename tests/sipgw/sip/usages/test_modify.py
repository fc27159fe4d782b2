"""Changing an established session (sipgw.sip.usages.modify): re-INVITE (RFC 3261 §14) and UPDATE
(RFC 3311), through the user agent core on a fake clock.

Offers answered on the same port with o= bumped only on change (RFC 3264 §8),
a re-INVITE without SDP answered in the ACK, glare (491), a refused offer
that leaves the call as it was, and both requests as target refreshes (§12.2); an UPDATE
in an incoming call's early dialog before the answer (RFC 3311 §5.1).
SRTP re-keying on a re-INVITE is in ``tests/sipgw/sip/test_srtp_calls.py``.
"""

from __future__ import annotations

from sipgw.sip.call import CallInfo, CallState
from sipgw.sip.events import EndReason, MediaUpdated
from sipgw.sip.message import SipRequest, SipResponse
from sipgw.sip.offeranswer import NegotiatedAudio
from sipgw.sip.sdp import SessionDescription
from tests.sipgw.sip.builders import SDP_OFFER, ack_for, invite, request
from tests.sipgw.sip.ua_harness import Harness, answered_call, confirmed_call
from tests.sipgw.sip.usages.test_prack import prack, ringing

HOLD = SDP_OFFER.replace("a=sendrecv", "a=sendonly").replace("o=caller 1 1", "o=caller 1 2")


def test_reinvite_hold_and_resume() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.feed(ack_for(ok))
    first = SessionDescription.parse(ok.body)
    h.feed(invite(cseq=2, to_tag=ok.to.tag, body=HOLD))
    (response,) = [r for r in h.responses() if r.status >= 200]
    assert response.status == 200
    answer = SessionDescription.parse(response.body)
    assert answer.direction(answer.media[0]) == "recvonly"  # RFC 3264 §6.1
    assert answer.origin.session_version == first.origin.session_version + 1
    update = [e for e in h.events if isinstance(e, MediaUpdated)][-1]
    assert update.media.direction == "recvonly"
    # The ACK of the re-INVITE's 2xx stops its retransmissions.
    h.feed(ack_for(response, cseq=2))
    h.advance(10.0)
    assert h.take() == []
    # An identical offer gets the same o= version (RFC 3264 §8).
    h.feed(invite(cseq=3, to_tag=ok.to.tag, body=HOLD))
    again = [r for r in h.responses() if r.status == 200][0]
    assert (
        SessionDescription.parse(again.body).origin.session_version == answer.origin.session_version
    )
    assert call.state is CallState.CONFIRMED


def test_reinvite_without_sdp_offers_in_2xx_and_takes_answer_from_ack() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.feed(ack_for(ok))
    h.feed(invite(cseq=2, to_tag=ok.to.tag, body=""))
    response = [r for r in h.responses() if r.status == 200][0]
    assert response.body  # our offer
    h.feed(ack_for(response, cseq=2, body=HOLD.replace("sendonly", "sendrecv")))
    updates = [e for e in h.events if isinstance(e, MediaUpdated)]
    assert updates and updates[-1].media.direction == "sendrecv"


def test_reinvite_before_ack_is_491_and_bad_reinvite_keeps_call() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.feed(invite(cseq=2, to_tag=ok.to.tag))
    assert 491 in h.statuses()
    h.feed(ack_for(ok))
    h.feed(invite(cseq=3, to_tag=ok.to.tag, body=SDP_OFFER.replace("0 8 101", "18")))
    assert 488 in h.statuses()
    assert call.state is CallState.CONFIRMED
    h.feed(request("BYE", cseq=4, to_tag=ok.to.tag))
    assert h.statuses() == [200]


def test_update_with_and_without_sdp() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.feed(ack_for(ok))
    h.feed(request("UPDATE", cseq=2, to_tag=ok.to.tag, body=HOLD))
    (response,) = h.responses()
    assert response.status == 200 and b"a=recvonly" in response.body
    h.feed(request("UPDATE", cseq=3, to_tag=ok.to.tag, content_type=None))
    (response,) = h.responses()
    assert response.status == 200 and response.body == b""


def test_a_second_reinvite_while_the_first_ones_2xx_awaits_its_ack_is_491() -> None:
    """§14.2: one INVITE at a time per dialog, the ACK of its 2xx included."""
    h = Harness()
    call, ok = confirmed_call(h)
    h.feed(invite(cseq=2, to_tag=ok.to.tag, body=HOLD))
    (first,) = [r for r in h.responses() if r.status == 200]
    h.feed(invite(cseq=3, to_tag=ok.to.tag, body=SDP_OFFER))
    assert [s for s in h.statuses() if s != 100] == [491]
    h.feed(ack_for(first, cseq=2))
    h.feed(invite(cseq=4, to_tag=ok.to.tag, body=SDP_OFFER))
    assert 200 in h.statuses()
    assert call.state is CallState.CONFIRMED


def test_a_reinvites_2xx_is_resent_until_its_ack_and_ends_the_call_without_one() -> None:
    """§13.3.1.4 holds for a re-INVITE's 2xx too."""
    h = Harness()
    call, ok = confirmed_call(h)
    h.feed(invite(cseq=2, to_tag=ok.to.tag, body=HOLD))
    h.take()
    h.advance(h.now + 4.0)
    resent = [m for m in h.take() if not isinstance(m, SipRequest)]
    assert [m.status for m in resent] == [200, 200, 200]  # at 0.5, 1.5 and 3.5 s
    assert all(m.cseq.number == 2 for m in resent)
    h.advance(h.now + 30.0)
    assert [m.method for m in h.requests()] == ["BYE"]
    assert [e.reason for e in h.ended()] == [EndReason.NO_ACK]


def test_a_refused_offer_leaves_the_session_as_it_was() -> None:
    h = Harness()
    call, ok = confirmed_call(h)
    first = SessionDescription.parse(ok.body)
    h.feed(invite(cseq=2, to_tag=ok.to.tag, body=SDP_OFFER.replace("0 8 101", "18")))
    assert [s for s in h.statuses() if s != 100] == [488]
    h.feed(request("UPDATE", cseq=3, to_tag=ok.to.tag, body=SDP_OFFER.replace("0 8 101", "18")))
    assert h.statuses() == [488]
    assert not h.of(MediaUpdated)
    assert call.media is not None and call.media.codec == "PCMU"
    h.feed(invite(cseq=4, to_tag=ok.to.tag, body=SDP_OFFER))  # the first offer again
    (again,) = [r for r in h.responses() if r.status == 200]
    assert SessionDescription.parse(again.body).origin == first.origin  # nothing changed


def test_an_update_offer_while_our_offer_waits_for_its_answer_is_491() -> None:
    """RFC 3311 §5.2: our offer (in a re-INVITE's 2xx) is pending until the ACK."""
    h = Harness()
    call, ok = confirmed_call(h)
    h.feed(invite(cseq=2, to_tag=ok.to.tag, body=""))
    (offer,) = [r for r in h.responses() if r.status == 200]
    h.feed(request("UPDATE", cseq=3, to_tag=ok.to.tag, body=HOLD))
    assert h.statuses() == [491]
    h.feed(request("UPDATE", cseq=4, to_tag=ok.to.tag, content_type=None))
    assert h.statuses() == [200]  # a refresh without an offer is fine


def test_an_update_offer_before_the_invite_is_answered_is_500_with_retry_after() -> None:
    """RFC 3311 §5.2: an UPDATE offer in the early dialog, before our answer, gets 500."""
    h = Harness()
    h.feed(invite())
    call = h.offered()
    h.act(h.ua.ring, call)
    ringing = [r for r in h.responses() if r.status == 180][0]
    h.feed(request("UPDATE", cseq=2, to_tag=ringing.to.tag, body=HOLD))
    (refused,) = h.responses()
    assert refused.status == 500 and refused.headers.get("Retry-After") is not None
    h.feed(request("UPDATE", cseq=3, to_tag=ringing.to.tag, content_type=None))
    (refresh,) = h.responses()
    assert refresh.status == 200 and refresh.body == b""
    assert call.state is CallState.RINGING


def test_reinvite_and_update_refresh_the_remote_target() -> None:
    """§12.2.1.2 / RFC 3311 §5.2: the Contact of either becomes where our requests go.

    (``nat_fix`` off: Python counts the documentation addresses as private.)
    """
    h = Harness(nat_fix=False)
    call, ok = confirmed_call(h)
    moved = "Contact: <sip:caller@192.0.2.77:5070>"
    h.feed(invite(cseq=2, to_tag=ok.to.tag, contact=False, extra=moved))
    (reinvite_ok,) = [r for r in h.responses() if r.status == 200]
    h.feed(ack_for(reinvite_ok, cseq=2))
    again = "Contact: <sip:caller@192.0.2.88:5080>"
    h.feed(request("UPDATE", cseq=3, to_tag=ok.to.tag, content_type=None, contact=False,
                   extra=again))  # fmt: skip
    h.take()
    h.act(h.ua.hangup, call)
    (_, data, flow) = h.sent[0]
    assert data.startswith(b"BYE sip:caller@192.0.2.88:5080 ")
    assert flow.address == ("192.0.2.88", 5080)


# -- UPDATE in an incoming call's early dialog (RFC 3311 §5.1), after our reliable 183

MOVED = SDP_OFFER.replace("o=caller 1 1", "o=caller 1 2").replace("m=audio 40000", "m=audio 40010")
"""The caller's new offer: its media two ports up."""


def early_media(prack_it: bool = True) -> tuple[Harness, CallInfo, SipResponse]:
    """An INVITE that requires 100rel, our reliable 183 with the answer on port 30000, its
    PRACK (unless not ``prack_it``); the call and the 183."""
    h = ringing()
    call = h.offered()
    h.act(h.ua.progress, call, 30000)
    (progress,) = h.responses()
    if prack_it:
        h.feed(prack(progress, cseq=2))
        assert h.statuses() == [200]
    return h, call, progress


def test_an_update_after_our_reliable_183_was_pracked_moves_the_early_media() -> None:
    h, call, progress = early_media()
    h.feed(request("UPDATE", cseq=3, to_tag=progress.to.tag, body=MOVED))
    (response,) = h.responses()
    assert response.status == 200 and response.cseq.method == "UPDATE"
    answer = SessionDescription.parse(response.body)
    assert answer.media[0].port == 30000  # the same port of ours, the same SDP (§8)
    assert answer.origin == SessionDescription.parse(progress.body).origin
    (update,) = h.of(MediaUpdated)
    assert (update.media.remote_address, update.media.remote_port) == ("192.0.2.10", 40010)
    assert call.state is CallState.RINGING  # the INVITE still unanswered
    h.feed(request("UPDATE", cseq=4, to_tag="not-ours", body=MOVED))
    assert h.statuses() == [481]  # no such dialog
    media = h.act(h.ua.answer, call, 30000)
    assert isinstance(media, NegotiatedAudio) and media.remote_port == 40010
    (ok,) = h.responses()
    assert ok.status == 200 and ok.cseq.method == "INVITE"
    h.feed(ack_for(ok))
    assert call.state is CallState.CONFIRMED


def test_an_early_update_that_changes_our_answer_is_what_the_2xx_repeats() -> None:
    """Our SDP in the INVITE's 2xx is the current one: the UPDATE's answer (o= bumped)."""
    h, call, progress = early_media()
    first = SessionDescription.parse(progress.body)
    h.feed(request("UPDATE", cseq=3, to_tag=progress.to.tag, body=HOLD))
    (response,) = h.responses()
    answer = SessionDescription.parse(response.body)
    assert answer.direction(answer.media[0]) == "recvonly"
    assert answer.origin.session_version == first.origin.session_version + 1
    h.act(h.ua.answer, call, 30000)
    (ok,) = h.responses()
    assert SessionDescription.parse(ok.body).serialize() == answer.serialize()


def test_an_early_update_without_sdp_starts_no_session_timer() -> None:
    """A session refresh before the answer: 200 without a session timer, which starts with
    the call; nothing ends the unanswered call when that refresh's interval runs out."""
    h, call, progress = early_media()
    refresh = "Session-Expires: 90;refresher=uac\r\nSupported: timer"
    h.feed(request("UPDATE", cseq=3, to_tag=progress.to.tag, content_type=None, extra=refresh))
    (response,) = h.responses()
    assert response.status == 200 and response.body == b""
    assert response.headers.get("Session-Expires") is None
    assert "timer" not in response.headers.get_all("Require")
    h.advance(h.now + 120.0)  # past the 90 s the UPDATE asked for
    assert not h.requests() and not h.ended()  # no BYE on the early dialog (§15)
    assert call.state is CallState.RINGING
    h.act(h.ua.answer, call, 30000)
    assert h.statuses() == [200]


def test_an_update_offer_before_the_prack_of_our_answer_is_500_with_retry_after() -> None:
    """Until its PRACK the INVITE's offer/answer is not complete (RFC 3262 §5: the PRACK may
    carry an offer): RFC 3311 §5.2, 500 with Retry-After; after the PRACK it is taken."""
    h, call, progress = early_media(prack_it=False)
    h.feed(request("UPDATE", cseq=2, to_tag=progress.to.tag, body=MOVED))
    (refused,) = h.responses()
    assert refused.status == 500 and 0 <= int(refused.headers.get("Retry-After") or -1) <= 10
    assert not h.of(MediaUpdated)
    h.feed(prack(progress, cseq=3))
    h.feed(request("UPDATE", cseq=4, to_tag=progress.to.tag, body=MOVED))
    assert h.statuses() == [200, 200]  # the PRACK's, the UPDATE's
    assert [e.media.remote_port for e in h.of(MediaUpdated)] == [40010]


def test_an_update_offer_while_our_200_waits_for_the_prack_of_our_answer_is_500() -> None:
    """Answered but held for the PRACK (RFC 3262 §3), the dialog is still early."""
    h, call, progress = early_media(prack_it=False)
    h.act(h.ua.answer, call, 30000)
    assert not h.responses()  # the 200 waits
    h.feed(request("UPDATE", cseq=2, to_tag=progress.to.tag, body=MOVED))
    assert h.statuses() == [500]
    h.feed(prack(progress, cseq=3))
    assert h.statuses() == [200, 200]  # the PRACK's, then the INVITE's
    assert not h.of(MediaUpdated)


def test_an_update_offer_after_an_unreliable_183_is_500_and_one_without_sdp_200() -> None:
    """An answer in a 1xx sent the usual way is no final answer (RFC 3261 §13.2.1): the
    INVITE's offer/answer is not complete before the 2xx (RFC 3311 §5.1)."""
    h = ringing(extra="")
    call = h.offered()
    h.act(h.ua.progress, call, 30000)
    (progress,) = h.responses()
    assert progress.status == 183 and progress.headers.get("RSeq") is None
    h.feed(request("UPDATE", cseq=2, to_tag=progress.to.tag, body=MOVED))
    h.feed(request("UPDATE", cseq=3, to_tag=progress.to.tag, content_type=None))
    assert h.statuses() == [500, 200]
    assert not h.of(MediaUpdated) and call.state is CallState.RINGING
