"""The agent's voice: each reply's text to TTS, its audio to the playout, and barge-ins.

:class:`Speaker` runs one reply at a time (:class:`agent.reply.Reply`). A reply
is *begun* (it becomes the current one and is announced to the playout), then
*played*: its text is fed to TTS (an LLM reply's sentences as they come, or a
fixed line at once) while a pump task moves TTS audio into the playout queue.
Starting a reply cuts off the one still active, through the turn-taking
machine (:meth:`agent.turns.TurnTaker.replace_reply`), as a barge-in would.

*Barge-in* (:meth:`Speaker.interrupt`, the machine's
:class:`agent.turns.CommitBargeIn`): the reply's queued audio is dropped, its
TTS stream and task cancelled, and the conversation keeps only what the caller
heard (:meth:`agent.conversation.Conversation.record_heard` for an LLM reply;
a fixed line is cut in the history where hearing stopped).

A TTS failure mid-reply plays what arrived and ends the reply
(:class:`agent.failures.ServiceFailures` reports it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from agent.callscope import CallScope
from agent.conversation import Conversation
from agent.failures import ServiceFailures
from agent.fillers import Fillers
from agent.playout import Playout
from agent.preemptive import PreemptiveRequest
from agent.redact import Redactor
from agent.reply import Reply, ReplyKind, SpeakingState
from agent.tts.base import TextToSpeech, TtsError
from agent.turns import Cause, CommitBargeIn, TurnTaker

__all__ = ["Speaker"]

log = logging.getLogger("sipgw.agent")


class Speaker:
    """One call's replies on their way to the caller (see the module docstring).

    Attributes:
        state: the current reply and the playout (what the turn-taking machine reads).
        turn: LLM replies begun so far (each reply carries the number at its start).
        audio_arrived: set once any reply's audio arrived from TTS.
    """

    __slots__ = (
        "_conversation", "_failures", "_fillers", "_redactor", "_scope", "_tts", "_turns",
        "audio_arrived", "state", "turn",
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
    ) -> None:
        self._scope = scope
        self.state = state
        self._turns = turns
        self._tts = tts
        self._conversation = conversation
        self._fillers = fillers
        self._failures = failures
        self._redactor = redactor
        self.turn = 0
        self.audio_arrived = asyncio.Event()

    @property
    def playout(self) -> Playout:
        """The agent's outgoing audio queue."""
        return self.state.playout

    @property
    def current(self) -> Reply | None:
        """The reply begun last, until a barge-in cut it."""
        return self.state.reply

    # -- starting

    def cut_current(self, cause: Cause) -> None:
        """The agent is about to say something else: cut off the active reply, if any."""
        for action in self._turns.replace_reply(cause):
            if isinstance(action, CommitBargeIn):
                self.interrupt(action)

    def begin(
        self,
        kind: ReplyKind,
        *,
        speech_end_at: float | None = None,
        stt_final_at: float | None = None,
        preemptive: PreemptiveRequest | None = None,
        wasted: int = 0,
    ) -> Reply:
        """Make a new reply the current one (an LLM reply counts as a turn).

        The keyword arguments are the turn's (:class:`~agent.reply.Reply`'s fields).
        """
        if kind == "reply":
            self.turn += 1
        reply = Reply(
            kind, self._tts.start_reply(), self.turn, started_at=self._scope.now(),
            speech_end_at=speech_end_at, stt_final_at=stt_final_at, preemptive=preemptive,
            wasted=wasted,
        )  # fmt: skip
        self.state.reply = reply
        self.playout.begin(reply.tts.id)
        return reply

    def say(self, text: str, kind: ReplyKind) -> Reply:
        """Speak a fixed line without the LLM, cutting off the active reply."""
        self.cut_current(Cause.NOTICE)
        reply = self.begin(kind)
        reply.text = text
        reply.task = self._scope.spawn(self._say_line(reply, text))
        return reply

    async def _say_line(self, reply: Reply, text: str) -> None:
        await self.speak(reply, self.send_sentence(reply, text))

    async def send_sentence(self, reply: Reply, text: str) -> None:
        """One sentence of the reply to TTS (the playout learns its text too)."""
        self.playout.add_text(reply.tts.id, text)
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
            self.playout.finish(reply.tts.id)  # what arrived plays; the rest never comes
            reply.tts_failed = True
            self._fillers.stop(reply)
            self._failures.tts_failed(exc)
        finally:
            pump.cancel()
            self._record_heard(reply)
            if self.state.reply is reply and reply.heard is not None:
                self.state.reply = None

    async def _pump(self, reply: Reply) -> None:
        """Move the reply's TTS audio into the playout queue."""
        reply_id = reply.tts.id
        playout = self.playout
        async for chunk in reply.tts.audio():
            if reply.filler is not None:
                self._fillers.stop(reply)  # the answer is here: cut the filler line
            playout.push_audio(reply_id, chunk.audio, chunk.text)
            self.audio_arrived.set()
        playout.finish(reply_id)

    async def played(self, reply: Reply) -> bool:
        """Wait until the reply's audio has all gone out (True) or was dropped (False)."""
        future: asyncio.Future[bool] = self._scope.loop.create_future()

        def resolve(complete: bool) -> None:
            if not future.done():
                future.set_result(complete)

        self.playout.when_played(reply.tts.id, resolve)
        return await future

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
            reply.task.cancel()  # its finally block records what was heard
        else:
            self._record_heard(reply)
        cause = action.cause.value
        scope.write(
            {"type": "barge_in", "cause": cause, "turn": reply.turn, "kind": reply.kind,
             "reaction_ms": action.reaction_ms, "heard": heard, "at": round(scope.now(), 3)}
        )  # fmt: skip
        log.info("[%s] barge-in (%s) of %s %d after %r", scope.log_id, cause, reply.kind,
                 reply.turn, self._redactor.redact(heard)[-40:])  # fmt: skip
        scope.observer.barge_in()

    def _record_heard(self, reply: Reply) -> None:
        """A cut reply: the conversation keeps only what the caller heard of it."""
        if reply.heard is None:
            return
        if reply.kind == "reply":
            self._conversation.record_heard(reply.heard)
            return
        for message in reversed(self._conversation.messages):
            if message.get("role") == "assistant" and message.get("content") == reply.text:
                message["content"] = f"{reply.heard}…" if reply.heard else ""
                break
