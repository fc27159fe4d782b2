"""Letting go of an exception's frames once it has been handled.

An exception keeps the frames it passed through (``__traceback__``), and each frame its
local variables until it is freed. A handler whose frame (or a frame below it) holds
something that holds the exception closes a reference cycle: a failed task awaited from
a frame that keeps the task (the task keeps its exception), or a failure stored on a
long-lived object (a reply, a connection) and raised from a frame that can reach it.
Such cycles are freed only by the garbage collector's older generations, which the
gateway runs rarely (:mod:`sipgw.app.operations.collector`), so every failure would hold
its frames, tasks and connections for up to an hour. A handler that has logged and
reported the failure calls :func:`forget_frames`: the exception, and those it was raised
from, keep their type, text and attributes, not the frames.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["forget_cancellation", "forget_frames"]


def forget_frames(exc: BaseException | None) -> None:
    """Drop the traceback of ``exc`` and of every exception in its chain
    (``__cause__``, ``__context__``)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        todo += (current.__cause__, current.__context__)


def forget_cancellation(task: asyncio.Task[Any]) -> None:
    """A done callback for a task that may be cancelled and is never awaited: a cancelled
    task keeps its ``CancelledError``, whose traceback holds the task's frames (and so
    the object that holds the task) until its result is asked for, which drops it."""
    if task.cancelled():
        with contextlib.suppress(asyncio.CancelledError):
            task.result()
