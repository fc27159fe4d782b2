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
:meth:`~sipgw.agent.services.s2s.base.SpeechToSpeech.request_reply`). So the detector decides on
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

from collections.abc import Mapping
from typing import Final

from sipgw.agent.amd.events import AnswerKind
from sipgw.agent.amd.policy import BeginConversation, StopSpeaking
from sipgw.agent.amd.round import AnswerRound
from sipgw.agent.amd.settings import AmdRequest, AnsweringSettings
from sipgw.agent.s2s.actions import GOODBYE_INSTRUCTIONS, S2sActions
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.s2s.voice import ModelVoice
from sipgw.agent.services.stt.base import SttTurnEnded
from sipgw.agent.turns.machine import Cause
from sipgw.agent.variables import render_lenient

__all__ = ["S2sAnswering"]

MESSAGE_NOTE: Final = (
    "A voicemail answered and is recording now. Leave a short message: who you are, "
    "why you called, and how to reach you back. Do not ask questions; it cannot answer."
)
SCREENER_NOTE: Final = (
    "A call screener answered, not the person. Answer it in one short sentence: your "
    "name, whom you are calling and why. Then wait for the person."
)


class S2sAnswering(AnswerRound[SessionScope]):
    """Detection on one placed speech-to-speech call (see the module docstring); the round
    itself is :class:`~sipgw.agent.amd.round.AnswerRound`'s.

    Args:
        scope: the call's record, clock, tasks and session.
        request: what the call asked for (its mode, maybe its own message).
        settings: the messages and the detector's thresholds.
        greeting: the call's fixed greeting, rendered ("" = the model writes the opening).
        voice: cuts the model's replies.
        actions: hangs up (at once, or once a reply was heard).
        variables: the call's variables (``{name}`` in the message and the screener line).
    """

    __slots__ = ("_actions", "_greeting", "_hearing", "_turns", "_variables", "_voice")

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
        self._greeting = greeting
        self._voice = voice
        self._actions = actions
        self._variables = dict(variables or {})
        self._hearing = False  # the session hears the callee (after a screener's answer)
        self._turns = 0
        super().__init__(scope, request, settings)

    # -- what the agent asks

    @property
    def holds_input(self) -> bool:
        """The session hears silence, not the callee: until the conversation begins (or a
        screener was answered), so that it has nothing to reply to."""
        return self.waits and not self._policy.speaking and not self._hearing

    # -- the agent's calls

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

    # -- the round's steps, the session's way (YieldToCallee is never asked for: the
    # policy is told the opening cannot start over; the service's barge-in cuts it instead)

    def _at_answer(self) -> None:
        if not self.waits:
            self._open()  # with ``detect``, the model speaks first at once

    def _begun(self, action: BeginConversation) -> None:
        self._open()

    def _open(self) -> None:
        """The model speaks first: the fixed greeting as it is, or its own opening (the
        prompt says why the call was placed; it heard nothing of the callee yet)."""
        session = self._scope.session
        if self._greeting and not self._screened:
            session.request_reply(GOODBYE_INSTRUCTIONS.format(text=self._greeting))
        else:
            session.request_reply()

    def _stopped(self, action: StopSpeaking, late: bool) -> None:
        self._voice.cut(Cause.NOTICE)
        self._hearing = False

    def _message(self, text: str) -> None:
        self._voice.cut(Cause.NOTICE)
        self._actions.hangup_after_reply()
        self._say(text, MESSAGE_NOTE)

    def _answer_screener(self) -> None:
        line = self._screener_line()
        if line is None:
            return
        self._voice.cut(Cause.NOTICE)
        self._say(line, SCREENER_NOTE)
        self._hearing = True  # the person who follows is heard, and their words counted
        self._next_round()

    def _cut(self) -> None:
        self._voice.cut(Cause.NOTICE)

    def _end_call(self) -> None:
        self._actions.hang_up()

    def _say(self, line: str, note: str) -> None:
        """The model says ``line`` as it is, or what it writes after ``note``."""
        session = self._scope.session
        if line:
            line, _ = render_lenient(line, self._variables)
            session.request_reply(GOODBYE_INSTRUCTIONS.format(text=line))
        else:
            session.request_reply(note)
