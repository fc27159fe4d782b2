"""The campaigns' sans-IO scheduler on a fake clock, over a real SQLite store: pacing, the
cap, calling hours in each contact's time zone, retries by outcome, the do-not-call list,
pause/resume/cancel, and what a restart does with a call a crash cut."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sipgw.app.campaigns.model import (
    CampaignLimits,
    CampaignState,
    Contact,
    ContactRow,
    ContactState,
    campaign_spec,
)
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.app.campaigns.scheduler import (
    CampaignFinished,
    CampaignScheduler,
    ContactAttempted,
    ContactSkipped,
    DialOrder,
)
from sipgw.app.campaigns.store import CampaignStore

# Wednesday 2026-01-14 15:00 UTC: 10:00 in New York, 00:00 (Thursday) in Tokyo
T0 = datetime(2026, 1, 14, 15, 0, tzinfo=ZoneInfo("UTC")).timestamp()
ALWAYS = {"hours": "00:00-24:00"}


@pytest.fixture
def store(tmp_path: Path) -> CampaignStore:
    return CampaignStore(tmp_path / "campaigns.sqlite3")


async def create(
    store: CampaignStore,
    numbers: Sequence[str],
    *,
    zones: Sequence[str] = (),
    **fields: object,
) -> int:
    body = {"name": "test", **ALWAYS, **fields}
    spec = campaign_spec(body, CampaignLimits(max_per_second=1000, max_concurrency=50))
    contacts = [
        Contact(n, {"n": str(i)}, zones[i] if zones else spec.time_zone, i + 1)
        for i, n in enumerate(numbers)
    ]
    return await store.create(spec, contacts, T0)


def scheduler(store: CampaignStore, owner: str = "host:1:a") -> CampaignScheduler:
    return CampaignScheduler(store, owner, lease=60.0, owner_alive=lambda owner: True)


def numbers(orders: Sequence[DialOrder]) -> list[str]:
    return [order.contact.number for order in orders]


async def state_of(store: CampaignStore, campaign: int) -> CampaignState:
    found = await store.campaign(campaign)
    assert found is not None
    return found.state


async def poll_for(sched: CampaignScheduler, start: float, seconds: float = 1.0) -> list[DialOrder]:
    """Every order of ``sched``'s polls every 50 ms for ``seconds`` from ``start``."""
    return [
        order for step in range(int(seconds * 20)) for order in await sched.poll(start + step / 20)
    ]


async def row(store: CampaignStore, campaign: int, number: str) -> ContactRow:
    (found,) = [c for c in await store.contacts(campaign) if c.number == number]
    return found


async def test_pacing_spaces_the_dials(store: CampaignStore) -> None:
    await create(store, ["+1555000001", "+1555000002", "+1555000003"], per_second=2, concurrency=5)
    sched = scheduler(store)
    assert numbers(await sched.poll(T0)) == ["+1555000001"]
    assert await sched.poll(T0 + 0.49) == []  # 2 a second: the next slot at +0.5 s
    assert await sched.next_wakeup(T0 + 0.49, 2.0) == pytest.approx(T0 + 0.5)
    assert numbers(await sched.poll(T0 + 0.5)) == ["+1555000002"]
    assert numbers(await sched.poll(T0 + 5.0)) == ["+1555000003"]  # no burst after a pause


async def test_the_cap_holds_until_a_call_ends(store: CampaignStore) -> None:
    await create(store, [f"+155500000{i}" for i in range(5)], per_second=100, concurrency=2)
    sched = scheduler(store)
    first = await sched.poll(T0) + await sched.poll(T0 + 0.1) + await sched.poll(T0 + 0.2)
    assert numbers(first) == ["+1555000000", "+1555000001"]
    assert await sched.poll(T0 + 1.0) == []  # two are dialing: the cap
    await sched.record(first[0], Attempt("person", "answered"), T0 + 2.0)
    assert numbers(await sched.poll(T0 + 2.0)) == ["+1555000002"]
    assert await sched.poll(T0 + 3.0) == []


async def test_calling_hours_in_each_contacts_time_zone(store: CampaignStore) -> None:
    campaign = await create(
        store, ["+12125550001", "+81355500001", "+33155500001"],
        zones=["America/New_York", "Asia/Tokyo", "Europe/Paris"],
        hours="09:00-17:00", days="mon,tue,wed,thu,fri", per_second=100, concurrency=5,
    )  # fmt: skip
    sched = scheduler(store)
    # 10:00 in New York, 00:00 in Tokyo (closed), 16:00 in Paris
    assert sorted(numbers(await poll_for(sched, T0))) == ["+12125550001", "+33155500001"]
    tokyo = await row(store, campaign, "+81355500001")
    assert tokyo.state is ContactState.PENDING and tokyo.attempts == 0, tokyo  # not counted
    opens = datetime(2026, 1, 15, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo")).timestamp()
    assert tokyo.next_at == opens and tokyo.detail == "outside calling hours"
    assert await poll_for(sched, opens - 2) == []
    assert numbers(await sched.poll(opens)) == ["+81355500001"]


async def test_calling_hours_skip_the_days_not_allowed(store: CampaignStore) -> None:
    saturday = datetime(2026, 1, 17, 12, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    campaign = await store.create(
        campaign_spec({"name": "t", "hours": "09:00-17:00", "days": "mon,tue,wed,thu,fri"},
                      CampaignLimits()),
        [Contact("+33155500001", {}, "Europe/Paris", 1)], saturday,
    )  # fmt: skip
    assert await scheduler(store).poll(saturday) == []
    monday = datetime(2026, 1, 19, 9, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    assert (await row(store, campaign, "+33155500001")).next_at == monday


async def test_a_window_across_midnight(store: CampaignStore) -> None:
    # 22:00-02:00 in Tokyo; T0 is 00:00 there (in the window that opened the day before)
    await create(store, ["+81355500001"], zones=["Asia/Tokyo"], hours="22:00-02:00")
    assert numbers(await scheduler(store).poll(T0)) == ["+81355500001"]


RULES: dict[str, Any] = {"retry": {"busy": 60, "no_answer": 120, "failed": None, "voicemail": 300}}


@pytest.mark.parametrize(
    ("outcome", "state", "delay"),
    [
        ("busy", ContactState.PENDING, 60.0),
        ("no_answer", ContactState.PENDING, 120.0),
        ("machine", ContactState.PENDING, 300.0),  # "voicemail" has a delay here
        ("failed", ContactState.FAILED, None),  # "failed" has none: not retried
        ("interrupted", ContactState.FAILED, None),  # as failed
        ("declined", ContactState.FAILED, None),  # never retried
        ("refused", ContactState.FAILED, None),
        ("person", ContactState.DONE, None),
    ],
)
async def test_retries_by_outcome(
    store: CampaignStore, outcome: str, state: ContactState, delay: float | None
) -> None:
    campaign = await create(store, ["+1555000001"], **RULES)
    sched = scheduler(store)
    (order,) = await sched.poll(T0)
    assert await sched.record(order, Attempt(outcome, "detail", "call-1"), T0 + 10) is state
    contact = await row(store, campaign, "+1555000001")
    assert contact.state is state and contact.attempts == 1, contact
    assert contact.last_outcome == outcome and contact.call_id == "call-1"
    if delay is not None:
        assert contact.next_at == T0 + 10 + delay
        assert await sched.poll(T0 + 10 + delay - 0.1) == []
        (again,) = await sched.poll(T0 + 10 + delay)
        assert again.contact.attempts == 2
    else:
        assert await sched.poll(T0 + 86400) == []


async def test_attempts_stop_at_the_maximum(store: CampaignStore) -> None:
    campaign = await create(store, ["+1555000001"], max_attempts=3, **RULES)
    sched = scheduler(store)
    now = T0
    for attempt in (1, 2, 3):
        (order,) = await sched.poll(now)
        assert order.contact.attempts == attempt
        await sched.record(order, Attempt("busy", "busy"), now)
        now += 60
    contact = await row(store, campaign, "+1555000001")
    assert contact.state is ContactState.FAILED and contact.attempts == 3, contact
    assert await sched.poll(now + 86400) == []
    progress = await store.progress(campaign)
    assert (progress.dialled, progress.failed, progress.left) == (3, 1, 0)
    assert await state_of(store, campaign) is CampaignState.FINISHED


async def test_a_voicemail_without_a_retry_counts_as_answered_by_a_machine(
    store: CampaignStore,
) -> None:
    campaign = await create(store, ["+1555000001", "+1555000002"], per_second=100)
    sched = scheduler(store)
    first, second = await poll_for(sched, T0)
    await sched.record(first, Attempt("machine", "answered by voicemail"), T0)
    await sched.record(second, Attempt("person", "answered"), T0)
    progress = await store.progress(campaign)
    assert (progress.person, progress.machine, progress.completed, progress.left) == (1, 1, 2, 0)
    events = sched.events_to_send()
    assert [type(e) for e in events] == [ContactAttempted, ContactAttempted, CampaignFinished]


async def test_the_do_not_call_list_is_checked_before_every_dial(
    store: CampaignStore,
) -> None:
    campaign = await create(store, ["+1555000001", "+1555000002"], per_second=100, **RULES)
    await store.dnc_add(["+1555000001"], T0)
    sched = scheduler(store)
    first = await sched.poll(T0)
    assert numbers(first) == ["+1555000002"]
    skipped = await row(store, campaign, "+1555000001")
    assert skipped.state is ContactState.DNC and skipped.attempts == 0, skipped
    # the other one asks not to be called while its retry waits
    await sched.record(first[0], Attempt("busy", "busy"), T0)
    await store.dnc_add(["+1555000002"], T0 + 1)
    assert await sched.poll(T0 + 61) == []
    assert (await row(store, campaign, "+1555000002")).state is ContactState.DNC
    events = sched.events_to_send()
    assert [type(e) for e in events] == [ContactSkipped, ContactAttempted, ContactSkipped,
                                         CampaignFinished]  # fmt: skip
    assert (await store.progress(campaign)).dnc == 2


async def test_pause_resume_cancel(store: CampaignStore) -> None:
    campaign = await create(store, [f"+155500000{i}" for i in range(4)], per_second=100,
                            concurrency=1, **RULES)  # fmt: skip
    sched = scheduler(store)
    (first,) = await sched.poll(T0)
    assert await store.set_state(campaign, CampaignState.PAUSED, T0)
    assert not await store.set_state(campaign, CampaignState.PAUSED, T0)  # already
    await sched.record(first, Attempt("person", "answered"), T0 + 1)  # a call in progress ends
    assert await sched.poll(T0 + 2) == []
    assert await store.set_state(campaign, CampaignState.RUNNING, T0 + 3)
    (second,) = await sched.poll(T0 + 3)
    assert await store.set_state(campaign, CampaignState.CANCELLED, T0 + 4)
    await sched.record(second, Attempt("busy", "busy"), T0 + 5)  # its retry is cancelled too
    assert await sched.poll(T0 + 100) == []
    states = [c.state for c in await store.contacts(campaign)]
    assert states == [ContactState.DONE] + [ContactState.CANCELLED] * 3, states
    assert not await store.set_state(campaign, CampaignState.RUNNING, T0 + 6)  # cancelled is final
    assert await state_of(store, campaign) is CampaignState.CANCELLED


async def test_a_contact_is_never_dialled_twice_at_once(store: CampaignStore) -> None:
    """Two schedulers (two gateways) on one store, polling in turn: each contact is
    claimed once, and a claim that was taken over records nothing."""
    await create(store, [f"+15550000{i:02d}" for i in range(20)], per_second=1000, concurrency=20)
    one, two = scheduler(store, "host:1:a"), scheduler(store, "host:2:b")
    claimed = [
        order
        for step in range(100)
        for sched in (one, two)
        for order in await sched.poll(T0 + step / 200)
    ]
    assert sorted(numbers(claimed)) == sorted(set(numbers(claimed)))
    assert len(claimed) == 20


async def test_a_call_cut_by_a_crash_is_retried_by_the_rules(store: CampaignStore) -> None:
    campaign = await create(store, ["+1555000001", "+1555000002"], per_second=100,
                      retry={"failed": 30})  # fmt: skip
    dead = CampaignScheduler(store, "host:111:dead", lease=60.0)
    cut = await poll_for(dead, T0)
    assert len(cut) == 2
    gone = {"host:111:dead"}
    after = CampaignScheduler(store, "host:222:new", lease=60.0,
                              owner_alive=lambda owner: owner not in gone)  # fmt: skip
    recovered = await after.recover(T0 + 5)  # its claimer is gone; the lease has not run out
    assert sorted(c.number for c in recovered) == ["+1555000001", "+1555000002"]
    contact = await row(store, campaign, "+1555000001")
    assert contact.state is ContactState.PENDING and contact.attempts == 1, contact
    assert contact.last_outcome == "interrupted" and contact.next_at == T0 + 35
    assert await after.poll(T0 + 34) == []
    again = await poll_for(after, T0 + 35)
    assert len(again) == 2 and all(o.contact.attempts == 2 for o in again)
    # the dead one's late outcome (had it lived) changes nothing
    assert await dead.record(cut[0], Attempt("person", "answered"), T0 + 36) is None
    assert (await row(store, campaign, "+1555000001")).state is ContactState.DIALING


async def test_a_live_claimers_call_is_left_alone_until_its_lease_runs_out(
    store: CampaignStore,
) -> None:
    campaign = await create(store, ["+1555000001"])
    busy = scheduler(store, "otherhost:1:a")
    await busy.poll(T0)
    other = scheduler(store, "host:2:b")
    assert await other.recover(T0 + 59) == []  # alive, within its lease
    await busy.renew(T0 + 50)  # renewed while its call lasts
    assert await other.recover(T0 + 100) == []
    assert [c.number for c in await other.recover(T0 + 111)] == ["+1555000001"]  # lease ran out
    assert (await row(store, campaign, "+1555000001")).last_outcome == "interrupted"


async def test_a_gateway_claims_no_more_than_its_room(store: CampaignStore) -> None:
    """A full gateway (``limit`` 0: its SIPGW_MAX_CALLS reached, draining or overloaded)
    claims nothing, so another gateway with room dials the campaign; with room for two it
    claims two however many are due."""
    campaign = await create(store, [f"+15550000{i:02d}" for i in range(5)], concurrency=10)
    # the pacing out of the way: only the room counts
    await store.engine.run("UPDATE campaigns SET interval = 0 WHERE id = ?", (campaign,))
    full, roomy = scheduler(store, "host:1:a"), scheduler(store, "host:2:b")
    assert await full.poll(T0, limit=0) == []
    assert len(await roomy.poll(T0 + 0.01, limit=2)) == 2
    assert len(await full.poll(T0 + 0.02, limit=1)) == 1
    assert len(await roomy.poll(T0 + 0.03)) == 2  # no limit: the rest


async def test_a_claim_whose_outcome_could_not_be_written_is_not_lost(
    store: CampaignStore,
) -> None:
    """The call ended but the database refused its outcome: the contact stays ``dialing``
    under this very scheduler's claim, no longer renewed. Once its lease runs out the
    scheduler itself (alone, no other gateway to find it) retries it by the rules."""
    campaign = await create(store, ["+1555000001"], retry={"failed": 10})
    one = scheduler(store)
    (order,) = await one.poll(T0)
    one.in_flight.pop(order.contact.id)  # what record() does before the write that failed
    assert await one.recover(T0 + 59) == []  # its lease still runs
    assert [c.number for c in await one.recover(T0 + 61)] == ["+1555000001"]
    contact = await row(store, campaign, "+1555000001")
    assert (contact.state, contact.last_outcome, contact.next_at) == (
        ContactState.PENDING, "interrupted", T0 + 71,
    )  # fmt: skip
    # a call still in progress is never taken from its own scheduler, lease or not
    (again,) = await one.poll(T0 + 71)
    assert await one.recover(T0 + 500) == []
    assert (await row(store, campaign, "+1555000001")).state is ContactState.DIALING


async def test_a_slot_that_came_during_the_pass_is_taken_at_once(
    store: CampaignStore,
) -> None:
    """At 30 calls a second a slot comes every 33 ms, less than a pass may take: a contact
    that became due while the pass ran is looked at again at once. The loop slept a whole
    poll interval (2 s) then, taking it for one held back by the cap: a campaign at 30 a
    second made bursts and 2 s gaps (the cluster test took 24 s instead of about 17)."""
    await create(store, [f"+155500000{i}" for i in range(4)], per_second=30, concurrency=2)
    sched = scheduler(store)
    assert len(await sched.poll(T0)) == 1  # the next slot at T0 + 1/30
    assert await sched.next_wakeup(T0 + 0.05, 2.0) <= T0 + 0.05  # due during the pass: now
    assert len(await sched.poll(T0 + 0.05)) == 1
    # at its cap nothing is due until a call ends: the poll interval (or that call's end)
    assert await sched.next_wakeup(T0 + 0.1, 2.0) == pytest.approx(T0 + 2.1)
