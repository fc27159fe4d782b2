"""Preemptive replies: an LLM request started on a stable partial transcript, held.

:class:`PreemptiveRequest` starts ``llm.stream`` on the history plus the
partial transcript as the user's message, and buffers every event it yields:
nothing is spoken and no tool runs while it is preemptive. At the end of turn
the agent either *adopts* it (the final says the same words,
:func:`agent.turns.same_words`, and the history did not change meanwhile):
:meth:`PreemptiveRequest.events` replays the buffer and then follows the live
stream, as the first LLM round of the real reply, so tool calls it asks for run
only then, through the usual tool loop; or *cancels* it: the task closes the
stream (the HTTP response is closed, the service stops generating) and the
reply starts afresh on the final transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from typing import Any, cast

from agent.llm.base import ChatLLM, LlmError, LlmEvent

__all__ = ["PreemptiveRequest"]

_END = object()


class PreemptiveRequest:
    """One LLM request started before the end of turn; see the module docstring.

    Attributes:
        text: the partial transcript it answers.
        history_length: how many messages of the history it was sent with
            (before the partial user message).
        started_at: loop time it started.
    """

    def __init__(
        self,
        llm: ChatLLM,
        history: Sequence[Mapping[str, Any]],
        text: str,
        tools: Sequence[Mapping[str, object]],
        tool_choice: str | None,
    ) -> None:
        self.text = text
        self.history_length = len(history)
        self._history = [dict(message) for message in history]
        loop = asyncio.get_running_loop()
        self.started_at = loop.time()
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        messages = [*history, {"role": "user", "content": text}]
        self._task = loop.create_task(self._consume(llm, messages, tools, tool_choice))

    async def _consume(
        self,
        llm: ChatLLM,
        messages: Sequence[Mapping[str, object]],
        tools: Sequence[Mapping[str, object]],
        tool_choice: str | None,
    ) -> None:
        try:
            async with aclosing(llm.stream(messages, tools, tool_choice=tool_choice)) as stream:
                async for event in stream:
                    self._queue.put_nowait(event)
        except LlmError as exc:
            self._queue.put_nowait(exc)
        finally:
            self._queue.put_nowait(_END)

    def matches_history(self, history: Sequence[Mapping[str, Any]]) -> bool:
        """Whether ``history`` (before the user's final message) is what it was sent with."""
        return len(history) == self.history_length and all(
            dict(a) == b for a, b in zip(history, self._history, strict=True)
        )

    async def events(self) -> AsyncGenerator[LlmEvent, None]:
        """The stream's events: those buffered so far, then the live ones (adopt once).

        Raises:
            LlmError: as ``ChatLLM.stream`` would.
        """
        try:
            while True:
                item = await self._queue.get()
                if item is _END:
                    return
                if isinstance(item, LlmError):
                    raise item
                yield cast(LlmEvent, item)
        finally:
            await self.cancel()

    async def cancel(self) -> None:
        """Stop the request (closes its stream) and wait until it has stopped."""
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
