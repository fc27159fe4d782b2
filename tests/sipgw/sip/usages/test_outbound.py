"""Outbound calls (sipgw.sip.usages.outbound) against a scripted peer, on a fake clock.

The user agent places a call; the test plays the far end (or a proxy in
front of several forks) by answering the INVITE it sent with hand-made
responses, and checks what goes out and which events come back.
"""

from __future__ import annotations

import random

import pytest

from sipgw.sip.access import AccessPolicy, AllowList
from sipgw.sip.addressing import Flow
from sipgw.sip.auth import Credentials, DigestServer, Verdict
from sipgw.sip.body import sdp_body
from sipgw.sip.call import CallInfo, CallState, Direction
from sipgw.sip.errors import InvalidState, LocalProtocolError
from sipgw.sip.events import (
    CallAnswered,
    CallEnded,
    CallProgress,
    DtmfReceived,
    EndReason,
    MediaUpdated,
    SipEvent,
)
from sipgw.sip.identity import IdentityHeader
from sipgw.sip.message import Headers, SipRequest, SipResponse, make_response, parse_message
from sipgw.sip.offeranswer import LocalMedia, RtpCodec, answer_offer, create_offer
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.siprec import RecordingOffer
from sipgw.sip.useragent import OutboundCall, UserAgent, UserAgentConfig

PEER = ("192.0.2.20", 5060)
PROXY = ("192.0.2.30", 5060)
TO_PEER = Flow("UDP", PEER)


class Far:
    """The user agent placing one call, and the far end scripted by the test."""

    def __init__(self, **spec: object) -> None:
        self.now = 0.0
        self.ua = UserAgent(
            UserAgentConfig(public_host="192.0.2.1", sip_port=5060), rng=random.Random(7)
        )
        self.events: list[SipEvent] = []
        self.sent: list[tuple[SipRequest | SipResponse, Flow]] = []
        defaults: dict[str, object] = {
            "target": "sip:bob@192.0.2.20",
            "rtp_port": 30000,
            "from_uri": "sip:agent@example.com",
            "display_name": "Agent",
        }
        defaults.update(spec)
        self.call: CallInfo = self.ua.call(OutboundCall(**defaults), self.now)  # type: ignore[arg-type]
        self._collect()

    def _collect(self) -> None:
        for data, flow in self.ua.datagrams_to_send():
            message = parse_message(data)
            self.sent.append((message, flow))
        while (event := self.ua.next_event()) is not None:
            self.events.append(event)

    def feed(self, response: SipResponse, flow: Flow = TO_PEER) -> None:
        self.ua.receive_datagram(response.serialize(), flow, self.now)
        self._collect()

    def feed_request(self, request: SipRequest) -> None:
        self.ua.receive_datagram(request.serialize(), TO_PEER, self.now)
        self._collect()

    def advance(self, until: float) -> None:
        while (deadline := self.ua.get_timer()) is not None and deadline <= until:
            self.now = deadline
            self.ua.handle_timer(self.now)
            self._collect()
        self.now = until

    def hangup(self) -> None:
        self.ua.hangup(self.call, self.now)
        self._collect()

    def requests(self, method: str) -> list[SipRequest]:
        """Every ``method`` request sent, retransmissions included."""
        return [m for m, _ in self.sent if isinstance(m, SipRequest) and m.method == method]

    def transactions(self, method: str) -> list[SipRequest]:
        """The first of each ``method`` request sent (no retransmissions)."""
        seen: dict[str | None, SipRequest] = {}
        for request in self.requests(method):
            seen.setdefault(request.top_via.branch, request)
        return list(seen.values())

    def flows(self, method: str) -> list[Flow]:
        return [f for m, f in self.sent if isinstance(m, SipRequest) and m.method == method]

    @property
    def invite(self) -> SipRequest:
        return self.requests("INVITE")[-1]

    def of(self, kind: type[SipEvent]) -> list[SipEvent]:
        return [e for e in self.events if isinstance(e, kind)]

    def ended(self) -> CallEnded:
        ends = self.of(CallEnded)
        assert len(ends) == 1, ends  # exactly one CallEnded per placed call
        assert isinstance(ends[0], CallEnded)
        return ends[0]


def sdp_answer(invite: SipRequest, port: int = 40000) -> bytes:
    local = LocalMedia(address=PEER[0], port=port, session_id="9", session_version=1)
    answer, _ = answer_offer(SessionDescription.parse(invite.body), local)
    return answer.serialize()


def reply(
    invite: SipRequest,
    status: int,
    *,
    tag: str | None = "bob-tag",
    sdp: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
    contact: str = f"<sip:bob@{PEER[0]}:{PEER[1]}>",
) -> SipResponse:
    response = make_response(invite, status, to_tag=tag)
    if status > 100 and contact:
        response.headers.add("Contact", contact)
    for name, value in headers:
        response.headers.add(name, value)
    if sdp:
        response.headers.add("Content-Type", "application/sdp")
        response.body = sdp
    return response


def answered(far: Far, tag: str = "bob-tag", extra: tuple[tuple[str, str], ...] = ()) -> None:
    far.feed(reply(far.invite, 180, tag=tag))
    far.feed(reply(far.invite, 200, tag=tag, sdp=sdp_answer(far.invite), headers=extra))


def in_dialog(far: Far, method: str, cseq: int, body: bytes = b"", ctype: str = "") -> SipRequest:
    """A request from the far end in the confirmed dialog."""
    ours = far.invite
    headers = Headers()
    headers.add("Via", f"SIP/2.0/UDP {PEER[0]}:{PEER[1]};branch=z9hG4bKfar{method}{cseq}")
    headers.add("Max-Forwards", "70")
    headers.add("From", f"{ours.headers.get('To')};tag=bob-tag")
    headers.add("To", ours.headers.get("From") or "")
    headers.add("Call-ID", ours.call_id)
    headers.add("CSeq", f"{cseq} {method}")
    headers.add("Contact", f"<sip:bob@{PEER[0]}:{PEER[1]}>")
    if ctype:
        headers.add("Content-Type", ctype)
    return SipRequest(method, "sip:agent@192.0.2.1:5060", headers, body)


# ------------------------------------------------------------------ the INVITE


def test_invite_carries_our_offer_tags_and_contact() -> None:
    far = Far()
    invite = far.invite
    assert invite.uri == "sip:bob@192.0.2.20"
    assert far.flows("INVITE") == [TO_PEER]
    assert invite.from_.tag and invite.from_.display_name == "Agent"
    assert str(invite.from_.uri) == "sip:agent@example.com"
    assert invite.to.tag is None
    assert invite.headers.get("Contact") == "<sip:agent@192.0.2.1:5060>"
    assert "timer" in (invite.headers.get("Supported") or "")
    body = invite.body.decode()
    assert "m=audio 30000 RTP/AVP 0 8 101" in body
    assert "a=rtpmap:101 telephone-event/8000" in body
    assert "c=IN IP4 192.0.2.1" in body
    assert far.call.direction is Direction.OUTBOUND and far.call.outbound
    assert far.call.state is CallState.CALLING
    assert far.call.caller.uri == invite.from_.uri


def test_a_calls_own_codecs_are_its_offer_in_their_order() -> None:
    """Issue 43: a call placed on a line or through an account offers its own codecs
    (G.711 first through a trunk, G.722 first on an HD line), not the gateway's."""
    wide = (RtpCodec("G722", 8000, 9), RtpCodec("PCMU", 8000, 0))
    assert "m=audio 30000 RTP/AVP 9 0 101" in Far(codecs=wide).invite.body.decode()
    trunk = (RtpCodec("PCMU", 8000, 0), RtpCodec("G722", 8000, 9))
    assert "m=audio 30000 RTP/AVP 0 9 101" in Far(codecs=trunk).invite.body.decode()


def test_outbound_proxy_is_the_route_and_first_hop() -> None:
    far = Far(route=("sip:192.0.2.30;lr",))
    invite = far.invite
    assert invite.uri == "sip:bob@192.0.2.20"  # loose routing: the target stays the R-URI
    assert invite.headers.get_all("Route") == ["<sip:192.0.2.30;lr>"]
    assert far.flows("INVITE") == [Flow("UDP", PROXY)]


@pytest.mark.parametrize("target", ["tel:+15551234567", "bob@", "sip:"])
def test_a_target_that_is_no_sip_uri_is_refused(target: str) -> None:
    with pytest.raises(LocalProtocolError):
        Far(target=target)


def test_no_calls_while_draining() -> None:
    ua = UserAgent(UserAgentConfig(public_host="192.0.2.1", sip_port=5060))
    ua.shutdown(0.0)
    with pytest.raises(InvalidState):
        ua.call(OutboundCall("sip:bob@192.0.2.20", 30000), 0.0)


def test_an_outbound_call_cannot_be_answered_or_rung_by_us() -> None:
    far = Far()
    with pytest.raises(InvalidState):
        far.ua.answer(far.call, 30000, 0.0)
    far.ua.ring(far.call, 0.0)
    far.ua.reject(far.call, 486, 0.0)
    far._collect()
    assert far.call.state is CallState.CALLING and not far.of(CallEnded)


# ------------------------------------------------------------------ provisional and answer


def test_ringing_then_early_media_then_answer() -> None:
    far = Far()
    far.feed(reply(far.invite, 100, tag=None))
    assert far.call.state is CallState.CALLING and not far.events  # 100 is not reported
    far.feed(reply(far.invite, 180))
    assert far.call.state is CallState.EARLY
    far.feed(reply(far.invite, 183, sdp=sdp_answer(far.invite, 40002)))
    progress = far.of(CallProgress)
    assert [(e.status, e.early_media) for e in progress] == [(180, False), (183, True)]
    early = progress[1]
    assert isinstance(early, CallProgress) and early.media is not None
    assert early.media.remote_port == 40002
    far.feed(reply(far.invite, 200, sdp=sdp_answer(far.invite, 40004)))
    (answer,) = far.of(CallAnswered)
    assert isinstance(answer, CallAnswered) and answer.media.remote_port == 40004
    assert far.call.state is CallState.CONFIRMED and far.call.established
    assert far.call.media is answer.media


def test_2xx_is_acked_in_its_dialog() -> None:
    far = Far(route=("sip:192.0.2.30;lr",))
    far.feed(
        reply(
            far.invite,
            200,
            sdp=sdp_answer(far.invite),
            headers=(("Record-Route", "<sip:p2.example;lr>"), ("Record-Route", "<sip:p1;lr>")),
        ),
        Flow("UDP", PROXY),
    )
    (ack,) = far.requests("ACK")
    assert ack.uri == f"sip:bob@{PEER[0]}:{PEER[1]}"  # the 2xx's Contact
    assert ack.cseq.number == far.invite.cseq.number and ack.cseq.method == "ACK"
    assert ack.to.tag == "bob-tag" and ack.from_.tag == far.invite.from_.tag
    assert ack.headers.get_all("Route") == ["<sip:p1;lr>", "<sip:p2.example;lr>"]  # reversed
    assert ack.top_via.branch != far.invite.top_via.branch  # a new transaction (§13.2.2.4)
    assert far.flows("ACK") == [Flow("UDP", ("p1", 5060))]


def test_the_answer_carries_the_2xx_s_x_headers() -> None:
    far = Far()
    headers = (("X-Desk", "7"), ("Subject", "not custom"), ("x-queue", "sales"))
    far.feed(reply(far.invite, 200, sdp=sdp_answer(far.invite), headers=headers))
    (answer,) = far.of(CallAnswered)
    assert isinstance(answer, CallAnswered)
    assert answer.custom == (("X-Desk", "7"), ("x-queue", "sales"))


def test_a_refusal_s_reply_carries_its_x_headers() -> None:
    far = Far()
    far.feed(reply(far.invite, 486, headers=(("X-Agent-State", "away"), ("Retry-After", "5"))))
    (ended,) = far.of(CallEnded)
    assert isinstance(ended, CallEnded) and ended.reply is not None
    assert ended.reply.custom == (("X-Agent-State", "away"),)


def test_a_recording_session_invites_as_an_src_and_reads_each_stream_answered() -> None:
    """RFC 7866 §6.1: ``Require: siprec``, ``+sip.src`` in the Contact, a multipart body of
    the two labelled ``sendonly`` streams and the metadata; the SRS's ``recvonly`` answer
    gives each stream's target (one rejected: None)."""
    metadata = b'<?xml version="1.0" encoding="UTF-8"?>\r\n<recording/>\r\n'
    far = Far(target="sip:srs@192.0.2.20", recording=RecordingOffer((30000, 30002), metadata))
    invite = far.invite
    assert invite.headers.get("Require") == "siprec"
    assert (invite.headers.get("Contact") or "").endswith(";+sip.src")
    assert (invite.headers.get("Content-Type") or "").startswith("multipart/mixed;boundary=")
    assert metadata in invite.body and b"Content-Disposition: recording-session" in invite.body
    offer = SessionDescription.parse(sdp_body(invite) or b"")
    assert [(m.port, m.attribute("label"), offer.direction(m)) for m in offer.media] == [
        (30000, "1", "sendonly"), (30002, "2", "sendonly"),
    ]  # fmt: skip
    answer = (
        b"v=0\r\no=SRS 0 0 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
        b"m=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:1\r\na=recvonly\r\n"
        b"m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:2\r\na=recvonly\r\n"
    )
    far.feed(reply(invite, 200, sdp=answer))
    (answered,) = far.of(CallAnswered)
    assert isinstance(answered, CallAnswered)
    first, second = answered.recorded
    assert first is not None and (first.remote_port, first.codec) == (41000, "PCMU")
    assert second is None
    assert far.requests("ACK")


def test_an_ordinary_call_has_no_recorded_streams() -> None:
    far = Far()
    assert far.invite.headers.get("Require") is None
    far.feed(reply(far.invite, 200, sdp=sdp_answer(far.invite)))
    (answered,) = far.of(CallAnswered)
    assert isinstance(answered, CallAnswered) and answered.recorded == ()


def test_retransmitted_2xx_gets_the_same_ack_also_after_the_transaction_ended() -> None:
    far = Far()
    ok = reply(far.invite, 200, sdp=sdp_answer(far.invite))
    far.feed(ok)
    far.feed(ok)  # in Accepted: through the transaction
    far.advance(40.0)  # Timer M (64·T1) ended the transaction
    assert far.call.state is CallState.CONFIRMED
    far.feed(ok)  # a StrayResponse now
    acks = far.requests("ACK")
    assert len(acks) == 3
    assert acks[0].serialize() == acks[1].serialize() == acks[2].serialize()
    assert len(far.of(CallAnswered)) == 1 and not far.of(CallEnded)


def test_forked_2xx_each_extra_fork_gets_ack_then_bye() -> None:
    far = Far()
    far.feed(reply(far.invite, 180, tag="fork-a"))
    far.feed(reply(far.invite, 180, tag="fork-b"))
    far.feed(reply(far.invite, 200, tag="fork-a", sdp=sdp_answer(far.invite)))
    far.feed(reply(far.invite, 200, tag="fork-b", sdp=sdp_answer(far.invite, 40010),
                   contact="<sip:bob@192.0.2.21>"))  # fmt: skip
    far.advance(40.0)
    late = reply(far.invite, 200, tag="fork-c", sdp=sdp_answer(far.invite, 40020),
                 contact="<sip:bob@192.0.2.22>")  # fmt: skip
    far.feed(late)  # a third fork after Timer M: a StrayResponse
    acks = far.requests("ACK")
    assert [a.to.tag for a in acks] == ["fork-a", "fork-b", "fork-c"]
    byes = far.transactions("BYE")
    assert [b.to.tag for b in byes] == ["fork-b", "fork-c"]
    assert [b.uri for b in byes] == ["sip:bob@192.0.2.21", "sip:bob@192.0.2.22"]
    (answer,) = far.of(CallAnswered)
    assert isinstance(answer, CallAnswered) and answer.media.remote_port == 40000
    assert not far.of(CallEnded)


def test_2xx_without_sdp_takes_the_early_dialogs_answer() -> None:
    far = Far()
    far.feed(reply(far.invite, 183, sdp=sdp_answer(far.invite, 40002)))
    far.feed(reply(far.invite, 200))
    (answer,) = far.of(CallAnswered)
    assert isinstance(answer, CallAnswered) and answer.media.remote_port == 40002


def test_2xx_without_any_answer_is_acked_and_ended_with_bye() -> None:
    far = Far()
    far.feed(reply(far.invite, 200))
    assert len(far.requests("ACK")) == 1 and len(far.requests("BYE")) == 1
    assert far.ended().reason is EndReason.MEDIA_FAILED
    assert not far.of(CallAnswered)


def test_an_answer_aiming_our_rtp_elsewhere_is_acked_and_ended_with_bye() -> None:
    """sipgw.sip.mediatarget: the callee's c= names a loopback address from afar (issue 21)."""
    far = Far()
    aimed = sdp_answer(far.invite).replace(f"IN IP4 {PEER[0]}".encode(), b"IN IP4 127.0.0.1")
    far.feed(reply(far.invite, 200, sdp=aimed))
    assert len(far.requests("ACK")) == 1 and len(far.requests("BYE")) == 1
    assert far.ended().reason is EndReason.MEDIA_FAILED
    assert not far.of(CallAnswered)


# ------------------------------------------------------------------ final errors


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (486, EndReason.BUSY),
        (600, EndReason.BUSY),
        (603, EndReason.DECLINED),
        (480, EndReason.NO_ANSWER),
        (408, EndReason.NO_ANSWER),
        (404, EndReason.UNREACHABLE),
        (503, EndReason.UNREACHABLE),
        (488, EndReason.FAILED),
        (401, EndReason.FAILED),  # no credentials to answer with
    ],
)
def test_final_errors_end_the_call_with_a_reason(status: int, reason: EndReason) -> None:
    far = Far()
    far.feed(reply(far.invite, 180))
    far.feed(
        reply(far.invite, status, headers=(("WWW-Authenticate", 'Digest realm="x", nonce="n"'),))
    )
    ended = far.ended()
    assert (ended.reason, ended.status) == (reason, status)
    (ack,) = far.requests("ACK")  # the transaction ACKs a non-2xx, same branch (§17.1.1.3)
    assert ack.top_via.branch == far.invite.top_via.branch
    assert far.call.state is CallState.ENDED and not far.ua.busy


def test_no_response_at_all_is_unreachable() -> None:
    far = Far()
    far.advance(31.0)
    assert len(far.requests("INVITE")) == 6  # Timer A: 0, .5, 1.5, 3.5, 7.5, 15.5
    far.advance(40.0)
    ended = far.ended()
    assert (ended.reason, ended.status) == (EndReason.UNREACHABLE, 408)


# ------------------------------------------------------------------ CANCEL


def _cancel_matches(cancel: SipRequest, invite: SipRequest) -> None:
    assert cancel.uri == invite.uri
    assert cancel.top_via.branch == invite.top_via.branch  # §9.1
    assert cancel.cseq.number == invite.cseq.number and cancel.cseq.method == "CANCEL"
    assert cancel.headers.get("From") == invite.headers.get("From")
    assert cancel.headers.get("To") == invite.headers.get("To")
    assert cancel.headers.get_all("Route") == invite.headers.get_all("Route")


def test_hangup_before_any_provisional_waits_to_cancel() -> None:
    far = Far(route=("sip:192.0.2.30;lr",))
    far.hangup()
    assert not far.requests("CANCEL")  # §9.1: not before a provisional response
    far.feed(reply(far.invite, 100, tag=None))
    (cancel,) = far.requests("CANCEL")
    _cancel_matches(cancel, far.invite)
    assert far.flows("CANCEL") == [Flow("UDP", PROXY)]
    assert not far.of(CallEnded)
    far.feed(reply(far.invite, 487))
    ended = far.ended()
    assert (ended.reason, ended.status) == (EndReason.CANCELLED, 487)
    assert not far.of(CallProgress)


def test_hangup_while_ringing_cancels_at_once() -> None:
    far = Far()
    far.feed(reply(far.invite, 180))
    far.hangup()
    far.hangup()  # once is enough
    (cancel,) = far.requests("CANCEL")
    _cancel_matches(cancel, far.invite)
    far.feed(reply(far.invite, 487))
    assert far.ended().reason is EndReason.CANCELLED


def test_ring_timeout_cancels() -> None:
    far = Far(ring_timeout=20.0)
    far.feed(reply(far.invite, 180))
    far.advance(19.9)
    assert not far.requests("CANCEL")
    far.advance(20.0)
    assert len(far.requests("CANCEL")) == 1
    far.feed(reply(far.invite, 487))
    ended = far.ended()
    assert (ended.reason, ended.status) == (EndReason.NO_ANSWER, 487)


def test_2xx_crossing_our_cancel_is_acked_and_ended_with_bye() -> None:
    far = Far()
    far.feed(reply(far.invite, 180))
    far.hangup()
    far.feed(reply(far.invite, 200, sdp=sdp_answer(far.invite)))
    assert len(far.requests("ACK")) == 1
    (bye,) = far.requests("BYE")
    assert bye.to.tag == "bob-tag" and bye.cseq.number == far.invite.cseq.number + 1
    ended = far.ended()
    assert (ended.reason, ended.status) == (EndReason.CANCELLED, 200)
    assert not far.of(CallAnswered)
    bye_ok = make_response(bye, 200)
    far.feed(bye_ok)
    assert not far.ua.busy


def test_cancel_without_final_response_gives_up_after_64_t1() -> None:
    far = Far()
    far.feed(reply(far.invite, 180))
    far.hangup()
    far.advance(31.9)
    assert not far.of(CallEnded)
    far.advance(33.0)
    ended = far.ended()
    assert (ended.reason, ended.status) == (EndReason.CANCELLED, None)
    assert not far.ua.busy and not far.ua._ctx.transactions.client


def test_shutdown_cancels_a_ringing_call() -> None:
    far = Far()
    far.feed(reply(far.invite, 180))
    far.ua.shutdown(far.now)
    far._collect()
    assert len(far.requests("CANCEL")) == 1
    far.feed(reply(far.invite, 487))
    assert far.ended().reason is EndReason.CANCELLED


# ------------------------------------------------------------------ digest authentication

CHALLENGE_407 = ("Proxy-Authenticate", 'Digest realm="proxy.example", nonce="n1", qop="auth"')
STALE_407 = (
    "Proxy-Authenticate",
    'Digest realm="proxy.example", nonce="n3", qop="auth", stale=true',
)
US = "192.0.2.1"
"""Where our requests come from, as the proxy and the PBX see it."""

CHALLENGE_401 = ("WWW-Authenticate", 'Digest realm="pbx.example", nonce="n2"')


def test_407_is_answered_once_with_credentials() -> None:
    proxy = DigestServer("proxy.example", {"agent": "s3cret"}, random.Random(3), "SHA-256")
    pbx = DigestServer("pbx.example", {"agent": "s3cret"}, random.Random(4))
    far = Far(credentials=Credentials("agent", "s3cret"), route=("sip:192.0.2.30;lr",))
    first = far.invite
    challenge = ("Proxy-Authenticate", proxy.challenge(far.now, US))
    far.feed(reply(first, 407, tag="proxy-tag", headers=(challenge,)))
    second = far.invite
    assert proxy.verify(second, far.now, US, proxy=True) is Verdict.OK
    assert second is not first
    assert second.call_id == first.call_id and second.from_.tag == first.from_.tag
    assert second.cseq.number == first.cseq.number + 1
    assert second.top_via.branch != first.top_via.branch
    assert second.body == first.body and second.headers.get_all("Route") == ["<sip:192.0.2.30;lr>"]
    authorization = second.headers.get("Proxy-Authorization") or ""
    assert 'username="agent"' in authorization and 'realm="proxy.example"' in authorization
    assert "s3cret" not in second.serialize().decode()
    # a 401 from the far end as well: both credentials go in the third INVITE
    far.feed(reply(second, 401, headers=(("WWW-Authenticate", pbx.challenge(far.now, US)),)))
    third = far.invite
    assert pbx.verify(third, far.now, US) is Verdict.OK
    assert third.cseq.number == first.cseq.number + 2
    assert 'realm="pbx.example"' in (third.headers.get("Authorization") or "")
    # The proxy sees its nonce used again (same nc): a strict one says stale=true
    # and gets a fourth INVITE on its new nonce.
    assert proxy.verify(third, far.now, US, proxy=True) is Verdict.STALE
    far.now = 1.0  # (a nonce is stamped with its time)
    stale = ("Proxy-Authenticate", proxy.challenge(far.now, US, stale=True))
    far.feed(reply(third, 407, tag="proxy-tag", headers=(stale,)))
    third = far.invite
    assert third.cseq.number == first.cseq.number + 3
    assert proxy.verify(third, far.now, US, proxy=True) is Verdict.OK
    far.feed(reply(third, 200, sdp=sdp_answer(third)))
    assert len(far.of(CallAnswered)) == 1
    acks = far.requests("ACK")
    assert acks[-1].cseq.number == third.cseq.number
    assert acks[-1].headers.get("Proxy-Authorization") == third.headers.get(
        "Proxy-Authorization"
    )  # §22.1
    # in-dialog requests count on from the last INVITE
    far.hangup()
    (bye,) = far.requests("BYE")
    assert bye.cseq.number == third.cseq.number + 1


def test_a_second_challenge_for_the_same_realm_gives_up() -> None:
    far = Far(credentials=Credentials("agent", "wrong"))
    far.feed(reply(far.invite, 401, headers=(CHALLENGE_401,)))
    assert len(far.requests("INVITE")) == 2
    far.feed(reply(far.invite, 401, headers=(CHALLENGE_401,)))
    assert len(far.requests("INVITE")) == 2  # not a third time
    ended = far.ended()
    assert (ended.reason, ended.status) == (EndReason.FAILED, 401)


def test_a_stale_nonce_is_answered_again() -> None:
    far = Far(credentials=Credentials("agent", "s3cret"))
    far.feed(reply(far.invite, 407, headers=(CHALLENGE_407,)))
    far.feed(reply(far.invite, 407, headers=(STALE_407,)))
    assert len(far.requests("INVITE")) == 3
    assert 'nonce="n3"' in (far.invite.headers.get("Proxy-Authorization") or "")
    far.feed(reply(far.invite, 407, headers=(CHALLENGE_407,)))  # refused for real now
    assert len(far.requests("INVITE")) == 3
    assert far.ended().status == 407


def test_cancel_after_an_auth_retry_cancels_the_new_invite() -> None:
    far = Far(credentials=Credentials("agent", "s3cret"))
    far.feed(reply(far.invite, 407, headers=(CHALLENGE_407,)))
    far.feed(reply(far.invite, 180))
    far.hangup()
    (cancel,) = far.requests("CANCEL")
    _cancel_matches(cancel, far.invite)
    far.feed(reply(far.invite, 487))
    assert far.ended().reason is EndReason.CANCELLED


# ------------------------------------------------------------------ after the answer


def test_remote_bye_ends_an_outbound_call() -> None:
    far = Far()
    answered(far)
    far.feed_request(in_dialog(far, "BYE", 1))
    oks = [m for m, _ in far.sent if isinstance(m, SipResponse) and m.cseq.method == "BYE"]
    assert [r.status for r in oks] == [200]
    assert far.ended().reason is EndReason.REMOTE_BYE
    assert not far.ua.busy


def test_a_callee_outside_the_allow_list_still_hangs_up_its_call() -> None:
    """The callee is no allowed source (sipgw.sip.usages.strangers), but its BYE names our
    dialog."""
    far = Far()
    far.ua.access = far.ua.strangers.access = AccessPolicy(AllowList.parse(["203.0.113.1"]))
    answered(far)
    far.feed_request(in_dialog(far, "BYE", 1))
    oks = [m for m, _ in far.sent if isinstance(m, SipResponse) and m.cseq.method == "BYE"]
    assert [r.status for r in oks] == [200]
    assert far.ended().reason is EndReason.REMOTE_BYE


def test_local_hangup_sends_bye_in_the_dialog() -> None:
    far = Far()
    answered(far)
    far.hangup()
    (bye,) = far.requests("BYE")
    assert bye.uri == f"sip:bob@{PEER[0]}:{PEER[1]}" and bye.to.tag == "bob-tag"
    assert far.ended().reason is EndReason.LOCAL_BYE
    far.feed(make_response(bye, 200))
    assert not far.ua.busy


def test_reinvite_hold_from_the_far_end() -> None:
    far = Far()
    answered(far)
    offer = sdp_answer(far.invite).decode().replace("a=sendrecv", "a=sendonly")
    offer = offer.replace("o=- 9 1", "o=- 9 2")
    reinvite = in_dialog(far, "INVITE", 2, offer.encode(), "application/sdp")
    far.feed_request(reinvite)
    ok = [m for m, _ in far.sent if isinstance(m, SipResponse) and m.cseq.method == "INVITE"][-1]
    assert ok.status == 200 and b"a=recvonly" in ok.body
    assert ok.headers.get("Contact") == "<sip:agent@192.0.2.1:5060>"  # ours, not the target's
    (update,) = far.of(MediaUpdated)
    assert isinstance(update, MediaUpdated) and update.media.direction == "recvonly"


def test_info_dtmf_on_an_outbound_call() -> None:
    far = Far()
    answered(far)
    far.feed_request(in_dialog(far, "INFO", 3, b"Signal=5\r\nDuration=160\r\n",
                               "application/dtmf-relay"))  # fmt: skip
    (dtmf,) = far.of(DtmfReceived)
    assert isinstance(dtmf, DtmfReceived) and dtmf.digit == "5"


def test_session_timer_we_refresh_when_the_2xx_says_uac() -> None:
    far = Far()
    answered(far, extra=(("Session-Expires", "120;refresher=uac"), ("Allow", "INVITE, UPDATE")))
    far.advance(59.0)
    assert not far.requests("UPDATE")
    far.advance(61.0)
    (update,) = far.transactions("UPDATE")
    assert update.headers.get("Contact") == "<sip:agent@192.0.2.1:5060>"
    assert update.headers.get("Session-Expires") == "120;refresher=uac"


def test_session_timer_the_far_end_refreshes_or_we_hang_up() -> None:
    far = Far()
    answered(far, extra=(("Session-Expires", "120;refresher=uas"),))
    far.advance(200.0)
    assert not far.requests("UPDATE")
    assert len(far.transactions("BYE")) == 1
    assert far.ended().reason is EndReason.SESSION_EXPIRED


# ------------------------------------------------------------------ SRTP over TLS

TLS_TARGET = "sip:bob@192.0.2.20:5061;transport=tls"
TO_PEER_TLS = Flow("TLS", (PEER[0], 5061))


def test_over_tls_we_offer_srtp_then_plain_rtp_after_a_488() -> None:
    far = Far(target=TLS_TARGET)
    first = far.invite
    assert far.flows("INVITE") == [TO_PEER_TLS]
    assert "RTP/SAVP" in first.body.decode() and "a=crypto:1 AES_CM_128_HMAC_SHA1_80" in (
        first.body.decode()
    )
    far.feed(reply(first, 488, tag="bob-tag"), TO_PEER_TLS)
    assert far.requests("ACK")  # the 488 is ACKed by the transaction
    second = far.invite
    assert second is not first and second.call_id == first.call_id
    assert second.cseq.number == first.cseq.number + 1
    assert second.top_via.branch != first.top_via.branch
    body = second.body.decode()
    assert "RTP/AVP" in body and "a=crypto" not in body
    far.feed(reply(second, 200, sdp=sdp_answer(second)), TO_PEER_TLS)
    (answer,) = far.of(CallAnswered)
    assert isinstance(answer, CallAnswered) and answer.media.srtp is None
    assert not far.of(CallEnded)


def test_a_second_488_ends_the_call() -> None:
    far = Far(target=TLS_TARGET)
    far.feed(reply(far.invite, 488, tag="t1"), TO_PEER_TLS)
    far.feed(reply(far.invite, 488, tag="t2"), TO_PEER_TLS)
    assert len(far.transactions("INVITE")) == 2
    assert far.ended().status == 488


def test_over_udp_a_488_is_final() -> None:
    far = Far()
    assert "RTP/AVP" in far.invite.body.decode()
    far.feed(reply(far.invite, 488))
    assert len(far.transactions("INVITE")) == 1
    assert far.ended().status == 488


# ------------------------------------------------------------------ RFC 3263 failover

SERVER_A = Flow("UDP", ("192.0.2.40", 5060))
SERVER_B = Flow("UDP", ("192.0.2.41", 5070))
SERVER_C = Flow("TCP", ("192.0.2.42", 5060))


def test_a_silent_server_fails_over_to_the_next_with_the_same_invite() -> None:
    """RFC 3263 §4.3: Timer B with no response at all: the same request, new branch, next."""
    far = Far(target="sip:bob@trunk.example", targets=(SERVER_A, SERVER_B))
    first = far.invite
    assert far.flows("INVITE")[-1] == SERVER_A
    far.advance(32.5)  # Timer B at A
    assert far.flows("INVITE")[-1] == SERVER_B and not far.of(CallEnded)
    second = far.invite
    assert second.top_via.branch != first.top_via.branch
    assert second.cseq == first.cseq and second.call_id == first.call_id
    assert second.uri == first.uri and second.body == first.body
    assert second.headers.get("From") == first.headers.get("From")
    far.feed(reply(second, 200, sdp=sdp_answer(second)), SERVER_B)
    assert far.of(CallAnswered) and far.flows("ACK") == [SERVER_B]  # its dialog's source


def test_a_503_fails_over_and_a_tcp_server_gets_a_tcp_contact() -> None:
    far = Far(target="sip:bob@trunk.example", targets=(SERVER_A, SERVER_C))
    far.feed(reply(far.invite, 503, tag=None))
    invite = far.invite
    assert far.flows("INVITE")[-1] == SERVER_C and invite.top_via.transport == "TCP"
    assert "transport=tcp" in (invite.headers.get("Contact") or "")
    far.feed(reply(invite, 503, tag=None))  # the last one failed too: the call ends
    ended = far.ended()
    assert (ended.reason, ended.status) == (EndReason.UNREACHABLE, 503)


def test_no_failover_after_a_provisional_or_for_a_real_refusal() -> None:
    rung = Far(target="sip:bob@trunk.example", targets=(SERVER_A, SERVER_B))
    rung.feed(reply(rung.invite, 100, tag=None))
    rung.advance(60.0)  # A took it (100 Trying): no Timer B, no second server
    assert set(rung.flows("INVITE")) == {SERVER_A} and not rung.of(CallEnded)
    busy = Far(target="sip:bob@trunk.example", targets=(SERVER_A, SERVER_B))
    busy.feed(reply(busy.invite, 486))
    assert busy.flows("INVITE") == [SERVER_A] and busy.ended().reason is EndReason.BUSY
    cancelled = Far(target="sip:bob@trunk.example", targets=(SERVER_A, SERVER_B))
    cancelled.feed(reply(cancelled.invite, 180))
    cancelled.hangup()
    cancelled.feed(reply(cancelled.invite, 503))
    assert cancelled.flows("INVITE") == [SERVER_A]


# ------------------------------------------------------------------ caller id and headers


def test_the_caller_id_goes_in_the_header_the_trunk_reads_and_x_headers_too() -> None:
    far = Far(
        from_uri="sip:+15551234567@gw.example", display_name=None,
        identity=IdentityHeader.PPI, headers=(("X-Campaign", "spring"),),
    )  # fmt: skip
    invite = far.invite
    assert str(invite.from_.uri) == "sip:+15551234567@gw.example"
    assert invite.headers.get("P-Preferred-Identity") == "<sip:+15551234567@gw.example>"
    assert invite.headers.get("X-Campaign") == "spring" and "Privacy" not in invite.headers


def test_a_withheld_caller_id_is_anonymous_with_the_number_asserted() -> None:
    """RFC 3323 §4.1.1.3, RFC 3325 §9.3."""
    far = Far(from_uri="sip:+15551234567@gw.example", withhold=True)
    invite = far.invite
    assert invite.from_.display_name == "Anonymous"
    assert str(invite.from_.uri) == "sip:anonymous@anonymous.invalid"
    assert invite.headers.get("P-Asserted-Identity") == "Agent <sip:+15551234567@gw.example>"
    assert invite.headers.get("Privacy") == "id"


@pytest.mark.parametrize(
    "headers",
    [(("Via", "SIP/2.0/UDP evil"),), (("X-Ok", "a\r\nb"),), (("X-Ok", "1"), ("x-ok", "2"))],
)
def test_headers_that_could_inject_are_refused_before_anything_is_sent(
    headers: tuple[tuple[str, str], ...],
) -> None:
    ua = UserAgent(UserAgentConfig(public_host="192.0.2.1", sip_port=5060), rng=random.Random(7))
    spec = OutboundCall(target="sip:bob@192.0.2.20", rtp_port=30000, headers=headers)
    with pytest.raises(LocalProtocolError):
        ua.call(spec, 0.0)
    assert ua.datagrams_to_send() == [] and not ua.busy


def test_a_refusal_keeps_the_far_ends_words() -> None:
    far = Far()
    far.feed(reply(far.invite, 100, tag=None))
    response = reply(far.invite, 403, headers=(("Warning", '399 sbc "number not owned"'),))
    response.reason = "Caller Origination Number is Invalid D35"
    far.feed(response)
    ended = far.ended()
    assert ended.status == 403 and ended.reply is not None
    assert ended.reply.describe() == (
        "403 Caller Origination Number is Invalid D35; Warning: 399 sbc: number not owned"
    )


def test_no_response_has_no_words() -> None:
    far = Far()
    far.advance(40.0)
    assert far.ended().reply is None


# ------------------------------------------------------------------ UPDATE before the answer


def update_offer(port: int, version: int = 2) -> bytes:
    """The callee's new offer: its media moved to ``port``."""
    local = LocalMedia(address=PEER[0], port=port, session_id="9", session_version=version)
    return create_offer(local).serialize()


def test_an_update_in_the_early_dialog_is_answered_and_its_media_is_the_call_s() -> None:
    """RFC 3311 §5.1: after a 183 with its answer, the callee moves its media with an UPDATE
    before answering; the 2xx then repeats no SDP: the call's media is the UPDATE's."""
    far = Far()
    far.feed(reply(far.invite, 183, sdp=sdp_answer(far.invite, port=40000)))
    far.feed_request(in_dialog(far, "UPDATE", 2, update_offer(41000), "application/sdp"))
    ok = far.sent[-1][0]
    assert isinstance(ok, SipResponse) and ok.status == 200 and ok.cseq.method == "UPDATE"
    answer = SessionDescription.parse(ok.body)
    assert answer.media[0].port == 30000  # ours, where it was
    assert ok.headers.get("To") == far.invite.headers.get("From")  # our tag: our dialog
    (moved,) = far.of(MediaUpdated)
    assert isinstance(moved, MediaUpdated) and moved.media.remote_port == 41000
    far.feed(reply(far.invite, 200))  # no SDP: the offer/answer is done
    (answered_event,) = far.of(CallAnswered)
    assert isinstance(answered_event, CallAnswered)
    assert answered_event.media.remote_port == 41000


def test_an_update_offer_before_any_answer_gets_500_and_other_dialogs_481() -> None:
    far = Far()
    far.feed(reply(far.invite, 180))  # an early dialog, but our offer is not answered
    far.feed_request(in_dialog(far, "UPDATE", 2, update_offer(41000), "application/sdp"))
    refused = far.sent[-1][0]
    assert isinstance(refused, SipResponse) and refused.status == 500
    assert 0 <= int(refused.headers.get("Retry-After") or "-1") <= 10  # RFC 3311 §5.2
    stranger = in_dialog(far, "UPDATE", 3, update_offer(41000), "application/sdp")
    stranger.headers.set("From", f"{far.invite.headers.get('To')};tag=not-a-dialog")
    far.feed_request(stranger)
    unknown = far.sent[-1][0]
    assert isinstance(unknown, SipResponse) and unknown.status == 481
    assert not far.of(MediaUpdated)


# ------------------------------------------------------------------ reliable 1xx (RFC 3262)


def reliable(far: Far, status: int, rseq: int, tag: str = "bob-tag", sdp: bytes = b"") -> None:
    far.feed(reply(far.invite, status, tag=tag, sdp=sdp,
                   headers=(("Require", "100rel"), ("RSeq", str(rseq)))))  # fmt: skip


def test_the_invite_says_it_supports_reliable_1xx_or_requires_them_or_neither() -> None:
    assert "100rel" in Far().invite.headers.get_all("Supported")
    assert not Far().invite.headers.get_all("Require")
    required = Far(reliable="required").invite
    assert required.headers.get_all("Require") == ["100rel"]
    off = Far(reliable="off").invite
    assert "100rel" not in off.headers.get_all("Supported") + off.headers.get_all("Require")


def test_a_reliable_183_is_pracked_in_its_early_dialog_and_its_media_plays() -> None:
    far = Far(route=("sip:192.0.2.30;lr",))
    reliable(far, 183, 90210, sdp=sdp_answer(far.invite, 40002))
    (prack,) = far.requests("PRACK")
    assert prack.uri == f"sip:bob@{PEER[0]}:{PEER[1]}"  # the 1xx's Contact
    assert prack.headers.get("RAck") == f"90210 {far.invite.cseq.number} INVITE"  # §7.2
    assert prack.cseq.number == far.invite.cseq.number + 1 and prack.cseq.method == "PRACK"
    assert (prack.to.tag, prack.from_.tag, prack.call_id) == (
        "bob-tag", far.invite.from_.tag, far.invite.call_id,
    )  # fmt: skip
    (progress,) = far.of(CallProgress)
    assert isinstance(progress, CallProgress) and progress.media is not None
    assert progress.media.remote_port == 40002
    far.feed(make_response(prack, 200))  # the PRACK's 200: nothing more to do
    far.feed(reply(far.invite, 200))  # answered without SDP: the early answer is the call's
    (answer,) = far.of(CallAnswered)
    assert isinstance(answer, CallAnswered) and answer.media.remote_port == 40002
    (ack,) = far.requests("ACK")
    assert ack.cseq.number == far.invite.cseq.number  # the ACK is the INVITE's
    far.hangup()
    (bye,) = far.requests("BYE")
    assert bye.cseq.number == prack.cseq.number + 1  # the dialog goes on from the PRACK's


def test_a_retransmitted_reliable_1xx_is_neither_pracked_again_nor_reported_twice() -> None:
    far = Far()
    reliable(far, 180, 5)
    reliable(far, 180, 5)  # the UAS did not see our PRACK yet
    reliable(far, 183, 7, sdp=sdp_answer(far.invite))  # 6 is missing: not processed
    assert len(far.transactions("PRACK")) == 1 and len(far.of(CallProgress)) == 1
    reliable(far, 183, 6, sdp=sdp_answer(far.invite))  # in order now
    reliable(far, 183, 7, sdp=sdp_answer(far.invite))
    racks = [p.headers.get("RAck") for p in far.transactions("PRACK")]
    cseq = far.invite.cseq.number
    assert racks == [f"5 {cseq} INVITE", f"6 {cseq} INVITE", f"7 {cseq} INVITE"]
    assert [p.cseq.number for p in far.transactions("PRACK")] == [cseq + 1, cseq + 2, cseq + 3]
    assert len(far.of(CallProgress)) == 3


def test_each_fork_s_early_dialog_numbers_its_reliable_1xx_on_its_own() -> None:
    far = Far()
    reliable(far, 180, 100, tag="fork-a")
    reliable(far, 180, 900, tag="fork-b")
    pracks = far.transactions("PRACK")
    assert [(p.to.tag, p.headers.get("RAck").split()[0]) for p in pracks] == [
        ("fork-a", "100"), ("fork-b", "900"),
    ]  # fmt: skip
    assert pracks[0].cseq.number == pracks[1].cseq.number  # each dialog its own CSeq


def test_a_1xx_without_100rel_is_not_pracked() -> None:
    far = Far()
    far.feed(reply(far.invite, 183, sdp=sdp_answer(far.invite), headers=(("RSeq", "3"),)))
    assert not far.requests("PRACK") and len(far.of(CallProgress)) == 1


def test_a_new_invite_after_a_challenge_takes_its_reliable_1xx_numbered_afresh() -> None:
    """RFC 3262 §4: the RSeq order is kept per request; the INVITE sent again after a 407 is
    a new one, whose reliable 1xx may start anywhere (in the same To tag too)."""
    far = Far(credentials=Credentials("agent", "pw"))
    reliable(far, 183, 500, tag="sbc", sdp=sdp_answer(far.invite))
    challenge = reply(far.invite, 407, tag="sbc", headers=(
        ("Proxy-Authenticate", 'Digest realm="sbc", nonce="n1", algorithm=MD5'),))  # fmt: skip
    far.feed(challenge)
    assert far.invite.headers.get("Proxy-Authorization")  # the INVITE again
    reliable(far, 183, 7, tag="sbc", sdp=sdp_answer(far.invite))
    racks = [p.headers.get("RAck") for p in far.transactions("PRACK")]
    assert racks[-1] == f"7 {far.invite.cseq.number} INVITE", racks
