"""A waiting caller as the agent layer holds it: taken once, never after it stopped waiting."""

from __future__ import annotations

from sipgw.agent.multiparty.queues import QueuedCaller, QueueStats


async def test_a_caller_is_taken_once() -> None:
    caller = QueuedCaller[str]("CA1", 3.0)
    assert caller.offer("first") and not caller.offer("second")
    assert caller.taken.result() == "first"
    gone = QueuedCaller[str]("CA2", 3.0)
    gone.taken.cancel()  # hung up
    assert not gone.offer("late")


def test_the_wait_fields_are_twilios() -> None:
    fields = dict(QueueStats("QU1", 2, 3, 100, 7).params(12.9))
    assert fields == {
        "QueueSid": "QU1", "QueuePosition": "2", "QueueTime": "12", "AvgQueueTime": "7",
        "CurrentQueueSize": "3", "MaxQueueSize": "100",
    }  # fmt: skip
