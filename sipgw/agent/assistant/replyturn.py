"""One reply of the conversation: the events :meth:`~sipgw.agent.assistant.conversation.
Conversation.reply` yields, and the reply's state while it runs (:class:`ReplyTurn`), which
the conversation, its tool calls (:mod:`sipgw.agent.assistant.tool_calls`) and its history
(:mod:`sipgw.agent.assistant.history`) share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sipgw.agent.services.llm.base import LlmEvent, LlmToolCall
from sipgw.agent.tools.registry import ToolResult

__all__ = [
    "ReplyDone",
    "ReplyEvent",
    "ReplySentence",
    "ReplyTimings",
    "ReplyToolCall",
    "ReplyToolResult",
    "ReplyTurn",
]


@dataclass(frozen=True, slots=True)
class ReplySentence:
    """A complete sentence to speak."""

    text: str
    fallback: bool = False
    """The fallback phrase, said because the LLM failed (the agent may play it from memory)."""


@dataclass(frozen=True, slots=True)
class ReplyToolCall:
    """The model called a tool; it is running now."""

    id: str
    name: str
    arguments: str
    filler: str = ""
    """The tool's own filler line ("" = the next of the filler lines)."""


@dataclass(frozen=True, slots=True)
class ReplyToolResult:
    """A tool call finished; ``content`` is what the model sees."""

    id: str
    name: str
    ok: bool
    content: str
    elapsed: float
    source: str = ""
    """The tool's source (``builtin``, ``python``, ``http``, ``mcp``; "" if unknown)."""
    refused: str = ""
    """Why it was refused (:attr:`sipgw.agent.tools.registry.ToolResult.refused`)."""


@dataclass(frozen=True, slots=True)
class ReplyTimings:
    """When things happened, in event-loop time (``loop.time()``)."""

    started_at: float
    first_token_at: float | None
    """The first text delta or tool call of the reply."""
    first_sentence_at: float | None
    finished_at: float
    llm_rounds: int
    tool_calls: int

    @property
    def first_token_latency(self) -> float | None:
        """Seconds from the start to the first token."""
        return None if self.first_token_at is None else self.first_token_at - self.started_at

    @property
    def first_sentence_latency(self) -> float | None:
        """Seconds from the start to the first sentence."""
        if self.first_sentence_at is None:
            return None
        return self.first_sentence_at - self.started_at


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The reply is complete; always the last event."""

    text: str
    """Everything spoken in this reply (the sentences, joined)."""
    timings: ReplyTimings
    failed: bool = False
    """The LLM failed; the fallback phrase was spoken."""
    error: str | None = None
    error_kind: str | None = None
    """The :class:`~sipgw.agent.services.llm.base.LlmError` kind when ``failed`` (timeout,
    http ...)."""
    error_status: int | None = None
    """Its HTTP status, if the server answered with one."""
    usage: dict[str, int] | None = None
    """Token counts summed over the reply's LLM rounds."""


ReplyEvent = ReplySentence | ReplyToolCall | ReplyToolResult | ReplyDone
"""What :meth:`~sipgw.agent.assistant.conversation.Conversation.reply` yields."""


@dataclass(eq=False)
class ReplyTurn:
    """The state of one reply while it runs (the conversation's, its tool calls' and its
    history's)."""

    started_at: float
    spoken: list[str] = field(default_factory=list)
    assistant_messages: list[dict[str, Any]] = field(default_factory=list)
    round_text: list[str] = field(default_factory=list)
    round_spoken: list[str] = field(default_factory=list)
    calls: list[LlmToolCall] = field(default_factory=list)
    results: dict[int, ToolResult] = field(default_factory=dict)
    tasks: dict[asyncio.Task[ToolResult], int] = field(default_factory=dict)
    cancelled: list[asyncio.Task[ToolResult]] = field(default_factory=list)
    first_token_at: float | None = None
    first_sentence_at: float | None = None
    llm_rounds: int = 0
    tool_calls: int = 0
    usage: dict[str, int] | None = None
    failed: bool = False
    error: str | None = None
    error_kind: str | None = None
    error_status: int | None = None
    closed: bool = False
    first_round: AsyncGenerator[LlmEvent, None] | None = None

    def begin_round(self) -> None:
        self.round_text.clear()
        self.round_spoken.clear()
        self.calls.clear()
        self.results.clear()
        self.tasks.clear()
        self.llm_rounds += 1

    def add_usage(self, usage: Mapping[str, int] | None) -> None:
        if usage is None:
            return
        total = self.usage if self.usage is not None else {}
        for key, value in usage.items():
            if isinstance(value, int):
                total[key] = total.get(key, 0) + value
        self.usage = total

    def timings(self, finished_at: float) -> ReplyTimings:
        return ReplyTimings(
            started_at=self.started_at,
            first_token_at=self.first_token_at,
            first_sentence_at=self.first_sentence_at,
            finished_at=finished_at,
            llm_rounds=self.llm_rounds,
            tool_calls=self.tool_calls,
        )
