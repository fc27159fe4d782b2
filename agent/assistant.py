"""The AI phone agent: streaming STT → chat LLM with tools → streaming TTS, with barge-in.

The services are behind the contracts of ``agent/stt/base.py``,
``agent/tts/base.py`` and ``agent/llm/base.py``; which vendors answer is the
app layer's choice, passed in :class:`AssistantResources` (AssemblyAI,
OpenAI and ElevenLabs today). :class:`AssistantAgent` is a thin orchestrator:
it builds one call's parts, feeds them the gateway's calls, and carries out
what the turn-taking machine decides.

Theory of operation
-------------------
*While it rings* (:meth:`AssistantAgent.prepare`) the STT session and the TTS
connection are opened and the call's opening is prepared
(:class:`agent.greeting.Greeter`: the greeting synthesized into the held
playout; on a call the gateway placed, a callback greeting or an opening line
the LLM writes once the call is answered). The caller context lookup starts
(:class:`agent.caller_context.CallerContextPrompt`).

*As the caller's audio arrives* (:meth:`AssistantAgent.on_caller_audio`: each
20 ms frame in order, from the media layer's reorder stage, not on the ticker)
the frame goes through the turn-taking machine (:mod:`agent.turns`, its VAD)
and then, unchanged (μ-law), to the STT client, which batches and paces it
(:mod:`agent.stt.uplink`). *Every 20 ms* the ticker takes the agent's next
frame from the playout queue (:meth:`AssistantAgent.next_frame`).

*What the machine decides* (:meth:`AssistantAgent._carry_out`) goes to the
part that does it: a finished turn to :class:`agent.responder.Responder` (the
LLM reply: tool loop, filler lines during slow tools, adopted preemptive
request, turn metrics); a preemptive start or drop to
:class:`agent.preemptive.PreemptiveReplies`; a pause, resume or barge-in to the
playout and :class:`agent.speaker.Speaker` (which says every reply and keeps
only what the caller heard of a cut one); STT chunk sizes to the STT client.

*Call control*: the tools' transfers, hang-ups and keyed digits, each
transfer and hang-up only after its line was heard (speak before acting), are
:class:`agent.call_actions.CallActions`; keypad input to the LLM is
:class:`agent.keypad.Keypad`; what happens when a service fails is
:class:`agent.failures.ServiceFailures`.

Where new behaviour goes: a failure policy per vendor (cached lines when TTS
is down, a spoken notice when STT is, LLM retries) in ``ServiceFailures``;
speculative speech (the preemptive reply's first sentence synthesized before
the turn is confirmed) in ``PreemptiveReplies`` with ``Speaker.begin``;
answering-machine detection in ``Greeter.answered`` (the opening waits for the
decision); hold in the playout (``held``) and the parts' timers (fillers,
keypad, action lines); per-call variables in :func:`agent.opening.plan_opening`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.base import Agent, CallControl, Direction
from agent.call_actions import CallActions, ToolCallContext
from agent.caller_context import CallerContextPrompt, CallerContextSettings
from agent.callscope import NO_OBSERVER, CallScope
from agent.conversation import Conversation, ConversationSettings
from agent.failures import ServiceFailures
from agent.fillers import Fillers
from agent.greeting import Greeter
from agent.keypad import Keypad
from agent.llm.base import ChatLLM
from agent.observer import AgentObserver
from agent.opening import call_data, missing_variables, plan_opening
from agent.playout import Playout
from agent.preemptive import PreemptiveReplies
from agent.record import CallRecord
from agent.reply import SpeakingState
from agent.responder import Responder
from agent.settings import AssistantSettings
from agent.speaker import Speaker
from agent.stt.base import SpeechToText, SttFailed, SttReconnected
from agent.tools.registry import ToolRegistry
from agent.tts.base import TextToSpeech, TtsError
from agent.turn_metrics import TurnMetrics
from agent.turns import (
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
)
from media.quality import CallQuality

__all__ = ["AssistantAgent", "AssistantFactory", "AssistantResources"]

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
        caller_context: the operator's caller-context hook (:mod:`agent.caller_context`);
            None = none.
    """

    settings: AssistantSettings
    llm: ChatLLM
    tools: ToolRegistry
    new_stt: Callable[[], SpeechToText]
    new_tts: Callable[[], TextToSpeech]
    caller_context: CallerContextSettings | None = None


class AssistantFactory:
    """Builds each call's :class:`AssistantAgent` from what all calls share; it can say,
    before a call is placed, which ``{name}`` variables its prompt and greeting would lack
    (:class:`agent.variables.VariablesCheck`)."""

    def __init__(self, resources: AssistantResources) -> None:
        self.resources = resources

    def __call__(self, call: CallControl) -> AssistantAgent:
        return AssistantAgent(call, self.resources)

    def missing_variables(
        self, variables: Mapping[str, str], direction: Direction
    ) -> tuple[str, ...]:
        """The variables the prompt and greeting of such a call use that ``variables`` lacks."""
        return missing_variables(self.resources.settings, direction, variables)


class AssistantAgent(Agent):
    """One call's AI agent; see the module docstring."""

    wants_arrival_audio = True

    def __init__(self, call: CallControl, resources: AssistantResources) -> None:
        self.call = call
        self.resources = resources
        settings = self.settings = resources.settings
        self.loop = asyncio.get_running_loop()
        self.record = CallRecord(settings.record_dir, call.call_id, settings.redactor)
        scope = self.scope = CallScope(call.call_id, self.record, self.loop)
        self.stt = resources.new_stt()
        self.tts = resources.new_tts()
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
        self.playout = Playout(on_ready=call.audio_ready)
        state = SpeakingState(self.playout)
        barge_in = settings.barge_in
        self.turns = TurnTaker(
            state,
            commit_ms=barge_in.commit_ms,
            min_words=barge_in.min_words,
            vad=barge_in.vad,
            preemptive_pause_ms=settings.preemptive_pause_ms,
        )
        self.failures = failures = ServiceFailures(scope)
        fillers = Fillers(scope, settings.filler_after, settings.filler_lines, state, self.tts)
        self.speaker = speaker = Speaker(scope, state, self.turns, self.tts, conversation,
                                         fillers, failures, settings.redactor)  # fmt: skip
        history = conversation.messages
        self.caller_context = CallerContextPrompt(resources.caller_context, history, scope.write)
        self.preemptive = PreemptiveReplies(scope, conversation, self.caller_context)
        metrics = TurnMetrics(scope, self.playout)
        self.responder = responder = Responder(
            scope, speaker, conversation, self.caller_context, self.preemptive, fillers, metrics,
            failures, settings.redactor,
        )  # fmt: skip
        self.actions = CallActions(scope, call, settings, speaker, responder)
        tools_view.bind(self.actions)
        self.greeter = Greeter(scope, opening, speaker, responder, history, metrics, failures,
                               settings.answer_wait)  # fmt: skip
        self.keypad = Keypad(scope, settings.dtmf_timeout, conversation, responder)

    @property
    def observer(self) -> AgentObserver | None:
        """Where the call's metrics go (set by the gateway); None: nowhere."""
        observer = self.scope.observer
        return None if observer is NO_OBSERVER else observer

    @observer.setter
    def observer(self, observer: AgentObserver | None) -> None:
        self.scope.observer = NO_OBSERVER if observer is None else observer

    # ------------------------------------------------------------------ lifecycle

    async def prepare(self) -> None:
        """Open STT and TTS and prepare the opening while the phone rings.

        Nothing plays before :meth:`on_answered`: the playout stays held, and an
        opening the LLM writes (outbound calls, see :mod:`agent.opening`) only
        starts there. A service that cannot be reached rejects the call.
        """
        call, scope = self.call, self.scope
        scope.write(
            {"type": "call", "call_id": call.call_id, "caller": call.caller,
             "called": call.called, "direction": call.direction,
             "started": self.record.started, **call_data(call.details)}
        )  # fmt: skip
        if self.opening.missing:
            names = ", ".join(f"{{{name}}}" for name in self.opening.missing)
            log.warning("[%s] the prompt or greeting uses %s, which this call has no variable "
                        "for: left empty", scope.log_id, names)  # fmt: skip
            scope.write({"type": "missing_variables", "names": list(self.opening.missing)})
        self.caller_context.start(call.caller, call.called, scope.log_id, call.details)
        wait = self.settings.answer_wait
        deadline = scope.now() + wait
        tts_connect = asyncio.ensure_future(self.tts.connect())
        try:
            await self.stt.connect()
        except BaseException as exc:
            tts_connect.cancel()
            self.failures.stt_connect_failed(exc)
            raise
        done, _ = await asyncio.wait({tts_connect}, timeout=max(0.0, deadline - scope.now()))
        if done:
            try:
                tts_connect.result()
            except TtsError as exc:
                self.failures.tts_connect_failed(exc)
                raise
        scope.spawn(self._listen())
        if done:
            await self.greeter.greet_before_answer(deadline)
            return
        log.warning(
            "[%s] TTS not connected after %g s: answering without the greeting's audio "
            "(it plays once TTS is ready)", scope.log_id, wait,
        )  # fmt: skip
        scope.spawn(self.greeter.greet_once_connected(tts_connect))

    def on_answered(self) -> None:
        """Release the (pre-synthesized) greeting: its first frame goes out at once."""
        playout = self.playout
        playout.held = False
        if playout.pending:
            self.call.audio_ready()
        scope = self.scope
        scope.answered_at = scope.now()
        scope.write({"type": "answered"})
        self.greeter.answered()

    def on_quality(self, quality: CallQuality) -> None:
        """Keep the call's media quality figures in the record (before the ``end`` line)."""
        self.scope.write({"type": "quality", **quality.record()})

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
        self.actions.close()
        self.keypad.close()
        # The drop task PreemptiveReplies.drop spawns is cancelled below before it runs, as
        # is a reply task that had not started yet: stop those requests here, or their
        # streams (and early tools) run on after the call.
        current = self.speaker.current
        requests = [self.preemptive.request, current.preemptive if current is not None else None]
        self.preemptive.drop("call ended")
        await scope.cancel_tasks()
        for request in requests:
            if request is not None:
                await request.drop()
        self.caller_context.cancel()
        await asyncio.gather(self.stt.close(), self.tts.close(), return_exceptions=True)
        scope.write({"type": "end", "reason": reason, "turns": self.speaker.turn,
                     "stt_reconnects": self.stt.stats.reconnects})  # fmt: skip
        self.record.close()

    # ------------------------------------------------------------------ the gateway's calls

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
        if frame is None and self.actions.hanging_up:
            self.actions.hang_up_if_quiet()
        return frame

    def on_dtmf(self, digit: str) -> None:
        """Keypad digits go to the LLM after a pause or ``#``."""
        actions = self.turns.receive_dtmf(self.loop.time())
        if actions:
            self._carry_out(actions)
        self.keypad.press(digit)

    def on_transfer_failed(self, status: int, reason: str) -> None:
        """The target did not answer the transfer: tell the caller, stay on the line."""
        self.actions.on_transfer_failed(status, reason)

    # ------------------------------------------------------------------ STT and turns

    async def _listen(self) -> None:
        async for event in self.stt.events():
            if isinstance(event, SttReconnected):
                self.failures.stt_reconnected(event)
            elif isinstance(event, SttFailed):
                notice = self.failures.stt_failed(event)
                self.actions.hang_up_when_quiet()
                self.speaker.say(notice, "notice")
                return
            else:
                actions = self.turns.receive_stt(event, self.loop.time())
                if actions:
                    self._carry_out(actions)

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
                self.scope.write({"type": "barge_in_resumed", "paused_ms": action.paused_ms})
            elif isinstance(action, CommitBargeIn):
                self.speaker.interrupt(action)
            elif isinstance(action, StartReply):
                self.responder.answer(action)
            elif isinstance(action, StartPreemptive):
                self.preemptive.start(action.text)
            elif isinstance(action, DropPreemptive):
                self.preemptive.drop("caller went on")
            elif isinstance(action, IgnoreBackchannel):
                # "Mm-hmm" while the agent talks: it keeps talking (the VAD only paused it).
                self.scope.write({"type": "backchannel", "text": action.text})
