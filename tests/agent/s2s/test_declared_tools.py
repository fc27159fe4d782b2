"""The tools a session declares follow the MCP servers that are up (agent/s2s/declared_tools.py):
declared again with the caller's next turn when a server goes down or comes back."""

from __future__ import annotations

import asyncio
from typing import Any

from sipgw.agent.services.s2s.base import CallerSpeechStarted, SessionFailed
from tests.agent.parts import settle
from tests.agent.s2s.parts import LOUD, SILENCE, rig
from tests.agent.tools.test_limits import Provider


def declared(sent: list[tuple[Any, ...]]) -> list[Any]:
    return [entry[1] for entry in sent if entry[0] == "tools"]


async def test_a_server_down_is_left_out_at_the_next_turn_and_back_when_it_is_up() -> None:
    r = rig()
    server = Provider("time__", ["now"])
    r.agent.tools.add_provider(server)
    await r.agent.prepare()
    assert r.session.config is not None
    assert "time__now" in [t.name for t in r.session.config.tools]
    server.why = "the time server is down"
    r.session.push(CallerSpeechStarted(r.agent.loop.time()))  # the service hears a turn
    await settle()
    (names,) = declared(r.session.sent)
    assert "time__now" not in names and "end_call" in names
    (line,) = r.record("tools_declared")
    assert line["removed"] == ["time__now"] and line["added"] == []
    r.session.push(CallerSpeechStarted(r.agent.loop.time()))  # nothing changed: nothing sent
    await settle()
    assert len(declared(r.session.sent)) == 1
    server.why = ""
    r.caller([SILENCE] * 5 + [LOUD] * 20)  # the local VAD's start of speech too
    await settle()
    assert "time__now" in declared(r.session.sent)[-1]
    assert r.record("tools_declared")[-1]["added"] == ["time__now"]
    assert r.agent.declared.specs == r.agent.declared.refreshed()
    await r.agent.close()


async def test_a_session_opened_after_a_failure_declares_the_tools_up_then() -> None:
    r = rig()
    server = Provider("time__", ["now"])
    r.agent.tools.add_provider(server)
    await r.agent.prepare()
    server.why = "down"
    await asyncio.wait_for(r.agent.recovery.failed(SessionFailed("gone"), r.agent._listen), 2)
    assert len(r.sessions) == 2 and r.session.config is not None
    names = [t.name for t in r.session.config.tools]
    assert "time__now" not in names and "end_call" in names
    await r.agent.close()
