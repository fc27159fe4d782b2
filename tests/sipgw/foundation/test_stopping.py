"""cancel_and_wait (sipgw/foundation/stopping.py): a lost cancel, a failure, the caller's cancel."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from sipgw.foundation.stopping import cancel_and_wait, finish_or_cancel


async def loses_its_first_cancel(rounds: list[int]) -> None:
    """A polling loop whose wait returned instead of raising once (CPython 3.11's
    ``asyncio.wait_for`` when its answer and the cancel come together)."""
    lost = False
    while True:
        rounds.append(1)
        if not lost:
            lost = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)
            continue
        await asyncio.sleep(0.01)


async def test_a_lost_cancel_is_sent_again_until_the_task_ends() -> None:
    rounds: list[int] = []
    task = asyncio.ensure_future(loses_its_first_cancel(rounds))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(cancel_and_wait(task, None), 2.0)
    assert task.cancelled() and len(rounds) >= 2


async def test_a_task_that_failed_raises_as_awaiting_it_would() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    task = asyncio.ensure_future(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broken"):
        await cancel_and_wait(task)


async def test_the_waiters_own_cancel_is_not_swallowed() -> None:
    stubborn_for_now = [True]

    async def ignores_cancels() -> None:
        while stubborn_for_now[0]:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)

    stubborn = asyncio.ensure_future(ignores_cancels())
    waiter = asyncio.ensure_future(cancel_and_wait(stubborn, retry=0.02))
    await asyncio.sleep(0.1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not stubborn.done()
    stubborn_for_now[0] = False
    await cancel_and_wait(stubborn)
    assert stubborn.done()


async def test_work_in_progress_gets_its_grace_then_is_cancelled() -> None:
    done_in_time = asyncio.ensure_future(asyncio.sleep(0.01, "placed"))
    too_slow = asyncio.ensure_future(asyncio.sleep(10))
    await finish_or_cancel({done_in_time, too_slow}, grace=0.2)
    assert done_in_time.result() == "placed"
    assert too_slow.cancelled()
    await finish_or_cancel(set(), grace=10)  # nothing to wait for: at once
