"""Hand-off between lines inside the call: the caller moves to another line's agent.

The model calls the tool ``hand_off(line, summary)`` (:func:`hand_off_tool`; offered only
on a line that names lines it may hand off to, its ``line`` argument one of them). The
call stays up, with no SIP transfer: the gateway builds the target line's agent while the
tool runs, and once the reply that asked for it was heard that agent becomes the call's
(:mod:`sipgw.agent.conversation.handover`: the call is the target line's in full, its
speech-to-text, barge-in, fillers, policies, limits, voice, prompt and tools), and the
target's model speaks next. The conversation so far goes with the caller as the *target* line says
(:data:`~sipgw.agent.conversation.handover.HistoryMode`): ``summary`` (only the summary the model
wrote) or ``full`` (every message, under the target's prompt).

:class:`HandOffState` is the rule of who may hand off to whom: a line hands off only to
the lines it names, one hand-off at a time, at most :data:`MAX_HAND_OFFS` per call (two
lines naming each other cannot ping-pong a caller forever; the count goes with the call
from agent to agent). Each hand-off is a ``hand_off`` record (``from``, ``to``,
``history``, ``after_answer_ms``, ``stt``: ``kept`` or ``new``).

:class:`LineHandOff` runs the tool on a call, the same way for every AI agent: the request
is checked, the call (the gateway's handle: :class:`~sipgw.agent.conversation.handover.
SwitchesLines`) builds and prepares the target line's agent while the tool runs, a refusal
or a failure is a tool error the model tells the caller about; then, once the line that
asked for it was heard (:meth:`LineHandOff._heard`, each agent's own way), this agent stops
listening and the call goes to the target's agent with the conversation so far
(:meth:`LineHandOff._switch`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sipgw.agent.base import CallControl
from sipgw.agent.callscope import CallScope, ms_between
from sipgw.agent.conversation.handover import HandOver, PreparedLine, SwitchesLines
from sipgw.agent.tools.registry import Tool, ToolContext, ToolError, ToolRegistry

__all__ = [
    "MAX_HAND_OFFS",
    "HandOffSettings",
    "HandOffState",
    "LineHandOff",
    "hand_off_tool",
    "with_hand_off",
]

MAX_HAND_OFFS: Final = 5
"""Hand-offs one call may make."""
TOOL_NAME: Final = "hand_off"


@dataclass(frozen=True, slots=True)
class HandOffSettings:
    """A line's hand-offs: its name and the lines it may hand a caller to (its
    ``hand_off_to``); the gateway's call handle does the rest
    (:class:`sipgw.agent.conversation.handover.SwitchesLines`)."""

    line: str
    targets: tuple[str, ...]


class HandOffState:
    """Who may hand the call off to whom, and what happened (see the module docstring).

    Args:
        line: the line the caller is on.
        targets: the lines it names.
        made: hand-offs the call made before this agent took it.
    """

    __slots__ = ("line", "made", "pending", "targets")

    def __init__(self, line: str, targets: tuple[str, ...], made: int = 0) -> None:
        self.line = line
        self.targets = targets
        self.made = made
        self.pending: str | None = None

    def request(self, target: str) -> str | None:
        """The model asks to hand off to ``target``: None if it may (it is pending now),
        else why not (for the model, which tells the caller)."""
        if self.pending is not None:
            return f"a hand-off to {self.pending} is already under way"
        if target == self.line:
            return f"the caller is already on line {target}"
        if target not in self.targets:
            allowed = ", ".join(self.targets) or "none"
            return f"line {target!r} is not one this line hands off to (allowed: {allowed})"
        if self.made >= MAX_HAND_OFFS:
            return f"this call was handed off {MAX_HAND_OFFS} times already"
        self.pending = target
        return None

    def cancel(self) -> None:
        """The pending hand-off cannot happen (the line is gone, its agent did not start)."""
        self.pending = None

    def complete(self) -> tuple[str, str]:
        """The pending hand-off happened: (from, to)."""
        assert self.pending is not None
        moved = (self.line, self.pending)
        self.made += 1
        self.pending = None
        return moved


HandOffRun = Callable[[str, str], Any]
"""``async (line, summary) -> str``: the agent's hand-off (raises ToolError)."""


def hand_off_tool(targets: tuple[str, ...], run: HandOffRun) -> Tool:
    """The ``hand_off`` tool for a line that may hand off to ``targets``."""

    async def handler(ctx: ToolContext, args: dict[str, Any]) -> object:
        result: object = await run(str(args["line"]), str(args.get("summary", "")))
        return result

    return Tool(
        name=TOOL_NAME,
        description=(
            "Hand the caller over to another line's agent on this same call, when what they "
            "need is that line's business. Say one short sentence first (e.g. that you put them "
            "through); the other agent speaks next."
        ),
        parameters={
            "type": "object",
            "properties": {
                "line": {"type": "string", "enum": list(targets)},
                "summary": {
                    "type": "string",
                    "maxLength": 1000,
                    "description": "Who the caller is and what they want, for the next agent.",
                },
            },
            "required": ["line", "summary"],
        },
        handler=handler,
        timeout=10.0,
    )


def with_hand_off(tools: ToolRegistry, tool: Tool | None) -> ToolRegistry:
    """``tools`` plus the hand-off tool (a new registry; ``tools`` is shared by calls)."""
    if tool is None:
        return tools
    found = [t for name in tools.names if (t := tools.get(name)) is not None and name != TOOL_NAME]
    return ToolRegistry([*found, tool])


class LineHandOff(ABC):
    """One agent's hand-offs on its call (see the module docstring): the ``hand_off`` tool's
    run, and the switch once the line that asked for it was heard.

    Args:
        scope: the call's record, clock and tasks.
        call: the call; it hands off only when it can switch lines.
        settings: this line's name and targets.
        away: the agent's part of the switch, just before it (stop listening); None: the
            switch did not happen after all.
        made: hand-offs the call made before this agent took it.
    """

    __slots__ = ("_away", "_call", "_scope", "prepared", "state")

    def __init__(
        self,
        scope: CallScope,
        call: CallControl,
        settings: HandOffSettings,
        away: Callable[[PreparedLine | None], None],
        made: int = 0,
    ) -> None:
        self.state = HandOffState(settings.line, settings.targets, made)
        self.prepared: PreparedLine | None = None
        """The target's agent, from the tool's run to the switch."""
        self._scope = scope
        self._call = call
        self._away = away

    @property
    def pending(self) -> bool:
        """A hand-off is under way: the caller's turns are not answered here."""
        return self.state.pending is not None

    def tool(self) -> Tool | None:
        """The ``hand_off`` tool for this line (None: it names no line)."""
        targets = self.state.targets
        return hand_off_tool(targets, self.run) if targets else None

    async def run(self, line: str, summary: str) -> str:
        """The tool: check, have the target's agent prepared; the switch comes once the
        line that asked for it was heard.

        Raises:
            ToolError: it may not, or the line or its agent is not there.
        """
        state = self.state
        why_not = state.request(line)
        if why_not is not None:
            raise ToolError(f"cannot hand off: {why_not}")
        call, scope = self._call, self._scope
        if not isinstance(call, SwitchesLines):
            state.cancel()
            raise ToolError("cannot hand off: this call cannot change lines")
        try:
            prepared = await call.prepare_line(self._hand_over(line, summary))
        except BaseException:
            state.cancel()
            raise
        if isinstance(prepared, str):
            state.cancel()
            raise ToolError(f"cannot hand off: {self._refused(prepared)}")
        self.prepared = prepared
        scope.write({"type": "hand_off_pending", "from": state.line, "to": line})
        scope.spawn(self._switch_when_heard(prepared))
        return f"The caller goes to line {line} after this reply. Say one short sentence at most."

    async def _switch_when_heard(self, prepared: PreparedLine) -> None:
        try:
            await self._heard()
        except BaseException:
            self.state.cancel()
            self.prepared = None
            await prepared.cancel()
            raise
        scope = self._scope
        origin, to = self.state.complete()
        hand_over = prepared.hand_over
        answered = scope.answered_at or None
        scope.write({"type": "hand_off", "from": origin, "to": to, "history": hand_over.history,
                     "stt": "kept" if hand_over.stt is not None else "new",
                     "after_answer_ms": ms_between(scope.now(), answered)})  # fmt: skip
        self._away(prepared)  # it stops listening first: the target reads a kept session
        if not self._switch(prepared):
            self._away(None)  # the call ended meanwhile: this agent keeps it, to close it

    def _hand_over(self, line: str, summary: str) -> HandOver:
        """What goes to ``line``'s agent with the caller (the agent may add its session)."""
        state, scope = self.state, self._scope
        return HandOver(
            state.line, line, summary, record=scope.record, answered_at=scope.answered_at,
            hand_offs=state.made + 1,
        )  # fmt: skip

    def _refused(self, why: str) -> str:
        """Why the hand-off cannot be, as the model reads it."""
        return why

    @abstractmethod
    async def _heard(self) -> None:
        """Return once the line that asked for the hand-off was heard."""

    @abstractmethod
    def _switch(self, prepared: PreparedLine) -> bool:
        """Give the call to ``prepared``'s agent with the conversation so far; False: the
        call ended meanwhile."""
