"""The wire helpers' arithmetic (capturing itself is exercised by the interop tests)."""

from __future__ import annotations

import pytest

from sipgw.media.rtp import RtpPacket
from tests.toolkit.wire import WirePacket, lateness


def arrival(at: float, timestamp: int) -> WirePacket:
    packet = RtpPacket(payload_type=0, sequence_number=0, timestamp=timestamp, ssrc=1,
                       payload=bytes(160))  # fmt: skip
    return WirePacket(at, 4000, 5000, packet)


def test_a_stall_shows_as_late_packets_and_a_calm_stream_as_none() -> None:
    start = 0xFFFFFF00  # the timestamps wrap mid-stream
    arrivals = [arrival(10.0 + 0.02 * k, (start + 160 * k) & 0xFFFFFFFF) for k in range(10)]
    assert lateness(arrivals) == pytest.approx([0.0] * 10)
    stalled = arrivals[:5] + [arrival(10.0 + 0.02 * k + 0.2, (start + 160 * k) & 0xFFFFFFFF)
                              for k in range(5, 10)]  # fmt: skip
    assert lateness(stalled) == pytest.approx([0.0] * 5 + [0.2] * 5)


def test_a_packet_reordered_ahead_of_the_first_is_early_not_a_wrap_late() -> None:
    arrivals = [arrival(1.0, 1600), arrival(1.005, 1440), arrival(1.02, 1760)]
    assert lateness(arrivals) == pytest.approx([0.0, 0.025, 0.0])
