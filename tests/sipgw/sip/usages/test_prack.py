"""Reliable 1xx on incoming calls (sipgw.sip.usages.prack, RFC 3262 §3), through the user agent
core on a fake clock (:class:`tests.sipgw.sip.ua_harness.Harness`)."""

from __future__ import annotations

from sipgw.sip.call import CallState
from sipgw.sip.events import CallConfirmed, EndReason
from sipgw.sip.message import SipResponse
from tests.sipgw.sip.builders import ack_for, invite, request
from tests.sipgw.sip.ua_harness import Harness

REQUIRED = "Require: 100rel\r\nSupported: 100rel"


def prack(response: SipResponse, cseq: int, rseq: int | None = None, invite_cseq: int = 1) -> bytes:
    """The caller's PRACK of a reliable 1xx (its RSeq unless ``rseq`` says another)."""
    number = int(response.headers.get("RSeq") or 0) if rseq is None else rseq
    return request("PRACK", cseq=cseq, to_tag=response.to.tag, content_type=None,
                   extra=f"RAck: {number} {invite_cseq} INVITE")  # fmt: skip


def ringing(extra: str = REQUIRED) -> Harness:
    h = Harness()
    h.feed(invite(extra=extra, via_branch="z9hG4bKreliable1"))
    h.take()
    return h


def test_an_invite_that_requires_100rel_is_taken_not_refused_with_420() -> None:
    h = ringing()
    assert h.offered().state is CallState.INCOMING and not h.statuses()


def test_the_180_goes_reliably_again_and_again_until_its_prack() -> None:
    h = ringing()
    call = h.offered()
    h.act(h.ua.ring, call)
    (first,) = h.responses()
    assert first.status == 180 and first.headers.get("Require") == "100rel"
    rseq = int(first.headers.get("RSeq") or 0)
    assert 1 <= rseq < 2**31
    h.advance(0.5 + 1.0 + 2.0)  # T1, 2·T1, 4·T1 later (§3: the interval doubles)
    again = h.responses()
    assert [r.status for r in again] == [180, 180, 180] and again[
        0
    ].serialize() == first.serialize()
    h.feed(prack(first, cseq=2))
    assert h.statuses() == [200]
    h.advance(20.0)
    assert not h.responses()  # acknowledged: sent no more


def test_a_183_with_our_answer_holds_the_200_until_its_prack() -> None:
    """§3: no 2xx before the PRACK of a reliable 1xx that carried a session description."""
    h = ringing()
    call = h.offered()
    h.act(h.ua.progress, call, 30000)
    (progress,) = h.responses()
    assert progress.status == 183 and progress.body and progress.headers.get("RSeq")
    h.act(h.ua.answer, call, 30000)
    assert not h.responses()  # the 200 waits
    h.advance(0.5)
    (again,) = h.responses()  # and the 183 is resent meanwhile
    assert again.serialize() == progress.serialize()
    h.feed(prack(progress, cseq=2))
    assert h.statuses() == [200, 200]  # the PRACK's, then the INVITE's
    ok = h.responses() or None
    assert ok is None
    h.feed(ack_for(progress, cseq=1))
    assert h.of(CallConfirmed)


def test_a_second_1xx_waits_for_the_first_ones_prack_and_numbers_on() -> None:
    h = ringing()
    call = h.offered()
    h.act(h.ua.ring, call)
    h.act(h.ua.progress, call, 30000)
    (ringing_,) = h.responses()  # the 183 waits (§3: one outstanding at a time)
    h.feed(prack(ringing_, cseq=2))
    prack_ok, progress = h.responses()
    assert (prack_ok.status, progress.status) == (200, 183)
    assert int(progress.headers.get("RSeq") or 0) == int(ringing_.headers.get("RSeq") or 0) + 1


def test_a_200_after_a_180_without_sdp_goes_at_once() -> None:
    h = ringing()
    call = h.offered()
    h.act(h.ua.ring, call)
    h.take()
    h.act(h.ua.answer, call, 30000)
    assert h.statuses() == [200]
    h.advance(10.0)
    assert {r.status for r in h.responses()} == {200}  # the 2xx resent; the 180 no more


def test_a_prack_that_names_no_reliable_1xx_gets_481() -> None:
    h = ringing()
    call = h.offered()
    h.act(h.ua.ring, call)
    (first,) = h.responses()
    rseq = int(first.headers.get("RSeq") or 0)
    h.feed(prack(first, cseq=2, rseq=rseq + 1))  # not the outstanding one
    h.feed(prack(first, cseq=3, invite_cseq=7))  # not this INVITE
    assert h.statuses() == [481, 481]
    plain = ringing(extra="")
    plain_call = plain.offered()
    plain.act(plain.ua.ring, plain_call)
    (unreliable,) = plain.responses()
    assert unreliable.headers.get("RSeq") is None  # no 100rel asked: the usual way
    plain.feed(prack(unreliable, cseq=2, rseq=1))
    assert plain.statuses() == [481]


def test_no_prack_within_64_t1_refuses_the_invite_with_500() -> None:
    h = ringing()
    call = h.offered()
    h.act(h.ua.progress, call, 30000)
    h.act(h.ua.answer, call, 30000)  # waits for the PRACK that never comes
    h.advance(64 * 0.5 + 0.1)
    assert 500 in h.statuses()
    (ended,) = h.ended()
    assert ended.reason is EndReason.REJECTED


def test_a_cancel_while_the_200_waits_for_the_prack_ends_the_call_with_487() -> None:
    h = ringing()
    call = h.offered()
    h.act(h.ua.progress, call, 30000)
    h.act(h.ua.answer, call, 30000)  # held for the PRACK
    h.take()
    h.feed(request("CANCEL", via_branch="z9hG4bKreliable1", content_type=None))
    assert sorted(h.statuses()) == [200, 487]
    (ended,) = h.ended()
    assert ended.reason is EndReason.CANCELLED
    h.advance(64 * 0.5 + 1)
    assert 200 not in h.statuses()  # the held 200 never goes


def test_a_reliable_183_with_our_answer_allows_update_and_a_reliable_180_says_nothing() -> None:
    """RFC 3311 §4: a reliable 1xx with SDP SHOULD list UPDATE in its Allow, so the caller
    knows it may update the session in the early dialog (:mod:`sipgw.sip.usages.modify`)."""
    h = ringing()
    call = h.offered()
    h.act(h.ua.ring, call)
    (ringing_,) = h.responses()
    assert not ringing_.headers.get_all("Allow")
    h.feed(prack(ringing_, cseq=2))
    h.act(h.ua.progress, call, 30000)
    prack_ok, progress = h.responses()
    assert progress.status == 183 and progress.body
    assert "UPDATE" in progress.headers.get_all("Allow")
