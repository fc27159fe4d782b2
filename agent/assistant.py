"""The AI phone agent: streaming STT → chat LLM with tools → streaming TTS, with barge-in.

The services are behind the contracts of ``agent/stt/base.py``,
``agent/tts/base.py`` and ``agent/llm/base.py``; which vendors answer is the
app layer's choice, passed in :class:`AssistantResources` (AssemblyAI,
OpenAI and ElevenLabs today). Turn-taking and barge-in are decided by the
sans-IO machine of ``agent/turns.py``; this module is the async shell that
feeds it and carries out what it decides.

Theory of operation
-------------------
*While it rings* (:meth:`AssistantAgent.prepare`) the STT session and the TTS
connection are opened and the greeting is synthesized into the playout queue,
which is *held*; the 200 OK releases it, so the first words go out on the
first ticks after the answer. On a call the gateway placed (outbound) the agent
speaks first: the callback greeting, or an opening line the LLM writes once the
call is answered (:mod:`agent.opening`); nothing plays before the answer.

*As the caller's audio arrives* (:meth:`AssistantAgent.on_caller_audio`: each
20 ms frame in order, from the media layer's reorder stage, not on the
ticker) the frame goes through the turn-taking machine (its VAD) and then,
unchanged (μ-law), to the STT client, which batches it. *Every 20 ms* the
ticker takes the agent's next frame from the playout queue
(:meth:`AssistantAgent.next_frame`).

*A turn*: the STT's end-of-turn transcript starts a reply task (the machine
says :class:`agent.turns.StartReply`). The LLM's sentences go to TTS as soon
as each is complete; TTS audio is re-cut into frames and queued. Tool calls
run in between (the conversation does that).

*Preemptive replies* (``AssistantSettings.preemptive_pause_ms``): the machine's
:class:`agent.turns.StartPreemptive` starts an LLM request on the partial
transcript (:class:`agent.preemptive.PreemptiveRequest`), which buffers its
output. At the end of turn a final with the same words adopts it as the reply's
first LLM round (so its sentences reach TTS only now; of the tools it asks for
only read-only ones may have started early); otherwise it is cancelled
(*wasted*) and the reply starts afresh.
Each turn's ``turn_metrics`` says ``preemptive`` (``used`` or null) and
``preemptive_wasted`` (requests cancelled since the previous reply).

*Speak before acting*: ``transfer_to_human`` and ``end_call`` do not act
when the tool runs: they register a pending action (:meth:`AssistantAgent.
transfer_after_reply`, :meth:`AssistantAgent.hangup_after_reply`) that waits
for the reply to end and for its audio to have gone out on RTP (the playout
reports it, :meth:`agent.playout.Playout.when_played`). So the words of that
reply, before the tool call or after its result, are heard first. A reply that
said nothing gets the default line (``transfer_line``, ``goodbye_line``). A
barge-in cuts the line and the action happens at once; the wait is bounded by
``action_line_timeout`` from the tool call (a TTS that hangs, say).

*Masked tool latency*: a tool round still running ``filler_after`` seconds
after its calls started, while no agent audio is queued, makes the agent say
the next of ``filler_lines`` (at most once per round) as a reply of its own.
The answer's first audio drops the rest of it (whole frames,
:meth:`agent.playout.Playout.drop`); a barge-in or the reply's end stops it too.

*Barge-in*: the machine's :class:`agent.turns.PauseAgent` holds the playout;
:class:`agent.turns.ResumeAgent` plays on where it stopped;
:class:`agent.turns.CommitBargeIn` cancels the reply's LLM and TTS work and
drops its queued audio, and the conversation keeps only what the caller heard.

*Measured per turn* (all on the event loop's clock, written to the call
record and logged): the caller's end of speech (VAD), the STT's end of turn,
the LLM's first token, TTS's first audio byte, and the reply's first RTP
frame (the playout reports it, :meth:`agent.playout.Playout.when_first_played`);
per barge-in, the time from the caller's first loud frame to the pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Coroutine
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.base import Agent, CallControl
from agent.caller_context import (
    CallerContextLookup,
    CallerContextSettings,
    uri_number,
    with_context,
)
from agent.conversation import (
    Conversation,
    ConversationSettings,
    ReplyDone,
    ReplySentence,
    ReplyToolCall,
    ReplyToolResult,
)
from agent.dialpolicy import DialRefused
from agent.llm.base import ChatLLM, LlmToolCall
from agent.observer import llm_error_kind, status_error_kind
from agent.opening import fixed_opening, llm_opens, system_prompt
from agent.playout import Playout
from agent.preemptive import PreemptiveRequest
from agent.record import CallRecord
from agent.settings import AssistantSettings
from agent.stt.base import SpeechToText, SttConnectError, SttFailed, SttReconnected
from agent.tools.registry import ToolRegistry
from agent.tts.base import TextToSpeech, TtsConnectError, TtsError, TtsReply
from agent.turns import (
    Cause,
    CommitBargeIn,
    DropPreemptive,
    IgnoreBackchannel,
    MarkSpeechEnd,
    PauseAgent,
    ResumeAgent,
    SetSttChunk,
    StartPreemptive,
    StartReply,
    TurnAction,
    TurnTaker,
    same_words,
)
from media.quality import CallQuality

__all__ = ["AssistantAgent", "AssistantResources"]

log = logging.getLogger("sipgw.agent")
GOODBYE_ON_STT_FAILURE = "Sorry, I can't hear you right now. Please call again later."
GREETING_TIMING_LIMIT = 10.0
"""Seconds after the answer that the greeting's first frame is waited for (its metric)."""
FIRST_FRAME_LIMIT = 2.0
"""Seconds after a reply's task ends that its first frame is waited for (its metrics)."""


_STAGE_FIELDS = {
    "stt_end_of_turn": "stt_end_of_turn_ms",
    "llm_first_token": "llm_first_token_ms",
    "tts_first_byte": "tts_first_byte_ms",
    "gateway_reply_path": "first_rtp_after_tts_ms",
}
"""The observer's turn stages (:data:`agent.observer.TURN_STAGES`) and their turn_metrics fields."""


def _stage_seconds(metrics: dict[str, Any]) -> dict[str, float]:
    """The measured stages of a turn_metrics record, in seconds."""
    return {
        stage: metrics[name] / 1000
        for stage, name in _STAGE_FIELDS.items()
        if isinstance(metrics.get(name), int | float)
    }


@dataclass(frozen=True)
class AssistantResources:
    """What all assistant calls share.

    Attributes:
        settings: the assistant's settings.
        llm: the chat model client (one for all calls).
        tools: the tools the model may call.
        new_stt: makes one call's speech-to-text session (not connected yet).
        new_tts: makes one call's text-to-speech client (not connected yet).
        caller_context: the operator's caller-context hook (:mod:`agent.caller_context`);
            None = none.
    """

    settings: AssistantSettings
    llm: ChatLLM
    tools: ToolRegistry
    new_stt: Callable[[], SpeechToText]
    new_tts: Callable[[], TextToSpeech]
    caller_context: CallerContextSettings | None = None


@dataclass(eq=False)
class _Filler:
    """A filler line said while a tool round runs."""

    tts: TtsReply
    text: str
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Reply:
    """One reply in flight."""

    kind: str  # "greeting", "reply", "notice", "goodbye"
    tts: TtsReply
    turn: int
    task: asyncio.Task[None] | None = None
    started_at: float = 0.0
    speech_end_at: float | None = None
    stt_final_at: float | None = None
    first_token_at: float | None = None
    first_sentence_at: float | None = None
    text: str = ""
    preemptive: PreemptiveRequest | None = None  # adopted at the end of turn
    wasted: int = 0  # preemptive requests cancelled since the previous reply
    heard: str | None = None  # set by a committed barge-in
    metrics_written: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    filler: _Filler | None = None


def _ms(later: float | None, earlier: float | None) -> float | None:
    """Milliseconds between two loop times, or None if either is unknown."""
    return None if later is None or earlier is None else round((later - earlier) * 1000, 1)


class _Speaking:
    """The agent's side: its playout and its current reply (agent.turns.AgentState)."""

    __slots__ = ("playout", "reply")

    def __init__(self, playout: Playout) -> None:
        self.playout = playout
        self.reply: _Reply | None = None

    @property
    def audible(self) -> bool:
        return self.playout.audible

    @property
    def pending(self) -> bool:
        return self.playout.pending

    def active(self, reply: _Reply | None) -> bool:
        """The reply is still generating or still has audio to play."""
        if reply is None:
            return False
        running = reply.task is not None and not reply.task.done()
        return running or not self.playout.finished(reply.tts.id)

    def active_reply_started_at(self) -> float | None:
        reply = self.reply
        return reply.started_at if reply is not None and self.active(reply) else None


class _ToolContext:
    """The call as tools see it (agent.tools.registry.ToolContext)."""

    def __init__(self, agent: AssistantAgent) -> None:
        # Weak: the agent owns the conversation that owns this context, and a
        # strong reference back would make a cycle that outlives the call.
        self._agent_ref = weakref.ref(agent)

    @property
    def _agent(self) -> AssistantAgent:
        agent = self._agent_ref()
        if agent is None:
            raise RuntimeError("the call has ended")
        return agent

    @property
    def call_id(self) -> str:
        return self._agent.call.call_id

    @property
    def caller(self) -> str:
        """The other party: the From of an inbound call, the To of one we placed."""
        call = self._agent.call
        return call.called if call.direction == "outbound" else call.caller

    @property
    def settings(self) -> AssistantSettings:
        return self._agent.settings

    async def transfer(self, target: str) -> bool:
        return await self._agent.transfer(target)

    def send_dtmf(self, digits: str) -> None:
        self._agent.send_dtmf(digits)

    def hangup_after_reply(self) -> None:
        self._agent.hangup_after_reply()

    def transfer_after_reply(self, target: str) -> None:
        self._agent.transfer_after_reply(target)


class AssistantAgent(Agent):
    """One call's AI agent; see the module docstring."""

    def __init__(self, call: CallControl, resources: AssistantResources) -> None:
        self.call = call
        self.resources = resources
        settings = resources.settings
        self.settings = settings
        self.loop = asyncio.get_running_loop()
        self.record = CallRecord(settings.record_dir, call.call_id, settings.redactor)
        self.stt = resources.new_stt()
        self.tts = resources.new_tts()
        self.conversation = Conversation(
            resources.llm,
            resources.tools,
            _ToolContext(self),
            ConversationSettings(
                system_prompt=system_prompt(settings, call.direction, call.purpose, time.time()),
                max_tool_rounds=settings.max_tool_rounds,
                fallback_phrase=settings.fallback_phrase,
            ),
            on_record=self.record.write,
        )
        self.playout = Playout(on_ready=call.audio_ready)
        self._speaking = _Speaking(self.playout)
        barge_in = settings.barge_in
        self.turns = TurnTaker(
            self._speaking,
            commit_ms=barge_in.commit_ms,
            min_words=barge_in.min_words,
            vad=barge_in.vad,
            preemptive_pause_ms=settings.preemptive_pause_ms,
        )
        self._preemptive: PreemptiveRequest | None = None
        self._wasted = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turns = 0
        self._audio_arrived = asyncio.Event()
        self._hangup_after_reply = False
        self._hung_up = False
        self._digits: list[str] = []
        self._digit_timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._goodbye: asyncio.Future[bool] | None = None
        self._answered_at = 0.0
        self._action_pending = False
        self._fillers_said = 0
        self._opening = fixed_opening(settings, call.direction, call.purpose)
        self._llm_opens = llm_opens(settings, call.direction, call.purpose)
        self._caller_context: CallerContextLookup | None = None
        self._caller_context_added = False

    # ------------------------------------------------------------------ for tools

    async def transfer(self, target: str) -> bool:
        """Transfer the caller (tool ``transfer_to_human``); a refusal is recorded and raised."""
        try:
            accepted = await self.call.transfer(target)
        except DialRefused as exc:
            self._record_refusal(exc)
            raise
        self.record.write({"type": "transfer", "target": target, "accepted": accepted})
        return accepted

    def send_dtmf(self, digits: str) -> None:
        """Key digits to the other party (a tool's ``ctx.send_dtmf``); refusals as above."""
        try:
            self.call.send_dtmf(digits)
        except DialRefused as exc:
            self._record_refusal(exc)
            raise
        self.record.write({"type": "dtmf_sent", "digits": digits})

    def _record_refusal(self, exc: DialRefused) -> None:
        self.record.write(
            {"type": "dial_refused", "action": exc.action, "target": exc.target,
             "reason": exc.reason}
        )  # fmt: skip

    def hangup_after_reply(self) -> None:
        """End the call once the current reply has been heard (tool ``end_call``)."""
        self._act_after_reply("hangup", None)

    def transfer_after_reply(self, target: str) -> None:
        """Transfer once the current reply has been heard (tool ``transfer_to_human``)."""
        self._act_after_reply("transfer", target)

    def _act_after_reply(self, kind: Literal["hangup", "transfer"], target: str | None) -> None:
        if self._action_pending:
            return  # one transfer or hang-up at a time: the first asked for wins
        self._action_pending = True
        requested_at = self.loop.time()
        self.record.write({"type": "action_pending", "action": kind, "target": target})
        reply = self._speaking.reply
        self._spawn(self._act_after_line(kind, target, reply, requested_at))

    async def _act_after_line(
        self,
        kind: Literal["hangup", "transfer"],
        target: str | None,
        reply: _Reply | None,
        requested_at: float,
    ) -> None:
        """Wait (bounded) until the reply's words, or the default line, were heard; then act."""
        line = "default"
        try:
            async with asyncio.timeout_at(requested_at + self.settings.action_line_timeout):
                if reply is not None and reply.task is not None:
                    await asyncio.wait({reply.task})
                if reply is not None and reply.heard is not None:
                    line = "interrupted"  # a barge-in cut the reply: act as asked
                else:
                    if reply is not None and reply.text.strip():
                        line = "reply"
                    else:
                        text = self._default_line(kind)
                        reply = self._speak_fixed(text, "notice") if text else None
                        line = "default" if text else "none"
                        if reply is not None and reply.task is not None:
                            await asyncio.wait({reply.task})
                    if reply is not None:
                        played = await self._played(reply)
                        if not played:
                            line = "interrupted"
                        elif reply.extra.get("tts_failed"):
                            line = "tts failed"  # what arrived of it was played
        except TimeoutError:
            line = "timeout"
        now = self.loop.time()
        self.record.write({"type": "action", "action": kind, "line": line,
                           "waited_ms": _ms(now, requested_at),
                           "after_answer_ms": _ms(now, self._answered_at)})  # fmt: skip
        if kind == "hangup":
            if not self._hung_up:
                self._hung_up = True
                self.record.write({"type": "hangup", "by": "agent"})
                self.call.hangup()
        elif target is not None:
            await self._transfer_now(target)

    def _default_line(self, kind: str) -> str:
        if kind == "hangup":
            return self.settings.goodbye_line
        return self.settings.transfer_line

    async def _played(self, reply: _Reply) -> bool:
        """Wait until the reply's audio has all gone out (True) or was dropped (False)."""
        future: asyncio.Future[bool] = self.loop.create_future()

        def resolve(complete: bool) -> None:
            if not future.done():
                future.set_result(complete)

        self.playout.when_played(reply.tts.id, resolve)
        return await future

    async def _transfer_now(self, target: str) -> None:
        """The REFER; a refusal or rejection becomes a turn where the LLM tells the caller."""
        self._action_pending = False  # a failed transfer may be tried again
        try:
            accepted = await self.transfer(target)
        except DialRefused as exc:
            reason = f"refused ({exc.reason})"
        else:
            if accepted:
                return
            reason = "not accepted by the caller's phone"
        self.conversation.messages.append(
            {"role": "user", "content": f"[The transfer was {reason}. Tell the caller and "
             "offer other help.]"}
        )  # fmt: skip
        self._start_reply(None)

    # ------------------------------------------------------------------ lifecycle

    async def prepare(self) -> None:
        """Open STT and TTS and synthesize the opening line while the phone rings.

        Nothing plays before :meth:`on_answered`: the playout stays held, and an
        opening the LLM writes (outbound calls, see :mod:`agent.opening`) only
        starts there.
        """
        self.record.write(
            {"type": "call", "call_id": self.call.call_id, "caller": self.call.caller,
             "called": self.call.called, "direction": self.call.direction,
             "started": self.record.started}
        )  # fmt: skip
        self._start_caller_context()
        started = self.loop.time()
        tts_connect = asyncio.ensure_future(self.tts.connect())
        try:
            await self.stt.connect()
        except BaseException as exc:
            tts_connect.cancel()
            if isinstance(exc, SttConnectError) and self.observer is not None:
                self.observer.service_error("stt", status_error_kind(exc.code, connecting=True))
            raise
        wait = self.settings.answer_wait
        done, _ = await asyncio.wait({tts_connect}, timeout=self._left(started, wait))
        if done:
            try:
                tts_connect.result()
            except TtsError as exc:
                self._tts_connect_failed(exc)
                raise
        self._spawn(self._listen())
        if not done:
            log.warning(
                "[%s] TTS not connected after %g s: answering without the greeting's audio "
                "(it plays once TTS is ready)", self.call.call_id[:24], wait,
            )  # fmt: skip
            self._spawn(self._greet_once_connected(tts_connect))
            return
        if not self._opening:
            return
        reply = self._greet()
        # Ring a little longer rather than answer into silence: the 200 OK goes out once
        # the greeting's first audio is here, or when it failed, or at the answer wait.
        arrived = asyncio.ensure_future(self._audio_arrived.wait())
        waiters: set[asyncio.Future[Any]] = {arrived}
        if reply.task is not None:
            waiters.add(reply.task)
        await asyncio.wait(
            waiters, timeout=self._left(started, wait), return_when=asyncio.FIRST_COMPLETED
        )
        arrived.cancel()
        if self._audio_arrived.is_set():
            return
        if reply.task is not None and reply.task.done():
            log.warning("[%s] greeting failed: answering without it", self.call.call_id[:24])
        else:
            log.warning("[%s] no greeting audio after %g s: answering; it plays when it comes",
                        self.call.call_id[:24], wait)  # fmt: skip

    def _left(self, started: float, wait: float) -> float:
        return max(0.0, started + wait - self.loop.time())

    def _greet(self) -> _Reply:
        """Start speaking the fixed opening line (the greeting); returns its reply."""
        self.conversation.messages.append({"role": "assistant", "content": self._opening})
        self.record.write({"type": "assistant", "text": self._opening,
                           "greeting": True})  # fmt: skip
        self._speak_fixed(self._opening, "greeting")
        reply = self._speaking.reply
        assert reply is not None
        return reply

    def _tts_connect_failed(self, exc: TtsError) -> None:
        if self.observer is not None:
            self.observer.service_error("tts", status_error_kind(exc.status, connecting=True))

    async def _greet_once_connected(self, connecting: asyncio.Future[None]) -> None:
        """After an answer that did not wait for TTS: greet once it is connected, if the
        conversation has not started meanwhile; on failure, log it and go on without."""
        try:
            await connecting
        except TtsError as exc:
            self._tts_connect_failed(exc)
            self.record.write({"type": "error", "where": "tts", "error": str(exc)})
            log.error("[%s] TTS failed to connect (%s): no greeting", self.call.call_id[:24], exc)
            return
        if not self._opening or self._closed:
            return
        if self._speaking.reply is not None or self._turns:
            log.info("[%s] greeting skipped: the conversation has started", self.call.call_id[:24])
            return
        self._greet()

    def _start_caller_context(self) -> None:
        """Start the operator's caller lookup (it runs beside the ringing, never delaying it)."""
        hook = self.resources.caller_context
        if hook is None or self._caller_context is not None:
            return
        call = self.call
        self._caller_context = CallerContextLookup(
            hook, uri_number(call.caller), uri_number(call.called), call.call_id[:24]
        )

    async def _add_caller_context(self) -> None:
        """Put the caller context into the system prompt before the first LLM request.

        Waits for the lookup at most until its timeout (counted from the INVITE).
        """
        lookup = self._caller_context
        if lookup is None or self._caller_context_added:
            return
        context = await lookup.text()  # the same answer for every reply that asks
        self._apply_caller_context(context)

    def _apply_caller_context(self, context: str) -> None:
        if self._caller_context_added:
            return
        self._caller_context_added = True
        self.record.write({"type": "caller_context", "found": bool(context)})
        if context:
            system = self.conversation.messages[0]
            system["content"] = with_context(system["content"], context)

    def on_answered(self) -> None:
        """Release the (pre-synthesized) greeting: its first frame goes out at once."""
        self.playout.held = False
        if self.playout.pending:
            self.call.audio_ready()
        self._answered_at = self.loop.time()
        self.record.write({"type": "answered"})
        reply = self._speaking.reply
        if reply is not None and reply.kind == "greeting":
            self._spawn(self._time_greeting(reply))
        elif self._llm_opens and reply is None:
            self._start_reply(None)  # an outbound call: the LLM's opening line

    async def _time_greeting(self, reply: _Reply) -> None:
        """Record how long after the 200 OK the greeting's first frame went out."""
        played = await self._first_frame(reply, GREETING_TIMING_LIMIT)
        if played is None:
            return  # cut off (or silent) before it played
        self.record.write(
            {
                "type": "greeting_metrics",
                "first_rtp_after_answer_ms": _ms(played, self._answered_at),
                "tts_first_byte_ms": _ms(reply.tts.first_audio_at, reply.started_at),
            }
        )

    async def _first_frame(self, reply: _Reply, limit: float) -> float | None:
        """When the reply's first frame went out; None if it never did within ``limit`` s."""
        future: asyncio.Future[float | None] = self.loop.create_future()

        def resolve(when: float | None) -> None:
            if not future.done():
                future.set_result(when)

        self.playout.when_first_played(reply.tts.id, resolve)
        try:
            async with asyncio.timeout(limit):
                return await future
        except TimeoutError:
            return None

    def on_quality(self, quality: CallQuality) -> None:
        """Keep the call's media quality figures in the record (before the ``end`` line)."""
        self.record.write({"type": "quality", **quality.record()})

    async def close(self, reason: str = "") -> None:
        """The call ended: stop everything, close the sockets, finish the record."""
        if self._closed:
            return
        self._closed = True
        if self._goodbye is not None and not self._goodbye.done():
            self._goodbye.set_result(False)
        if self._digit_timer is not None:
            self._digit_timer.cancel()
        # The drop task _drop_preemptive spawns is cancelled below before it runs, as is a
        # reply task that had not started yet: stop those requests here, or their streams
        # (and early tools) run on after the call.
        speaking = self._speaking.reply
        requests = [self._preemptive, speaking.preemptive if speaking is not None else None]
        self._drop_preemptive("call ended")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for request in requests:
            if request is not None:
                await request.drop()
        if self._caller_context is not None:
            self._caller_context.cancel()
        await asyncio.gather(self.stt.close(), self.tts.close(), return_exceptions=True)
        stats = self.stt.stats
        self.record.write(
            {"type": "end", "reason": reason, "turns": self._turns,
             "stt_reconnects": stats.reconnects}
        )  # fmt: skip
        self.record.close()

    async def say_goodbye(self, text: str) -> None:
        """Speak ``text`` (cutting off whatever is being said); return once it has played out
        (or was cut off, or the call ended)."""
        if self._closed:
            return
        self.record.write({"type": "goodbye", "text": text})
        reply = self._speak_fixed(text, "goodbye")
        played: asyncio.Future[bool] = self.loop.create_future()
        self._goodbye = played  # close() resolves it too

        def resolve(complete: bool) -> None:
            if not played.done():
                played.set_result(complete)

        self.playout.when_played(reply.tts.id, resolve)
        await played

    # ------------------------------------------------------------------ caller audio, the tick

    wants_arrival_audio = True

    def on_caller_frame(self, frame: bytes | None) -> None:
        """Unused: the assistant listens at arrival (:meth:`on_caller_audio`)."""

    def on_caller_audio(self, frame: bytes) -> None:
        """At arrival, in order: through the turn-taking machine, then unchanged to STT."""
        actions = self.turns.receive_audio(frame, self.loop.time())
        if actions:
            self._carry_out(actions)
        self.stt.send_audio(frame)

    def next_frame(self) -> bytes | None:
        """The agent's next frame from the playout queue (None = silence)."""
        frame = self.playout.next_frame(self.loop.time())
        if frame is None and self._hangup_after_reply and not self._hung_up:
            if not self._speaking.active(self._speaking.reply) and not self.playout.pending:
                self._hung_up = True
                self.record.write({"type": "hangup", "by": "agent"})
                self.call.hangup()
        return frame

    def on_dtmf(self, digit: str) -> None:
        """Keypad digits go to the LLM after a pause or ``#``."""
        actions = self.turns.receive_dtmf(self.loop.time())
        if actions:
            self._carry_out(actions)
        self._digits.append(digit)
        if self._digit_timer is not None:
            self._digit_timer.cancel()
        delay = 0.0 if digit == "#" else self.settings.dtmf_timeout
        self._digit_timer = self.loop.call_later(delay, self._flush_digits)

    def on_transfer_failed(self, status: int, reason: str) -> None:
        """The target did not answer the transfer: tell the caller, stay on the line."""
        self.record.write({"type": "transfer_failed", "status": status, "reason": reason})
        self.conversation.messages.append(
            {"role": "user", "content": f"[The transfer failed: {status} {reason}. Tell the "
             "caller and offer other help.]"}
        )  # fmt: skip
        self._start_reply(None)

    # ------------------------------------------------------------------ turn-taking actions

    def _carry_out(self, actions: tuple[TurnAction, ...]) -> None:
        """Do what the turn-taking machine decided, in order."""
        for action in actions:
            if isinstance(action, MarkSpeechEnd):
                self.stt.mark_speech_end()
            elif isinstance(action, SetSttChunk):
                self.stt.set_chunk_ms(action.chunk_ms)
            elif isinstance(action, PauseAgent):
                self.playout.paused = True
            elif isinstance(action, ResumeAgent):
                self.playout.paused = False
                self.record.write({"type": "barge_in_resumed", "paused_ms": action.paused_ms})
            elif isinstance(action, CommitBargeIn):
                self._commit_barge_in(action)
            elif isinstance(action, StartReply):
                self._start_reply(
                    action.text, speech_end_at=action.speech_end_at,
                    stt_final_at=action.stt_final_at, preemptive=self._adopt(action.text),
                )  # fmt: skip
            elif isinstance(action, StartPreemptive):
                self._start_preemptive(action.text)
            elif isinstance(action, DropPreemptive):
                self._drop_preemptive("caller went on")
            elif isinstance(action, IgnoreBackchannel):
                # "Mm-hmm" while the agent talks: it keeps talking (the VAD only paused it).
                self.record.write({"type": "backchannel", "text": action.text})

    # ------------------------------------------------------------------ preemptive replies

    def _start_preemptive(self, text: str) -> None:
        """Start the LLM on the partial transcript; its output waits for the end of turn.

        Not while the caller context is still being looked up: the request must carry
        it (the first reply waits for the lookup instead)."""
        self._drop_preemptive("replaced")
        lookup = self._caller_context
        if lookup is not None and not self._caller_context_added:
            context = lookup.ready()
            if context is None:
                return
            self._apply_caller_context(context)
        conversation = self.conversation
        schemas = conversation.tools.schemas()
        tool_choice = None if conversation.settings.max_tool_rounds > 0 or not schemas else "none"
        self._preemptive = PreemptiveRequest(
            conversation.llm, conversation.messages, text, schemas, tool_choice,
            tool_runner=(conversation.tools, conversation.ctx),
            on_early_tool=self._early_tool,
        )  # fmt: skip
        self.record.write({"type": "preemptive", "outcome": "started", "text": text})
        if self.observer is not None:
            self.observer.preemptive("started")

    def _early_tool(self, call: LlmToolCall) -> None:
        self.record.write({"type": "preemptive_tool", "name": call.name,
                           "arguments": call.arguments})  # fmt: skip

    def _drop_preemptive(self, why: str) -> None:
        """Cancel the preemptive request, if any: one wasted LLM request."""
        request, self._preemptive = self._preemptive, None
        if request is None:
            return
        self._spawn(request.drop())
        self._wasted += 1
        self.record.write({"type": "preemptive", "outcome": "wasted", "why": why,
                           "text": request.text})  # fmt: skip
        if self.observer is not None:
            self.observer.preemptive("wasted")

    def _adopt(self, final: str) -> PreemptiveRequest | None:
        """The preemptive request, if the final transcript confirms it; else drop it."""
        request = self._preemptive
        if request is None:
            return None
        if not same_words(request.text, final):
            self._drop_preemptive("final differs")
            return None
        if not request.matches_history(self.conversation.messages):
            self._drop_preemptive("history changed")
            return None
        self._preemptive = None
        self.record.write({"type": "preemptive", "outcome": "used", "text": request.text,
                           "lead_ms": _ms(self.loop.time(), request.started_at)})  # fmt: skip
        if self.observer is not None:
            self.observer.preemptive("used")
        return request

    def _commit_barge_in(self, action: CommitBargeIn) -> None:
        """The caller really interrupts: cancel the reply, keep what was heard."""
        speaking = self._speaking
        reply = speaking.reply
        if not speaking.active(reply):
            self.playout.paused = False
            speaking.reply = None
            return
        assert reply is not None
        heard = self.playout.cancel(reply.tts.id)
        reply.heard = heard
        self._stop_filler(reply)
        speaking.reply = None
        self._spawn(reply.tts.cancel())
        if reply.task is not None and not reply.task.done():
            reply.task.cancel()  # its finally block records what was heard
        else:
            self._record_heard(reply)
        cause = action.cause.value
        self.record.write(
            {"type": "barge_in", "cause": cause, "turn": reply.turn, "kind": reply.kind,
             "reaction_ms": action.reaction_ms, "heard": heard, "at": round(self.loop.time(), 3)}
        )  # fmt: skip
        log.info("[%s] barge-in (%s) of %s %d after %r", self.call.call_id[:24], cause, reply.kind,
                 reply.turn, self.settings.redactor.redact(heard)[-40:])  # fmt: skip
        if self.observer is not None:
            self.observer.barge_in()

    def _record_heard(self, reply: _Reply) -> None:
        if reply.heard is None:
            return
        if reply.kind == "reply":
            self.conversation.record_heard(reply.heard)
        else:
            for message in reversed(self.conversation.messages):
                if message.get("role") == "assistant" and message.get("content") == reply.text:
                    message["content"] = f"{reply.heard}…" if reply.heard else ""
                    break

    # ------------------------------------------------------------------ STT

    async def _listen(self) -> None:
        async for event in self.stt.events():
            if isinstance(event, SttReconnected):
                self.record.write({"type": "stt_reconnected", "outage_s": event.outage_seconds,
                                   "backlog_s": event.backlog_seconds,
                                   "dropped_s": event.dropped_seconds})  # fmt: skip
                log.warning("[%s] STT reconnected after %.1f s", self.call.call_id[:24],
                            event.outage_seconds)  # fmt: skip
                if self.observer is not None:
                    self.observer.service_error("stt", "connect")
            elif isinstance(event, SttFailed):
                self.record.write({"type": "stt_failed", "reason": event.reason})
                log.error("[%s] STT failed: %s", self.call.call_id[:24], event.reason)
                if self.observer is not None:
                    self.observer.service_error(
                        "stt", status_error_kind(event.code, connecting=False)
                    )
                self._hangup_after_reply = True
                self._speak_fixed(GOODBYE_ON_STT_FAILURE, "notice")
                return
            else:
                actions = self.turns.receive_stt(event, self.loop.time())
                if actions:
                    self._carry_out(actions)

    def _flush_digits(self) -> None:
        self._digit_timer = None
        digits, self._digits = "".join(self._digits), []
        if digits:
            self.conversation.add_dtmf(digits)
            self._start_reply(None)

    # ------------------------------------------------------------------ replies

    def _start_reply(
        self,
        user_text: str | None,
        *,
        speech_end_at: float | None = None,
        stt_final_at: float | None = None,
        preemptive: PreemptiveRequest | None = None,
    ) -> None:
        self._carry_out(self.turns.replace_reply(Cause.NEW_TURN))
        if preemptive is None:
            self._drop_preemptive("new reply")
        self._turns += 1
        reply = _Reply("reply", self.tts.start_reply(), self._turns, started_at=self.loop.time(),
                       speech_end_at=speech_end_at, stt_final_at=stt_final_at,
                       preemptive=preemptive, wasted=self._wasted)  # fmt: skip
        self._wasted = 0
        self._speaking.reply = reply
        self.playout.begin(reply.tts.id)
        reply.task = self._spawn(self._run_reply(reply, user_text))

    def _speak_fixed(self, text: str, kind: str) -> _Reply:
        """Speak a fixed text (greeting, notices) without the LLM."""
        self._carry_out(self.turns.replace_reply(Cause.NOTICE))
        reply = _Reply(kind, self.tts.start_reply(), self._turns, started_at=self.loop.time())
        reply.text = text
        self._speaking.reply = reply
        self.playout.begin(reply.tts.id)
        reply.task = self._spawn(self._run_fixed(reply, text))
        return reply

    async def _run_fixed(self, reply: _Reply, text: str) -> None:
        async def feed() -> None:
            self.playout.add_text(reply.tts.id, text)
            await reply.tts.send_text(text)

        await self._play(reply, feed())

    async def _run_reply(self, reply: _Reply, user_text: str | None) -> None:
        try:
            await self._play(reply, self._converse(reply, user_text))
        finally:
            if reply.preemptive is not None:  # maybe cut off before its stream was read
                await reply.preemptive.drop()

    async def _play(self, reply: _Reply, feed: Coroutine[Any, Any, None]) -> None:
        """Feed the reply's text to TTS while its audio is pumped into the playout queue."""
        pump = self._spawn(self._pump(reply))
        try:
            await feed
            await reply.tts.finish()
            await pump
        except TtsError as exc:
            self.playout.finish(reply.tts.id)  # what arrived plays; the rest never comes
            reply.extra["tts_failed"] = True
            self._stop_filler(reply)
            log.error("[%s] TTS failed: %s", self.call.call_id[:24], exc)
            self.record.write({"type": "error", "where": "tts", "error": str(exc)})
            if self.observer is not None:
                connecting = isinstance(exc, TtsConnectError)
                kind = status_error_kind(exc.status, connecting=connecting)
                self.observer.service_error("tts", kind)
        finally:
            pump.cancel()
            self._record_heard(reply)
            self._done(reply)

    async def _converse(self, reply: _Reply, user_text: str | None) -> None:
        """Run the conversation's reply and send each sentence to TTS as it completes."""
        await self._add_caller_context()
        running_tools = 0
        filler_timer: asyncio.TimerHandle | None = None
        try:
            early = reply.preemptive
            replying = self.conversation.reply(
                user_text,
                first_round=None if early is None else early.events(),
                early_tools=None if early is None else early.early_tools,
            )
            async with aclosing(replying) as events:
                async for event in events:
                    if isinstance(event, ReplyToolCall):
                        if running_tools == 0 and self.settings.filler_after is not None:
                            filler_timer = self.loop.call_later(
                                self.settings.filler_after, self._say_filler, reply
                            )
                        running_tools += 1
                    elif isinstance(event, ReplyToolResult):
                        running_tools -= 1
                        if running_tools == 0 and filler_timer is not None:
                            filler_timer.cancel()  # the round is over
                            filler_timer = None
                    await self._reply_event(reply, event)
        finally:
            if filler_timer is not None:
                filler_timer.cancel()

    async def _reply_event(
        self, reply: _Reply, event: ReplySentence | ReplyToolCall | ReplyToolResult | ReplyDone
    ) -> None:
        """Carry out one event of the conversation's reply."""
        if isinstance(event, ReplySentence):
            if reply.first_sentence_at is None:
                reply.first_sentence_at = self.loop.time()
            self.playout.add_text(reply.tts.id, event.text)
            await reply.tts.send_text(event.text)
        elif isinstance(event, ReplyToolCall):
            log.info("[%s] tool %s(%s)", self.call.call_id[:24], event.name,
                     self.settings.redactor.redact(event.arguments)[:120])  # fmt: skip
        elif isinstance(event, ReplyToolResult):
            outcome = "ok" if event.ok else "error"
            log.info("[%s] tool %s -> %s in %.0f ms", self.call.call_id[:24],
                     event.name, outcome, event.elapsed * 1000)  # fmt: skip
        elif isinstance(event, ReplyDone):
            reply.text = event.text
            reply.first_token_at = event.timings.first_token_at
            if event.failed and self.observer is not None:
                self.observer.service_error("llm", llm_error_kind(event.error_kind))
            if event.failed:
                log.warning("[%s] LLM failed (%s): fallback phrase",
                            self.call.call_id[:24], event.error)  # fmt: skip

    async def _pump(self, reply: _Reply) -> None:
        """Move the reply's TTS audio into the playout queue."""
        reply_id = reply.tts.id
        async for chunk in reply.tts.audio():
            if reply.filler is not None:
                self._stop_filler(reply)  # the answer is here: cut the filler line
            self.playout.push_audio(reply_id, chunk.audio, chunk.text)
            self._audio_arrived.set()
        self.playout.finish(reply_id)

    # ------------------------------------------------------------------ filler lines

    def _say_filler(self, reply: _Reply) -> None:
        """A tool round is slow: say the next filler line, unless agent audio is queued."""
        lines = self.settings.filler_lines
        if reply.filler is not None or not lines or self.playout.pending:
            return
        if self._speaking.reply is not reply or reply.heard is not None:
            return  # superseded or cut off
        text = lines[self._fillers_said % len(lines)]
        self._fillers_said += 1
        filler = _Filler(self.tts.start_reply(), text)
        reply.filler = filler
        self.playout.begin(filler.tts.id)
        self.playout.add_text(filler.tts.id, text)
        filler.task = self._spawn(self._run_filler(filler))
        self.record.write({"type": "filler", "turn": reply.turn, "text": text,
                           "after_ms": _ms(self.loop.time(), reply.started_at)})  # fmt: skip

    async def _run_filler(self, filler: _Filler) -> None:
        reply_id = filler.tts.id
        try:
            await filler.tts.send_text(filler.text)
            await filler.tts.finish()
            async for chunk in filler.tts.audio():
                self.playout.push_audio(reply_id, chunk.audio, chunk.text)
        except TtsError as exc:
            log.warning("[%s] TTS failed on the filler line: %s", self.call.call_id[:24], exc)
        self.playout.finish(reply_id)

    def _stop_filler(self, reply: _Reply) -> None:
        """Cut the reply's filler line (whole frames), if one is still queued or coming."""
        filler, reply.filler = reply.filler, None
        if filler is None:
            return
        done = self.playout.finished(filler.tts.id)
        heard = self.playout.drop(filler.tts.id)
        if filler.task is not None and not filler.task.done():
            filler.task.cancel()
        if not filler.tts.done:
            self._spawn(filler.tts.cancel())
        self.record.write({"type": "filler_stopped", "turn": reply.turn, "cut": not done,
                           "heard": heard})  # fmt: skip

    def _done(self, reply: _Reply) -> None:
        """A reply's task ended; write its metrics once its first frame has gone out."""
        if reply.kind == "reply" and reply.heard is None:
            self._spawn(self._write_metrics(reply))
        if self._speaking.reply is reply and reply.heard is not None:
            self._speaking.reply = None

    async def _write_metrics(self, reply: _Reply) -> None:
        first_rtp = await self._first_frame(reply, FIRST_FRAME_LIMIT)
        metrics = {
            "type": "turn_metrics",
            "turn": reply.turn,
            "stt_end_of_turn_ms": _ms(reply.stt_final_at, reply.speech_end_at),
            "llm_first_token_ms": _ms(reply.first_token_at, reply.started_at),
            "tts_first_byte_ms": _ms(reply.tts.first_audio_at, reply.first_sentence_at),
            "first_rtp_after_tts_ms": _ms(first_rtp, reply.tts.first_audio_at),
            "first_rtp_after_turn_ms": _ms(first_rtp, reply.stt_final_at),
            "end_of_speech_to_first_rtp_ms": _ms(first_rtp, reply.speech_end_at),
            "preemptive": "used" if reply.preemptive is not None else None,
            "preemptive_wasted": reply.wasted,
        }
        self.record.write(metrics)
        if self.observer is not None:
            self.observer.turn_measured(_stage_seconds(metrics))
        log.info(
            "[%s] turn %d: end of speech→STT %s ms, LLM first token %s ms, TTS first byte %s ms, "
            "first RTP %s ms after end of speech",
            self.call.call_id[:24], reply.turn, metrics["stt_end_of_turn_ms"],
            metrics["llm_first_token_ms"], metrics["tts_first_byte_ms"],
            metrics["end_of_speech_to_first_rtp_ms"],
        )  # fmt: skip
        self.playout.forget(reply.tts.id)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            # A cancelled task nobody awaits keeps its CancelledError, whose
            # traceback holds the task's frames (and so the reply and the task):
            # a reference cycle only a full garbage collection would free.
            # Retrieving it drops it.
            with contextlib.suppress(asyncio.CancelledError):
                task.result()
        elif task.exception() is not None:
            log.error("[%s] agent task failed", self.call.call_id[:24], exc_info=task.exception())
