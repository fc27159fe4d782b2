"""What the parts of one assistant call share: its record, observer, clock and tasks.

Every collaborator of :class:`agent.assistant.AssistantAgent` gets the call's
:class:`CallScope` instead of the agent itself, so none of them holds the agent
(a reference back would make a cycle that outlives the call) and each sees only
this: the call record to write to, the observer to report to (the gateway sets
it after the agent is built; until then, and without a gateway, reports go
nowhere), the event loop's clock, and one set of tasks that the call's end
cancels together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from agent.observer import AgentObserver, ErrorKind, PreemptiveOutcome, Service
from agent.record import CallRecord

__all__ = ["NO_OBSERVER", "CallScope", "ms_between"]

log = logging.getLogger("sipgw.agent")

T = TypeVar("T")


class _NoObserver:
    """Reports nowhere (no gateway metrics)."""

    def turn_measured(self, stages: Mapping[str, float]) -> None:
        """Nothing counts it."""

    def barge_in(self) -> None:
        """Nothing counts it."""

    def service_error(self, service: Service, kind: ErrorKind) -> None:
        """Nothing counts it."""

    def preemptive(self, outcome: PreemptiveOutcome) -> None:
        """Nothing counts it."""


NO_OBSERVER: AgentObserver = _NoObserver()
"""The observer of a call nobody observes."""


def ms_between(later: float | None, earlier: float | None) -> float | None:
    """Milliseconds between two loop times, to 0.1 ms; None if either is unknown."""
    return None if later is None or earlier is None else round((later - earlier) * 1000, 1)


class CallScope:
    """One call's shared record, observer, clock and tasks.

    Attributes:
        log_id: how log lines name the call (its Call-ID, shortened).
        record: the call record (:mod:`agent.record`).
        observer: where metrics go (:data:`NO_OBSERVER` until the gateway sets one).
        loop: the event loop the call runs on.
        answered_at: when the call was answered (loop time; 0 until then).
        closed: the call has ended (the agent is closing or closed).
    """

    __slots__ = ("_tasks", "answered_at", "closed", "log_id", "loop", "observer", "record")

    def __init__(self, call_id: str, record: CallRecord, loop: asyncio.AbstractEventLoop) -> None:
        self.log_id = call_id[:24]
        self.record = record
        self.observer: AgentObserver = NO_OBSERVER
        self.loop = loop
        self.answered_at = 0.0
        self.closed = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def now(self) -> float:
        """The event loop's clock (every time the call records is on it)."""
        return self.loop.time()

    def write(self, record: dict[str, Any]) -> None:
        """Add a line to the call record."""
        self.record.write(record)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` as one of the call's tasks (a failure is logged, never lost)."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    async def cancel_tasks(self) -> None:
        """The call ended: cancel every task it still runs and wait for them."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            # A cancelled task nobody awaits keeps its CancelledError, whose
            # traceback holds the task's frames (and so the reply and the task):
            # a reference cycle only a full garbage collection would free.
            # Retrieving it drops it.
            with contextlib.suppress(asyncio.CancelledError):
                task.result()
        elif task.exception() is not None:
            log.error("[%s] agent task failed", self.log_id, exc_info=task.exception())
