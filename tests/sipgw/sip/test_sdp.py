"""Tests for sipgw.sip.sdp: parse/serialize of RFC 8866 session descriptions."""

from __future__ import annotations

import pathlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipgw.sip import sdp
from sipgw.sip.errors import SdpError
from sipgw.sip.sdp import Connection, MediaDescription, Origin, SessionDescription

DATA = pathlib.Path(__file__).parents[2] / "data" / "sdp"
FIXTURES = sorted(p.name for p in DATA.glob("*.sdp"))

# Fixtures written with CRLF in RFC 8866 §5 order, nothing to normalize:
# serialize(parse(x)) gives back the same bytes.
BYTE_EXACT = {
    "all_rejected_port0.sdp",
    "asterisk.sdp",
    "baresip.sdp",
    "dynamic_pcmu.sdp",
    "freeswitch.sdp",
    "g729_opus_only.sdp",
    "hold_inactive.sdp",
    "hold_rfc2543.sdp",
    "hold_sendonly.sdp",
    "ipv6.sdp",
    "media_overrides_session.sdp",
    "microsip.sdp",
    "missing_c.sdp",
    "pcma_only.sdp",
    "plivo.sdp",
    "port0_first_audio.sdp",
    "recvonly.sdp",
    "sdes_best_effort.sdp",
    "sdes_savp.sdp",
    "sdes_two_audio_lines.sdp",
    "session_level_sendonly.sdp",
    "t38_and_audio.sdp",
    "te_8000_and_48000.sdp",
    "telnyx.sdp",
    "threecx.sdp",
    "twilio.sdp",
    "video_audio.sdp",
    "video_first.sdp",
    "zoiper.sdp",
}


def load(name: str) -> SessionDescription:
    return SessionDescription.parse((DATA / name).read_bytes())


def test_fixture_set_is_complete() -> None:
    assert len(FIXTURES) >= 30
    assert BYTE_EXACT <= set(FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_round_trip(name: str) -> None:
    sd = load(name)
    again = SessionDescription.parse(sd.serialize())
    assert again == sd
    assert again.serialize() == sd.serialize()
    assert bytes(sd) == sd.serialize()


@pytest.mark.parametrize("name", FIXTURES)
def test_serialize_uses_crlf(name: str) -> None:
    out = load(name).serialize()
    assert out.endswith(b"\r\n")
    assert b"\n" not in out.replace(b"\r\n", b"")
    assert b"\r" not in out.replace(b"\r\n", b"")
    assert out.startswith(b"v=0\r\no=")


@pytest.mark.parametrize("name", sorted(BYTE_EXACT))
def test_byte_exact(name: str) -> None:
    data = (DATA / name).read_bytes()
    assert SessionDescription.parse(data).serialize() == data


@pytest.mark.parametrize("name", FIXTURES)
def test_parse_str_and_bytes_agree(name: str) -> None:
    data = (DATA / name).read_bytes()
    assert SessionDescription.parse(data.decode()) == SessionDescription.parse(data)
    assert SessionDescription.parse(bytearray(data)) == SessionDescription.parse(data)


def test_baresip_fields() -> None:
    sd = load("baresip.sdp")
    assert sd.version == 0
    assert sd.origin == Origin("-", "1887449155", 1174385429, "IN", "IP4", "192.168.0.104")
    assert sd.session_name == "-"
    assert sd.connection == Connection("192.168.0.104")
    assert sd.times == ["0 0"]
    [m] = sd.media
    assert (m.media, m.port, m.proto, m.formats) == ("audio", 10634, "RTP/AVP", ["0", "101"])
    assert m.port_count is None
    assert m.connection is None
    assert m.bandwidths == ["AS:64"]
    assert m.rtpmap() == {0: ("PCMU", 8000, None), 101: ("telephone-event", 8000, None)}
    assert m.fmtp(101) == "0-15"
    assert m.fmtp(0) is None
    assert m.direction == "sendrecv"
    assert m.attribute("label") == "1"
    assert m.attribute("rtcp-rsize") == ""
    assert m.attribute("nope") is None
    assert ("sendrecv", None) in m.attributes
    assert sd.direction(m) == "sendrecv"
    assert sd.connection_for(m) == Connection("192.168.0.104")


def test_attributes_keep_order_and_flags() -> None:
    m = load("linphone_avpf.sdp").media[0]
    assert m.attributes_named("candidate")[0].startswith("1 1 UDP 2130706431")
    assert len(m.attributes_named("candidate")) == 3
    assert m.attributes_named("rtcp-fb") == ["* trr-int 5000", "* ccm tmmbr"]
    assert [n for n, _ in m.attributes][:3] == ["rtpmap", "fmtp", "rtpmap"]
    assert m.rtpmap()[96] == ("opus", 48000, 2)
    sd = load("linphone_avpf.sdp")
    assert sd.attribute("ice-ufrag") == "4b2e1d0c"
    assert sd.attributes_named("rtcp-xr") == [
        "rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics"
    ]


def test_static_payload_types_without_rtpmap() -> None:
    # Zoiper lists 3, 8 and 0 with no a=rtpmap: RFC 3551 §6 fills them in.
    m = load("zoiper.sdp").media[0]
    assert m.rtpmap() == {
        3: ("GSM", 8000, None),
        110: ("speex", 8000, None),
        8: ("PCMA", 8000, None),
        0: ("PCMU", 8000, None),
        98: ("iLBC", 8000, None),
        101: ("telephone-event", 8000, None),
    }
    assert list(m.rtpmap()) == [3, 110, 8, 0, 98, 101]  # m= line order


def test_rtpmap_overrides_static_and_ignores_junk() -> None:
    m = MediaDescription(
        "audio",
        5000,
        "RTP/AVP",
        ["0", "96", "97", "98", "abc", "200", "99", "13"],
        attributes=[
            ("rtpmap", "0 pcmu/8000"),
            ("rtpmap", "96 PCMU/8000/1"),
            ("rtpmap", "96 PCMA/8000"),  # duplicate: first wins
            ("rtpmap", "97 PCMU"),  # no clock rate
            ("rtpmap", "98 PCMU/eight"),  # bad clock rate
            ("rtpmap", "abc PCMU/8000"),
            ("rtpmap", "55 PCMU/8000"),  # not on the m= line
            ("rtpmap", None),
            ("rtpmap", "99 L16/8000/x"),
        ],
    )
    assert m.rtpmap() == {0: ("pcmu", 8000, None), 96: ("PCMU", 8000, 1), 13: ("CN", 8000, None)}
    assert m.payload_types() == [0, 96, 97, 98, 99, 13]


def test_fmtp_lookup() -> None:
    m = load("te_8000_and_48000.sdp").media[0]
    assert m.fmtp(110) == "0-15"
    assert m.fmtp(101) == "0-11,16"
    assert load("linphone.sdp").media[0].fmtp(96) is None
    flag = MediaDescription("audio", 1, "RTP/AVP", ["101"], attributes=[("fmtp", "101")])
    assert flag.fmtp(101) == ""


def test_freeswitch_two_telephone_events() -> None:
    rtpmap = load("freeswitch.sdp").media[0].rtpmap()
    assert rtpmap[104] == ("telephone-event", 48000, None)
    assert rtpmap[101] == ("telephone-event", 8000, None)
    assert rtpmap[102] == ("opus", 48000, 2)


def test_session_level_direction_and_connection() -> None:
    sd = load("session_level_sendonly.sdp")
    [m] = sd.media
    assert m.direction is None
    assert sd.direction(m) == "sendonly"
    assert sd.connection_for(m) == Connection("198.51.100.1")

    sd = load("media_overrides_session.sdp")
    [m] = sd.media
    assert sd.direction(m) == "sendrecv"
    assert sd.connection_for(m) == Connection("198.51.100.2")
    assert sd.connection == Connection("198.51.100.1")


def test_default_direction_is_sendrecv() -> None:
    sd = load("hold_rfc2543.sdp")
    assert sd.direction(sd.media[0]) == "sendrecv"
    assert sd.connection_for(sd.media[0]) == Connection("0.0.0.0")


def test_media_level_connection_only() -> None:
    sd = load("microsip.sdp")
    assert sd.connection is None
    assert sd.connection_for(sd.media[0]) == Connection("192.168.1.60")
    assert sd.media[0].attribute("rtcp") == "4013 IN IP4 192.168.1.60"
    assert sd.attribute("X-nat") == "0"
    assert sd.bandwidths == ["AS:84"]


def test_ipv6() -> None:
    sd = load("ipv6.sdp")
    assert sd.origin.addrtype == "IP6"
    assert sd.connection == Connection("2001:db8::20", "IN", "IP6")


def test_missing_connection_parses() -> None:
    sd = load("missing_c.sdp")
    assert sd.connection is None
    assert sd.connection_for(sd.media[0]) is None


def test_multicast_and_rarely_used_lines() -> None:
    sd = load("multicast_extras.sdp")
    assert sd.origin.username == "jdoe"
    assert sd.info == "A Seminar on the session description protocol"
    assert sd.uri == "http://www.example.com/seminars/sdp.pdf"
    assert sd.emails == ["j.doe@example.com (Jane Doe)"]
    assert sd.phones == ["+1 617 555-6011"]
    assert sd.connection == Connection("224.2.17.12")  # /ttl dropped
    assert sd.bandwidths == ["CT:1000"]
    assert sd.times == ["2873397496 2873404696", "2873397500 2873404700"]
    assert sd.repeats == [(0, "7d 1h 0 25h")]
    assert sd.time_zones == "2882844526 -1h 2898848070 0"
    assert sd.key == "clear:secret"
    audio, video = sd.media
    assert (audio.port, audio.port_count) == (49170, 2)
    assert audio.info == "main audio"
    assert audio.connection == Connection("224.2.17.12")
    assert audio.key == "prompt"
    assert audio.other_lines == [("y", "unknown line kept verbatim")]
    assert video.rtpmap() == {99: ("h263-1998", 90000, None)}
    out = sd.serialize()
    assert b"r=7d 1h 0 25h\r\nt=2873397500" in out
    assert b"m=audio 49170/2 RTP/AVP 0\r\ni=main audio\r\nc=IN IP4 224.2.17.12\r\n" in out


def test_odd_whitespace_and_lf() -> None:
    sd = load("odd_whitespace_lf.sdp")
    assert sd.origin == Origin("-", "555", 556, address="192.0.2.9")
    assert sd.session_name == ""
    assert sd.connection == Connection("192.0.2.9")
    [m] = sd.media
    assert m.formats == ["8", "0", "101"]
    assert m.rtpmap()[0] == ("PCMU", 8000, None)
    assert m.fmtp(101) == "0-16"
    assert m.attribute("ptime") == "20"
    assert m.direction == "sendrecv"


def test_mixed_line_endings() -> None:
    sd = load("mixed_line_endings.sdp")
    assert sd.connection == Connection("192.0.2.10")
    assert sd.times == ["0 0"]
    assert sd.media[0].fmtp(101) == "0-15"


def test_t38_formats_are_not_integers() -> None:
    image, audio = load("t38_and_audio.sdp").media
    assert image.formats == ["t38"]
    assert image.rtpmap() == {}
    assert image.attribute("T38MaxBitRate") == "14400"
    assert audio.formats == ["0", "8", "x-foo", "101"]
    assert list(audio.rtpmap()) == [0, 8, 101]


def test_lenient_inputs() -> None:
    base = "v=0\no=- 1 2 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\n"
    sd = SessionDescription.parse(base)
    assert sd.session_name == "-"  # s= missing
    assert sd.times == ["0 0"]  # t= missing
    # UTF-8 BOM, blank lines, whitespace around lines and types.
    sd2 = SessionDescription.parse("\ufeff\n\n  " + base.replace("c=", "c =") + "\n\n")
    assert sd2 == sd
    # Session-section lines in any order.
    shuffled = (
        "v=0\nc=IN IP4 192.0.2.1\nt=0 0\ns=x\no=- 1 2 IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\n"
    )
    assert SessionDescription.parse(shuffled).session_name == "x"
    # Username with a space, which the RFC forbids but phones send.
    origin = SessionDescription.parse(base.replace("o=-", "o=John Doe")).origin
    assert origin.username == "John Doe"
    assert origin.session_id == "1"
    # Unknown line types are kept.
    sd3 = SessionDescription.parse(base.replace("c=", "y=hello\nc="))
    assert sd3.other_lines == [("y", "hello")]
    assert b"y=hello\r\n" in sd3.serialize()


def test_latin1_fallback() -> None:
    data = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=T\xe9l\xe9phone\r\nt=0 0\r\n"
    sd = SessionDescription.parse(data)
    assert sd.session_name == "Téléphone"
    assert SessionDescription.parse(sd.serialize()) == sd
    assert "Téléphone".encode() in sd.serialize()


def test_attribute_values() -> None:
    sd = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n"
        "a=empty:\r\na=flag\r\na=colons:a:b:c\r\na= spaced : value \r\n"
    )
    m = sd.media[0]
    assert m.attributes == [
        ("empty", ""),
        ("flag", None),
        ("colons", "a:b:c"),
        ("spaced", "value"),
    ]
    assert m.attribute("empty") == ""
    assert m.attribute("flag") == ""
    assert m.attributes_named("flag") == [""]
    assert b"a=empty:\r\na=flag\r\na=colons:a:b:c\r\na=spaced:value\r\n" in sd.serialize()


def test_direction_first_one_wins() -> None:
    m = MediaDescription(
        "audio",
        1,
        "RTP/AVP",
        ["0"],
        attributes=[("x", None), ("inactive", None), ("sendrecv", None)],
    )
    assert m.direction == "inactive"


def test_build_and_serialize() -> None:
    sd = SessionDescription(
        origin=Origin("sipgw", "42", 7, address="192.0.2.5"),
        connection=Connection("192.0.2.5"),
        media=[
            MediaDescription(
                "audio", 4000, "RTP/AVP", ["0"], attributes=[("rtpmap", "0 PCMU/8000")]
            )
        ],
    )
    assert sd.serialize() == (
        b"v=0\r\no=sipgw 42 7 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    assert SessionDescription.parse(sd.serialize()) == sd


def test_huge_version_number() -> None:
    version = 2**70
    sd = SessionDescription.parse(f"v=0\no=- 1 {version} IN IP4 h\ns=-\nt=0 0\n")
    assert sd.origin.session_version == version


BAD = {
    "empty": b"",
    "only whitespace": b"  \r\n\r\n ",
    "no v=": b"o=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n",
    "v= not first": b"s=-\r\nv=0\r\no=- 1 1 IN IP4 h\r\n",
    "bad version": b"v=zero\r\no=- 1 1 IN IP4 h\r\n",
    "no o=": b"v=0\r\ns=-\r\nt=0 0\r\n",
    "short o=": b"v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n",
    "o= version not a number": b"v=0\r\no=- 1 x IN IP4 h\r\ns=-\r\n",
    "o= version with 5000 digits": b"v=0\r\no=- 1 " + b"9" * 5000 + b" IN IP4 h\r\n",
    "two o=": b"v=0\r\no=- 1 1 IN IP4 h\r\no=- 1 1 IN IP4 h\r\n",
    "two v=": b"v=0\r\no=- 1 1 IN IP4 h\r\nv=0\r\n",
    "two s=": b"v=0\r\no=- 1 1 IN IP4 h\r\ns=a\r\ns=b\r\n",
    "two session c=": b"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 a\r\nc=IN IP4 b\r\n",
    "two media c=": (
        b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 a\r\nc=IN IP4 b\r\n"
    ),
    "short c=": b"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4\r\n",
    "c= empty address": b"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 /127\r\n",
    "no equals": b"v=0\r\no=- 1 1 IN IP4 h\r\nhello world\r\n",
    "long type": b"v=0\r\no=- 1 1 IN IP4 h\r\nab=c\r\n",
    "digit type": b"v=0\r\no=- 1 1 IN IP4 h\r\n1=c\r\n",
    "short m=": b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 4000\r\n",
    "m= port not a number": b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio x RTP/AVP 0\r\n",
    "m= port too big": b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 65536 RTP/AVP 0\r\n",
    "m= port negative": b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio -1 RTP/AVP 0\r\n",
    "m= bad port count": b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 4000/x RTP/AVP 0\r\n",
    "m= unicode digits": "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio ٤٠٠٠ RTP/AVP 0\r\n".encode(),
    "r= before t=": b"v=0\r\no=- 1 1 IN IP4 h\r\nr=7d 1h 0 25h\r\n",
    "two media i=": b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\ni=a\r\ni=b\r\n",
    "binary": bytes(range(256)),
    "sip message": b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n",
}


@pytest.mark.parametrize("data", BAD.values(), ids=BAD.keys())
def test_garbage_is_sdp_error_400(data: bytes) -> None:
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(data)
    assert info.value.status_hint == 400


def test_wrong_input_type_is_sdp_error() -> None:
    with pytest.raises(SdpError):
        SessionDescription.parse(12345)  # type: ignore[arg-type]


def test_module_is_sans_io() -> None:
    source = pathlib.Path(sdp.__file__).read_text()
    assert not re.search(r"^\s*(import|from)\s+(asyncio|socket)\b", source, re.M)


def test_all_is_exported() -> None:
    for name in sdp.__all__:
        assert hasattr(sdp, name)


# --- Hypothesis: mangled SDP never raises anything but SdpError ----------------

FIXTURE_TEXT = {name: (DATA / name).read_text(encoding="utf-8") for name in FIXTURES}
_LINE_BREAK = re.compile(r"\r\n|\n|\r")

TRICKY_LINES = [
    "v=0",
    "v=1",
    "o=",
    "o=- x y IN IP4 h",
    "o=- 1 99999999999999999999999999999999999 IN IP4 h",
    "s=",
    "c=IN",
    "c=IN IP4",
    "c=IN IP4 0.0.0.0",
    "c=IN IP6 ::",
    "c=IN IP4 224.0.0.1/127/3",
    "t=",
    "r=1 2 3",
    "m=",
    "m=audio",
    "m=audio abc RTP/AVP 0",
    "m=audio 70000 RTP/AVP 0",
    "m=audio 0 RTP/AVP",
    "m=audio 5000 RTP/AVP",
    "m=audio 5000/0 RTP/AVP 0 8",
    "m=audio 5000 RTP/SAVP 0",
    "m=audio 65535 RTP/AVP 0",
    "m=audio 4000 RTP/AVP 127 128 -1 1e3",
    "a=rtpmap:",
    "a=rtpmap:0",
    "a=rtpmap:0 PCMU",
    "a=rtpmap:0 PCMU/",
    "a=rtpmap:0 PCMU/8000/",
    "a=rtpmap:0 telephone-event/8000",
    "a=rtpmap:101 PCMU/8000",
    "a=rtpmap:99999999999 PCMU/8000",
    "a=fmtp:",
    "a=fmtp:101",
    "a=ptime:",
    "a=ptime:-20",
    "a=ptime:1e9",
    "a=ptime:20.5",
    "a=ptime:99999999999999999999",
    "a=maxptime:0",
    "a=maxptime:5",
    "a=rtcp:",
    "a=rtcp:abc",
    "a=rtcp:70000",
    "a=rtcp-mux",
    "a=sendonly",
    "a=recvonly",
    "a=inactive",
    "a=",
    "a=:",
    "=",
    "x",
    "\x00",
    "a=\ufffd",
]


@st.composite
def mangled_sdp(draw: st.DrawFn, texts: list[str] | None = None) -> bytes | str:
    """Draw one of ``texts`` (default: every fixture) with lines dropped, duplicated,
    swapped, truncated or replaced by garbage, random line endings and stray bytes."""
    text = draw(st.sampled_from(texts or [FIXTURE_TEXT[name] for name in FIXTURES]))
    lines = [line for line in _LINE_BREAK.split(text) if line]
    garbage = st.one_of(st.sampled_from(TRICKY_LINES), st.text(max_size=30))
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["drop", "dup", "insert", "replace", "truncate", "value", "swap"]),
                st.integers(min_value=0, max_value=10_000),
                garbage,
            ),
            max_size=8,
        )
    )
    for op, position, junk in ops:
        if not lines:
            lines.append(junk)
            continue
        i = position % len(lines)
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(position % (len(lines) + 1), lines[i])
        elif op == "insert":
            lines.insert(i, junk)
        elif op == "replace":
            lines[i] = junk
        elif op == "truncate":
            lines[i] = lines[i][: position % (len(lines[i]) + 1)]
        elif op == "value":
            lines[i] = lines[i].split("=", 1)[0] + "=" + junk
        else:
            j = (i + 1) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
    eol = draw(st.sampled_from(["\r\n", "\n", "\r", " \r\n"]))
    body = eol.join(lines) + draw(st.sampled_from(["", eol]))
    if draw(st.booleans()):
        return body
    raw = body.encode("utf-8")
    noise = draw(st.binary(max_size=4))
    cut = draw(st.integers(min_value=0, max_value=len(raw)))
    return raw[:cut] + noise + raw[cut:]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_sdp())
def test_mangled_sdp_only_raises_sdp_error(data: bytes | str) -> None:
    try:
        sd = SessionDescription.parse(data)
    except SdpError as exc:
        assert exc.status_hint == 400
        return
    # Whatever was accepted serializes and parses back to the same thing.
    again = SessionDescription.parse(sd.serialize())
    assert again == sd
    for media in sd.media:
        media.rtpmap()
        media.fmtp(101)
        sd.direction(media)
        sd.connection_for(media)
