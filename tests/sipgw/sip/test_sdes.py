"""SDES (RFC 4568): a=crypto parse/serialize, SRTP offer/answer and the signalling policy."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from sipgw.sip.errors import SdpError
from sipgw.sip.offeranswer import LocalMedia, accept_answer, answer_offer, create_offer
from sipgw.sip.sdes import MIN_LIFETIME, SUPPORTED_SUITES, SrtpPolicy, SrtpUse, srtp_use
from sipgw.sip.sdp import CryptoAttribute, InlineKey, SessionDescription

KEY = bytes(range(30))
B64 = base64.b64encode(KEY).decode()  # 40 characters, no padding
THEIRS = bytes(range(200, 230))
THEIRS_B64 = base64.b64encode(THEIRS).decode()
OUR_KEY = bytes(range(50, 80))
LOCAL = LocalMedia(
    address="203.0.113.5",
    port=40000,
    session_id="1",
    session_version=1,
    srtp=SrtpUse.PREFERRED,
    srtp_key=OUR_KEY,
)


def sdp(proto: str, *crypto: str, extra: str = "") -> SessionDescription:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        f"m=audio 30000 {proto} 0 101",
        "a=rtpmap:101 telephone-event/8000",
        *(f"a=crypto:{c}" for c in crypto),
    ]
    return SessionDescription.parse("\r\n".join(lines) + "\r\n" + extra)


# -- a=crypto lines


@pytest.mark.parametrize(
    ("text", "lifetime", "mki"),
    [
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}", None, None),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|2^31", 2**31, None),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|1048576", 2**20, None),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|2^20|1:4", 2**20, (1, 4)),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|7:1", None, (7, 1)),
    ],
)
def test_crypto_line_round_trips(text: str, lifetime: int | None, mki: object) -> None:
    crypto = CryptoAttribute.parse(text)
    assert crypto.tag == 1 and crypto.suite == "AES_CM_128_HMAC_SHA1_80"
    assert crypto.keys == (InlineKey(KEY, lifetime, mki),)  # type: ignore[arg-type]
    assert str(crypto) == text


def test_crypto_line_keeps_session_params_and_several_keys() -> None:
    text = f"2 AES_CM_128_HMAC_SHA1_32 inline:{B64}|2^20|1:1;inline:{B64}|2^20|2:1 WSH=64 -FOO"
    crypto = CryptoAttribute.parse(text)
    assert len(crypto.keys) == 2 and crypto.session_params == ("WSH=64", "-FOO")
    assert str(crypto) == text


def test_unpadded_base64_is_accepted() -> None:
    key = base64.b64encode(bytes(31)).decode().rstrip("=")
    assert CryptoAttribute.parse(f"1 X inline:{key}").keys[0].key_salt == bytes(31)


@pytest.mark.parametrize(
    "text",
    [
        "1 AES_CM_128_HMAC_SHA1_80",
        f"x AES_CM_128_HMAC_SHA1_80 inline:{B64}",
        f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{B64}",
        f"1 AES_CM_128_HMAC_SHA1_80 uri:{B64}",
        "1 AES_CM_128_HMAC_SHA1_80 inline:not*base64",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|2^99",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|256:1",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|1:129",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|1:1|2^20",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|2^20|1:1|x",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|abc",
    ],
)
def test_malformed_crypto_lines_are_refused(text: str) -> None:
    with pytest.raises(SdpError) as info:
        CryptoAttribute.parse(text)
    assert info.value.status_hint == 488


def test_key_not_in_repr() -> None:
    crypto = CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}")
    assert B64 not in repr(crypto) and repr(KEY) not in repr(crypto)


# -- answering an RTP/SAVP offer


def answer_crypto(answer: SessionDescription) -> CryptoAttribute:
    (value,) = answer.media[0].attributes_named("crypto")
    return CryptoAttribute.parse(value)


@pytest.mark.parametrize("suite", SUPPORTED_SUITES)
def test_answer_takes_tag_and_suite_with_our_own_key(suite: str) -> None:
    offer = sdp("RTP/SAVP", f"5 {suite} inline:{THEIRS_B64}")
    answer, media = answer_offer(offer, LOCAL)
    assert answer.media[0].proto == "RTP/SAVP"
    crypto = answer_crypto(answer)
    assert (crypto.tag, crypto.suite, crypto.keys[0].key_salt) == (5, suite, OUR_KEY)
    assert media.srtp is not None
    assert (media.srtp.tag, media.srtp.suite) == (5, suite)
    assert media.srtp.local.key_salt == OUR_KEY and media.srtp.remote.key_salt == THEIRS
    assert OUR_KEY.hex() not in repr(media) and repr(OUR_KEY) not in repr(media)


def test_answer_picks_the_first_line_we_can_honour() -> None:
    offer = sdp(
        "RTP/SAVP",
        f"1 AES_256_CM_HMAC_SHA1_80 inline:{base64.b64encode(bytes(46)).decode()}",
        f"2 AES_CM_128_HMAC_SHA1_80 inline:{THEIRS_B64} UNENCRYPTED_SRTP",
        f"3 AES_CM_128_HMAC_SHA1_80 inline:{THEIRS_B64}|2^10",
        f"4 AES_CM_128_HMAC_SHA1_80 inline:{THEIRS_B64}|1:1;inline:{THEIRS_B64}|2:1",
        "5 AES_CM_128_HMAC_SHA1_80 inline:garbage*",
        f"6 AES_CM_128_HMAC_SHA1_32 inline:{THEIRS_B64}|2^31|3:2 WSH=128",
        f"7 AES_CM_128_HMAC_SHA1_80 inline:{THEIRS_B64}",
    )
    _, media = answer_offer(offer, LOCAL)
    assert media.srtp is not None and media.srtp.tag == 6
    assert media.srtp.remote == InlineKey(THEIRS, 2**31, (3, 2))


def test_offer_with_only_unsupported_suites_gets_488() -> None:
    offer = sdp(
        "RTP/SAVP",
        f"1 AEAD_AES_256_GCM inline:{base64.b64encode(bytes(44)).decode()}",
        f"2 F8_128_HMAC_SHA1_80 inline:{THEIRS_B64}",
    )
    with pytest.raises(SdpError, match="suite AEAD_AES_256_GCM not supported") as info:
        answer_offer(offer, LOCAL)
    assert info.value.status_hint == 488


def test_savp_without_crypto_or_with_a_short_key_gets_488() -> None:
    for offer in (
        sdp("RTP/SAVP"),
        sdp("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64[:-4]}"),
    ):
        with pytest.raises(SdpError) as info:
            answer_offer(offer, LOCAL)
        assert info.value.status_hint == 488


def test_srtp_offer_refused_when_the_call_may_not_use_srtp() -> None:
    offer = sdp("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{THEIRS_B64}")
    local = dataclasses.replace(LOCAL, srtp=SrtpUse.OFF)
    with pytest.raises(SdpError, match="SRTP.*not allowed") as info:
        answer_offer(offer, local)
    assert info.value.status_hint == 488


def test_plain_offer_answered_plain_unless_srtp_required() -> None:
    offer = sdp("RTP/AVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{THEIRS_B64}")  # best effort
    for use in (SrtpUse.ACCEPTED, SrtpUse.PREFERRED):
        answer, media = answer_offer(offer, dataclasses.replace(LOCAL, srtp=use))
        assert answer.media[0].proto == "RTP/AVP" and media.srtp is None
        assert not answer.media[0].attributes_named("crypto")
    with pytest.raises(SdpError, match="SRTP is required") as info:
        answer_offer(offer, dataclasses.replace(LOCAL, srtp=SrtpUse.REQUIRED))
    assert info.value.status_hint == 488


def test_savpf_is_answered_like_savp() -> None:
    offer = sdp("RTP/SAVPF", f"1 AES_CM_128_HMAC_SHA1_80 inline:{THEIRS_B64}")
    answer, media = answer_offer(offer, LOCAL)
    assert answer.media[0].proto == "RTP/SAVPF" and media.srtp is not None


def test_local_media_needs_a_key_when_srtp_may_be_used() -> None:
    with pytest.raises(ValueError, match="srtp_key"):
        dataclasses.replace(LOCAL, srtp_key=b"")
    assert OUR_KEY.hex() not in repr(LOCAL) and repr(OUR_KEY) not in repr(LOCAL)


# -- our offer and its answer


def test_offer_lists_both_suites_80_first() -> None:
    offer = create_offer(LOCAL)
    media = offer.media[0]
    assert media.proto == "RTP/SAVP"
    crypto = [CryptoAttribute.parse(v) for v in media.attributes_named("crypto")]
    assert [(c.tag, c.suite) for c in crypto] == [
        (1, "AES_CM_128_HMAC_SHA1_80"),
        (2, "AES_CM_128_HMAC_SHA1_32"),
    ]
    assert all(c.keys[0].key_salt == OUR_KEY for c in crypto)
    assert SessionDescription.parse(offer.serialize()) == offer


def test_offer_is_plain_when_srtp_is_only_accepted() -> None:
    offer = create_offer(dataclasses.replace(LOCAL, srtp=SrtpUse.ACCEPTED))
    assert offer.media[0].proto == "RTP/AVP" and not offer.media[0].attributes_named("crypto")


@pytest.mark.parametrize(("tag", "suite"), [(1, SUPPORTED_SUITES[0]), (2, SUPPORTED_SUITES[1])])
def test_answer_to_our_offer_gives_both_keys(tag: int, suite: str) -> None:
    offer = create_offer(LOCAL)
    media = accept_answer(offer, sdp("RTP/SAVP", f"{tag} {suite} inline:{THEIRS_B64}"))
    assert media.srtp is not None and (media.srtp.tag, media.srtp.suite) == (tag, suite)
    assert media.srtp.local.key_salt == OUR_KEY and media.srtp.remote.key_salt == THEIRS


@pytest.mark.parametrize(
    "crypto",
    [
        (),
        (f"3 AES_CM_128_HMAC_SHA1_80 inline:{THEIRS_B64}",),  # a tag we did not offer
        (f"1 AES_CM_128_HMAC_SHA1_32 inline:{THEIRS_B64}",),  # tag 1 was the 80-bit suite
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{THEIRS_B64} KDR=1",),
    ],
)
def test_bad_answer_to_our_srtp_offer_gets_488(crypto: tuple[str, ...]) -> None:
    with pytest.raises(SdpError) as info:
        accept_answer(create_offer(LOCAL), sdp("RTP/SAVP", *crypto))
    assert info.value.status_hint == 488


def test_plain_answer_to_our_srtp_offer_gets_488() -> None:
    with pytest.raises(SdpError) as info:
        accept_answer(create_offer(LOCAL), sdp("RTP/AVP"))
    assert info.value.status_hint == 488


# -- the policy


@pytest.mark.parametrize(
    ("policy", "transport", "use"),
    [
        (SrtpPolicy.TLS_ONLY, "TLS", SrtpUse.PREFERRED),
        (SrtpPolicy.TLS_ONLY, "UDP", SrtpUse.OFF),
        (SrtpPolicy.TLS_ONLY, "TCP", SrtpUse.OFF),
        (SrtpPolicy.TLS_REQUIRED, "TLS", SrtpUse.REQUIRED),
        (SrtpPolicy.TLS_REQUIRED, "UDP", SrtpUse.OFF),
        (SrtpPolicy.ALLOW_INSECURE, "TLS", SrtpUse.PREFERRED),
        (SrtpPolicy.ALLOW_INSECURE, "UDP", SrtpUse.ACCEPTED),
        (SrtpPolicy.ALLOW_INSECURE, "tcp", SrtpUse.ACCEPTED),
        (SrtpPolicy.OFF, "TLS", SrtpUse.OFF),
        (SrtpPolicy.OFF, "UDP", SrtpUse.OFF),
    ],
)
def test_policy_rows(policy: SrtpPolicy, transport: str, use: SrtpUse) -> None:
    assert srtp_use(policy, transport) is use


def test_min_lifetime_is_accepted() -> None:
    offer = sdp("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{THEIRS_B64}|{MIN_LIFETIME}")
    _, media = answer_offer(offer, LOCAL)
    assert media.srtp is not None and media.srtp.remote.lifetime == MIN_LIFETIME
