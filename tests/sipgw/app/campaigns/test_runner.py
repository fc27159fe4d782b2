"""The asyncio runner with a scripted dialer over a real store: it dials what the scheduler
claims, records outcomes, retries, hands events on; stopped mid-call, the next run recovers
the contact; and the gateway dialer maps a placed call to an attempt."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sipgw.agent.dialpolicy import DialRefused
from sipgw.app.campaigns.model import (
    CampaignLimits,
    Contact,
    ContactRow,
    ContactState,
    campaign_spec,
)
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.app.campaigns.runner import CampaignRunner, gateway_dialer
from sipgw.app.campaigns.scheduler import (
    CampaignEvent,
    CampaignFinished,
    CampaignScheduler,
    DialOrder,
)
from sipgw.app.campaigns.store import CampaignStore


async def until(condition: Any, within: float = 30.0) -> None:
    """Until ``condition()`` (or what it returns, awaited) is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await _value(condition()):
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _value(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def progress(store: CampaignStore, field: str, wanted: int) -> Any:
    """A condition for :func:`until`: the campaign's ``field`` count is ``wanted``."""

    async def check() -> bool:
        return bool(getattr(await store.progress(1), field) == wanted)

    return check


async def store_with(tmp_path: Path, numbers: list[str], **fields: object) -> CampaignStore:
    store = CampaignStore(tmp_path / "c.sqlite3")
    spec = campaign_spec({"name": "t", "hours": "00:00-24:00", **fields},
                         CampaignLimits(max_per_second=100))  # fmt: skip
    await store.create(
        spec, [Contact(n, {}, "UTC", i + 1) for i, n in enumerate(numbers)], time.time()
    )
    return store


async def test_dials_records_retries_and_tells(tmp_path: Path) -> None:
    store = await store_with(tmp_path, ["+15550001", "+15550002"], per_second=50, concurrency=2,
                       retry={"busy": 0.1})  # fmt: skip
    script = {"+15550001": ["busy", "person"], "+15550002": ["person"]}
    dialled: list[str] = []
    events: list[CampaignEvent] = []

    async def dial(order: DialOrder) -> Attempt:
        dialled.append(order.contact.number)
        await asyncio.sleep(0.05)
        return Attempt(script[order.contact.number].pop(0), "scripted")

    runner = CampaignRunner(CampaignScheduler(store, "host:1:x"), dial, poll_interval=0.5,
                            on_events=events.extend)  # fmt: skip
    runner.start()
    try:
        await until(lambda: any(isinstance(e, CampaignFinished) for e in events))
    finally:
        await runner.stop(grace=1.0)
    assert sorted(dialled) == ["+15550001", "+15550001", "+15550002"]
    assert [c.state for c in await store.contacts(1)] == [ContactState.DONE, ContactState.DONE]


async def test_a_dial_that_raises_counts_as_failed(tmp_path: Path) -> None:
    store = await store_with(tmp_path, ["+15550001"], retry={"failed": None})

    async def dial(order: DialOrder) -> Attempt:
        raise RuntimeError("boom")

    runner = CampaignRunner(CampaignScheduler(store, "host:1:x"), dial, poll_interval=0.5)
    runner.start()
    try:
        await until(progress(store, "left", 0))
    finally:
        await runner.stop(grace=1.0)
    (contact,) = await store.contacts(1)
    assert contact.state is ContactState.FAILED and contact.detail == "error: RuntimeError: boom"


async def test_stopped_mid_call_the_next_run_retries_the_contact(tmp_path: Path) -> None:
    store = await store_with(tmp_path, ["+15550001"], retry={"failed": 0})
    hold = asyncio.Event()

    async def stuck(order: DialOrder) -> Attempt:
        await hold.wait()
        return Attempt("person", "")

    first = CampaignRunner(CampaignScheduler(store, "otherhost:1:a", lease=0.3), stuck)
    first.start()
    await until(progress(store, "dialing", 1))
    await first.stop(grace=0.1)  # the call abandoned: its contact stays dialing
    assert (await store.progress(1)).dialing == 1

    async def answer(order: DialOrder) -> Attempt:
        return Attempt("person", "answered")

    second = CampaignRunner(CampaignScheduler(store, "host:2:b"), answer, poll_interval=0.2)
    second.start()
    try:
        await until(progress(store, "person", 1))  # after the lease ran out
    finally:
        await second.stop()
    (contact,) = await store.contacts(1)
    assert contact.attempts == 2 and contact.last_outcome == "person"


@dataclass
class Outcome:
    kind: str
    answered: bool
    reason: str = ""
    id: str | None = "call-7"
    amd: Mapping[str, Any] | None = None

    def describe(self) -> str:
        return f"{self.kind}!"


@dataclass
class Placed:
    outcome: asyncio.Future[Any]
    refused: bool = False


async def test_the_gateway_dialer(tmp_path: Path) -> None:
    store = await store_with(tmp_path, ["+15550001"], caller_id="+15550999", line="sales",
                       ring_timeout=20)  # fmt: skip
    (order,) = await CampaignScheduler(store, "h:1:x").poll(10**10)  # far in the future: due
    asked: list[dict[str, Any]] = []
    answer: list[Any] = [Outcome("answered", True, amd={"kind": "voicemail"})]

    async def originate(target: str, **options: Any) -> Placed:
        asked.append({"target": target, **options})
        result = answer[0]
        if isinstance(result, Exception):
            raise result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(result)
        return Placed(future, refused=result.reason == "refused")

    dial = gateway_dialer(originate, lambda name: None)  # type: ignore[arg-type,return-value]
    assert await dial(order) == Attempt("machine", "answered!", "call-7")
    assert asked[0]["target"] == "+15550001" and asked[0]["for_agent"] is True
    assert (asked[0]["caller_id"], asked[0]["line"], asked[0]["ring_timeout"]) == (
        "+15550999", "sales", 20.0,
    )  # fmt: skip
    answer[0] = Outcome("failed", False, reason="refused")
    assert (await dial(order)).outcome == "refused"
    answer[0] = DialRefused("call", "+15550001", "not allowed")
    assert (await dial(order)).outcome == "refused"


async def test_claims_no_more_than_the_gateways_room(tmp_path: Path) -> None:
    """A gateway without room (full, draining, overloaded) dials none of the campaign;
    with room for one call it dials one at a time, whatever the campaign's cap."""
    store = await store_with(tmp_path, ["+15550001", "+15550002", "+15550003"], per_second=100,
                       concurrency=3)  # fmt: skip
    limit = [0]  # the calls this gateway may have up at once (SIPGW_MAX_CALLS)
    up: list[str] = []
    most = [0]

    async def dial(order: DialOrder) -> Attempt:
        up.append(order.contact.number)
        most[0] = max(most[0], len(up))
        await asyncio.sleep(0.05)
        up.remove(order.contact.number)
        return Attempt("person", "answered")

    def room_now() -> int:
        return max(0, limit[0] - len(up))

    runner = CampaignRunner(CampaignScheduler(store, "host:1:x"), dial, poll_interval=0.1,
                            room=room_now)  # fmt: skip
    runner.start()
    try:
        await until(lambda: runner.passes >= 3)
        assert (await store.progress(1)).dialled == 0  # no room: nothing claimed
        limit[0] = 1
        runner.wake()
        await until(progress(store, "left", 0))
    finally:
        await runner.stop(grace=1.0)
    assert most[0] == 1 and (await store.progress(1)).person == 3


async def test_an_outcome_the_database_refuses_is_logged_not_raised(
    tmp_path: Path, caplog: Any
) -> None:
    """PostgreSQL's errors (here one raised by the store) are logged like SQLite's; the
    contact waits for its lease to run out (test_scheduler) instead of a task dying."""
    store = await store_with(tmp_path, ["+15550001"])

    class DatabaseGone(Exception):
        """As psycopg's errors: neither sqlite3's nor an OSError."""

    class Refusing(CampaignScheduler):
        async def record(
            self, order: DialOrder, attempt: Attempt, now: float
        ) -> ContactState | None:
            self.in_flight.pop(order.contact.id, None)
            raise DatabaseGone("the database went away")

    async def dial(order: DialOrder) -> Attempt:
        return Attempt("person", "answered")

    runner = CampaignRunner(Refusing(store, "host:1:x"), dial, poll_interval=0.1)
    runner.start()
    try:
        await until(lambda: "outcome not recorded" in caplog.text)
    finally:
        await runner.stop(grace=1.0)
    assert "the database went away" in caplog.text
    assert (await store.progress(1)).dialing == 1


async def test_a_wake_up_during_a_pass_is_not_lost(tmp_path: Path) -> None:
    """A campaign created or a call ended while the loop is in a pass (awaiting its store)
    wakes it again at once; it was lost when the loop cleared the wake-up after the pass,
    and the next look came a poll interval later (2 s, 30 here)."""
    store = await store_with(tmp_path, [])  # nothing to dial: the only wake-up is the test's
    inside, release = asyncio.Event(), asyncio.Event()

    class Slow(CampaignScheduler):
        async def recover(self, now: float) -> list[ContactRow]:
            if not inside.is_set():  # the first pass: held until the wake-up came
                inside.set()
                await asyncio.wait_for(release.wait(), 5)
            return await super().recover(now)

    async def dial(order: DialOrder) -> Attempt:
        raise AssertionError("nothing to dial")

    runner = CampaignRunner(Slow(store, "host:1:x"), dial, poll_interval=30.0)
    runner.start()
    try:
        await until(inside.is_set, within=5)
        runner.wake()
        release.set()
        await until(lambda: runner.passes >= 2, within=5)
    finally:
        await runner.stop(grace=1.0)
