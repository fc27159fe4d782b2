"""The gateway's call queues: callers in the order they joined, ``maxQueueSize``, a caller
taken once, leaving, Twilio's wait fields, a dequeuing call woken by a caller joining, the
count of queue names bounded."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.multiparty.queues import QueuedCaller, QueueFull
from sipgw.app.callqueues import CallQueueRegistry


async def test_callers_are_taken_in_the_order_they_joined() -> None:
    queues = CallQueueRegistry()
    first, second = QueuedCaller[str]("CA1", 10.0), QueuedCaller[str]("CA2", 12.0)
    sid = queues.join("support", first, 5)
    assert queues.join("support", second, 5) == sid and sid.startswith("QU")
    assert queues.exists("support") and not queues.exists("sales")
    stats = queues.stats("support", second, now=20.0)
    assert (stats.position, stats.size, stats.max_size, stats.average) == (2, 2, 5, 9)
    assert dict(stats.params(8.4))["QueueTime"] == "8"
    assert queues.take("support") == (sid, first)
    assert queues.stats("support", second, now=20.0).position == 1
    assert queues.take("support") == (sid, second)
    assert queues.take("support") is None
    assert queues.exists("support")  # a queue once made stays (empty), as on Twilio


async def test_a_full_queue_refuses_and_a_caller_who_left_is_not_taken() -> None:
    queues = CallQueueRegistry()
    first, second = QueuedCaller[str]("CA1", 0.0), QueuedCaller[str]("CA2", 0.0)
    queues.join("q", first, 1)
    with pytest.raises(QueueFull):
        queues.join("q", second, 1)
    queues.leave("q", first)
    queues.join("q", second, 1)  # room again
    second.taken.cancel()  # hung up in between: skipped
    assert queues.take("q") is None


async def test_a_dequeuing_call_is_woken_when_a_caller_joins() -> None:
    queues = CallQueueRegistry()
    caller = QueuedCaller[str]("CA1", 0.0)
    queues.join("q", caller, 3)
    assert queues.take("q") is not None
    waiting = asyncio.ensure_future(queues.joined("q"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    queues.join("q", QueuedCaller[str]("CA2", 0.0), 3)
    await asyncio.wait_for(waiting, 1)


async def test_queue_names_are_bounded_empty_ones_forgotten_first() -> None:
    queues = CallQueueRegistry(max_queues=2)
    queues.join("a", QueuedCaller[str]("CA1", 0.0), 3)
    queues.join("b", QueuedCaller[str]("CA2", 0.0), 3)
    with pytest.raises(QueueFull):
        queues.join("c", QueuedCaller[str]("CA3", 0.0), 3)
    queues.take("a")  # a is empty now: forgotten to make room
    queues.join("c", QueuedCaller[str]("CA3", 0.0), 3)
    assert not queues.exists("a") and queues.exists("c")
