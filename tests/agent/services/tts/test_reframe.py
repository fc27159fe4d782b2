"""Re-cutting a μ-law byte stream into 160-byte frames (sipgw.agent.services.tts.reframe): every
byte comes out once, in order, whatever the chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.agent.services.tts.reframe import ULAW_SILENCE, Reframer


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=20),
)
def test_reframer_keeps_every_byte_in_exact_frames(data: bytes, cuts: list[int]) -> None:
    reframer = Reframer()
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    frames: list[bytes] = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        frames += reframer.push(data[start:end])
    assert all(len(f) == 160 for f in frames)
    tail = reframer.pending
    assert tail == len(data) % 160
    last = reframer.flush()
    if tail:
        assert last is not None and len(last) == 160
        assert last[tail:] == b"\xff" * (160 - tail)
        frames.append(last[:tail])
    else:
        assert last is None
    assert b"".join(frames) == data
    assert reframer.pending == 0


def test_reframer_edges() -> None:
    reframer = Reframer(frame_bytes=4)
    assert reframer.push(b"") == []
    assert reframer.push(b"abc") == []
    assert reframer.push(b"defghij") == [b"abcd", b"efgh"]
    reframer.clear()
    assert reframer.flush() is None
    assert reframer.push(b"z") == []
    assert reframer.flush(pad=0x7F) == b"z\x7f\x7f\x7f"
    with pytest.raises(ValueError):
        Reframer(0)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=2000),
    first=st.lists(st.integers(0, 2000), max_size=10),
    second=st.lists(st.integers(0, 2000), max_size=10),
)
def test_any_two_chunkings_give_the_same_frames(data: bytes, first: list[int], second: list[int]):
    """The frames depend on the stream only, never on where the transport cut it."""
    assert frames_of(data, first) == frames_of(data, second)


def frames_of(data: bytes, cuts: list[int]) -> list[bytes]:
    reframer = Reframer()
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    frames = [f for a, b in zip(bounds, bounds[1:], strict=False) for f in reframer.push(data[a:b])]
    last = reframer.flush()
    return frames + ([last] if last is not None else [])


def test_a_barge_in_drops_the_partial_frame_only() -> None:
    reframer = Reframer()
    assert len(reframer.push(bytes(170))) == 1
    assert reframer.pending == 10 and reframer.frame_bytes == 160
    reframer.clear()
    assert reframer.pending == 0 and reframer.flush() is None
    assert reframer.push(b"\x01" * 160) == [b"\x01" * 160]  # the next reply starts clean


def test_the_padding_is_mu_law_silence() -> None:
    reframer = Reframer()
    reframer.push(b"\x00")
    assert reframer.flush() == b"\x00" + bytes([ULAW_SILENCE]) * 159
    assert ULAW_SILENCE == 0xFF  # μ-law code of a zero sample (G.711)


@pytest.mark.parametrize("size", [0, -160])
def test_a_frame_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValueError, match=f"got {size}"):
        Reframer(size)
