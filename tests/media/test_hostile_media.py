"""Any datagram on a call's RTP port: never an exception, always counted (Hypothesis).

RTP with lying padding, extension or CSRC lengths, RTCP (PT 200-204) on the
RTP port, STUN, short and wrong-version packets: each is counted and dropped
(RTCP counted as RTCP), and the session keeps playing.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.media.codecs import OPUS
from sipgw.media.rtp import RtpPacket, RtpParseError
from sipgw.media.session import STUN_MAGIC_COOKIE, MediaSession, StreamParams, is_stun
from sipgw.media.srtp import SrtpContext, SrtpKeying
from sipgw.media.tones.dtmf import DtmfParseError, DtmfReceiver, TelephoneEvent

PEER = ("192.0.2.20", 40000)


def session(**params: object) -> MediaSession:
    values: dict[str, object] = {"remote": PEER, "telephone_event_pt": 101}
    values.update(params)
    return MediaSession(StreamParams(**values), now=0.0)  # type: ignore[arg-type]


def rtp_header(first: int, pt: int, seq: int = 1) -> bytes:
    return struct.pack("!BBHII", first, pt, seq, seq * 160, 7)


@st.composite
def hostile_datagrams(draw: st.DrawFn) -> bytes:
    """RTP-shaped datagrams whose length fields lie, RTCP, STUN, or noise."""
    kind = draw(st.sampled_from(["rtp", "rtcp", "stun", "noise"]))
    tail = draw(st.binary(max_size=200))
    if kind == "rtp":
        first = draw(st.integers(0, 255))  # version, P, X and CC all drawn
        pt = draw(st.sampled_from([0, 8, 101, 13, 0x80, 0xE5]))
        return rtp_header(first, pt, draw(st.integers(0, 0xFFFF))) + tail
    if kind == "rtcp":
        pt = draw(st.integers(200, 206))
        return bytes((0x80 | draw(st.integers(0, 31)), pt)) + tail
    if kind == "stun":
        return b"\x00\x01" + draw(st.binary(min_size=2, max_size=2)) + STUN_MAGIC_COOKIE + tail
    return tail


@settings(max_examples=400)
@given(st.lists(hostile_datagrams(), max_size=20))
def test_session_receive_never_raises_and_counts_every_datagram(datagrams):
    s = session()
    for n, data in enumerate(datagrams):
        s.receive(data, PEER, n * 0.02)
        s.poll_ingress(n * 0.02)
    stats = s.stats
    assert stats.packets_in == len(datagrams)
    dropped = stats.invalid + stats.unknown_payload + stats.rtcp + stats.stun + stats.foreign
    assert dropped <= len(datagrams)
    assert stats.stun == sum(is_stun(d) for d in datagrams)
    s.take_digits()


@settings(max_examples=300)
@given(st.lists(hostile_datagrams(), max_size=10))
def test_srtp_session_drops_forged_packets_without_raising(datagrams):
    key = bytes(range(30))
    keying = SrtpKeying("AES_CM_128_HMAC_SHA1_80", key)
    s = session(srtp=(keying, keying))
    for data in datagrams:
        s.receive(data, PEER, 0.0)
    assert s.stats.packets_in == len(datagrams)
    assert s.latched is None  # nothing forged got through authentication


@settings(max_examples=300)
@given(st.binary(max_size=120))
def test_srtp_unprotect_returns_none_for_any_bytes(data):
    keying = SrtpKeying("AES_CM_128_HMAC_SHA1_80", bytes(30))
    context = SrtpContext(outbound=keying, inbound=keying)
    assert context.unprotect(data) is None  # an 80-bit tag no random input matches
    assert context.unprotect_rtcp(data) is None
    assert context.stats.dropped >= 2 * (len(data) > 0)


@settings(max_examples=300)
@given(st.integers(0, 255), st.binary(max_size=80), st.integers(0, 255))
def test_rtp_length_fields_that_lie_raise_only_rtp_parse_error(first, body, padding):
    data = rtp_header(0x80 | (first & 0x3F), 0) + body + bytes((padding,))
    try:
        packet = RtpPacket.parse(data)
    except RtpParseError:
        return
    assert len(packet.csrc) == first & 0x0F
    assert len(packet.payload) <= len(data) - 12


@given(st.binary(max_size=12))
def test_telephone_event_parse_raises_only_dtmf_parse_error(data):
    try:
        event = TelephoneEvent.parse(data)
    except DtmfParseError:
        return
    assert TelephoneEvent.parse(event.serialize()) == event


@settings(max_examples=200)
@given(st.lists(st.tuples(st.binary(max_size=8), st.integers(0, 0xFFFF), st.booleans())))
def test_dtmf_receiver_takes_any_event_payloads(events):
    receiver = DtmfReceiver()
    for payload, timestamp, marker in events:
        packet = RtpPacket(payload_type=101, timestamp=timestamp, marker=marker, payload=payload)
        digit = receiver.push(packet)
        assert digit is None or digit in "0123456789*#ABCD!"


@settings(max_examples=100)
@given(st.lists(hostile_datagrams(), max_size=20))
def test_an_opus_session_takes_any_datagrams(datagrams):
    """Issue 43: Opus's edge decoder (libopus through PyAV) under the same datagrams (its
    payload type is 0 here, so they reach it), empty payloads among them."""
    s = session(codec=OPUS, payload_type=0)
    s.on_audio = lambda frame: None
    for n, data in enumerate(datagrams):
        s.receive(data, PEER, n * 0.02)
        s.poll_ingress(n * 0.02)
        s.caller_frame(n * 0.02)
        s.packets_for(None, n * 0.02)
    assert s.stats.packets_in == len(datagrams)
