"""RFC 4733 telephone-event payloads and the digit receiver."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipgw.media.rtp import RtpPacket
from sipgw.media.tones.dtmf import (
    EVENT_CODES,
    EVENT_FLASH,
    DtmfParseError,
    DtmfReceiver,
    TelephoneEvent,
    digit_to_event,
    event_to_digit,
)

PT = 101


def test_payload_layout() -> None:
    # event 5, E=1, R=0, volume 10, duration 800 (RFC 4733 §2.3)
    assert TelephoneEvent(5, True, 10, 800).serialize() == bytes.fromhex("058a0320")
    assert TelephoneEvent.parse(bytes.fromhex("058a0320")) == TelephoneEvent(5, True, 10, 800)
    # R bit set: ignored by the receiver
    assert TelephoneEvent.parse(bytes.fromhex("0b4a00a0")) == TelephoneEvent(11, False, 10, 160)
    assert bytes(TelephoneEvent(EVENT_FLASH)) == bytes.fromhex("100a0000")


def test_parse_truncated() -> None:
    with pytest.raises(DtmfParseError) as exc_info:
        TelephoneEvent.parse(b"\x01\x02\x03")
    assert str(exc_info.value) == "telephone-event payload is truncated"


@pytest.mark.parametrize(
    ("event", "volume", "duration"),
    [(256, 10, 0), (-1, 10, 0), (1, 64, 0), (1, -1, 0), (1, 10, 65536), (1, 10, -1)],
)
def test_event_validation(event: int, volume: int, duration: int) -> None:
    with pytest.raises(ValueError):
        TelephoneEvent(event, False, volume, duration)


@given(st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
def test_round_trip(event: int, end: bool, volume: int, duration: int) -> None:
    e = TelephoneEvent(event, end, volume, duration)
    assert TelephoneEvent.parse(e.serialize()) == e


def test_digit_mapping() -> None:
    assert EVENT_CODES == "0123456789*#ABCD"
    assert [event_to_digit(i) for i in range(16)] == list(EVENT_CODES)
    assert event_to_digit(EVENT_FLASH) is None
    assert digit_to_event("#") == 11
    assert digit_to_event("d") == 15
    for bad in ("", "E", "12", ","):
        with pytest.raises(ValueError):
            digit_to_event(bad)


def event_packets(
    digit: str,
    seq: int,
    ts: int,
    *,
    updates: int = 9,
    ends: int = 3,
    step: int = 160,
    ssrc: int = 0xABC,
) -> list[RtpPacket]:
    """A baresip-like event: marker on the first, growing duration, three end packets."""
    code = digit_to_event(digit)
    out = []
    for i in range(updates):
        payload = TelephoneEvent(code, False, 10, (i + 1) * step).serialize()
        out.append(RtpPacket(PT, (seq + i) & 0xFFFF, ts, ssrc, i == 0, payload))
    final = TelephoneEvent(code, True, 10, (updates + 1) * step).serialize()
    for j in range(ends):
        out.append(RtpPacket(PT, (seq + updates + j) & 0xFFFF, ts, ssrc, False, final))
    return out


def feed(receiver: DtmfReceiver, packets: list[RtpPacket]) -> str:
    return "".join(d for p in packets if (d := receiver.push(p)) is not None)


def test_baresip_like_stream_with_seq_and_ts_wrap() -> None:
    r = DtmfReceiver(PT)
    packets: list[RtpPacket] = []
    seq, ts = 65530, 2**32 - 3000
    for digit in "1234567890*#ABCD55":
        burst = event_packets(digit, seq, ts)
        packets += burst
        seq += len(burst)
        ts = (ts + 12 * 160 + 480) & 0xFFFFFFFF
    assert len(packets) == 18 * 12
    assert feed(r, packets) == "1234567890*#ABCD55"


def test_retransmissions_and_reordering_ignored() -> None:
    r = DtmfReceiver(PT)
    first = event_packets("7", 100, 8000)
    second = event_packets("7", 112, 8000 + 2400)
    # a late end packet of the first event arrives during the second one
    stream = first[:-1] + second[:3] + [first[-1], first[-2]] + second[3:] + second[-3:]
    assert feed(r, stream) == "77"


def test_start_packets_lost() -> None:
    r = DtmfReceiver(PT)
    first = event_packets("9", 0, 0)
    second = event_packets("3", 12, 2400)
    assert feed(r, first[-2:] + second[-1:]) == "93"


def test_other_payload_types_flash_and_garbage_ignored() -> None:
    r = DtmfReceiver(PT)
    assert r.push(RtpPacket(0, 1, 0, 1, True, b"\xff" * 160)) is None
    assert r.push(RtpPacket(PT, 2, 0, 1, True, b"\x05")) is None
    assert r.push(RtpPacket(PT, 3, 160, 1, True, TelephoneEvent(EVENT_FLASH).serialize())) is None
    assert r.push(RtpPacket(PT, 4, 320, 1, True, TelephoneEvent(4).serialize())) == "4"
    # without a payload type filter, everything pushed is taken as an event
    assert DtmfReceiver().push(RtpPacket(0, 1, 0, 1, True, TelephoneEvent(1).serialize())) == "1"


def test_new_ssrc_is_a_new_event_and_reset() -> None:
    r = DtmfReceiver(PT)
    assert feed(r, event_packets("1", 0, 1000)) == "1"
    assert feed(r, event_packets("2", 0, 1000, ssrc=0xDEF)) == "2"
    assert feed(r, event_packets("2", 0, 1000, ssrc=0xDEF)) == ""
    r.reset()
    assert feed(r, event_packets("2", 0, 1000, ssrc=0xDEF)) == "2"


def test_timestamp_jump_back_beyond_window_is_new_event() -> None:
    r = DtmfReceiver(PT, stale_window=1.0)
    assert feed(r, event_packets("1", 0, 800_000)) == "1"
    assert feed(r, event_packets("2", 12, 800_000 - 4000)) == ""  # stale: 0.5 s back
    assert feed(r, event_packets("3", 24, 800_000 - 16000)) == "3"  # 2 s back: sender jumped


def test_long_event_segments_are_one_digit() -> None:
    """RFC 4733 §2.5.1.3: a new segment continues the event; it is not a new digit."""
    r = DtmfReceiver(PT)
    ts = 1000
    seq = 0
    packets = []
    # first segment: durations up to 0xFFFF, no E bit
    for d in list(range(160, 0xFFFF, 160 * 40)) + [0xFFFF]:
        packets.append(
            RtpPacket(PT, seq, ts, 1, seq == 0, TelephoneEvent(0, False, 10, d).serialize())
        )
        seq += 1
    ts2 = ts + 0xFFFF
    for d in (160, 320):
        packets.append(
            RtpPacket(PT, seq, ts2, 1, False, TelephoneEvent(0, False, 10, d).serialize())
        )
        seq += 1
    for _ in range(3):
        packets.append(
            RtpPacket(PT, seq, ts2, 1, False, TelephoneEvent(0, True, 10, 480).serialize())
        )
        seq += 1
    assert feed(r, packets) == "0"
    # the same digit again, as a new event with a marker
    assert feed(r, event_packets("0", seq, ts2 + 2000, ssrc=1)) == "0"
