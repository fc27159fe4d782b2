"""``<Enqueue>`` carried out: the caller waits in a queue, hearing the ``waitUrl``'s TwiML.

Theory of operation
-------------------
:class:`EnqueueRun` puts the caller (a :class:`~sipgw.agent.multiparty.queues.QueuedCaller`)
at the back of the named queue in the gateway's registry
(:class:`~sipgw.agent.multiparty.queues.CallQueues`); a full queue ends it at once
(``queue-full``). While the caller waits:

- the ``waitUrl`` document is fetched with Twilio's wait fields (``QueueSid``,
  ``QueuePosition``, ``QueueTime``, ``AvgQueueTime``, ``CurrentQueueSize``,
  ``MaxQueueSize``, beside the call's) and its verbs run in order (the TwiML agent's own
  ``<Say>``, ``<Play>``, ``<Pause>``, ``<Gather>``; ``<Redirect>``, and a ``<Gather>``'s
  action with the input, fetch the next wait document), and when it runs out it is fetched
  again, as on Twilio; ``<Leave>`` leaves the queue (``leave``), ``<Hangup>`` ends the call
  (``hangup``). A verb Twilio does not allow in a wait document
  (:data:`~sipgw.twilio.queuetwiml.WAIT_VERBS`) is refused (logged, recorded) and the
  document goes on. No ``waitUrl``, or one that fails:
  the caller hears ring tone.
- another call's ``<Dial><Queue>`` takes them (:mod:`sipgw.agent.twiml.queues.queuedial`): the
  wait audio stops at once, the ``<Queue url>`` document (if any: ``<Say>``, ``<Play>``,
  ``<Pause>``, ``<Redirect>``) is fetched with ``QueueSid``, ``QueueTime``,
  ``DequeingCallSid`` and played to this caller, then the two are bridged through the
  dequeuing ``<Dial>``'s relay (:class:`~sipgw.agent.twiml.dial.bridge.DialRelay`: this
  caller is its called party) until
  either side ends it; the outcome is ``bridged``.

:meth:`EnqueueRun.run` says how it ended (:class:`QueueOutcome`); the TwiML agent posts it
to ``action`` (then the action's TwiML runs) or goes on after the ``<Enqueue>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from sipgw.agent.base import CallControl
from sipgw.agent.multiparty.queues import CallQueues, QueuedCaller, QueueFull
from sipgw.agent.twiml.dial.rules import ringback_frame
from sipgw.agent.twiml.program import Fetch, Finished, Program, Refused, Run, Wait, absolute_url
from sipgw.agent.twiml.queues.queuedial import Dequeue
from sipgw.twilio.document import Gather, Pause, Play, Redirect, Say, Verb
from sipgw.twilio.queuetwiml import ANNOUNCE_VERBS, WAIT_VERBS, Enqueue, Leave

__all__ = ["MIN_WAIT_PASS", "EnqueueRun", "QueueOutcome", "WaitHooks"]

log = logging.getLogger("sipgw.agent")

MIN_WAIT_PASS: Final = 1.0
"""Shortest time one pass over a wait document takes: a document with nothing to hear
(empty, or only refused verbs) is fetched again after this, not in a tight loop."""
MAX_ANNOUNCE_DOCUMENTS: Final = 5
"""``<Queue url>`` documents followed through ``<Redirect>`` at most."""


@dataclass(frozen=True, slots=True)
class QueueOutcome:
    """How the caller left the queue: Twilio's ``QueueResult`` and the fields the
    ``action`` gets."""

    result: str
    """``bridged``, ``queue-full``, ``leave``, ``hangup``, ``redirected`` or ``error``."""
    sid: str = ""
    waited: float | None = None
    """Seconds in the queue (None: never in it)."""

    def params(self) -> tuple[tuple[str, str], ...]:
        """``QueueResult``, and ``QueueSid``, ``QueueTime`` when the call was in the queue."""
        fields = [("QueueResult", self.result)]
        if self.sid:
            fields.append(("QueueSid", self.sid))
        if self.waited is not None:
            fields.append(("QueueTime", str(int(self.waited))))
        return tuple(fields)


@dataclass(frozen=True, slots=True)
class WaitHooks:
    """What the TwiML agent does for a waiting caller.

    Attributes:
        fetch: fetches a document (url, method, fields beside the call's): its verbs and
            final URL, or None when it failed (logged and recorded there).
        perform: plays a ``<Say>`` or ``<Play>`` (absolute URL) to the caller; returns when heard.
        silence: drops the audio queued for the caller at once.
        note: writes one line of the call record.
        gather: runs a ``<Gather>`` (its nested verbs' URLs absolute): the fields to post to
            its action, or None (no input).
    """

    fetch: Callable[[str, str, tuple[tuple[str, str], ...]],
                    Awaitable[tuple[tuple[Verb, ...], str] | None]]  # fmt: skip
    perform: Callable[[Say | Play], Awaitable[None]]
    silence: Callable[[], None]
    note: Callable[..., None]
    gather: Callable[[Gather], Awaitable[tuple[tuple[str, str], ...] | None]]


class EnqueueRun:
    """One ``<Enqueue>`` (see the module docstring).

    Args:
        verb: the verb, its URLs absolute.
        queues: the gateway's queues.
        call_sid: the caller's ``CallSid``.
        hooks: what the agent does for it.
        log_id: the call's id, for the log.
    """

    def __init__(
        self, verb: Enqueue, queues: CallQueues, call_sid: str, hooks: WaitHooks, log_id: str
    ) -> None:
        self.verb = verb
        self.queues = queues
        self.hooks = hooks
        self.log_id = log_id
        self._loop = asyncio.get_running_loop()
        self.caller: QueuedCaller[Dequeue] = QueuedCaller(call_sid, self._loop.time())
        self.sid = ""
        self.dequeue: Dequeue | None = None
        """Who took the caller, once taken."""
        self.narrowband = False
        """The caller's frames go elsewhere in μ-law too (a fork, a detector): the bridge
        stays 8 kHz μ-law whatever the two codecs are."""
        self.bridged = False
        """The caller is talking through the dequeuing call's relay."""
        self._rings = 0
        self._ringing = False
        self._left = asyncio.Event()
        self._caller_gone = False
        self.hung_up = False
        """A ``<Hangup>`` in the wait document: the call is to end."""
        self._waited = 0.0

    # -- the caller's per-tick calls

    def frame_for_caller(self) -> bytes | None:
        """What the caller hears from the relay (bridged), or ring tone (no wait audio)."""
        if self.bridged and self.dequeue is not None:
            return self.dequeue.relay.frame_for_leg()
        if self._ringing:
            self._rings += 1
            return ringback_frame(self._rings - 1)
        return None

    @property
    def talking(self) -> bool:
        """The agent's frames come from here (bridged, or ring tone), not its own audio."""
        return self.bridged or self._ringing

    def caller_frame(self, frame: bytes | None) -> None:
        """The caller's 20 ms (its jitter buffer's playout): to the other side once bridged."""
        if self.bridged and self.dequeue is not None:
            self.dequeue.relay.leg_frame(frame)

    def caller_key(self, digit: str) -> None:
        """The caller's key: to the other side once bridged."""
        if self.bridged and self.dequeue is not None:
            self.dequeue.relay.called_key(digit)

    # -- the run

    def waited(self) -> float:
        """Seconds since the caller joined."""
        return self._loop.time() - self.caller.joined_at

    async def run(self, call: CallControl) -> QueueOutcome:
        """Wait in the queue until taken (then bridged until over), a ``<Leave>``, a
        ``<Hangup>`` or the wait document's end of the call; ``call`` is the caller's
        :class:`~sipgw.agent.base.CallControl` (the relay's called party)."""
        verb = self.verb
        try:
            self.sid = self.queues.join(verb.name, self.caller, verb.max_queue_size)
        except QueueFull as exc:
            log.info("[%s] <Enqueue> %s: %s", self.log_id, verb.name, exc)
            self.hooks.note("enqueue", queue=verb.name, result="queue-full")
            return QueueOutcome("queue-full")
        self.hooks.note("enqueue", queue=verb.name, queue_sid=self.sid)
        music = asyncio.ensure_future(self._wait_audio())
        left = asyncio.ensure_future(self._left.wait())
        try:
            waiting: set[asyncio.Future[Any]] = {music, left, self.caller.taken}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not self.caller.taken.done():
                self.queues.leave(verb.name, self.caller)
                result = "hangup" if self._caller_gone or self.hung_up else "leave"
                return QueueOutcome(result, self.sid, self.waited())
            waited = self.waited()
            music.cancel()
            self._ringing = False
            self.hooks.silence()
            return await self._bridge(call, self.caller.taken.result(), waited)
        finally:
            music.cancel()
            left.cancel()
            self._ringing = False
            self.queues.leave(verb.name, self.caller)
            taken = self.caller.taken
            if not taken.done():
                taken.cancel()  # no longer offered to a dequeuing call
            elif not taken.cancelled():
                self.bridged = False
                taken.result().leg.finish("failed")  # the caller left (if not over already)

    async def _bridge(self, call: CallControl, dequeue: Dequeue, waited: float) -> QueueOutcome:
        self.dequeue, self._waited = dequeue, waited
        self.hooks.note("dequeued", queue=self.verb.name, by=dequeue.dequeuing_sid,
                        waited=round(waited, 1))  # fmt: skip
        target = dequeue.relay.dial.targets[0]
        if target.url:
            fields = (("QueueSid", self.sid), ("QueueTime", str(int(waited))),
                      ("DequeingCallSid", dequeue.dequeuing_sid))  # fmt: skip
            await self._announce(target.url, target.method, fields)
        if dequeue.leg.over:  # the dequeuing call ended meanwhile
            return QueueOutcome("error", self.sid, waited)
        self.bridged = True
        if self.narrowband:
            dequeue.relay.wideband = False
        dequeue.relay.leg_answered(call)
        await dequeue.leg.wait()
        self.bridged = False
        return QueueOutcome("bridged", self.sid, waited)

    async def _announce(self, url: str, method: str, fields: tuple[tuple[str, str], ...]) -> None:
        """The ``<Queue url>`` document, to the dequeued caller."""
        fetched = await self.hooks.fetch(url, method, fields)
        documents = 1
        while fetched is not None:
            verbs, where = fetched
            fetched = None
            for verb in verbs:
                if isinstance(verb, Say | Play):
                    await self.hooks.perform(_absolute(verb, where))
                elif isinstance(verb, Pause):
                    await asyncio.sleep(verb.length)
                elif isinstance(verb, Redirect) and documents < MAX_ANNOUNCE_DOCUMENTS:
                    documents += 1
                    try:
                        next_url = absolute_url(where, verb.url)
                    except ValueError:
                        break
                    fetched = await self.hooks.fetch(next_url, verb.method, fields)
                    break
                else:
                    self._refuse(verb, ANNOUNCE_VERBS, "<Queue url>")

    async def _wait_audio(self) -> None:
        """The ``waitUrl``'s TwiML in a loop (see the module docstring); returns on
        ``<Leave>`` (the event set) or ``<Hangup>``."""
        verb = self.verb
        if not verb.wait_url:
            self._ringing = True
            await asyncio.Event().wait()
        while True:
            started = self._loop.time()
            fields = self.queues.stats(verb.name, self.caller, started).params(self.waited())
            fetched = await self.hooks.fetch(verb.wait_url, verb.wait_url_method, fields)
            if fetched is None:
                self._ringing = True
                await asyncio.Event().wait()
                return
            program = Program(*fetched)
            if await self._follow(program):
                return
            await asyncio.sleep(max(0.0, started + MIN_WAIT_PASS - self._loop.time()))

    async def _follow(self, program: Program) -> bool:
        """One wait document to its end; True when the wait is over (``<Leave>``,
        ``<Hangup>``)."""
        while True:
            step = program.next_step(self._loop.time())
            if isinstance(step, Finished):
                if step.reason == "hangup":
                    self.hung_up = True
                    return True
                return False
            if isinstance(step, Wait):
                await asyncio.sleep(max(0.0, step.until - self._loop.time()))
            elif isinstance(step, Refused):
                self._refuse_named(step.name, step.why)
            elif isinstance(step, Fetch):
                fields = self.queues.stats(self.verb.name, self.caller, self._loop.time())
                fetched = await self.hooks.fetch(step.url, step.method,
                                                 fields.params(self.waited()))  # fmt: skip
                if fetched is None:
                    return False
                program.load(*fetched)
            else:
                assert isinstance(step, Run)
                verb = step.verb
                if isinstance(verb, Leave):
                    self._left.set()
                    return True
                if isinstance(verb, Say | Play):
                    await self.hooks.perform(_absolute(verb, program.url))
                elif isinstance(verb, Gather):
                    if not await self._gathered(program, verb):
                        return False
                else:
                    self._refuse(verb, WAIT_VERBS, "waitUrl")

    async def _gathered(self, program: Program, verb: Gather) -> bool:
        """A wait document's ``<Gather>``: with input, its action (the document's own URL
        when it names none) is fetched with the input and the wait fields, and its TwiML is
        the wait document from now on (``<Leave>`` there leaves the queue); False when that
        fetch failed (the wait document is fetched again)."""
        prompts = tuple(_absolute(p, program.url) if isinstance(p, Say | Play) else p
                        for p in verb.prompts)  # fmt: skip
        params = await self.hooks.gather(replace(verb, prompts=prompts))
        if params is None:
            return True
        try:
            url = absolute_url(program.url, verb.action or program.url)
        except ValueError as exc:
            self._refuse_named("Gather action", str(exc))
            return True
        stats = self.queues.stats(self.verb.name, self.caller, self._loop.time())
        fetched = await self.hooks.fetch(url, verb.method, (*params, *stats.params(self.waited())))
        if fetched is None:
            return False
        program.load(*fetched)
        return True

    def _refuse(self, verb: Verb, allowed: frozenset[str], where: str) -> None:
        name = type(verb).__name__
        why = f"not allowed in a {where} document (only {', '.join(sorted(allowed))})"
        self._refuse_named(name, why)

    def _refuse_named(self, name: str, why: str) -> None:
        log.warning("[%s] TwiML <%s> refused in a queue: %s", self.log_id, name, why)
        self.hooks.note("refused", verb=name, why=why)

    def at_hangup(self) -> QueueOutcome:
        """The caller hung up: out of the queue; how it ended for the ``action``."""
        self._caller_gone = True
        self.queues.leave(self.verb.name, self.caller)
        if self.dequeue is not None:
            self.dequeue.leg.finish("answered" if self.bridged else "failed")
            self.bridged = False
            return QueueOutcome("bridged", self.sid, self._waited)
        return QueueOutcome("hangup", self.sid, self.waited())


def _absolute(verb: Say | Play, base: str) -> Say | Play:
    if isinstance(verb, Play) and base:
        with contextlib.suppress(ValueError):
            return replace(verb, url=absolute_url(base, verb.url))
    return verb
