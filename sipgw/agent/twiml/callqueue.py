"""Call queues as the TwiML agent sees them: a waiting caller, the queue registry's seam.

One :class:`QueuedCaller` stands for a call waiting in a queue (``<Enqueue>``); the
registry (:class:`CallQueues`) keeps each named queue's callers in order. The gateway
gives the ``twiml`` agent its registry (one per gateway process: ``sipgw.app.calls.callqueues``);
the agent layer only names what it needs of it here, so imports still point down.

Another call's ``<Dial><Queue>`` takes the first caller (:meth:`CallQueues.take`) and hands
it a :class:`Dequeue` (:meth:`QueuedCaller.offer`): the bridge to join, and who dequeued it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sipgw.agent.transfer.warm import LegEnded

if TYPE_CHECKING:
    from sipgw.agent.twiml.dialbridge import DialRelay

__all__ = ["CallQueues", "Dequeue", "QueueFull", "QueueLeg", "QueueStats", "QueuedCaller"]


class QueueFull(Exception):
    """The queue already holds its ``maxQueueSize`` callers (or the gateway its queues)."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A waiting caller's place, as a ``waitUrl`` request gets it (Twilio's fields)."""

    sid: str
    """``QueueSid``."""
    position: int
    """``QueuePosition``: 1 for the next caller taken."""
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


@dataclass(frozen=True, slots=True)
class Dequeue:
    """What the caller taken from a queue gets: the bridge to join (its called-party end)
    and the dequeuing call."""

    relay: DialRelay
    leg: QueueLeg
    dequeuing_sid: str
    """``DequeingCallSid``."""


class QueueLeg:
    """The dequeued caller as the dequeuing ``<Dial>``'s second leg
    (:class:`~sipgw.agent.transfer.warm.ConsultLeg`): :meth:`hangup` ends the bridge (the
    dequeued caller's TwiML goes on), :meth:`ended` is over once the bridge is."""

    def __init__(self) -> None:
        self._over: asyncio.Future[LegEnded] = asyncio.get_running_loop().create_future()
        self.hung_up = False
        """The dequeuing side ended it (its caller hung up, ``timeLimit``, ``*``)."""

    async def ended(self) -> LegEnded:
        """Wait until the bridge is over."""
        return await asyncio.shield(self._over)

    def hangup(self) -> None:
        """The dequeuing side ends the bridge."""
        self.hung_up = True
        self.finish()

    def finish(self, kind: str = "answered") -> None:
        """The bridge is over (``answered``: it was; ``failed``: the caller left before)."""
        if not self._over.done():
            self._over.set_result(LegEnded(kind))

    @property
    def over(self) -> bool:
        """Whether the bridge is over."""
        return self._over.done()

    async def wait(self) -> None:
        """Wait until the bridge is over."""
        await asyncio.shield(self._over)


class QueuedCaller:
    """One call waiting in a queue.

    Args:
        call_sid: its ``CallSid``.
        joined_at: when it joined (the loop's clock).
    """

    def __init__(self, call_sid: str, joined_at: float) -> None:
        self.call_sid = call_sid
        self.joined_at = joined_at
        self.taken: asyncio.Future[Dequeue] = asyncio.get_running_loop().create_future()

    def offer(self, dequeue: Dequeue) -> bool:
        """Another call takes it (False: it is no longer waiting)."""
        if self.taken.done():
            return False
        self.taken.set_result(dequeue)
        return True


class CallQueues(Protocol):
    """The gateway's queues (one registry per process)."""

    def join(self, name: str, caller: QueuedCaller, max_size: int) -> str:
        """``caller`` joins queue ``name`` (made if new) at the back; its ``QueueSid``.

        Raises:
            QueueFull: it holds ``max_size`` callers already.
        """
        ...

    def leave(self, name: str, caller: QueuedCaller) -> None:
        """``caller`` is no longer in queue ``name`` (nothing if it was not)."""
        ...

    def stats(self, name: str, caller: QueuedCaller, now: float) -> QueueStats:
        """``caller``'s place in queue ``name`` at ``now`` (the loop's clock)."""
        ...

    def exists(self, name: str) -> bool:
        """Whether queue ``name`` was ever made (by an ``<Enqueue>``) in this gateway."""
        ...

    def take(self, name: str) -> tuple[str, QueuedCaller] | None:
        """The first caller of queue ``name``, out of it, with the queue's sid (None: empty)."""
        ...

    async def joined(self, name: str) -> None:
        """Wait until a caller joins queue ``name``."""
        ...
