"""One speech-to-speech call's scope (agent/s2s/scope.py): the call's scope and its session."""

from __future__ import annotations

import asyncio

from sipgw.agent.callscope import NO_OBSERVER
from sipgw.agent.record import CallRecord
from sipgw.agent.s2s.scope import SessionScope
from tests.agent.s2s.parts import ScriptedSession


async def test_the_scope_carries_the_session_now_and_the_calls_shared_state() -> None:
    first, second = ScriptedSession(), ScriptedSession()
    scope = SessionScope("call-42", CallRecord(None, "call-42"), asyncio.get_running_loop(), first)
    assert scope.session is first and scope.observer is NO_OBSERVER and not scope.closed
    scope.session = second  # a recovered call talks to its new session
    assert scope.session is second
    task = scope.spawn(asyncio.sleep(10))
    await scope.cancel_tasks()
    assert task.cancelled()
