"""What every agent does the same way while answering-machine detection runs on a placed call.

:class:`AnswerRound` is the part the assistant's
:class:`sipgw.agent.assistant.answering.Answering` and the speech-to-speech agents'
:class:`sipgw.agent.s2s.answering.S2sAnswering` share: it runs the detector
(:class:`~sipgw.agent.amd.detector.AnsweringMachineDetector`) on the callee's audio with its
decision timer, asks the policy (:class:`~sipgw.agent.amd.policy.AnswerPolicy`) what
follows, holds its actions until the answer and then dispatches them, starts a new round
after a screener was answered, and ends detection once its answer is final (the detector
is done, the message or the hang-up happened, or a person's greeting is over and the
callee was quiet for ``greeting_end_silence``), writing the record's lines
(:mod:`sipgw.agent.amd.records`) and reporting the result once.

What differs stays with each agent, in the methods it overrides: how the conversation
begins and how a line is said (the assistant's greeter and speaker, the session's reply
requests), what it keeps of the callee's words, and how it cuts a reply and hangs up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from typing import Any, Generic, TypeVar

from sipgw.agent.amd.detector import AnsweringMachineDetector
from sipgw.agent.amd.events import AmdEvent, AnswerClassified, AnswerKind
from sipgw.agent.amd.policy import (
    AnswerAction,
    AnswerPolicy,
    AnswerScreener,
    BeginConversation,
    HangUp,
    LeaveMessage,
    StopSpeaking,
    YieldToCallee,
)
from sipgw.agent.amd.records import decision_line, ready_line, result_line
from sipgw.agent.amd.settings import AmdConfig, AmdMode, AmdRequest, AnsweringSettings
from sipgw.agent.callscope import CallScope

__all__ = ["AnswerRound"]

log = logging.getLogger("sipgw.agent")

ScopeT = TypeVar("ScopeT", bound=CallScope)


class AnswerRound(Generic[ScopeT]):
    """Detection on one placed call, for any agent (see the module docstring).

    Args:
        scope: the call's record, clock and tasks.
        request: what the call asked for (its mode, maybe its own message).
        settings: the messages and the detector's thresholds.

    Attributes:
        detector: the detector while detection runs; None once it is over.
        decision: the last decision.
        action: what was done: "conversation", "message", "hang_up", or "" so far.
    """

    __slots__ = (
        "_answered", "_policy", "_queued", "_reported", "_round_started", "_scope", "_screened",
        "_settings", "_started", "_timer", "action", "decision", "detector", "mode", "request",
        "__weakref__",
    )  # fmt: skip

    def __init__(self, scope: ScopeT, request: AmdRequest, settings: AnsweringSettings) -> None:
        self._scope = scope
        self.request = request
        self.mode = request.mode
        self._settings = settings
        self._answered = False
        self._queued: list[AnswerAction] = []
        self._screened = 0
        self._timer: asyncio.TimerHandle | None = None
        self._reported = False
        self.decision: AnswerClassified | None = None
        self.action = ""
        self.detector: AnsweringMachineDetector | None = None
        self._policy = AnswerPolicy(self.mode)
        self._started = self._round_started = scope.now()
        self._start_round(settings.detector)

    # -- what the agent asks

    @property
    def waits(self) -> bool:
        """The opening waits for a decision (every mode but ``detect``)."""
        return self.mode is not AmdMode.DETECT

    def result(self) -> dict[str, Any]:
        """Who answered, as far as detection knows now (the ``who_answered`` tool)."""
        decision = self.decision
        return {
            "mode": self.mode.value,
            "answered_by": decision.kind.value if decision is not None else "undecided",
            "reason": decision.reason if decision is not None else "",
            "decided_after_s": (
                round(decision.at - self._started, 2) if decision is not None else None
            ),
            "final": self.detector is None,
            "action": self.action,
        }

    # -- the agent's calls

    def answered(self) -> None:
        """The call is answered (the agent's audio may play): do what was decided meanwhile."""
        self._answered = True
        if not self.waits:
            self.action = "conversation"
        self._at_answer()
        queued, self._queued = self._queued, []
        self._carry_out(tuple(queued))

    def on_audio(self, frame: bytes, now: float) -> None:
        """A frame of the callee's audio at arrival."""
        detector = self.detector
        if detector is None:
            return
        self._handle(detector.receive_audio(frame, now), now)
        self._maybe_finish(now)

    def close(self) -> None:
        """The call ended: the result is final."""
        self._finish("call ended")

    # -- what each agent does its own way

    def _at_answer(self) -> None:
        """At the answer, before the actions decided meanwhile: what the opening needs."""
        raise NotImplementedError

    def _begun(self, action: BeginConversation) -> None:
        """The conversation begins (recorded already): open it."""
        raise NotImplementedError

    def _yield(self) -> None:
        """The callee went on over the opening (only if :attr:`_can_start_over` said so)."""

    def _stopped(self, action: StopSpeaking, late: bool) -> None:
        """A revision made the "person" a machine (recorded already): cut the reply;
        ``late``: the conversation had begun."""
        raise NotImplementedError

    def _message(self, text: str) -> None:
        """Say the message (``text``, or the agent's own when empty), then hang up once heard."""
        raise NotImplementedError

    def _answer_screener(self) -> None:
        """Answer the screener (see :meth:`_screener_line`), then listen again."""
        raise NotImplementedError

    def _cut(self) -> None:
        """Cut the agent's reply in progress at once."""
        raise NotImplementedError

    def _end_call(self) -> None:
        """Hang up now."""
        raise NotImplementedError

    @property
    def _can_start_over(self) -> bool:
        """The opening can stop and start over when the callee goes on over it."""
        return False

    def _round_begun(self) -> None:
        """A round of detection begins (the first, or one after a screener)."""

    def _after_events(self) -> None:
        """The policy was told of the detector's events (its actions are done or queued)."""

    def _decided(self, event: AnswerClassified) -> None:
        """A decision (or a revision) was recorded."""

    def _greeted(self) -> None:
        """A person's greeting is over: what the callee says now is conversation."""

    def _detection_over(self) -> None:
        """Detection ends (each time :meth:`_finish` is called, before it reports once)."""

    # -- detection

    def _start_round(self, config: AmdConfig) -> None:
        self.detector = AnsweringMachineDetector(self._scope.now(), config)
        self._round_begun()
        self._arm_timer()

    def _next_round(self) -> None:
        """A new round of detection after a screener (its person may take a while)."""
        settings = self._settings
        config = dataclasses.replace(
            settings.detector,
            deadline=settings.screener_wait,
            settle=settings.screener_wait + settings.detector.settle,
        )
        self._stop_detecting()
        self._policy = AnswerPolicy(self.mode, after_screener=True)
        self._round_started = self._scope.now()
        self._start_round(config)

    def _arm_timer(self) -> None:
        self._cancel_timer()
        detector = self.detector
        due = detector.get_timer() if detector is not None else None
        if due is not None:
            self._timer = self._scope.loop.call_at(due, self._timer_fired)

    def _cancel_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            timer.cancel()
            self._timer = None

    def _timer_fired(self) -> None:
        self._timer = None
        detector = self.detector
        if detector is None or self._scope.closed:
            return
        now = self._scope.now()
        self._handle(detector.handle_timer(now), now)
        self._maybe_finish(now)
        if self.detector is not None and self._timer is None:
            self._arm_timer()

    def _handle(self, events: tuple[AmdEvent, ...], now: float) -> None:
        detector = self.detector
        if detector is None:
            return
        for event in events:
            self._record(event)
        classifier = detector.classifier
        actions = self._policy.receive(
            events,
            classifier.evidence,
            callee_speaking=classifier.in_speech,
            can_start_over=self._can_start_over,
        )
        self._act(actions)
        self._after_events()
        if self.detector is not None and any(isinstance(e, AnswerClassified) for e in events):
            self._arm_timer()

    def _record(self, event: AmdEvent) -> None:
        scope = self._scope
        if isinstance(event, AnswerClassified):
            self.decision = event
            scope.write(decision_line(event, self._screened))
            log.info("[%s] answered by: %s (%s) after %.2f s%s", scope.log_id, event.kind.value,
                     event.reason, event.elapsed,
                     f", revision {event.revision}" if event.revision else "")  # fmt: skip
            self._decided(event)
        else:
            scope.write(ready_line(event, self._round_started))

    def _maybe_finish(self, now: float) -> None:
        """End detection once its answer is final: the detector is done, or a person's
        greeting is over and the callee was quiet long enough (on their timeline: frames
        a stall of the gateway held back are no quiet)."""
        detector = self.detector
        if detector is None:
            return
        if detector.done:
            self._finish("done")
            return
        decision = detector.decision
        if decision is None or decision.kind.is_machine:
            return
        if self.waits and not self._policy.speaking:
            return  # undecided for the call yet (after a screener: the person's words)
        classifier = detector.classifier
        if classifier.in_speech or detector.clock.overdue(now):
            return
        last = classifier.last_voice
        quiet = detector.clock.at(now) - last if last is not None else math.inf
        if not classifier.machines_only and quiet >= detector.config.greeting_gap:
            classifier.greeted()  # the conversation's now: a machine's words or a tone only
            self._greeted()
        if classifier.machines_only and quiet >= detector.config.greeting_end_silence:
            self._finish("greeting over")

    def _stop_detecting(self) -> None:
        self._cancel_timer()
        self.detector = None

    def _finish(self, why: str) -> None:
        """Detection is over: its last decision is the result (recorded, reported once)."""
        self._stop_detecting()
        self._detection_over()
        if self._reported:
            return
        self._reported = True
        decision = self.decision
        self._scope.write(
            result_line(self.mode, decision, self._started, why, self.action, self._screened)
        )
        if decision is not None:
            self._scope.observer.answer_detected(decision.kind.value, decision.at - self._started)

    # -- actions

    def _act(self, actions: tuple[AnswerAction, ...]) -> None:
        if not actions:
            return
        if not self._answered:
            self._queued += actions
            return
        self._carry_out(actions)

    def _carry_out(self, actions: tuple[AnswerAction, ...]) -> None:
        for action in actions:
            if self._scope.closed:
                return
            if isinstance(action, BeginConversation):
                self._begin(action)
            elif isinstance(action, YieldToCallee):
                self._yield()
            elif isinstance(action, StopSpeaking):
                self._stop(action)
            elif isinstance(action, LeaveMessage):
                self._leave_message(action)
            elif isinstance(action, AnswerScreener):
                self._answer_screener()
            elif isinstance(action, HangUp):
                self._hang_up(action)

    def _begin(self, action: BeginConversation) -> None:
        self._scope.write({"type": "amd_action", "action": "begin", "reason": action.reason})
        self.action = "conversation"
        self._begun(action)

    def _stop(self, action: StopSpeaking) -> None:
        detector = self.detector
        late = detector is not None and detector.classifier.machines_only
        self._scope.write({"type": "amd_action", "action": "stop", "kind": action.kind.value,
                           "late": late})  # fmt: skip
        self._stopped(action, late)
        self.action = ""

    def _leave_message(self, action: LeaveMessage) -> None:
        text = self.request.message if self.request.message is not None else ""
        text = text or self._settings.message
        self._scope.write({"type": "amd_action", "action": "message", "cause": action.cause,
                           "fixed": bool(text)})  # fmt: skip
        self.action = "message"
        self._message(text)
        self._finish("message")

    def _screener_line(self) -> str | None:
        """Count one more answer to a screener and record it: the configured line ("" = the
        agent writes its own), or None once the answers allowed were given (it hung up)."""
        if self._screened >= self._settings.max_screener_answers:
            self._hang_up(HangUp(AnswerKind.SCREENER))
            return None
        self._screened += 1
        line = self._settings.screener_line
        self._scope.write({"type": "amd_action", "action": "screener_answer",
                           "fixed": bool(line), "answer": self._screened})  # fmt: skip
        return line

    def _hang_up(self, action: HangUp) -> None:
        self._scope.write({"type": "amd_action", "action": "hang_up", "kind": action.kind.value})
        self.action = "hang_up"
        self._cut()
        self._finish("hang up")
        self._end_call()
