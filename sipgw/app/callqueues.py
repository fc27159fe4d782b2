"""The gateway's call queues (TwiML ``<Enqueue>`` and ``<Dial><Queue>``): one registry per
process.

:class:`CallQueueRegistry` keeps each named queue's waiting callers in the order they
joined (:class:`~sipgw.agent.multiparty.queues.CallQueues`, the agent's seam); the
``twiml`` agent's calls reach the process's one registry, :data:`CALL_QUEUES`, through
:class:`~sipgw.agent.capabilities.GatewayServices`.

Queues live in one gateway process: a caller waiting in a queue is a call whose media this
process relays, and the call that takes it must be bridged in the same process (the
bridge crosses frames in memory on the one ticker). Gateways behind Kamailio each have
their own queues; a caller and the agent dialling their queue meet only if both calls land
on the same gateway.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from sipgw.agent.multiparty.queues import QueuedCaller, QueueFull, QueueStats
from sipgw.twilio.sids import new_sid

__all__ = ["CALL_QUEUES", "MAX_QUEUES", "CallQueueRegistry"]

MAX_QUEUES: Final = 1000
"""Queue names one gateway keeps at most (a new name past that is refused: queue-full)."""


@dataclass(slots=True)
class _Queue:
    sid: str
    max_size: int
    callers: deque[QueuedCaller[Any]] = field(default_factory=deque)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


class CallQueueRegistry:
    """Named queues of waiting callers (see the module docstring).

    Args:
        max_queues: queue names kept at most.
    """

    def __init__(self, max_queues: int = MAX_QUEUES) -> None:
        self.max_queues = max_queues
        self._queues: dict[str, _Queue] = {}

    def join(self, name: str, caller: QueuedCaller[Any], max_size: int) -> str:
        """``caller`` joins queue ``name`` (made if new) at the back; its ``QueueSid``.

        Raises:
            QueueFull: it holds ``max_size`` callers already (or the gateway its
                :attr:`max_queues` names).
        """
        queue = self._queues.get(name)
        if queue is None:
            if len(self._queues) >= self.max_queues:
                self._forget_empty()
            if len(self._queues) >= self.max_queues:
                raise QueueFull(f"the gateway keeps {self.max_queues} queues at most")
            queue = self._queues[name] = _Queue(new_sid("QU"), max_size)
        queue.max_size = max_size  # Twilio's queue size is the queue's: the last word wins
        if len(queue.callers) >= max_size:
            raise QueueFull(f"queue {name!r} holds {len(queue.callers)} callers")
        queue.callers.append(caller)
        waiters, queue.waiters = queue.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        return queue.sid

    def leave(self, name: str, caller: QueuedCaller[Any]) -> None:
        """``caller`` is no longer in queue ``name``."""
        queue = self._queues.get(name)
        if queue is not None and caller in queue.callers:
            queue.callers.remove(caller)

    def stats(self, name: str, caller: QueuedCaller[Any], now: float) -> QueueStats:
        """``caller``'s place in queue ``name`` (position 0: no longer in it)."""
        queue = self._queues.get(name)
        if queue is None:
            return QueueStats("", 0, 0, 0, 0)
        callers = list(queue.callers)
        position = callers.index(caller) + 1 if caller in callers else 0
        waited = [now - c.joined_at for c in callers]
        average = int(sum(waited) / len(waited)) if waited else 0
        return QueueStats(queue.sid, position, len(callers), queue.max_size, average)

    def exists(self, name: str) -> bool:
        """Whether queue ``name`` was made in this gateway."""
        return name in self._queues

    def take(self, name: str) -> tuple[str, QueuedCaller[Any]] | None:
        """The first caller still waiting in queue ``name``, out of it (None: empty)."""
        queue = self._queues.get(name)
        while queue is not None and queue.callers:
            caller = queue.callers.popleft()
            if not caller.taken.done():
                return queue.sid, caller
        return None

    async def joined(self, name: str) -> None:
        """Wait until a caller joins queue ``name``."""
        queue = self._queues.get(name)
        if queue is None:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in queue.waiters:
                queue.waiters.remove(waiter)

    def _forget_empty(self) -> None:
        for name in [n for n, q in self._queues.items() if not q.callers and not q.waiters]:
            del self._queues[name]


CALL_QUEUES: Final = CallQueueRegistry()
"""This gateway process's queues."""
