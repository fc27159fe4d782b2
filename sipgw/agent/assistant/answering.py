"""Who answered an outbound call, and what the assistant does about it (``docs/amd.md``).

:class:`Answering` is the assistant's part for a call placed with detection on
(:class:`~sipgw.agent.amd.settings.AmdRequest`). It runs the detector
(:class:`~sipgw.agent.amd.detector.AnsweringMachineDetector`) on the callee's audio
and transcripts, asks the policy (:class:`~sipgw.agent.amd.policy.AnswerPolicy`) what
follows, and does it:

* *Begin*: the opening plays (:meth:`sipgw.agent.assistant.greeting.Greeter.open`): the fixed
  line synthesized while it rang, or the LLM's opening asked for at the answer
  (:meth:`sipgw.agent.assistant.greeting.Greeter.prepare_opening`), both held until then, so a
  person waits for nothing more than the decision. What the callee said before
  (a person's "Hello?") joins the conversation's history ahead of it, and their
  turn that ended before the opening began is not answered again.
* *Yield*: the opening began at a pause in a person's greeting ("Hi, | this
  is Ana.") and they went on: it stops at once and starts over
  (:meth:`sipgw.agent.assistant.greeting.Greeter.start_over`), and begins again, from its first
  word, once they stop; their words join the history ahead of it.
* *Stop*: a revision made the "person" a machine: the reply in progress is cut.
* *Leave the message*: the configured message (or one the LLM writes), then the
  call ends once it has been heard. The held opening is cut unheard (so on
  every machine's action: the screener's answer, the hang-up).
* *Answer the screener*: the configured line (or the LLM's), then a new round
  of detection listens for the person (or a voicemail) that follows, from the
  recognizer's next turn (the question's final can come after it was answered).
* *Hang up*, with the result recorded.

Until the conversation begins the callee's turns are held, not answered
(:meth:`Answering.screen`): a greeting is not the caller talking. Once the
conversation has begun and the greeting it began on is over (a pause of
``greeting_gap``), what the callee says is conversation, not a greeting (a
person's long answer is no voicemail): the detector is told
(:meth:`~sipgw.agent.amd.classifier.AnswerClassifier.greeted`) and listens on
only for a machine's words ("leave a message", "after the tone", "not in
service", a screener's question) and tones, until the callee has been quiet for
``greeting_end_silence`` (a recording goes on or beeps within it; a person
listens to the opening). Such a *late revision* stops the agent, tells the LLM
what it was talking to (a note in the history), and the call goes on as for that
machine (the message after the beep, or the hang-up). Detection ends when its
answer is final: the detector is done, the message or the hang-up happened, or
that quiet came.

The call record gets an ``amd`` line per decision and one ``amd_result`` line
(kind, time to the decision, what was done); the observer gets the result for
the metrics; :meth:`Answering.result` is what the ``who_answered`` tool returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from sipgw.agent.amd.events import AnswerClassified, AnswerKind
from sipgw.agent.amd.phrases import Category, is_hold_notice, match
from sipgw.agent.amd.policy import BeginConversation, StopSpeaking
from sipgw.agent.amd.round import AnswerRound
from sipgw.agent.amd.settings import AmdRequest, AnsweringSettings
from sipgw.agent.assistant.call_actions import CallActions
from sipgw.agent.assistant.greeting import Greeter
from sipgw.agent.assistant.reply import Reply
from sipgw.agent.assistant.responder import Responder
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.callscope import CallScope
from sipgw.agent.services.stt.base import SttEvent, SttPartialTranscript, SttTurnEnded
from sipgw.agent.turns.machine import Cause, CommitBargeIn, StartReply, TurnAction, without_speech
from sipgw.agent.variables import render_lenient

__all__ = ["Answering"]

_MESSAGE_NOTE = (
    "[A voicemail answered and is recording now. Leave a short message: who you are, "
    "why you called, and how to reach you back. Do not ask questions; it cannot answer.]"
)
_LATE_NOTE = (
    "[That was not a person: a {kind} answered ({reason}), and what you said went to it. "
    "Do not go on with the conversation.]"
)
_SCREENER_NOTE = (
    "[A call screener answered, not the person, and said: {heard} "
    "Answer it in one short sentence: your name, whom you are calling and why. "
    "Then wait for the person.]"
)


class Answering(AnswerRound[CallScope]):
    """Detection on one outbound assistant call (see the module docstring); the round
    itself is :class:`~sipgw.agent.amd.round.AnswerRound`'s.

    Args:
        scope: the call's record, clock and tasks.
        request: what the call asked for (its mode, maybe its own message).
        settings: the messages and the detector's thresholds.
        greeter: opens the conversation.
        speaker: says the message and the screener's answer; cuts a reply.
        responder: has the LLM write them when no fixed line is set.
        actions: hangs up.
        history: the conversation's messages (the callee's first words join it).
        variables: the call's variables (``{name}`` in the message and the screener line).
    """

    __slots__ = (
        "_actions", "_begun_at", "_begun_index", "_first_turn", "_greeter", "_held", "_history",
        "_responder", "_round_words", "_speaker", "_started_over", "_variables", "_words_heard",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        request: AmdRequest,
        settings: AnsweringSettings,
        greeter: Greeter,
        speaker: Speaker,
        responder: Responder,
        actions: CallActions,
        history: list[dict[str, Any]],
        variables: Mapping[str, str] | None = None,
    ) -> None:
        self._variables = dict(variables or {})
        self._greeter = greeter
        self._speaker = speaker
        self._responder = responder
        self._actions = actions
        self._history = history
        self._held: list[tuple[str, AnswerKind | None]] = []  # the callee's turns, held
        self._round_words: dict[int, str] = {}  # this round's transcripts, by turn
        self._first_turn = 0  # the first of the recognizer's turns this round listens to
        self._words_heard = False  # a finished transcript since the last machine decision
        self._begun_at: float | None = None
        self._begun_index = 0  # where the callee's words before the opening join the history
        self._started_over = False  # the opening starts over: its place in the history stays
        super().__init__(scope, request, settings)

    # -- what the assistant asks

    @property
    def holds_turns(self) -> bool:
        """The callee's turns are not the conversation's: before it begins, while the
        message or a screener's answer is said, and once the call is being hung up."""
        return self.waits and not self._policy.speaking

    # -- the gateway's calls, through the assistant

    def on_stt(self, event: SttEvent, now: float) -> None:
        """A speech-to-text event (before the turn-taking machine sees it)."""
        detector = self.detector
        if detector is None:
            return
        if isinstance(event, SttPartialTranscript | SttTurnEnded):
            if event.turn_order < self._first_turn:
                return  # the end of what an earlier round heard and answered
            self._round_words[event.turn_order] = event.text
        self._handle(detector.receive_stt(event, now), now)
        if isinstance(event, SttTurnEnded) and event.text.strip():
            decision = detector.decision
            if decision is None or not decision.kind.is_machine:
                self._words_heard = True  # they named no machine
            if decision is not None and decision.kind is AnswerKind.HUMAN:
                self._act(self._policy.person_confirmed())

    def screen(self, actions: tuple[TurnAction, ...]) -> tuple[TurnAction, ...]:
        """What of the turn-taking machine's ``actions`` the assistant carries out.

        While turns are held, nothing that speaks or interrupts: a finished turn is
        kept (it joins the history if the conversation begins on a person). Once it
        has begun, the turn that ended before it began is the one the opening
        answers: it joins the history, and is neither answered nor a barge-in.
        """
        if self.holds_turns:
            for action in actions:
                if isinstance(action, StartReply):
                    self._hold(action.text)
            return without_speech(actions)
        begun = self._begun_at
        if begun is None:
            return actions
        for action in actions:
            if isinstance(action, StartReply) and (
                action.speech_end_at is not None and action.speech_end_at <= begun
            ):
                self._begun_at = None  # only that one turn
                message = {"role": "user", "content": action.text}
                self._history.insert(self._begun_index, message)  # before the opening
                self._scope.write({"type": "user", "text": action.text, "answered_by": "opening"})
                return tuple(a for a in actions if not isinstance(a, StartReply | CommitBargeIn))
        return actions

    # -- the round's steps, the assistant's way

    @property
    def _can_start_over(self) -> bool:
        return self._greeter.can_start_over

    def _round_begun(self) -> None:
        # A turn begun in the round before is that round's (a screener's question whose
        # final comes after it was answered); the recognizer numbers turns in order.
        self._first_turn = max(self._round_words, default=self._first_turn - 1) + 1
        self._round_words = {}
        self._words_heard = False

    def _after_events(self) -> None:
        if self._words_heard and self._policy.awaiting_words:
            self._act(self._policy.person_confirmed())  # their words came before the pause

    def _decided(self, event: AnswerClassified) -> None:
        if event.kind is not AnswerKind.HUMAN:
            self._held = [(t, k) for t, k in self._held if k is AnswerKind.HUMAN]
        if event.kind.is_machine:
            self._words_heard = False

    def _greeted(self) -> None:
        self._greeter.settle()

    def _detection_over(self) -> None:
        self._greeter.settle()

    def _at_answer(self) -> None:
        if not self.waits:
            self._greeter.open()
        else:
            self._greeter.prepare_opening()  # held: a person hears it once decided

    def _begun(self, action: BeginConversation) -> None:
        self._begun_at = self._scope.now()
        # before an opening asked for at the answer; one that starts over keeps its place
        at = self._begun_index if self._started_over else self._greeter.history_index()
        self._started_over = False
        for text, kind in self._held:  # what the person said: the opening answers it
            if kind is None or not kind.is_machine:
                self._history.insert(at, {"role": "user", "content": text})
                at += 1
        self._begun_index = at
        self._held = []
        if self._screened:
            self._release()
            self._responder.reply_to(None)  # after a screener: greet the person
        else:
            self._greeter.open()

    def _yield(self) -> None:
        """The callee went on right after the opening began: it starts over, held, and
        the policy begins again once they stop."""
        self._begun_at = None
        self._started_over = self._greeter.start_over()
        self._scope.write({"type": "amd_action", "action": "yield",
                           "started_over": self._started_over})  # fmt: skip
        self.action = ""

    def _stopped(self, action: StopSpeaking, late: bool) -> None:
        self._begun_at = None
        if late:  # the conversation had begun: the LLM is told what it talked to
            reason = self.decision.reason if self.decision is not None else ""
            note = _LATE_NOTE.format(kind=action.kind.value, reason=reason)
            self._history.append({"role": "user", "content": note})
        self._speaker.cut_current(Cause.NOTICE)
        self._speaker.playout.held = True

    def _message(self, text: str) -> None:
        self._speak(text, _MESSAGE_NOTE)
        self._actions.hang_up_when_quiet()

    def _answer_screener(self) -> None:
        words = self._round_words
        heard = " ".join(words[turn] for turn in sorted(words))
        self._held = []
        if self._screened and is_hold_notice(heard):
            # "Please stay on the line": nothing to answer; listen for who comes next
            self._scope.write({"type": "amd_action", "action": "wait", "heard": heard})
            self._next_round()
            return
        line = self._screener_line()
        if line is None:
            return
        heard = heard or "(its question)"
        self._stop_detecting()
        reply = self._speak(line, _SCREENER_NOTE.format(heard=heard))
        self._scope.spawn(self._listen_after(reply))

    async def _listen_after(self, reply: Reply) -> None:
        """Once the screener has heard the answer, listen for who comes next."""
        if reply.task is not None:
            await asyncio.wait({reply.task})
        await self._speaker.played(reply)
        if self._scope.closed:
            return
        self._speaker.playout.held = True
        self._next_round()

    def _cut(self) -> None:
        self._speaker.cut_current(Cause.NOTICE)

    def _end_call(self) -> None:
        self._actions.hang_up_now()

    def _speak(self, line: str, note: str) -> Reply:
        """Say ``line`` (or what the LLM writes after ``note``), audible at once."""
        if line:
            line, _ = render_lenient(line, self._variables)  # a missing one is left empty
            self._history.append({"role": "assistant", "content": line})
            reply = self._speaker.say(line, "notice")
        else:
            reply = self._responder.reply_to_note(note)
        self._release()
        return reply

    def _release(self) -> None:
        """The agent's audio plays from now on (it was held while detection listened)."""
        self._speaker.playout.release()

    def _hold(self, text: str) -> None:
        """Keep a finished turn of the callee, with who seems to have said it: its own
        words' machine, else detection's decision (a screener's "please stay on the line"
        can end after its round did)."""
        detector = self.detector
        kind = None
        if detector is not None and detector.decision is not None:
            kind = detector.decision.kind
        found = match(text)
        if found is not None and found.category is Category.SCREENER:
            kind = AnswerKind.SCREENER
        elif found is not None and found.category is not Category.HUMAN:
            kind = AnswerKind.VOICEMAIL  # some machine's
        self._held.append((text, kind))
        self._scope.write({"type": "amd_heard", "text": text})
