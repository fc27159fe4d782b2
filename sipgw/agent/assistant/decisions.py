"""What the turn-taking machine decides, carried out for one assistant call.

:class:`Decisions` feeds the machine (:mod:`sipgw.agent.turns.machine`) the speech-to-text
service's events (:meth:`Decisions.listen`) and sends each action it returns to the part
that does it (:meth:`Decisions.carry_out`): a finished turn to the
:class:`~sipgw.agent.assistant.responder.Responder`, a preemptive start or drop to
:class:`~sipgw.agent.assistant.preemptive.PreemptiveReplies`, a pause, resume, duck or
barge-in to the playout and the :class:`~sipgw.agent.assistant.speaker.Speaker`, STT chunk
sizes and early ends to the STT client. Answering-machine detection and phone-menu
navigation screen the actions first, and none that speaks passes while the call is held
(either way) or a warm transfer is under way.

It holds the parts it drives, never the agent (no reference cycle through it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.agent.assistant.answering import Answering
from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.assistant.handoff_call import CallHandOff
from sipgw.agent.assistant.navigating import Navigation
from sipgw.agent.assistant.preemptive import PreemptiveReplies
from sipgw.agent.assistant.responder import Responder
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.callscope import CallScope
from sipgw.agent.playout import Playout
from sipgw.agent.services.stt.base import (
    SpeechToText,
    SttDisconnected,
    SttFailed,
    SttReconnected,
    SttSessionBegan,
)
from sipgw.agent.transfer.warm import WarmTransfer
from sipgw.agent.turns.machine import (
    Cause,
    CommitBargeIn,
    DropPreemptive,
    DuckAgent,
    ForceTurnEnd,
    HeardFromRoom,
    IgnoreBackchannel,
    MarkSpeechEnd,
    PauseAgent,
    ResumeAgent,
    SetSttChunk,
    StartPreemptive,
    StartReply,
    TurnAction,
    TurnTaker,
    UnduckAgent,
    without_speech,
)

__all__ = ["Decisions"]


@dataclass(eq=False, slots=True)
class Decisions:
    """One call's turn-taking decisions, carried out; see the module docstring."""

    scope: CallScope
    stt: SpeechToText
    turns: TurnTaker
    playout: Playout
    speaker: Speaker
    responder: Responder
    preemptive: PreemptiveReplies
    failures: ServiceFailures
    duck_db: float
    """How much softer a ducked reply plays (dB)."""
    answering: Answering | None
    navigation: Navigation | None
    warm: WarmTransfer | None
    hand_off: CallHandOff | None
    held: bool = False
    """The caller holds the call: no action that speaks passes."""

    async def listen(self) -> None:
        """The STT's events, until its session fails: to the failure policy, detection,
        navigation and the turn-taking machine."""
        async for event in self.stt.events():
            if isinstance(event, SttSessionBegan) and event.session_id:  # AssemblyAI's id
                self.scope.span.set_attribute("stt.session_id", event.session_id)
            if isinstance(event, SttDisconnected):
                self.failures.stt_lost(event)
            elif isinstance(event, SttReconnected):
                self.failures.stt_reconnected(event)
            elif isinstance(event, SttFailed):
                self.failures.stt_failed(event)
                return
            else:
                now = self.scope.loop.time()
                if self.answering is not None:
                    self.answering.on_stt(event, now)
                if self.navigation is not None:
                    self.navigation.on_stt(event, now)
                actions = self.turns.receive_stt(event, now)
                if actions:
                    self.carry_out(actions)

    def carry_out(self, actions: tuple[TurnAction, ...]) -> None:
        """Do what the turn-taking machine decided, in order (what detection lets through)."""
        if self.answering is not None:
            actions = self.answering.screen(actions)
        if self.navigation is not None:
            actions = self.navigation.screen(actions)
        if self.held or (self.warm is not None and self.warm.active):
            actions = without_speech(actions)  # on hold (either way): no turns
        hand_off = self.hand_off
        handing = hand_off is not None and hand_off.pending
        for action in actions:
            if handing and isinstance(action, StartReply | StartPreemptive):
                # Handing off: the target's model answers (handoff_call.py).
                if isinstance(action, StartReply) and hand_off is not None:
                    hand_off.meanwhile.append(action.text)
                continue
            if isinstance(action, MarkSpeechEnd):
                self.stt.mark_speech_end()
            elif isinstance(action, ForceTurnEnd):
                self.stt.end_turn_now()
            elif isinstance(action, SetSttChunk):
                self.stt.set_chunk_ms(action.chunk_ms)
            elif isinstance(action, PauseAgent):
                self.playout.paused = True
            elif isinstance(action, ResumeAgent):
                self.playout.paused = False
                self.playout.duck_db = None
                self.scope.write({"type": "barge_in_resumed", "paused_ms": action.paused_ms})
            elif isinstance(action, DuckAgent):
                # Undecided yet: the reply plays on, softer, until the caller's words decide.
                self.playout.paused = False
                self.playout.duck_db = self.duck_db
                self.scope.write({"type": "barge_in_ducked", "paused_ms": action.paused_ms})
            elif isinstance(action, UnduckAgent):
                self.playout.duck_db = None
            elif isinstance(action, CommitBargeIn):
                self.playout.duck_db = None
                self.speaker.interrupt(action)
                if action.cause is not Cause.DTMF:  # a digit's reply follows (keypad.py)
                    self.failures.reply_cut()  # nothing is coming: no "one moment" for it
            elif isinstance(action, StartReply):
                self.failures.caller_turn_ended(action.speech_end_at)
                self.responder.answer(action)
            elif isinstance(action, StartPreemptive):
                self.preemptive.start(
                    action.text, self.turns.last_loud_at, during_speech=action.during_speech
                )
            elif isinstance(action, DropPreemptive):
                self.preemptive.drop("caller went on")
            elif isinstance(action, IgnoreBackchannel):
                # "Mm-hmm" while the agent talks: it keeps talking (the VAD only paused it).
                self.scope.write({"type": "backchannel", "text": action.text})
            elif isinstance(action, HeardFromRoom):
                # A TV or voices across the room, transcribed: heard, not the caller's turn.
                self.scope.write({"type": "room_speech", "text": action.text})
