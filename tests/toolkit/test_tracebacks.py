"""A failure with a frame that has no line number is formatted, not an INTERNALERROR."""

from __future__ import annotations

import types

import pytest
from _pytest._code.code import ExceptionInfo

from tests.toolkit.tracebacks import tolerate_frames_without_a_line


def _raises() -> None:
    raise ValueError("from a frame without a line")


def _without_lines(code: types.CodeType) -> types.CodeType:
    """``code`` with every instruction marked "no location" (CPython 3.11's line table:
    entry code 15, at most 8 code units an entry; Objects/locations.md)."""
    units = len(code.co_code) // 2
    entries = [0x80 | (15 << 3) | (min(8, units - start) - 1) for start in range(0, units, 8)]
    return code.replace(co_linetable=bytes(entries))


def test_a_frame_without_a_line_is_formatted() -> None:
    lineless = types.FunctionType(_without_lines(_raises.__code__), globals())
    with pytest.raises(ValueError) as caught:
        lineless()
    info: ExceptionInfo[ValueError] = caught
    tolerate_frames_without_a_line()  # as tests/conftest.py does for the whole run
    text = str(info.getrepr(style="long"))  # raised TypeError inside pytest before
    assert "from a frame without a line" in text
    entry = info.traceback[-1]
    assert entry.lineno == _raises.__code__.co_firstlineno - 1
