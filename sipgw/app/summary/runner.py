"""Post-call summaries, run after the hang-up: one bounded LLM request per answered call.

:class:`PostCallSummaries` follows the call feed: when an answered call with a transcript
ends and its line wants a summary (its ``summary``, else ``SIPGW_SUMMARY``), it waits for
the agent's record to be complete, then asks the chat model
(:mod:`~sipgw.app.summary.request`), at most :data:`MAX_AT_ONCE` at a time and each within
``SIPGW_SUMMARY_TIMEOUT``. The result goes into the call's feed entry (the admin API's
call detail), a ``summary`` line appended to its call record, and the ``call.ended``
webhook, which asks :meth:`~PostCallSummaries.result` and so waits for it.
A failure or a timeout is logged and the call simply has no summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sipgw.app.calls.callfeed import CallEntry, CallFeed, FeedEvent, RecordEnds
from sipgw.app.lines.reload import Lines
from sipgw.app.lines.routesfile import LineSpec
from sipgw.app.summary.request import (
    TOOL_NAME,
    messages,
    read_arguments,
    summary_tool,
    transcript_text,
)
from sipgw.app.summary.settings import SummarySection
from sipgw.app.webhooks.events import transcript
from sipgw.foundation.settings import Sources, load, require
from sipgw.foundation.stopping import finish_or_cancel

if TYPE_CHECKING:
    from sipgw.agent.services.llm.base import ChatLLM

__all__ = ["MAX_AT_ONCE", "PostCallSummaries", "summaries_wanted", "summary_llm"]

log = logging.getLogger("sipgw.summary")

MAX_AT_ONCE = 4
"""Summary requests in flight at once; the others wait their turn (inside their timeout)."""


def summaries_wanted(settings: SummarySection, lines: Lines | None) -> bool:
    """Whether any call may be summarized: ``SIPGW_SUMMARY``, or a line that says so."""
    if settings.summary:
        return True
    return lines is not None and any(line.spec.summary for line in lines.table.lines.values())


def summary_llm(sources: Sources) -> Callable[[], ChatLLM]:
    """The chat model the summaries use: ``SIPGW_LLM``'s vendor, from its settings.

    Raises:
        ConfigError: its key or another setting is missing or bad.
    """
    from sipgw.agent.conversation.sections import AssistantSection
    from sipgw.agent.services.registry import LLM_VENDORS

    vendor = LLM_VENDORS[load(AssistantSection, sources).llm]
    require((vendor.section,), sources, "the post-call summary (SIPGW_SUMMARY)")
    return vendor.clients(load(vendor.section, sources))


class PostCallSummaries:
    """Summarizes answered calls as they end (see the module docstring).

    Args:
        feed: the gateway's call feed.
        llm: the chat model.
        settings: the ``summary`` section.
        lines: the routes file's lines (each may turn summaries on or off, and give a schema).
    """

    def __init__(
        self, feed: CallFeed, llm: ChatLLM, settings: SummarySection, lines: Lines | None = None
    ) -> None:
        self.feed = feed
        self.llm = llm
        self.settings = settings
        self.lines = lines
        self.done = 0
        self.failed = 0
        self._tasks: dict[str, asyncio.Task[dict[str, Any] | None]] = {}
        self._limit = asyncio.Semaphore(MAX_AT_ONCE)
        self.record_ends = RecordEnds(feed)
        self._unsubscribe = feed.subscribe(self.on_feed)

    def line_of(self, entry: CallEntry) -> LineSpec | None:
        """The routes file's line the call took, if it is still there."""
        if self.lines is None or not entry.line:
            return None
        line = self.lines.table.lines.get(entry.line)
        return None if line is None else line.spec

    def wanted(self, entry: CallEntry) -> bool:
        """Whether this call gets a summary: answered, and its line (or the gateway) says so."""
        if entry.answered is None:
            return False
        line = self.line_of(entry)
        return (
            line.summary if line is not None and line.summary is not None else self.settings.summary
        )

    def on_feed(self, event: FeedEvent) -> None:
        """A call ended: start its summary (never waits)."""
        if event.kind == "call_ended" and (entry := self.feed.find(event.call)) is not None:
            self._task(entry)

    def _task(self, entry: CallEntry) -> asyncio.Task[dict[str, Any] | None] | None:
        task = self._tasks.get(entry.id)
        if task is None and self.wanted(entry):
            task = asyncio.get_running_loop().create_task(self._summarize(entry))
            self._tasks[entry.id] = task
            task.add_done_callback(lambda _: self._tasks.pop(entry.id, None))
        return task

    async def result(self, entry: CallEntry, line: LineSpec | None = None) -> dict[str, Any] | None:
        """The call's summary, once made (None: none wanted, or it failed); the webhooks'
        ``call.ended`` waits here."""
        task = self._task(entry)
        if task is None:
            return entry.extra.get("summary")
        return await asyncio.shield(task)

    async def _summarize(self, entry: CallEntry) -> dict[str, Any] | None:
        await self.record_ends.wait(entry)  # the agent's last words are in it
        said = transcript(entry)
        if not said:
            return None
        line = self.line_of(entry)
        schema = line.extract_schema if line is not None else None
        text = transcript_text(said, self.settings.summary_max_chars)
        started = time.monotonic()
        try:
            async with self._limit:
                async with asyncio.timeout(
                    max(0.0, self.settings.summary_timeout - (time.monotonic() - started))
                ):
                    result = await self._ask(
                        messages(self.settings.summary_prompt, text, entry.line), schema
                    )
        except Exception as exc:  # a timeout, the model's error, an answer we cannot read
            self.failed += 1
            log.warning("[%s] no post-call summary: %s", entry.id, _why(exc, self.settings))
            return None
        self.done += 1
        result["seconds"] = round(time.monotonic() - started, 2)
        entry.extra["summary"] = result
        if entry.record is not None:
            await asyncio.to_thread(_append, entry.record, {"ts": time.time(), "type": "summary",
                                                           **result})  # fmt: skip
        log.info("[%s] post-call summary made in %.1f s", entry.id, result["seconds"])
        return result

    async def _ask(
        self, conversation: list[dict[str, str]], schema: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        from sipgw.agent.services.llm.base import LlmFinished, LlmTextDelta, LlmToolCall

        tools = [summary_tool(schema)] if schema else []
        text: list[str] = []
        arguments: str | None = None
        usage: dict[str, int] | None = None
        choice = "required" if tools else None
        async with contextlib.aclosing(
            self.llm.stream(conversation, tools, tool_choice=choice)
        ) as stream:
            async for event in stream:
                if isinstance(event, LlmTextDelta):
                    text.append(event.text)
                elif isinstance(event, LlmToolCall) and event.name == TOOL_NAME:
                    arguments = event.arguments
                elif isinstance(event, LlmFinished):
                    usage = dict(event.usage) if event.usage else None
        if schema:
            if arguments is None:
                found: dict[str, Any] = {
                    "summary": "".join(text).strip(),
                    "extraction": None,
                    "extraction_problem": "no extraction returned",
                }
            else:
                found = read_arguments(arguments, schema)
        else:
            found = {"summary": "".join(text).strip()}
        return {**found, "usage": usage}

    async def stop(self, grace: float) -> None:
        """Stop following the feed; give the summaries running ``grace`` s, then close."""
        self._unsubscribe()
        await finish_or_cancel(set(self._tasks.values()), grace)
        self.record_ends.close()
        with contextlib.suppress(Exception):
            await self.llm.close()


def _append(path: Path, line: dict[str, Any]) -> None:
    """Append one JSON line to a call record (created 0600 by the agent)."""
    try:
        with path.open("a", encoding="utf-8") as record:
            record.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
    except OSError as exc:
        log.error("call record %s: %s", path, exc)


def _why(exc: Exception, settings: SummarySection) -> str:
    """What a failed summary's log line says: a timeout's own message is empty."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {settings.summary_timeout:g} s (SIPGW_SUMMARY_TIMEOUT)"
    return str(exc) or type(exc).__name__
