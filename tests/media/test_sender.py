"""The outbound RTP stream: continuity, marker bits, ptime cadence, RFC 4733 DTMF."""

from __future__ import annotations

import random

import pytest

from sipgw.media.codecs import OPUS, PCMA, Codec
from sipgw.media.rtp import RtpPacket
from sipgw.media.sender import DtmfNotNegotiatedError, RtpStreamSender
from sipgw.media.tones.dtmf import TelephoneEvent

AUDIO = bytes(range(160))
TE = 101


WIDE = Codec("L16", None, clock_rate=16000, sample_rate=16000, silence_octet=0)
"""A codec on a 16 kHz RTP clock: the sender counts 160 octets of an 8000 Hz one a tick."""


def make(**kwargs: object) -> RtpStreamSender:
    defaults: dict[str, object] = {
        "payload_type": 0,
        "ssrc": 0x1234,
        "initial_sequence": 1000,
        "initial_timestamp": 50_000,
        "telephone_event_pt": TE,
    }
    defaults.update(kwargs)
    return RtpStreamSender(**defaults)  # type: ignore[arg-type]


def parsed(data: list[bytes]) -> list[RtpPacket]:
    return [RtpPacket.parse(d) for d in data]


def test_first_packet() -> None:
    s = make()
    (p,) = parsed(s.push_frame(AUDIO))
    assert p == RtpPacket(0, 1000, 50_000, 0x1234, True, AUDIO)
    assert (s.sequence, s.timestamp, s.packets_sent, s.octets_sent) == (1001, 50_160, 1, 160)
    assert s.ssrc == 0x1234


def test_silence_frame_for_none() -> None:
    s = make(payload_type=8, codec=PCMA)
    (p,) = parsed(s.push_frame(None))
    assert p.payload == b"\xd5" * 160
    assert p.payload_type == 8
    assert p.marker  # very first packet


def test_random_initial_values() -> None:
    a = RtpStreamSender(payload_type=0, rng=random.Random(1))
    b = RtpStreamSender(payload_type=0, rng=random.Random(2))
    assert (a.ssrc, a.sequence, a.timestamp) != (b.ssrc, b.sequence, b.timestamp)
    for seed in range(50):
        assert RtpStreamSender(payload_type=0, rng=random.Random(seed)).sequence < 0x8000
    assert 0 <= RtpStreamSender(payload_type=0).ssrc < 2**32


def test_continuity_over_100k_frames_with_wraps() -> None:
    rng = random.Random(7)
    s = make(initial_sequence=65000, initial_timestamp=2**32 - 160 * 1000)
    prev: RtpPacket | None = None
    wraps_seq = wraps_ts = 0
    for _ in range(100_000):
        (data,) = s.push_frame(AUDIO if rng.random() < 0.6 else None)
        p = RtpPacket.parse(data)
        if prev is not None:
            assert p.sequence_number == (prev.sequence_number + 1) & 0xFFFF
            assert p.timestamp == (prev.timestamp + 160) & 0xFFFFFFFF
            wraps_seq += p.sequence_number < prev.sequence_number
            wraps_ts += p.timestamp < prev.timestamp
        assert p.ssrc == 0x1234
        prev = p
    assert wraps_seq == 2 and wraps_ts == 1
    assert s.packets_sent == 100_000
    assert s.octets_sent == 160 * 100_000


def test_marker_on_talkspurt_starts_only() -> None:
    s = make()
    pattern = "SSAAASAASSSAAAAS"  # S = None, A = agent audio
    markers = [parsed(s.push_frame(AUDIO if c == "A" else None))[0].marker for c in pattern]
    expected = [i == 0 or (c == "A" and pattern[i - 1] == "S") for i, c in enumerate(pattern)]
    assert markers == expected
    assert sum(markers) == 4


def test_marker_first_packet_when_audio_first() -> None:
    s = make()
    markers = [parsed(s.push_frame(f))[0].marker for f in (AUDIO, AUDIO, None, AUDIO)]
    assert markers == [True, False, False, True]


def test_frame_length_checked() -> None:
    s = make()
    with pytest.raises(ValueError, match="160 bytes"):
        s.push_frame(b"\xff" * 100)


@pytest.mark.parametrize(
    ("ptime", "counts"),
    [
        (10, [2, 2, 2, 2, 2, 2]),
        (20, [1, 1, 1, 1, 1, 1]),
        (30, [0, 1, 1, 0, 1, 1]),
        (40, [0, 1, 0, 1, 0, 1]),
        (60, [0, 0, 1, 0, 0, 1]),
    ],
)
def test_ptime_cadence(ptime: int, counts: list[int]) -> None:
    s = make(ptime_ms=ptime)
    samples = ptime * 8
    got = []
    packets: list[RtpPacket] = []
    frames = []
    for i in range(60):
        frame = bytes([i]) * 160
        frames.append(frame)
        out = parsed(s.push_frame(frame))
        got.append(len(out))
        packets += out
    assert got[:6] == counts
    assert sum(got) * samples == 60 * 160
    for i, p in enumerate(packets):
        assert p.sequence_number == 1000 + i
        assert p.timestamp == 50_000 + i * samples
        assert len(p.payload) == samples
        assert p.marker is (i == 0)
    assert b"".join(p.payload for p in packets) == b"".join(frames)


def test_ptime_marker_lands_on_packet_with_first_audio() -> None:
    s = make(ptime_ms=30)
    out = parsed(s.push_frame(None) + s.push_frame(None) + s.push_frame(None))
    assert [p.marker for p in out] == [True, False]
    out = parsed(s.push_frame(None) + s.push_frame(AUDIO) + s.push_frame(AUDIO))
    # 160 silence + 80 audio, then 240 audio
    assert [p.marker for p in out] == [True, False]
    assert out[0].payload == b"\xff" * 160 + AUDIO[:80]


def test_skip_advances_timestamp_and_marks() -> None:
    s = make()
    s.push_frame(AUDIO)
    s.skip(0)
    s.skip(3)
    (p,) = parsed(s.push_frame(AUDIO))
    assert p.sequence_number == 1001
    assert p.timestamp == 50_000 + 4 * 160
    assert p.marker
    (p,) = parsed(s.push_frame(AUDIO))
    assert not p.marker


def events(packets: list[RtpPacket]) -> list[tuple[bool, int, int, bool]]:
    """(marker, timestamp, duration, end) of each telephone-event packet."""
    out = []
    for p in packets:
        assert p.payload_type == TE
        e = TelephoneEvent.parse(p.payload)
        out.append((p.marker, p.timestamp, e.duration, e.end))
    return out


def test_dtmf_packet_sequence_rfc4733() -> None:
    s = make()
    s.push_frame(AUDIO)  # ts 50000
    s.send_dtmf("5", duration_ms=100, gap_ms=60, volume=12)
    assert s.dtmf_pending
    ticks = [parsed(s.push_frame(AUDIO)) for _ in range(10)]
    assert all(len(t) == 1 for t in ticks)
    evt = [t[0] for t in ticks[:7]]
    start = 50_160
    assert events(evt) == [
        (True, start, 160, False),
        (False, start, 320, False),
        (False, start, 480, False),
        (False, start, 640, False),
        (False, start, 800, True),
        (False, start, 800, True),
        (False, start, 800, True),
    ]
    for p in evt:
        e = TelephoneEvent.parse(p.payload)
        assert (e.event, e.volume) == (5, 12)
        assert p.ssrc == 0x1234
    assert [p.sequence_number for t in ticks for p in t] == list(range(1001, 1011))
    # audio resumes in the rest of the 60 ms gap, on the media clock, with a marker
    audio = ticks[7][0]
    assert audio.payload_type == 0
    assert audio.timestamp == start + 7 * 160
    assert audio.marker
    assert not ticks[8][0].marker
    assert not s.dtmf_pending


def test_dtmf_two_digits_gap() -> None:
    s = make()
    s.send_dtmf("1#", duration_ms=100, gap_ms=60)
    out = [parsed(s.push_frame(None)) for _ in range(20)]
    flat = [p for t in out for p in t]
    kinds = ["E" if p.payload_type == TE else "A" for p in flat]
    assert "".join(kinds) == "EEEEEEE" + "A" + "EEEEEEE" + "AAAAA"
    first, second = flat[0], flat[8]
    assert second.timestamp - first.timestamp == 800 + 480  # tone + 60 ms gap
    assert TelephoneEvent.parse(second.payload).event == 11
    assert second.marker
    assert [p.sequence_number for p in flat] == list(range(1000, 1020))
    assert [p.timestamp for p in flat if p.payload_type == 0] == [
        50_000 + i * 160 for i in (7, 15, 16, 17, 18, 19)
    ]


def test_dtmf_ptime_40_reports_every_packet_interval() -> None:
    s = make(ptime_ms=40)
    s.push_frame(AUDIO)  # 160 samples buffered, not yet sent
    s.send_dtmf("2", duration_ms=200, gap_ms=100)
    counts = []
    flat = []
    for _ in range(16):
        out = parsed(s.push_frame(AUDIO))
        counts.append(len(out))
        flat += out
    ev = [p for p in flat if p.payload_type == TE]
    # the buffered 20 ms of audio becomes the event's first 20 ms
    assert {p.timestamp for p in ev} == {50_000}
    assert [
        (TelephoneEvent.parse(p.payload).duration, TelephoneEvent.parse(p.payload).end) for p in ev
    ] == [
        (320, False),
        (640, False),
        (960, False),
        (1280, False),
        (1600, True),
        (1600, True),
        (1600, True),
    ]
    # tone for 200 ms, then the end packet twice more at the 40 ms cadence,
    # then 20 ms of gap left: audio resumes on the 40 ms packet grid
    assert counts == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    (audio,) = [p for p in flat if p.payload_type == 0]
    assert audio.marker
    assert audio.timestamp == 50_000 + 2240  # event start + the event's time on the media clock
    assert len(audio.payload) == 320


def test_dtmf_skip_during_event_counts_time() -> None:
    s = make()
    s.send_dtmf("3", duration_ms=100)
    s.push_frame(None)  # duration 160
    s.skip(3)
    (p,) = parsed(s.push_frame(None))
    e = TelephoneEvent.parse(p.payload)
    assert (e.duration, e.end) == (800, True)
    assert not p.marker


def test_dtmf_requires_telephone_event() -> None:
    s = make(telephone_event_pt=None)
    with pytest.raises(DtmfNotNegotiatedError):
        s.send_dtmf("1")
    assert issubclass(DtmfNotNegotiatedError, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [{"duration_ms": 0}, {"duration_ms": 9000}, {"gap_ms": -1}, {"volume": 64}],
)
def test_dtmf_parameter_validation(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        make().send_dtmf("1", **kwargs)


def test_dtmf_invalid_digit_queues_nothing() -> None:
    s = make()
    with pytest.raises(ValueError):
        s.send_dtmf("12x")
    assert not s.dtmf_pending
    s.send_dtmf("")
    assert not s.dtmf_pending


def test_renegotiation_setters() -> None:
    s = make()
    s.send_dtmf("1")
    s.push_frame(None)
    s.telephone_event_pt = None  # cancels the event
    assert not s.dtmf_pending
    s.telephone_event_pt = None
    s.payload_type = 8
    s.codec = PCMA
    (p,) = parsed(s.push_frame(None))
    assert (p.payload_type, p.payload, p.marker) == (8, b"\xd5" * 160, True)
    assert p.sequence_number == 1001
    assert s.codec is PCMA and s.telephone_event_pt is None
    with pytest.raises(ValueError):
        s.payload_type = 128
    with pytest.raises(ValueError):
        s.telephone_event_pt = 200


@pytest.mark.parametrize(
    "kwargs",
    [{"payload_type": 128}, {"ptime_ms": 0}, {"telephone_event_pt": -1}, {"codec": WIDE}],
)
def test_constructor_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make(**kwargs)


def test_dtmf_zero_gap_and_audio_in_gap() -> None:
    s = make()
    s.send_dtmf("9", duration_ms=40, gap_ms=0)
    kinds = []
    for i in range(8):
        out = parsed(s.push_frame(AUDIO if i >= 4 else None))
        kinds += [(p.payload_type, p.marker) for p in out]
    # 2 ticks of tone, end packet x3 (the gap is shorter than the retransmissions)
    assert kinds == [(TE, True), (TE, False), (TE, False), (TE, False)] + [
        (0, True),
        (0, False),
        (0, False),
        (0, False),
    ]
    assert not s.dtmf_pending


def test_dtmf_audio_talkspurt_in_long_gap_and_skip_in_gap() -> None:
    s = make()
    s.send_dtmf("1", duration_ms=40, gap_ms=200)
    frames: list[bytes | None] = [None, None, None, None, None, None, AUDIO, AUDIO]  # 4 event ticks
    out = [p for f in frames for p in parsed(s.push_frame(f))]
    audio = [p for p in out if p.payload_type == 0]
    # the first packet after the event, then the talkspurt start
    assert [p.marker for p in audio] == [True, False, True, False]
    assert s.dtmf_pending
    s.skip(10)  # the rest of the gap passes during a stall
    (p,) = parsed(s.push_frame(AUDIO))
    assert p.marker and p.payload_type == 0
    assert not s.dtmf_pending
    with pytest.raises(ValueError):
        s.send_dtmf("1")
        s.push_frame(b"\x00")


def test_dtmf_skip_during_end_retransmissions() -> None:
    s = make()
    s.send_dtmf("4", duration_ms=40, gap_ms=100)
    out = parsed(s.push_frame(None) + s.push_frame(None))  # 160, 320 = end
    assert TelephoneEvent.parse(out[-1].payload).end
    s.skip(4)
    (p,) = parsed(s.push_frame(None))
    e = TelephoneEvent.parse(p.payload)
    assert e.end and e.duration == 320  # the final duration is repeated
    (p,) = parsed(s.push_frame(None))
    assert TelephoneEvent.parse(p.payload).end
    (p,) = parsed(s.push_frame(None))
    assert p.payload_type == 0  # gap used up by the stall
    assert p.timestamp == 50_000 + 8 * 160  # 2 ticks, 4 skipped, 2 ticks
    assert s.payload_type == 0


def test_an_opaque_codec_sends_each_frame_as_one_packet_on_its_own_clock() -> None:
    # Opus (RFC 7587 §4.1): one packet a 20 ms frame whatever the ptime, 960 ticks of 48 kHz
    s = make(codec=OPUS, payload_type=111, ptime_ms=40)
    sent = parsed(s.push_frame(b"\x48\x01\x02"))
    sent += parsed(s.push_frame(None, silence=b"\x48\x00"))
    sent += parsed(s.push_frame(b"\x48\x03"))
    assert [p.payload for p in sent] == [b"\x48\x01\x02", b"\x48\x00", b"\x48\x03"]
    assert [p.timestamp - 50_000 for p in sent] == [0, 960, 1920]
    assert [p.marker for p in sent] == [True, False, True]  # talkspurts still marked
    assert s.octets_sent == 7 and s.timestamp == 50_000 + 3 * 960
    s.skip(2)
    (after,) = parsed(s.push_frame(b"\x48\x04"))
    assert after.timestamp == 50_000 + 5 * 960 and after.marker
    with pytest.raises(ValueError, match="OPUS: the packet of silence must be given"):
        s.push_frame(None)


def test_dtmf_on_an_opus_stream_counts_in_its_48_khz_clock() -> None:
    # RFC 4733 §2.1: telephone-event/48000 beside Opus, durations in 48 kHz ticks
    s = make(codec=OPUS, payload_type=111)
    s.push_frame(b"\x48\x01")  # ts 50000
    s.send_dtmf("9", duration_ms=60, gap_ms=20)
    ticks = [parsed(s.push_frame(b"\x48\x02")) for _ in range(7)]
    assert events([t[0] for t in ticks[:5]]) == [
        (True, 50_960, 960, False),
        (False, 50_960, 1920, False),
        (False, 50_960, 2880, True),  # 60 ms: the end, sent three times (§2.5.1.4)
        (False, 50_960, 2880, True),
        (False, 50_960, 2880, True),
    ]
    audio = [t[0] for t in ticks[5:]]
    assert [(p.payload_type, p.payload, p.marker) for p in audio] == [
        (111, b"\x48\x02", True), (111, b"\x48\x02", False),
    ]  # fmt: skip
    assert [p.timestamp - 50_000 for p in audio] == [6 * 960, 7 * 960]
    with pytest.raises(ValueError, match=r"duration_ms must be in 1\.\.1365"):
        s.send_dtmf("1", duration_ms=1400)
