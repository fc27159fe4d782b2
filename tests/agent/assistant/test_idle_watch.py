"""The idle policy carried out on an assistant call (agent/assistant/idle_watch.py), on the doubles:
check-ins, the goodbye and the hang-up, and silences that do not count."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sipgw.agent.idle.policy import IdleSettings
from tests.agent.parts import Assistant, Turn, assistant, settle

AFTER = 0.2


async def tick_until(a: Assistant, done: Callable[[], bool], seconds: float = 3.0) -> float:
    """Run the agent's 20 ms ticks (the ticker's calls) until ``done()``; returns how long."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(round(seconds / 0.02)):
        await settle()
        if done():
            break
        a.agent.next_frame()
        await asyncio.sleep(0.02)
    return loop.time() - start


def quiet(checks: int = 1, line: str = "Are you still there?", **settings: Any) -> Assistant:
    idle = IdleSettings(after=AFTER, checks=checks, check_line=line, goodbye_line="Bye now.")
    a = assistant(idle=idle, **settings)
    a.agent.on_answered()
    return a


async def test_a_quiet_caller_is_checked_on_then_hung_up_on() -> None:
    a = quiet(checks=2)
    await tick_until(a, lambda: a.call.hangups > 0)
    assert a.tts.texts() == ["Are you still there?", "Are you still there?", "Bye now."]
    assert a.call.hangups == 1
    assert [r["step"] for r in a.record("idle")] == ["check_in", "check_in", "hang_up"]
    assert a.record("hangup") == [{**a.record("hangup")[0], "by": "agent", "reason": "idle"}]
    assert [e for e in a.observer.events if e[0] == "idle"] == [
        ("idle", "check_in"), ("idle", "check_in"), ("idle", "hang_up"),
    ]  # fmt: skip
    await a.agent.close("local-bye")
    assert a.record("end")[0]["hung_up_for"] == "idle"


async def test_the_model_checks_in_when_no_line_is_given() -> None:
    a = quiet(line="", script=[Turn(text="Hello, are you there?")])
    await tick_until(a, lambda: len(a.llm.requests) > 0)
    note = a.llm.requests[0][-1]
    assert note["role"] == "user" and "has said nothing for" in note["content"]
    assert a.record("idle")[0]["by"] == "model"
    await a.agent.close()


async def test_silence_on_hold_does_not_count() -> None:
    a = quiet()
    a.agent.on_hold(True)
    await tick_until(a, lambda: False, seconds=AFTER * 3)
    assert a.tts.texts() == [] and not a.record("idle")
    a.agent.on_hold(False)
    waited = await tick_until(a, lambda: bool(a.tts.texts()))
    assert a.tts.texts() == ["Are you still there?"] and waited >= AFTER - 0.02
    await a.agent.close()


async def test_off_says_nothing() -> None:
    a = assistant(idle=IdleSettings(after=None))
    a.agent.on_answered()
    await tick_until(a, lambda: False, seconds=AFTER * 3)
    assert a.tts.texts() == [] and a.call.hangups == 0
    await a.agent.close()
