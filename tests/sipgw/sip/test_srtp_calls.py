"""SRTP calls in the UAS core: the signalling policy, keys in the answer, re-INVITE rekeying."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from sipgw.app.calls.callhandle import stream_params
from sipgw.sip.addressing import Flow
from sipgw.sip.events import CallOffered, MediaUpdated
from sipgw.sip.message import SipResponse
from sipgw.sip.sdes import SrtpPolicy
from sipgw.sip.sdp import CryptoAttribute, SessionDescription
from tests.sipgw.sip.builders import CALLER, SDP_OFFER, ack_for, invite
from tests.sipgw.sip.ua_harness import Harness

OVER_TLS = Flow("TLS", CALLER, connection_id=1)
OVER_UDP = Flow("UDP", CALLER)
OVER_TCP = Flow("TCP", CALLER, connection_id=2)
KEY_1 = base64.b64encode(bytes(range(30))).decode()
KEY_2 = base64.b64encode(bytes(range(1, 31))).decode()


def srtp_offer(*crypto: str, version: int = 1) -> str:
    lines = crypto or (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}",)
    body = SDP_OFFER.replace("RTP/AVP", "RTP/SAVP").replace(" 1 1 IN", f" 1 {version} IN")
    return body + "".join(f"a=crypto:{c}\r\n" for c in lines)


def answer_of(response: SipResponse) -> SessionDescription:
    return SessionDescription.parse(response.body)


def answered(h: Harness, flow: Flow, body: str) -> SipResponse:
    h.feed(invite(body=body), flow)
    call = h.offered()
    h.act(h.ua.answer, call, 30000)
    ok = [r for r in h.responses() if r.status == 200][0]
    h.feed(ack_for(ok), flow)
    return ok


@pytest.mark.parametrize(
    ("policy", "flow", "srtp_status", "plain_status"),
    [
        (SrtpPolicy.TLS_ONLY, OVER_TLS, 200, 200),
        (SrtpPolicy.TLS_ONLY, OVER_UDP, 488, 200),
        (SrtpPolicy.TLS_ONLY, OVER_TCP, 488, 200),
        (SrtpPolicy.TLS_REQUIRED, OVER_TLS, 200, 488),
        (SrtpPolicy.TLS_REQUIRED, OVER_UDP, 488, 200),
        (SrtpPolicy.ALLOW_INSECURE, OVER_UDP, 200, 200),
        (SrtpPolicy.OFF, OVER_TLS, 488, 200),
    ],
)
def test_policy_decides_before_the_call_is_offered(
    policy: SrtpPolicy, flow: Flow, srtp_status: int, plain_status: int
) -> None:
    for body, status in ((srtp_offer(), srtp_status), (SDP_OFFER, plain_status)):
        h = Harness(srtp_policy=policy)
        h.feed(invite(body=body), flow)
        offered = [e for e in h.events if isinstance(e, CallOffered)]
        if status == 488:
            (refused,) = [r for r in h.responses() if r.status == 488]
            assert not offered  # no call, so no agent session
            warning = refused.headers.get("Warning") or ""
            assert "SRTP" in warning and warning.count('"') == 2, warning
        else:
            assert h.statuses() == [100] and len(offered) == 1


def test_tls_call_is_answered_with_our_key_and_reports_both() -> None:
    h = Harness()
    ok = answered(h, OVER_TLS, srtp_offer())
    media = answer_of(ok).media[0]
    assert media.proto == "RTP/SAVP"
    (line,) = media.attributes_named("crypto")
    ours = CryptoAttribute.parse(line)
    assert (ours.tag, ours.suite) == (1, "AES_CM_128_HMAC_SHA1_80")
    info = h.offered().media
    assert info is not None and info.srtp is not None
    assert info.srtp.local == ours.keys[0]
    assert info.srtp.remote.key_salt == bytes(range(30))
    assert ours.keys[0].key_salt != bytes(range(30))


def test_each_call_gets_a_fresh_key() -> None:
    keys = set()
    for _ in range(3):
        h = Harness()
        ok = answered(h, OVER_TLS, srtp_offer())
        (line,) = answer_of(ok).media[0].attributes_named("crypto")
        keys.add(line)
    assert len(keys) == 3


def reinvite(h: Harness, ok: SipResponse, body: str) -> tuple[SipResponse, list[MediaUpdated]]:
    h.events.clear()
    h.feed(invite(cseq=2, to_tag=ok.to.tag, body=body), OVER_TLS)
    second = [r for r in h.responses() if r.status == 200][0]
    h.feed(ack_for(second, cseq=2), OVER_TLS)
    return second, [e for e in h.events if isinstance(e, MediaUpdated)]


def test_reinvite_with_the_same_offer_changes_nothing() -> None:
    h = Harness()
    ok = answered(h, OVER_TLS, srtp_offer())
    before = h.offered().media
    second, updates = reinvite(h, ok, srtp_offer())
    assert answer_of(second) == answer_of(ok)  # same key, same o= version (RFC 3264 §8)
    assert before is not None and updates and updates[0].media.srtp == before.srtp


def test_reinvite_with_a_new_peer_key_keeps_ours() -> None:
    h = Harness()
    ok = answered(h, OVER_TLS, srtp_offer())
    before = h.offered().media
    second, updates = reinvite(
        h, ok, srtp_offer(f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_2}", version=2)
    )
    after = updates[0].media.srtp
    assert before is not None and before.srtp is not None and after is not None
    assert after.remote.key_salt == bytes(range(1, 31))
    assert after.local == before.srtp.local
    assert answer_of(second).media[0].attributes_named("crypto") == answer_of(ok).media[
        0
    ].attributes_named("crypto")


def test_reinvite_with_another_suite_gets_a_fresh_key_of_ours() -> None:
    h = Harness()
    ok = answered(h, OVER_TLS, srtp_offer())
    before = h.offered().media
    second, updates = reinvite(
        h, ok, srtp_offer(f"3 AES_CM_128_HMAC_SHA1_32 inline:{KEY_1}", version=2)
    )
    after = updates[0].media.srtp
    assert before is not None and before.srtp is not None and after is not None
    assert (after.tag, after.suite) == (3, "AES_CM_128_HMAC_SHA1_32")
    assert after.local != before.srtp.local
    assert answer_of(second).origin.session_version == answer_of(ok).origin.session_version + 1


def test_reinvite_with_an_srtp_offer_the_call_may_not_use_is_488() -> None:
    h = Harness()
    ok = answered(h, OVER_UDP, SDP_OFFER)
    h.feed(invite(cseq=2, to_tag=ok.to.tag, body=srtp_offer()), OVER_UDP)
    assert 488 in h.statuses()


def test_stream_params_carry_both_keys_with_mki_and_lifetime() -> None:
    h = Harness()
    answered(h, OVER_TLS, srtp_offer(f"1 AES_CM_128_HMAC_SHA1_32 inline:{KEY_1}|2^31|258:2"))
    media = h.offered().media
    assert media is not None and media.srtp is not None
    params = stream_params(media)
    assert params.srtp is not None
    ours, theirs = params.srtp
    assert ours.suite == theirs.suite == "AES_CM_128_HMAC_SHA1_32"
    assert ours.key == media.srtp.local.key_salt and ours.mki == b""
    assert (theirs.key, theirs.mki, theirs.lifetime) == (bytes(range(30)), b"\x01\x02", 2**31)
    assert stream_params(dataclasses.replace(media, srtp=None)).srtp is None
