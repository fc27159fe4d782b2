"""Two calls' audio crossed (media/bridge.py): each side's frames reach the other, bounded."""

from __future__ import annotations

import pytest

from sipgw.media.bridge import FrameBridge

A, B = b"a" * 160, b"b" * 160


def test_each_side_hears_the_other_within_a_tick_whoever_ticks_first() -> None:
    bridge = FrameBridge()
    # side 0 ticks first: its frame crosses in the same tick
    bridge.push(0, A)
    assert bridge.pop(0) is None  # nothing from side 1 yet
    bridge.push(1, B)
    assert bridge.pop(1) == A
    # next tick, side 0 first again: it gets what side 1 sent last tick
    bridge.push(0, A)
    assert bridge.pop(0) == B
    assert bridge.crossed == [1, 1] and bridge.dropped == [0, 0]


def test_nothing_received_crosses_as_silence() -> None:
    bridge = FrameBridge()
    bridge.push(0, None)
    assert bridge.pop(1) is None and bridge.crossed == [0, 0]


def test_a_side_that_stops_taking_frames_loses_the_oldest() -> None:
    """The other call on hold sends nothing out, so it takes nothing: the queue stays bounded."""
    bridge = FrameBridge(depth=3)
    frames = [bytes([n]) * 160 for n in range(10)]
    for frame in frames:
        bridge.push(0, frame)
    assert bridge.dropped == [7, 0]
    assert [bridge.pop(1) for _ in range(4)] == [*frames[-3:], None]


def test_depth_must_hold_a_frame() -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        FrameBridge(depth=0)
