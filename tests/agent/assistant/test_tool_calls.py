"""A reply's tool calls: run in parallel, results yielded as each finishes (in the order they
finish), a bug in the registry an error result, calls still running cancelled and reaped."""

from __future__ import annotations

import asyncio
from typing import Any

from sipgw.agent.assistant.replyturn import ReplyToolCall, ReplyToolResult, ReplyTurn
from sipgw.agent.assistant.tool_calls import INTERRUPTED_RESULT, ToolCalls, reap, task_result
from sipgw.agent.assistant.transcript import TranscriptRecorder
from sipgw.agent.services.llm.base import LlmToolCall
from sipgw.agent.tools.registry import Tool, ToolRegistry

SCHEMA = {"type": "object", "properties": {"seconds": {"type": "number"}}}


class Call:
    call_id = "tools-call@test"


async def nap(ctx: object, args: dict[str, Any]) -> object:
    await asyncio.sleep(float(args["seconds"]))
    return {"slept": args["seconds"]}


def runner(records: list[dict[str, Any]]) -> ToolCalls:
    tools = ToolRegistry([Tool("nap", "Sleeps.", SCHEMA, nap, filler="One moment.")])
    ctx: Any = Call()
    return ToolCalls(tools, ctx, TranscriptRecorder(records.append, ctx))


async def test_calls_run_together_and_answer_as_each_finishes() -> None:
    records: list[dict[str, Any]] = []
    turn = ReplyTurn(started_at=0.0)
    turn.calls.extend([LlmToolCall("slow", "nap", '{"seconds": 0.2}'),
                       LlmToolCall("quick", "nap", '{"seconds": 0.01}')])  # fmt: skip
    started = asyncio.get_running_loop().time()
    events = [event async for event in runner(records).run(turn)]
    assert asyncio.get_running_loop().time() - started < 0.2 + 0.15  # not one after the other
    assert [(type(e).__name__, e.id) for e in events] == [
        ("ReplyToolCall", "slow"), ("ReplyToolCall", "quick"),
        ("ReplyToolResult", "quick"), ("ReplyToolResult", "slow"),
    ]  # fmt: skip
    assert isinstance(events[0], ReplyToolCall) and events[0].filler == "One moment."
    result = events[3]
    assert isinstance(result, ReplyToolResult) and result.ok and '"slept": 0.2' in result.content
    assert turn.tool_calls == 2 and sorted(turn.results) == [0, 1]
    assert [r["id"] for r in records] == ["quick", "slow"]


async def test_an_abandoned_reply_cancels_what_still_runs() -> None:
    turn = ReplyTurn(started_at=0.0)
    turn.calls.append(LlmToolCall("long", "nap", '{"seconds": 5}'))
    events = runner([]).run(turn)
    assert isinstance(await anext(events), ReplyToolCall)
    await events.aclose()
    ToolCalls.stop(turn)
    (task,) = turn.cancelled
    await reap(turn)
    assert task.cancelled() and not turn.cancelled
    assert task_result(task).content == INTERRUPTED_RESULT


async def test_a_bug_in_the_registry_is_an_error_result() -> None:
    async def bug() -> Any:
        raise RuntimeError("registry bug")

    task = asyncio.ensure_future(bug())
    await asyncio.gather(task, return_exceptions=True)
    result = task_result(task)
    assert not result.ok and result.content == '{"error": "internal error"}'
