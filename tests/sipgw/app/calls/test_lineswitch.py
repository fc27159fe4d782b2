"""The gateway's side of a hand-off (sipgw/app/calls/lineswitch.py): the call becomes the
target line's (agent, allow-list, line count and label, dashboard entry, record), and the
caller's audio since the hand-off began reaches a new speech-to-text session.

The call path and handle are in-memory doubles with what the switch touches; the lines
are built from a routes file as ``sipgw serve`` builds them. The whole path with a real
caller: tests/interop/test_handoff_peers.py."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from sipgw.agent.base import Agent
from sipgw.agent.capabilities import AgentCapabilities
from sipgw.agent.conversation.handover import HandOver
from sipgw.agent.record import CallRecord
from sipgw.app.calls import lineswitch
from sipgw.app.calls.callfeed import CallEntry, CallFeed
from sipgw.app.calls.callhandle import CallHandle, follow_formats, no_line_switch
from sipgw.app.calls.dialing import DialGate
from sipgw.app.calls.lineswitch import LineSwitch, first_switch, lines_line, prepare_line
from sipgw.app.lines.build import Line, LineTable
from sipgw.app.operations.counters import CallCounters
from sipgw.media.codecs import PCM16_16K, PCM16_24K, ULAW_8K, AudioFormat
from sipgw.sip.dialpolicy import DialPolicy
from tests.agent.parts import FakeCall
from tests.sipgw.app.lines.test_build import KEYS, base, build

ROUTES = """\
[lines.front]
agent = "assistant"
hand_off_to = ["billing", "full"]

[lines.billing]
agent = "assistant"
hand_off_to = "front"
transfer_target = "sip:billing-desk@127.0.0.1"

[lines.full]
agent = "assistant"
max_calls = 1

[lines.echo]
agent = "echo"
"""


class StubAgent:
    """An agent double: what it heard, and how it was started."""

    def __init__(self, record: CallRecord, audio_format: Any = ULAW_8K) -> None:
        self.record = record
        self.audio_format = audio_format
        self.caller_format = None
        self.heard: list[bytes] = []
        self.took_over: tuple[list[dict[str, Any]], tuple[str, ...]] | None = None

    def on_caller_audio(self, frame: bytes) -> None:
        self.heard.append(frame)

    def take_over(self, messages: Sequence[dict[str, Any]], meanwhile: Sequence[str] = ()) -> None:
        self.took_over = (list(messages), tuple(meanwhile))

    def on_hold(self, held: bool) -> None:
        self.held = held


@dataclass
class Session:
    """The media session's part a switch touches: the tap, and the formats it converts to."""

    on_audio: Any = None
    params: Any = field(default_factory=lambda: SimpleNamespace(send=True))
    heard_format: AudioFormat = ULAW_8K

    def use_agent_format(self, audio: AudioFormat, caller: AudioFormat | None = None) -> bool:
        changed = (caller or audio) != self.heard_format
        self.heard_format = caller or audio
        return changed


@dataclass(eq=False)
class HandleDouble(FakeCall):
    """The call handle's part a switch touches."""

    agent: Any = None
    session: Session | None = field(default_factory=Session)
    ended: bool = False
    end_reason: str = ""
    line: str = ""
    lines: list[tuple[str, float]] = field(default_factory=list)
    prepare_line: Any = None
    gate: Any = None
    capabilities: AgentCapabilities | None = None
    hand_over: HandOver | None = None
    span: Any = None
    log: Any = field(default_factory=lambda: logging.LoggerAdapter(logging.getLogger("t")))

    @property
    def call(self) -> Any:
        return self

    @property
    def log_id(self) -> str:
        return "c1"

    def use_agent(self, agent: Any, capabilities: AgentCapabilities | None = None) -> None:
        self.agent, self.capabilities = agent, capabilities
        follow_formats(cast(Any, self.session), None, agent)  # as CallHandle.use_agent


@dataclass
class PathDouble:
    """The call path's part a switch touches."""

    feed: CallFeed = field(default_factory=CallFeed)
    counted: CallCounters = field(default_factory=CallCounters)
    handles: dict[str, Any] = field(default_factory=dict)
    closed: list[tuple[Any, str]] = field(default_factory=list)

    def close_agent(self, handle: Any, agent: Any, reason: str) -> None:
        self.closed.append((agent, reason))

    def observer_for(self, factory: Any) -> Any:
        return None

    def spawn(self, coro: Any) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(coro)


def table(tmp_path: Path) -> LineTable:
    return build(tmp_path, ROUTES, base({**KEYS, "SIPGW_CALL_RECORD_DIR": ""}, agent="assistant"))


def on_front(tmp_path: Path) -> tuple[LineTable, HandleDouble, PathDouble, StubAgent]:
    lines = table(tmp_path)
    path, handle = PathDouble(), HandleDouble()
    record = CallRecord(None, "c1")
    first = StubAgent(record)
    handle.agent = first
    handle.line = "front"
    first_switch(cast(Any, path), cast(CallHandle, handle), lines.lines["front"])
    entry = CallEntry("c1", "c1", "a", None, "b", "inbound", 0.0, line="front", agent="assistant")
    path.feed.live["c1"] = entry
    return lines, handle, path, first


async def test_the_switch_makes_the_call_the_target_lines(tmp_path: Path) -> None:
    lines, handle, path, first = on_front(tmp_path)
    assert handle.prepare_line is not None and [n for n, _ in handle.lines] == ["front"]
    assert handle.prepare_line is not no_line_switch
    session = handle.session
    assert session is not None
    session.on_audio = first.on_caller_audio
    billing: Line = lines.lines["billing"]
    second = StubAgent(first.record)
    switch = LineSwitch(
        cast(Any, path), cast(CallHandle, handle), billing, cast(Agent, second),
        AgentCapabilities(arrival_audio=True), HandOver("front", "billing", "s"),
    )  # fmt: skip
    switch.tap()
    session.on_audio(b"one")  # said while the front line's last words play
    session.on_audio(b"two")
    assert first.heard == [b"one", b"two"]
    messages = [{"role": "user", "content": "hi"}]
    assert switch.switch(messages, ["meanwhile"])
    # Its new session hears what was said since the hand-off began, then the caller live.
    assert second.heard == [b"one", b"two"] and session.on_audio == second.on_caller_audio
    session.on_audio(b"three")
    assert second.heard[-1] == b"three" and first.heard == [b"one", b"two"]
    assert second.took_over == (messages, ("meanwhile",))
    assert handle.agent is second and path.closed == [(first, "handed-off")]
    # The line's allow-list, its count and label, the dashboard entry, the record.
    assert handle.line == "billing" and isinstance(handle.gate, DialGate)
    assert handle.gate.policy is billing.dial_policy and billing.dial_policy != DialPolicy()
    assert [name for name, _ in handle.lines] == ["front", "billing"]
    entry = path.feed.live["c1"]
    assert entry.line == "billing" and [e["line"] for e in entry.lines] == ["front", "billing"]
    assert [r["line"] for r in first.record.lines if r["type"] == "line"] == ["billing"]
    assert handle.prepare_line is not no_line_switch  # billing hands off (back to front) too
    assert not switch.switch(messages)  # once


async def test_a_kept_session_gets_no_replay(tmp_path: Path) -> None:
    lines, handle, path, first = on_front(tmp_path)
    session = handle.session
    assert session is not None
    session.on_audio = first.on_caller_audio
    second = StubAgent(first.record)
    kept = HandOver("front", "billing", "s", stt=cast(Any, object()))
    caps = AgentCapabilities(arrival_audio=True)
    switch = LineSwitch(cast(Any, path), cast(CallHandle, handle), lines.lines["billing"],
                        cast(Agent, second), caps, kept)  # fmt: skip
    switch.tap()
    session.on_audio(b"one")
    switch.switch([])
    assert second.heard == []  # the kept session heard it already


async def test_a_cancelled_switch_gives_the_caller_back_to_the_first_agent(tmp_path: Path) -> None:
    lines, handle, path, first = on_front(tmp_path)
    session = handle.session
    assert session is not None
    session.on_audio = first.on_caller_audio
    second = StubAgent(first.record)
    switch = LineSwitch(cast(Any, path), cast(CallHandle, handle), lines.lines["billing"],
                        cast(Agent, second), AgentCapabilities(arrival_audio=True),
                        HandOver("front", "billing", "s"))  # fmt: skip
    switch.tap()
    await switch.cancel()
    assert session.on_audio == first.on_caller_audio and handle.agent is first
    assert path.closed == [(second, "hand-off-cancelled")] and handle.line == "front"
    # A call that ended before the switch: nothing changes, the target's agent is closed.
    other = LineSwitch(cast(Any, path), cast(CallHandle, handle), lines.lines["billing"],
                       cast(Agent, StubAgent(first.record)), AgentCapabilities(),
                       HandOver("front", "billing", "s"))  # fmt: skip
    handle.ended = True
    assert not other.switch([])
    await asyncio.sleep(0)
    assert handle.agent is first and path.closed[-1][1] == "hand-off-cancelled"


async def test_what_cannot_take_the_call_is_said_before_anything_is_built(tmp_path: Path) -> None:
    lines, handle, path, _ = on_front(tmp_path)
    front = lines.lines["front"]

    async def ask(name: str) -> object:
        return await prepare_line(
            cast(Any, path), front, cast(CallHandle, handle), HandOver("front", name, "s")
        )

    assert await ask("nowhere") == "line 'nowhere' is not there now"
    assert await ask("echo") == "line 'echo' runs agent echo, which cannot take a call over"
    path.handles["other"] = HandleDouble(line="full")
    assert await ask("full") == "line 'full' is busy (it holds its max_calls, 1)"
    assert not path.closed


def tone_frames(hz: float, frames: int, rate: int) -> list[bytes]:
    """20 ms frames of a sine at ``rate``, s16le."""
    size = rate // 50
    samples = [round(8000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(size * frames)]
    raw = b"".join(v.to_bytes(2, "little", signed=True) for v in samples)
    return [raw[k * size * 2 : (k + 1) * size * 2] for k in range(frames)]


async def test_a_switch_to_an_agent_of_another_format_converts_what_was_kept(
    tmp_path: Path,
) -> None:
    """An HD-voice call: the front line's assistant hears 16 kHz, the target's agent (a
    speech-to-speech one) 24 kHz. The media converts to the new agent's formats at the
    switch, and the caller's words kept since the hand-off began reach it at 24 kHz."""
    lines, handle, path, first = on_front(tmp_path)
    first.audio_format = PCM16_16K
    session = handle.session
    assert session is not None
    session.heard_format = PCM16_16K
    session.on_audio = first.on_caller_audio
    second = StubAgent(first.record, audio_format=PCM16_24K)
    switch = LineSwitch(cast(Any, path), cast(CallHandle, handle), lines.lines["billing"],
                        cast(Agent, second), AgentCapabilities(arrival_audio=True),
                        HandOver("front", "billing", "s"))  # fmt: skip
    switch.tap()
    said = tone_frames(700, 10, 16000)  # said while the front line's last words play
    for frame in said:
        session.on_audio(frame)
    assert first.heard == said
    assert switch.switch([])
    assert session.heard_format == PCM16_24K  # the media hears for the new agent now
    assert [len(f) for f in second.heard] == [960] * 10  # 20 ms each, at 24 kHz
    kept = b"".join(second.heard)
    crossings = sum(1 for a, b in pairwise(memoryview(kept).cast("h")) if (a < 0) != (b < 0))
    assert abs(crossings - 2 * 700 * 0.2) <= 3  # the same 700 Hz, 0.2 s of it
    session.on_audio(b"live")  # the media's frames from now on (24 kHz) go as they come
    assert second.heard[-1] == b"live"


async def test_an_agent_of_another_audio_format_takes_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is refused for its format: an 8 kHz μ-law agent taking an HD-voice call
    from a 16 kHz one is prepared and handed the call."""
    lines, handle, path, first = on_front(tmp_path)
    first.audio_format = PCM16_16K
    built: list[PreparingAgent] = []

    def plugin(call: Any) -> PreparingAgent:
        built.append(PreparingAgent(first.record))
        return built[-1]

    plugin_double = cast(Any, plugin)
    plugin_double.capabilities = AgentCapabilities(arrival_audio=True)
    monkeypatch.setattr(lineswitch, "plugin_factory", lambda factory: plugin_double)
    result = await prepare_line(cast(Any, path), lines.lines["front"], cast(CallHandle, handle),
                                HandOver("front", "billing", "s"))  # fmt: skip
    assert isinstance(result, LineSwitch) and not path.closed
    (agent,) = built
    assert result.agent is agent and agent.prepared and agent.audio_format == ULAW_8K
    assert result.hand_over.audio == PCM16_16K  # the first agent's, for one that can keep it
    assert result.switch([])
    assert handle.agent is agent and handle.session is not None
    assert handle.session.heard_format == ULAW_8K


class PreparingAgent(StubAgent):
    """A stub the switch prepares."""

    prepared = False
    observer: Any = None
    span: Any = None

    async def prepare(self) -> None:
        self.prepared = True


def test_the_records_lines_line_has_each_line_with_its_times() -> None:
    handle = HandleDouble(lines=[("front", 100.0)])
    assert lines_line(cast(CallHandle, handle), 130.0) is None  # never handed on
    handle.lines.append(("billing", 110.5))
    assert lines_line(cast(CallHandle, handle), 130.0) == {
        "type": "lines",
        "lines": [
            {"line": "front", "started": 100.0, "ended": 110.5},
            {"line": "billing", "started": 110.5, "ended": 130.0},
        ],
    }
