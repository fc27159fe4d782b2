"""Blind transfer (sipgw.sip.usages.refer): REFER and the NOTIFYs that report on it (RFC 3515).

The REFER goes in the call's dialog; its response and each NOTIFY's
message/sipfrag status line (RFC 3420) reach the application as
:class:`~sipgw.sip.events.TransferUpdated`, through the user agent core on a fake clock.
"""

from __future__ import annotations

import pytest

from sipgw.sip.call import CallInfo, CallState
from sipgw.sip.errors import InvalidState, LocalProtocolError
from sipgw.sip.events import TransferStage, TransferUpdated
from sipgw.sip.message import SipRequest, SipResponse, make_response
from sipgw.sip.usages.refer import sipfrag_status
from tests.sipgw.sip.builders import invite, request
from tests.sipgw.sip.ua_harness import Harness, confirmed_call

TARGET = "sip:support@pbx.example.com"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"SIP/2.0 100 Trying\r\n", (100, "Trying")),
        (b"SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n", (180, "Ringing")),
        (b"SIP/2.0 486 Busy Here\n", (486, "Busy Here")),
        (b"sip/2.0 200 OK", (200, "OK")),
        (b"SIP/2.0 503", (503, "")),
        (b"INVITE sip:support@pbx.example.com SIP/2.0\r\n", (None, "")),
        (b"SIP/2.0 OK 200", (None, "")),
        (b"", (None, "")),
        (b"\xff\xfe", (None, "")),
    ],
)
def test_the_status_line_of_a_sipfrag(body: bytes, status: tuple[int | None, str]) -> None:
    assert sipfrag_status(body) == status


def notify(ok: SipResponse, cseq: int, status_line: str, state: str = "active") -> bytes:
    return request(
        "NOTIFY",
        cseq=cseq,
        to_tag=ok.to.tag,
        body=status_line + "\r\n",
        content_type="message/sipfrag;version=2.0",
        extra=f"Event: refer\r\nSubscription-State: {state}",
    )


def transfers(h: Harness) -> list[tuple[str, int]]:
    return [(e.stage.value, e.status) for e in h.events if isinstance(e, TransferUpdated)]


def transferring(h: Harness) -> tuple[CallInfo, SipResponse, SipRequest]:
    """A confirmed call we asked to transfer to :data:`TARGET`: the call, our 200, the REFER."""
    call, ok = confirmed_call(h)
    h.act(h.ua.refer, call, TARGET)
    (refer,) = h.requests()
    assert refer.method == "REFER"
    return call, ok, refer


def test_refer_accepted_then_notify_progress_and_success() -> None:
    h = Harness()
    call, ok, refer = transferring(h)
    assert refer.headers.get("Refer-To") == "<sip:support@pbx.example.com>"
    assert refer.from_.tag == ok.to.tag and refer.to.tag == "caller-tag"
    assert refer.headers.get("Referred-By") and refer.contacts
    h.feed(make_response(refer, 202).serialize())
    h.feed(notify(ok, 2, "SIP/2.0 100 Trying"))
    h.feed(notify(ok, 3, "SIP/2.0 200 OK", state="terminated;reason=noresource"))
    assert h.statuses() == [200, 200]  # both NOTIFYs answered
    assert transfers(h) == [("accepted", 202), ("progress", 100), ("succeeded", 200)]


def test_refer_rejected_or_unanswered() -> None:
    h = Harness()
    call, ok, refer = transferring(h)
    h.feed(make_response(refer, 603).serialize())
    h.act(h.ua.refer, call, TARGET)
    h.advance(h.now + 40.0)
    assert transfers(h) == [("rejected", 603), ("rejected", 408)]
    assert call.state is CallState.CONFIRMED


def test_transfer_target_fails_after_acceptance() -> None:
    h = Harness()
    call, ok, refer = transferring(h)
    h.feed(make_response(refer, 202).serialize())
    h.feed(notify(ok, 2, "SIP/2.0 486 Busy Here", state="terminated"))
    assert transfers(h)[-1] == ("failed", 486)


def test_an_accepted_refer_whose_final_notify_never_comes_fails_after_its_timeout() -> None:
    """After the 202 the phone rings the target; if no final NOTIFY comes within
    ``notify_timeout`` (a ring timeout and a margin) the transfer is reported failed (408)
    rather than left pending for good; a late failure is not reported twice."""
    h = Harness()
    call, ok = confirmed_call(h)
    h.act(h.ua.refer, call, TARGET, notify_timeout=30.0)
    (refer,) = h.requests()
    h.feed(make_response(refer, 202).serialize())
    accepted = h.now
    h.feed(notify(ok, 2, "SIP/2.0 180 Ringing"))  # progress does not stop the clock
    h.advance(accepted + 29.9)
    assert transfers(h) == [("accepted", 202), ("progress", 180)]
    h.advance(accepted + 30.0)
    assert transfers(h)[-1] == ("failed", 408)
    (failed,) = [e for e in h.of(TransferUpdated) if e.stage is TransferStage.FAILED]
    assert failed.reason == "no final NOTIFY 30 s after the REFER was accepted"
    h.feed(notify(ok, 3, "SIP/2.0 487 Request Terminated", state="terminated"))
    assert transfers(h)[-1] == ("failed", 408) and h.statuses()[-1] == 200
    assert call.state is CallState.CONFIRMED


def test_a_late_success_is_still_reported() -> None:
    """The caller did reach the target after all: the application ends our call."""
    h = Harness()
    call, ok = confirmed_call(h)
    h.act(h.ua.refer, call, TARGET, notify_timeout=5.0)
    (refer,) = h.requests()
    h.feed(make_response(refer, 202).serialize())
    h.advance(h.now + 5.0)
    h.feed(notify(ok, 2, "SIP/2.0 200 OK", state="terminated"))
    assert transfers(h) == [("accepted", 202), ("failed", 408), ("succeeded", 200)]


def test_a_final_notify_in_time_disarms_the_timeout() -> None:
    h = Harness()
    call, ok = confirmed_call(h)
    h.act(h.ua.refer, call, TARGET, notify_timeout=5.0)
    (refer,) = h.requests()
    # the NOTIFY may even overtake the 202 (RFC 3515 §2.4.5 sends it at once)
    h.feed(notify(ok, 2, "SIP/2.0 486 Busy Here", state="terminated"))
    h.feed(make_response(refer, 202).serialize())
    h.advance(h.now + 60.0)
    assert transfers(h) == [("failed", 486), ("accepted", 202)]
    timer = h.ua.get_timer()
    assert timer is None or timer > h.now  # nothing of it left


def test_refer_needs_a_confirmed_call_and_a_uri() -> None:
    h = Harness()
    h.feed(invite())
    with pytest.raises(InvalidState):
        h.act(h.ua.refer, h.offered(), "sip:x@y")
    h2 = Harness()
    call, _ = confirmed_call(h2)
    with pytest.raises(LocalProtocolError):
        h2.act(h2.ua.refer, call, "not a uri")


def test_notify_for_other_events_is_489() -> None:
    h = Harness()
    call, ok = confirmed_call(h)
    h.feed(request("NOTIFY", cseq=2, to_tag=ok.to.tag, content_type=None, extra="Event: dialog"))
    assert h.statuses() == [489]


def test_the_refer_names_us_and_takes_the_dialogs_next_cseq() -> None:
    h = Harness()
    call, ok = confirmed_call(h)
    h.act(h.ua.refer, call, TARGET)
    h.act(h.ua.refer, call, TARGET)
    first, second = h.requests()
    assert first.headers.get("Referred-By") == "<sip:agent@192.0.2.1>"  # the To we answered
    assert str(first.contacts[0].uri) == "sip:agent@192.0.2.1:5060"
    assert first.uri == "sip:caller@192.0.2.10:5062"  # the remote target
    assert second.cseq.number == first.cseq.number + 1
    assert first.cseq.method == "REFER"


def test_a_notify_without_a_status_line() -> None:
    """A NOTIFY whose body says nothing: answered; only the end of the subscription counts."""
    h = Harness()
    call, ok, _ = transferring(h)
    extra = "Event: refer;id=7\r\nSubscription-State: active;expires=60"
    h.feed(request("NOTIFY", cseq=2, to_tag=ok.to.tag, content_type=None, extra=extra))
    assert h.statuses() == [200] and transfers(h) == []
    extra = "Event: refer;id=7\r\nSubscription-State: terminated;reason=timeout"
    h.feed(request("NOTIFY", cseq=3, to_tag=ok.to.tag, content_type=None, extra=extra))
    assert h.statuses() == [200]
    (update,) = h.of(TransferUpdated)
    assert (update.stage, update.status, update.reason) == (
        TransferStage.FAILED, 0, "subscription terminated",
    )  # fmt: skip
    assert update.stage.final and call.state is CallState.CONFIRMED


def test_only_a_final_stage_is_final() -> None:
    assert {stage for stage in TransferStage if stage.final} == {
        TransferStage.REJECTED, TransferStage.SUCCEEDED, TransferStage.FAILED,
    }  # fmt: skip


def test_no_transfer_of_a_call_that_is_not_confirmed_yet() -> None:
    """Answered but not ACKed: the dialog is not confirmed (RFC 3515 §2.4.1 sends REFER in one)."""
    h = Harness()
    h.feed(invite())
    call = h.offered()
    h.act(h.ua.answer, call, 30000)
    h.take()
    with pytest.raises(InvalidState, match="ANSWERED"):
        h.act(h.ua.refer, call, TARGET)
    assert h.sent == []


# ------------------------------------------------------------------ attended transfer


def consultation(h: Harness, supported: str = "replaces, outbound") -> CallInfo:
    """A call we placed to the person (the consultation), answered from their phone."""
    from sipgw.sip.addressing import Flow
    from sipgw.sip.message import parse_message
    from sipgw.sip.useragent import OutboundCall

    person = Flow("UDP", ("192.0.2.40", 5070))
    call = h.act(h.ua.call, OutboundCall("sip:human@192.0.2.40:5070", 30002))
    assert isinstance(call, CallInfo)
    (sent,) = [parse_message(d) for _, d, f in h.sent if f == person]
    h.take()
    assert isinstance(sent, SipRequest) and sent.method == "INVITE"
    ok = make_response(sent, 200, to_tag="human-tag")
    ok.headers.add("Contact", "<sip:human@192.0.2.40:5070;transport=udp>")
    ok.headers.add("Supported", supported)
    ok.headers.add("Allow", "INVITE, ACK, BYE, REFER")
    ok.headers.add("Content-Type", "application/sdp")
    ok.body = SDP_ANSWER
    h.feed(ok.serialize(), person)
    h.take()
    return call


SDP_ANSWER = (
    b"v=0\r\no=human 1 1 IN IP4 192.0.2.40\r\ns=-\r\nc=IN IP4 192.0.2.40\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def test_an_attended_transfer_refers_to_the_person_with_replaces() -> None:
    """RFC 5589 §7.1: Refer-To is the person's Contact with the consultation dialog in a
    Replaces header; RFC 3891 §3: to-tag is the person's tag, from-tag ours."""
    h = Harness()
    call, ok = confirmed_call(h, extra="Allow: INVITE, ACK, BYE, REFER, NOTIFY")
    consult = consultation(h)
    assert h.ua.peer_allows(call, "REFER") and h.ua.peer_allows(call, "refer")
    assert h.ua.peer_supports(consult, "replaces") and not h.ua.peer_supports(call, "replaces")
    h.act(h.ua.refer_replacing, call, consult)
    (refer,) = h.requests()
    assert refer.method == "REFER" and refer.to.tag == "caller-tag"
    our_tag = consult.key[1]
    replaces = f"{consult.call_id};to-tag=human-tag;from-tag={our_tag}".replace("@", "%40")
    replaces = replaces.replace(";", "%3B").replace("=", "%3D")
    assert refer.headers.get("Refer-To") == (
        f"<sip:human@192.0.2.40:5070;transport=udp?Replaces={replaces}>"
    )
    h.feed(make_response(refer, 202).serialize())
    h.feed(notify(ok, 2, "SIP/2.0 200 OK", state="terminated;reason=noresource"))
    assert transfers(h) == [("accepted", 202), ("succeeded", 200)]


def test_a_call_not_yet_answered_cannot_be_replaced() -> None:
    from sipgw.sip.useragent import OutboundCall

    h = Harness()
    call, _ = confirmed_call(h)
    ringing = h.act(h.ua.call, OutboundCall("sip:human@192.0.2.40:5070", 30002))
    assert isinstance(ringing, CallInfo)
    with pytest.raises(InvalidState, match="cannot replace a call in state CALLING"):
        h.act(h.ua.refer_replacing, call, ringing)
    assert not h.ua.peer_supports(ringing, "replaces")


def test_a_peer_that_lists_nothing_supports_nothing() -> None:
    h = Harness()
    call, _ = confirmed_call(h)
    assert not h.ua.peer_allows(call, "REFER") and not h.ua.peer_supports(call, "replaces")


def test_the_refer_carries_x_headers_and_user_to_user_in_its_refer_to() -> None:
    """RFC 7433 §4.2: UUI in the Refer-To URI, for the transferee's INVITE to the target."""
    h = Harness()
    call, _ = confirmed_call(h)
    h.act(
        lambda c, t, now: h.ua.refer(
            c, t, now, headers=(("X-Ticket-Id", "T-42"),), user_to_user="4869;encoding=hex"
        ),
        call,
        TARGET,
    )
    (refer,) = h.requests()
    assert refer.headers.get("X-Ticket-Id") == "T-42"
    assert refer.headers.get("Refer-To") == (
        "<sip:support@pbx.example.com?User-to-User=4869%3Bencoding%3Dhex>"
    )
    assert refer.headers.get("User-to-User") == "4869;encoding=hex"  # for a PBX that reads it


def test_a_refer_header_with_a_line_break_is_refused_and_nothing_is_sent() -> None:
    h = Harness()
    call, _ = confirmed_call(h)
    with pytest.raises(LocalProtocolError, match="one line of printable text"):
        h.ua.refer(call, TARGET, h.now, headers=(("X-Ticket-Id", "1\r\nBYE x"),))
    assert h.requests() == []


def test_user_to_user_goes_on_the_refer_only_with_a_tel_refer_to() -> None:
    h = Harness()
    call, _ = confirmed_call(h)
    h.act(
        lambda c, t, now: h.ua.refer(c, t, now, user_to_user="00;encoding=hex"),
        call,
        "tel:+15550100",
    )
    (refer,) = h.requests()
    assert refer.headers.get("Refer-To") == "<tel:+15550100>"
    assert refer.headers.get("User-to-User") == "00;encoding=hex"
