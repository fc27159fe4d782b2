"""The speech-to-speech agent: one session with a voice model per call, on the gateway's path.

Theory of operation
-------------------
The model listens and speaks by itself (:mod:`sipgw.agent.services.s2s.base`; AssemblyAI's
Voice Agent API or OpenAI's Realtime API); this agent puts it on a SIP call
with everything the pipeline assistant (:mod:`sipgw.agent.assistant.agent`) has around its
model: the same tools and tool registry (schemas checked, the dial allow-list),
call records, metrics, transfer and hang-up after the line is heard, keypad
input, barge-in, the drain's goodbye. Like the assistant, it is a thin
orchestrator of parts that share the call's :class:`sipgw.agent.s2s.scope.SessionScope`
and never hold the agent.

*While it rings* (:meth:`SpeechToSpeechAgent.prepare`) the session is opened and
configured: the system prompt (with the date, and for a call the gateway placed,
why: :func:`sipgw.agent.conversation.opening.plan_opening`), the greeting, the tools. The service
speaks the greeting at once; its audio waits in the held playout and the 200 OK
goes out when its first audio is there (at most ``answer_wait`` later), so the
greeting plays from the first ticks after the answer. The operator's caller
lookup runs beside it and, when it answers, replaces the session's instructions.

*Audio* (:class:`sipgw.agent.s2s.hearing.CallerHearing`): each caller frame goes, at
arrival, through noise suppression when
``SIPGW_NOISE_SUPPRESSION`` is on, then the
turn-taking machine's voice detector (the configured one, ``SIPGW_VOICE_DETECTOR``, as
the assistant's: :class:`sipgw.agent.conversation.caller_audio.CallerAudio`; the model
detector's steps batched with every call's, a frame that completes a model chunk and
those after it waiting for the run, within the loop's wake-up) and on to the session. The
model's audio is re-cut into 20 ms frames in the playout, which the gateway's ticker
reads one per 20 ms. The format is decided when the agent takes the call: 8 kHz μ-law,
the codec's octets on a G.711 call, nothing resampled either way; on an HD-voice call (the
codec carries 16 kHz: G.722, Opus, as the assistant decides it) the session is opened with
24 kHz linear audio (``audio/pcm``, the services' only linear format) and this agent's
:attr:`audio_format` is that, so that the call's media resamples 16 to 24 kHz and back
in its one place (``media/codecs/convert.py``; a call handed over from an agent of another
format is carried at 24 kHz too, the media converting at the switch, unless
``SIPGW_S2S_HANDOVER_FORMAT=keep`` keeps the handing agent's when the session carries it:
:func:`session_format`); the voice detector and the
answering-machine detector hear the caller as 8 kHz μ-law even then (one
:class:`~sipgw.media.codecs.convert.Reformat` a call, as the assistant's; suppression,
which takes 8 kHz μ-law only, cleans that copy, and the session gets the caller's audio
as it came, as the assistant's wideband STT does), and fallback
lines recorded in μ-law are converted by the playout.

*What the session says* (:meth:`SpeechToSpeechAgent._listen`) goes to the part
that handles it: replies, their audio and text to
:class:`sipgw.agent.s2s.voice.ModelVoice`; tool calls to
:class:`sipgw.agent.s2s.tool_calls.ToolCalls`; transcripts, errors, resumes and a
failed session to :class:`sipgw.agent.s2s.recovery.SessionRecovery`. Transfers,
hang-ups, keypad input and the goodbye are :class:`sipgw.agent.s2s.actions.S2sActions`.

*Barge-in*, in two steps as in the assistant: the local VAD pauses the agent's
audio within ``barge_in.vad.start_ms`` (:class:`sipgw.agent.turns.machine.PauseAgent`); the
cut itself (:class:`sipgw.agent.turns.machine.CommitBargeIn`) comes from the service when it
detects the caller's turns (:class:`~sipgw.agent.services.s2s.base.CallerSpeechStarted`; the
local VAD never commits by itself then, so that the agent and the service agree
on what was interrupted), or from ``barge_in.commit_ms`` of speech with local
turn-taking. A pause the service does not confirm ends when the caller stops
(the audio plays on where it stopped).

*Local turn-taking* (sessions without
:attr:`~sipgw.agent.services.s2s.base.SpeechToSpeech.server_turns`;
:mod:`sipgw.agent.s2s.hearing`):
:class:`sipgw.agent.turns.endpointing.SilenceEndpointer` ends the caller's turn after
``silence_ms`` of quiet following confirmed speech and the session replies
(:meth:`~sipgw.agent.services.s2s.base.SpeechToSpeech.end_turn`). Speech too short to commit a
barge-in while the agent talks is taken as a backchannel: the agent goes on. With
``preemptive_ms`` the reply starts after that much of the silence
(:meth:`~sipgw.agent.services.s2s.base.SpeechToSpeech.start_early_reply`), its audio held in the
playout until the end of turn, and dropped unheard if the caller goes on first.

*A slow tool* gets a filler line said by the model (:mod:`sipgw.agent.s2s.fillers`), on
sessions that can be asked for one.

*Warm transfers* (``SIPGW_TRANSFER_MODE=warm``) are the assistant's
(:class:`sipgw.agent.transfer.warm.WarmTransfer`), with the consultation call's voice and
ears made of sessions of the same service (:class:`sipgw.agent.s2s.lines.SessionVoice`,
:class:`sipgw.agent.s2s.ears.SessionEars`); while the caller waits on hold the session hears
silence.

*A quiet caller* (:mod:`sipgw.agent.s2s.idle_watch`): the assistant's idle policy, with
the line's ``idle`` settings, counts the silence of both sides (no caller speech, no reply
generated or playing, no tool running); its check-ins and goodbye are the model's, asked
for as one-off replies, and the hang-up follows the goodbye.

A session that cannot be opened while the phone rings refuses the call (503,
so a trunk can try elsewhere). Mid-call failures go to the call's failure policy
(:class:`sipgw.agent.resilience.watch.FailureWatch`): the caller hears the fallback
lines from memory, in the model's voice when the line cache has it
(:mod:`sipgw.agent.s2s.recovery`). The policy also watches the caller's wait for a
reply (:mod:`sipgw.agent.s2s.waiting`): the end of each turn (the service's
:class:`~sipgw.agent.services.s2s.base.CallerTurnOver`, or the local endpointer's), counted from
the caller's last loud frame, and each reply's first frame: "one moment" after
``hold_line_after``, the apology when no reply comes within ``reply_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from sipgw.agent.amd.settings import AmdCall, AmdMode
from sipgw.agent.base import CallControl
from sipgw.agent.callscope import ScopedAgent
from sipgw.agent.conversation.caller_audio import CallerAudio
from sipgw.agent.conversation.caller_context import CallerContextPrompt, CallerContextSettings
from sipgw.agent.conversation.dialing import ToolCallContext
from sipgw.agent.conversation.handoff import HandOffSettings, with_hand_off
from sipgw.agent.conversation.handover import PreparedLine, hand_over_of
from sipgw.agent.conversation.keypad import Keypad
from sipgw.agent.conversation.opening import call_data, plan_opening
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.observer import status_error_kind
from sipgw.agent.playout import Playout
from sipgw.agent.record import CallRecord
from sipgw.agent.resilience.line_cache import FallbackLineCache
from sipgw.agent.resilience.policy import (
    CallerHeld,
    CallerResumed,
)
from sipgw.agent.resilience.watch import FailureWatch
from sipgw.agent.s2s.actions import S2sActions
from sipgw.agent.s2s.answering import S2sAnswering
from sipgw.agent.s2s.declared_tools import DeclaredTools
from sipgw.agent.s2s.ears import SessionEars
from sipgw.agent.s2s.fillers import S2sFillers
from sipgw.agent.s2s.handoff import S2sHandOff, taken_over_instructions
from sipgw.agent.s2s.hearing import CallerHearing
from sipgw.agent.s2s.idle_watch import S2sIdleWatch
from sipgw.agent.s2s.lines import SessionVoice
from sipgw.agent.s2s.recovery import SessionRecovery
from sipgw.agent.s2s.replies import Speaking
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.s2s.tool_calls import ToolCalls
from sipgw.agent.s2s.voice import ModelVoice
from sipgw.agent.s2s.waiting import ReplyWait
from sipgw.agent.services.s2s.base import (
    CallerSpeechStarted,
    CallerSpeechStopped,
    CallerTranscript,
    CallerTurnOver,
    ReplyAudio,
    ReplyDone,
    ReplyStarted,
    ReplyText,
    S2sConnectError,
    ServiceError,
    SessionConfig,
    SessionFailed,
    SessionInterrupted,
    SessionReconnected,
    SpeechToSpeech,
    ToolCallRequested,
)
from sipgw.agent.tools.registry import ToolRegistry
from sipgw.agent.transfer.warm import WarmTransfer, WarmTransferCall
from sipgw.agent.turns.endpointing import SilenceEndpointer
from sipgw.agent.turns.machine import Cause, TurnTaker
from sipgw.media import g711
from sipgw.media.codecs import PCM16_16K, PCM16_24K, ULAW_8K, AudioFormat
from sipgw.media.codecs.convert import Reformat

__all__ = ["S2sResources", "SpeechToSpeechAgent"]

log = logging.getLogger("sipgw.agent")

SILENCE_FRAME: Final = g711.silence_frame("PCMU")
"""What the session hears of a caller who holds the call (20 ms of μ-law silence; zeros
of its format on an HD-voice call)."""


def session_format(
    sample_rate: int,
    session: SpeechToSpeech,
    handed: AudioFormat | None = None,
    keep_handed: bool = False,
) -> AudioFormat:
    """The audio of a call whose codec carries ``sample_rate`` with ``session``: on an
    HD-voice call (16 kHz or more) 24 kHz linear when the session carries it, the best it
    takes, whatever the agent that handed the call over (``handed``) took; with
    ``keep_handed`` (``SIPGW_S2S_HANDOVER_FORMAT=keep``) the handing agent's format when
    the session carries it (the call's media goes on converting to it); on a narrowband
    call, and with neither, 8 kHz μ-law (the G.711 octets as they are: no cost)."""
    wide = sample_rate >= PCM16_16K.sample_rate and PCM16_24K in session.audio_formats
    if handed is not None and handed in session.audio_formats and (keep_handed or not wide):
        return handed
    return PCM16_24K if wide else ULAW_8K


def _session_in(new_session: Callable[[], SpeechToSpeech], audio: AudioFormat) -> SpeechToSpeech:
    """A new session carrying ``audio`` (the call's, for a session resumed after a failure)."""
    session = new_session()
    if audio != session.audio_format:
        session.use_audio_format(audio)
    return session


SERVICE_COMMITS: Final = 10**9
"""``commit_ms`` when the service decides barge-ins: the local VAD only pauses."""


@dataclass(frozen=True)
class S2sResources:
    """What all calls of one speech-to-speech agent share.

    Attributes:
        settings: the assistant's settings: prompt, greeting, records, barge-in, lines
            (what else applies: docs/speech-to-speech.md); tools see it as ``ctx.settings``.
        tools: the tools the model may call.
        new_session: makes one call's session (not connected yet).
        silence_ms: caller silence that ends a turn, with local turn-taking.
        caller_context: the operator's caller lookup; None = none.
        lines: the fallback lines in the model's voice (agent/s2s/lines.py); None = the
            shipped recordings.
        reply_timeout: seconds from the caller's last speech to an audible reply before
            the reply is given up (the apology: :mod:`sipgw.agent.s2s.waiting`).
        hand_off: the lines its calls may be handed to (:mod:`sipgw.agent.s2s.handoff`);
            None = none.
        preemptive_ms: with local turn-taking, caller silence after which the reply starts
            early, its audio held until the end of turn, dropped if the caller goes on
            (:meth:`SpeechToSpeechAgent.on_caller_audio`); 0 = off.
        keep_handed_format: an HD-voice call handed over keeps the handing agent's format
            when the session carries it (``SIPGW_S2S_HANDOVER_FORMAT=keep``:
            :func:`session_format`); False: it is carried at 24 kHz.
    """

    settings: AssistantSettings
    tools: ToolRegistry
    new_session: Callable[[], SpeechToSpeech]
    silence_ms: int = 500
    caller_context: CallerContextSettings | None = None
    lines: FallbackLineCache | None = None
    reply_timeout: float = 5.0
    hand_off: HandOffSettings | None = None
    preemptive_ms: int = 0
    keep_handed_format: bool = False


class SpeechToSpeechAgent(ScopedAgent):
    """One call's speech-to-speech agent; see the module docstring."""

    scope: SessionScope

    def __init__(self, call: CallControl, resources: S2sResources) -> None:
        self.call = call
        self.resources = resources
        settings = self.settings = resources.settings
        self.loop = asyncio.get_running_loop()
        # Handed over from another line (agent/conversation/handover.py): the call's record goes on.
        handed = self.handed = hand_over_of(call)
        self.took_over = False
        self.handed_away: PreparedLine | None = None
        record = handed.record if handed is not None else None
        if record is None:
            record = CallRecord(settings.record_dir, call.call_id, settings.redactor)
        self.record: CallRecord = record
        session = resources.new_session()
        # The format, decided once (the module docstring): the media converts to and from it.
        audio = self.audio_format = session_format(
            call.details.sample_rate, session, handed.audio if handed is not None else None,
            resources.keep_handed_format,
        )  # fmt: skip
        if audio != session.audio_format:
            session.use_audio_format(audio)
        in_format = partial(_session_in, resources.new_session, audio)  # a failure's next
        scope = self.scope = SessionScope(call.call_id, self.record, self.loop, session)
        opening = self.opening = plan_opening(
            settings, call.direction, call.purpose, time.time(), call.details
        )
        self.playout = Playout(on_ready=call.audio_ready, recall=call.clear_audio, format=audio)
        speaking = Speaking(self.playout)
        barge_in = settings.barge_in
        # The configured detector and, when on, noise suppression (8 kHz μ-law only: on an
        # HD-voice call it cleans the detectors' copy, as the assistant's does).
        noise = barge_in.noise
        self.caller_audio = CallerAudio.of(noise, audio != ULAW_8K)
        self.turns = TurnTaker(
            speaking,
            commit_ms=SERVICE_COMMITS if session.server_turns else barge_in.commit_ms,
            min_words=barge_in.min_words,
            vad=barge_in.vad,
            detector=self.caller_audio.detector(
                barge_in.vad, lambda: speaking.audible, lambda: speaking.pending
            ),
        )
        self.listen_to_talk(self.turns)
        self.endpointer = None
        if not session.server_turns:
            self.endpointer = SilenceEndpointer(resources.silence_ms, resources.preemptive_ms)
        self.watch = watch = FailureWatch(
            scope, settings.failure_policy, resources.lines,
            transfer_available=settings.builtin_tools.transfer_target is not None,
        )  # fmt: skip
        self.actions = actions = S2sActions(scope, call, settings, speaking, watch)
        watch.bind(actions)
        if settings.transfer.mode == "warm" and isinstance(call, WarmTransferCall):
            # The consultation call in the model's voice: the brief spoken by a session of
            # the same service, the person's answer heard by another (agent/s2s/ears.py).
            new_session = resources.new_session
            actions.warm = WarmTransfer(scope, call, settings.transfer, self.playout,
                                        actions.tell_model, partial(SessionVoice, new_session),
                                        partial(SessionEars, new_session, resources.silence_ms),
                                        settings.answering.detector)  # fmt: skip
        self.wait = wait = ReplyWait(scope, watch, resources.reply_timeout)
        # Answering-machine detection on a call placed with it (a call handed over was
        # answered long ago): no greeting at connect; the model speaks once it is decided.
        request = call.amd if isinstance(call, AmdCall) and handed is None else None
        if request is not None and request.mode is AmdMode.OFF:
            request = None
        greets = bool(opening.greeting) and handed is None and request is None
        self.voice = voice = ModelVoice(
            scope, speaking, self.turns, actions, wait, settings.redactor, greets=greets
        )
        context = ToolCallContext(settings)
        context.bind(actions)
        self.hand_off: S2sHandOff | None = None
        self.tools = resources.tools
        if resources.hand_off is not None:
            made = handed.hand_offs if handed is not None else 0
            self.hand_off = S2sHandOff(scope, call, resources.hand_off, speaking,
                                       lambda: self.recovery.history, self._hand_away,
                                       settings.action_line_timeout, made)  # fmt: skip
            self.tools = with_hand_off(resources.tools, self.hand_off.tool())
        self.fillers = S2sFillers(scope, settings.filler_after, settings.filler_lines, speaking)
        self.tool_calls = ToolCalls(scope, self.tools, context, speaking, settings.redactor, wait,
                                    voice.spans, self.fillers)  # fmt: skip
        self.declared = DeclaredTools(scope, self.tools)
        self.recovery = SessionRecovery(scope, in_format, voice, watch, wait,
                                        self.declared,
                                        opening.system_prompt)  # fmt: skip
        wait.bind(self.recovery.no_reply)
        self.answering: S2sAnswering | None = None
        if request is not None:
            self.answering = S2sAnswering(scope, request, settings.answering, opening.greeting,
                                          voice, actions, call.details.variables)  # fmt: skip
            context.bind(actions, self.answering)  # the ``who_answered`` tool reads it
        self._instructions = [{"role": "system", "content": opening.system_prompt}]
        self.caller_context = CallerContextPrompt(
            resources.caller_context, self._instructions, scope.write
        )
        self.keypad = Keypad(scope, settings.dtmf_timeout, actions.caller_keyed)
        self.idle = S2sIdleWatch(scope, settings.idle, speaking, actions, self.tool_calls, wait,
                                 settings.action_line_timeout)  # fmt: skip
        self.hearing = CallerHearing(
            scope, self.caller_audio, Reformat(audio, ULAW_8K) if audio != ULAW_8K else None,
            SILENCE_FRAME if audio == ULAW_8K else bytes(audio.frame_bytes), self.turns,
            self.endpointer, self.playout, call.audio_ready, self.answering, voice=voice,
            actions=actions, wait=wait, watch=watch, idle=self.idle, declared=self.declared,
        )  # fmt: skip
        """The caller's audio to the session, and local turn-taking (agent/s2s/hearing.py)."""

    @property
    def held(self) -> bool:
        """The caller holds the call (re-INVITE a=sendonly or inactive): see :meth:`on_hold`."""
        return self.hearing.held

    @property
    def session(self) -> SpeechToSpeech:
        """The session the call talks to now."""
        return self.scope.session

    # ------------------------------------------------------------------ lifecycle

    async def prepare(self) -> None:
        """Open and configure the session while the phone rings (its greeting is queued)."""
        call, scope = self.call, self.scope
        session = scope.session
        if self.handed is None:
            self.open_record(self.opening.missing, call_data(call.details), agent=session.name)
        # Only a proven number: a From can be anyone's (docs/security.md, caller identity).
        self.caller_context.start(
            call.verified_caller, call.details.called_number, scope.log_id, call.details
        )
        scope.spawn(self._apply_caller_context())
        opening = self.opening
        tools = self.declared.refreshed()
        # it speaks at take_over; with detection, once the callee is known
        greeting = opening.greeting if self.handed is None and self.answering is None else ""
        try:
            await session.connect(SessionConfig(opening.system_prompt, greeting, tools))
        except S2sConnectError as exc:
            kind = status_error_kind(exc.status, connecting=True)
            scope.observer.service_error("s2s", kind, exc.status)
            scope.write({"type": "error", "where": "s2s", "error": str(exc)})
            log.error("[%s] %s: %s", scope.log_id, session.name, exc)
            raise
        scope.observer.service_ok("s2s")
        scope.spawn(self._listen(session))
        if greeting:
            # Ring a little longer rather than answer into silence.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.answer_wait):
                    await self.voice.first_audio.wait()

    def on_answered(self) -> None:
        """Release the greeting's audio; on a call we placed with no fixed opening, speak first."""
        self.release_playout()
        self.idle.start(self.loop.time())
        if self.answering is not None:
            self.answering.answered()
            return
        if self.opening.llm_writes:
            self.scope.session.request_reply()

    def take_over(self, messages: Sequence[dict[str, Any]], meanwhile: Sequence[str] = ()) -> None:
        """The call handed over is this agent's now
        (:class:`sipgw.agent.conversation.handover.TakesOver`):
        the session is told the conversation so far and the hand-over's note, and speaks."""
        handed = self.handed
        assert handed is not None, "only an agent built for a hand-over takes a call over"
        self.took_over = True
        scope = self.scope
        scope.answered_at = handed.answered_at
        scope.talk.answered(scope.now())  # the talk figures count this agent's part
        kept = handed.kept(messages)
        self.recovery.history[:0] = [
            f"{'Caller' if m['role'] == 'user' else 'You'}: {m['content']}"
            for m in kept
            if m.get("role") in ("user", "assistant") and m.get("content")
        ]  # a session resumed after a failure is told them too
        instructions = taken_over_instructions(
            self._instructions[0]["content"], handed, messages, handed.note(meanwhile)
        )
        self.recovery.instructions = instructions
        scope.session.update_instructions(instructions)
        self.playout.held = False
        scope.session.request_reply()

    def _hand_away(self, prepared: PreparedLine | None) -> None:
        """The call goes to another line's agent now (the gateway closes this one next)."""
        self.handed_away = prepared

    async def close(self, reason: str = "") -> None:
        """The call ended: stop everything, end the session, finish the record."""
        scope = self.scope
        if scope.closed:
            return
        scope.closed = True
        talk = scope.talk.figures(scope.now(), self.turns.last_loud_at)  # as it ended
        self.actions.close(reason)
        self.fillers.close()
        self.keypad.close()
        self.watch.close()
        self.wait.close()
        self.caller_context.cancel()
        if self.answering is not None:
            self.answering.close()
        await scope.cancel_tasks()
        self.voice.drop_all()
        self.caller_audio.close()
        session = scope.session
        await session.close()
        if self.handed_away is not None or (self.handed is not None and not self.took_over):
            return  # the record is the other agent's (a hand-off: agent/conversation/handover.py)
        self.record_talk(talk)
        stats = session.stats
        scope.write(
            {"type": "end", "reason": reason, "turns": self.voice.replies,
             "s2s": {"audio_in_s": round(stats.audio_in_seconds, 2),
                     "audio_out_s": round(stats.audio_out_seconds, 2),
                     "audio_dropped_s": round(stats.audio_dropped_seconds, 2),
                     "reconnects": stats.reconnects, "errors": dict(stats.errors)},
             **({"hung_up_for": "idle"} if self.idle.hung_up else {})}
        )  # fmt: skip
        self.record.close()

    async def say_goodbye(self, text: str) -> None:
        """Have the model say ``text`` (cutting off what it says); return once it was heard."""
        if self.scope.closed:
            return
        self.voice.cut(Cause.NOTICE)
        await self.actions.say_goodbye(text)

    # ------------------------------------------------------------------ the gateway's calls

    def on_caller_frame(self, frame: bytes | None) -> None:
        """Unused: the agent listens at arrival (:meth:`on_caller_audio`)."""

    def on_caller_audio(self, frame: bytes) -> None:
        """At arrival, in order: through noise suppression if it is on, the voice detector
        (barge-in, local turns), then to the session; while the caller holds the call, or is
        held for a warm transfer, silence goes to the session instead (their hold music is not
        speech, and what they say to the music is no turn). With the model detector's steps
        batched across calls, a frame that completes a model chunk, and the frames after it
        until the batch has run, wait for the run (within the loop's wake-up, before the next
        tick)."""
        if self.scope.closed:
            return  # the suppressor's state is freed
        self.hearing.arrive(frame, self.loop.time())

    def next_frame(self) -> bytes | None:
        """The agent's next frame from the playout queue (None = silence); the idle policy
        looks at the call."""
        now = self.loop.time()
        frame = self.playout.next_frame(now)
        self.caller_audio.sent(frame)  # the echo guard's reference
        self.idle.tick(now, held=self.held)
        return frame

    def on_hold(self, held: bool) -> None:
        """The caller put the call on hold, or resumed it.

        While held, what comes from their side (hold music) goes to the session as
        silence, and nothing is sent to them (the gateway stops asking for frames: the
        model's audio waits in the playout). The clocks that would act on what they cannot
        hear stop, and go on from where they were on resume: the idle policy's silence,
        the keypad's wait for more digits, the reply timeout and the failure policy's
        deadlines ("one moment" and its reminders), the wait of a transfer or hang-up for
        its line (``action_line_timeout``) and a slow tool's filler line.
        """
        if held == self.hearing.held:
            return
        self.hearing.held = held
        self.scope.write({"type": "hold", "held": held, "by": "caller"})
        self.idle.hold(held, self.loop.time())
        self.keypad.hold(held)
        self.wait.hold(held)
        self.actions.hold(held)
        self.fillers.hold(held)
        if self.hand_off is not None:
            self.hand_off.hold(held)
        self.watch.report_and_carry_out(CallerHeld() if held else CallerResumed())

    def on_dtmf(self, digit: str) -> None:
        """Keypad digits go to the model as text after a pause or ``#``."""
        now = self.loop.time()
        self.idle.caller_active(now)
        actions = self.turns.receive_dtmf(now)
        if actions:
            self.voice.carry_out(actions)
        self.keypad.press(digit)

    def on_transfer_failed(self, status: int, reason: str) -> None:
        """The target did not answer the transfer: tell the model, stay on the line."""
        self.actions.on_transfer_failed(status, reason)

    # ------------------------------------------------------------------ the session's events

    async def _listen(self, session: SpeechToSpeech) -> None:
        voice, recovery = self.voice, self.recovery
        async for event in session.events():
            if isinstance(event, ReplyAudio):
                voice.audio(event)
            elif isinstance(event, ReplyText):
                voice.text(event)
            elif isinstance(event, ReplyStarted):
                voice.started(event.reply_id, event.received_at, filler=event.filler)
            elif isinstance(event, ReplyDone):
                reply = voice.done(event)
                if reply is not None:
                    recovery.reply_ended(reply, event)
            elif isinstance(event, CallerSpeechStarted):
                self.declared.refresh()  # before the turn's reply is made
                self.idle.caller_active(event.received_at)
                voice.caller_started()
            elif isinstance(event, CallerSpeechStopped):
                voice.caller_stopped(event.received_at)
            elif isinstance(event, CallerTurnOver):
                self.hearing.server_turn_ended()
            elif isinstance(event, ToolCallRequested):
                self.tool_calls.requested(event)
            elif isinstance(event, CallerTranscript):
                recovery.caller_said(event.text)
                if self.answering is not None:
                    self.answering.on_transcript(event.text, self.loop.time())
            elif isinstance(event, ServiceError):
                recovery.service_reported(event)
            elif isinstance(event, SessionInterrupted):
                recovery.interrupted(event)
            elif isinstance(event, SessionReconnected):
                recovery.resumed(event)
            elif isinstance(event, SessionFailed):
                await recovery.failed(event, self._listen)
                return

    async def _apply_caller_context(self) -> None:
        """The caller lookup answered: the session's instructions say what it found."""
        before = self._instructions[0]["content"]
        await self.caller_context.add()
        instructions = self._instructions[0]["content"]
        if instructions != before and not self.scope.closed:
            self.recovery.instructions = instructions
            self.scope.session.update_instructions(instructions)
