"""Two calls' audio crossed (media/bridge.py): each side's frames reach the other, bounded."""

from __future__ import annotations

import math
import struct

import pytest

from sipgw.media.bridge import FrameBridge, bridge_format, room_rate, seat_format
from sipgw.media.codecs import G722, OPUS, PCM16_16K, PCMA, PCMU, ULAW_8K, AudioFormat, Codec
from sipgw.media.codecs.convert import conversions

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


# -- the format a bridge carries (bridge_format) and what it keeps of the audio


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (G722, G722, PCM16_16K),
        (G722, OPUS, PCM16_16K),
        (OPUS, OPUS, PCM16_16K),
        (G722, PCMU, ULAW_8K),
        (PCMA, G722, ULAW_8K),
        (PCMU, PCMU, ULAW_8K),
        (PCMU, PCMA, ULAW_8K),
    ],
)
def test_a_bridge_is_wideband_only_when_both_codecs_are(
    a: Codec, b: Codec, expected: object
) -> None:
    assert bridge_format(a, b) == expected
    assert bridge_format(b, a) == expected


def _tone(hz: float, frames: int, rate: int = 16000) -> list[bytes]:
    n = rate // 50
    return [
        b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * (i * n + k) / rate)))
            for k in range(n)
        )
        for i in range(frames)
    ]


def _power_at(pcm: bytes, hz: float, rate: int = 16000) -> float:
    """The amplitude at ``hz`` in ``pcm`` (one Goertzel bin), to compare within ``pcm``."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return math.sqrt(max(s1 * s1 + s2 * s2 - coeff * s1 * s2, 0.0)) / len(samples)


@pytest.mark.parametrize("hz", [1000.0, 6000.0])
def test_two_g722_calls_bridged_keep_what_the_format_carries(hz: float) -> None:
    """A's G.722 packets to B's G.722 packets through each call's conversions (as the two
    calls' media do): the bridge's 16 kHz keeps a 6 kHz tone; through μ-law what B hears
    of it is its fold at 2 kHz (8 kHz sampling), a 1 kHz tone crossing either way."""
    sent = [G722.encoder().encode(frame) for frame in _tone(hz, 25)]
    kept: dict[AudioFormat, tuple[float, float]] = {}
    for fmt in (bridge_format(G722, G722), ULAW_8K):
        caller, called = conversions(G722, fmt), conversions(G722, fmt)
        bridge = FrameBridge()
        heard = b""
        decoder = G722.decoder()
        for packet in sent:
            to_agent = caller.to_agent
            bridge.push(0, to_agent.convert(packet) if to_agent is not None else packet)
            frame = bridge.pop(1)
            assert frame is not None and len(frame) == fmt.frame_bytes
            to_wire = called.to_wire
            assert to_wire is not None
            heard += decoder.decode(to_wire.convert(frame))
        tail = heard[len(heard) // 2 :]
        kept[fmt] = _power_at(tail, hz), _power_at(tail, 8000 - hz)
    tone, folded = kept[PCM16_16K]
    assert tone > 5 * folded  # the tone, as sent
    tone, folded = kept[ULAW_8K]
    if hz > 4000:  # 8 kHz sampling folds it to 8000 - hz: that is what is heard
        assert folded > tone
    else:
        assert tone > 5 * folded


def test_a_room_mixes_at_16khz_as_soon_as_one_participant_is_wideband() -> None:
    assert seat_format(G722) == PCM16_16K
    assert seat_format(PCMU) == seat_format(PCMA) == ULAW_8K
    assert room_rate([]) == room_rate([ULAW_8K, ULAW_8K]) == 8000
    assert room_rate([ULAW_8K, PCM16_16K, ULAW_8K]) == 16000
