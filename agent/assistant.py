"""The AI phone agent: AssemblyAI streaming STT → OpenAI tool loop → ElevenLabs μ-law TTS.

Theory of operation
-------------------
*While it rings* (:meth:`AssistantAgent.prepare`) the STT session and the TTS
socket are opened and the greeting is synthesized into the playout queue,
which is *held*; the 200 OK releases it, so the first words go out on the
first ticks after the answer.

*Every 20 ms* the ticker hands over the caller's frame: it goes unchanged
(μ-law) to the STT client, which batches it, and through the local VAD. The
ticker then takes the agent's next frame from the playout queue.

*A turn*: the STT's end-of-turn transcript starts a reply task. The LLM's
sentences go to TTS as soon as each is complete; TTS audio is re-cut into
frames and queued. Tool calls run in between (the conversation does that).

*Barge-in*, in two steps so that "mm-hm" and coughs don't cut the agent off:
caller speech for ``SIPGW_BARGE_IN_START_MS`` (VAD) or the STT's
SpeechStarted *pauses* the agent's audio at once; speech that lasts
``SIPGW_BARGE_IN_COMMIT_MS``, or a partial transcript with enough words, or
a finished turn *commits* it: the reply's LLM and TTS work is cancelled, its
queued audio dropped, and the conversation keeps only what the caller heard.
Speech that ends before the commit *resumes* the reply where it paused.

*Measured per turn* (all on the event loop's clock, written to the call
record and logged): the caller's end of speech (VAD), the STT's end of turn,
the LLM's first token, TTS's first audio byte, and the reply's first RTP
frame; per barge-in, the time from the caller's first loud frame to the
pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Coroutine
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.base import Agent, CallControl
from agent.conversation import (
    Conversation,
    ConversationSettings,
    ReplyDone,
    ReplySentence,
    ReplyToolCall,
    ReplyToolResult,
)
from agent.llm.openai import OpenAIChatLLM
from agent.playout import Playout
from agent.record import CallRecord
from agent.settings import AssistantSettings
from agent.stt.assemblyai import (
    AssemblyAISTTService,
    SttFailed,
    SttPartialTranscript,
    SttReconnected,
    SttSpeechStarted,
    SttTurnEnded,
)
from agent.tools.registry import ToolRegistry
from agent.tts.elevenlabs import ElevenLabsTTSService, TtsError, TtsReply
from media.vad import VadEvent, VoiceActivityDetector

__all__ = ["AssistantAgent", "AssistantCallControl", "AssistantResources"]

log = logging.getLogger("sipgw.agent")
GOODBYE_ON_STT_FAILURE = "Sorry, I can't hear you right now. Please call again later."
GREETING_WAIT = 1.0
"""Seconds the answer may wait for the greeting's first audio."""
STT_SPEECH_ECHO = 1.5
"""An STT SpeechStarted this soon after the VAD's own start is the same speech."""
PAUSE_WITHOUT_SPEECH = 0.5
"""Seconds a barge-in pause lasts without caller speech before the agent resumes."""
FAST_CHUNK_MS = 50
"""STT chunk size right after caller speech (the API's minimum)."""
FAST_CHUNKS_AFTER_SPEECH = 1.5
"""Seconds after the caller's last loud frame that STT chunks stay small."""
BACKCHANNELS = frozenset(
    {
        "mm", "mmm", "mhm", "mm-hm", "mm-hmm", "mmhmm", "hmm", "uh-huh", "uh huh", "uhhuh",
        "aha", "ah", "oh", "yeah", "yep", "yes", "ok", "okay", "right", "sure", "i see",
        "got it", "alright", "all right",
    }
)  # fmt: skip
"""What a listener says to show they are listening; never a barge-in while the agent talks."""


def is_backchannel(text: str) -> bool:
    """Whether a transcript is only a backchannel ("Mm-hmm.", "Yeah, okay.")."""
    words = " ".join(text.lower().replace(",", " ").replace(".", " ").replace("!", " ")
                     .replace("?", " ").split())  # fmt: skip
    if not words:
        return True
    if words in BACKCHANNELS:
        return True
    return all(word in BACKCHANNELS for word in words.split())


class AssistantCallControl(CallControl, Protocol):
    """What the assistant needs from its call beyond :class:`CallControl`."""

    async def transfer(self, target: str) -> bool:
        """Blind transfer (SIP REFER); True when the caller's phone accepted it."""
        ...


@dataclass(frozen=True)
class AssistantResources:
    """What all assistant calls share: settings, the LLM client, the tools."""

    settings: AssistantSettings
    llm: OpenAIChatLLM
    tools: ToolRegistry


@dataclass(eq=False)
class _Reply:
    """One reply in flight."""

    kind: str  # "greeting", "reply", "notice"
    tts: TtsReply
    turn: int
    task: asyncio.Task[None] | None = None
    started_at: float = 0.0
    speech_end_at: float | None = None
    stt_final_at: float | None = None
    first_token_at: float | None = None
    first_sentence_at: float | None = None
    text: str = ""
    heard: str | None = None  # set by a committed barge-in
    metrics_written: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _ms(later: float | None, earlier: float | None) -> float | None:
    """Milliseconds between two loop times, or None if either is unknown."""
    return None if later is None or earlier is None else round((later - earlier) * 1000, 1)


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
        return self._agent.call.caller

    @property
    def settings(self) -> AssistantSettings:
        return self._agent.settings

    async def transfer(self, target: str) -> bool:
        return await self._agent.transfer(target)

    def hangup_after_reply(self) -> None:
        self._agent.hangup_after_reply()


class AssistantAgent(Agent):
    """One call's AI agent; see the module docstring."""

    def __init__(self, call: AssistantCallControl, resources: AssistantResources) -> None:
        self.call = call
        self.resources = resources
        settings = resources.settings
        self.settings = settings
        self.loop = asyncio.get_running_loop()
        self.record = CallRecord(settings.record_dir, call.call_id)
        self.stt = AssemblyAISTTService(settings.stt)
        self.tts = ElevenLabsTTSService(settings.tts)
        self.conversation = Conversation(
            resources.llm,
            resources.tools,
            _ToolContext(self),
            ConversationSettings(
                system_prompt=settings.system_prompt,
                max_tool_rounds=settings.max_tool_rounds,
                fallback_phrase=settings.fallback_phrase,
            ),
            on_record=self.record.write,
        )
        self.playout = Playout(on_ready=call.audio_ready)
        self.vad = VoiceActivityDetector(settings.barge_in.vad)
        self._reply: _Reply | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turns = 0
        self._paused_at: float | None = None
        self._onset_at: float | None = None
        self._speech_end_at: float | None = None
        self._speech_started_at: float | None = None
        self._fast_chunks = False
        self._was_loud = False
        self._audio_arrived = asyncio.Event()
        self._hangup_after_reply = False
        self._hung_up = False
        self._digits: list[str] = []
        self._digit_timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._answered_at = 0.0

    # ------------------------------------------------------------------ for tools

    async def transfer(self, target: str) -> bool:
        """Transfer the caller (tool ``transfer_to_human``)."""
        accepted = await self.call.transfer(target)
        self.record.write({"type": "transfer", "target": target, "accepted": accepted})
        return accepted

    def hangup_after_reply(self) -> None:
        """End the call once the current reply has been spoken (tool ``end_call``)."""
        self._hangup_after_reply = True

    # ------------------------------------------------------------------ lifecycle

    async def prepare(self) -> None:
        """Open STT and TTS and synthesize the greeting while the phone rings."""
        self.record.write(
            {"type": "call", "call_id": self.call.call_id, "caller": self.call.caller,
             "called": self.call.called, "started": self.record.started}
        )  # fmt: skip
        await asyncio.gather(self.stt.connect(), self.tts.connect())
        self._spawn(self._listen())
        if self.settings.greeting:
            self.conversation.messages.append(
                {"role": "assistant", "content": self.settings.greeting}
            )
            self.record.write({"type": "assistant", "text": self.settings.greeting,
                               "greeting": True})  # fmt: skip
            self._speak_fixed(self.settings.greeting, "greeting")
            # Ring a little longer rather than answer into silence: the 200 OK goes
            # out once the greeting's first audio is here (or after GREETING_WAIT).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._audio_arrived.wait(), GREETING_WAIT)

    def on_answered(self) -> None:
        """Release the (pre-synthesized) greeting: its first frame goes out at once."""
        self.playout.held = False
        if self.playout.pending:
            self.call.audio_ready()
        self._answered_at = self.loop.time()
        self.record.write({"type": "answered"})
        if self._reply is not None and self._reply.kind == "greeting":
            self._spawn(self._time_greeting(self._reply))

    async def _time_greeting(self, reply: _Reply) -> None:
        """Record how long after the 200 OK the greeting's first frame went out."""
        for _ in range(500):
            played = self.playout.first_played_at(reply.tts.id)
            if played is not None:
                first_byte = reply.tts.first_audio_at
                self.record.write(
                    {
                        "type": "greeting_metrics",
                        "first_rtp_after_answer_ms": _ms(played, self._answered_at),
                        "tts_first_byte_ms": _ms(first_byte, reply.started_at),
                    }
                )
                return
            if reply.heard is not None:
                return
            await asyncio.sleep(0.02)

    async def close(self, reason: str = "") -> None:
        """The call ended: stop everything, close the sockets, finish the record."""
        if self._closed:
            return
        self._closed = True
        if self._digit_timer is not None:
            self._digit_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(self.stt.close(), self.tts.close(), return_exceptions=True)
        stats = self.stt.stats
        self.record.write(
            {"type": "end", "reason": reason, "turns": self._turns,
             "stt_reconnects": stats.reconnects}
        )  # fmt: skip
        self.record.close()

    # ------------------------------------------------------------------ the 20 ms tick

    wants_arrival_audio = True

    def on_caller_frame(self, frame: bytes | None) -> None:
        """Unused: the assistant listens at arrival (:meth:`on_caller_audio`)."""

    def on_caller_audio(self, frame: bytes) -> None:
        """At arrival, in order: to STT unchanged (μ-law), and through the VAD for barge-in."""
        event = self.vad.push(frame)
        now = self.loop.time()
        if self.vad.loud:
            self._speech_end_at = now  # the last loud frame so far
        elif self._was_loud:
            self.stt.mark_speech_end()  # a chunk ends where the turn can end
        self._was_loud = self.vad.loud
        # Right after the caller stops talking the turn detector counts silence:
        # send it in the smallest chunks the API takes, so the turn ends sooner.
        last_loud = self._speech_end_at
        fast = (
            not self.vad.loud
            and last_loud is not None
            and now - last_loud < FAST_CHUNKS_AFTER_SPEECH
        )
        if fast != self._fast_chunks:
            self._fast_chunks = fast
            self.stt.set_chunk_ms(FAST_CHUNK_MS if fast else self.settings.stt.chunk_ms)
        self.stt.send_audio(frame)
        if event is VadEvent.STARTED:
            self._speech_started_at = self.loop.time() - self.vad.speech_ms / 1000
            self._caller_started(self._speech_started_at)
        elif event is VadEvent.ENDED:
            if self._paused_at is not None:
                self._resume()
        elif (
            self._paused_at is not None
            and not self.vad.speaking
            and now - self._paused_at > PAUSE_WITHOUT_SPEECH
        ):
            # A pause the VAD never confirmed (e.g. the STT's SpeechStarted for a
            # sound the VAD had already finished with): nobody is talking, carry on.
            self._resume()
        elif (
            self.vad.speaking
            and self.vad.speech_ms >= self.settings.barge_in.commit_ms
            and (self._paused_at is not None or self._interrupted_by_speech())
        ):
            self._commit_barge_in("speech")

    def next_frame(self) -> bytes | None:
        """The agent's next frame from the playout queue (None = silence)."""
        frame = self.playout.next_frame(self.loop.time())
        if frame is None and self._hangup_after_reply and not self._hung_up:
            if not self._active(self._reply) and not self.playout.pending:
                self._hung_up = True
                self.record.write({"type": "hangup", "by": "agent"})
                self.call.hangup()
        return frame

    def on_dtmf(self, digit: str) -> None:
        """Keypad digits go to the LLM after a pause or ``#``."""
        if self.playout.audible or self._paused_at is not None:
            self._commit_barge_in("dtmf")
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

    # ------------------------------------------------------------------ barge-in

    def _active(self, reply: _Reply | None) -> bool:
        """The reply is still generating or still has audio to play."""
        if reply is None:
            return False
        running = reply.task is not None and not reply.task.done()
        return running or not self.playout.finished(reply.tts.id)

    def _interrupted_by_speech(self) -> bool:
        """Caller speech that began after the current reply started (not the turn it answers)."""
        reply = self._reply
        return (
            self._active(reply)
            and reply is not None
            and self._speech_started_at is not None
            and self._speech_started_at > reply.started_at
        )

    def _caller_started(self, onset: float) -> None:
        """Caller speech began: pause the agent's audio if it is playing."""
        if self.playout.audible and self._paused_at is None:
            now = self.loop.time()
            self.playout.paused = True
            self._paused_at = now
            self._onset_at = min(onset, now)

    def _resume(self) -> None:
        """Speech ended before the commit threshold: a false interruption."""
        self.playout.paused = False
        paused_ms = _ms(self.loop.time(), self._paused_at)
        self.record.write({"type": "barge_in_resumed", "paused_ms": paused_ms})
        self._paused_at = None
        self._onset_at = None

    def _commit_barge_in(self, cause: str) -> None:
        """The caller really interrupts: cancel the reply, keep what was heard."""
        reply = self._reply
        now = self.loop.time()
        reaction = None
        if self._onset_at is not None and self._paused_at is not None:
            reaction = round((self._paused_at - self._onset_at) * 1000, 1)
        self._paused_at = None
        self._onset_at = None
        if not self._active(reply):
            self.playout.paused = False
            self._reply = None
            return
        assert reply is not None
        heard = self.playout.cancel(reply.tts.id)
        reply.heard = heard
        self._reply = None
        self._spawn(reply.tts.cancel())
        if reply.task is not None and not reply.task.done():
            reply.task.cancel()  # its finally block records what was heard
        else:
            self._record_heard(reply)
        self.record.write(
            {"type": "barge_in", "cause": cause, "turn": reply.turn, "kind": reply.kind,
             "reaction_ms": reaction, "heard": heard, "at": round(now, 3)}
        )  # fmt: skip
        log.info("[%s] barge-in (%s) of %s %d after %r", self.call.call_id[:24], cause, reply.kind,
                 reply.turn, heard[-40:])  # fmt: skip

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
            if isinstance(event, SttTurnEnded):
                if not event.text.strip():
                    continue
                if self.playout.pending and is_backchannel(event.text):
                    # "Mm-hmm" while the agent talks: it keeps talking (the VAD only paused it).
                    self.record.write({"type": "backchannel", "text": event.text})
                    continue
                if self._active(self._reply):
                    self._commit_barge_in("turn")
                speech_end = self._speech_end_at
                self._start_reply(
                    event.text, speech_end_at=speech_end, stt_final_at=event.received_at
                )
            elif isinstance(event, SttSpeechStarted):
                seen = self._speech_started_at
                if seen is None or event.received_at - seen > STT_SPEECH_ECHO:
                    self._caller_started(event.received_at)  # speech the VAD missed
            elif isinstance(event, SttPartialTranscript):
                words = len(event.text.split())
                if (
                    words >= self.settings.barge_in.min_words
                    and not is_backchannel(event.text)
                    and (self._paused_at is not None or self.playout.audible)
                ):
                    self._commit_barge_in("transcript")
            elif isinstance(event, SttReconnected):
                self.record.write({"type": "stt_reconnected", "outage_s": event.outage_seconds,
                                   "backlog_s": event.backlog_seconds,
                                   "dropped_s": event.dropped_seconds})  # fmt: skip
                log.warning("[%s] STT reconnected after %.1f s", self.call.call_id[:24],
                            event.outage_seconds)  # fmt: skip
            elif isinstance(event, SttFailed):
                self.record.write({"type": "stt_failed", "reason": event.reason})
                log.error("[%s] STT failed: %s", self.call.call_id[:24], event.reason)
                self._hangup_after_reply = True
                self._speak_fixed(GOODBYE_ON_STT_FAILURE, "notice")
                return

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
    ) -> None:
        if self._active(self._reply):
            self._commit_barge_in("new turn")
        self._turns += 1
        reply = _Reply("reply", self.tts.start_reply(), self._turns, started_at=self.loop.time(),
                       speech_end_at=speech_end_at, stt_final_at=stt_final_at)  # fmt: skip
        self._reply = reply
        self.playout.begin(reply.tts.id)
        reply.task = self._spawn(self._run_reply(reply, user_text))

    def _speak_fixed(self, text: str, kind: str) -> None:
        """Speak a fixed text (greeting, notices) without the LLM."""
        if self._active(self._reply):
            self._commit_barge_in("notice")
        reply = _Reply(kind, self.tts.start_reply(), self._turns, started_at=self.loop.time())
        reply.text = text
        self._reply = reply
        self.playout.begin(reply.tts.id)
        reply.task = self._spawn(self._run_fixed(reply, text))

    async def _run_fixed(self, reply: _Reply, text: str) -> None:
        async def feed() -> None:
            self.playout.add_text(reply.tts.id, text)
            await reply.tts.send_text(text)

        await self._play(reply, feed())

    async def _run_reply(self, reply: _Reply, user_text: str | None) -> None:
        await self._play(reply, self._converse(reply, user_text))

    async def _play(self, reply: _Reply, feed: Coroutine[Any, Any, None]) -> None:
        """Feed the reply's text to TTS while its audio is pumped into the playout queue."""
        pump = self._spawn(self._pump(reply))
        try:
            await feed
            await reply.tts.finish()
            await pump
        except TtsError as exc:
            log.error("[%s] TTS failed: %s", self.call.call_id[:24], exc)
            self.record.write({"type": "error", "where": "tts", "error": str(exc)})
        finally:
            pump.cancel()
            self._record_heard(reply)
            self._done(reply)

    async def _converse(self, reply: _Reply, user_text: str | None) -> None:
        """Run the conversation's reply and send each sentence to TTS as it completes."""
        async with aclosing(self.conversation.reply(user_text)) as events:
            async for event in events:
                if isinstance(event, ReplySentence):
                    if reply.first_sentence_at is None:
                        reply.first_sentence_at = self.loop.time()
                    self.playout.add_text(reply.tts.id, event.text)
                    await reply.tts.send_text(event.text)
                elif isinstance(event, ReplyToolCall):
                    log.info("[%s] tool %s(%s)", self.call.call_id[:24], event.name,
                             event.arguments[:120])  # fmt: skip
                elif isinstance(event, ReplyToolResult):
                    outcome = "ok" if event.ok else "error"
                    log.info("[%s] tool %s -> %s in %.0f ms", self.call.call_id[:24],
                             event.name, outcome, event.elapsed * 1000)  # fmt: skip
                elif isinstance(event, ReplyDone):
                    reply.text = event.text
                    reply.first_token_at = event.timings.first_token_at
                    if event.failed:
                        log.warning("[%s] LLM failed (%s): fallback phrase",
                                    self.call.call_id[:24], event.error)  # fmt: skip

    async def _pump(self, reply: _Reply) -> None:
        """Move the reply's TTS audio into the playout queue."""
        reply_id = reply.tts.id
        async for chunk in reply.tts.audio():
            self.playout.push_audio(reply_id, chunk.audio, chunk.text)
            self._audio_arrived.set()
        self.playout.finish(reply_id)

    def _done(self, reply: _Reply) -> None:
        """A reply's task ended; write its metrics once its first frame has gone out."""
        if reply.kind == "reply" and reply.heard is None:
            self._spawn(self._write_metrics(reply))
        if self._reply is reply and reply.heard is not None:
            self._reply = None

    async def _write_metrics(self, reply: _Reply) -> None:
        reply_id = reply.tts.id
        for _ in range(100):  # the first frame goes out on a tick within ~20 ms
            if self.playout.first_played_at(reply_id) is not None or reply.heard is not None:
                break
            await asyncio.sleep(0.02)
        first_rtp = self.playout.first_played_at(reply_id)

        metrics = {
            "type": "turn_metrics",
            "turn": reply.turn,
            "stt_end_of_turn_ms": _ms(reply.stt_final_at, reply.speech_end_at),
            "llm_first_token_ms": _ms(reply.first_token_at, reply.started_at),
            "tts_first_byte_ms": _ms(reply.tts.first_audio_at, reply.first_sentence_at),
            "first_rtp_after_tts_ms": _ms(first_rtp, reply.tts.first_audio_at),
            "first_rtp_after_turn_ms": _ms(first_rtp, reply.stt_final_at),
            "end_of_speech_to_first_rtp_ms": _ms(first_rtp, reply.speech_end_at),
        }
        self.record.write(metrics)
        log.info(
            "[%s] turn %d: end of speech→STT %s ms, LLM first token %s ms, TTS first byte %s ms, "
            "first RTP %s ms after end of speech",
            self.call.call_id[:24], reply.turn, metrics["stt_end_of_turn_ms"],
            metrics["llm_first_token_ms"], metrics["tts_first_byte_ms"],
            metrics["end_of_speech_to_first_rtp_ms"],
        )  # fmt: skip
        self.playout.forget(reply_id)

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
