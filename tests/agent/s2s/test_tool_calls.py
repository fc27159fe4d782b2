"""The model's tool calls (agent/s2s/tool_calls.py): run through the registry, recorded,
answered to the session; a reply counts the calls it made."""

from __future__ import annotations

import asyncio

from sipgw.agent.services.s2s.base import ReplyStarted, ToolCallRequested
from tests.agent.parts import settle
from tests.agent.s2s.parts import rig


async def test_a_tool_call_is_run_recorded_and_answered() -> None:
    r = rig()
    await r.agent.prepare()
    r.session.push(ReplyStarted("r1", 0.0))
    await settle()
    r.agent.tool_calls.requested(
        ToolCallRequested("r1", "c1", "get_order_status", '{"order_id": "1234"}')
    )
    for _ in range(50):
        await asyncio.sleep(0.01)
        if r.session.sent:
            break
    ((kind, call_id, output),) = r.session.sent
    assert (kind, call_id) == ("tool_result", "c1") and "shipped" in output
    (line,) = r.record("tool_call")
    assert line["name"] == "get_order_status" and line["ok"] and line["elapsed"] >= 0
    assert r.agent.voice.reply_of("r1") is not None
    assert r.agent.voice.reply_of("r1").tool_calls == 1
    await r.agent.close()


async def test_a_result_after_the_call_ended_is_not_sent() -> None:
    r = rig()
    await r.agent.prepare()
    r.agent.scope.closed = True
    r.agent.tool_calls.requested(ToolCallRequested("r9", "c1", "end_call", "{}"))
    await asyncio.sleep(0.05)
    assert r.session.sent == []
    r.agent.scope.closed = False
    await r.agent.close()
