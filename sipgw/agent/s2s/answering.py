"""Who answered a placed call, and what a speech-to-speech agent does about it (``docs/amd.md``).

:class:`S2sAnswering` is the speech-to-speech agent's part for a call placed with detection
on (:class:`~sipgw.agent.amd.settings.AmdRequest`), the counterpart of the assistant's
:class:`sipgw.agent.assistant.answering.Answering`. The same detector
(:class:`~sipgw.agent.amd.detector.AnsweringMachineDetector`) hears the callee's audio from
the answer on, and the same policy (:class:`~sipgw.agent.amd.policy.AnswerPolicy`) says
what follows.

The session is opened without a greeting, and until the conversation begins it hears
silence instead of the callee (:attr:`S2sAnswering.holds_input`): a service that takes
turns by itself (both vendors do) then has nothing to answer, and says nothing until it
is asked to (``reply.create``, ``response.create``:
:meth:`~sipgw.agent.s2s.base.SpeechToSpeech.request_reply`). So the detector decides on
the audio alone (voice activity, the greeting's length, the pauses, beeps and the
deadline); the callee's words join it once the session hears them (after a screener was
answered, and once the conversation has begun, for a late revision).

* *Begin*: the model speaks first: the call's fixed greeting (``outbound_greeting``,
  ``callback_greeting``), said as it is, or the opening it writes (the prompt says why
  the gateway called).
* *Stop*: a revision made the "person" a machine: the reply in progress is cut.
* *Leave the message*: the configured message (the call's own, else the
  ``SIPGW_AMD_MESSAGE``; none: the model writes one), then the hang-up once it was heard.
* *Answer the screener*: the configured line (or the model's), then the session hears the
  callee and a new round of detection listens for the person who follows.
* *Hang up*, with the result recorded.

The opening does not start over when the callee goes on over it (the assistant's
*yield*): the service's own barge-in cuts it, and the model answers what it heard.

The call record gets the assistant's lines: an ``amd`` line per decision, ``amd_ready``,
``amd_action`` per action and one ``amd_result`` line; the observer gets the result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import Any, Final

from sipgw.agent.amd.classifier import AmdEvent, AnswerClassified, AnswerKind
from sipgw.agent.amd.detector import AnsweringMachineDetector
from sipgw.agent.amd.policy import (
    AnswerAction,
    AnswerPolicy,
    AnswerScreener,
    BeginConversation,
    HangUp,
    LeaveMessage,
    StopSpeaking,
)
from sipgw.agent.amd.records import decision_line, ready_line, result_line
from sipgw.agent.amd.settings import AmdConfig, AmdMode, AmdRequest, AnsweringSettings
from sipgw.agent.s2s.actions import GOODBYE_INSTRUCTIONS, S2sActions
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.s2s.voice import ModelVoice
from sipgw.agent.stt.base import SttTurnEnded
from sipgw.agent.turns import Cause
from sipgw.agent.variables import render_lenient

__all__ = ["S2sAnswering"]

log = logging.getLogger("sipgw.agent")

MESSAGE_NOTE: Final = (
    "A voicemail answered and is recording now. Leave a short message: who you are, "
    "why you called, and how to reach you back. Do not ask questions; it cannot answer."
)
SCREENER_NOTE: Final = (
    "A call screener answered, not the person. Answer it in one short sentence: your "
    "name, whom you are calling and why. Then wait for the person."
)


class S2sAnswering:
    """Detection on one placed speech-to-speech call (see the module docstring).

    Args:
        scope: the call's record, clock, tasks and session.
        request: what the call asked for (its mode, maybe its own message).
        settings: the messages and the detector's thresholds.
        greeting: the call's fixed greeting, rendered ("" = the model writes the opening).
        voice: cuts the model's replies.
        actions: hangs up (at once, or once a reply was heard).
        variables: the call's variables (``{name}`` in the message and the screener line).

    Attributes:
        detector: the detector while detection runs; None once it is over.
        decision: the last decision.
        action: what was done: "conversation", "message", "hang_up", or "" so far.
    """

    __slots__ = (
        "_actions", "_answered", "_greeting", "_hearing", "_policy", "_queued", "_reported",
        "_round_started", "_scope", "_screened", "_settings", "_started", "_timer", "_turns",
        "_variables", "_voice", "action", "decision", "detector", "mode", "request",
        "__weakref__",
    )  # fmt: skip

    def __init__(
        self,
        scope: SessionScope,
        request: AmdRequest,
        settings: AnsweringSettings,
        greeting: str,
        voice: ModelVoice,
        actions: S2sActions,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        self._scope = scope
        self.request = request
        self.mode = request.mode
        self._settings = settings
        self._greeting = greeting
        self._voice = voice
        self._actions = actions
        self._variables = dict(variables or {})
        self._answered = False
        self._hearing = False  # the session hears the callee (after a screener's answer)
        self._queued: list[AnswerAction] = []
        self._screened = 0
        self._turns = 0
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

    @property
    def holds_input(self) -> bool:
        """The session hears silence, not the callee: until the conversation begins (or a
        screener was answered), so that it has nothing to reply to."""
        return self.waits and not self._policy.speaking and not self._hearing

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
        """The call is answered (the model's audio may play): do what was decided meanwhile;
        with ``detect``, the model speaks first at once."""
        self._answered = True
        if not self.waits:
            self.action = "conversation"
            self._open()
        queued, self._queued = self._queued, []
        self._carry_out(tuple(queued))

    def on_audio(self, frame: bytes, now: float) -> None:
        """A frame of the callee's audio at arrival (from the answer on)."""
        detector = self.detector
        if detector is None:
            return
        self._handle(detector.receive_audio(frame, now), now)
        self._maybe_finish(now)

    def on_transcript(self, text: str, now: float) -> None:
        """What the session heard the callee say (a finished turn)."""
        detector = self.detector
        if detector is None or not text.strip():
            return
        event = SttTurnEnded(text, self._turns, (), now, None)
        self._turns += 1
        self._handle(detector.receive_stt(event, now), now)
        decision = detector.decision
        if decision is not None and decision.kind is AnswerKind.HUMAN:
            self._act(self._policy.person_confirmed())
        self._maybe_finish(now)

    def close(self) -> None:
        """The call ended: the result is final."""
        self._finish("call ended")

    # -- detection

    def _start_round(self, config: AmdConfig) -> None:
        self.detector = AnsweringMachineDetector(self._scope.now(), config)
        self._arm_timer()

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
        self._act(
            self._policy.receive(events, classifier.evidence, callee_speaking=classifier.in_speech)
        )
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
        else:
            scope.write(ready_line(event, self._round_started))

    def _maybe_finish(self, now: float) -> None:
        """End detection once its answer is final, as the assistant's does: the detector is
        done, or a person's greeting is over and the callee was quiet long enough."""
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
        if classifier.in_speech:
            return
        last = classifier.last_voice
        quiet = now - last if last is not None else math.inf
        if not classifier.machines_only and quiet >= detector.config.greeting_gap:
            classifier.greeted()  # a machine's words or a tone only, from now on
        if classifier.machines_only and quiet >= detector.config.greeting_end_silence:
            self._finish("greeting over")

    def _stop_detecting(self) -> None:
        self._cancel_timer()
        self.detector = None

    def _finish(self, why: str) -> None:
        """Detection is over: its last decision is the result (recorded, reported once)."""
        self._stop_detecting()
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
            elif isinstance(action, StopSpeaking):
                self._stop(action)
            elif isinstance(action, LeaveMessage):
                self._leave_message(action)
            elif isinstance(action, AnswerScreener):
                self._answer_screener()
            elif isinstance(action, HangUp):
                self._hang_up(action)
            # YieldToCallee is never asked for: the policy is told the opening cannot
            # start over (the service's barge-in cuts it instead)

    def _begin(self, action: BeginConversation) -> None:
        self._scope.write({"type": "amd_action", "action": "begin", "reason": action.reason})
        self.action = "conversation"
        self._open()

    def _open(self) -> None:
        """The model speaks first: the fixed greeting as it is, or its own opening (the
        prompt says why the call was placed; it heard nothing of the callee yet)."""
        session = self._scope.session
        if self._greeting and not self._screened:
            session.request_reply(GOODBYE_INSTRUCTIONS.format(text=self._greeting))
        else:
            session.request_reply()

    def _stop(self, action: StopSpeaking) -> None:
        detector = self.detector
        late = detector is not None and detector.classifier.machines_only
        self._scope.write({"type": "amd_action", "action": "stop", "kind": action.kind.value,
                           "late": late})  # fmt: skip
        self._voice.cut(Cause.NOTICE)
        self._hearing = False
        self.action = ""

    def _leave_message(self, action: LeaveMessage) -> None:
        text = self.request.message if self.request.message is not None else ""
        text = text or self._settings.message
        self._scope.write({"type": "amd_action", "action": "message", "cause": action.cause,
                           "fixed": bool(text)})  # fmt: skip
        self.action = "message"
        self._voice.cut(Cause.NOTICE)
        self._actions.hangup_after_reply()
        self._say(text, MESSAGE_NOTE)
        self._finish("message")

    def _answer_screener(self) -> None:
        if self._screened >= self._settings.max_screener_answers:
            self._hang_up(HangUp(AnswerKind.SCREENER))
            return
        self._screened += 1
        line = self._settings.screener_line
        self._scope.write({"type": "amd_action", "action": "screener_answer",
                           "fixed": bool(line), "answer": self._screened})  # fmt: skip
        self._voice.cut(Cause.NOTICE)
        self._say(line, SCREENER_NOTE)
        self._hearing = True  # the person who follows is heard, and their words counted
        config = dataclasses.replace(
            self._settings.detector,
            deadline=self._settings.screener_wait,
            settle=self._settings.screener_wait + self._settings.detector.settle,
        )
        self._stop_detecting()
        self._policy = AnswerPolicy(self.mode, after_screener=True)
        self._round_started = self._scope.now()
        self._start_round(config)

    def _hang_up(self, action: HangUp) -> None:
        self._scope.write({"type": "amd_action", "action": "hang_up", "kind": action.kind.value})
        self.action = "hang_up"
        self._voice.cut(Cause.NOTICE)
        self._finish("hang up")
        self._actions.hang_up()

    def _say(self, line: str, note: str) -> None:
        """The model says ``line`` as it is, or what it writes after ``note``."""
        session = self._scope.session
        if line:
            line, _ = render_lenient(line, self._variables)
            session.request_reply(GOODBYE_INSTRUCTIONS.format(text=line))
        else:
            session.request_reply(note)
