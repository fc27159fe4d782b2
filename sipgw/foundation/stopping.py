"""Stopping background tasks for good.

A cancel can be lost: CPython 3.11's ``asyncio.wait_for`` returns the inner result when
it completes at the moment the cancel arrives (3.12 rebuilt it on ``asyncio.timeout``),
so a polling loop that waits so, or a library that does (dnspython's asyncio backend),
goes on as if nothing had happened. And ``with suppress(CancelledError): await task``
after a cancel then waits for good, and swallows the waiting coroutine's own cancellation
as well. :func:`cancel_and_wait` cancels again until the tasks are done;
:func:`finish_or_cancel` gives work in progress (a placed call) a grace period first.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait", "finish_or_cancel"]


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None, retry: float = 0.1) -> None:
    """Cancel ``tasks`` (None: none) and wait until each is done, cancelling again every
    ``retry`` s in case a cancel was lost.

    Raises:
        Exception: the first exception a task ended with, other than its cancellation
            (as ``await task`` would have raised it).
        asyncio.CancelledError: this coroutine itself was cancelled (the tasks have each
            been cancelled at least once).
    """
    given = [task for task in tasks if task is not None]
    pending = {task for task in given if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=retry)
    failures = [t.exception() for t in given if not t.cancelled() and t.exception() is not None]
    if failures:
        raise failures[0]  # type: ignore[misc]


async def finish_or_cancel(tasks: set[asyncio.Task[Any]], grace: float) -> None:
    """Wait up to ``grace`` s for ``tasks`` to end, then cancel the rest and give them a
    second to unwind (their work is retried after a restart)."""
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=grace)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1.0)
