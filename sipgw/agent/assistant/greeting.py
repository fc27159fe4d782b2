"""The assistant's first words: the greeting while it rings, or the LLM's at the answer.

What the call opens with is decided once (:func:`sipgw.agent.conversation.opening.plan_opening`):
a fixed line (the inbound greeting, or a callback's greeting) or an opening
line the LLM writes (an outbound call without a fixed one). :class:`Greeter`
carries it out:

* *While it rings* (:meth:`Greeter.greet_before_answer`) the fixed line is
  synthesized into the playout queue, which is held: the 200 OK releases it,
  so the first words go out on the first ticks after the answer. The answer
  waits for the line's first audio, or its failure, until the answer wait
  (``AssistantSettings.answer_wait``) is over.
* If TTS was not even connected by then, the call is answered without it and
  the line is said once TTS connects (:meth:`Greeter.greet_once_connected`),
  unless the conversation has started meanwhile.
* *At the answer* (:meth:`Greeter.answered`): the greeting's first frame is
  timed (``greeting_metrics``), or the LLM is asked for the opening line.
* *With answering-machine detection* the opening waits, held, for the decision
  (:mod:`sipgw.agent.assistant.answering`): the fixed line was synthesized while it rang; an
  opening the LLM writes is asked for at the answer
  (:meth:`Greeter.prepare_opening`) and its audio held the same way, so a
  person hears it as soon as they are decided one (:meth:`Greeter.open`), not
  the LLM's and TTS's first output later; a machine never hears it
  (:meth:`Greeter.drop_opening`). Begun at a pause in the person's greeting
  ("Hi, | this is Ana."), it starts over when they go on
  (:meth:`Greeter.start_over`): back to its first word, held, and let out again
  by the next :meth:`Greeter.open`, while it has played no more than
  :data:`START_OVER_SECONDS` and the greeting lasts (:meth:`Greeter.settle`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.assistant.reply import Reply
from sipgw.agent.assistant.responder import Responder
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.assistant.turn_metrics import TurnMetrics
from sipgw.agent.callscope import CallScope
from sipgw.agent.conversation.opening import Opening
from sipgw.agent.services.tts.base import TtsError
from sipgw.agent.turns.machine import Cause

__all__ = ["START_OVER_SECONDS", "Greeter"]

log = logging.getLogger("sipgw.agent")

START_OVER_SECONDS = 2.0
"""How much of the opening is kept as it plays, so that it can start over: more than a
greeting's pause (``AmdConfig.greeting_gap``, 1 s) and the 240 ms that began it; 16 KB
of μ-law (64 KB at 16 kHz)."""


class Greeter:
    """How one call opens (see the module docstring).

    Args:
        scope: the call's record, clock and tasks.
        opening: what the call opens with.
        speaker: says the fixed line.
        responder: has the LLM write the opening line.
        history: the conversation's messages (the greeting is said by the assistant).
        metrics: times the greeting.
        failures: reports a TTS that failed after the answer.
        answer_wait: seconds the answer waits for TTS (for the log lines).
    """

    __slots__ = (
        "_answer_wait", "_early", "_early_at", "_failures", "_history", "_metrics", "_opened",
        "_responder", "_scope", "_speaker", "opening",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        opening: Opening,
        speaker: Speaker,
        responder: Responder,
        history: list[dict[str, Any]],
        metrics: TurnMetrics,
        failures: ServiceFailures,
        answer_wait: float,
    ) -> None:
        self._scope = scope
        self.opening = opening
        self._speaker = speaker
        self._responder = responder
        self._history = history
        self._metrics = metrics
        self._failures = failures
        self._answer_wait = answer_wait
        self._early: Reply | None = None  # the LLM's opening, asked for at the answer
        self._early_at = 0  # where its messages start in the history
        self._opened: Reply | None = None  # the opening let out, while it may start over

    async def greet_before_answer(self, deadline: float) -> None:
        """Start the fixed line (it waits, held) and return once its first audio is here,
        it failed, or the loop time ``deadline`` passed: the call is answered then."""
        if not self.opening.greeting:
            return
        reply = self._greet()
        speaker = self._speaker
        # Ring a little longer rather than answer into silence: the 200 OK goes out once
        # the greeting's first audio is here, or when it failed, or at the answer wait.
        arrived = asyncio.ensure_future(speaker.audio_arrived.wait())
        waiters: set[asyncio.Future[Any]] = {arrived}
        if reply.task is not None:
            waiters.add(reply.task)
        timeout = max(0.0, deadline - self._scope.now())
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        arrived.cancel()
        if speaker.audio_arrived.is_set():
            return
        log_id = self._scope.log_id
        if reply.task is not None and reply.task.done():
            log.warning("[%s] greeting failed: answering without it", log_id)
        else:
            log.warning("[%s] no greeting audio after %g s: answering; it plays when it comes",
                        log_id, self._answer_wait)  # fmt: skip

    async def greet_once_connected(self, connecting: Awaitable[None]) -> None:
        """After an answer that did not wait for TTS: say the fixed line once TTS is
        connected, if the conversation has not started meanwhile; if it fails, go on
        without."""
        try:
            await connecting
        except TtsError as exc:
            self._failures.greeting_lost(exc)
            return
        if not self.opening.greeting or self._scope.closed:
            return
        if self._speaker.current is not None or self._speaker.turn:
            log.info("[%s] greeting skipped: the conversation has started", self._scope.log_id)
            return
        self._greet()

    def prepare_opening(self) -> None:
        """The call is answered and detection listens (the playout is held): an opening
        the LLM writes is asked for now, its audio held until :meth:`open`."""
        if self.opening.llm_writes and self._speaker.current is None:
            self._early_at = len(self._history)
            self._early = self._responder.reply_to(None)

    @property
    def opening_held(self) -> bool:
        """The LLM's opening, asked for at the answer, waits unheard for the decision."""
        return self._early is not None and self._speaker.current is self._early

    def history_index(self) -> int:
        """Where what the callee said before the opening joins the history: before the
        held opening's messages (it was asked for first, but answers it), else at the end."""
        return self._early_at if self.opening_held else len(self._history)

    def drop_opening(self) -> None:
        """A machine answered: the held opening is cut unheard (it leaves no message in the
        history). A person decided later gets a new one."""
        if self.opening_held:
            self._speaker.cut_current(Cause.NOTICE)
        self._early = None

    def open(self) -> None:
        """Answering-machine detection decided on a person: let the opening play now.

        The held fixed line, or the LLM's opening asked for at the answer, goes out;
        the fixed line is said again if a revision cut it (the callee turned out a
        machine, then a person after all); else the LLM writes the opening now.
        """
        playout = self._speaker.playout
        playout.held = False
        reply = self._speaker.current
        early, self._early = self._early, None  # heard from now on
        if reply is not None and (
            reply.kind == "greeting" or reply is early or reply is self._opened
        ):
            reply.released_at = self._scope.now()  # what they said before it: its turn
            if self._opened is None:
                self._opened = reply
                playout.keep(reply.tts.id, START_OVER_SECONDS)
            if playout.pending and playout.on_ready is not None:
                playout.on_ready()
        elif self.opening.greeting:
            self._greet()
            return
        self.answered()

    @property
    def can_start_over(self) -> bool:
        """The opening let out can still start over (:meth:`start_over`)."""
        reply = self._opened
        return (
            reply is not None
            and self._speaker.current is reply
            and self._speaker.playout.rewindable(reply.tts.id)
        )

    def start_over(self) -> bool:
        """The callee went on right after the opening began (it had begun at a pause in
        their greeting): it goes back to its first word, held, until the next :meth:`open`.
        False if it cannot (:attr:`can_start_over`)."""
        reply = self._opened
        return reply is not None and self._speaker.start_over(reply)  # it checks the same

    def settle(self) -> None:
        """The greeting is over: the opening plays on as the conversation's, for good (what
        was kept of it to start over is forgotten)."""
        reply, self._opened = self._opened, None
        if reply is not None:
            self._speaker.playout.keep(reply.tts.id, 0)

    def answered(self) -> None:
        """The call was answered (its audio plays): time the greeting, or let the LLM open."""
        reply = self._speaker.current
        if reply is not None and reply.kind == "greeting":
            self._metrics.time_greeting(reply, self._scope.answered_at)
        elif self.opening.llm_writes and reply is None:
            self._responder.reply_to(None)  # an outbound call: the LLM's opening line

    def _greet(self) -> Reply:
        """Start speaking the fixed line; it is the assistant's first message."""
        text = self.opening.greeting
        self._history.append({"role": "assistant", "content": text})
        self._scope.write({"type": "assistant", "text": text, "greeting": True})
        return self._speaker.say(text, "greeting")
