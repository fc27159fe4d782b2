"""A call handed to another line inside the call: the gateway's side of a hand-off.

The agent asks through its seam (:class:`sipgw.agent.conversation.handover.SwitchesLines`, the call
handle's ``prepare_line``), and :func:`prepare_line` answers: the target line is looked
up in the table the call's line came from (:class:`sipgw.app.lines.handoff.LineDirectory`),
its factory builds the call's next agent from the
:class:`~sipgw.agent.conversation.handover.HandOver`
(its history mode is the target line's ``hand_off_history``; the speech-to-text session
goes along only when both lines' settings agree, :func:`sipgw.app.lines.handoff.same_stt`),
and that agent is prepared (its own sessions connected, within :data:`PREPARE_TIMEOUT`)
while the first agent still has the call. From then until the switch the caller's audio
is kept too (at most :data:`HEARD_KEPT_FRAMES`).

:meth:`LineSwitch.switch` makes the call the target line's: the new agent is the call's
(its frames at the next tick; the call's media converts to its formats from then on, which
may differ from the first agent's: a 16 kHz assistant and a 24 kHz speech-to-speech agent
on an HD-voice call, an 8 kHz μ-law one and either; the recording goes on in the same
file), the caller's audio kept since the hand-off began is played
into it first when it opened its own speech-to-text session (no word said across the
switch is lost; converted to the format it hears when that is not the first agent's),
its dial allow-list judges the call's transfers and digits, the call
counts on the target line (``sipgw_line_calls``, the line's ``max_calls``, and the line
label of ``sipgw_calls_total`` at its end; a line holding its ``max_calls`` refuses the
hand-off), the dashboard entry shows the line and agent, and the call record gets a
``line`` line. The first agent is closed (it leaves the record and a kept session to the
new one). At the call's end the record gets ``lines``: each line with when it took the
call and when it left it (:func:`lines_line`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, Protocol, cast

from sipgw.agent.base import Agent, AgentFactory
from sipgw.agent.capabilities import AgentCapabilities, plugin_factory
from sipgw.agent.conversation.handover import HandOver, HistoryMode, TakesOver
from sipgw.agent.observer import AgentObserver
from sipgw.app.calls.callfeed import CallFeed
from sipgw.app.calls.callhandle import CallHandle, no_line_switch
from sipgw.app.calls.dialing import DialGate
from sipgw.app.lines.build import Line
from sipgw.app.lines.handoff import same_stt, takes_over
from sipgw.app.operations.counters import CallCounters
from sipgw.media.codecs.convert import reformatted

__all__ = [
    "HEARD_KEPT_FRAMES",
    "PREPARE_TIMEOUT",
    "SwitchPath",
    "LineSwitch",
    "first_switch",
    "lines_line",
    "prepare_line",
    "record_lines",
]

PREPARE_TIMEOUT: Final = 10.0
"""Seconds the target line's agent may take to prepare (as a new call's agent may:
``sipgw.app.calls.callpath.PREPARE_TIMEOUT``); then the hand-off is refused."""
HEARD_KEPT_FRAMES: Final = 500
"""Caller frames kept between a hand-off's request and its switch (10 s of 20 ms frames;
the oldest go first)."""


class SwitchPath(Protocol):
    """What a switch uses of the call path (:class:`sipgw.app.calls.callpath.CallPath` is one)."""

    feed: CallFeed
    counted: CallCounters
    observer_for: Callable[[AgentFactory], AgentObserver]

    @property
    def handles(self) -> Mapping[Any, CallHandle]:
        """The calls up now."""
        ...

    def close_agent(self, handle: CallHandle, agent: Agent, reason: str) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]: ...


@dataclass(eq=False)
class LineSwitch:
    """The target line's agent, prepared
    (:class:`sipgw.agent.conversation.handover.PreparedLine`)."""

    path: SwitchPath
    handle: CallHandle
    line: Line
    agent: Agent
    capabilities: AgentCapabilities
    hand_over: HandOver
    heard: deque[bytes] = field(default_factory=lambda: deque(maxlen=HEARD_KEPT_FRAMES))
    """The caller's frames since the hand-off began."""
    listening: Callable[[bytes], None] | None = None
    """The first agent's listener, which the tap passes each frame on to."""
    done: bool = False

    def tap(self) -> None:
        """Keep the caller's audio from now on, while the first agent goes on hearing it."""
        session = self.handle.session
        if session is None or session.on_audio is None:
            return
        self.listening = listening = session.on_audio
        heard = self.heard

        def tap(frame: bytes) -> None:
            heard.append(frame)
            listening(frame)

        session.on_audio = tap

    def untap(self) -> None:
        """The first agent hears the caller alone again."""
        session = self.handle.session
        if session is not None and self.listening is not None:
            session.on_audio = self.listening
        self.listening = None

    def switch(self, messages: Sequence[dict[str, Any]], meanwhile: Sequence[str] = ()) -> bool:
        """Make the call the target line's (see the module docstring); False: the call
        ended first (the target's agent is closed, the first one keeps the call)."""
        if self.done:
            return False
        handle, path, line, agent = self.handle, self.path, self.line, self.agent
        if handle.ended:
            self.path.spawn(self.cancel())
            return False
        self.done = True
        self.untap()
        first = handle.agent
        session = handle.session
        kept_in = None
        if session is not None:
            session.on_audio = None
            kept_in = session.heard_format  # the tap's, for the first agent
        handle.use_agent(agent, self.capabilities)  # the media converts to its formats now
        handle.line = line.name
        handle.prepare_line = _switch_of(path, handle, line)
        handle.gate = DialGate(line.dial_policy, path.counted)
        handle.lines.append((line.name, time.time()))
        path.feed.line_switched(handle, agent)
        if agent.record is not None:
            agent.record.write({"type": "line", "line": line.name, "agent": line.agent})
        if session is not None and self.capabilities.arrival_audio:
            if self.hand_over.stt is None and kept_in is not None:
                # what its own session has not heard yet, in the format it hears
                for frame in reformatted(self.heard, kept_in, session.heard_format):
                    agent.on_caller_audio(frame)
            session.on_audio = agent.on_caller_audio
        self.heard.clear()
        handle.log.info("handed to line %s (agent %s)", line.name, line.agent)
        if isinstance(agent, TakesOver):
            agent.take_over(messages, meanwhile)
        else:
            agent.on_answered()
        if session is not None and not session.params.send:
            agent.on_hold(True)  # the caller holds the call: its new agent hears no speech
        if first is not None:
            path.close_agent(handle, first, "handed-off")
        return True

    async def cancel(self) -> None:
        """Give the target's agent up: the first agent keeps the call."""
        if self.done:
            return
        self.done = True
        self.untap()
        self.heard.clear()
        self.path.close_agent(self.handle, self.agent, "hand-off-cancelled")


def _switch_of(
    path: SwitchPath, handle: CallHandle, line: Line
) -> Callable[[HandOver], Awaitable[LineSwitch | str]]:
    """How ``handle``'s call, on ``line`` now, is handed on."""
    if line.directory is None or not line.spec.hand_off_to:
        return no_line_switch
    return partial(prepare_line, path, line, handle)


async def prepare_line(
    path: SwitchPath, line: Line, handle: CallHandle, hand_over: HandOver
) -> LineSwitch | str:
    """Build and prepare the agent of ``hand_over.line`` for ``handle``'s call, on ``line``
    now; a string says why not (the agent that asked tells the model)."""
    name = hand_over.line
    directory = line.directory
    found = directory.line(name) if directory is not None else None
    if found is None:
        return f"line {name!r} is not there now"
    target = cast(Line, found)
    if takes_over(target) is None:
        return f"line {name!r} runs agent {target.agent}, which cannot take a call over"
    first = handle.agent
    if first is None or handle.ended:
        return "the call has no agent now"
    limit = target.spec.max_calls
    if limit and sum(1 for h in path.handles.values() if h.line == name) >= limit:
        return f"line {name!r} is busy (it holds its max_calls, {limit})"
    keep = hand_over.stt is not None and same_stt(line, target)
    hand_over = dataclasses.replace(
        hand_over, history=cast(HistoryMode, target.spec.hand_off_history),
        stt=hand_over.stt if keep else None, audio=first.audio_format,
    )  # fmt: skip
    plugin = plugin_factory(target.factory)
    handle.hand_over = hand_over
    try:
        agent = plugin(handle)
    except Exception as exc:
        handle.log.error("line %s: its agent could not be built (%s)", name, exc)
        return f"line {name!r}'s agent could not start"
    finally:
        handle.hand_over = None
    agent.observer = path.observer_for(target.factory)
    agent.span = handle.span
    switch = LineSwitch(path, handle, target, agent, plugin.capabilities, hand_over)
    switch.tap()
    try:
        async with asyncio.timeout(PREPARE_TIMEOUT):
            await agent.prepare()
    except asyncio.CancelledError:
        await switch.cancel()
        raise
    except Exception as exc:
        handle.log.error("line %s: its agent failed to prepare (%s)", name, exc or type(exc))
        await switch.cancel()
        return f"line {name!r}'s agent could not start ({exc or type(exc).__name__})"
    if handle.ended:
        await switch.cancel()
        return "the call ended"
    return switch


def first_switch(path: SwitchPath, handle: CallHandle, line: Line | None) -> None:
    """A call admitted on ``line``: it remembers the line, and may be handed on from it."""
    if line is None:
        return
    handle.lines.append((line.name, time.time()))
    handle.prepare_line = _switch_of(path, handle, line)


def record_lines(handle: CallHandle) -> None:
    """At the end of a call that was handed on: its record's ``lines`` line."""
    lines = lines_line(handle, time.time())
    agent = handle.agent
    if lines is not None and agent is not None and agent.record is not None:
        agent.record.write(lines)


def lines_line(handle: CallHandle, ended: float) -> dict[str, Any] | None:
    """The record's ``lines`` line of a call that was handed on (None: it never was): each
    line with ``started`` and ``ended`` (Unix seconds)."""
    if len(handle.lines) < 2:
        return None
    ends = [at for _, at in handle.lines[1:]] + [ended]
    return {
        "type": "lines",
        "lines": [
            {"line": name, "started": round(at, 3), "ended": round(end, 3)}
            for (name, at), end in zip(handle.lines, ends, strict=True)
        ],
    }
