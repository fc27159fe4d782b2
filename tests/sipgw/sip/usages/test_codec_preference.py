"""A call's own codecs, given before the answer (InviteUsage.prefer_codecs, issue 43).

The SIP core checks an offer against the gateway's codecs when the INVITE comes; the
application then gives the call's own (its line's, its account's) and the answer carries
the first of them the offer has (RFC 3264 §6.1: ours, in our order).
"""

from __future__ import annotations

import pytest

from sipgw.sip.call import CallInfo
from sipgw.sip.errors import InvalidState, SdpError
from sipgw.sip.events import CallOffered
from sipgw.sip.offeranswer import NegotiatedAudio, RtpCodec
from sipgw.sip.sdp import SessionDescription
from tests.sipgw.sip.builders import invite
from tests.sipgw.sip.ua_harness import Harness

PCMU, PCMA, G722 = RtpCodec("PCMU", 8000, 0), RtpCodec("PCMA", 8000, 8), RtpCodec("G722", 8000, 9)
ALL = (PCMU, PCMA, G722)

# baresip's offer with its g722 module first: G.722, then G.711, then telephone-event.
HD_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 9 0 8 101\r\n"
    "a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
)


def offered(h: Harness, body: str = HD_OFFER) -> CallInfo:
    h.feed(invite(body=body))
    return h.of(CallOffered)[-1].call


def answer_codec(h: Harness, call: CallInfo) -> str:
    media = h.act(h.ua.answer, call, 30000)
    assert isinstance(media, NegotiatedAudio)
    ok = [r for r in h.responses() if r.status == 200][0]
    sdp = SessionDescription.parse(ok.body.decode())
    assert media.codec == sdp.media[0].rtpmap()[media.payload_type][0]
    return media.codec


def test_without_a_preference_the_gateways_order_wins() -> None:
    h = Harness(codecs=(G722, PCMU, PCMA))
    assert answer_codec(h, offered(h)) == "G722"
    h = Harness(codecs=(PCMU, PCMA))  # G.722 not allowed: the offer's first is not taken
    assert answer_codec(h, offered(h)) == "PCMU"


def test_a_trunks_order_keeps_g711_first_whatever_the_offer_prefers() -> None:
    h = Harness(codecs=ALL)
    call = offered(h)
    assert h.ua.prefer_codecs(call, (PCMU, PCMA, G722)) == "PCMU"
    assert answer_codec(h, call) == "PCMU"


def test_a_lines_order_puts_g722_first() -> None:
    h = Harness(codecs=(PCMU, PCMA, G722))
    call = offered(h)
    assert h.ua.prefer_codecs(call, (G722, PCMU)) == "G722"
    assert answer_codec(h, call) == "G722"


def test_a_preference_the_offer_cannot_meet_is_a_488_for_the_application() -> None:
    h = Harness(codecs=ALL)
    narrowband = HD_OFFER.replace("RTP/AVP 9 0 8 101", "RTP/AVP 0 101")
    call = offered(h, narrowband)
    with pytest.raises(SdpError) as caught:
        h.ua.prefer_codecs(call, (G722,))
    assert caught.value.status_hint == 488


def test_our_offer_in_the_2xx_lists_the_calls_codecs() -> None:
    h = Harness(codecs=ALL)
    call = offered(h, "")  # a delayed offer: ours goes in the 200
    assert h.ua.prefer_codecs(call, (G722, PCMU)) is None
    h.act(h.ua.answer, call, 30000)
    ok = [r for r in h.responses() if r.status == 200][0]
    offer = SessionDescription.parse(ok.body.decode())
    assert offer.media[0].formats[:2] == ["9", "0"] and "8" not in offer.media[0].formats


def test_an_answered_call_keeps_its_codec() -> None:
    h = Harness(codecs=ALL)
    call = offered(h)
    answer_codec(h, call)
    with pytest.raises(InvalidState):
        h.ua.prefer_codecs(call, (PCMU,))
