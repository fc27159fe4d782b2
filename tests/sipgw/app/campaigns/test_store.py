"""The campaign store on both engines (``backing``: a SQLite file, a PostgreSQL database): the
claim is atomic across connections (stores of their own here, processes alike), pacing and
the cap hold in it, writes name their claimer, the do-not-call list."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sipgw.app.campaigns.model import (
    CampaignLimits,
    CampaignState,
    Contact,
    ContactState,
    campaign_spec,
)
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.app.campaigns.store import CampaignStore
from tests.toolkit.engines import Backing

LIMITS = CampaignLimits(max_per_second=1000, max_concurrency=100)


async def make(backing: Backing, count: int, **fields: object) -> tuple[CampaignStore, int]:
    store = CampaignStore(backing.engine())
    spec = campaign_spec({"name": "t", **fields}, LIMITS)
    contacts = [Contact(f"+1555{i:04d}", {}, "UTC", i + 1) for i in range(count)]
    return store, await store.create(spec, contacts, 1000.0)


async def test_concurrent_claims_never_take_a_contact_twice(backing: Backing) -> None:
    store, campaign = await make(backing, 60, per_second=1000, concurrency=100)
    taken: list[list[int]] = [[] for _ in range(4)]

    async def claim(worker: int) -> None:
        mine = CampaignStore(backing.engine())  # its own connections, as another process
        now = 1000.0
        while True:  # each claim in a thread of its own: the four workers' overlap
            claimed = await mine.claim_next(campaign, f"host:{worker}:x", now, 60.0)
            now += 0.01
            if claimed is not None:
                taken[worker].append(claimed[0].id)
            elif now > 1002.0:
                return

    await asyncio.wait_for(asyncio.gather(*(claim(w) for w in range(4))), 30)
    every = [i for ids in taken for i in ids]
    assert sorted(every) == sorted(set(every)) and len(every) == 60
    assert (await store.progress(campaign)).dialing == 60


async def test_the_claim_enforces_state_pacing_and_cap(backing: Backing) -> None:
    store, campaign = await make(backing, 5, per_second=2, concurrency=2)
    first = await store.claim_next(campaign, "a", 1000.0, 60)
    assert first is not None and first[1] == 1000.0  # the pacing before the claim
    assert await store.claim_next(campaign, "a", 1000.4, 60) is None  # paced
    assert await store.claim_next(campaign, "a", 1000.5, 60) is not None
    assert await store.claim_next(campaign, "a", 1010.0, 60) is None  # the cap: two dialing
    assert await store.set_state(campaign, CampaignState.PAUSED, 1011)
    contact = first[0]
    assert await store.finish(contact.id, "a", ContactState.DONE, Attempt("person", ""), None, 1011)
    assert await store.claim_next(campaign, "a", 1012.0, 60) is None  # paused


async def test_writes_name_their_claimer(backing: Backing) -> None:
    store, campaign = await make(backing, 1)
    claimed = await store.claim_next(campaign, "a", 1000.0, 60)
    assert claimed is not None
    contact, paced = claimed
    assert not await store.finish(
        contact.id, "b", ContactState.DONE, Attempt("person", ""), None, 1
    )
    assert not await store.unclaim(contact.id, "b", ContactState.DNC, 0, "", 1, paced)
    await store.renew([contact.id], "b", 5000.0)  # not b's
    (row,) = await store.dialing()
    assert row.lease_until == 1060.0 and row.claimed_by == "a"
    assert await store.unclaim(contact.id, "a", ContactState.PENDING, 2000.0, "later", 1001, paced)
    (row,) = await store.contacts(campaign)
    assert (row.state, row.attempts, row.next_at) == (ContactState.PENDING, 0, 2000.0)
    assert (await store.campaign(campaign)).next_dial_at == paced
    assert await store.next_due() == 2000.0


async def test_the_do_not_call_list(backing: Backing) -> None:
    store = CampaignStore(backing.engine())
    assert await store.dnc_add(["+1555", "+1556", "+1555"], 1.0) == 2
    assert await store.dnc_add(["+1556", "+1557"], 2.0) == 1
    assert await store.dnc_remove(["+1557"]) == 1
    assert await store.dnc_add([f"+1{n:06d}" for n in range(1200)], 3.0) == 1200  # chunks
    assert await store.dnc_remove([f"+1{n:06d}" for n in range(1200)]) == 1200
    assert await store.dnc_has("+1555") and not await store.dnc_has("+1557")
    assert await store.dnc_list(10) == ["+1555", "+1556"]
    assert await store.dnc_remove(["+1555", "+1557"]) == 1
    assert await store.dnc_list(10) == ["+1556"]


async def test_the_campaigns_are_listed_newest_first(backing: Backing) -> None:
    assert CampaignStore(backing.engine()).exists() is (backing.kind == "postgresql")
    store, first = await make(backing, 1)
    _, second = await make(backing, 2)
    assert [c.id for c in await store.campaigns()] == [second, first]
    assert [c.id for c in await store.campaigns(limit=1)] == [second]
    assert await store.set_state(first, CampaignState.CANCELLED, 1001.0)
    assert not await store.set_state(first, CampaignState.RUNNING, 1002.0)  # not paused
    assert [c.id for c in await store.campaigns(CampaignState.CANCELLED)] == [first]
    (cancelled,) = await store.contacts(first)
    assert cancelled.state is ContactState.CANCELLED
    assert (await store.progress(second)).left == 2


async def test_the_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    store = CampaignStore(path)
    assert not store.exists()  # a gateway that never had a campaign keeps no file
    await store.dnc_list(1)
    assert store.exists() and path.stat().st_mode & 0o077 == 0


async def test_a_long_list_is_stored_whole_in_its_order(backing: Backing) -> None:
    store, campaign = await make(backing, 250)  # more than one insert's worth
    rows = await store.contacts(campaign)
    assert [r.row for r in rows] == list(range(1, 251))
    assert [r.number for r in rows[:2]] == ["+15550000", "+15550001"]
    assert (await store.progress(campaign)).total == 250
