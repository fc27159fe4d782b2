"""What the parts of one assistant call share: its record, observer, clock and tasks.

Every collaborator of :class:`sipgw.agent.assistant.agent.AssistantAgent` gets the call's
:class:`CallScope` instead of the agent itself, so none of them holds the agent
(a reference back would make a cycle that outlives the call) and each sees only
this: the call record to write to, the observer to report to (the gateway sets
it after the agent is built; until then, and without a gateway, reports go
nowhere), the event loop's clock, and one set of tasks that the call's end
cancels together.

:class:`ScopedAgent` is what both AI agents (the assistant and the
speech-to-speech agent) do with their scope the same way: the record opens
with the call's line (and a warning for variables the prompt or greeting lacks),
the gateway's observer goes into it, the call's media quality into its record,
the answer releases the held playout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sipgw.agent.base import Agent, CallControl
from sipgw.agent.observer import (
    AgentObserver,
    ErrorKind,
    IdleOutcome,
    PreemptiveOutcome,
    Service,
    SpeculativeOutcome,
)
from sipgw.agent.playout import Playout
from sipgw.agent.record import CallRecord
from sipgw.agent.talk import TalkFigures, TalkTally
from sipgw.foundation.handled_errors import forget_frames
from sipgw.foundation.tracing import NO_SPAN, Span
from sipgw.media.quality import CallQuality

__all__ = ["NO_OBSERVER", "CallScope", "ScopedAgent", "ms_between"]

log = logging.getLogger("sipgw.agent")

T = TypeVar("T")


class TalkListener(Protocol):
    """What hears the caller's speech start and end (the turn-taking machine)."""

    talk: TalkTally | None


class _NoObserver:
    """Reports nowhere (no gateway metrics)."""

    def turn_measured(self, stages: Mapping[str, float]) -> None:
        """Nothing counts it."""

    def barge_in(self) -> None:
        """Nothing counts it."""

    def tool_called(self, source: str, outcome: str, seconds: float) -> None:
        """Nothing counts it."""

    def service_error(self, service: Service, kind: ErrorKind, status: int | None = None) -> None:
        """Nothing counts it."""

    def preemptive(self, outcome: PreemptiveOutcome) -> None:
        """Nothing counts it."""

    def speculative_speech(self, outcome: SpeculativeOutcome, chars: int) -> None:
        """Nothing counts it."""

    def tts_spoken(self, chars: int) -> None:
        """Nothing counts it."""

    def service_ok(self, service: Service) -> None:
        """Nothing counts it."""

    def failure_decision(self, decision: str) -> None:
        """Nothing counts it."""

    def answer_detected(self, kind: str, seconds: float) -> None:
        """Nothing counts it."""

    def idle(self, step: IdleOutcome) -> None:
        """Nothing counts it."""

    def talk_measured(self, figures: TalkFigures) -> None:
        """Nothing counts it."""


NO_OBSERVER: AgentObserver = _NoObserver()
"""The observer of a call nobody observes."""


def ms_between(later: float | None, earlier: float | None) -> float | None:
    """Milliseconds between two loop times, to 0.1 ms; None if either is unknown."""
    return None if later is None or earlier is None else round((later - earlier) * 1000, 1)


class CallScope:
    """One call's shared record, observer, clock and tasks.

    Attributes:
        log_id: how log lines name the call (its Call-ID, whole, as the gateway's lines do).
        record: the call record (:mod:`sipgw.agent.record`).
        observer: where metrics go (:data:`NO_OBSERVER` until the gateway sets one).
        span: the call's trace span (:data:`~sipgw.foundation.tracing.NO_SPAN` until the gateway
            sets one, and when tracing is off).
        loop: the event loop the call runs on.
        answered_at: when the call was answered (loop time; 0 until then).
        closed: the call has ended (the agent is closing or closed).
        talk: who talked when (:mod:`sipgw.agent.talk`): the agent's playout and turn-taking
            machine feed it.
    """

    __slots__ = (
        "_tasks", "answered_at", "closed", "log_id", "loop", "observer", "record", "span",
        "talk",
    )  # fmt: skip

    def __init__(self, call_id: str, record: CallRecord, loop: asyncio.AbstractEventLoop) -> None:
        self.log_id = call_id
        self.record = record
        self.observer: AgentObserver = NO_OBSERVER
        self.span: Span = NO_SPAN
        self.loop = loop
        self.answered_at = 0.0
        self.closed = False
        self.talk = TalkTally()
        self._tasks: set[asyncio.Task[Any]] = set()

    def now(self) -> float:
        """The event loop's clock (every time the call records is on it)."""
        return self.loop.time()

    def write(self, record: dict[str, Any]) -> None:
        """Add a line to the call record."""
        self.record.write(record)

    def answered(self) -> None:
        """The call was answered now: :attr:`answered_at` set, the record's ``answered``
        line written."""
        self.answered_at = self.now()
        self.talk.answered(self.answered_at)
        self.write({"type": "answered"})

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
        elif (failure := task.exception()) is not None:
            log.error("[%s] agent task failed", self.log_id, exc_info=failure)
            # Logged: its frames (which hold the task's objects, and through them often
            # the failure itself) need not wait for a full garbage collection.
            forget_frames(failure)


class ScopedAgent(Agent):
    """An agent whose parts share a :class:`CallScope` (``scope``), with a playout held
    until the answer (``playout``) and the call (``call``)."""

    call: CallControl
    scope: CallScope
    playout: Playout

    def open_record(
        self, missing: Sequence[str], details: Mapping[str, object], **extra: object
    ) -> None:
        """The record's first line: the call, its leg, its ``details`` (as the prompt shows
        them: :func:`sipgw.agent.conversation.opening.call_data`) and ``extra``; when the prompt or
        greeting uses variables the call lacks (``missing``), a warning naming them."""
        call, scope = self.call, self.scope
        scope.write(
            {"type": "call", "call_id": call.call_id, "caller": call.caller,
             "called": call.called, "direction": call.direction, "leg": call.leg,
             "started": scope.record.started, **extra, **details}
        )  # fmt: skip
        if missing:
            names = ", ".join(f"{{{name}}}" for name in missing)
            log.warning("[%s] the prompt or greeting uses %s, which this call has no variable "
                        "for: left empty", scope.log_id, names)  # fmt: skip
            scope.write({"type": "missing_variables", "names": list(missing)})

    @property
    def observer(self) -> AgentObserver | None:
        """Where the call's metrics go (set by the gateway); None: nowhere."""
        observer = self.scope.observer
        return None if observer is NO_OBSERVER else observer

    @observer.setter
    def observer(self, observer: AgentObserver | None) -> None:
        self.scope.observer = NO_OBSERVER if observer is None else observer

    @property
    def span(self) -> Span:
        """The call's trace span (set by the gateway; its turns' spans go under it)."""
        return self.scope.span

    @span.setter
    def span(self, span: Span) -> None:
        self.scope.span = span

    def on_quality(self, quality: CallQuality) -> None:
        """Keep the call's media quality figures in the record (before the ``end`` line)."""
        self.scope.write({"type": "quality", **quality.record()})

    def listen_to_talk(self, turns: TalkListener) -> None:
        """Who talks when goes to the scope's tally: the agent's from the playout, the
        caller's from the turn-taking machine ``turns``."""
        self.playout.talk = turns.talk = self.scope.talk

    def record_talk(self, figures: TalkFigures | None) -> None:
        """The call's talk figures (taken as it ended) in the record (its ``talk`` line,
        before ``end``) and to the metrics; nothing for a call never answered."""
        if figures is not None:
            self.scope.write({"type": "talk", **figures.record()})
            self.scope.observer.talk_measured(figures)

    def release_playout(self) -> None:
        """The call was answered: its held audio plays from now on (the first frame at once)."""
        playout = self.playout
        playout.held = False
        if playout.pending:
            self.call.audio_ready()
        self.scope.answered()
