"""The agent's voice: each reply's text to TTS, its audio to the playout, and barge-ins.

:class:`Speaker` runs one reply at a time (:class:`sipgw.agent.assistant.reply.Reply`). A reply
is *begun* (it becomes the current one and is announced to the playout), then
*played*: its text is fed to TTS (an LLM reply's sentences as they come, or a
fixed line at once) while a pump task moves TTS audio into the playout queue.
Starting a reply cuts off the one still active, through the turn-taking
machine (:meth:`sipgw.agent.turns.machine.TurnTaker.replace_reply`), as a barge-in would.

*Barge-in* (:meth:`Speaker.interrupt`, the machine's
:class:`sipgw.agent.turns.machine.CommitBargeIn`): the reply's queued audio is dropped, its
TTS stream and task cancelled, and the conversation keeps only what the caller
heard (:meth:`sipgw.agent.assistant.conversation.Conversation.record_heard` for an LLM reply;
a fixed line is cut in the history where hearing stopped).

A TTS failure mid-reply plays what arrived and ends the reply
(:class:`sipgw.agent.assistant.failures.ServiceFailures` reports it). A fallback line the
failure policy decided on for a reply (:attr:`sipgw.agent.assistant.reply.Reply.fallback`) is
queued at its end, after all its TTS audio. A fallback line of its own
(:meth:`Speaker.say_line`) is a reply whose audio is already there
(:class:`sipgw.agent.resilience.recorded.RecordedReply`).

*Speculative speech* (:mod:`sipgw.agent.assistant.speculative`): a reply that adopts a
preemptive request whose first clause was synthesized before the turn was
confirmed is begun on that clause's TTS reply (``held``): its audio, held in
the TTS reply's queue until now, is the first the pump moves to the playout,
and the reply's sentences go to TTS without what the clause already said.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sipgw.agent.assistant.conversation import Conversation
from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.assistant.fillers import Fillers
from sipgw.agent.assistant.preemptive import PreemptiveRequest
from sipgw.agent.assistant.reply import Reply, ReplyKind, SpeakingState
from sipgw.agent.assistant.speculative import HeldSpeech, SpeculationBudget, TtsLead
from sipgw.agent.callscope import CallScope
from sipgw.agent.playout import Playout, played
from sipgw.agent.resilience.line_cache import LineAudio
from sipgw.agent.resilience.recorded import RecordedReply
from sipgw.agent.services.tts.base import TextToSpeech, TtsError, TtsReply
from sipgw.agent.turns.machine import Cause, CommitBargeIn, TurnTaker
from sipgw.foundation.handled_errors import forget_frames
from sipgw.foundation.redact import Redactor

__all__ = ["Speaker"]

log = logging.getLogger("sipgw.agent")


class Speaker:
    """One call's replies on their way to the caller (see the module docstring).

    Attributes:
        state: the current reply and the playout (what the turn-taking machine reads).
        turn: LLM replies begun so far (each reply carries the number at its start).
        audio_arrived: set once any reply's audio arrived from TTS.
        tts_lead: each reply's TTS first-byte time, measured (speculative speech's timing).
    """

    __slots__ = (
        "_budget", "_conversation", "_failures", "_fillers", "_redactor", "_scope", "_tts",
        "_turns", "audio_arrived", "state", "tts_lead", "turn",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        state: SpeakingState,
        turns: TurnTaker,
        tts: TextToSpeech,
        conversation: Conversation,
        fillers: Fillers,
        failures: ServiceFailures,
        redactor: Redactor,
        budget: SpeculationBudget | None = None,
    ) -> None:
        """``budget``: counts the characters spoken (speculative speech's waste share)."""
        self._scope = scope
        self._budget = budget
        self.state = state
        self._turns = turns
        self._tts = tts
        self._conversation = conversation
        self._fillers = fillers
        self._failures = failures
        self._redactor = redactor
        self.turn = 0
        self.audio_arrived = asyncio.Event()
        self.tts_lead = TtsLead()

    @property
    def playout(self) -> Playout:
        """The agent's outgoing audio queue."""
        return self.state.playout

    @property
    def current(self) -> Reply | None:
        """The reply begun last, until a barge-in cut it."""
        return self.state.reply

    # -- starting

    def start_over(self, reply: Reply) -> bool:
        """``reply`` goes back to its start and waits (the playout held) to play again,
        whole: the callee went on right after it began (agent/assistant/answering.py). Nothing of it
        counts as heard, and the speech that stopped it is no barge-in. False (nothing
        changes) if it cannot: it played longer than was kept, or all of it."""
        playout = self.playout
        if self.state.reply is not reply or not playout.rewind(reply.tts.id):
            return False
        playout.held = True
        playout.paused = False  # the turn-taker's pause, if it paused it: no longer one
        playout.duck_db = None  # nor its duck
        self._turns.agent_stopped()
        return True

    def cut_current(self, cause: Cause) -> None:
        """The agent is about to say something else: cut off the active reply, if any."""
        for action in self._turns.replace_reply(cause):
            if isinstance(action, CommitBargeIn):
                self.interrupt(action)

    def begin(
        self,
        kind: ReplyKind,
        *,
        tts: TtsReply | None = None,
        speech_end_at: float | None = None,
        stt_final_at: float | None = None,
        preemptive: PreemptiveRequest | None = None,
        wasted: int = 0,
        held: HeldSpeech | None = None,
        wasted_chars: int = 0,
    ) -> Reply:
        """Make a new reply the current one (an LLM reply counts as a turn).

        ``tts``: its audio's source (default: a new reply of the call's TTS); with
        ``held`` the reply speaks on the held clause's TTS reply. The other keyword
        arguments are the turn's (:class:`~sipgw.agent.assistant.reply.Reply`'s fields).
        """
        if kind == "reply":
            self.turn += 1
        if held is not None:
            tts = held.tts
        reply = Reply(
            kind, tts or self._tts.start_reply(), self.turn, started_at=self._scope.now(),
            speech_end_at=speech_end_at, stt_final_at=stt_final_at, preemptive=preemptive,
            wasted=wasted, held=held, wasted_chars=wasted_chars,
        )  # fmt: skip
        self.state.reply = reply
        playout = self.playout
        playout.begin(reply.tts.id)
        playout.when_first_played(reply.tts.id, lambda at: self._first_played(reply, at))
        return reply

    def _first_played(self, reply: Reply, at: float | None) -> None:
        if at is not None:
            self.state.heard_last = reply  # what the caller's next words may answer
            self._failures.reply_audible()

    def say(self, text: str, kind: ReplyKind) -> Reply:
        """Speak a fixed line without the LLM, cutting off the active reply."""
        self.cut_current(Cause.NOTICE)
        return self._start_line(self.begin(kind), text)

    def say_line(self, audio: LineAudio, kind: ReplyKind = "notice") -> Reply:
        """Play a fallback line from memory (no vendor needed), cutting off the active reply."""
        self.cut_current(Cause.NOTICE)
        return self._start_line(self.begin(kind, tts=RecordedReply(audio, audio.text)), audio.text)

    def _start_line(self, reply: Reply, text: str) -> Reply:
        reply.text = text
        reply.task = self._scope.spawn(self._say_line(reply, text))
        return reply

    async def _say_line(self, reply: Reply, text: str) -> None:
        await self.speak(reply, self.send_sentence(reply, text))

    async def send_sentence(self, reply: Reply, text: str) -> None:
        """One sentence of the reply to TTS (the playout learns its text too); what a held
        clause said already is not sent again."""
        self.playout.add_text(reply.tts.id, text)
        if reply.held is not None:
            text = reply.held.unsent(text)
            if not text:
                return
            await reply.held.sent.wait()  # the clause goes first
        if self._budget is not None:
            self._budget.spoken(len(text))
        await reply.tts.send_text(text)

    # -- playing

    async def speak(self, reply: Reply, feed: Coroutine[Any, Any, None]) -> None:
        """Play the reply: ``feed`` sends its text to TTS while a pump task moves its
        audio into the playout queue. Run it as the reply's task."""
        pump = self._scope.spawn(self._pump(reply))
        try:
            await feed
            await reply.tts.finish()
            await pump
        except TtsError as exc:
            reply.tts_failed = True
            self._fillers.stop(reply)
            self._failures.tts_failed(exc, reply)
            self._queue_fallback(reply)
            self.playout.finish(reply.tts.id)  # what arrived plays; the rest never comes
            # its traceback holds this frame, which holds the pump task and the reply, which
            # hold the error (a reply's failure is raised from every awaiting frame)
            forget_frames(exc)
        finally:
            pump.cancel()
            if self.state.reply is reply and reply.heard is not None:
                self.state.reply = None

    async def _pump(self, reply: Reply) -> None:
        """Move the reply's TTS audio into the playout queue (then its fallback line)."""
        reply_id = reply.tts.id
        playout = self.playout
        spoke = isinstance(reply.tts, RecordedReply)  # a line from memory: no TTS involved
        measured = spoke  # nor a TTS first byte to measure
        # An answer's first audio ends the caller's wait on the vendors, even if it cannot
        # play yet (paused over the caller's or the room's speech): no "one moment" then.
        ready = reply.kind != "reply"
        async for chunk in reply.tts.audio():
            if not measured:
                measured = True
                self._measure_first_byte(reply, chunk.received_at)
            if reply.filler is not None:
                self._fillers.stop(reply)  # the answer is here: cut the filler line
            if not spoke:
                spoke = True
                self._failures.tts_spoke()
            playout.push_audio(reply_id, chunk.audio, chunk.text, reply.tts.format)
            self.audio_arrived.set()
            if not ready and chunk.audio:
                ready = True
                self._failures.reply_ready()
        self._queue_fallback(reply)
        playout.finish(reply_id)

    def _measure_first_byte(self, reply: Reply, arrived_at: float) -> None:
        """How long the reply's first audio took after its first text went to TTS."""
        held = reply.held
        sent_at = held.started_at if held is not None else reply.first_sentence_at
        self.tts_lead.observe(arrived_at - (reply.started_at if sent_at is None else sent_at))

    def _queue_fallback(self, reply: Reply) -> None:
        """The fallback line decided for the reply, after all its TTS audio (once)."""
        line, reply.fallback = reply.fallback, None
        if line is None or reply.heard is not None:
            return
        if reply.filler is not None:
            self._fillers.stop(reply)
        self.playout.add_text(reply.tts.id, line.text)
        self.playout.push_audio(reply.tts.id, b"".join(line.frames), format=line.format)
        self.audio_arrived.set()

    async def played(self, reply: Reply) -> bool:
        """Wait until the reply's audio has all gone out (True) or was dropped (False)."""
        return await played(self.playout, reply.tts.id)

    # -- barge-in

    def interrupt(self, action: CommitBargeIn) -> None:
        """The caller really interrupts: cancel the reply, keep what was heard."""
        state = self.state
        reply = state.reply
        if not state.active(reply):
            self.playout.paused = False
            state.reply = None
            return
        assert reply is not None
        heard = self.playout.cancel(reply.tts.id)
        reply.heard = heard
        self._fillers.stop(reply)
        state.reply = None
        scope = self._scope
        scope.spawn(reply.tts.cancel())
        if reply.task is not None and not reply.task.done():
            reply.task.cancel()
        # What was heard goes to the conversation now, not when the cancelled task ends:
        # that takes a few loop steps (its pump task ends first), and the reply that
        # follows has begun its LLM request by then (cutting it, not this one).
        self._record_heard(reply)
        cause = action.cause.value
        scope.write(
            {"type": "barge_in", "cause": cause, "turn": reply.turn, "kind": reply.kind,
             "reaction_ms": action.reaction_ms, "heard": heard, "at": round(scope.now(), 3)}
        )  # fmt: skip
        log.info("[%s] barge-in (%s) of %s %d after %r", scope.log_id, cause, reply.kind,
                 reply.turn, self._redactor.redact(heard)[-40:])  # fmt: skip
        if action.cause not in (Cause.NEW_TURN, Cause.NOTICE):  # the agent's own cuts: none
            scope.observer.barge_in()

    def _record_heard(self, reply: Reply) -> None:
        """A cut reply: the conversation keeps only what the caller heard of it."""
        if reply.heard is None:
            return
        if reply.kind == "reply":
            if reply.conversing:  # else its turn is not in the conversation: nothing to cut
                self._conversation.record_heard(reply.heard)
            return
        for message in reversed(self._conversation.messages):
            if message.get("role") == "assistant" and message.get("content") == reply.text:
                message["content"] = f"{reply.heard}…" if reply.heard else ""
                break
