"""Call queues as an agent sees them: a waiting caller, and the gateway's registry's seam.

One :class:`QueuedCaller` stands for a call waiting in a queue (TwiML's ``<Enqueue>``);
the registry (:class:`CallQueues`) keeps each named queue's callers in order. The gateway
hands its registry to the plug-ins that take it (one per gateway process:
``sipgw.app.callqueues``, through
:attr:`~sipgw.agent.capabilities.GatewayServices.call_queues`); the agent layer only names
what it needs of it here, so imports still point down.

A call that takes the first caller (:meth:`CallQueues.take`; TwiML's ``<Dial><Queue>``)
hands it what it needs to join (:meth:`QueuedCaller.offer`): the agent's own business
(:class:`sipgw.agent.twiml.queues.queuedial.Dequeue` for the TwiML agent).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["CallQueues", "QueueFull", "QueueStats", "QueuedCaller"]

T = TypeVar("T")


class QueueFull(Exception):
    """The queue already holds its most callers (or the gateway its most queues)."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A waiting caller's place, as TwiML's ``waitUrl`` request gets it (Twilio's fields)."""

    sid: str
    """``QueueSid``."""
    position: int
    """``QueuePosition``: 1 for the next caller taken (0: no longer in the queue)."""
    size: int
    """``CurrentQueueSize``."""
    max_size: int
    """``MaxQueueSize``."""
    average: int
    """``AvgQueueTime``: whole seconds the callers now in the queue have waited, on average."""

    def params(self, waited: float) -> tuple[tuple[str, str], ...]:
        """The ``waitUrl`` request's fields (``QueueTime``: ``waited``, whole seconds)."""
        return (
            ("QueueSid", self.sid), ("QueuePosition", str(self.position)),
            ("QueueTime", str(int(waited))), ("AvgQueueTime", str(self.average)),
            ("CurrentQueueSize", str(self.size)), ("MaxQueueSize", str(self.max_size)),
        )  # fmt: skip


class QueuedCaller(Generic[T]):
    """One call waiting in a queue; ``T`` is what the call that takes it hands it.

    Args:
        call_sid: its call's id (TwiML's ``CallSid``).
        joined_at: when it joined (the loop's clock).
    """

    def __init__(self, call_sid: str, joined_at: float) -> None:
        self.call_sid = call_sid
        self.joined_at = joined_at
        self.taken: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        """Done once taken (cancelled once it no longer waits)."""

    def offer(self, handed: T) -> bool:
        """Another call takes it (False: it is no longer waiting)."""
        if self.taken.done():
            return False
        self.taken.set_result(handed)
        return True


class CallQueues(Protocol):
    """The gateway's queues (one registry per process)."""

    def join(self, name: str, caller: QueuedCaller[Any], max_size: int) -> str:
        """``caller`` joins queue ``name`` (made if new) at the back; the queue's sid.

        Raises:
            QueueFull: it holds ``max_size`` callers already.
        """
        ...

    def leave(self, name: str, caller: QueuedCaller[Any]) -> None:
        """``caller`` is no longer in queue ``name`` (nothing if it was not)."""
        ...

    def stats(self, name: str, caller: QueuedCaller[Any], now: float) -> QueueStats:
        """``caller``'s place in queue ``name`` at ``now`` (the loop's clock)."""
        ...

    def exists(self, name: str) -> bool:
        """Whether queue ``name`` was made (by a caller joining it) in this gateway."""
        ...

    def take(self, name: str) -> tuple[str, QueuedCaller[Any]] | None:
        """The first caller of queue ``name``, out of it, with the queue's sid (None: empty)."""
        ...

    async def joined(self, name: str) -> None:
        """Wait until a caller joins queue ``name``."""
        ...
