"""The callback scheduler on a fake clock: due now, due later, restarts, retries, two
schedulers on one file, bad rows. The store is a real SQLite file; calls are placed by
a scripted fake (the real dialing is in tests/interop/test_callbacks_peers.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sipgw.agent.amd.settings import AmdCall, AmdMode, AmdRequest
from sipgw.agent.base import NO_DETAILS, Agent, CallControl
from sipgw.agent.conversation.sections import BuiltinToolsSection, CallbackSection
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.tools.callback_store import CallbackState, CallbackStore
from sipgw.app.calls.callbacks import (
    CallbackPolicy,
    CallbackRunner,
    CallbackScheduler,
    CallbackSetup,
    DialRequest,
    DialResult,
    callback_setup,
    gateway_dialer,
    start_callbacks,
)
from sipgw.app.security.settings import DialSection
from sipgw.foundation.settings import ConfigError, Sources, load
from sipgw.sip.dialpolicy import DialPolicy
from tests.toolkit.gateway_in_process import running_gateway

T0 = 1_800_000_000.0
ANSWERED = DialResult(True, "answered (200)")
BUSY = DialResult(False, "busy (486)")
NO_ANSWER = DialResult(False, "no answer (487)")


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeDialer:
    """Answers each dial with the next scripted result (then: answered)."""

    results: list[DialResult] = field(default_factory=list)
    dialed: list[DialRequest] = field(default_factory=list)
    hold: asyncio.Event | None = None
    """When set, each call lasts until the event is set."""

    async def __call__(self, request: DialRequest) -> DialResult:
        self.dialed.append(request)
        if self.hold is not None:
            await self.hold.wait()
        return self.results.pop(0) if self.results else ANSWERED

    @property
    def targets(self) -> list[str]:
        return [r.target for r in self.dialed]


async def store_with(tmp_path: Path, rows: Iterable[tuple[str, float]]) -> CallbackStore:
    store = CallbackStore(tmp_path / "callbacks.sqlite3")
    for phone, due in rows:
        await store.add(call_id="c1", phone=phone, requested_time="in a bit", reason="your refund",
                  notes="order 1234", due_at=due, now=T0 - 600)  # fmt: skip
    return store


ANY_NUMBER = DialPolicy(["+*", "[0-9]*"])
"""An allow-list admitting every number, for tests about something else than toll fraud."""


def scheduler(store: CallbackStore, dialer: FakeDialer, **policy: object) -> CallbackScheduler:
    """Callbacks may dial any number unless the test sets ``allowed_prefixes``."""
    if "allowed_prefixes" not in policy:
        policy.setdefault("dial_policy", ANY_NUMBER)
    settings = CallbackPolicy(**policy)  # type: ignore[arg-type]
    return CallbackScheduler(store, dialer, settings, owner_alive=lambda _: True)


async def state(store: CallbackStore, row_id: int) -> tuple[str, int, str]:
    row = await store.get(row_id)
    assert row is not None
    return row.state.value, row.attempts, row.last_outcome


async def test_a_due_callback_is_dialed_once_with_its_purpose(tmp_path: Path) -> None:
    store = await store_with(tmp_path, [("+15551234567", T0 - 1), ("+15550000000", T0 + 60)])
    dialer = FakeDialer()
    clock = Clock()
    sched = scheduler(store, dialer)
    results = await sched.run_due(clock)
    assert results == [ANSWERED]
    (request,) = dialer.dialed
    assert request.target == "+15551234567"
    assert request.purpose.reason == "your refund" and request.purpose.notes == "order 1234"
    assert request.purpose.callback_id == 1
    assert await state(store, 1) == ("done", 1, "answered (200)")
    assert await state(store, 2) == ("pending", 0, "")
    assert await sched.run_due(clock) == []  # done is done
    assert await sched.next_wakeup(clock(), 300.0) == T0 + 60  # the next due time
    assert await sched.next_wakeup(clock(), 30.0) == T0 + 30  # or the next poll


async def test_a_later_callback_waits_for_its_time(tmp_path: Path) -> None:
    store = await store_with(tmp_path, [("+15551234567", T0 + 3600)])
    dialer = FakeDialer()
    clock = Clock()
    sched = scheduler(store, dialer)
    assert await sched.run_due(clock) == []
    clock.now = T0 + 3599
    assert await sched.run_due(clock) == []
    clock.now = T0 + 3600
    assert await sched.run_due(clock) == [ANSWERED]
    assert dialer.targets == ["+15551234567"]


async def test_unanswered_callbacks_are_retried_after_the_delay_then_fail(tmp_path: Path) -> None:
    store = await store_with(tmp_path, [("+15551234567", T0)])
    dialer = FakeDialer([BUSY, NO_ANSWER, BUSY])
    clock = Clock()
    sched = scheduler(store, dialer, attempts=3, retry_delay=300.0)
    await sched.run_due(clock)
    assert await state(store, 1) == ("pending", 1, "busy (486)")
    clock.now += 299
    assert await sched.run_due(clock) == []  # not before the retry delay
    clock.now += 1
    await sched.run_due(clock)
    assert await state(store, 1) == ("pending", 2, "no answer (487)")
    clock.now += 300
    await sched.run_due(clock)
    assert await state(store, 1) == ("failed", 3, "busy (486)")
    clock.now += 3600
    assert await sched.run_due(clock) == []
    assert len(dialer.dialed) == 3


async def test_a_retry_that_is_answered_is_done(tmp_path: Path) -> None:
    store = await store_with(tmp_path, [("+15551234567", T0)])
    dialer = FakeDialer([NO_ANSWER])
    clock = Clock()
    sched = scheduler(store, dialer, retry_delay=60.0)
    await sched.run_due(clock)
    clock.now += 60
    await sched.run_due(clock)
    assert await state(store, 1) == ("done", 2, "answered (200)")


async def test_a_dialer_that_raises_counts_as_a_failed_attempt(tmp_path: Path) -> None:
    store = await store_with(tmp_path, [("+15551234567", T0)])

    async def broken(request: DialRequest) -> DialResult:
        raise OSError("network unreachable")

    sched = CallbackScheduler(store, broken, CallbackPolicy(attempts=2, dial_policy=ANY_NUMBER))
    assert await sched.run_due(Clock()) == [
        DialResult(False, "error: OSError: network unreachable")
    ]
    assert await state(store, 1) == ("pending", 1, "error: OSError: network unreachable")


async def test_overdue_callbacks_are_dialed_at_start(tmp_path: Path) -> None:
    """Due while no gateway ran: a new scheduler dials them at once."""
    store = await store_with(tmp_path, [("+15551234567", T0 - 86400), ("+15550000001", T0 - 10)])
    dialer = FakeDialer()
    await scheduler(store, dialer).run_due(Clock())
    assert dialer.targets == ["+15551234567", "+15550000001"]  # oldest first


async def test_a_row_left_dialing_by_a_crash_is_retried_once_its_lease_runs_out(
    tmp_path: Path,
) -> None:
    store = await store_with(tmp_path, [("+15551234567", T0)])
    clock = Clock()
    crashed = scheduler(store, FakeDialer(), lease=120.0)
    (request,) = await crashed.claim_due(clock())  # claimed, then the process "dies"
    assert await state(store, 1) == ("dialing", 1, "")
    dialer = FakeDialer()
    restarted = scheduler(store, dialer, lease=120.0)
    clock.now += 60
    assert await restarted.run_due(clock) == []  # the claim still holds
    clock.now += 61
    assert await restarted.run_due(clock) == [ANSWERED]
    assert await state(store, 1) == ("done", 2, "answered (200)")


async def test_a_row_whose_claimer_process_is_gone_is_retried_at_once(tmp_path: Path) -> None:
    store = await store_with(tmp_path, [("+15551234567", T0)])
    clock = Clock()
    policy = CallbackPolicy(dial_policy=ANY_NUMBER)
    crashed = CallbackScheduler(store, FakeDialer(), policy, owner="host:4242:dead")
    await crashed.claim_due(clock())
    dialer = FakeDialer()
    restarted = CallbackScheduler(
        store,
        dialer,
        policy,
        owner="host:4343:new",
        owner_alive=lambda owner: owner != "host:4242:dead",
    )
    assert await restarted.run_due(clock) == [ANSWERED]
    assert await state(store, 1) == ("done", 2, "answered (200)")


async def test_a_crash_during_the_last_attempt_fails_the_callback(tmp_path: Path) -> None:
    store = await store_with(tmp_path, [("+15551234567", T0)])
    clock = Clock()
    crashed = scheduler(store, FakeDialer(), attempts=1, lease=10.0)
    await crashed.claim_due(clock())
    clock.now += 11
    dialer = FakeDialer()
    assert await scheduler(store, dialer, attempts=1).run_due(clock) == []
    assert await state(store, 1) == ("failed", 1, "interrupted: the dialing process stopped")
    assert dialer.dialed == []


async def test_two_schedulers_on_one_file_never_dial_a_callback_twice(tmp_path: Path) -> None:
    store = await store_with(tmp_path, [(f"+1555000000{i}", T0) for i in range(6)])
    path = tmp_path / "callbacks.sqlite3"
    hold = asyncio.Event()
    first, second = FakeDialer(hold=hold), FakeDialer(hold=hold)
    one = scheduler(CallbackStore(path), first, max_concurrent=4)
    two = scheduler(CallbackStore(path), second, max_concurrent=4)
    clock = Clock()
    runs = [asyncio.ensure_future(s.run_due(clock)) for s in (one, two)]
    await asyncio.sleep(0.2)  # both claimed what they could while the calls last
    # Each dial is in progress in one scheduler only; the other found it claimed.
    claimed = [r.callback.id for r in first.dialed] + [r.callback.id for r in second.dialed]
    assert sorted(claimed) == [1, 2, 3, 4, 5, 6]
    assert len(first.dialed) <= 4 and len(second.dialed) <= 4
    # A third pass while they ring finds nothing to claim.
    third = FakeDialer()
    assert await scheduler(CallbackStore(path), third).run_due(clock) == []
    hold.set()
    await asyncio.gather(*runs)
    assert {(await state(store, i))[:2] for i in range(1, 7)} == {("done", 1)}


async def test_bad_rows_are_reported_failed_and_the_rest_are_dialed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await store_with(
        tmp_path,
        [("sip:premium@evil.example", T0), ("+900123456", T0), ("+15551234567", T0)],
    )
    # A row from before callbacks were dialed: no due time.
    with sqlite3.connect(tmp_path / "callbacks.sqlite3") as db:
        db.execute(
            "INSERT INTO callbacks (created_at, call_id, phone, requested_time, reason)"
            " VALUES ('2025-01-01T00:00:00+00:00', 'old', '+15550000000', 'tomorrow', '')"
        )
    dialer = FakeDialer()
    sched = scheduler(store, dialer, allowed_prefixes=("+1",))
    with caplog.at_level("WARNING", logger="sipgw.callbacks"):
        assert await sched.run_due(Clock()) == [ANSWERED]
    assert dialer.targets == ["+15551234567"]
    assert await state(store, 1) == (
        "failed",
        0,
        "'sip:premium@evil.example' is not a phone number",
    )
    assert await state(store, 2) == ("failed", 0, "+900123456 is not allowed "
                               "(SIPGW_CALLBACK_ALLOWED_PREFIXES, SIPGW_DIAL_ALLOW)")  # fmt: skip
    assert (await state(store, 4))[0] == "failed" and "no due time" in (await state(store, 4))[2]
    assert len([r for r in caplog.records if "cannot be dialed" in r.message]) == 3


async def test_an_old_table_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE callbacks (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT"
            " NULL, call_id TEXT NOT NULL, phone TEXT NOT NULL, requested_time TEXT NOT NULL,"
            " reason TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending')"
        )
    store = CallbackStore(path)
    row_id = await store.add(call_id="c", phone="+15551234567", requested_time="now", reason="",
                       notes="", due_at=T0, now=T0)  # fmt: skip
    row = await store.get(row_id)
    assert row is not None and row.state is CallbackState.PENDING and row.due_at == T0


async def test_the_uri_template_makes_the_target(tmp_path: Path) -> None:
    store = await store_with(tmp_path, [("+15551234567", T0)])
    dialer = FakeDialer()
    await scheduler(store, dialer, uri_template="sip:{number}@pbx.example.com").run_due(Clock())
    assert dialer.targets == ["sip:+15551234567@pbx.example.com"]


async def test_the_runner_dials_a_callback_stored_while_it_runs(tmp_path: Path) -> None:
    """The asyncio loop around the scheduler: wakes at the due time, renews, stops."""
    store = await store_with(tmp_path, [])
    dialer = FakeDialer()
    runner = CallbackRunner(scheduler(store, dialer), poll_interval=0.05)
    runner.start()
    try:
        await asyncio.sleep(0.1)
        await store.add(call_id="c", phone="+15551234567", requested_time="now", reason="r",
                  notes="", due_at=time.time(), now=time.time())  # fmt: skip
        for _ in range(100):
            if dialer.dialed and (await state(store, 1))[0] == "done":
                break
            await asyncio.sleep(0.05)
        assert dialer.targets == ["+15551234567"]
        assert await state(store, 1) == ("done", 1, "answered (200)")
    finally:
        await runner.stop()


async def test_a_callback_stored_during_a_pass_is_dialed_at_once(tmp_path: Path) -> None:
    """The agent stores a callback (and wakes the runner) while the runner is in a pass,
    awaiting its store: the next pass follows at once. The wake-up was lost when the loop
    cleared it after the pass: the callback waited a poll interval (30 s here)."""
    store = await store_with(tmp_path, [])
    dialer = FakeDialer()
    inside, release = asyncio.Event(), asyncio.Event()
    slow = scheduler(store, dialer)
    next_wakeup = slow.next_wakeup

    async def held_next_wakeup(now: float, poll_interval: float) -> float:
        wake = await next_wakeup(now, poll_interval)  # nothing due: in 30 s
        if not inside.is_set():  # the first pass's end: held until the callback is stored
            inside.set()
            await asyncio.wait_for(release.wait(), 5)
        return wake

    slow.next_wakeup = held_next_wakeup  # type: ignore[method-assign]
    runner = CallbackRunner(slow, poll_interval=30.0)
    runner.start()
    try:
        for _ in range(100):
            if inside.is_set():
                break
            await asyncio.sleep(0.05)
        await store.add(call_id="c", phone="+15551234567", requested_time="now", reason="r",
                  notes="", due_at=time.time(), now=time.time())  # fmt: skip
        runner.wake()
        release.set()
        for _ in range(100):
            if dialer.dialed:
                break
            await asyncio.sleep(0.05)
        assert dialer.targets == ["+15551234567"]
    finally:
        await runner.stop()


@dataclass(frozen=True)
class FakeOutcome:
    answered: bool
    text: str

    def describe(self) -> str:
        return self.text


class FakeCallee:
    call_id, caller, called = "out-1", "sip:sipgw@127.0.0.1", "sip:+15551234567@pbx"
    direction = "inbound"  # what the gateway's handle says; the callback wrapper overrides it
    purpose = None
    leg = "sip"
    details = NO_DETAILS

    def hangup(self, status: int = 480) -> None: ...
    def send_dtmf(self, digits: str) -> None: ...
    def audio_ready(self, continuing: bool = False) -> None: ...
    def clear_audio(self) -> int:
        return 0

    async def transfer(self, target: str, summary: str = "") -> bool:
        return False


@dataclass
class FakeGateway:
    """Places calls by building the agent as Gateway.place_call does once answered."""

    agents: list[object] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    async def place_call(
        self, target: str, *, agent: Any = None, for_agent: bool = False
    ) -> FakeOutcome:
        assert for_agent  # callbacks are dialed on the agent's behalf: the allow-list applies
        self.targets.append(target)
        self.agents.append(agent(FakeCallee()))
        return FakeOutcome(True, "answered, 12.0 s, ended by remote-bye")


async def test_start_callbacks_dials_through_the_gateway_with_the_purpose(tmp_path: Path) -> None:
    store = await store_with(tmp_path, [("+15551234567", time.time() - 1)])
    seen: list[Any] = []

    def factory(call: Any) -> Any:
        seen.append((call.direction, call.purpose, call.called))
        return object()

    gateway = FakeGateway()
    policy = CallbackPolicy(uri_template="sip:{number}@127.0.0.1:5080", dial_policy=ANY_NUMBER)
    setup = CallbackSetup((tmp_path / "callbacks.sqlite3"), policy)
    runner = start_callbacks(setup, gateway, factory)
    assert runner is not None
    try:
        for _ in range(100):
            if (await state(store, 1))[0] == "done":
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert gateway.targets == ["sip:+15551234567@127.0.0.1:5080"]
    ((direction, purpose, called),) = seen
    assert direction == "outbound" and purpose.reason == "your refund" and purpose.callback_id == 1
    assert called == "sip:+15551234567@pbx"
    assert await state(store, 1) == ("done", 1, "answered, 12.0 s, ended by remote-bye")


async def test_a_callback_runs_the_gateways_default_detection(tmp_path: Path) -> None:
    """docs/amd.md: ``SIPGW_AMD`` reaches every placed call that says nothing, callbacks
    included. A callback is dialed through the gateway (``gateway_dialer``, as ``sipgw
    serve`` does) to an echo gateway; its agent, told why it calls, sees the call's
    ``amd`` through the callback's view of the call (which once hid it: the assistant
    then ran no detection on callbacks)."""
    seen: list[tuple[str, AmdRequest | None]] = []

    def factory(call: CallControl) -> Agent:
        seen.append((call.direction, call.amd if isinstance(call, AmdCall) else None))
        return EchoAgent(call, 0)

    async with running_gateway(lambda call: EchoAgent(call, 0), max_call_seconds=0.3) as (
        callee,
        _,
    ):
        target = f"sip:+15551234567@127.0.0.1:{callee.ua.config.sip_port}"
        async with running_gateway(factory, env={"SIPGW_DIAL_ALLOW": target}) as (gateway, _):
            config = gateway.outbound.config
            gateway.outbound.config = dataclasses.replace(config, amd=AmdMode.HANG_UP)
            store = await store_with(tmp_path, [("+15551234567", T0 - 1)])
            template = target.replace("+15551234567", "{number}")
            policy = CallbackPolicy(uri_template=template, dial_policy=ANY_NUMBER)
            callbacks = CallbackScheduler(
                store, gateway_dialer(gateway, factory), policy, owner_alive=lambda _: True
            )
            (result,) = await callbacks.run_due(lambda: T0)
    assert result.answered, result
    assert seen == [("outbound", AmdRequest(AmdMode.HANG_UP))]
    assert (await state(store, 1))[0] == "done"


async def test_the_callback_setup_comes_from_its_sections(tmp_path: Path) -> None:
    sources = Sources(
        {
            "SIPGW_CALLBACK_ATTEMPTS": "5",
            "SIPGW_CALLBACK_ALLOWED_PREFIXES": "+1, +44",
            "SIPGW_CALLBACK_DB": str(tmp_path / "cb.sqlite3"),
        }
    )
    setup = callback_setup(
        load(BuiltinToolsSection, sources), load(CallbackSection, sources), DialSection()
    )
    assert setup == CallbackSetup(
        tmp_path / "cb.sqlite3", CallbackPolicy(attempts=5, allowed_prefixes=("+1", "+44"))
    )
    with pytest.raises(ConfigError, match="^SIPGW_CALLBACK_URI=sip:pbx: must be a sip:"):
        load(CallbackSection, Sources({"SIPGW_CALLBACK_URI": "sip:pbx"}))
    assert start_callbacks(setup, object(), lambda call: None) is None  # type: ignore[arg-type,return-value]


_TWO_PROCESS_SCRIPT = """
import asyncio, json, sys, time
from pathlib import Path
from sipgw.sip.dialpolicy import DialPolicy
from sipgw.agent.tools.callback_store import CallbackStore
from sipgw.app.calls.callbacks import CallbackPolicy, CallbackScheduler, DialResult

db, go, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
dialed = []

async def place(request):
    dialed.append(request.callback.id)
    await asyncio.sleep(0.3)  # the call lasts: the other process must find the row claimed
    return DialResult(True, "answered")

async def main():
    while not go.exists():
        await asyncio.sleep(0.01)
    policy = CallbackPolicy(max_concurrent=20, dial_policy=DialPolicy(["+*"]))
    scheduler = CallbackScheduler(CallbackStore(db), place, policy,
                                  owner=name, owner_alive=lambda owner: True)
    for _ in range(5):
        await scheduler.run_due(time.time)
    print(json.dumps(dialed))

asyncio.run(main())
"""


def test_two_processes_on_one_file_never_dial_a_callback_twice(tmp_path: Path) -> None:
    rows = [(f"+155500000{i:02d}", time.time() - 1) for i in range(12)]
    store = asyncio.run(store_with(tmp_path, rows))
    path = tmp_path / "callbacks.sqlite3"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _TWO_PROCESS_SCRIPT, str(path), str(go), f"p{n}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    go.touch()
    outputs = [json.loads(proc.communicate(timeout=60)[0]) for proc in procs]
    first, second = (set(ids) for ids in outputs)
    assert sum(map(len, outputs)) == 12 and not first & second
    assert first | second == set(range(1, 13))
    done = asyncio.run(store.rows())
    assert {(r.state.value, r.attempts, r.last_outcome) for r in done} == {("done", 1, "answered")}
    assert len(done) == 12
