"""``<Dial><Queue>``: take the first caller waiting in a queue and bridge them with this call.

Theory of operation
-------------------
:class:`QueueDial` is the dequeuing call's side (the waiting caller's is
:class:`~sipgw.agent.twiml.queues.enqueue.EnqueueRun`). It takes the queue's first caller from the
gateway's registry; an empty queue is waited on until a caller joins or the ``<Dial>``'s
``timeout`` passes (``no-answer``), and a queue no ``<Enqueue>`` ever made is ``failed``,
as on Twilio. The caller taken gets a :class:`Dequeue`: the
same :class:`~sipgw.agent.twiml.dial.bridge.DialRelay` a placed second leg would have
(ring tone meanwhile, the jitter-buffered frames through a
:class:`~sipgw.media.bridge.FrameBridge`, keys both ways, ``hangupOnStar``, ``timeLimit``,
``record``), with the waiting caller as its called party: it joins once its
``<Queue url>`` document was played to it. :meth:`QueueDial.run` says how the ``<Dial>``
ended (``DialCallSid`` is the dequeued call's ``CallSid``). The bridge is wideband as a
placed ``<Dial>``'s is (:mod:`sipgw.agent.twiml.dial.audioformat`: both calls' codecs 16 kHz,
:attr:`QueueDial.wideband`), unless either call's frames also go elsewhere in μ-law (the
dequeued caller's :attr:`~sipgw.agent.twiml.queues.enqueue.EnqueueRun.narrowband`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sipgw.agent.base import CallControl
from sipgw.agent.multiparty.queues import CallQueues, QueuedCaller
from sipgw.agent.transfer.warm import LegEnded
from sipgw.agent.twiml.dial.bridge import DialRelay, Note, RelayedDial
from sipgw.agent.twiml.dial.rules import DialResult, dial_status
from sipgw.agent.twiml.recording import BridgeRecorder
from sipgw.twilio.document import Dial

__all__ = ["Dequeue", "QueueDial", "QueueLeg"]

log = logging.getLogger("sipgw.agent")


class QueueLeg:
    """The dequeued caller as the dequeuing ``<Dial>``'s second leg
    (:class:`~sipgw.agent.transfer.warm.ConsultLeg`): :meth:`hangup` ends the bridge (the
    dequeued caller's TwiML goes on), :meth:`ended` is over once the bridge is."""

    def __init__(self) -> None:
        self._over: asyncio.Future[LegEnded] = asyncio.get_running_loop().create_future()

    async def ended(self) -> LegEnded:
        """Wait until the bridge is over; how (``answered``: it was bridged)."""
        return await asyncio.shield(self._over)

    def hangup(self) -> None:
        """The dequeuing side ends the bridge (its caller hung up, ``timeLimit``, ``*``)."""
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


@dataclass(frozen=True, slots=True)
class Dequeue:
    """What the caller taken from a queue is handed: the bridge to join (as its called
    party) and the dequeuing call."""

    relay: DialRelay
    leg: QueueLeg
    dequeuing_sid: str
    """``DequeingCallSid``."""


class QueueDial(RelayedDial):
    """One ``<Dial><Queue>`` (see the module docstring); the per-tick calls and the hang-up
    of :class:`~sipgw.agent.twiml.dial.bridge.RelayedDial`.

    Args:
        call: the dequeuing call.
        call_sid: its ``CallSid`` (the dequeued caller's ``DequeingCallSid``).
        queues: the gateway's queues.
        dial: the verb (its one target a queue).
        note: writes the call record.
        recorder: makes the bridge's recorder (``record``); None: not recorded.
    """

    def __init__(
        self,
        call: CallControl,
        call_sid: str,
        queues: CallQueues,
        dial: Dial,
        note: Note,
        recorder: Callable[[], BridgeRecorder] | None = None,
    ) -> None:
        self.call = call
        self.call_sid = call_sid
        self.queues = queues
        self.dial = dial
        self.note = note
        self.relay: DialRelay | None = DialRelay(
            call, dial, note, recorder() if recorder is not None else None
        )
        self.sid = ""
        self.answered = False

    @property
    def wideband(self) -> bool:
        """Whether the bridge may carry wideband audio (:attr:`DialRelay.wideband`)."""
        return self.relay is not None and self.relay.wideband

    @wideband.setter
    def wideband(self, value: bool) -> None:
        if self.relay is not None:
            self.relay.wideband = value

    async def run(self) -> DialResult:
        """Take the queue's first caller (waiting up to ``timeout``), bridged until over."""
        name = self.dial.targets[0].address
        relay = self.relay
        assert relay is not None
        self.note("dial", target=name, how="queue")
        if not self.queues.exists(name):
            self.note("dial_ended", target=name, status="failed", ended_by="no such queue")
            return DialResult("failed")
        taken = await self._take(name)
        if taken is None:
            self.note("dial_ended", target=name, status="no-answer", ended_by="queue empty")
            return DialResult("no-answer")
        leg = QueueLeg()
        self.sid = taken.call_sid
        taken.offer(Dequeue(relay, leg, self.call_sid))
        ended, talked = await relay.run(leg)
        self.answered = talked is not None
        kind = ended.kind if ended is not None else None
        result = DialResult(dial_status(kind, self.answered), self.sid,
                            None if talked is None else round(talked))  # fmt: skip
        self.note("dial_ended", target=name, status=result.status, seconds=result.duration,
                  ended_by=relay.ended_by or kind or "")  # fmt: skip
        return result

    async def _take(self, name: str) -> QueuedCaller[Any] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.dial.timeout
        while True:
            taken = self.queues.take(name)
            if taken is not None:
                return taken[1]
            left = deadline - loop.time()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self.queues.joined(name)

    def at_hangup(self) -> DialResult:
        """The dequeuing caller hung up: the bridge ends; how, for the ``action``."""
        if not self.sid:
            return DialResult("canceled")
        return super().at_hangup()
