"""The user agent core (sipgw.sip.useragent): the checks and routing before any usage, on a
fake clock.

What the dispatcher owns: requests outside a dialog (OPTIONS, unknown methods,
the §8.2 checks), in-dialog routing and its 481s, INFO keypad digits, draining
and overload answers, shutdown, robustness against any bytes, the application's
read-only call view, and the one timer heap. Each dialog usage has its own
file in ``tests/sipgw/sip/usages/``.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallState
from sipgw.sip.errors import InvalidState, MessageParseError
from sipgw.sip.events import CallOffered, DtmfReceived
from sipgw.sip.message import SipRequest, SipResponse, parse_message
from tests.sipgw.sip.builders import CALLER, ack_for, invite, request
from tests.sipgw.sip.ua_harness import Harness, answered_call, confirmed_call

# --------------------------------------------------------------------------- in-dialog routing


def test_bye_destination_follows_route_and_nat_fix() -> None:
    h = Harness()
    call, ok = answered_call(
        h, extra="Contact: <sip:caller@10.1.2.3:5062>"
    )  # a second, private Contact is ignored; first one wins
    h.feed(ack_for(ok))
    h.act(h.ua.hangup, call)
    (_, _, flow) = h.sent[0]
    assert flow.address == CALLER  # first Contact is the caller's public one


def test_nat_fix_sends_bye_to_source_for_private_contact() -> None:
    h = Harness()
    data = invite(contact=False, extra="Contact: <sip:caller@10.1.2.3:5062>")
    h.feed(data, Flow("UDP", ("203.0.113.50", 41000)))
    call = h.offered()
    h.act(h.ua.answer, call, 30000)
    ok = [r for r in h.responses() if r.status == 200][0]
    assert ok.top_via.received == "203.0.113.50"
    h.feed(ack_for(ok), Flow("UDP", ("203.0.113.50", 41000)))
    h.act(h.ua.hangup, call)
    (_, data_out, flow) = h.sent[0]
    assert data_out.startswith(b"BYE sip:caller@10.1.2.3:5062")
    assert flow.address == ("203.0.113.50", 41000)


# ---------------------------------------------------------------- OPTIONS, unknown methods


def test_options_lists_capabilities() -> None:
    h = Harness()
    h.feed(request("OPTIONS", content_type=None))
    (ok,) = h.responses()
    assert ok.status == 200 and ok.to.tag
    assert set(ok.headers.get_all("Allow")) >= {
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "UPDATE", "INFO",
    }  # fmt: skip
    assert "application/sdp" in (ok.headers.get("Accept") or "")
    assert ok.headers.get("Supported") is not None


@pytest.mark.parametrize(
    ("method", "status"),
    [("FOO", 501), ("REGISTER", 405), ("SUBSCRIBE", 405), ("MESSAGE", 405), ("PUBLISH", 405)],
)
def test_unsupported_methods_list_allow(method: str, status: int) -> None:
    h = Harness()
    h.feed(request(method, content_type=None))
    (response,) = h.responses()
    assert response.status == status
    assert "INVITE" in response.headers.get_all("Allow")


@pytest.mark.parametrize("method", ["BYE", "UPDATE", "INFO"])
def test_dialog_requests_outside_a_dialog_are_481(method: str) -> None:
    h = Harness()
    h.feed(request(method, content_type=None))
    assert h.statuses() == [481]


def test_unknown_dialog_is_481() -> None:
    h = Harness()
    h.feed(request("BYE", to_tag="nobody", content_type=None))
    assert h.statuses() == [481]


def test_draining_answers_503() -> None:
    h = Harness()
    h.ua.draining = True
    h.feed(request("OPTIONS", content_type=None))
    h.feed(invite())
    assert [s for s in h.statuses() if s != 100] == [503, 503]


@pytest.mark.parametrize("overloaded", [False, True])
def test_the_drains_retry_after_wins_over_the_overloads(overloaded: bool) -> None:
    """Draining and overloaded: the 503 says when the drain may be over (30 s), not the
    overload's short Retry-After (a caller retrying in 7 s meets the same drain)."""
    h = Harness()
    h.ua.draining = True
    h.ua.overload_retry_after = 7 if overloaded else None
    h.feed(request("OPTIONS", content_type=None))
    h.feed(invite())
    refused = [r for r in h.responses() if r.status != 100]
    assert [r.status for r in refused] == [503, 503]
    assert all(r.headers.get_all("Retry-After") == ["30"] for r in refused)


@pytest.mark.parametrize("overloaded", [False, True])
def test_draining_spares_a_running_calls_keep_alive(overloaded: bool) -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.feed(ack_for(ok))
    h.ua.draining = True
    h.ua.overload_retry_after = 7 if overloaded else None
    h.feed(request("OPTIONS", content_type=None, call_id="probe"))
    assert h.statuses() == [503]  # the dispatcher's probe: out of rotation
    h.feed(request("OPTIONS", cseq=2, to_tag=ok.to.tag, content_type=None))
    assert h.statuses() == [200]  # the call's keep-alive: the call goes on


def test_overload_answers_503_with_its_retry_after_and_spares_running_calls() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.feed(ack_for(ok))
    h.ua.overload_retry_after = 7
    h.feed(request("OPTIONS", content_type=None, call_id="probe"))
    h.feed(invite(call_id="second"))
    refused = [r for r in h.responses() if r.status != 100]
    assert [r.status for r in refused] == [503, 503]
    assert all(r.headers.get_all("Retry-After") == ["7"] for r in refused)
    assert [e.call for e in h.events if isinstance(e, CallOffered)] == [call]
    assert h.ua.overload_refused == 1
    # the running call's in-dialog keep-alive and its BYE are answered as usual
    h.feed(request("OPTIONS", cseq=2, to_tag=ok.to.tag, content_type=None))
    h.feed(request("BYE", cseq=3, to_tag=ok.to.tag))
    assert h.statuses() == [200, 200]
    h.ua.overload_retry_after = None
    h.feed(request("OPTIONS", content_type=None, call_id="probe2"))
    assert h.statuses() == [200]


# ------------------------------------------------- checks before any usage (RFC 3261 §8.2)


def test_unsupported_require_is_420() -> None:
    h = Harness()
    h.feed(invite(extra="Require: 100rel, foo, timer"))
    (response,) = h.responses()
    assert response.status == 420
    assert response.headers.get_all("Unsupported") == ["foo"]  # not the two we take


def test_unknown_uri_scheme_is_416() -> None:
    h = Harness()
    h.feed(invite(uri="tel:+15550001111"))
    assert h.statuses() == [416]


def test_invite_without_contact_is_accepted_rfc2543_style() -> None:
    """RFC 2543 made Contact optional; RFC 4475 §3.4.1 asks to accept such INVITEs."""
    h = Harness()
    h.feed(invite(contact=False))
    call = h.offered()
    h.act(h.ua.answer, call, 30000)
    ok = [r for r in h.responses() if r.status == 200][0]
    h.feed(ack_for(ok))
    h.act(h.ua.hangup, call)
    (bye,) = h.take()
    assert isinstance(bye, SipRequest) and bye.uri == "sip:+15551234567@192.0.2.10"  # the From


def test_malformed_datagrams_are_answered_or_dropped() -> None:
    h = Harness()
    h.feed(b"\x00\xffgarbage\r\n\r\n")
    h.feed(b"SIP/2.0 200 OK\r\n\r\n")  # a response we cannot route
    assert h.sent == []
    bad_length = invite().replace(b"Content-Length: ", b"Content-Length: 9999")
    h.feed(bad_length)
    (response,) = h.responses()
    assert response.status == 400


def test_a_malformed_request_is_answered_where_it_came_from() -> None:
    # RFC 3261 §18.2.1: its Via gets the received of any request, so the 400 goes to the
    # source, not to the Via's host (a name, or an address that is not the sender's)
    h = Harness()
    source = Flow("UDP", ("198.51.100.9", 5062))
    h.feed(request("OPTIONS", cseq_method="INVITE", rport=False), source)
    ((_, data, flow),) = h.sent
    assert data.startswith(b"SIP/2.0 400 ") and b";received=198.51.100.9" in data
    assert flow == source  # the Via's port, the packet's address


def test_a_request_that_reuses_another_ones_branch_is_answered_not_absorbed() -> None:
    # RFC 4475's escnull and regescrt share branch and sent-by: the second is no retransmission
    h = Harness()
    h.feed(request("REGISTER", via_branch="z9hG4bKsame", call_id="one"))
    h.feed(request("REGISTER", via_branch="z9hG4bKsame", call_id="two"))
    assert [(r.status, r.call_id) for r in h.responses()] == [(405, "one"), (405, "two")]
    h.feed(request("REGISTER", via_branch="z9hG4bKsame", call_id="two"))  # this one is
    assert [(r.status, r.call_id) for r in h.responses()] == [(405, "two")]
    assert len(h.ua._ctx.transactions.server) == 2


def test_a_request_again_on_another_connection_is_answered_there() -> None:
    h = Harness()
    data = request("REGISTER", via_branch="z9hG4bKagain")
    h.feed(data)  # over UDP: its transaction absorbs retransmissions for 32 s (Timer J)
    h.take()
    tcp = Flow("TCP", CALLER, connection_id=3)
    h.feed(data, tcp)  # the same request over TCP: not left waiting on its connection
    ((_, out, flow),) = h.sent
    assert out.startswith(b"SIP/2.0 405 ") and flow == tcp
    h.take()
    other = request("REGISTER", via_branch="z9hG4bKtcp-first")
    h.feed(other, tcp)
    h.take()
    h.feed(other, Flow("UDP", ("198.51.100.9", 5062)))  # a copy over UDP: forgeable, not sent
    assert h.sent == []


def test_a_request_the_core_cannot_read_closes_its_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness()

    def unreadable(*args: object) -> bool:
        raise MessageParseError("a header field needed to decide")

    monkeypatch.setattr(h.ua.strangers, "answer", unreadable)
    h.feed(request("OPTIONS"))  # over UDP: dropped
    h.feed(request("OPTIONS"), Flow("TCP", CALLER, connection_id=4))
    assert h.sent == []
    assert h.ua.connections_to_close() == [(4, "a request that cannot be answered")]


# --------------------------------------------------------------------------- in-dialog requests


def test_out_of_order_cseq_is_500() -> None:
    h = Harness()
    call, ok = answered_call(h, cseq=5)
    h.feed(ack_for(ok, cseq=5))
    h.feed(request("UPDATE", cseq=4, to_tag=ok.to.tag, content_type=None))
    (response,) = h.responses()
    assert response.status == 500 and response.headers.get("Retry-After") is not None


def test_info_dtmf() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.feed(ack_for(ok))
    h.feed(
        request(
            "INFO", cseq=2, to_tag=ok.to.tag, body="Signal=5\r\nDuration=160\r\n",
            content_type="application/dtmf-relay",
        )
    )  # fmt: skip
    assert h.statuses() == [200]
    (dtmf,) = [e for e in h.events if isinstance(e, DtmfReceived)]
    assert dtmf.digit == "5" and dtmf.duration_ms == 160


# --------------------------------------------------------------------------- shutdown


def test_shutdown_rejects_ringing_and_byes_answered() -> None:
    h = Harness()
    h.feed(invite(call_id="ringing"))
    h.act(h.ua.ring, h.offered())
    call, ok = answered_call(h, call_id="talking")
    h.feed(ack_for(ok))
    h.take()
    h.act(h.ua.shutdown)
    sent = h.take()
    assert sorted(m.status for m in sent if isinstance(m, SipResponse)) == [503]
    assert [m.method for m in sent if isinstance(m, SipRequest)] == ["BYE"]
    assert h.ua.busy
    h.advance(40.0)  # the BYE times out (no answer): the dialog is released anyway
    assert not h.ua.busy
    assert len(h.ended()) == 2


# --------------------------------------------------------------------------- robustness


VALID = [
    invite(),
    request("OPTIONS", content_type=None),
    request("BYE", to_tag="x", content_type=None),
    request("CANCEL", content_type=None),
    request("ACK", to_tag="x", content_type=None),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(VALID),
    edits=st.lists(
        st.tuples(st.integers(0, 2000), st.integers(0, 8), st.binary(max_size=8)), max_size=4
    ),
)
def test_mutated_messages_never_raise(base: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    data = bytearray(base)
    for position, length, replacement in edits:
        position %= max(1, len(data))
        data[position : position + length] = replacement
    h = Harness()
    h.feed(bytes(data))
    h.advance(100.0)
    for _, out, _ in h.sent:
        try:
            parse_message(out)  # whatever we send must itself be well-formed ...
        except MessageParseError:
            # ... except an error answer to a request missing From/To/Call-ID/CSeq,
            # which can only copy what was there (RFC 4475 §3.3.1).
            assert re.match(rb"SIP/2\.0 [45]\d\d [^\r\n]*\r\n", out), out


# --------------------------------------------------------------------------- the call view


def test_the_application_sees_one_read_only_view_per_call() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.feed(ack_for(ok))
    h.feed(request("INFO", cseq=2, to_tag=ok.to.tag, body="5", content_type="application/dtmf"))
    h.feed(request("BYE", cseq=3, to_tag=ok.to.tag))
    assert all(e.call is call for e in h.events)  # type: ignore[attr-defined]
    assert call.key == (ok.call_id, ok.to.tag) and call.call_id == ok.call_id
    assert str(call.caller.uri) == "sip:+15551234567@192.0.2.10"
    assert str(call.called.uri) == "sip:agent@192.0.2.1"
    assert call.state is CallState.ENDED and not call.established
    assert call.media is not None and call.media.codec == "PCMU"
    with pytest.raises(AttributeError):
        call.state = CallState.CONFIRMED  # type: ignore[misc]
    with pytest.raises(AttributeError):
        call.context = object()  # type: ignore[attr-defined]


def test_actions_on_an_ended_call() -> None:
    h = Harness()
    call, ok = confirmed_call(h)
    h.feed(request("BYE", cseq=2, to_tag=ok.to.tag))
    h.take()
    h.act(h.ua.ring, call)  # no-ops ...
    h.act(h.ua.hangup, call)
    h.act(h.ua.reject, call, 486)
    assert h.sent == []
    with pytest.raises(InvalidState):  # ... or refused
        h.act(h.ua.answer, call, 30000)
    with pytest.raises(InvalidState):
        h.act(h.ua.refer, call, "sip:x@y")
    assert len(h.ended()) == 1


def test_call_and_transaction_deadlines_share_one_heap() -> None:
    h = Harness()
    h.feed(invite())
    assert h.ua.get_timer() is None  # an INVITE transaction in Proceeding has no timer
    h.act(h.ua.answer, h.offered(), 30000)
    assert h.ua.get_timer() == 0.5  # our 2xx retransmission (T1)
    h.feed(request("OPTIONS", content_type=None))
    h.advance(0.5)
    h.take()
    assert h.ua.get_timer() == 1.5  # the next 2xx at 2·T1, before Timer J (32 s) and L


def test_an_ended_call_leaves_no_reference_cycle() -> None:
    """Calls are freed by reference counting (tests/refcycles.py), whatever ended them."""
    from tests.refcycles import cycles_left_by_our_code

    h = Harness(max_calls=None)
    timer = "Session-Expires: 120;refresher=uas\r\nSupported: timer\r\nAllow: UPDATE"
    ended = 0
    with cycles_left_by_our_code() as leftovers:
        call, ok = confirmed_call(h)  # remote BYE
        h.feed(request("BYE", cseq=2, to_tag=ok.to.tag))
        ended += len(h.ended())
        h.events.clear()
        h.take()
        call, ok = answered_call(h, call_id="ours", extra=timer)  # our BYE, after a REFER
        h.feed(ack_for(ok))
        h.act(h.ua.refer, call, "sip:x@y")
        h.act(h.ua.hangup, call)
        ended += len(h.ended())
        h.events.clear()
        h.take()
        h.feed(invite(call_id="cancelled", via_branch="z9hG4bKcyc"))
        h.feed(request("CANCEL", call_id="cancelled", via_branch="z9hG4bKcyc"))
        ended += len(h.ended())
        h.events.clear()
        h.take()
        answered_call(h, call_id="no-ack")  # given up after 64·T1
        h.advance(h.now + 100.0)
        ended += len(h.ended())
        assert not h.ua.busy and ended == 4
        h.events.clear()
        h.sent.clear()
        del call, ok
    assert leftovers == []
