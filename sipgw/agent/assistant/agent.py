"""The AI phone agent: streaming STT → chat LLM with tools → streaming TTS, with barge-in.

The services are behind the contracts of ``agent/services/stt/base.py``,
``agent/services/tts/base.py`` and ``agent/services/llm/base.py``; which vendors answer is the
app layer's choice, passed in :class:`AssistantResources` (AssemblyAI,
OpenAI and ElevenLabs today). :class:`AssistantAgent` is a thin orchestrator:
it builds one call's parts, feeds them the gateway's calls, and carries out
what the turn-taking machine decides.

Theory of operation
-------------------
*While it rings* (:meth:`AssistantAgent.prepare`) the STT session and the TTS
connection are opened (:mod:`sipgw.agent.assistant.connecting`) and the call's opening is prepared
(:class:`sipgw.agent.assistant.greeting.Greeter`: the greeting synthesized into the held
playout; on a call the gateway placed, a callback greeting or an opening line
the LLM writes once the call is answered). The caller context lookup starts
(:class:`sipgw.agent.conversation.caller_context.CallerContextPrompt`).

*As the caller's audio arrives* (:meth:`AssistantAgent.on_caller_audio`: each
20 ms frame in order, from the media layer's reorder stage, not on the ticker;
:class:`sipgw.agent.assistant.hearing.Hearing`) the frame goes through noise
suppression when it is on (:mod:`sipgw.agent.conversation.caller_audio`), the turn-taking
machine (:mod:`sipgw.agent.turns.machine`, its voice detector: energy or Silero's, the same
module's choice) and then (μ-law) to the STT client, which batches and paces it
(:mod:`sipgw.agent.services.stt.uplink`). *Every 20 ms* the ticker takes the agent's next
frame from the playout queue (:meth:`AssistantAgent.next_frame`).

*What the machine decides* (:class:`sipgw.agent.assistant.decisions.Decisions`) goes to the
part that does it: a finished turn to :class:`sipgw.agent.assistant.responder.Responder` (the
LLM reply: tool loop, filler lines during slow tools, adopted preemptive
request, turn metrics); a preemptive start or drop to
:class:`sipgw.agent.assistant.preemptive.PreemptiveReplies`; a pause, resume or barge-in to the
playout and :class:`sipgw.agent.assistant.speaker.Speaker` (which says every reply and keeps
only what the caller heard of a cut one); STT chunk sizes to the STT client.

*Call control*: the tools' transfers, hang-ups and keyed digits, each
transfer and hang-up only after its line was heard (speak before acting), are
:class:`sipgw.agent.assistant.call_actions.CallActions`; keypad input to the LLM is
:class:`sipgw.agent.conversation.keypad.Keypad`; what happens when a service fails is
:class:`sipgw.agent.assistant.failures.ServiceFailures`.

*When a service fails* :class:`sipgw.agent.assistant.failures.ServiceFailures` reports it and
feeds the call's failure policy (:mod:`sipgw.agent.resilience`), whose decisions
(a fallback line from memory, a transfer or goodbye) the call actions carry
out; the caller's turns and voice activity go to it too, so a caller left
waiting hears "one moment".

*A phone menu* (a placed call with a goal, ``call.ivr_goal``) is
:class:`sipgw.agent.assistant.navigating.Navigation`: from the answer it takes the callee's
turns and keys the menu's digits, the opening held, until the goal is reached (then the
opening plays) or the menu leads nowhere (then it hangs up); such a call runs no
answering-machine detection (docs/ivr.md).

Speculative speech (the preemptive reply's first clause synthesized before
the turn is confirmed, :mod:`sipgw.agent.assistant.speculative`) is in ``PreemptiveReplies``
and ``Speaker.begin``. Where new behaviour goes: answering-machine detection
in ``Greeter.answered`` (the opening waits for the decision); hold in the
playout (``held``) and the parts' timers (fillers, keypad, action lines);
per-call variables in :func:`sipgw.agent.conversation.opening.plan_opening`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sipgw.agent.amd.settings import AmdCall, AmdMode
from sipgw.agent.assistant.answering import Answering
from sipgw.agent.assistant.call_actions import CallActions
from sipgw.agent.assistant.connecting import connect_stt, connect_to_take_over, tts_connected
from sipgw.agent.assistant.conversation import Conversation, ConversationSettings
from sipgw.agent.assistant.decisions import Decisions
from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.assistant.fillers import Fillers
from sipgw.agent.assistant.greeting import Greeter
from sipgw.agent.assistant.handoff_call import CallHandOff
from sipgw.agent.assistant.hearing import SILENCE_FRAME as SILENCE_FRAME
from sipgw.agent.assistant.hearing import Hearing
from sipgw.agent.assistant.idle_watch import IdleWatch
from sipgw.agent.assistant.navigating import Navigation
from sipgw.agent.assistant.preemptive import PreemptiveReplies, SpeechHold
from sipgw.agent.assistant.reply import SpeakingState
from sipgw.agent.assistant.responder import Responder
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.assistant.speculative import SpeculationBudget, WasteLedger
from sipgw.agent.assistant.turn_metrics import TurnMetrics
from sipgw.agent.base import CallControl
from sipgw.agent.callscope import CallScope, ScopedAgent
from sipgw.agent.capabilities import AgentCapabilities
from sipgw.agent.conversation.caller_audio import CallerAudio, with_voice_model
from sipgw.agent.conversation.caller_context import CallerContextPrompt, CallerContextSettings
from sipgw.agent.conversation.dialing import ToolCallContext
from sipgw.agent.conversation.handoff import HandOffSettings, with_hand_off
from sipgw.agent.conversation.handover import PreparedLine, hand_over_of
from sipgw.agent.conversation.keypad import Keypad
from sipgw.agent.conversation.opening import call_data, plan_opening
from sipgw.agent.conversation.prompted import PromptedFactory
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.factory import WarmUp, with_llm_ready
from sipgw.agent.ivr.goal import IvrCall
from sipgw.agent.observer import Service
from sipgw.agent.playout import Playout
from sipgw.agent.record import CallRecord
from sipgw.agent.resilience.line_cache import FallbackLineCache, prepare_lines
from sipgw.agent.resilience.watch import FailureWatch
from sipgw.agent.services.llm.base import ChatLLM
from sipgw.agent.services.stt.base import GIVE_UP_GRACE, SpeechToText
from sipgw.agent.services.tts.base import TextToSpeech
from sipgw.agent.tools.registry import ToolRegistry, with_tools
from sipgw.agent.transfer.warm import WarmTransfer, WarmTransferCall
from sipgw.agent.turns.early_end import early_turn_end
from sipgw.agent.turns.machine import TurnAction, TurnTaker
from sipgw.agent.turns.text import AfterAgent
from sipgw.media.codecs.base import PCM16_16K, ULAW_8K

__all__ = ["AssistantAgent", "AssistantFactory", "AssistantResources", "assistant_factory_of"]

log = logging.getLogger("sipgw.agent")


@dataclass(frozen=True)
class AssistantResources:
    """What all assistant calls share.

    Attributes:
        settings: the assistant's settings.
        llm: the chat model client (one for all calls).
        tools: the tools the model may call.
        new_stt: makes one call's speech-to-text session (not connected yet).
        new_tts: makes one call's text-to-speech client (not connected yet).
        caller_context: the operator's caller-context hook
            (:mod:`sipgw.agent.conversation.caller_context`); None = none.
        lines: the fallback lines in the agent's voice, synthesized at start-up
            (:mod:`sipgw.agent.resilience.line_cache`); None = the shipped recordings.
        waste: the speculative speech counts of all the calls, their waste share's
            bound (:class:`sipgw.agent.assistant.speculative.WasteLedger`).
        hand_off: the lines its calls may be handed to (:mod:`sipgw.agent.conversation.handoff`);
            None = none.
        new_wideband_stt: makes one HD-voice call's speech-to-text session, which takes
            the caller's 16 kHz s16le audio (docs/hd-voice.md); None = the vendor has none
            (such calls are heard at 8 kHz).
        new_wideband_tts: makes one HD-voice call's text-to-speech client, whose replies
            speak 16 kHz s16le (ElevenLabs ``pcm_16000``); None = the vendor has none (such
            calls hear an 8 kHz voice, upsampled by the media).
        stt_settings: what its speech-to-text sessions are made from (the vendor and its
            settings, comparable): a call handed between two lines whose settings are equal
            keeps its session (:mod:`sipgw.agent.conversation.handover`); None = never kept.
    """

    settings: AssistantSettings
    llm: ChatLLM
    tools: ToolRegistry
    new_stt: Callable[[], SpeechToText]
    new_tts: Callable[[], TextToSpeech]
    caller_context: CallerContextSettings | None = None
    lines: FallbackLineCache | None = None
    waste: WasteLedger = field(default_factory=WasteLedger)
    hand_off: HandOffSettings | None = None
    new_wideband_stt: Callable[[], SpeechToText] | None = None
    new_wideband_tts: Callable[[], TextToSpeech] | None = None
    stt_settings: object = None


class AssistantFactory(PromptedFactory):
    """Builds each call's :class:`AssistantAgent` from what all calls share; it can say,
    before a call is placed, which ``{name}`` variables its prompt and greeting would lack
    (:class:`sipgw.agent.variables.VariablesCheck`), and tells the gateway the services its calls
    use and what to prepare at start (the fallback lines in the TTS voice, when
    ``resources.lines`` is given, and, at the same time, the chat model's client; the model
    voice detector's model, when it is the detector: :class:`sipgw.agent.factory.UsesServices`)."""

    resources: AssistantResources
    services: frozenset[Service] = frozenset({"stt", "llm", "tts"})
    capabilities: AgentCapabilities = AgentCapabilities(
        callbacks=True,
        transfers=frozenset({"blind", "warm"}),
        keypad=True,
        ivr=True,
        arrival_audio=True,
        audio=frozenset({ULAW_8K, PCM16_16K}),
    )
    """What its agents do (:class:`sipgw.agent.capabilities.DeclaresCapabilities`): they act on
    ``call.amd``, store callbacks, transfer both ways, take the keypad and hear the caller's
    audio as it arrives (speech recognition, barge-in); the plug-in adds its routes-file
    keys (:data:`sipgw.agent.assistant.plugin.CAPABILITIES`)."""

    def __init__(
        self, resources: AssistantResources, vendors: Mapping[Service, str] | None = None
    ) -> None:
        self.resources = resources
        self.vendors: Mapping[Service, str] = dict(vendors or {})
        """The vendor behind each service (``{"stt": "assemblyai", ...}``): each has its
        own breaker (:func:`sipgw.agent.factory.vendors_of`)."""
        lines, texts = resources.lines, resources.settings.fallback_texts()
        self.warm_up: WarmUp | None = None
        if lines is not None:
            self.warm_up = partial(prepare_lines, lines, texts, resources.new_tts)
        self.warm_up = with_llm_ready(with_tools(self.warm_up, resources.tools), resources.llm)
        self.warm_up = with_voice_model(self.warm_up, resources.settings.barge_in.noise)

    def __call__(self, call: CallControl) -> AssistantAgent:
        return AssistantAgent(call, self.resources)

    def with_hand_off(self, hand_off: HandOffSettings) -> AssistantFactory:
        """The same agents, whose calls may be handed to other lines
        (:mod:`sipgw.agent.conversation.handoff`)."""
        return AssistantFactory(
            dataclasses.replace(self.resources, hand_off=hand_off), self.vendors
        )


class AssistantAgent(ScopedAgent):
    """One call's AI agent; see the module docstring."""

    def __init__(self, call: CallControl, resources: AssistantResources) -> None:
        self.call = call
        self.resources = resources
        settings = self.settings = resources.settings
        self.loop = asyncio.get_running_loop()
        # A call handed over from another line's agent (agent/conversation/handover.py) continues
        # its record, and keeps its speech-to-text session when the lines' settings agree.
        handed = self.handed = hand_over_of(call)
        self.took_over = False
        """A handed-over agent: it took the call over (else its record, and the session it
        kept, are still the other agent's)."""
        self.handed_away: PreparedLine | None = None
        """The line this agent handed the call to (its record and kept session went along)."""
        record = handed.record if handed is not None else None
        if record is None:
            record = CallRecord(settings.record_dir, call.call_id, settings.redactor)
        self.record: CallRecord = record
        scope = self.scope = CallScope(call.call_id, self.record, self.loop)
        # An HD-voice call (its codec carries 16 kHz or more) hears the caller at 16 kHz
        # (speech-to-text gets it as it comes) and speaks at 16 kHz (the TTS asked for it),
        # where the vendors offer it; the turn-taking and answering-machine detectors stay
        # 8 kHz μ-law. The media converts to and from the codec (docs/hd-voice.md).
        hd = call.details.sample_rate >= PCM16_16K.sample_rate
        wideband = resources.new_wideband_stt if hd else None
        wide = wideband is not None
        voice = resources.new_wideband_tts if hd else None
        self.audio_format = PCM16_16K if voice is not None else ULAW_8K
        heard = PCM16_16K if wide else ULAW_8K
        self.caller_format = heard if heard != self.audio_format else None
        kept_stt = handed.stt if handed is not None else None
        self.stt = kept_stt if kept_stt is not None else (wideband or resources.new_stt)()
        # Outages are retried as long as the failure policy keeps the caller on the line.
        self.stt.set_reconnect_window(settings.failure_policy.stt_give_up_after + GIVE_UP_GRACE)
        self.tts: TextToSpeech = (voice or resources.new_tts)()
        opening = plan_opening(settings, call.direction, call.purpose, time.time(), call.details)
        self.opening = opening
        tools_view = ToolCallContext(settings)
        self.conversation = conversation = Conversation(
            resources.llm,
            resources.tools,
            tools_view,
            ConversationSettings(
                system_prompt=opening.system_prompt,
                max_tool_rounds=settings.max_tool_rounds,
                fallback_phrase=settings.fallback_phrase,
            ),
            on_record=self.record.write,
        )
        recall = None if call.leg == "sip" else call.clear_audio  # SIP: a frame sent is heard
        self.playout = Playout(on_ready=call.audio_ready, recall=recall, format=self.audio_format)
        state = SpeakingState(self.playout)
        barge_in = settings.barge_in
        batched = barge_in.noise.detector == "model"
        self.caller_audio = CallerAudio.of(barge_in.noise, self.audio_format != ULAW_8K)
        self.turns = TurnTaker(
            state,
            commit_ms=barge_in.commit_ms,
            min_words=barge_in.min_words,
            vad=barge_in.vad,
            preemptive_pause_ms=settings.preemptive_pause_ms,
            speech_partials=settings.preemptive_during_speech,
            detector=self.caller_audio.detector(
                barge_in.vad, state.over_caller, lambda: state.pending
            ),
            early_end=early_turn_end(
                settings.early_end.mode, settings.early_end.silence_ms, self.stt.turn_check_silence
            ),
            room_gate=batched,  # the model detector tells the caller from the room
            duck_after_ms=barge_in.duck_after_ms,
            words=AfterAgent(state.last_said),
        )
        self.listen_to_talk(self.turns)
        watch = FailureWatch(
            scope, settings.failure_policy, resources.lines,
            transfer_available=settings.builtin_tools.transfer_target is not None,
        )  # fmt: skip
        self.failures = failures = ServiceFailures(scope, watch)
        fillers = self.fillers = Fillers(scope, settings.filler_after, settings.filler_lines,
                                         state, self.tts)  # fmt: skip
        budget = SpeculationBudget(
            settings.speculation,
            resources.waste,
            on_spoken=lambda chars: scope.observer.tts_spoken(chars),
        )
        self.speaker = speaker = Speaker(scope, state, self.turns, self.tts, conversation,
                                         fillers, failures, settings.redactor, budget)  # fmt: skip
        history = conversation.messages
        self.caller_context = CallerContextPrompt(resources.caller_context, history, scope.write)
        hold = SpeechHold(self.tts, budget, speaker.tts_lead, self.stt)
        self.preemptive = PreemptiveReplies(
            scope, conversation, self.caller_context, budget,
            hold if settings.speculative_speech else None,
        )  # fmt: skip
        metrics = TurnMetrics(scope, self.playout)
        self.responder = responder = Responder(
            scope, speaker, conversation, self.caller_context, self.preemptive, fillers, metrics,
            failures, settings.redactor,
        )  # fmt: skip
        self.hand_off: CallHandOff | None = None
        if resources.hand_off is not None:
            made = handed.hand_offs if handed is not None else 0
            self.hand_off = CallHandOff(scope, call, resources.hand_off, speaker, conversation,
                                        self.stt, self._hand_away, made)  # fmt: skip
            conversation.tools = with_hand_off(resources.tools, self.hand_off.tool())
        self._listener: asyncio.Task[None] | None = None
        """The task that listens to speech-to-text (:meth:`Decisions.listen`)."""
        self.warm: WarmTransfer | None = None
        if settings.transfer.mode == "warm" and isinstance(call, WarmTransferCall):
            self.warm = WarmTransfer(scope, call, settings.transfer, self.playout,
                                     responder.reply_to_note, resources.new_tts,
                                     resources.new_stt, settings.answering.detector)  # fmt: skip
        self.actions = CallActions(scope, call, settings, speaker, responder, fillers, failures,
                                   self.warm)  # fmt: skip
        failures.bind(self.actions)
        self.greeter = Greeter(scope, opening, speaker, responder, history, metrics, failures,
                               settings.answer_wait)  # fmt: skip
        self.keypad = Keypad(scope, settings.dtmf_timeout, responder.reply_to_keypad)
        self.answering: Answering | None = None
        # A call with a goal behind a phone menu: the navigation decides who answered
        # (a menu, a voicemail, the goal) and when the conversation starts, instead of
        # answering-machine detection (docs/ivr.md). A call handed over was answered long
        # ago: who answered it was decided then.
        goal = call.ivr_goal if isinstance(call, IvrCall) and handed is None else ""
        self.navigation: Navigation | None = None
        if goal:
            self.navigation = Navigation(scope, goal, resources.llm, self.greeter, speaker,
                                         self.actions, history, self._navigated)  # fmt: skip
        request = call.amd if isinstance(call, AmdCall) and not goal and handed is None else None
        if request is not None and request.mode is not AmdMode.OFF:
            self.answering = Answering(scope, request, settings.answering, self.greeter, speaker,
                                       responder, self.actions, history,
                                       call.details.variables)  # fmt: skip
        tools_view.bind(self.actions, self.answering)
        self.idle = IdleWatch(scope, settings.idle, speaker, responder, self.actions,
                              settings.action_line_timeout)  # fmt: skip
        self.decisions = Decisions(scope, self.stt, self.turns, self.playout, speaker, responder,
                                   self.preemptive, failures, barge_in.duck_db, self.answering,
                                   self.navigation, self.warm, self.hand_off)  # fmt: skip
        hear = Hearing(wide, self.caller_audio, self.turns, self.stt, failures, self.idle,
                       self.answering, self.decisions.carry_out, self.loop.time)  # fmt: skip
        self.hearing = hear
        self.on_caller_audio = hear.receive  # type: ignore[method-assign]  # compiled, the same

    @property
    def held(self) -> bool:
        """The caller holds the call (re-INVITE a=sendonly or inactive): see :meth:`on_hold`."""
        return self.decisions.held

    # ------------------------------------------------------------------ lifecycle

    async def prepare(self) -> None:
        """Open STT and TTS and prepare the opening while the phone rings.

        Nothing plays before :meth:`on_answered`: the playout stays held, and an
        opening the LLM writes (outbound calls, see :mod:`sipgw.agent.conversation.opening`) only
        starts there. A service that cannot be reached rejects the call.
        """
        call, scope = self.call, self.scope
        if self.handed is None:
            self.open_record(self.opening.missing, call_data(call.details))
        # Only a proven number: a From can be anyone's (docs/security.md, caller identity).
        self.caller_context.start(
            call.verified_caller, call.details.called_number, scope.log_id, call.details
        )
        if self.handed is not None:
            await connect_to_take_over(self.stt, self.tts, self.failures, self.handed.stt is None)
            return
        wait = self.settings.answer_wait
        deadline = scope.now() + wait
        tts_connect = asyncio.ensure_future(self.tts.connect())
        await connect_stt(self.stt, tts_connect, self.failures)
        done, _ = await asyncio.wait({tts_connect}, timeout=max(0.0, deadline - scope.now()))
        if done:
            tts_connected(tts_connect, self.failures)
        self._listener = scope.spawn(self.decisions.listen())
        if done:
            await self.greeter.greet_before_answer(deadline)
            return
        log.warning(
            "[%s] TTS not connected after %g s: answering without the greeting's audio "
            "(it plays once TTS is ready)", scope.log_id, wait,
        )  # fmt: skip
        scope.spawn(self.greeter.greet_once_connected(tts_connect))

    def take_over(self, messages: Sequence[dict[str, Any]], meanwhile: Sequence[str] = ()) -> None:
        """The call handed over is this agent's now (it ``TakesOver``): its
        conversation starts from ``messages`` as its line keeps them, it listens, and its
        model replies at once to the hand-over's note."""
        handed = self.handed
        assert handed is not None, "only an agent built for a hand-over takes a call over"
        self.took_over = True
        scope = self.scope
        scope.answered_at = handed.answered_at
        scope.talk.answered(scope.now())  # the talk figures count this agent's part
        self.conversation.messages[1:] = handed.kept(messages)  # after its own prompt
        self._listener = scope.spawn(self.decisions.listen())
        self.idle.start(self.loop.time())
        self.playout.held = False
        self.responder.reply_to_note(handed.note(meanwhile))

    def _hand_away(self, prepared: PreparedLine | None) -> None:
        """The call goes to another line's agent now: stop listening (that agent reads the
        session if it keeps it); the gateway closes this agent next. None: the call ended
        before the switch (this agent closes what it has)."""
        self.handed_away = prepared
        if prepared is not None and self._listener is not None:
            self._listener.cancel()

    def on_answered(self) -> None:
        """Release the (pre-synthesized) greeting: its first frame goes out at once.

        With answering-machine detection the opening waits for its decision instead
        (:class:`sipgw.agent.assistant.answering.Answering`), and with a goal behind a phone
        menu, for the menu's end (:class:`sipgw.agent.assistant.navigating.Navigation`)."""
        if self.navigation is not None:
            self.scope.answered()
            self.navigation.answered()
            return
        if self.answering is not None:
            self.scope.answered()
            self.answering.answered()
            self.idle.start(self.loop.time())
            return
        self.idle.start(self.loop.time())
        self.release_playout()
        self.greeter.answered()

    def _navigated(self) -> None:
        """The phone menu led to the goal: the conversation starts (the idle watch with it)."""
        self.idle.start(self.loop.time())

    async def say_goodbye(self, text: str) -> None:
        """Speak ``text`` (cutting off whatever is being said); return once it has played out
        (or was cut off, or the call ended)."""
        await self.actions.say_goodbye(text)

    async def close(self, reason: str = "") -> None:
        """The call ended: stop everything, close the sockets, finish the record."""
        scope = self.scope
        if scope.closed:
            return
        scope.closed = True
        talk = scope.talk.figures(scope.now(), self.turns.last_loud_at)  # as it ended
        if self.warm is not None:
            self.warm.close(reason)  # a consultation call ends with the caller's
        self.actions.close()
        self.keypad.close()
        self.failures.close()
        if self.answering is not None:
            self.answering.close()
        if self.navigation is not None:
            self.navigation.close()
        # The drop task PreemptiveReplies.drop spawns is cancelled below before it runs, as
        # is a reply task that had not started yet: stop those requests here, or their
        # streams run on after the call.
        current = self.speaker.current
        requests = [self.preemptive.request, current.preemptive if current is not None else None]
        self.preemptive.drop("call ended")
        await scope.cancel_tasks()
        for request in requests:
            if request is not None:
                await request.drop()
        self.playout.clear()
        self.caller_context.cancel()
        self.caller_audio.close()
        self.hearing.clear()  # frames still waiting for the model's batch: no one listens
        # After a hand-off (either side of one) the record, and a kept session, are the
        # other agent's: this one closes neither.
        away, handed = self.handed_away, self.handed
        not_taken = handed is not None and not self.took_over
        shared = away is not None or not_taken
        stt_elsewhere = (away is not None and away.hand_over.stt is not None) or (
            not_taken and handed is not None and handed.stt is not None
        )
        closing = [self.tts.close()] if stt_elsewhere else [self.stt.close(), self.tts.close()]
        await asyncio.gather(*closing, return_exceptions=True)
        if shared:
            return
        self.record_talk(talk)
        scope.write({"type": "end", "reason": reason, "turns": self.speaker.turn,
                     "stt_reconnects": self.stt.stats.reconnects,
                     "speculation": self.preemptive.budget.summary(),
                     **({"hung_up_for": "idle"} if self.idle.hung_up else {})})  # fmt: skip
        self.record.close()

    # ------------------------------------------------------------------ the gateway's calls

    def on_caller_frame(self, frame: bytes | None) -> None:
        """Unused: the assistant listens at arrival (:meth:`on_caller_audio`)."""

    def on_caller_audio(self, frame: bytes) -> None:
        """At arrival, in order: through noise suppression if it is on, answering-machine
        detection if it runs, the turn-taking machine, then to STT (silence while the
        caller holds). A frame that completes a model chunk, and those after it until the
        batched run, wait for the run (within the loop's wake-up, before the next tick).
        ``__init__`` shadows this with the compiled ``Hearing.receive``, which does it."""
        self.hearing.receive(frame)

    def on_hold(self, held: bool) -> None:
        """The caller put the call on hold, or resumed it.

        While held, what comes from their side (hold music, a PBX's announcements) is no
        speech: it reaches neither the turn-taking machine nor speech-to-text (silence
        goes there, so the stream stays continuous), and the agent's audio waits where it
        was (the gateway sends nothing). The agent's timers stop, and go on from where
        they were on resume: the wait for an action's line, a slow tool's filler, the
        failure policy's "one moment" and reminders, the keypad's wait for more digits:
        none would be heard, and each would queue a line to play stale on resume. An LLM
        reply or tool call already under way goes on (its audio waits, queued).
        """
        if held == self.held:
            return
        self.decisions.held = self.hearing.held = held
        self.scope.write({"type": "hold", "held": held, "by": "caller"})
        self.actions.hold(held)
        self.fillers.hold(held)
        self.keypad.hold(held)
        self.failures.caller_held(held)

    def next_frame(self) -> bytes | None:
        """The agent's next frame from the playout queue (None = silence)."""
        now = self.loop.time()
        self.caller_audio.sent(frame := self.playout.next_frame(now))  # the echo's reference
        idle = self.idle
        if now >= idle.next_look:  # every 5th tick; the others' look would return at once
            warm = self.warm
            idle.tick(now, held=self.decisions.held, transferring=warm is not None and warm.active)
        if frame is None and self.actions.hanging_up:
            self.actions.hang_up_if_quiet()
        return frame

    def on_dtmf(self, digit: str) -> None:
        """Keypad digits go to the LLM after a pause or ``#``."""
        now = self.loop.time()
        self.idle.caller_active(now)
        actions = self.turns.receive_dtmf(now)
        if actions:
            self._carry_out(actions)
        self.keypad.press(digit)

    def on_transfer_failed(self, status: int, reason: str) -> None:
        """The target did not answer the transfer: tell the caller, stay on the line."""
        self.actions.on_transfer_failed(status, reason)

    def _carry_out(self, actions: tuple[TurnAction, ...]) -> None:
        """Do what the turn-taking machine decided (:meth:`Decisions.carry_out`)."""
        self.decisions.carry_out(actions)


def assistant_factory_of(make: object) -> AssistantFactory | None:
    """``make`` (a line's agent factory) as the assistant's, whose calls a caller can be
    handed to and from (agent/conversation/handoff.py); None for any other agent."""
    return make if isinstance(make, AssistantFactory) else None
