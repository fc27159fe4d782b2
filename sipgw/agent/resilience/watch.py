"""One call's failure policy on the event loop: events in, decisions noted and carried out.

:class:`FailureWatch` is the thin asyncio adapter of the sans-IO
:class:`sipgw.agent.resilience.policy.FailurePolicy`, as the SIP endpoint is of the user
agent: it passes each event and ``loop.time()`` in, keeps one ``call_at`` armed
for the policy's next deadline, and hands every decision, with the audio of its
line (:func:`sipgw.agent.resilience.line_cache.fallback_audio`: the agent's voice from
the cache, else the shipped recording), to the agent's :class:`DecisionTaker`.

Every decision is *noted* the same way whoever carries it out: a ``failure`` line
in the call record (the dashboard shows it), a log line, and
:meth:`sipgw.agent.observer.AgentObserver.failure_decision` for ``/metrics``.

Two ways in: :meth:`FailureWatch.report` notes the decisions and returns them to
the caller, which carries them out itself (a failure inside a reply: the line is
said at that reply's end); :meth:`FailureWatch.report_and_carry_out` (and the
timer) hands them to the taker (a line of its own, a transfer, a goodbye).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

from sipgw.agent.callscope import CallScope
from sipgw.agent.resilience.line_cache import FallbackLineCache, LineAudio, fallback_audio
from sipgw.agent.resilience.policy import (
    Action,
    Decision,
    FailureEvent,
    FailurePolicy,
    FailurePolicySettings,
)

__all__ = ["DecisionTaker", "FailureWatch", "Taken"]

log = logging.getLogger("sipgw.agent")

Taken = tuple[Decision, LineAudio | None]
"""A decision, with its line's audio (None for a note)."""


class DecisionTaker(Protocol):
    """Carries out the policy's decisions for one call (each agent's call actions)."""

    def carry_out(self, decision: Decision, audio: LineAudio | None) -> None:
        """Say ``audio``, then transfer or hang up as ``decision.action`` says."""
        ...


class FailureWatch:
    """One call's failure policy and its timer (see the module docstring).

    Args:
        scope: the call's record, observer, clock and tasks.
        settings: the policy's timings and counts.
        lines: the fallback lines in the agent's voice (None: the shipped recordings).
        transfer_available: a human target is configured (moving on is a transfer).
    """

    __slots__ = ("_lines", "_scope", "_taker", "_timer", "policy")

    def __init__(
        self,
        scope: CallScope,
        settings: FailurePolicySettings,
        lines: FallbackLineCache | None,
        *,
        transfer_available: bool,
    ) -> None:
        self._scope = scope
        self.policy = FailurePolicy(settings, transfer_available=transfer_available)
        self._lines = lines
        self._taker: weakref.ref[DecisionTaker] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def bind(self, taker: DecisionTaker) -> None:
        """Decisions the watch does not return go to ``taker`` (held weakly: it holds us)."""
        self._taker = weakref.ref(taker)

    def report(self, event: FailureEvent) -> list[Taken]:
        """Feed ``event``; the decisions are noted and returned, for the caller to carry out."""
        if self._scope.closed:
            return []
        decisions = self.policy.receive(event, self._scope.now())
        self._rearm()
        return [self._note(decision) for decision in decisions]

    def report_and_carry_out(self, event: FailureEvent) -> None:
        """Feed ``event``; its decisions are noted and carried out by the taker."""
        self._carry_out(self.report(event))

    def close(self) -> None:
        """The call ended: no more deadlines."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _rearm(self) -> None:
        due = self.policy.get_timer()
        if self._timer is not None and (due is None or self._timer.when() != due):
            self._timer.cancel()
            self._timer = None
        if due is not None and self._timer is None and not self._scope.closed:
            self._timer = self._scope.loop.call_at(due, self._deadline)

    def _deadline(self) -> None:
        self._timer = None
        if self._scope.closed:
            return
        decisions = self.policy.handle_timer(self._scope.now())
        self._rearm()
        self._carry_out([self._note(decision) for decision in decisions])

    def _carry_out(self, taken: list[Taken]) -> None:
        taker = self._taker() if self._taker is not None else None
        if taker is None:
            return
        for decision, audio in taken:
            if decision.action is not Action.NOTE:
                taker.carry_out(decision, audio)

    def _note(self, decision: Decision) -> Taken:
        """The decision in the record, the log and the metrics; its line's audio."""
        scope = self._scope
        audio = fallback_audio(decision.line, self._lines) if decision.line is not None else None
        line = decision.line.value if decision.line is not None else None
        source = audio.source if audio is not None else None
        scope.write({"type": "failure", "decision": decision.name,
                     "action": decision.action.value, "line": line, "source": source})  # fmt: skip
        log.warning("[%s] failure policy: %s%s", scope.log_id, decision.name,
                    f" (says {line}, {source})" if line else "")  # fmt: skip
        scope.observer.failure_decision(decision.name)
        return decision, audio
