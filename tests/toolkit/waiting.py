"""Waiting for what a real peer does, instead of reading its output once.

A peer's log and events reach the test on the peer's schedule, not the test's: Kamailio's
stderr comes through a pipe that a reader thread drains, baresip writes its trace to a file
when its stdio buffer says so, the gateway logs a call's end just after it answers the BYE.
Read once right after the peer answered, the output may lack the line yet, and more often
on a loaded machine. :func:`wait_for` polls the condition until it holds or the time is up,
and then fails with what it saw last::

    wait_for(lambda: any("REGISTER ok" in e for e in kam.events()), 10, kam.events)

A test that expects a count waits until the count is reached and then asserts it exactly, so
that a line too many still fails. Absence (``"Traceback" not in log``) cannot be waited for;
such checks read the output once the peer has stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    describe: Callable[[], object] | str,
    *,
    step: float = 0.05,
) -> T:
    """Call ``predicate`` every ``step`` seconds until it returns a true value; return it.

    ``predicate`` is asked once more at the deadline, so a slow poll never loses the last
    moment. After ``timeout`` seconds, raise :class:`AssertionError` saying how long it
    waited and ``describe``: a text, or a callable read at the failure for the state last
    seen (``kam.events``, ``gw.log_tail``).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(step, left))
    seen = describe() if callable(describe) else describe
    raise AssertionError(f"the condition did not hold within {timeout} s; last seen: {seen}")
