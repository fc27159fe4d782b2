"""A leg's media as the tests of sipgw/app/legs script it, an agent that notes its calls, and
a wait for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sipgw.agent.base import Agent, CallControl
from sipgw.agent.capabilities import AgentCapabilities, PluginFactory
from sipgw.media.quality import CallQuality


@dataclass(eq=False)
class FakeMedia:
    """A :class:`sipgw.app.legs.handle.LegMedia` that plays ``caller`` and keeps what it got."""

    name: str = "twilio"
    caller: list[bytes | None] = field(default_factory=list)
    sent: list[bytes | None] = field(default_factory=list)
    unheard: int = 0
    """What :meth:`clear` reports (frames sent, not heard)."""
    clears: int = 0
    idle: float = 0.0
    played: bool = True
    closed: int = 0
    polled: int = 0
    skipped: int = 0
    listener: Callable[[bytes], None] | None = None
    played_out_asked: list[float] = field(default_factory=list)

    def listen(self, on_audio: Callable[[bytes], None] | None) -> None:
        self.listener = on_audio

    def poll_ingress(self, now: float) -> None:
        self.polled += 1

    def caller_frame(self, now: float) -> bytes | None:
        return self.caller.pop(0) if self.caller else None

    def send_frame(self, frame: bytes | None) -> None:
        self.sent.append(frame)

    def skip(self, ticks: int) -> None:
        self.skipped += ticks

    def idle_for(self, now: float) -> float:
        return self.idle

    def clear(self) -> int:
        self.clears += 1
        return self.unheard

    def quality(self) -> CallQuality | None:
        return None

    def describe(self) -> dict[str, object]:
        return {"transport": "fake", "frames out": len(self.sent)}

    async def played_out(self, within: float) -> bool:
        self.played_out_asked.append(within)
        return self.played

    async def close(self) -> None:
        self.closed += 1


NOTES = AgentCapabilities(keypad=True, arrival_audio=True)
"""What a :class:`NotingAgent`'s factory declares: it takes the keypad and hears the
caller's audio as it arrives."""


def noting(frames: list[bytes] | None = None) -> PluginFactory:
    """A factory of :class:`NotingAgent` s playing ``frames``, with :data:`NOTES`."""
    return PluginFactory(lambda call: NotingAgent(call, frames), NOTES)


class NotingAgent(Agent):
    """Plays ``frames`` once answered; notes what the call gave it."""

    built: list[NotingAgent] = []

    def __init__(self, call: CallControl, frames: list[bytes] | None = None) -> None:
        self.call = call
        self.frames = list(frames or [])
        self.heard: list[bytes | None] = []
        self.arrived: list[bytes] = []
        self.digits: list[str] = []
        self.answered = False
        self.closed: str | None = None
        self.quality: CallQuality | None = None
        self.prepared = asyncio.Event()
        NotingAgent.built.append(self)

    async def prepare(self) -> None:
        self.prepared.set()

    def on_answered(self) -> None:
        self.answered = True

    def on_caller_frame(self, frame: bytes | None) -> None:
        self.heard.append(frame)

    def on_caller_audio(self, frame: bytes) -> None:
        self.arrived.append(frame)

    def next_frame(self) -> bytes | None:
        return self.frames.pop(0) if self.frames and self.answered else None

    def on_dtmf(self, digit: str) -> None:
        self.digits.append(digit)

    def on_quality(self, quality: CallQuality) -> None:
        self.quality = quality

    async def close(self, reason: str = "") -> None:
        self.closed = reason


async def until(condition: Callable[[], Any], within: float = 5.0) -> None:
    """Wait until ``condition()`` is true, checked every 10 ms (AssertionError after ``within``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
