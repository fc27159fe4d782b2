"""The INVITE usage (sipgw.sip.usages.invite): a call from its INVITE to its BYE, as the UAS.

Bytes in, events out on a fake clock, through the user agent core
(:class:`tests.sipgw.sip.ua_harness.Harness`): the checks of a new INVITE, ringing,
answering, the 2xx resent until its ACK (RFC 3261 §13.3.1.4), no BYE before
that ACK (§15), CANCEL (§9.2), BYE in either direction, and the delayed offer.
"""

from __future__ import annotations

from typing import Any

import pytest

from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallState
from sipgw.sip.errors import InvalidState
from sipgw.sip.events import (
    CallConfirmed,
    CallEnded,
    EndReason,
    InviteRefusedForOverload,
    MediaUpdated,
)
from sipgw.sip.message import SipRequest, SipResponse, make_response
from sipgw.sip.offeranswer import OfferChoice, choose_answer
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.timers import TimerValues
from sipgw.sip.usages import invite as invite_usage
from sipgw.sip.usages.invite import parse_offer
from tests.sipgw.sip.builders import CALLER, SDP_OFFER, ack_for, invite, parse_request, request
from tests.sipgw.sip.ua_harness import Harness, answered_call, confirmed_call

OVER_TCP = Flow("TCP", CALLER, connection_id=1)


# ------------------------------------------------------------- a new INVITE (RFC 3261 §8.2, §14.2)


def test_parse_offer_reads_the_sdp_or_none() -> None:
    offer = parse_offer(parse_request(invite()))
    assert offer is not None and offer.media[0].port == 40000
    assert parse_offer(parse_request(invite(body=""))) is None


def test_max_calls() -> None:
    h = Harness(max_calls=1)
    h.feed(invite(call_id="a"))
    h.feed(invite(call_id="b"))
    assert h.statuses() == [100, 503]


def test_calls_outside_sip_count_towards_max_calls() -> None:
    h = Harness(max_calls=2)
    h.ua.other_calls = 1  # a browser call is up
    h.feed(invite(call_id="a"))
    h.feed(invite(call_id="b"))
    assert h.statuses() == [100, 503]


@pytest.mark.parametrize(
    ("setting", "value"),
    [("draining", True), ("overload_retry_after", 5)],
)
def test_a_gateway_draining_or_overloaded_refuses_new_invites(setting: str, value: object) -> None:
    h = Harness()
    setattr(h.ua, setting, value)
    h.feed(invite())
    (refused,) = h.responses()
    assert refused.status == 503
    overloaded = setting == "overload_retry_after"
    assert h.ua.overload_refused == (1 if overloaded else 0)
    # no call; an overload refusal is reported for its log line (issue 39)
    source = ("192.0.2.10", 5062)
    refusal = InviteRefusedForOverload(source, "sip:+15551234567@192.0.2.10")
    assert h.events == ([refusal] if overloaded else [])


def test_no_common_codec_is_488() -> None:
    h = Harness()
    h.feed(invite(body=SDP_OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 18 101")))
    (response,) = h.responses()
    assert response.status == 488 and response.headers.get("Warning")
    assert h.events == []


def test_unsupported_body_is_415() -> None:
    h = Harness()
    h.feed(invite(body="hello", content_type="text/plain"))
    (response,) = h.responses()
    assert response.status == 415 and "application/sdp" in (response.headers.get("Accept") or "")


def test_accept_without_sdp_is_406() -> None:
    h = Harness()
    h.feed(invite(extra="Accept: text/nobodyKnowsThis"))
    (response,) = h.responses()
    assert response.status == 406 and (response.headers.get("Warning") or "").startswith("399")


def test_multipart_invite() -> None:
    body = (
        "--b1\r\nContent-Type: application/sdp\r\n\r\n" + SDP_OFFER
        + "\r\n--b1\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\nxx\r\n--b1--\r\n"
    )  # fmt: skip
    h = Harness()
    h.feed(invite(body=body, content_type="multipart/mixed;boundary=b1"))
    assert h.statuses() == [100]
    media = h.act(h.ua.answer, h.offered(), 30000)  # the SDP part was found and answered
    assert media is not None and media.codec == "PCMU"  # type: ignore[attr-defined]


def test_the_offer_is_negotiated_once_when_it_comes_and_answered_from_that(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen: list[OfferChoice] = []

    def counted(*args: Any) -> OfferChoice:
        chosen.append(choose_answer(*args))
        return chosen[-1]

    monkeypatch.setattr(invite_usage, "choose_answer", counted)
    h = Harness()
    h.feed(invite())
    call = h.offered()
    assert len(chosen) == 1  # checked before ringing (a 488 would go out now)
    media = h.act(h.ua.answer, call, 30000)
    (_, ok) = h.responses()
    assert len(chosen) == 1 and media.codec == chosen[0].codec  # type: ignore[attr-defined]
    assert SessionDescription.parse(ok.body).media[0].port == 30000


def test_merged_and_pending_invites() -> None:
    h = Harness()
    h.feed(invite(call_id="m", via_branch="z9hG4bKm1"))
    h.take()
    h.feed(invite(call_id="m", via_branch="z9hG4bKm2"))  # same CSeq, other branch
    assert h.statuses() == [482]  # §8.2.2.2 merged request
    h.feed(invite(call_id="m", cseq=2, via_branch="z9hG4bKm3"))
    assert h.statuses() == [491]  # §14.2: the first INVITE is still pending


# ------------------------------------------------------------------- ringing, answering, rejecting


def test_invite_ring_answer_ack_bye() -> None:
    h = Harness()
    h.feed(invite(extra="Record-Route: <sip:proxy.example:5060;lr>"))
    (trying,) = h.responses()
    assert trying.status == 100 and trying.to.tag is None  # §8.2.6.1: no tag on 100
    call = h.offered()
    h.act(h.ua.ring, call)
    (ringing,) = h.responses()
    assert ringing.status == 180 and ringing.to.tag
    assert ringing.headers.get_all("Record-Route") == ["<sip:proxy.example:5060;lr>"]
    assert ringing.contacts[0].uri.host == "192.0.2.1"
    media = h.act(h.ua.answer, call, 30000)
    (ok,) = h.responses()
    assert ok.status == 200 and ok.to.tag == ringing.to.tag
    assert ok.headers.get_all("Record-Route") == ["<sip:proxy.example:5060;lr>"]
    assert "INVITE" in ok.headers.get_all("Allow")
    answer = SessionDescription.parse(ok.body)
    assert answer.connection is not None and answer.connection.address == "192.0.2.1"
    assert answer.media[0].port == 30000 and answer.media[0].formats == ["0", "101"]
    assert media.codec == "PCMU" and media.remote_port == 40000  # type: ignore[attr-defined]
    # Via: the caller asked for rport, so the response carries received and rport.
    assert ok.top_via.rport == CALLER[1] and ok.top_via.received == CALLER[0]
    h.feed(ack_for(ok))
    assert any(isinstance(e, CallConfirmed) for e in h.events)
    assert call.state is CallState.CONFIRMED
    h.feed(request("BYE", cseq=2, to_tag=ok.to.tag))
    assert h.statuses() == [200]
    (ended,) = h.ended()
    assert ended.reason is EndReason.REMOTE_BYE
    assert not h.ua.busy


def test_ring_sends_one_180_and_answering_twice_is_refused() -> None:
    h = Harness()
    h.feed(invite())
    call = h.offered()
    h.take()
    h.act(h.ua.ring, call)
    h.act(h.ua.ring, call)
    assert h.statuses() == [180]
    assert call.state is CallState.RINGING
    h.act(h.ua.answer, call, 30000)
    assert call.state is CallState.ANSWERED and call.established
    h.act(h.ua.ring, call)  # no 180 after the 200
    assert h.statuses() == [200]
    with pytest.raises(InvalidState):
        h.act(h.ua.answer, call, 30000)


def test_early_media_183_then_200_with_the_same_answer() -> None:
    """RFC 3960's gateway model: 183 Session Progress with our answer while the call is
    unanswered (the media flows), then the 200 OK carries the same answer (RFC 3261
    §13.2.1); hanging up before the 200 rejects the INVITE, it does not BYE."""
    h = Harness()
    h.feed(invite())
    call = h.offered()
    h.take()
    h.act(h.ua.ring, call)
    early = h.act(h.ua.progress, call, 30000)
    ringing, progress = h.responses()
    assert (ringing.status, progress.status) == (180, 183)
    assert progress.to.tag == ringing.to.tag and progress.contacts
    assert progress.headers.get("Content-Type") == "application/sdp"
    assert SessionDescription.parse(progress.body).media[0].port == 30000
    assert early is not None and early.remote_port == 40000  # type: ignore[attr-defined]
    assert call.state is CallState.RINGING and not call.established
    h.act(h.ua.progress, call, 30000)  # again: the same answer
    (again,) = h.responses()
    assert again.status == 183 and again.body == progress.body
    media = h.act(h.ua.answer, call, 30002)  # the port of the 183 holds
    (ok,) = h.responses()
    assert ok.status == 200 and ok.body == progress.body and media == early
    assert call.state is CallState.ANSWERED


def test_early_media_then_hangup_rejects_the_invite() -> None:
    h = Harness()
    h.feed(invite())
    call = h.offered()
    h.act(h.ua.progress, call, 30000)
    h.take()
    h.act(h.ua.hangup, call, status=486)
    assert h.statuses() == [486]
    assert h.ended()[0].reason is EndReason.REJECTED


def test_no_early_media_without_an_offer() -> None:
    h = Harness()
    h.feed(invite(body=""))
    call = h.offered()
    h.take()
    assert h.act(h.ua.progress, call, 30000) is None
    assert h.statuses() == []


def test_answer_without_ringing_first() -> None:
    h = Harness()
    h.feed(invite())
    call = h.offered()
    h.take()
    media = h.act(h.ua.answer, call, 30000)
    (ok,) = h.responses()
    assert ok.status == 200 and ok.to.tag and media is not None
    assert ok.headers.get("Content-Type") == "application/sdp"
    assert SessionDescription.parse(ok.body).media[0].port == 30000


def test_reject_with_503_says_when_to_retry() -> None:
    h = Harness()
    h.feed(invite())
    call = h.offered()
    h.take()
    h.act(h.ua.reject, call, 503)
    (refused,) = h.responses()
    assert refused.status == 503 and refused.headers.get("Retry-After") == "30"
    (ended,) = h.ended()
    assert (ended.reason, ended.status) == (EndReason.REJECTED, 503)
    h.act(h.ua.reject, call, 486)  # the call is over: nothing more goes out
    assert h.sent == [] and len(h.ended()) == 1


def test_hangup_while_ringing_rejects() -> None:
    h = Harness()
    h.feed(invite())
    call = h.offered()
    h.act(h.ua.ring, call)
    h.take()
    h.act(h.ua.hangup, call)
    assert h.statuses() == [480]
    assert h.ended()[0].reason is EndReason.REJECTED


# --------------------------------------------------------------- the 2xx until its ACK (§13.3.1.4)


def test_2xx_retransmitted_until_ack() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.advance(5.0)
    times = [t for t, data, _ in h.sent if data.startswith(b"SIP/2.0 200")]
    assert times == [0.5, 1.5, 3.5]  # T1, 2·T1, 4·T1 (§13.3.1.4)
    h.sent.clear()
    h.feed(ack_for(ok))
    h.advance(20.0)
    assert h.sent == []  # the ACK stopped them
    assert call.state is CallState.CONFIRMED


def test_the_2xx_retransmission_interval_is_capped_at_t2() -> None:
    h = Harness(timers=TimerValues(t1=0.5, t2=2.0))
    answered_call(h)
    h.advance(10.0)
    times = [t for t, data, _ in h.sent if data.startswith(b"SIP/2.0 200")]
    assert times == [0.5, 1.5, 3.5, 5.5, 7.5, 9.5]  # T1, 2·T1, then T2 = 2 s


def test_a_reliable_transport_carries_the_2xx_once_and_the_ack_is_still_awaited() -> None:
    """§13.3.1.4: the 2xx is retransmitted only over UDP; 64·T1 without ACK ends it anyway."""
    h = Harness()
    h.feed(invite(), OVER_TCP)
    call = h.offered()
    h.act(h.ua.answer, call, 30000)
    h.take()
    h.advance(31.9)
    assert h.take() == []  # no retransmission over TCP
    h.advance(32.0)  # 64·T1 without the ACK
    assert [m.method for m in h.requests()] == ["BYE"]
    assert [e.reason for e in h.ended()] == [EndReason.NO_ACK]


def test_no_ack_ends_call_with_bye() -> None:
    h = Harness()
    answered_call(h)
    h.advance(40.0)
    sent = h.take()
    byes = {m.top_via.branch for m in sent if isinstance(m, SipRequest) and m.method == "BYE"}
    assert len(byes) == 1  # one BYE transaction (with its own Timer E retransmissions)
    retransmits = [m for m in sent if isinstance(m, SipResponse) and m.status == 200]
    assert len(retransmits) == 10  # 0.5 1.5 3.5 7.5 11.5 15.5 19.5 23.5 27.5 31.5
    (ended,) = h.ended()
    assert ended.reason is EndReason.NO_ACK


def test_an_ack_for_another_cseq_or_a_second_copy_changes_nothing() -> None:
    """Only the ACK with the INVITE's CSeq confirms (§13.3.1.4); a second copy is absorbed."""
    h = Harness()
    call, ok = answered_call(h)
    h.feed(ack_for(ok, cseq=2))
    assert call.state is CallState.ANSWERED and not h.of(CallConfirmed)
    h.feed(ack_for(ok))
    h.feed(ack_for(ok))
    assert len(h.of(CallConfirmed)) == 1 and call.state is CallState.CONFIRMED


# -------------------------------------------------------------------------------- hanging up (§15)


def test_our_bye_uses_the_dialog() -> None:
    h = Harness()
    call, ok = answered_call(
        h, extra="Record-Route: <sip:p2.example;lr>\r\nRecord-Route: <sip:p1.example;lr>"
    )
    h.feed(ack_for(ok))
    h.act(h.ua.hangup, call)
    (bye,) = h.take()
    assert isinstance(bye, SipRequest) and bye.method == "BYE"
    assert bye.uri == f"sip:caller@{CALLER[0]}:{CALLER[1]}"  # the remote target
    assert bye.headers.get_all("Route") == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert bye.from_.tag == ok.to.tag and bye.to.tag == "caller-tag"
    assert bye.call_id == ok.call_id
    assert h.sent == [] and h.ua.busy  # waiting for the BYE's response
    (ended,) = h.ended()
    assert ended.reason is EndReason.LOCAL_BYE
    h.act(h.ua.hangup, call)  # a second hangup is harmless
    assert h.sent == []
    h.feed(make_response(bye, 200).serialize())
    assert not h.ua.busy


def test_hangup_before_ack_waits_for_ack() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.act(h.ua.hangup, call)
    assert not any(d.startswith(b"BYE") for _, d, _ in h.sent)  # §15
    assert [e.reason for e in h.ended()] == [EndReason.LOCAL_BYE]
    h.sent.clear()
    h.feed(ack_for(ok))
    assert [m.method for m in h.take() if isinstance(m, SipRequest)] == ["BYE"]


def test_a_hang_up_before_the_ack_goes_out_when_the_ack_never_comes() -> None:
    """§15 and §13.3.1.4 together: the deferred BYE leaves at the give-up, once."""
    h = Harness()
    call, _ = answered_call(h)
    h.act(h.ua.hangup, call)
    h.advance(32.0)
    assert [m.method for m in h.requests()] == ["BYE"]
    assert [e.reason for e in h.ended()] == [EndReason.LOCAL_BYE]  # reported once, at hang-up


def test_bye_from_the_caller_on_a_confirmed_call() -> None:
    h = Harness()
    call, ok = confirmed_call(h)
    h.feed(request("BYE", cseq=2, to_tag=ok.to.tag, content_type=None))
    (bye_ok,) = h.responses()
    assert bye_ok.status == 200 and bye_ok.cseq.method == "BYE"
    (ended,) = h.ended()
    assert ended.reason is EndReason.REMOTE_BYE and ended.status is None
    assert call.state is CallState.ENDED


def test_each_call_ends_exactly_once_whatever_follows() -> None:
    h = Harness()
    call, ok = confirmed_call(h)
    h.act(h.ua.hangup, call)
    (bye,) = h.requests()
    h.feed(request("BYE", cseq=2, to_tag=ok.to.tag, content_type=None))  # the BYEs cross
    h.feed(make_response(bye, 200).serialize())
    h.advance(100.0)
    assert [e.reason for e in h.of(CallEnded)] == [EndReason.LOCAL_BYE]
    assert not h.ua.busy


# ----------------------------------------------------- CANCEL and the early dialog (§9.2, §15.1.2)


def test_cancel_while_ringing() -> None:
    h = Harness()
    h.feed(invite(via_branch="z9hG4bKcancel1"))
    call = h.offered()
    h.act(h.ua.ring, call)
    h.take()
    h.feed(request("CANCEL", via_branch="z9hG4bKcancel1"))
    responses = h.responses()
    assert sorted((r.status, r.cseq.method) for r in responses) == [
        (200, "CANCEL"),
        (487, "INVITE"),
    ]
    ended = h.ended()
    assert [e.reason for e in ended] == [EndReason.CANCELLED] and ended[0].status == 487
    h.feed(request("ACK", via_branch="z9hG4bKcancel1", to_tag=responses[-1].to.tag))
    h.advance(60.0)
    assert h.statuses() == []  # the ACK stopped the 487 retransmissions
    assert not h.ua.busy


def test_cancel_after_answer_only_answers_cancel() -> None:
    h = Harness()
    call, ok = answered_call(h, via_branch="z9hG4bKcancel2")
    h.feed(request("CANCEL", via_branch="z9hG4bKcancel2"))
    assert [(r.status, r.cseq.method) for r in h.responses()] == [(200, "CANCEL")]
    assert h.ended() == []


def test_cancel_without_invite_is_481() -> None:
    h = Harness()
    h.feed(request("CANCEL", via_branch="z9hG4bKnothing"))
    assert h.statuses() == [481]


def test_bye_on_early_dialog_ends_with_487() -> None:
    h = Harness()
    h.feed(invite())
    call = h.offered()
    h.act(h.ua.ring, call)
    ringing = h.responses()[-1]
    h.feed(request("BYE", cseq=2, to_tag=ringing.to.tag))
    assert sorted(h.statuses()) == [200, 487]
    assert h.ended()[0].reason is EndReason.REMOTE_BYE


def test_a_transport_error_while_ringing_ends_the_call() -> None:
    h = Harness()
    h.feed(invite(), OVER_TCP)
    call = h.offered()
    h.act(h.ua.ring, call)
    h.act(h.ua.transport_error, OVER_TCP)
    (ended,) = h.ended()
    assert ended.reason is EndReason.TRANSPORT_ERROR and call.state is CallState.ENDED
    assert not h.ua.busy


# ----------------------------------------------------------- delayed offer (the answer in the ACK)


def test_delayed_offer() -> None:
    h = Harness()
    call, ok = answered_call(h, body="")
    offer = SessionDescription.parse(ok.body)
    assert [m.formats for m in offer.media] == [["0", "8", "101"]]
    assert call.media is None
    answer = SDP_OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 8 101")
    h.feed(ack_for(ok, body=answer))
    (update,) = [e for e in h.events if isinstance(e, MediaUpdated)]
    assert update.media.codec == "PCMA"


def test_delayed_offer_ack_without_answer_hangs_up() -> None:
    h = Harness()
    call, ok = answered_call(h, body="")
    h.feed(ack_for(ok))
    assert [m.method for m in h.take() if isinstance(m, SipRequest)] == ["BYE"]
    assert h.ended()[0].reason is EndReason.MEDIA_FAILED


def test_delayed_offer_with_an_unreadable_answer_in_the_ack_hangs_up() -> None:
    h = Harness()
    call, ok = answered_call(h, body="")
    h.feed(ack_for(ok, body="v=0\r\nthis is not sdp\r\n"))
    assert [m.method for m in h.requests()] == ["BYE"]
    assert [e.reason for e in h.ended()] == [EndReason.MEDIA_FAILED]
    assert not h.of(MediaUpdated)


# ------------------------------------------------------------- what the INVITE says of the caller


def test_the_offered_call_carries_the_invites_identity_forwarding_and_x_headers() -> None:
    """RFC 3325 (P-Asserted-Identity), RFC 5806 (Diversion) and X- headers reach CallInfo."""
    h = Harness()
    h.feed(invite(extra="\r\n".join([
        "P-Asserted-Identity: <sip:+15557654321@carrier.example>",
        "Diversion: <sip:+15550001111@carrier.example>;reason=user-busy",
        "X-Ticket-Id: T-42",
    ])))  # fmt: skip
    details = h.offered().details
    assert details.identity.number == "+15557654321"
    assert [(step.number, step.reason) for step in details.forwarded] == [
        ("+15550001111", "user-busy")
    ]
    assert details.custom == (("X-Ticket-Id", "T-42"),)


def test_unreadable_identity_headers_never_refuse_the_call() -> None:
    h = Harness()
    h.feed(invite(extra="P-Asserted-Identity: <<<\r\nHistory-Info: junk;index=x"))
    assert h.statuses() == [100] and h.offered().details.identity.uri == ""
