"""Hand-off between lines inside the call: the caller moves to another line's agent.

The model calls the tool ``hand_off(line, summary)`` (:func:`hand_off_tool`; offered only
on a line that names lines it may hand off to, its ``line`` argument one of them). The
call stays up, with no SIP transfer: the gateway builds the target line's agent while the
tool runs, and once the reply that asked for it was heard that agent becomes the call's
(:mod:`sipgw.agent.conversation.handover`: the call is the target line's in full, its
speech-to-text, barge-in, fillers, policies, limits, voice, prompt and tools), and the target's
model
speaks next. The conversation so far goes with the caller as the *target* line says
(:data:`~sipgw.agent.conversation.handover.HistoryMode`): ``summary`` (only the summary the model
wrote) or ``full`` (every message, under the target's prompt).

:class:`HandOffState` is the rule of who may hand off to whom: a line hands off only to
the lines it names, one hand-off at a time, at most :data:`MAX_HAND_OFFS` per call (two
lines naming each other cannot ping-pong a caller forever; the count goes with the call
from agent to agent). Each hand-off is a ``hand_off`` record (``from``, ``to``,
``history``, ``after_answer_ms``, ``stt``: ``kept`` or ``new``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sipgw.agent.tools.registry import Tool, ToolContext, ToolRegistry

__all__ = [
    "MAX_HAND_OFFS",
    "HandOffSettings",
    "HandOffState",
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
