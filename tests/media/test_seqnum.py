"""RFC 1982 serial arithmetic and counter unwrapping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipgw.media.seqnum import Unwrapper, uint16_add, uint16_gt, uint32_add, uint32_gt


def test_add_wraps() -> None:
    assert uint16_add(65535, 1) == 0
    assert uint16_add(0, -1) == 65535
    assert uint16_add(100, 5) == 105
    assert uint32_add(2**32 - 1, 2) == 1
    assert uint32_add(0, -160) == 2**32 - 160


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 0, True),
        (0, 1, False),
        (0, 65535, True),  # across the wrap
        (65535, 0, False),
        (5, 5, False),
        (0x8000, 0, False),  # exactly half apart: unordered (RFC 1982 §3.2)
        (0, 0x8000, False),
        (0x7FFF, 0, True),
    ],
)
def test_uint16_gt(a: int, b: int, expected: bool) -> None:
    assert uint16_gt(a, b) is expected


def test_uint32_gt() -> None:
    assert uint32_gt(0, 2**32 - 1)
    assert not uint32_gt(2**32 - 1, 0)
    assert not uint32_gt(2**31, 0)
    assert not uint32_gt(0, 2**31)
    assert uint32_gt(2**31 - 1, 0)


@given(st.integers(0, 65535), st.integers(1, 0x7FFF))
def test_uint16_gt_matches_distance(a: int, d: int) -> None:
    b = uint16_add(a, d)
    assert uint16_gt(b, a)
    assert not uint16_gt(a, b)


def test_unwrapper_forward_across_wrap() -> None:
    u = Unwrapper(16)
    values = [(65530 + i) & 0xFFFF for i in range(20)]
    assert [u.unwrap(v) for v in values] == list(range(65530, 65550))


def test_unwrapper_reordering_near_wrap() -> None:
    u = Unwrapper(16)
    assert u.unwrap(65534) == 65534
    assert u.unwrap(0) == 65536
    assert u.unwrap(65535) == 65535  # reordered back across the wrap
    assert u.unwrap(1) == 65537
    assert u.unwrap(65533) == 65533


def test_unwrapper_32_bit_and_backwards_from_start() -> None:
    u = Unwrapper(32)
    assert u.unwrap(2**32 - 160) == 2**32 - 160
    assert u.unwrap(0) == 2**32
    assert u.unwrap(160) == 2**32 + 160
    u.reset()
    assert u.last is None
    assert u.unwrap(10) == 10
    assert u.unwrap(2**32 - 10) == -10
    assert u.last == -10


def test_unwrapper_rejects_silly_width() -> None:
    with pytest.raises(ValueError):
        Unwrapper(1)


@given(
    st.integers(0, 2**16 - 1),
    st.lists(st.integers(-200, 1000), min_size=1, max_size=300),
)
def test_unwrapper_tracks_true_value(start: int, steps: list[int]) -> None:
    """Any walk with steps smaller than half the space is recovered exactly."""
    u = Unwrapper(16)
    true = start
    assert u.unwrap(true & 0xFFFF) == true
    for step in steps:
        true += step
        assert u.unwrap(true & 0xFFFF) == true
