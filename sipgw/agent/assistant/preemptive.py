"""Preemptive replies: an LLM request started on a stable partial transcript, held.

:class:`PreemptiveRequest` starts ``llm.stream`` on the history plus the
partial transcript as the user's message, and buffers every event it yields:
nothing is spoken and no tool runs while it is preemptive. At the end of turn
the agent either *adopts* it (the final says the same words,
:func:`sipgw.agent.turns.machine.same_words`, and the history did not change meanwhile):
:meth:`PreemptiveRequest.events` replays the buffer and then follows the live
stream, as the first LLM round of the real reply; or *cancels* it: the task
closes the stream (the HTTP response is closed, the service stops generating)
and the reply starts afresh on the final transcript.

Tools: never run speculatively, read-only or not. A tool call the stream asks
for is only buffered; on adoption the reply's tool loop runs it, after the
final transcript confirmed the turn (a filler line may cover the wait,
:mod:`sipgw.agent.assistant.fillers`); a dropped request's calls are never run.

Speculative speech (:mod:`sipgw.agent.assistant.speculative`, with a :class:`SpeechHold`): the
stream's first clause, unless a tool call came before it, goes to TTS (in a task
of its own, so a slow TTS connection never holds up the buffering of the stream)
and its audio is held (:attr:`PreemptiveRequest.held`); the reply that adopts
the request takes that TTS reply over, and a dropped request cancels it. A
clause whose synthesis failed counts as wasted.

:class:`PreemptiveReplies` keeps a call's one request in flight: it starts one
when the turn-taking machine says :class:`sipgw.agent.turns.machine.StartPreemptive` (not
before the caller context is known: the request must carry it), drops it
(*wasted*, counted until the next reply) and adopts it at the end of turn, and
writes each outcome to the call record and the observer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, cast

from sipgw.agent.assistant.conversation import Conversation
from sipgw.agent.assistant.speculative import HeldSpeech, SpeculationBudget, TtsLead
from sipgw.agent.callscope import CallScope, ms_between
from sipgw.agent.conversation.caller_context import CallerContextPrompt
from sipgw.agent.services.llm.base import ChatLLM, LlmError, LlmEvent, LlmTextDelta, LlmToolCall
from sipgw.agent.services.llm.sentences import FIRST_CLAUSE_CHARS, SentenceSplitter
from sipgw.agent.services.stt.base import SpeechToText
from sipgw.agent.services.tts.base import TextToSpeech, TtsError
from sipgw.agent.turns.machine import same_words

__all__ = ["PreemptiveReplies", "PreemptiveRequest", "SpeechHold"]


@dataclass(frozen=True, slots=True)
class SpeechHold:
    """Speculative speech for preemptive requests: where the first clause goes, what it may cost.

    Attributes:
        tts: the call's text-to-speech (each held clause is a reply of its own).
        budget: the call's speculation budget (it may refuse a clause).
        lead: how long before the end of turn a clause must go to TTS.
        stt: the call's speech-to-text (when it ends a turn at the latest).
    """

    tts: TextToSpeech
    budget: SpeculationBudget
    lead: TtsLead
    stt: SpeechToText

    def hold_at(self, speech_end_at: float | None) -> float | None:
        """Loop time at which a clause is sent: the latest end of turn after the
        caller's last loud frame at ``speech_end_at``, less the TTS lead; None: at once."""
        silence = self.stt.turn_end_silence
        if speech_end_at is None or silence is None:
            return None
        return speech_end_at + silence - self.lead.seconds


_END = object()


class PreemptiveRequest:
    """One LLM request started before the end of turn; see the module docstring.

    Attributes:
        text: the partial transcript it answers.
        history_length: how many messages of the history it was sent with
            (before the partial user message).
        started_at: loop time it started.
        held: its first clause, sent to TTS with the audio held (speculative speech).
    """

    def __init__(
        self,
        llm: ChatLLM,
        history: Sequence[Mapping[str, Any]],
        text: str,
        tools: Sequence[Mapping[str, object]],
        tool_choice: str | None,
        speech: SpeechHold | None = None,
        hold_at: float | None = None,
        on_hold_failed: Callable[[int], None] | None = None,
    ) -> None:
        """``on_hold_failed``: called with a held clause's characters when its synthesis
        failed before the request was adopted (they count as wasted)."""
        self.text = text
        self.held: HeldSpeech | None = None
        self._speech = speech
        self._hold_at = hold_at
        self._on_hold_failed = on_hold_failed
        self._hold_task: asyncio.Task[None] | None = None
        self._settled = False  # adopted or dropped: no clause is held from then on
        self._adopted = False
        self.history_length = len(history)
        self._history = [dict(message) for message in history]
        loop = asyncio.get_running_loop()
        self.started_at = loop.time()
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        messages = [*history, {"role": "user", "content": text}]
        self._task = loop.create_task(self._consume(llm, messages, tools, tool_choice))

    async def _consume(
        self,
        llm: ChatLLM,
        messages: Sequence[Mapping[str, object]],
        tools: Sequence[Mapping[str, object]],
        tool_choice: str | None,
    ) -> None:
        # The first clause, for speculative speech (None: none wanted, or decided).
        splitter = None
        if self._speech is not None:
            splitter = SentenceSplitter(early_comma_chars=FIRST_CLAUSE_CHARS, eager_end=True)
        try:
            async with aclosing(llm.stream(messages, tools, tool_choice=tool_choice)) as stream:
                async for event in stream:
                    self._queue.put_nowait(event)  # a tool call too: it waits for adoption
                    if isinstance(event, LlmToolCall):
                        splitter = None  # a reply that needs a tool is not spoken early
                    elif splitter is not None and isinstance(event, LlmTextDelta):
                        clauses = splitter.push(event.text)
                        if clauses:
                            splitter = None
                            self._hold_when_needed(clauses[0])
        except LlmError as exc:
            self._queue.put_nowait(exc)
        finally:
            self._queue.put_nowait(_END)

    def _hold_when_needed(self, clause: str) -> None:
        """Hold the clause at :attr:`_hold_at` (at once if that has passed), in a task:
        the stream goes on being buffered meanwhile."""
        loop = asyncio.get_running_loop()
        delay = 0.0 if self._hold_at is None else self._hold_at - loop.time()
        self._hold_task = loop.create_task(self._hold(clause, delay), name="hold first clause")

    async def _hold(self, clause: str, delay: float) -> None:
        """Send the first clause to TTS after ``delay``; its audio waits for the adoption."""
        if delay > 0:
            await asyncio.sleep(delay)
        speech = self._speech
        if speech is None or self._settled or not speech.budget.may_hold(len(clause)):
            return
        try:
            reply = speech.tts.start_reply()
        except TtsError:
            return  # the reply will synthesize it after the confirmation
        held = self.held = HeldSpeech(reply, clause, asyncio.get_running_loop().time())
        speech.budget.held(len(clause))
        try:
            await reply.send_text(clause)
        except TtsError:
            if not self._adopted:  # adopted meanwhile: the reply meets the failure itself
                self.held = None  # ditto
                if self._on_hold_failed is not None:
                    self._on_hold_failed(len(clause))
                await reply.cancel()
        finally:
            held.sent.set()

    def matches_history(self, history: Sequence[Mapping[str, Any]]) -> bool:
        """Whether ``history`` (before the user's final message) is what it was sent with."""
        return len(history) == self.history_length and all(
            dict(a) == b for a, b in zip(history, self._history, strict=True)
        )

    def adopted(self) -> HeldSpeech | None:
        """The reply takes the request over: its held speech, if any, is the reply's now
        (and no clause is held after this: one still waiting for its moment is let go)."""
        self._settled = self._adopted = True
        task = self._hold_task
        if self.held is None and task is not None and not task.done():
            task.cancel()  # not sent yet: the reply synthesizes the clause itself
        return self.held

    def settle(self) -> HeldSpeech | None:
        """It is being dropped: no clause is held from now on; the one held, if any."""
        self._settled = True
        return self.held

    async def events(self) -> AsyncGenerator[LlmEvent, None]:
        """The stream's events: those buffered so far, then the live ones (adopt once).

        Raises:
            LlmError: as ``ChatLLM.stream`` would.
        """
        try:
            while True:
                item = await self._queue.get()
                if item is _END:
                    return
                if isinstance(item, LlmError):
                    raise item
                yield cast(LlmEvent, item)
        finally:
            await self.cancel()

    async def cancel(self) -> None:
        """Stop the request (closes its stream) and wait until it has stopped.

        A clause being sent to TTS is left alone: once adopted, it is the reply's
        (:meth:`drop` stops it otherwise).
        """
        await _cancelled(self._task)

    async def drop(self) -> None:
        """Not used after all: stop the request and its held speech (the TTS reply is
        cancelled: its audio is discarded unheard)."""
        await self.cancel()
        held = self.held
        if not self._adopted:
            await _cancelled(self._hold_task)
            if held is not None:
                await held.tts.cancel()


class PreemptiveReplies:
    """One call's preemptive request: started, dropped or adopted (see the module docstring).

    Attributes:
        wasted: requests dropped since the last reply began (:meth:`take_wasted`).
        wasted_chars: held characters discarded since the last reply began.
        budget: the call's speculation budget (requests per turn; held characters).
    """

    __slots__ = (
        "_context", "_conversation", "_request", "_scope", "_speech", "budget", "wasted",
        "wasted_chars",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        conversation: Conversation,
        context: CallerContextPrompt,
        budget: SpeculationBudget | None = None,
        speech: SpeechHold | None = None,
    ) -> None:
        """``speech``: where and when first clauses are held (speculative speech); None = off."""
        self._scope = scope
        self._conversation = conversation
        self._context = context
        self._request: PreemptiveRequest | None = None
        self.budget = budget if budget is not None else SpeculationBudget()
        self._speech = speech
        self.wasted = 0
        self.wasted_chars = 0

    @property
    def request(self) -> PreemptiveRequest | None:
        """The request in flight, if any."""
        return self._request

    def start(
        self, text: str, speech_end_at: float | None = None, *, during_speech: bool = False
    ) -> None:
        """Start the LLM on the partial transcript ``text``; its output waits for the end
        of turn. Not while the caller context is still being looked up (the first
        reply waits for it instead). ``speech_end_at``: the caller's last loud frame
        (when a held clause is needed by); ``during_speech``: the partial came while the
        caller spoke (:class:`sipgw.agent.turns.machine.StartPreemptive`), recorded as its
        source."""
        self.drop("replaced")
        budget = self.budget
        if not budget.may_request() or not self._context.add_if_ready():
            return
        budget.requested()
        conversation = self._conversation
        schemas = conversation.tools.schemas()
        tool_choice = None if conversation.settings.max_tool_rounds > 0 or not schemas else "none"
        scope = self._scope
        speech = self._speech
        self._request = PreemptiveRequest(
            conversation.llm, conversation.messages, text, schemas, tool_choice, speech=speech,
            hold_at=None if speech is None else speech.hold_at(speech_end_at),
            on_hold_failed=self._hold_failed,
        )  # fmt: skip
        scope.write({"type": "preemptive", "outcome": "started", "text": text,
                     "source": "speech" if during_speech else "pause"})  # fmt: skip
        scope.observer.preemptive("started")

    def drop(self, why: str) -> None:
        """Cancel the request, if any: one wasted LLM request."""
        request, self._request = self._request, None
        if request is None:
            return
        held = request.settle()
        scope = self._scope
        scope.spawn(request.drop())
        self.wasted += 1
        self.budget.request_settled(used=False)
        chars = 0 if held is None else len(held.text)
        scope.write({"type": "preemptive", "outcome": "wasted", "why": why,
                     "text": request.text, "held_chars": chars})  # fmt: skip
        scope.observer.preemptive("wasted")
        if held is not None:
            self._wasted_chars(chars)

    def _hold_failed(self, chars: int) -> None:
        """A held clause's synthesis failed before adoption: its characters are wasted."""
        self._scope.write({"type": "preemptive", "outcome": "hold_failed", "held_chars": chars})
        self._wasted_chars(chars)

    def _wasted_chars(self, chars: int) -> None:
        self.wasted_chars += chars
        self.budget.wasted(chars)
        self._scope.observer.speculative_speech("wasted", chars)

    def adopt(self, final: str) -> PreemptiveRequest | None:
        """The request, if the final transcript ``final`` confirms it; else drop it."""
        request = self._request
        if request is None:
            return None
        if not same_words(request.text, final):
            self.drop("final differs")
            return None
        if not request.matches_history(self._conversation.messages):
            self.drop("history changed")
            return None
        self._request = None
        held = request.adopted()
        self.budget.request_settled(used=True)
        scope = self._scope
        now = scope.now()
        line = {"type": "preemptive", "outcome": "used", "text": request.text,
                "lead_ms": ms_between(now, request.started_at)}  # fmt: skip
        if held is not None:
            line |= {"held_chars": len(held.text), "held_lead_ms": ms_between(now, held.started_at)}
            self.budget.used(len(held.text))
            scope.observer.speculative_speech("used", len(held.text))
        scope.write(line)
        scope.observer.preemptive("used")
        return request

    def take_wasted(self) -> int:
        """The requests wasted since the previous reply (a reply begins: the count restarts,
        as does the turn's request count)."""
        wasted, self.wasted = self.wasted, 0
        self.budget.reply_began()
        return wasted

    def take_wasted_chars(self) -> int:
        """The held characters discarded since the previous reply (the count restarts)."""
        chars, self.wasted_chars = self.wasted_chars, 0
        return chars


async def _cancelled(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` if it still runs, and wait until it has stopped."""
    if task is None:
        return
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
