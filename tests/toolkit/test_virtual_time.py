"""tests.toolkit.virtual_time: time moves only while the loop waits, never while code runs.

Each check stalls the machine on purpose (``time.sleep`` on the loop, a thread's work) and
finds the times on the virtual clock as they would be on an idle machine.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from sipgw.app.evaluation.phone import TimestampedSocket
from tests.toolkit.virtual_time import STEP, VirtualClock

STALL = 0.3
"""Wall seconds of each stall the checks inject."""
SLACK = 1000 * STEP
"""What the loop's busy turns add to a virtual time: 1 µs each, fewer than a thousand here."""


async def test_timers_fire_at_their_times_and_a_stall_takes_no_time() -> None:
    loop = asyncio.get_running_loop()
    real = time.monotonic
    with VirtualClock(loop) as clock:
        start = loop.time()
        assert time.monotonic() == start  # one clock for the loop and for time.monotonic()
        fired: list[float] = []
        loop.call_later(0.5, lambda: fired.append(loop.time()))
        await asyncio.sleep(0.2)
        time.sleep(STALL)  # noqa: ASYNC251 - the stall is the point: the loop in its hands
        assert loop.time() - start == pytest.approx(0.2, abs=SLACK)
        await asyncio.sleep(0.3)
        assert fired and fired[0] - start == pytest.approx(0.5, abs=SLACK)
        assert clock.advanced == pytest.approx(0.5, abs=SLACK)
    assert time.monotonic is real  # the real clock again, for the loop too
    assert loop.time() == pytest.approx(time.monotonic(), abs=0.01)


async def test_a_threads_work_takes_no_virtual_time() -> None:
    loop = asyncio.get_running_loop()
    with VirtualClock(loop) as clock:
        start = loop.time()
        await asyncio.to_thread(time.sleep, STALL)
        assert loop.time() - start < SLACK
        assert clock.real_waits >= 1


async def test_datagrams_are_heard_when_sent_whatever_the_stalls() -> None:
    """A 20 ms sender and a receiver on loopback, the worker stalled on every fifth send:
    each datagram arrives at its send time, 20 ms after the one before."""
    loop = asyncio.get_running_loop()
    with VirtualClock(loop):
        received: list[float] = []
        heard = TimestampedSocket(lambda data, addr, kernel, user: received.append(kernel))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            start = loop.time()
            for n in range(10):
                await asyncio.sleep(start + n * 0.02 - loop.time())
                sender.sendto(b"%d" % n, ("127.0.0.1", heard.port))
                if n % 5 == 4:
                    time.sleep(STALL)  # noqa: ASYNC251 - a stall, on purpose
            await asyncio.sleep(0.02)
        finally:
            sender.close()
            heard.close()
    assert [round(at - start, 4) for at in received] == [n * 0.02 for n in range(10)]


async def test_a_loop_that_waits_for_the_clock_to_move_sees_it_move() -> None:
    """A busy turn of the loop takes 1 µs: a wait shorter than a float can add to the clock
    (a pacer's rounding) or a poll on sleep(0) ends, as on the real clock."""
    loop = asyncio.get_running_loop()
    with VirtualClock(loop):
        start = loop.time()
        while loop.time() < start + 1e-17:  # noqa: ASYNC110 - polling the clock is the test
            await asyncio.sleep(1e-17)
        while loop.time() < start + 100 * STEP:  # noqa: ASYNC110 - as above
            await asyncio.sleep(0)


async def test_kernel_stamps_are_left_aside_while_the_clock_is_virtual() -> None:
    """The kernel's receive stamps are on the real clock: while it is virtual the phone
    takes its reading's time."""
    with VirtualClock(asyncio.get_running_loop()):
        assert TimestampedSocket.kernel_stamps_used is False
    assert TimestampedSocket.kernel_stamps_used is True
