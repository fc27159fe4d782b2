"""Virtual time for an in-process test's event loop: time moves only while the loop waits.

The in-process end-to-end tests run the gateway, the scripted phone and the fake services
on one event loop, on one machine shared with other test workers. On the real clock a
stalled worker delays a tick, a reply or a packet, and the stall shows in what the test
measures. :class:`VirtualClock` takes the machine out of the verdict: the loop's clock (and
``time.monotonic()``, which the phone, the fakes and the call record read) stands still
while code runs, however long it takes, and jumps to the next timer when the loop has
nothing else to do. Every timing rule of the product (a filler line after 650 ms of tool
time, a barge-in's reaction, a turn ending after so much silence) is then judged on the
clock the product itself schedules by, as the sans-IO cores are with their ``now``.

When the loop would block (:meth:`VirtualClock._select`), in this order:

- Sockets ready now (a loopback datagram or segment is queued at the receiver when its send
  returns), or callbacks ready: handled at the current time, plus :data:`STEP` (1 µs) for
  the loop's turn.
- A worker thread busy (``run_in_executor``, so ``asyncio.to_thread`` too), or no timer at
  all: wait for it in real time, the clock still; a thread's work takes no virtual time.
- Otherwise the loop is idle: after :data:`SETTLE` s of real time with nothing arriving
  (for a datagram the kernel has not delivered yet), the clock moves to the next timer.

::

    with virtual_time():  # the running loop's clock (its own, if it has one already)
        ...  # start the gateway, call it, judge what the phone heard

A test asks for it with the ``virtual_clock`` fixture (its setup and teardown on the clock
too); a package's ``conftest.py`` puts all its async tests on it by importing
:func:`async_tests_on_the_virtual_clock`.

Only for a loop that is all the test's (not with a real peer, whose time is real): the
real-peer tests judge time on the wire against the peer's RTP clock instead
(:mod:`tests.toolkit.wire`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import selectors
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from types import TracebackType
from typing import Any, Self, TypeVar

import pytest

from sipgw.app.evaluation.phone import TimestampedSocket

__all__ = [
    "SETTLE",
    "STEP",
    "VirtualClock",
    "async_tests_on_the_virtual_clock",
    "virtual_clock",
    "virtual_time",
]

_T = TypeVar("_T")
_Events = list[tuple[selectors.SelectorKey, int]]

SETTLE = 0.001
"""Real seconds an idle loop waits for late input before its clock moves on."""
STEP = 1e-6
"""Virtual seconds a busy turn of the loop takes: code that waits for the clock to move
while it keeps the loop busy (a pacer whose float arithmetic leaves a wait of 1e-17 s, a
poll on ``sleep(0)``) sees it move, as on the real clock, by as much on any machine."""
REAL_WAIT = 0.05
"""Real seconds at most of one wait for a worker thread (then the loop looks again)."""


_running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VirtualClock]
_running = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def virtual_time() -> Iterator[VirtualClock]:
    """The running loop on a :class:`VirtualClock` (the one it runs on already, if any)."""
    loop = asyncio.get_running_loop()
    clock = _running.get(loop)
    if clock is not None:
        yield clock
        return
    with VirtualClock(loop) as clock:
        yield clock


@pytest.fixture
async def virtual_clock() -> AsyncIterator[VirtualClock]:
    """The test (and the fixtures it asks for after this one) on a virtual clock."""
    with virtual_time() as clock:
        yield clock


@pytest.fixture(autouse=True)
def async_tests_on_the_virtual_clock(request: pytest.FixtureRequest) -> None:
    """Imported into a package's ``conftest.py``: each async test of the package runs on
    :func:`virtual_clock` (a sync test has no loop to put on it)."""
    if inspect.iscoroutinefunction(request.function):
        request.getfixturevalue(virtual_clock.__name__)


class VirtualClock:
    """The running loop's clock made virtual while entered (see the module docstring).

    Attributes:
        advanced: virtual seconds the clock moved (its idle time).
        real_waits: waits in real time for a worker thread or outside input.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        if not isinstance(loop, asyncio.SelectorEventLoop):
            raise TypeError(f"virtual time needs asyncio's selector loop, not {type(loop)}")
        self._loop = loop
        self._selector: selectors.BaseSelector = loop._selector  # type: ignore[attr-defined]
        self._real_select: Callable[[float | None], _Events] = self._selector.select
        self._real_run_in_executor = loop.run_in_executor
        self._real_monotonic = time.monotonic
        self._now = time.monotonic()
        self._threads = 0
        self.advanced = 0.0
        self.real_waits = 0

    def time(self) -> float:
        """The virtual time (on ``time.monotonic()``'s scale where it started)."""
        return self._now

    def __enter__(self) -> Self:
        loop: Any = self._loop
        if loop in _running:
            raise RuntimeError("the loop is on a virtual clock already")
        _running[loop] = self
        loop.time = self.time
        loop.run_in_executor = self._run_in_executor
        self._selector.select = self._select  # type: ignore[method-assign]
        time.monotonic = self.time
        # A kernel receive stamp is on the real clock: the phone takes its reading's time.
        TimestampedSocket.kernel_stamps_used = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop: Any = self._loop
        del _running[loop]
        del loop.time, loop.run_in_executor
        del self._selector.select
        time.monotonic = self._real_monotonic
        TimestampedSocket.kernel_stamps_used = True

    def _run_in_executor(
        self, executor: Executor | None, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        future = self._real_run_in_executor(executor, func, *args)
        self._threads += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _: asyncio.Future[Any]) -> None:
        self._threads -= 1

    def _select(self, timeout: float | None = None) -> _Events:
        events = self._real_select(0)
        if events or timeout == 0:
            self._now += STEP
            return events
        if self._threads or timeout is None:
            self.real_waits += 1
            return self._real_select(REAL_WAIT)
        events = self._real_select(SETTLE)
        if events:
            return events
        self._now += timeout
        self.advanced += timeout
        return []
