"""REFERs the peer sends us (sipgw.sip.usages.referee, RFC 3515 §2.4): checked, handed to the
application as TransferRequested, answered as it says, and reported on by NOTIFYs with a
message/sipfrag body, through the user agent core on a fake clock."""

from __future__ import annotations

import pytest

from sipgw.sip.call import CallInfo
from sipgw.sip.errors import InvalidState
from sipgw.sip.events import TransferRequested
from sipgw.sip.message import SipRequest, SipResponse, make_response
from sipgw.sip.usages.context import ALLOW
from sipgw.sip.usages.referee import ANSWER_WAIT, sipfrag
from tests.sipgw.sip.builders import request
from tests.sipgw.sip.ua_harness import Harness, confirmed_call

TARGET = "sip:agent-b@pbx.example.com?User-to-User=1234%3Bencoding%3Dhex"


def refer(ok: SipResponse, cseq: int = 2, extra: str = f"Refer-To: <{TARGET}>") -> bytes:
    return request("REFER", cseq=cseq, to_tag=ok.to.tag, content_type=None, extra=extra)


def referred(h: Harness) -> tuple[CallInfo, SipResponse, TransferRequested]:
    call, ok = confirmed_call(h)
    h.feed(refer(ok, extra=f"Refer-To: <{TARGET}>\r\nReferred-By: <sip:agent-a@pbx.example.com>"))
    (event,) = h.of(TransferRequested)
    assert h.take() == []  # nothing answered until the application says
    return call, ok, event


def notifies(h: Harness) -> list[SipRequest]:
    return [m for m in h.requests() if m.method == "NOTIFY"]


def test_a_refer_reaches_the_application_with_its_target() -> None:
    h = Harness()
    call, _, event = referred(h)
    assert event.call is call
    assert event.refer_to == f"<{TARGET}>"
    assert event.target == TARGET
    assert event.referred_by == "<sip:agent-a@pbx.example.com>"
    assert "REFER" in ALLOW.split(", ")


def test_accepted_then_notified_trying_and_the_outcome() -> None:
    h = Harness()
    call, ok, _ = referred(h)
    h.act(h.ua.answer_refer, call, 202)
    sent = h.take()
    (accepted,) = [m for m in sent if isinstance(m, SipResponse)]
    assert accepted.status == 202 and accepted.headers.get("CSeq") == "2 REFER"
    (trying,) = [m for m in sent if isinstance(m, SipRequest)]
    assert trying.method == "NOTIFY" and trying.to.tag == "caller-tag"
    assert trying.headers.get("Event") == "refer"
    assert trying.headers.get("Subscription-State") == "active;expires=60"
    assert trying.content_type == "message/sipfrag"
    assert trying.body == b"SIP/2.0 100 Trying\r\n"
    h.feed(make_response(trying, 200).serialize())
    h.act(h.ua.notify_refer, call, 200)
    (final,) = notifies(h)
    assert final.body == b"SIP/2.0 200 OK\r\n"
    assert final.headers.get("Subscription-State") == "terminated;reason=noresource"
    assert final.cseq.number > trying.cseq.number
    with pytest.raises(InvalidState):  # the subscription is over
        h.act(h.ua.notify_refer, call, 200)


def test_a_refusal_ends_it_without_a_notify() -> None:
    h = Harness()
    call, ok, _ = referred(h)
    h.act(h.ua.answer_refer, call, 603)
    assert h.statuses() == [603]
    with pytest.raises(InvalidState):
        h.act(h.ua.notify_refer, call, 200)
    with pytest.raises(InvalidState):  # answered already
        h.act(h.ua.answer_refer, call, 202)
    h.feed(refer(ok, cseq=3))  # the next REFER is a new question
    assert len(h.of(TransferRequested)) == 2


def test_a_failure_reported_by_its_status() -> None:
    h = Harness()
    call, _, _ = referred(h)
    h.act(h.ua.answer_refer, call, 202)
    h.take()
    h.act(h.ua.notify_refer, call, 503, reason="Service Unavailable")
    (final,) = notifies(h)
    assert final.body == b"SIP/2.0 503 Service Unavailable\r\n"
    assert final.headers.get("Subscription-State").startswith("terminated")


@pytest.mark.parametrize(
    "extra",
    ["", f"Refer-To: <{TARGET}>\r\nRefer-To: <sip:other@example.com>", "Refer-To: <not a uri>"],
)
def test_a_refer_without_one_uri_to_refer_to_is_refused(extra: str) -> None:
    h = Harness()
    _, ok = confirmed_call(h)
    h.feed(refer(ok, extra=extra))
    assert h.statuses() == [400] and h.of(TransferRequested) == []


def test_one_transfer_at_a_time() -> None:
    h = Harness()
    call, ok, _ = referred(h)
    h.feed(refer(ok, cseq=3))
    assert h.statuses() == [403]
    h.act(h.ua.answer_refer, call, 202)
    h.take()
    h.feed(refer(ok, cseq=4))  # accepted and not reported on yet: still in progress
    assert h.statuses() == [403]
    assert len(h.of(TransferRequested)) == 1


def test_only_202_or_a_refusal() -> None:
    h = Harness()
    call, _, _ = referred(h)
    with pytest.raises(ValueError):
        h.act(h.ua.answer_refer, call, 200)


def test_a_refer_outside_a_dialog_is_not_taken() -> None:
    h = Harness()
    h.feed(request("REFER", content_type=None, extra=f"Refer-To: <{TARGET}>"))
    assert h.statuses() == [405] and h.of(TransferRequested) == []


def test_sipfrag_bodies() -> None:
    assert sipfrag(180) == b"SIP/2.0 180 Ringing\r\n"
    assert sipfrag(486, "Busy Here") == b"SIP/2.0 486 Busy Here\r\n"


def test_a_refer_the_application_leaves_unanswered_is_declined() -> None:
    h = Harness()
    call, _, _ = referred(h)
    h.advance(h.now + ANSWER_WAIT - 0.1)
    assert h.statuses() == []
    h.advance(h.now + 0.2)
    assert h.statuses() == [603]
    with pytest.raises(InvalidState):  # too late
        h.act(h.ua.answer_refer, call, 202)


def test_an_answer_in_time_stops_the_clock() -> None:
    h = Harness()
    call, _, _ = referred(h)
    h.act(h.ua.answer_refer, call, 202)
    h.take()
    h.advance(h.now + ANSWER_WAIT + 1)
    assert h.statuses() == []  # nothing declined later
