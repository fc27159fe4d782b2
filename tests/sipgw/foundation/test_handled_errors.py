"""forget_frames: a handled failure whose frames hold what holds it leaves no cycle."""

from __future__ import annotations

import asyncio

from sipgw.foundation.handled_errors import forget_frames
from tests.refcycles import garbage_types


class Failure(Exception):
    pass


class Holder:
    """A long-lived object that keeps a failure (a reply, a connection)."""

    def __init__(self) -> None:
        self.error: Failure | None = None


async def fails(holder: Holder) -> None:
    holder.error = Failure("the vendor went away")
    raise holder.error


async def await_failing_task(forget: bool) -> None:
    """A task awaited from a frame that keeps it: the task keeps its failure, whose
    traceback keeps this frame (the cycle every awaited failed task makes)."""
    holder = Holder()
    task = asyncio.get_running_loop().create_task(fails(holder))
    try:
        await task
    except Failure as exc:
        if forget:
            forget_frames(exc)
    await asyncio.sleep(0)  # the loop lets go of the finished task


async def test_a_failed_task_awaited_and_handled_leaves_a_cycle_unless_its_frames_go() -> None:
    with garbage_types("Failure", "Holder", "Task") as kept:
        await await_failing_task(forget=False)
    assert {"Failure", "Holder", "Task"} <= set(kept)
    with garbage_types("Failure", "Holder", "Task") as left:
        await await_failing_task(forget=True)
    assert not {"Failure", "Holder", "Task"} & set(left)


def test_the_whole_chain_forgets_its_frames() -> None:
    def inner() -> None:
        raise KeyError("x")

    try:
        try:
            inner()
        except KeyError as cause:
            raise Failure("outer") from cause
    except Failure as exc:
        caught = exc
    context = ValueError("context")
    caught.__context__ = context
    try:
        raise context
    except ValueError:
        pass
    raised_from = caught.__cause__
    assert caught.__traceback__ is not None and raised_from is not None
    assert raised_from.__traceback__ is not None and context.__traceback__ is not None
    forget_frames(caught)
    assert caught.__traceback__ is None
    assert raised_from.__traceback__ is None
    assert context.__traceback__ is None
    assert str(caught) == "outer" and isinstance(raised_from, KeyError)  # the failure stays
    forget_frames(None)  # nothing to forget
