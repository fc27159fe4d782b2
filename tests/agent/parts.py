"""In-memory doubles of the assistant's own contracts, for the unit tests of its parts.

They implement ``agent/services/tts/base.py``, ``agent/services/llm/base.py`` and
``agent/base.py``'s ``CallControl`` as those contracts say, with no network:
the vendor clients and their wire-protocol fakes are exercised end to end in
``tests/agent/test_assistant*.py``. Time is the event loop's; audio moves when
the test drives the playout (:func:`play_out`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sipgw.agent.amd.settings import AmdRequest
from sipgw.agent.assistant.agent import AssistantAgent, AssistantResources
from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.base import NO_DETAILS, CallDetails, CallPurpose, Direction
from sipgw.agent.callscope import CallScope
from sipgw.agent.conversation.caller_audio import NoiseSettings
from sipgw.agent.conversation.caller_context import CallerContextSettings
from sipgw.agent.conversation.settings import AssistantSettings, BargeInSettings
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.observer import (
    ErrorKind,
    IdleOutcome,
    PreemptiveOutcome,
    Service,
    SpeculativeOutcome,
)
from sipgw.agent.playout import Playout
from sipgw.agent.record import CallRecord
from sipgw.agent.resilience.policy import FailurePolicySettings
from sipgw.agent.resilience.watch import FailureWatch
from sipgw.agent.services.llm.base import LlmError, LlmEvent, LlmFinished, LlmTextDelta, LlmToolCall
from sipgw.agent.services.stt.base import SttEvent, SttStats
from sipgw.agent.services.tts.base import TtsAlignment, TtsConnectError, TtsError, TtsReply
from sipgw.agent.talk import TalkFigures
from sipgw.agent.tools.registry import Tool, ToolRegistry
from sipgw.app.evaluation.audio import tone_frames
from sipgw.media.codecs.base import ULAW_8K, AudioFormat

FRAME = 160
BYTES_PER_CHAR = 80
"""Audio the double speaks per character (10 ms: a 20-character line is 10 frames)."""


# --------------------------------------------------------------------------- text-to-speech


class ScriptedReply(TtsReply):
    """A reply that speaks each sentence at once (``BYTES_PER_CHAR`` per character,
    aligned), unless its service holds the audio back or fails it."""

    def __init__(self, reply_id: str, tts: ScriptedTts) -> None:
        super().__init__(reply_id)
        self.format = tts.format
        self._tts = tts
        self._finished = False
        self._held: list[str] = []

    async def send_text(self, text: str) -> None:
        if self._tts.send_gate is not None:
            await self._tts.send_gate.wait()  # a slow connection
        if self._tts.send_error is not None:
            raise self._tts.send_error
        sent = self._text_to_send(text, self._finished)
        if sent is None:
            return
        self._tts.sent.append((self.id, sent))
        if self._tts.fail_on is not None and self._tts.fail_on in sent:
            self._fail(TtsError(f"synthesis failed on {sent!r}", status=500))
            return
        if self._tts.hold:
            self._held.append(sent)
            return
        self._speak(sent)

    def release(self) -> None:
        """Deliver the audio held back so far (and end, if finished)."""
        for text in self._held:
            self._speak(text)
        self._held.clear()
        if self._finished:
            self._end()

    def speak_part(self, text: str) -> None:
        """Deliver the audio of ``text`` now, the reply still open (its synthesis goes on)."""
        self._speak(text)

    def _speak(self, text: str) -> None:
        """One chunk per character, aligned (so the playout knows what was heard)."""
        size = BYTES_PER_CHAR * self.format.frame_bytes // FRAME  # 10 ms in its format
        audio = bytes([0x10 + len(self._tts.replies) % 64]) * size
        now = asyncio.get_running_loop().time()
        for char in text:
            self._push(audio, now, TtsAlignment(char, (0,), (10,)))

    async def finish(self) -> None:
        self._finished = True
        if not self._held and not self._tts.hold:
            self._end()

    async def cancel(self) -> None:
        self._tts.cancelled.append(self.id)
        self._mark_cancelled()


@dataclass
class ScriptedTts:
    """A :class:`sipgw.agent.services.tts.base.TextToSpeech` in memory.

    Attributes:
        hold: audio is held back until :meth:`ScriptedReply.release`.
        fail_on: a sentence containing this text fails its reply.
        connect_delay: seconds :meth:`connect` takes.
        connect_error: what :meth:`connect` raises, if anything.
        send_gate: while set to an unset event, ``send_text`` waits for it (a slow
            connection).
        send_error: what ``send_text`` raises, if anything (the connection is down).
        format: the audio its replies speak (an HD-voice call's: 16 kHz s16le).
    """

    hold: bool = False
    fail_on: str | None = None
    connect_delay: float = 0.0
    connect_error: TtsError | None = None
    send_gate: asyncio.Event | None = None
    send_error: TtsError | None = None
    format: AudioFormat = ULAW_8K
    replies: list[ScriptedReply] = field(default_factory=list)
    sent: list[tuple[str, str]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    closed: bool = False

    async def connect(self) -> None:
        await asyncio.sleep(self.connect_delay)
        if self.connect_error is not None:
            raise self.connect_error

    def start_reply(self) -> ScriptedReply:
        reply = ScriptedReply(f"r{len(self.replies) + 1}", self)
        self.replies.append(reply)
        return reply

    def texts(self) -> list[str]:
        """Every sentence sent, in order."""
        return [text for _, text in self.sent]

    async def close(self) -> None:
        self.closed = True


def tts_refused() -> TtsConnectError:
    return TtsConnectError("TTS refused the connection: HTTP 401", status=401)


# --------------------------------------------------------------------------- the chat model


@dataclass
class Turn:
    """One scripted LLM response: text (split in two deltas), tool calls, or a failure."""

    text: str = ""
    tool_calls: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    delay: float = 0.0


@dataclass
class ScriptedLlm:
    """A :class:`sipgw.agent.services.llm.base.ChatLLM` answering from a script, one :class:`Turn`
    per request."""

    script: list[Turn] = field(default_factory=list)
    requests: list[list[dict[str, Any]]] = field(default_factory=list)
    finished: int = 0
    """Streams read to their end."""

    async def stream(
        self,
        messages: Sequence[Mapping[str, object]],
        tools: Sequence[Mapping[str, object]],
        *,
        tool_choice: str | None = None,
    ) -> AsyncGenerator[LlmEvent, None]:
        self.requests.append([dict(message) for message in messages])
        turn = self.script.pop(0) if self.script else Turn(text="Okay.")
        if turn.delay:
            await asyncio.sleep(turn.delay)
        if turn.error is not None:
            raise LlmError(turn.error, kind="timeout")
        if turn.text:
            half = len(turn.text) // 2
            yield LlmTextDelta(turn.text[:half])
            yield LlmTextDelta(turn.text[half:])
        for n, (name, arguments) in enumerate(turn.tool_calls):
            yield LlmToolCall(f"call_{len(self.requests)}_{n}", name, arguments)
        reason = "tool_calls" if turn.tool_calls else "stop"
        yield LlmFinished(reason, None)
        self.finished += 1

    async def close(self) -> None:
        pass


# --------------------------------------------------------------------------- the call


@dataclass
class FakeCall:
    """A :class:`sipgw.agent.base.CallControl` that remembers what was done to it."""

    call_id: str = "parts-call@test"
    caller: str = "sip:+15551234567@trunk.example"
    called: str = "sip:shop@gw.example"
    direction: Direction = "inbound"
    purpose: CallPurpose | None = None
    verified_caller: str = ""
    amd: AmdRequest | None = None
    ivr_goal: str = ""
    """What a placed call is to reach through a phone menu ("" = none)."""
    leg: str = "sip"
    details: CallDetails = NO_DETAILS
    unheard: int = 0
    """What :meth:`clear_audio` reports (a Twilio leg's frames sent, not heard)."""
    clears: int = 0
    accept_transfer: bool = True
    refuse: bool = False
    hangups: int = 0
    statuses: list[int] = field(default_factory=list)
    """The status of each :meth:`hangup` (a refusal's, while unanswered)."""
    transfers: list[str] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    ready: int = 0
    continuing: int = 0
    """Of :attr:`ready`, the calls with ``continuing`` (audio within a talkspurt)."""

    def hangup(self, status: int = 480) -> None:
        self.hangups += 1
        self.statuses.append(status)

    def send_dtmf(self, digits: str) -> None:
        if self.refuse:
            raise DialRefused("dtmf", digits, "not in SIPGW_DIAL_ALLOW")
        self.dtmf.append(digits)

    async def transfer(self, target: str, summary: str = "") -> bool:
        if self.refuse:
            raise DialRefused("transfer", target, "not in SIPGW_DIAL_ALLOW")
        self.transfers.append(target)
        return self.accept_transfer

    def audio_ready(self, continuing: bool = False) -> None:
        self.ready += 1
        self.continuing += continuing

    def clear_audio(self) -> int:
        self.clears += 1
        return self.unheard


@dataclass
class RecordingObserver:
    """An :class:`sipgw.agent.observer.AgentObserver` that keeps what it was told."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    oks: list[Service] = field(default_factory=list)
    """The services reported working (``service_ok``), in order."""
    decisions: list[str] = field(default_factory=list)
    """The failure policy's decisions, in order."""
    statuses: list[int | None] = field(default_factory=list)
    """The status (HTTP or close code) of each ``service_error``, in order."""

    def turn_measured(self, stages: Mapping[str, float]) -> None:
        self.events.append(("turn", dict(stages)))

    def barge_in(self) -> None:
        self.events.append(("barge_in", None))

    def tool_called(self, source: str, outcome: str, seconds: float) -> None:
        self.events.append(("tool", (source, outcome)))

    def service_error(self, service: Service, kind: ErrorKind, status: int | None = None) -> None:
        self.events.append(("error", (service, kind)))
        self.statuses.append(status)

    def preemptive(self, outcome: PreemptiveOutcome) -> None:
        self.events.append(("preemptive", outcome))

    def speculative_speech(self, outcome: SpeculativeOutcome, chars: int) -> None:
        self.events.append(("speculative_speech", (outcome, chars)))

    def tts_spoken(self, chars: int) -> None:
        self.events.append(("tts_spoken", chars))

    def service_ok(self, service: Service) -> None:
        self.oks.append(service)

    def failure_decision(self, decision: str) -> None:
        self.decisions.append(decision)

    def answer_detected(self, kind: str, seconds: float) -> None:
        self.events.append(("answer", (kind, seconds)))

    def idle(self, step: IdleOutcome) -> None:
        self.events.append(("idle", step))

    def talk_measured(self, figures: TalkFigures) -> None:
        self.events.append(("talk", figures))


def make_scope(observer: RecordingObserver | None = None) -> CallScope:
    """A call's scope on the running loop, its record kept in memory (``scope.record.lines``)."""
    scope = CallScope("parts-call@test", CallRecord(None, "parts-call@test"), _loop())
    if observer is not None:
        scope.observer = observer
    return scope


def make_failures(scope: CallScope) -> ServiceFailures:
    """A call's failure reporting with the default policy, the lines from the shipped
    recordings (bind the call's actions to carry its decisions out)."""
    watch = FailureWatch(scope, FailurePolicySettings(), None, transfer_available=False)
    return ServiceFailures(scope, watch)


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def lines(scope: CallScope, kind: str) -> list[dict[str, Any]]:
    """The record lines of one type."""
    return [line for line in scope.record.lines if line.get("type") == kind]


# --------------------------------------------------------------------------- time


async def settle(rounds: int = 20) -> None:
    """Let the call's tasks run as far as they can without time passing."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def play_out(
    playout: Playout, *, seconds: float = 5.0, until: Callable[[], bool] | None = None
) -> list[bytes | None]:
    """Drive the playout as the ticker does (every 20 ms) until it is empty, ``until()``
    holds, or ``seconds`` of ticks were driven; returns the frames sent. The limit counts
    ticks, not wall time: on a loaded machine a tick here takes longer than 20 ms, and a
    wall-clock limit cut a 4.5 s line short (seen in the suite)."""
    loop = asyncio.get_running_loop()
    ticks = round(seconds / 0.020)
    frames: list[bytes | None] = []
    while len(frames) < ticks:
        await settle()
        if until is not None and until():
            break
        frames.append(playout.next_frame(loop.time()))
        if until is None and not playout.pending:
            await settle()
            if not playout.pending:
                break
        await asyncio.sleep(0.020)
    return frames


SILENT_FRAME = b"\xff" * 160

TONE_DETECTOR = NoiseSettings(detector="energy")
"""The detector for these tests' caller "speech" (:func:`speech_frames`, tones): the energy
one, pinned, since a speech model (the default) hears no voice in a tone."""
TONE_BARGE_IN = BargeInSettings(noise=TONE_DETECTOR)
"""Default barge-in settings with :data:`TONE_DETECTOR` (what :func:`assistant` builds on)."""


def speech_frames(seconds: float) -> list[bytes]:
    """Speech as the detectors hear it: 200 ms syllables of a low tone (below the beep
    detector's band), 60 ms quieter between them, ``seconds`` long, ending on a syllable."""
    frames: list[bytes] = []
    pitches = (250, 300, 350)
    while len(frames) < round(seconds / 0.02):
        frames += tone_frames(pitches[len(frames) % 3], 0.2, -20.0)
        frames += [SILENT_FRAME] * 3
    frames = frames[: round(seconds / 0.02)]
    while frames and frames[-1] == SILENT_FRAME:
        frames.pop()
    return frames


async def feed_audio(on_audio: Callable[[bytes], None], frames: Sequence[bytes]) -> None:
    """The callee's ``frames`` at arrival, one per 20 ms on absolute deadlines."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for n, frame in enumerate(frames):
        await asyncio.sleep(max(0.0, t0 + (n + 1) * 0.02 - loop.time()))
        on_audio(frame)


async def say_hello(on_audio: Callable[[bytes], None]) -> None:
    """A person picks up: "Hello?" (0.5 s), then 0.3 s of silence (a person is decided
    240 ms after it ends: :mod:`sipgw.agent.amd`)."""
    await feed_audio(on_audio, [*speech_frames(0.5), *[SILENT_FRAME] * 15])


async def wait_for(condition: Callable[[], object], within: float = 3.0) -> None:
    """Wait until ``condition()`` is true (checked every 5 ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


# --------------------------------------------------------------------------- speech-to-text


@dataclass
class ScriptedStt:
    """A :class:`sipgw.agent.services.stt.base.SpeechToText` in memory: the test emits its
    events."""

    connect_error: Exception | None = None
    audio: list[bytes] = field(default_factory=list)
    chunk_ms: list[int | None] = field(default_factory=list)
    speech_ends: int = 0
    turn_ends_asked: int = 0
    turn_end: float | None = None
    turn_check: float | None = None
    reconnect_window: float | None = None
    closed: bool = False
    _events: asyncio.Queue[SttEvent | None] = field(default_factory=asyncio.Queue)

    @property
    def stats(self) -> SttStats:
        return SttStats(0, 0, 1, 0, 0.0, 0.0, 0.0, None, None)

    async def connect(self) -> None:
        if self.connect_error is not None:
            raise self.connect_error

    def send_audio(self, frame: bytes) -> None:
        self.audio.append(frame)

    def set_chunk_ms(self, chunk_ms: int | None) -> None:
        self.chunk_ms.append(chunk_ms)

    def mark_speech_end(self) -> None:
        self.speech_ends += 1

    def end_turn_now(self) -> None:
        self.turn_ends_asked += 1

    def set_reconnect_window(self, seconds: float) -> None:
        self.reconnect_window = seconds

    @property
    def turn_end_silence(self) -> float | None:
        return self.turn_end

    @property
    def turn_check_silence(self) -> float | None:
        return self.turn_check

    def emit(self, event: SttEvent) -> None:
        self._events.put_nowait(event)

    async def events(self) -> AsyncIterator[SttEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    async def close(self) -> None:
        self.closed = True
        self._events.put_nowait(None)


# --------------------------------------------------------------------------- an assistant


@dataclass
class Assistant:
    """An assistant call on the in-memory doubles; its parts are the agent's own."""

    agent: AssistantAgent
    call: FakeCall
    stt: ScriptedStt
    tts: ScriptedTts
    llm: ScriptedLlm
    observer: RecordingObserver

    @property
    def scope(self) -> CallScope:
        return self.agent.scope

    def record(self, kind: str) -> list[dict[str, Any]]:
        return lines(self.agent.scope, kind)

    def kinds(self) -> list[str]:
        return [line["type"] for line in self.agent.scope.record.lines]


def slow_tool(seconds: float) -> Tool:
    """A tool ``look_up`` that takes ``seconds``."""

    async def look_up(ctx: Any, args: dict[str, Any]) -> object:
        await asyncio.sleep(seconds)
        return {"found": True}

    schema = {"type": "object", "properties": {}}
    return Tool("look_up", "Looks something up.", schema, look_up)


def assistant(
    *,
    script: Sequence[Turn] = (),
    tools: Sequence[Tool] = (),
    call: FakeCall | None = None,
    tts: ScriptedTts | None = None,
    caller_context: CallerContextSettings | None = None,
    wideband_tts: ScriptedTts | None = None,
    **settings: Any,
) -> Assistant:
    """Build an :class:`sipgw.agent.assistant.agent.AssistantAgent` on the doubles (no records on
    disk); ``wideband_tts``: the TTS of an HD-voice call, if the vendor has one."""
    call = call or FakeCall()
    stt, tts, llm = ScriptedStt(), tts or ScriptedTts(), ScriptedLlm(list(script))
    observer = RecordingObserver()
    options: dict[str, Any] = {
        "record_dir": None, "greeting": "", "barge_in": TONE_BARGE_IN, **settings,
    }  # fmt: skip
    resources = AssistantResources(
        AssistantSettings(**options), llm, ToolRegistry(list(tools)), lambda: stt, lambda: tts,
        caller_context,
        new_wideband_tts=None if wideband_tts is None else lambda: wideband_tts,
    )  # fmt: skip
    agent = AssistantAgent(call, resources)
    agent.observer = observer
    return Assistant(agent, call, stt, tts, llm, observer)
