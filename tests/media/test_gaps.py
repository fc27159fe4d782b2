"""What counts as a gap in a received stream (sipgw.media.gaps): one definition for playout and
the listeners' tap, and the baseline transit time it measures lateness against.

How the jitter buffer and the tap act on each kind of gap is in
``tests/media/test_jitter_gaps.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipgw.media.gaps import (
    BASELINE_RISE,
    MIN_PAUSE,
    SETTLE_PACKETS,
    Gap,
    TransitBaseline,
    classify_gap,
)

TOLERANCE = 0.04


@pytest.mark.parametrize(
    ("ts_ahead", "elapsed", "kind"),
    [
        (160, 0.020, Gap.NONE),
        (160, 0.050, Gap.NONE),  # jitter, not a gap
        (480, 0.060, Gap.NONE),  # a lost or reordered packet
        (1760, 0.220, Gap.PAUSE),  # 200 ms pause, timestamps followed
        (32160, 4.020, Gap.PAUSE),
        (160, 0.220, Gap.STALL),  # 200 ms pause, timestamps did not follow
        (160, 4.020, Gap.STALL),
        (1760, 0.020, Gap.SKIP),  # the sender skipped 200 ms of silence
        (32160, 0.020, Gap.SKIP),
        (-8000, 0.020, Gap.BACK),  # timestamps went back
    ],
)
def test_one_definition_of_a_gap(ts_ahead: int, elapsed: float, kind: Gap) -> None:
    assert classify_gap(ts_ahead, elapsed, 8000, 0.04) is kind


@pytest.mark.parametrize(
    ("ts_ahead", "elapsed", "newest_late", "kind"),
    [
        (1760, 0.020, 0.200, Gap.NONE),  # the newest was late: this one catches up, no skip
        (1760, 0.020, 0.100, Gap.SKIP),  # late, but not by the whole jump
        (-320, 0.020, 0.0, Gap.NONE),  # 40 ms behind: a reordered packet, within tolerance
        (-321, 0.020, 0.0, Gap.BACK),
        (800, MIN_PAUSE, 0.0, Gap.PAUSE),  # a pause starts at MIN_PAUSE exactly
        (800, MIN_PAUSE - 0.001, 0.0, Gap.NONE),
    ],
)
def test_lateness_and_the_edges(
    ts_ahead: int, elapsed: float, newest_late: float, kind: Gap
) -> None:
    assert classify_gap(ts_ahead, elapsed, 8000, TOLERANCE, newest_late) is kind


@pytest.mark.parametrize("clock", [8000, 16000, 48000])
def test_the_timestamps_are_read_at_the_streams_clock(clock: int) -> None:
    """200 ms of timestamps is 1600 samples at 8 kHz, 9600 at 48 kHz."""
    assert classify_gap(clock // 5 + clock // 50, 0.220, clock, TOLERANCE) is Gap.PAUSE
    assert classify_gap(clock // 5 + clock // 50, 0.020, clock, TOLERANCE) is Gap.SKIP


@given(
    packets=st.integers(1, 2),  # with the jitter, still shorter than a pause
    jitter=st.floats(-TOLERANCE, TOLERANCE),
)
def test_continuous_audio_within_the_tolerance_is_no_gap(packets: int, jitter: float) -> None:
    """The next packet(s) of a steady 20 ms stream, arriving up to the tolerance early or late."""
    elapsed = max(0.0, 0.020 * packets + jitter)
    assert elapsed < MIN_PAUSE
    assert classify_gap(160 * packets, elapsed, 8000, TOLERANCE + 1e-9) is Gap.NONE


# --------------------------------------------------------------------------- the baseline


def test_the_baseline_falls_at_once_and_rises_slowly() -> None:
    baseline = TransitBaseline()
    assert baseline.value is None and not baseline.settled
    assert baseline.update(1000.0) == 0.0 and baseline.value == 1000.0  # the first sets it
    assert baseline.update(900.0) == 0.0 and baseline.value == 900.0  # faster: the new floor
    assert baseline.update(1156.0) == 256.0  # queued 256 samples behind the baseline ...
    assert baseline.value == pytest.approx(900.0 + 256.0 * BASELINE_RISE)  # ... rises by 1
    assert BASELINE_RISE == 1 / 256


def test_a_sender_clock_slower_than_ours_is_followed() -> None:
    """Transit growing by 1 sample a packet: lateness stays bounded instead of growing."""
    baseline = TransitBaseline()
    lateness = [baseline.update(float(i)) for i in range(5000)]
    assert lateness[-1] == pytest.approx(lateness[-2], abs=0.01)
    assert lateness[-1] < 300  # about 256 (1 / BASELINE_RISE), not 5000


def test_settled_after_enough_packets_and_still_after_a_restart() -> None:
    baseline = TransitBaseline()
    for i in range(SETTLE_PACKETS - 1):
        baseline.update(100.0 + i % 3)
    assert not baseline.settled
    baseline.update(100.0)
    assert baseline.settled
    baseline.restart()
    assert baseline.value is None and baseline.settled  # the jitter seen before still counts
    assert baseline.update(5000.0) == 0.0 and baseline.value == 5000.0
