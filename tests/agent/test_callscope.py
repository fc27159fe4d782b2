"""One call's shared record, observer, clock and tasks (agent/callscope.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from dataclasses import dataclass

import pytest

from sipgw.agent.callscope import NO_OBSERVER, CallScope, ScopedAgent, ms_between
from sipgw.agent.playout import Playout
from sipgw.agent.record import CallRecord
from sipgw.media.quality import CallQuality
from tests.agent.parts import FakeCall, RecordingObserver, make_scope


async def test_the_scope_names_the_call_and_keeps_its_record() -> None:
    loop = asyncio.get_running_loop()
    scope = CallScope("a" * 40 + "@host", CallRecord(None, "x"), loop)
    assert scope.log_id == "a" * 40 + "@host"  # whole, as the gateway's lines name it
    assert scope.observer is NO_OBSERVER and not scope.closed and scope.answered_at == 0.0
    before = loop.time()
    assert before <= scope.now() <= loop.time()
    scope.write({"type": "note"})
    assert scope.record.lines[-1]["type"] == "note"
    scope.answered()
    assert before <= scope.answered_at <= loop.time()
    assert scope.record.lines[-1]["type"] == "answered"


def test_ms_between_rounds_and_knows_what_it_does_not_know() -> None:
    assert ms_between(1.23456, 1.0) == 234.6
    assert ms_between(None, 1.0) is None and ms_between(1.0, None) is None


async def test_nobody_observing_takes_every_report() -> None:
    NO_OBSERVER.turn_measured({"llm_first_token": 0.2})
    NO_OBSERVER.barge_in()
    NO_OBSERVER.service_error("tts", "timeout")
    NO_OBSERVER.preemptive("used")


async def test_a_task_runs_and_is_let_go() -> None:
    scope = make_scope()
    task = scope.spawn(asyncio.sleep(0, result=7))
    assert await task == 7
    await asyncio.sleep(0)
    assert not scope._tasks


async def test_a_failing_task_is_logged_with_the_call(caplog: pytest.LogCaptureFixture) -> None:
    scope = make_scope()

    async def broken() -> None:
        raise RuntimeError("a bug")

    task = scope.spawn(broken())
    await asyncio.wait({task})
    await asyncio.sleep(0)
    assert "[parts-call@test] agent task failed" in caplog.text and "a bug" in caplog.text


async def test_the_calls_end_cancels_every_task_and_waits_for_them() -> None:
    scope = make_scope(RecordingObserver())
    stopped: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.append(name)

    tasks = [scope.spawn(forever("a")), scope.spawn(forever("b"))]
    await asyncio.sleep(0)
    await scope.cancel_tasks()
    assert sorted(stopped) == ["a", "b"] and all(task.cancelled() for task in tasks)
    await asyncio.sleep(0)
    assert not scope._tasks


async def test_a_cancelled_task_leaves_no_cycle_behind() -> None:
    """Its CancelledError, whose traceback holds the task's frame (and the frame the task),
    is retrieved: the task is freed by reference counting alone."""
    scope = make_scope()

    async def holds_itself() -> None:
        me = asyncio.current_task()  # the frame refers to the task
        assert me is not None
        await asyncio.sleep(3600)

    task = scope.spawn(holds_itself())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task})
    await asyncio.sleep(0)
    gone = weakref.ref(task)
    gc.collect()
    gc.disable()
    try:
        del task
        assert gone() is None
    finally:
        gc.enable()


async def test_a_scoped_agent_keeps_its_observer_and_quality_in_its_scope() -> None:
    @dataclass
    class Quiet(ScopedAgent):
        scope: CallScope
        playout: Playout
        call: FakeCall

        def on_caller_frame(self, frame: bytes | None) -> None: ...

        def next_frame(self) -> bytes | None:
            return None

    scope, playout, call = make_scope(), Playout(), FakeCall()
    agent = Quiet(scope, playout, call)
    assert agent.observer is None  # nobody observes yet
    observer = RecordingObserver()
    agent.observer = observer
    assert scope.observer is observer and agent.observer is observer
    agent.observer = None
    assert scope.observer is NO_OBSERVER
    playout.begin("g")
    playout.push_audio("g", b"\x11" * 160)
    agent.release_playout()  # answered: held audio plays, its first frame at once
    assert not playout.held and call.ready == 1 and scope.answered_at > 0
    agent.on_quality(CallQuality(100, 0, 0.0, 1.0, None, None, None, 1, 0, 4.4))
    assert [line["type"] for line in scope.record.lines] == ["answered", "quality"]
