"""The UAS core against a scripted caller, on a fake clock (bytes in, events out)."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipgw.access import AccessPolicy
from sipgw.addressing import Flow
from sipgw.call import CallInfo, CallState
from sipgw.errors import InvalidState, LocalProtocolError, MessageParseError
from sipgw.events import (
    CallConfirmed,
    CallEnded,
    CallOffered,
    DtmfReceived,
    EndReason,
    MediaUpdated,
    TransferUpdated,
)
from sipgw.message import SipRequest, SipResponse, make_response, parse_message
from sipgw.sdp import SessionDescription
from sipgw.useragent import UserAgent, UserAgentConfig
from tests.sipgw.builders import CALLER, SDP_OFFER, ack_for, invite, request

FROM_CALLER = Flow("UDP", CALLER)


class Harness:
    """Feeds a UserAgent and collects what it sends and reports."""

    def __init__(self, access: AccessPolicy | None = None, **config: object) -> None:
        defaults: dict[str, object] = {"public_host": "192.0.2.1", "sip_port": 5060}
        defaults.update(config)
        self.ua = UserAgent(
            UserAgentConfig(**defaults),  # type: ignore[arg-type]
            rng=random.Random(7),
            access=access,
        )
        self.now = 0.0
        self.sent: list[tuple[float, bytes, Flow]] = []
        self.events: list[object] = []

    def feed(self, data: bytes, flow: Flow = FROM_CALLER) -> None:
        self.ua.receive_datagram(data, flow, self.now)
        self._collect()

    def act(self, fn: object, *args: object) -> object:
        result = fn(*args, self.now)  # type: ignore[operator]
        self._collect()
        return result

    def advance(self, until: float) -> None:
        while (deadline := self.ua.get_timer()) is not None and deadline <= until:
            self.now = deadline
            self.ua.handle_timer(deadline)
            self._collect()
        self.now = until

    def _collect(self) -> None:
        self.sent.extend((self.now, data, flow) for data, flow in self.ua.datagrams_to_send())
        while (event := self.ua.next_event()) is not None:
            self.events.append(event)

    def take(self) -> list[SipResponse | SipRequest]:
        out = [parse_message(data) for _, data, _ in self.sent]
        self.sent.clear()
        return out

    def responses(self) -> list[SipResponse]:
        return [m for m in self.take() if isinstance(m, SipResponse)]

    def statuses(self) -> list[int]:
        return [r.status for r in self.responses()]

    def offered(self) -> CallInfo:
        return next(e.call for e in self.events if isinstance(e, CallOffered))

    def ended(self) -> list[CallEnded]:
        return [e for e in self.events if isinstance(e, CallEnded)]


def answered_call(h: Harness, **invite_kwargs: object) -> tuple[CallInfo, SipResponse]:
    h.feed(invite(**invite_kwargs))
    call = h.offered()
    h.act(h.ua.ring, call)
    h.act(h.ua.answer, call, 30000)
    ok = [r for r in h.responses() if r.status == 200][0]
    return call, ok


# --------------------------------------------------------------------------- basic call


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


def test_hangup_before_ack_waits_for_ack() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.act(h.ua.hangup, call)
    assert not any(d.startswith(b"BYE") for _, d, _ in h.sent)  # §15
    assert [e.reason for e in h.ended()] == [EndReason.LOCAL_BYE]
    h.sent.clear()
    h.feed(ack_for(ok))
    assert [m.method for m in h.take() if isinstance(m, SipRequest)] == ["BYE"]


def test_hangup_while_ringing_rejects() -> None:
    h = Harness()
    h.feed(invite())
    call = h.offered()
    h.act(h.ua.ring, call)
    h.take()
    h.act(h.ua.hangup, call)
    assert h.statuses() == [480]
    assert h.ended()[0].reason is EndReason.REJECTED


# --------------------------------------------------------------------------- CANCEL


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


def test_max_calls() -> None:
    h = Harness(max_calls=1)
    h.feed(invite(call_id="a"))
    h.feed(invite(call_id="b"))
    assert h.statuses() == [100, 503]


# --------------------------------------------------------------------------- INVITE validation


def test_no_common_codec_is_488() -> None:
    h = Harness()
    h.feed(invite(body=SDP_OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 18 101")))
    (response,) = h.responses()
    assert response.status == 488 and response.headers.get("Warning")
    assert h.events == []


def test_unsupported_require_is_420() -> None:
    h = Harness()
    h.feed(invite(extra="Require: 100rel, foo"))
    (response,) = h.responses()
    assert response.status == 420
    assert response.headers.get_all("Unsupported") == ["100rel", "foo"]


def test_unsupported_body_is_415() -> None:
    h = Harness()
    h.feed(invite(body="hello", content_type="text/plain"))
    (response,) = h.responses()
    assert response.status == 415 and "application/sdp" in (response.headers.get("Accept") or "")


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


def test_malformed_datagrams_are_answered_or_dropped() -> None:
    h = Harness()
    h.feed(b"\x00\xffgarbage\r\n\r\n")
    h.feed(b"SIP/2.0 200 OK\r\n\r\n")  # a response we cannot route
    assert h.sent == []
    bad_length = invite().replace(b"Content-Length: ", b"Content-Length: 9999")
    h.feed(bad_length)
    (response,) = h.responses()
    assert response.status == 400


def test_merged_and_pending_invites() -> None:
    h = Harness()
    h.feed(invite(call_id="m", via_branch="z9hG4bKm1"))
    h.take()
    h.feed(invite(call_id="m", via_branch="z9hG4bKm2"))  # same CSeq, other branch
    assert h.statuses() == [482]  # §8.2.2.2 merged request
    h.feed(invite(call_id="m", cseq=2, via_branch="z9hG4bKm3"))
    assert h.statuses() == [491]  # §14.2: the first INVITE is still pending


# --------------------------------------------------------------------------- re-INVITE / UPDATE


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


# --------------------------------------------------------------------------- delayed offer


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


# ---------------------------------------------------------------- session timers (RFC 4028)


def test_session_timer_too_small() -> None:
    h = Harness()
    h.feed(invite(extra="Session-Expires: 30\r\nSupported: timer"))
    (response,) = h.responses()
    assert response.status == 422 and response.headers.get("Min-SE") == "90"


def test_session_timer_expiry_and_refresh() -> None:
    h = Harness()
    call, ok = answered_call(h, extra="Session-Expires: 120;refresher=uac\r\nSupported: timer")
    assert ok.headers.get("Session-Expires") == "120;refresher=uac"
    assert "timer" in ok.headers.get_all("Require")
    h.feed(ack_for(ok))
    h.advance(60.0)
    h.feed(request("UPDATE", cseq=2, to_tag=ok.to.tag, content_type=None,
                   extra="Session-Expires: 120;refresher=uac\r\nSupported: timer"))  # fmt: skip
    h.take()
    h.advance(60.0 + 119.0 - 32.0)
    assert h.take() == []  # refreshed at 60 s: nothing yet
    h.advance(60.0 + 120.0)
    byes = {m.top_via.branch for m in h.take() if isinstance(m, SipRequest) and m.method == "BYE"}
    assert len(byes) == 1
    assert h.ended()[0].reason is EndReason.SESSION_EXPIRED


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


# --------------------------------------------------------------------------- REFER (RFC 3515)


def confirmed_call(h: Harness) -> tuple[CallInfo, SipResponse]:
    call, ok = answered_call(h)
    h.feed(ack_for(ok))
    h.take()
    return call, ok


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


def test_refer_accepted_then_notify_progress_and_success() -> None:
    h = Harness()
    call, ok = confirmed_call(h)
    h.act(h.ua.refer, call, "sip:support@pbx.example.com")
    (refer,) = h.take()
    assert isinstance(refer, SipRequest) and refer.method == "REFER"  # narrows the type
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
    call, ok = confirmed_call(h)
    h.act(h.ua.refer, call, "sip:support@pbx.example.com")
    (refer,) = h.take()
    assert isinstance(refer, SipRequest)
    h.feed(make_response(refer, 603).serialize())
    h.act(h.ua.refer, call, "sip:support@pbx.example.com")
    h.advance(h.now + 40.0)
    assert transfers(h) == [("rejected", 603), ("rejected", 408)]
    assert call.state is CallState.CONFIRMED


def test_transfer_target_fails_after_acceptance() -> None:
    h = Harness()
    call, ok = confirmed_call(h)
    h.act(h.ua.refer, call, "sip:support@pbx.example.com")
    (refer,) = h.take()
    assert isinstance(refer, SipRequest)
    h.feed(make_response(refer, 202).serialize())
    h.feed(notify(ok, 2, "SIP/2.0 486 Busy Here", state="terminated"))
    assert transfers(h)[-1] == ("failed", 486)


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


def test_reinvite_refresh_resets_the_session_timer() -> None:
    """A peer that refreshes with re-INVITE must not be cut off at the first deadline."""
    h = Harness()
    timer = "Session-Expires: 120;refresher=uac\r\nSupported: timer"
    call, ok = answered_call(h, extra=timer)
    h.feed(ack_for(ok))
    h.advance(60.0)
    h.feed(invite(cseq=2, to_tag=ok.to.tag, extra=timer))
    refresh_ok = [r for r in h.responses() if r.status == 200][0]
    h.feed(ack_for(refresh_ok, cseq=2))
    h.advance(60.0 + 119.0 - 32.0)
    assert not [m for m in h.take() if isinstance(m, SipRequest)]
    assert call.state is CallState.CONFIRMED


def test_refresher_uas_makes_us_refresh_with_update() -> None:
    h = Harness()
    extra = (
        "Session-Expires: 120;refresher=uas\r\nSupported: timer\r\nAllow: INVITE, ACK, BYE, UPDATE"
    )
    call, ok = answered_call(h, extra=extra)
    assert ok.headers.get("Session-Expires") == "120;refresher=uas"  # RFC 4028 §9 Table 2
    assert "timer" not in ok.headers.get_all("Require")
    h.feed(ack_for(ok))
    h.advance(59.0)
    assert not [m for m in h.take() if isinstance(m, SipRequest)]
    h.advance(61.0)  # half the interval: our UPDATE
    (update,) = {m.top_via.branch: m for m in h.take() if isinstance(m, SipRequest)}.values()
    assert update.method == "UPDATE" and not update.body
    assert update.headers.get("Session-Expires") == "120;refresher=uac"
    h.feed(make_response(update, 200).serialize())
    h.advance(61.0 + 59.0)
    assert not [m for m in h.take() if isinstance(m, SipRequest)]
    h.advance(61.0 + 61.0)  # and again
    refreshes = [m for m in h.take() if isinstance(m, SipRequest)]
    assert refreshes and refreshes[0].method == "UPDATE"
    # A 481 to a refresh: the dialog is gone (§10) - BYE and end.
    h.feed(make_response(refreshes[0], 481).serialize())
    assert [m.method for m in h.take() if isinstance(m, SipRequest)] == ["BYE"]
    assert h.ended()[-1].reason is EndReason.SESSION_EXPIRED


def test_refresher_uas_without_update_support_means_no_timer() -> None:
    h = Harness()
    extra = "Session-Expires: 120;refresher=uas\r\nSupported: timer\r\nAllow: INVITE, ACK, BYE"
    call, ok = answered_call(h, extra=extra)
    assert ok.headers.get("Session-Expires") is None
    h.feed(ack_for(ok))
    h.advance(600.0)
    assert not [m for m in h.take() if isinstance(m, SipRequest)]
    assert call.state is CallState.CONFIRMED


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
