"""Tests for sipgw.sip.offeranswer: RFC 3264 offer/answer for one G.711 audio stream."""

from __future__ import annotations

import dataclasses
import pathlib
import re

import pytest
from hypothesis import HealthCheck, given, settings

from sipgw.sip import offeranswer, sdes
from sipgw.sip.errors import SdpError
from sipgw.sip.offeranswer import (
    G711,
    LocalMedia,
    NegotiatedAudio,
    RtpCodec,
    accept_answer,
    answer_offer,
    answer_with,
    choose_answer,
    create_offer,
)
from sipgw.sip.sdes import SrtpUse
from sipgw.sip.sdp import (
    Connection,
    CryptoAttribute,
    MediaDescription,
    Origin,
    SessionDescription,
)
from tests.sipgw.sip.test_sdp import DATA, FIXTURES, mangled_sdp


def rtp(*names: str) -> tuple[RtpCodec, ...]:
    """The default codecs of these names, in this order (any case, as a setting is typed)."""
    return tuple(next(c for c in G711 if c.name == name.upper()) for name in names)


def with_codecs(local: LocalMedia, changes: dict[str, object]) -> LocalMedia:
    """``local`` with ``changes``, codec names among them resolved by :func:`rtp`."""
    if "codecs" in changes:
        changes = {**changes, "codecs": rtp(*changes["codecs"])}  # type: ignore[misc]
    return dataclasses.replace(local, **changes)  # type: ignore[arg-type]


LOCAL = LocalMedia(address="203.0.113.5", port=40000, session_id="8812", session_version=1)
ALLOWED_ANSWER_ATTRIBUTES = {
    "rtpmap",
    "fmtp",
    "ptime",
    "rtcp-mux",
    "sendrecv",
    "sendonly",
    "recvonly",
    "inactive",
}


def load(name: str) -> SessionDescription:
    return SessionDescription.parse((DATA / name).read_bytes())


def neg(
    address: str,
    port: int,
    *,
    codec: str = "PCMU",
    pt: int = 0,
    te: int | None = 101,
    rtcp: int | None = -1,
    ptime: int = 20,
    direction: str = "sendrecv",
    mux: bool = False,
    index: int = 0,
) -> NegotiatedAudio:
    return NegotiatedAudio(
        remote_address=address,
        remote_port=port,
        remote_rtcp_port=port + 1 if rtcp == -1 else rtcp,
        codec=codec,
        payload_type=pt,
        telephone_event_pt=te,
        ptime=ptime,
        direction=direction,
        rtcp_mux=mux,
        media_index=index,
    )


# fixture -> (expected NegotiatedAudio, lines the answer must contain)
ACCEPTED: dict[str, tuple[NegotiatedAudio, list[str]]] = {
    "asterisk.sdp": (
        neg("203.0.113.10", 14312),
        ["m=audio 40000 RTP/AVP 0 101", "a=fmtp:101 0-16"],
    ),
    "baresip.sdp": (
        neg("192.168.0.104", 10634),
        ["m=audio 40000 RTP/AVP 0 101", "a=fmtp:101 0-15", "a=sendrecv"],
    ),
    "dynamic_pcmu.sdp": (
        neg("192.0.2.77", 9100, pt=96, te=97),
        [
            "m=audio 40000 RTP/AVP 96 97",
            "a=rtpmap:96 PCMU/8000",
            "a=rtpmap:97 telephone-event/8000",
            "a=fmtp:97 0-15",
        ],
    ),
    "freeswitch.sdp": (
        neg("198.51.100.7", 21452),
        ["m=audio 40000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"],
    ),
    "hold_inactive.sdp": (
        neg("198.51.100.7", 21452, direction="inactive"),
        ["a=inactive"],
    ),
    "hold_rfc2543.sdp": (
        neg("0.0.0.0", 17044, direction="recvonly"),
        ["a=recvonly", "c=IN IP4 203.0.113.5"],
    ),
    "hold_sendonly.sdp": (
        neg("203.0.113.10", 14312, direction="recvonly"),
        ["a=recvonly"],
    ),
    "ipv6.sdp": (
        neg("2001:db8::20", 16000),
        ["m=audio 40000 RTP/AVP 0 101"],
    ),
    "linphone.sdp": (
        neg("192.168.1.20", 7078, te=96, rtcp=7079),
        ["m=audio 40000 RTP/AVP 0 96", "a=fmtp:96 0-16"],  # no fmtp offered
    ),
    "linphone_avpf.sdp": (
        neg("10.8.0.14", 7078, rtcp=7079),
        ["m=audio 40000 RTP/AVPF 0 101"],
    ),
    "media_overrides_session.sdp": (
        neg("198.51.100.2", 5004),
        ["a=sendrecv"],
    ),
    "microsip.sdp": (
        neg("192.168.1.60", 4012, rtcp=4013),  # PCMU although PCMA is listed first
        ["m=audio 40000 RTP/AVP 0 101"],
    ),
    "mixed_line_endings.sdp": (
        neg("192.0.2.10", 7002),
        ["m=audio 40000 RTP/AVP 0 101", "a=fmtp:101 0-15"],
    ),
    "multicast_extras.sdp": (
        neg("224.2.17.12", 49170, te=None, direction="sendonly"),
        ["m=audio 40000 RTP/AVP 0", "m=video 0 RTP/AVP 99", "a=sendonly"],
    ),
    "odd_whitespace_lf.sdp": (
        neg("192.0.2.9", 7000),
        ["m=audio 40000 RTP/AVP 0 101", "a=fmtp:101 0-16"],
    ),
    "pcma_only.sdp": (
        neg("212.0.0.15", 20100, codec="PCMA", pt=8),
        ["m=audio 40000 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=fmtp:101 0-15"],
    ),
    "plivo.sdp": (
        neg("15.207.90.12", 31766, rtcp=31767),
        ["m=audio 40000 RTP/AVP 0 101"],
    ),
    "port0_first_audio.sdp": (
        neg("198.51.100.80", 7010, index=1),
        ["m=audio 0 RTP/AVP 0", "m=audio 40000 RTP/AVP 0 101"],
    ),
    "recvonly.sdp": (
        neg("198.51.100.44", 6000, te=None, direction="sendonly"),
        ["m=audio 40000 RTP/AVP 0", "a=sendonly"],
    ),
    "sdes_best_effort.sdp": (
        neg("203.0.113.142", 54402),
        ["m=audio 40000 RTP/AVP 0 101"],
    ),
    "sdes_two_audio_lines.sdp": (
        neg("198.51.100.60", 40002, codec="PCMA", pt=8, index=1),
        ["m=audio 0 RTP/SAVP 8", "m=audio 40000 RTP/AVP 8 101"],
    ),
    "session_level_sendonly.sdp": (
        neg("198.51.100.1", 5004, te=None, direction="recvonly"),
        ["a=recvonly"],
    ),
    "t38_and_audio.sdp": (
        neg("198.51.100.25", 6002, index=1),
        ["m=image 0 udptl t38", "m=audio 40000 RTP/AVP 0 101"],
    ),
    "te_8000_and_48000.sdp": (
        neg("192.0.2.50", 12000),
        ["m=audio 40000 RTP/AVP 0 101", "a=fmtp:101 0-11,16"],
    ),
    "telnyx.sdp": (
        neg("192.76.120.10", 28372),
        ["m=audio 40000 RTP/AVP 0 101"],
    ),
    "threecx.sdp": (
        neg("10.0.0.5", 9000, ptime=30),
        ["m=audio 40000 RTP/AVP 0 101", "a=ptime:20", "a=fmtp:101 0-15"],
    ),
    "twilio.sdp": (
        neg("54.172.60.1", 17228),
        ["m=audio 40000 RTP/AVP 0 101"],
    ),
    "video_audio.sdp": (
        neg("192.168.1.77", 7078),
        ["m=audio 40000 RTP/AVP 0 101", "m=video 0 RTP/AVP 96"],
    ),
    "video_first.sdp": (
        neg("192.168.1.78", 7078, codec="PCMA", pt=8, index=1),
        ["m=video 0 RTP/AVP 96", "m=audio 40000 RTP/AVP 8 101"],
    ),
    "webrtc_avpf_ice.sdp": (
        neg("198.51.100.33", 50312, te=126, rtcp=None, mux=True),
        ["m=audio 40000 RTP/AVPF 0 126", "a=rtcp-mux", "a=fmtp:126 0-16"],
    ),
    "zoiper.sdp": (
        neg("192.168.1.40", 8000),
        ["m=audio 40000 RTP/AVP 0 101"],
    ),
}

REJECTED = {
    "all_rejected_port0.sdp": 488,
    "g729_opus_only.sdp": 488,
    "missing_c.sdp": 400,
    "sdes_savp.sdp": 488,
    "webrtc_dtls_srtp.sdp": 488,
}


def test_every_fixture_has_an_expectation() -> None:
    assert set(ACCEPTED) | set(REJECTED) == set(FIXTURES)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_answer_fixture(name: str) -> None:
    expected, lines = ACCEPTED[name]
    offer = load(name)
    answer, negotiated = answer_offer(offer, LOCAL)
    assert negotiated == expected
    text = answer.serialize().decode()
    for line in lines:
        assert line + "\r\n" in text
    assert "a=ptime:20\r\n" in text


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_reject_fixture(name: str) -> None:
    with pytest.raises(SdpError) as info:
        answer_offer(load(name), LOCAL)
    assert info.value.status_hint == REJECTED[name]


def check_answer_shape(
    offer: SessionDescription,
    answer: SessionDescription,
    local: LocalMedia,
    negotiated: NegotiatedAudio,
) -> None:
    """RFC 3264 §6 invariants every answer of ours must satisfy."""
    # Exactly one m= line per offered line, same media type and proto.
    assert len(answer.media) == len(offer.media)
    for i, (ours, theirs) in enumerate(zip(answer.media, offer.media, strict=True)):
        assert ours.media == theirs.media
        assert ours.proto == theirs.proto
        if i == negotiated.media_index:
            assert ours.port == local.port
        else:
            assert ours.port == 0
            assert len(ours.formats) == 1
            assert ours.formats[0] in theirs.formats or not theirs.formats
            assert ours.attributes == []
    accepted = answer.media[negotiated.media_index]
    offered = offer.media[negotiated.media_index]
    # One codec, plus telephone-event if negotiated, using the offerer's numbers.
    expected_formats = [str(negotiated.payload_type)]
    if negotiated.telephone_event_pt is not None:
        expected_formats.append(str(negotiated.telephone_event_pt))
    assert accepted.formats == expected_formats
    assert set(accepted.formats) <= set(offered.formats)
    assert accepted.rtpmap()[negotiated.payload_type] == (negotiated.codec, 8000, None)
    # Nothing from ICE, SDES, DTLS, BUNDLE or RTCP feedback is ever copied.
    assert {name for name, _ in accepted.attributes} <= ALLOWED_ANSWER_ATTRIBUTES
    assert answer.attributes == []
    assert accepted.attribute("ptime") == str(local.ptime)
    assert accepted.direction == negotiated.direction
    assert (accepted.attribute("rtcp-mux") is not None) == negotiated.rtcp_mux
    assert not negotiated.rtcp_mux or offered.attribute("rtcp-mux") is not None
    # Session-level lines.
    addrtype = "IP6" if ":" in local.address else "IP4"
    assert answer.origin == Origin(
        local.origin_username, local.session_id, local.session_version, "IN", addrtype,
        local.address,
    )  # fmt: skip
    assert answer.session_name == local.session_name
    assert answer.connection == Connection(local.address, "IN", addrtype)
    assert answer.times == ["0 0"]
    assert accepted.connection is None


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_answer_invariants(name: str) -> None:
    offer = load(name)
    answer, negotiated = answer_offer(offer, LOCAL)
    check_answer_shape(offer, answer, LOCAL, negotiated)
    # The answer parses back to itself.
    assert SessionDescription.parse(answer.serialize()) == answer
    # Seen from the offerer's side, accept_answer agrees with what we negotiated.
    theirs = accept_answer(offer, SessionDescription.parse(answer.serialize()))
    assert theirs.remote_address == LOCAL.address
    assert theirs.remote_port == LOCAL.port
    assert (theirs.codec, theirs.payload_type) == (negotiated.codec, negotiated.payload_type)
    assert theirs.telephone_event_pt == negotiated.telephone_event_pt
    assert theirs.media_index == negotiated.media_index
    assert theirs.rtcp_mux == negotiated.rtcp_mux
    assert theirs.ptime == LOCAL.ptime


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_answer_is_deterministic(name: str) -> None:
    # The dialog layer compares bodies to decide whether to bump o= (RFC 3264 §8).
    first, _ = answer_offer(load(name), LOCAL)
    second, _ = answer_offer(load(name), LOCAL)
    assert first.serialize() == second.serialize()


def test_golden_answer_twilio() -> None:
    answer, _ = answer_offer(load("twilio.sdp"), LOCAL)
    assert answer.serialize() == (
        b"v=0\r\n"
        b"o=- 8812 1 IN IP4 203.0.113.5\r\n"
        b"s=-\r\n"
        b"c=IN IP4 203.0.113.5\r\n"
        b"t=0 0\r\n"
        b"m=audio 40000 RTP/AVP 0 101\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-16\r\n"
        b"a=ptime:20\r\n"
        b"a=sendrecv\r\n"
    )


def test_golden_answer_webrtc_with_video_rejected() -> None:
    offer = load("webrtc_avpf_ice.sdp")
    offer.media.append(MediaDescription("video", 50314, "RTP/AVPF", ["96", "97"]))
    answer, negotiated = answer_offer(offer, dataclasses.replace(LOCAL, address="2001:db8::5"))
    assert negotiated.rtcp_mux
    assert answer.serialize() == (
        b"v=0\r\n"
        b"o=- 8812 1 IN IP6 2001:db8::5\r\n"
        b"s=-\r\n"
        b"c=IN IP6 2001:db8::5\r\n"
        b"t=0 0\r\n"
        b"m=audio 40000 RTP/AVPF 0 126\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:126 telephone-event/8000\r\n"
        b"a=fmtp:126 0-16\r\n"
        b"a=ptime:20\r\n"
        b"a=rtcp-mux\r\n"
        b"a=sendrecv\r\n"
        b"m=video 0 RTP/AVPF 96\r\n"
    )


def test_best_effort_srtp_drops_crypto() -> None:
    answer, _ = answer_offer(load("sdes_best_effort.sdp"), LOCAL)
    assert b"crypto" not in answer.serialize()
    assert answer.media[0].proto == "RTP/AVP"


def test_error_messages_say_why() -> None:
    with pytest.raises(SdpError, match=r"m=0 UDP/TLS/RTP/SAVPF needs DTLS-SRTP"):
        answer_offer(load("webrtc_dtls_srtp.sdp"), LOCAL)
    with pytest.raises(SdpError, match=r"m=0 no PCMU/8000, PCMA/8000"):
        answer_offer(load("g729_opus_only.sdp"), LOCAL)
    with pytest.raises(SdpError, match=r"no m= lines"):
        answer_offer(SessionDescription(Origin("-", "1", 1), connection=Connection("h")), LOCAL)


# --- codec choice --------------------------------------------------------------


def offer_with(formats: str, *attributes: str, proto: str = "RTP/AVP") -> SessionDescription:
    lines = [f"m=audio 5000 {proto} {formats}", *(f"a={a}" for a in attributes)]
    return SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        + "\r\n".join(lines)
        + "\r\n"
    )


@pytest.mark.parametrize(
    ("formats", "attributes", "codecs", "expected"),
    [
        ("0 8", [], ("PCMU", "PCMA"), ("PCMU", 0)),
        ("8 0", [], ("PCMU", "PCMA"), ("PCMU", 0)),
        ("8 0", [], ("PCMA", "PCMU"), ("PCMA", 8)),
        ("0 8", [], ("pcma", "pcmu"), ("PCMA", 8)),
        ("8", [], ("PCMU", "PCMA"), ("PCMA", 8)),
        ("8", [], ("PCMU",), None),
        ("0", [], ("PCMA",), None),
        ("96", ["rtpmap:96 pcmu/8000"], ("PCMU", "PCMA"), ("PCMU", 96)),
        ("96 0", ["rtpmap:96 PCMU/8000"], ("PCMU",), ("PCMU", 96)),  # offer order
        ("96", ["rtpmap:96 PCMU/16000"], ("PCMU", "PCMA"), None),  # wrong clock
        ("96", ["rtpmap:96 PCMU/8000/2"], ("PCMU", "PCMA"), None),  # stereo
        ("96", ["rtpmap:96 PCMU/8000/1"], ("PCMU", "PCMA"), ("PCMU", 96)),
        ("96", [], ("PCMU", "PCMA"), None),  # dynamic PT with no rtpmap
        ("0", ["rtpmap:0 G729/8000"], ("PCMU", "PCMA"), None),  # rtpmap wins over table
        ("18 9 3 13", [], ("PCMU", "PCMA"), None),
        ("0 abc 8", [], ("PCMA",), ("PCMA", 8)),
    ],
)
def test_codec_choice(
    formats: str, attributes: list[str], codecs: tuple[str, ...], expected: tuple[str, int] | None
) -> None:
    offer = offer_with(formats, *attributes)
    local = dataclasses.replace(LOCAL, codecs=rtp(*codecs))
    if expected is None:
        with pytest.raises(SdpError) as info:
            answer_offer(offer, local)
        assert info.value.status_hint == 488
        return
    answer, negotiated = answer_offer(offer, local)
    assert (negotiated.codec, negotiated.payload_type) == expected
    assert answer.media[0].formats == [str(expected[1])]


@pytest.mark.parametrize(
    ("formats", "attributes", "enabled", "expected_pt", "expected_fmtp"),
    [
        ("0 101", ["rtpmap:101 telephone-event/8000", "fmtp:101 0-15"], True, 101, "0-15"),
        ("0 101", ["rtpmap:101 telephone-event/8000"], True, 101, "0-16"),
        ("0 101", ["rtpmap:101 telephone-event/8000", "fmtp:101"], True, 101, "0-16"),
        ("0 101", ["rtpmap:101 telephone-event/8000"], False, None, None),
        ("0 101", ["rtpmap:101 Telephone-Event/8000"], True, 101, "0-16"),
        ("0 110", ["rtpmap:110 telephone-event/48000"], True, None, None),
        (
            "0 110 101",
            ["rtpmap:110 telephone-event/48000", "rtpmap:101 telephone-event/8000"],
            True,
            101,
            "0-16",
        ),
        ("0", ["rtpmap:101 telephone-event/8000"], True, None, None),  # not on the m= line
        ("0", ["rtpmap:0 telephone-event/8000"], True, None, None),
    ],
)
def test_telephone_event(
    formats: str,
    attributes: list[str],
    enabled: bool,
    expected_pt: int | None,
    expected_fmtp: str | None,
) -> None:
    offer = offer_with(formats, *attributes)
    local = dataclasses.replace(LOCAL, telephone_event=enabled)
    try:
        answer, negotiated = answer_offer(offer, local)
    except SdpError:
        assert formats == "0" and "rtpmap:0 telephone-event/8000" in attributes
        return
    assert negotiated.telephone_event_pt == expected_pt
    accepted = answer.media[0]
    if expected_pt is None:
        assert len(accepted.formats) == 1
        assert accepted.attributes_named("fmtp") == []
    else:
        assert accepted.fmtp(expected_pt) == expected_fmtp
        assert accepted.rtpmap()[expected_pt] == ("telephone-event", 8000, None)


@pytest.mark.parametrize(
    ("proto", "usable"),
    [
        ("RTP/AVP", True),
        ("RTP/AVPF", True),
        ("rtp/avp", True),
        ("RTP/SAVP", False),
        ("RTP/SAVPF", False),
        ("UDP/TLS/RTP/SAVPF", False),
        ("UDP/TLS/RTP/SAVP", False),
        ("TCP/RTP/AVP", False),
        ("udp", False),
    ],
)
def test_protos(proto: str, usable: bool) -> None:
    offer = offer_with("0", proto=proto)
    if usable:
        answer, _ = answer_offer(offer, LOCAL)
        assert answer.media[0].proto == proto
    else:
        with pytest.raises(SdpError) as info:
            answer_offer(offer, LOCAL)
        assert info.value.status_hint == 488


def test_first_usable_audio_line_wins() -> None:
    offer = offer_with("0")
    second = dataclasses.replace(offer.media[0], port=6000, formats=["8"])
    offer.media.append(second)
    answer, negotiated = answer_offer(offer, LOCAL)
    assert negotiated.media_index == 0
    assert [m.port for m in answer.media] == [LOCAL.port, 0]
    assert answer.media[1].formats == ["8"]


def test_rejected_line_without_formats_still_has_one() -> None:
    offer = offer_with("0")
    offer.media.insert(0, MediaDescription("application", 5002, "TCP/MSRP", []))
    answer, _ = answer_offer(offer, LOCAL)
    assert answer.media[0].m_line() == "application 0 TCP/MSRP 0"


def test_missing_c_on_one_media_only() -> None:
    offer = offer_with("0")
    offer.connection = None
    offer.media.append(dataclasses.replace(offer.media[0], connection=Connection("192.0.2.9")))
    with pytest.raises(SdpError) as info:
        answer_offer(offer, LOCAL)
    assert info.value.status_hint == 400


# --- direction (RFC 3264 §6.1, §8.4) ------------------------------------------

OFFER_DIRECTIONS = [None, "sendrecv", "sendonly", "recvonly", "inactive"]
# (offered direction, RFC 2543 hold address?) -> our direction, for local sendrecv
DIRECTION_MATRIX = {
    (None, False): "sendrecv",
    ("sendrecv", False): "sendrecv",
    ("sendonly", False): "recvonly",
    ("recvonly", False): "sendonly",
    ("inactive", False): "inactive",
    (None, True): "recvonly",
    ("sendrecv", True): "recvonly",
    ("sendonly", True): "recvonly",
    ("recvonly", True): "inactive",
    ("inactive", True): "inactive",
}


@pytest.mark.parametrize(("offered", "hold"), list(DIRECTION_MATRIX))
@pytest.mark.parametrize("level", ["media", "session"])
@pytest.mark.parametrize("hold_address", ["0.0.0.0", "::", "0:0::0", "::ffff:0.0.0.0"])
def test_direction_matrix(offered: str | None, hold: bool, level: str, hold_address: str) -> None:
    offer = offer_with("0")
    if hold:
        offer.connection = Connection(
            hold_address, addrtype="IP6" if ":" in hold_address else "IP4"
        )
    if offered is not None:
        target = offer.media[0].attributes if level == "media" else offer.attributes
        target.append((offered, None))
    answer, negotiated = answer_offer(offer, LOCAL)
    assert negotiated.direction == DIRECTION_MATRIX[(offered, hold)]
    assert answer.media[0].direction == negotiated.direction
    assert negotiated.remote_address == (hold_address if hold else "192.0.2.1")
    assert negotiated.sends == (negotiated.direction in ("sendrecv", "sendonly"))
    assert negotiated.receives == (negotiated.direction in ("sendrecv", "recvonly"))


def test_media_direction_overrides_session() -> None:
    offer = offer_with("0", "sendonly")
    offer.attributes.append(("inactive", None))
    _, negotiated = answer_offer(offer, LOCAL)
    assert negotiated.direction == "recvonly"


@pytest.mark.parametrize(
    ("ours", "offered", "expected"),
    [
        ("sendonly", "sendrecv", "sendonly"),
        ("sendonly", "sendonly", "inactive"),
        ("sendonly", "recvonly", "sendonly"),
        ("recvonly", "sendrecv", "recvonly"),
        ("recvonly", "recvonly", "inactive"),
        ("inactive", "sendrecv", "inactive"),
        ("sendrecv", "inactive", "inactive"),
    ],
)
def test_local_direction_limits_answer(ours: str, offered: str, expected: str) -> None:
    _, negotiated = answer_offer(
        offer_with("0", offered), dataclasses.replace(LOCAL, direction=ours)
    )
    assert negotiated.direction == expected


# --- ptime and RTCP ------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "local_ptime", "expected"),
    [
        ([], 20, 20),
        ([], 30, 30),  # our own ptime when the offer says nothing
        ([], 25, 20),  # ... unless our pacer cannot do it
        (["ptime:20"], 20, 20),
        (["ptime:10"], 20, 10),
        (["ptime:30"], 20, 30),
        (["ptime:60"], 20, 60),
        (["ptime:25"], 20, 20),
        (["ptime:5"], 20, 20),
        (["ptime:80"], 20, 20),
        (["ptime:20.0"], 20, 20),
        (["ptime:30.5"], 20, 30),
        (["ptime:abc"], 20, 20),
        (["ptime:"], 20, 20),
        (["ptime:-20"], 20, 20),
        (["ptime:99999999999999999999"], 20, 20),
        (["maxptime:150"], 20, 20),
        (["maxptime:10"], 20, 10),
        (["maxptime:5"], 20, 10),
        (["maxptime:0"], 20, 20),
        (["maxptime:x"], 20, 20),
        (["ptime:30", "maxptime:20"], 20, 20),
        (["ptime:60", "maxptime:45"], 20, 40),
        (["ptime:20", "maxptime:150"], 20, 20),
    ],
)
def test_ptime(attributes: list[str], local_ptime: int, expected: int) -> None:
    local = dataclasses.replace(LOCAL, ptime=local_ptime)
    answer, negotiated = answer_offer(offer_with("0", *attributes), local)
    assert negotiated.ptime == expected
    assert answer.media[0].attribute("ptime") == str(local_ptime)


def test_session_level_ptime() -> None:
    offer = offer_with("0")
    offer.attributes.append(("ptime", "30"))
    assert answer_offer(offer, LOCAL)[1].ptime == 30
    offer.media[0].attributes.append(("ptime", "10"))
    assert answer_offer(offer, LOCAL)[1].ptime == 10


@pytest.mark.parametrize(
    ("attributes", "expected_rtcp", "expected_mux"),
    [
        ([], 5001, False),
        (["rtcp:7079"], 7079, False),
        (["rtcp:7079 IN IP4 192.0.2.200"], 7079, False),
        (["rtcp:abc"], 5001, False),
        (["rtcp:0"], 5001, False),
        (["rtcp:70000"], 5001, False),
        (["rtcp:"], 5001, False),
        (["rtcp"], 5001, False),
        (["rtcp-mux"], None, True),
        (["rtcp:5001", "rtcp-mux"], None, True),
    ],
)
def test_rtcp(attributes: list[str], expected_rtcp: int | None, expected_mux: bool) -> None:
    _, negotiated = answer_offer(offer_with("0", *attributes), LOCAL)
    assert negotiated.remote_rtcp_port == expected_rtcp
    assert negotiated.rtcp_mux == expected_mux


def test_rtcp_port_above_65535() -> None:
    offer = offer_with("0")
    offer.media[0].port = 65535
    assert answer_offer(offer, LOCAL)[1].remote_rtcp_port is None


# --- create_offer / accept_answer ----------------------------------------------


def test_the_origin_user_name_and_session_name_are_ours_to_choose() -> None:
    """RFC 4566 §5.2, §5.3: ``-`` for none, the default (issue 39: ``sipgw`` named us)."""
    local = dataclasses.replace(LOCAL, origin_username="acme", session_name="Acme call")
    offer = create_offer(local).serialize()
    assert offer.startswith(b"v=0\r\no=acme 8812 1 IN IP4 203.0.113.5\r\ns=Acme call\r\n")


def test_create_offer_golden() -> None:
    assert create_offer(LOCAL).serialize() == (
        b"v=0\r\n"
        b"o=- 8812 1 IN IP4 203.0.113.5\r\n"
        b"s=-\r\n"
        b"c=IN IP4 203.0.113.5\r\n"
        b"t=0 0\r\n"
        b"m=audio 40000 RTP/AVP 0 8 101\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-16\r\n"
        b"a=ptime:20\r\n"
        b"a=sendrecv\r\n"
    )


@pytest.mark.parametrize(
    ("changes", "m_line", "absent"),
    [
        ({"codecs": ("PCMA",)}, "m=audio 40000 RTP/AVP 8 101", "a=rtpmap:0 "),
        ({"codecs": ("pcma", "pcmu")}, "m=audio 40000 RTP/AVP 8 0 101", None),
        ({"telephone_event": False}, "m=audio 40000 RTP/AVP 0 8", "telephone-event"),
        ({"address": "2001:db8::7"}, "c=IN IP6 2001:db8::7", None),
        ({"direction": "sendonly", "ptime": 30}, "a=sendonly", "a=sendrecv"),
    ],
)
def test_create_offer_variants(changes: dict[str, object], m_line: str, absent: str | None) -> None:
    local = with_codecs(LOCAL, changes)
    text = create_offer(local).serialize().decode()
    assert m_line + "\r\n" in text
    if absent is not None:
        assert absent not in text
    assert f"a=ptime:{local.ptime}\r\n" in text


PEER = LocalMedia(address="198.51.100.9", port=30000, session_id="77", session_version=3)


@pytest.mark.parametrize(
    ("ours", "theirs", "codec", "pt", "te"),
    [
        ({}, {}, "PCMU", 0, 101),
        ({}, {"codecs": ("PCMA",)}, "PCMA", 8, 101),
        ({"codecs": ("PCMA",)}, {}, "PCMA", 8, 101),
        ({"codecs": ("PCMA", "PCMU")}, {}, "PCMU", 0, 101),  # the answerer's preference
        ({}, {"telephone_event": False}, "PCMU", 0, None),
        ({"telephone_event": False}, {}, "PCMU", 0, None),
        ({"address": "2001:db8::1"}, {"address": "2001:db8::2"}, "PCMU", 0, 101),
        ({"ptime": 30}, {"ptime": 10}, "PCMU", 0, 101),
    ],
)
def test_offer_answer_round_trip(
    ours: dict[str, object], theirs: dict[str, object], codec: str, pt: int, te: int | None
) -> None:
    local = with_codecs(LOCAL, ours)
    peer = with_codecs(PEER, theirs)
    offer = create_offer(local)
    # Over the wire and back, as the dialog layer does it.
    received_offer = SessionDescription.parse(offer.serialize())
    answer, peer_view = answer_offer(received_offer, peer)
    our_view = accept_answer(offer, SessionDescription.parse(answer.serialize()))
    assert our_view == NegotiatedAudio(
        remote_address=peer.address,
        remote_port=peer.port,
        remote_rtcp_port=peer.port + 1,
        codec=codec,
        payload_type=pt,
        telephone_event_pt=te,
        ptime=peer.ptime,
        direction="sendrecv",
        rtcp_mux=False,
        media_index=0,
    )
    assert peer_view.remote_address == local.address
    assert peer_view.remote_port == local.port
    assert (peer_view.codec, peer_view.payload_type) == (codec, pt)
    assert peer_view.telephone_event_pt == te
    assert peer_view.ptime == local.ptime


def test_offer_answer_round_trip_incompatible() -> None:
    offer = create_offer(dataclasses.replace(LOCAL, codecs=rtp("PCMU")))
    with pytest.raises(SdpError) as info:
        answer_offer(offer, dataclasses.replace(PEER, codecs=rtp("PCMA")))
    assert info.value.status_hint == 488


def test_offer_answer_hold_round_trip() -> None:
    # We put the peer on hold with a=sendonly; it answers recvonly.
    offer = create_offer(dataclasses.replace(LOCAL, direction="sendonly"))
    answer, peer_view = answer_offer(offer, PEER)
    assert peer_view.direction == "recvonly"
    assert accept_answer(offer, answer).direction == "sendonly"


def answer_text(*media_lines: str, connection: str = "c=IN IP4 198.51.100.9\r\n") -> bytes:
    return (
        "v=0\r\no=peer 1 1 IN IP4 198.51.100.9\r\ns=-\r\n"
        + connection
        + "t=0 0\r\n"
        + "".join(line + "\r\n" for line in media_lines)
    ).encode()


@pytest.mark.parametrize(
    ("lines", "field", "expected"),
    [
        (["m=audio 30000 RTP/AVP 8 0 101"], "codec", "PCMA"),  # answerer's order
        (["m=audio 30000 RTP/AVP 18 0"], "payload_type", 0),  # unoffered format skipped
        (["m=audio 30000 RTP/AVP 0 101"], "telephone_event_pt", 101),
        (["m=audio 30000 RTP/AVP 0"], "telephone_event_pt", None),
        (
            ["m=audio 30000 RTP/AVP 0 97", "a=rtpmap:97 telephone-event/8000"],
            "telephone_event_pt",
            None,
        ),
        (["m=audio 30000 RTP/AVP 0", "a=rtcp-mux"], "rtcp_mux", False),  # not offered
        (["m=audio 30000 RTP/AVP 0", "a=rtcp:30005"], "remote_rtcp_port", 30005),
        (["m=audio 30000 RTP/AVP 0", "a=sendonly"], "direction", "recvonly"),
        (["m=audio 30000 RTP/AVP 0", "a=recvonly"], "direction", "sendonly"),
        (["m=audio 30000 RTP/AVP 0", "a=inactive"], "direction", "inactive"),
        (["m=audio 30000 RTP/AVP 0", "a=ptime:30"], "ptime", 30),
        (["m=audio 30000 RTP/AVP 0", "a=ptime:33"], "ptime", 20),
        (["m=audio 30000 RTP/AVP 0", "a=maxptime:10"], "ptime", 10),
        (["m=audio 30000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"], "codec", "PCMU"),
    ],
)
def test_accept_answer_fields(lines: list[str], field: str, expected: object) -> None:
    negotiated = accept_answer(create_offer(LOCAL), SessionDescription.parse(answer_text(*lines)))
    assert getattr(negotiated, field) == expected


def test_accept_answer_rfc2543_hold() -> None:
    answer = SessionDescription.parse(
        answer_text("m=audio 30000 RTP/AVP 0", connection="c=IN IP4 0.0.0.0\r\n")
    )
    negotiated = accept_answer(create_offer(LOCAL), answer)
    assert negotiated.direction == "recvonly"
    assert negotiated.remote_address == "0.0.0.0"


def test_accept_answer_rtcp_mux_when_offered() -> None:
    offer = create_offer(LOCAL)
    offer.media[0].attributes.append(("rtcp-mux", None))
    answer = SessionDescription.parse(answer_text("m=audio 30000 RTP/AVP 0", "a=rtcp-mux"))
    negotiated = accept_answer(offer, answer)
    assert negotiated.rtcp_mux
    assert negotiated.remote_rtcp_port is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (answer_text(), 488),  # no m= lines
        (answer_text("m=audio 30000 RTP/AVP 0", "m=video 0 RTP/AVP 96"), 488),
        (answer_text("m=audio 0 RTP/AVP 0"), 488),
        (answer_text("m=audio 30000 RTP/AVP 18"), 488),
        (answer_text("m=audio 30000 RTP/AVP 96", "a=rtpmap:96 PCMU/8000"), 488),
        (answer_text("m=audio 30000 RTP/AVP 0", "a=rtpmap:0 PCMA/8000"), 488),
        (answer_text("m=audio 30000 RTP/AVP 101"), 488),
        (answer_text("m=audio 30000 RTP/SAVP 0"), 488),
        (answer_text("m=video 30000 RTP/AVP 0"), 488),
        (answer_text("m=audio 30000 RTP/AVP 0", connection=""), 400),
    ],
)
def test_accept_answer_errors(body: bytes, status: int) -> None:
    with pytest.raises(SdpError) as info:
        accept_answer(create_offer(LOCAL), SessionDescription.parse(body))
    assert info.value.status_hint == status


def test_accept_answer_two_audio_lines() -> None:
    offer = create_offer(LOCAL)
    offer.media.append(dataclasses.replace(offer.media[0], port=40002))
    answer = SessionDescription.parse(answer_text("m=audio 0 RTP/AVP 0", "m=audio 30002 RTP/AVP 8"))
    negotiated = accept_answer(offer, answer)
    assert (negotiated.media_index, negotiated.remote_port, negotiated.codec) == (1, 30002, "PCMA")


# --- LocalMedia -------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"codecs": ()},
        {"port": 0},
        {"port": 65536},
        {"ptime": 0},
        {"direction": "both"},
        {"origin_username": ""},
        {"origin_username": "acme voice"},
        {"session_name": " "},
        {"session_name": "a\r\nm=audio 9 RTP/AVP 0"},
    ],
)
def test_local_media_validation(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(LOCAL, **changes)  # type: ignore[arg-type]


def test_module_is_sans_io() -> None:
    source = pathlib.Path(offeranswer.__file__).read_text()
    assert not re.search(r"^\s*(import|from)\s+(asyncio|socket)\b", source, re.M)


def test_all_is_exported() -> None:
    for name in offeranswer.__all__:
        assert hasattr(offeranswer, name)


# --- Hypothesis ----------------------------------------------------------------


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_sdp())
def test_mangled_offer_only_raises_sdp_error(data: bytes | str) -> None:
    try:
        offer = SessionDescription.parse(data)
        answer, negotiated = answer_offer(offer, LOCAL)
    except SdpError as exc:
        assert exc.status_hint in (400, 488)
        return
    check_answer_shape(offer, answer, LOCAL, negotiated)
    assert SessionDescription.parse(answer.serialize()) == answer
    theirs = accept_answer(offer, answer)
    assert (theirs.codec, theirs.payload_type) == (negotiated.codec, negotiated.payload_type)
    assert theirs.media_index == negotiated.media_index


ANSWERS = [
    answer_offer(SessionDescription.parse(create_offer(LOCAL).serialize()), peer)[0]
    .serialize()
    .decode()
    for peer in (
        PEER,
        dataclasses.replace(PEER, codecs=rtp("PCMA"), telephone_event=False),
        dataclasses.replace(PEER, address="2001:db8::9", direction="sendonly"),
    )
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_sdp(ANSWERS))
def test_mangled_answer_only_raises_sdp_error(data: bytes | str) -> None:
    try:
        negotiated = accept_answer(create_offer(LOCAL), SessionDescription.parse(data))
    except SdpError as exc:
        assert exc.status_hint in (400, 488)
        return
    assert negotiated.codec in ("PCMU", "PCMA")
    assert negotiated.payload_type in (0, 8)
    assert negotiated.telephone_event_pt in (None, 101)


def test_an_offers_crypto_lines_are_parsed_once_per_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[MediaDescription] = []
    real = sdes.acceptable_crypto

    def counted(media: MediaDescription) -> CryptoAttribute:
        parsed.append(media)
        return real(media)

    monkeypatch.setattr(offeranswer, "acceptable_crypto", counted)
    local = dataclasses.replace(LOCAL, srtp=SrtpUse.PREFERRED, srtp_key=bytes(range(30)))
    answer, negotiated = answer_offer(load("sdes_savp.sdp"), local)
    assert negotiated.srtp is not None and b"a=crypto:" in answer.serialize()
    assert len(parsed) == 1


def test_an_answers_crypto_lines_and_our_offers_are_parsed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Placing an SRTP call: our offer's a=crypto lines (one per suite) and the answer's,
    # each parsed once when the answer comes back.
    local = dataclasses.replace(LOCAL, srtp=SrtpUse.PREFERRED, srtp_key=bytes(range(30)))
    peer = dataclasses.replace(PEER, srtp=SrtpUse.PREFERRED, srtp_key=bytes(range(30, 60)))
    offer = create_offer(local)
    answer, _ = answer_offer(SessionDescription.parse(offer.serialize()), peer)
    answer = SessionDescription.parse(answer.serialize())
    parsed: list[str] = []
    real = CryptoAttribute.parse

    def counted(value: str) -> CryptoAttribute:
        parsed.append(value)
        return real(value)

    monkeypatch.setattr(CryptoAttribute, "parse", staticmethod(counted))
    negotiated = accept_answer(offer, answer)
    assert negotiated.srtp is not None
    lines = [
        *offer.media[0].attributes_named("crypto"),
        *answer.media[0].attributes_named("crypto"),
    ]
    assert len(lines) >= 3 and sorted(parsed) == sorted(lines)


def test_the_choice_made_once_answers_with_the_port_and_key_known_later() -> None:
    offer = load("sdes_savp.sdp")
    choice = choose_answer(offer, rtp("PCMA", "PCMU"), SrtpUse.PREFERRED)  # before any port
    assert (choice.codec, choice.payload_type) == ("PCMA", 8)  # our preference this time
    assert choice.crypto is not None and choice.remote_address == "203.0.113.141"
    local = dataclasses.replace(
        LOCAL, codecs=rtp("PCMA", "PCMU"), srtp=SrtpUse.PREFERRED, srtp_key=bytes(range(30))
    )
    assert answer_with(offer, choice, local) == answer_offer(offer, local)
    with pytest.raises(SdpError) as refused:
        choose_answer(offer, rtp("PCMU"), SrtpUse.OFF)
    assert refused.value.status_hint == 488


def test_a_codec_the_core_never_heard_of_is_offered_and_answered_from_its_description() -> None:
    wide = RtpCodec("G7221", 16000)  # a dynamic payload type: numbered from 96 in our offer
    offer = create_offer(dataclasses.replace(LOCAL, codecs=(wide, *G711)))
    # a telephone-event for each clock rate (RFC 4733 §2.1): 8000 at 101, 16000 next
    assert offer.media[0].formats == ["96", "0", "8", "101", "97"]
    assert ("rtpmap", "96 G7221/16000") in offer.media[0].attributes
    assert ("rtpmap", "97 telephone-event/16000") in offer.media[0].attributes
    peer = dataclasses.replace(PEER, codecs=(RtpCodec("g7221", 16000), *G711))
    answer, theirs = answer_offer(SessionDescription.parse(offer.serialize()), peer)
    assert (theirs.codec, theirs.payload_type, theirs.telephone_event_pt) == ("G7221", 96, 97)
    assert ("rtpmap", "96 g7221/16000") in answer.media[0].attributes  # as the answerer names it
    ours = accept_answer(offer, SessionDescription.parse(answer.serialize()))
    assert (ours.codec, ours.payload_type) == ("G7221", 96)
    with pytest.raises(SdpError, match="no G7221/16000"):
        answer_offer(offer_with("0 8"), dataclasses.replace(PEER, codecs=(wide,)))


OPUS = RtpCodec("opus", 48000, None, 2, "maxplaybackrate=16000;stereo=0")
"""Opus as the gateway describes it (RFC 7587 §7: always ``opus/48000/2``, our fmtp)."""


def test_an_opus_offer_is_answered_with_our_fmtp_and_the_48_khz_telephone_event() -> None:
    offer = offer_with(
        "96 0 101 102", "rtpmap:96 opus/48000/2", "fmtp:96 stereo=1;useinbandfec=1",
        "rtpmap:101 telephone-event/8000", "rtpmap:102 telephone-event/48000",
    )  # fmt: skip
    answer, got = answer_offer(offer, dataclasses.replace(LOCAL, codecs=(OPUS, *G711)))
    assert (got.codec, got.payload_type, got.telephone_event_pt) == ("OPUS", 96, 102)
    assert got.fmtp == "stereo=1;useinbandfec=1"  # what the offerer wants to receive
    attributes = answer.media[0].attributes
    assert answer.media[0].formats == ["96", "102"]
    assert ("rtpmap", "96 opus/48000/2") in attributes
    assert ("fmtp", "96 maxplaybackrate=16000;stereo=0") in attributes
    assert ("rtpmap", "102 telephone-event/48000") in attributes
    # G.711 from the same offer takes the 8000 Hz events, never Opus's
    _, pcmu = answer_offer(offer, LOCAL)
    assert (pcmu.codec, pcmu.telephone_event_pt, pcmu.fmtp) == ("PCMU", 101, None)


def test_opus_beside_telephone_event_8000_alone_takes_it_as_baresip_offers() -> None:
    offer = offer_with(  # baresip 1.0's offer (tests/interop/test_hd_voice_peers.py)
        "96 0 101", "rtpmap:96 opus/48000/2", "fmtp:96 stereo=1;sprop-stereo=1",
        "rtpmap:101 telephone-event/8000",
    )  # fmt: skip
    answer, got = answer_offer(offer, dataclasses.replace(LOCAL, codecs=(OPUS,)))
    assert (got.codec, got.telephone_event_pt) == ("OPUS", 101)
    assert ("rtpmap", "101 telephone-event/8000") in answer.media[0].attributes
    # opus/48000 without the /2 is not RFC 7587's Opus
    only = dataclasses.replace(LOCAL, codecs=(OPUS,))
    with pytest.raises(SdpError, match="no opus/48000/2"):
        answer_offer(offer_with("96", "rtpmap:96 opus/48000"), only)


def test_our_opus_offer_numbers_it_and_its_events_and_reads_the_answer() -> None:
    offer = create_offer(dataclasses.replace(LOCAL, codecs=(OPUS, *G711)))
    media = offer.media[0]
    assert media.formats == ["96", "0", "8", "101", "97"]
    assert ("rtpmap", "96 opus/48000/2") in media.attributes
    assert ("fmtp", "96 maxplaybackrate=16000;stereo=0") in media.attributes
    assert ("rtpmap", "101 telephone-event/8000") in media.attributes
    assert ("rtpmap", "97 telephone-event/48000") in media.attributes
    answer = offer_with(
        "96 97", "rtpmap:96 opus/48000/2", "fmtp:96 maxaveragebitrate=20000",
        "rtpmap:97 telephone-event/48000",
    )  # fmt: skip
    got = accept_answer(offer, answer)
    assert (got.codec, got.payload_type, got.telephone_event_pt) == ("OPUS", 96, 97)
    assert got.fmtp == "maxaveragebitrate=20000"
    got = accept_answer(offer, offer_with("0 101", "rtpmap:101 telephone-event/8000"))
    assert (got.codec, got.telephone_event_pt, got.fmtp) == ("PCMU", 101, None)
    # an answerer that keeps only telephone-event/8000 beside Opus: that one
    got = accept_answer(offer, offer_with("96 101", "rtpmap:96 opus/48000/2"))
    assert (got.codec, got.telephone_event_pt) == ("OPUS", 101)
