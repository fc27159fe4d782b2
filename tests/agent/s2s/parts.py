"""In-memory doubles for the speech-to-speech agent's unit tests: a scripted session, a call.

The agent's ticks are driven by hand (``next_frame``), the caller's audio is fed
frame by frame (``on_caller_audio``), and the session's events are pushed by the
test: every rule of the agent and its parts can be exercised without sockets.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from sipgw.agent.conversation.caller_context import CallerContextSettings
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.s2s.agent import S2sResources, SpeechToSpeechAgent
from sipgw.agent.services.s2s.base import (
    ReplyAudio,
    ReplyDone,
    ReplyStarted,
    ReplyText,
    S2sConnectError,
    S2sEvent,
    S2sStats,
    SessionConfig,
    SpeechToSpeech,
    ToolSpec,
)
from sipgw.agent.tools.builtin import builtin_tools
from sipgw.agent.tools.registry import ToolRegistry
from sipgw.app.evaluation.audio import tone_frame
from sipgw.media import g711
from sipgw.media.codecs import PCM16_24K, ULAW_8K
from tests.agent.parts import TONE_BARGE_IN, FakeCall, RecordingObserver

SILENCE = g711.silence_frame("PCMU")
LOUD = tone_frame(300)


class ScriptedSession(SpeechToSpeech):
    """A session whose events the test pushes; what the agent asks of it is recorded."""

    name = "scripted"

    def __init__(
        self,
        server_turns: bool = True,
        refuse: S2sConnectError | None = None,
        wide: bool = False,
    ):
        if wide:  # it carries 24 kHz linear audio too, as both services' sessions do
            self.audio_formats = frozenset({ULAW_8K, PCM16_24K})
        self.early = False
        """It starts replies early when asked (:meth:`start_early_reply`)."""
        self.server_turns = server_turns
        self.refuse = refuse
        self.config: SessionConfig | None = None
        self.sent: list[tuple[Any, ...]] = []
        self.audio = bytearray()
        self.closed = False
        self._queue: asyncio.Queue[S2sEvent | None] = asyncio.Queue()

    async def connect(self, config: SessionConfig) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.config = config

    def push(self, *events: S2sEvent) -> None:
        for event in events:
            self._queue.put_nowait(event)

    def send_audio(self, frame: bytes) -> None:
        self.audio += frame

    async def events(self) -> AsyncIterator[S2sEvent]:
        while (event := await self._queue.get()) is not None:
            yield event

    def send_tool_result(self, call_id: str, output: str) -> None:
        self.sent.append(("tool_result", call_id, output))

    def cancel_reply(self, reply_id: str, played_ms: int) -> None:
        self.sent.append(("cancel", reply_id, played_ms))

    def end_turn(self) -> None:
        self.sent.append(("end_turn",))

    def start_early_reply(self) -> bool:
        if self.early:
            self.sent.append(("early",))
        return self.early

    def drop_early_reply(self) -> None:
        self.sent.append(("drop_early",))

    def request_reply(self, instructions: str = "") -> None:
        self.sent.append(("reply", instructions))

    def add_caller_text(self, text: str) -> None:
        self.sent.append(("text", text))

    def update_instructions(self, instructions: str) -> None:
        self.sent.append(("instructions", instructions))

    def update_tools(self, tools: tuple[ToolSpec, ...]) -> None:
        self.sent.append(("tools", tuple(tool.name for tool in tools)))

    @property
    def stats(self) -> S2sStats:
        return S2sStats(audio_in_seconds=len(self.audio) / 8000)

    async def close(self) -> None:
        self.closed = True
        self._queue.put_nowait(None)


@dataclass
class Rig:
    agent: SpeechToSpeechAgent
    call: FakeCall
    sessions: list[ScriptedSession]
    observer: RecordingObserver

    @property
    def session(self) -> ScriptedSession:
        return self.sessions[-1]

    def record(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.agent.record.lines if line["type"] == kind]

    def ticks(self, n: int) -> list[bytes | None]:
        return [self.agent.next_frame() for _ in range(n)]

    def caller(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.agent.on_caller_audio(frame)


def rig(
    *,
    server_turns: bool = True,
    refuse: S2sConnectError | None = None,
    more: Callable[[], ScriptedSession] | None = None,
    caller_context: CallerContextSettings | None = None,
    call: FakeCall | None = None,
    preemptive_ms: int = 0,
    wide: bool = False,
    **overrides: Any,
) -> Rig:
    base = AssistantSettings(
        greeting="Hi there.", record_dir=None, answer_wait=0.05, barge_in=TONE_BARGE_IN,
    )  # fmt: skip
    settings = replace(base, **overrides)
    sessions: list[ScriptedSession] = []

    def new_session() -> ScriptedSession:
        session = (
            more() if sessions and more else ScriptedSession(server_turns=server_turns,
                                                             refuse=refuse, wide=wide)
        )  # fmt: skip
        sessions.append(session)
        return session

    tools = ToolRegistry(builtin_tools(settings.builtin_tools))
    resources = S2sResources(settings, tools, new_session, silence_ms=200,
                             caller_context=caller_context,
                             preemptive_ms=preemptive_ms)  # fmt: skip
    call = call or FakeCall(
        call_id="call-1", caller="sip:+15551230000@trunk", called="sip:agent@gw",
        verified_caller="+15551234567",  # the trunk asserted the sample orders' owner (issue 21)
    )  # fmt: skip
    agent = SpeechToSpeechAgent(call, resources)
    observer = RecordingObserver()
    agent.observer = observer
    return Rig(agent, call, sessions, observer)


def speak(session: ScriptedSession, reply_id: str, ms: int, text: str = "", done: bool = True):
    now = asyncio.get_running_loop().time()
    session.push(ReplyStarted(reply_id, now), ReplyAudio(reply_id, LOUD * (ms // 20), now))
    if text:
        session.push(ReplyText(reply_id, text, final=True))
    if done:
        session.push(ReplyDone(reply_id, "completed", now))


def linear_tone(hz: float, ms: int, rate: int = 24000) -> bytes:
    """A -15 dBFS sine, s16le at ``rate``."""
    amplitude = 32768 * 10 ** (-15 / 20) * 2**0.5
    n = rate * ms // 1000
    samples = (round(amplitude * math.sin(2 * math.pi * hz * i / rate)) for i in range(n))
    return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)
