"""A failure whose traceback has a frame without a line number is reported, not fatal.

CPython 3.11 gives ``tb_lineno`` None for an instruction that has no line (code objects
without a line table, some artificial instructions), and pytest 9.2's
``TracebackEntry.lineno`` subtracts 1 from it: formatting such a failure raises
``TypeError`` inside the xdist worker, which ends the worker and with it the whole run
(2026-11-25: a whole run stopped at 54 % with INTERNALERROR, its one failure unreported).
:func:`tolerate_frames_without_a_line` makes such an entry point at its code's first
line, as Python's own :mod:`traceback` module copes with the None.
"""

from __future__ import annotations

from _pytest._code.code import TracebackEntry

_PYTESTS_LINENO = TracebackEntry.lineno


def _lineno(entry: TracebackEntry) -> int:
    """The entry's 0-based line; its code's first line when the frame has none."""
    raw = entry._rawentry
    line = raw.tb_lineno
    if line is None:  # typeshed says int; CPython 3.11 says otherwise
        line = raw.tb_frame.f_code.co_firstlineno
    return int(line) - 1


def tolerate_frames_without_a_line() -> None:
    """Install :func:`_lineno` as ``TracebackEntry.lineno`` (once per process)."""
    TracebackEntry.lineno = property(_lineno)  # type: ignore[assignment, method-assign]
