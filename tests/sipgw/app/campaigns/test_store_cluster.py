"""The campaign store's claims across gateways sharing a real PostgreSQL (the session's
server: tests/toolkit/engines.py), each gateway a store of its own connections as on another
machine: claims at once never take a contact twice, the cap and the pacing hold across them
(the campaign's row lock), a dead gateway's contact is retried once by one of the others, and
a killed one's at once only where its death can be seen (its host), else at its lease's end.

The campaign dialled by two ``sipgw serve`` through real callees is
tests/interop/test_campaigns_cluster.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from sipgw.app.campaigns.model import CampaignLimits, Contact, ContactState, campaign_spec
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.app.campaigns.scheduler import CampaignScheduler
from sipgw.app.campaigns.store import CampaignStore
from sipgw.app.claimers import claim_owner
from sipgw.app.cluster.database import Database
from sipgw.app.cluster.migrations import apply_migrations
from sipgw.app.evaluation.process import CHECKOUT
from tests.toolkit.postgres import PostgresServer

pytestmark = pytest.mark.timeout(120)

LIMITS = CampaignLimits(max_per_second=1000, max_concurrency=100)
T0 = 1_800_000_000.0


@pytest.fixture
def server(postgres_server: PostgresServer) -> PostgresServer:
    """The session's PostgreSQL server (this worker's)."""
    return postgres_server


@pytest.fixture
def url(server: PostgresServer) -> str:
    new = server.new_database()
    asyncio.run(_migrated(new))
    return new


async def _migrated(url: str) -> None:
    db = Database(url)
    await apply_migrations(db, T0)
    await db.close()


async def make(url: str, count: int, **fields: object) -> tuple[CampaignStore, int]:
    store = CampaignStore(Database(url))
    spec = campaign_spec({"name": "t", "hours": "00:00-24:00", **fields}, LIMITS)
    contacts = [Contact(f"+1555{i:04d}", {"i": str(i)}, "UTC", i + 1) for i in range(count)]
    return store, await store.create(spec, contacts, T0)


async def test_gateways_claiming_at_once_take_each_contact_once_within_the_cap(url: str) -> None:
    store, campaign = await make(url, 80, per_second=1000, concurrency=7)
    taken: list[list[int]] = [[] for _ in range(4)]
    most = [0]

    async def gateway(worker: int) -> None:
        db = Database(url)
        mine = CampaignStore(db)  # its own connections, as another machine
        now = T0
        while now < T0 + 3:
            claimed = await mine.claim_next(campaign, f"elsewhere:{worker}:x", now, 60.0)
            now += 0.01
            if claimed is None:
                continue
            contact = claimed[0]
            taken[worker].append(contact.id)
            most[0] = max(most[0], (await mine.progress(campaign)).dialing)
            done = Attempt("person", "answered", "call-1")
            assert await mine.finish(contact.id, f"elsewhere:{worker}:x", ContactState.DONE,
                                     done, None, now)  # fmt: skip
        await db.close()

    await asyncio.wait_for(asyncio.gather(*(gateway(w) for w in range(4))), 60)
    every = [i for ids in taken for i in ids]
    assert sorted(every) == sorted(set(every)) and len(every) == 80
    assert sum(1 for ids in taken if ids) >= 2, "one gateway took everything"
    assert most[0] <= 7, most
    assert (await store.progress(campaign)).completed == 80


async def test_the_pacing_and_cap_are_the_clusters(url: str) -> None:
    store, campaign = await make(url, 6, per_second=2, concurrency=2)
    other = CampaignStore(Database(url))
    assert await store.claim_next(campaign, "a", T0, 60) is not None
    assert await other.claim_next(campaign, "b", T0 + 0.4, 60) is None  # paced by a's claim
    assert await other.claim_next(campaign, "b", T0 + 0.5, 60) is not None
    assert await store.claim_next(campaign, "a", T0 + 5, 60) is None  # two dialing: the cap
    assert (await store.progress(campaign)).dialing == 2


async def _claims_at_once(url: str, campaign: int, times: list[float]) -> int:
    """Claims made by ``len(times)`` gateways at the same moment, each once: gathered, their
    transactions' round trips interleave on the server."""
    dbs = [Database(url) for _ in times]
    stores = [CampaignStore(db) for db in dbs]
    # each has its connection open before the start
    await asyncio.gather(*(store.dnc_has("warm") for store in stores))
    made = await asyncio.gather(*(
        store.claim_next(campaign, f"elsewhere:{i}:x", at, 60.0)
        for i, (store, at) in enumerate(zip(stores, times, strict=True))
    ))  # fmt: skip
    for db in dbs:
        await db.close()
    return sum(claim is not None for claim in made)


async def test_claims_at_the_same_moment_keep_to_the_pacing_and_the_cap(url: str) -> None:
    """The campaign's row lock: without it, gateways claiming at once all see the same free
    slot (the pacing) or the same count below the cap."""
    for _ in range(5):
        _, paced = await make(url, 20, per_second=1, concurrency=100)
        assert await _claims_at_once(url, paced, [T0] * 8) == 1
        store, capped = await make(url, 20, per_second=1000, concurrency=2)
        # the pacing out of the way: the cap counts
        await store.engine.run("UPDATE campaigns SET interval = 0 WHERE id = ?", (capped,))
        assert await _claims_at_once(url, capped, [T0] * 8) == 2


async def test_a_dead_gateways_contact_is_retried_once_by_one_of_the_others(url: str) -> None:
    store, campaign = await make(url, 1, per_second=100, concurrency=1, max_attempts=3,
                                 retry={"failed": 10})  # fmt: skip
    claimed = await store.claim_next(campaign, "dead:1:x", T0, 30.0)
    assert claimed is not None
    survivors = [
        CampaignScheduler(
            CampaignStore(Database(url)),
            f"alive:{n}:x",
            lease=30.0,
            owner_alive=lambda owner: not owner.startswith("dead"),
        )  # fmt: skip
        for n in range(2)
    ]
    recovered = await asyncio.gather(*(s.recover(T0 + 1) for s in survivors))
    assert sum(len(r) for r in recovered) == 1  # one of them counts it
    (row,) = await store.contacts(campaign)
    assert (row.state, row.attempts, row.last_outcome, row.next_at) == (
        ContactState.PENDING, 1, "interrupted", T0 + 11,
    )  # fmt: skip
    assert await survivors[0].poll(T0 + 5) == []  # not before its retry delay
    orders = await survivors[1].poll(T0 + 11)
    assert [o.contact.attempts for o in orders] == [2]
    # a claimer on another machine: only its lease tells
    lease = CampaignScheduler(store, "alive:9:x", lease=30.0, owner_alive=lambda owner: True)
    assert await lease.recover(T0 + 11 + 29) == []
    assert len(await lease.recover(T0 + 11 + 31)) == 1


_CLAIM_AND_DIAL = """
import asyncio, sys
from sipgw.app.claimers import claim_owner
from sipgw.app.campaigns.store import CampaignStore
from sipgw.app.cluster.database import Database

async def main():
    owner = claim_owner()
    claimed = await CampaignStore(Database(sys.argv[1])).claim_next(
        int(sys.argv[2]), owner, float(sys.argv[3]), 30.0)
    print(owner if claimed else "-", flush=True)
    await asyncio.sleep(120)  # dialing; killed here

asyncio.run(main())
"""
"""A gateway claiming a campaign's contact, with the claim name this process makes."""


def _unix_socket_url(server: PostgresServer, url: str) -> str:
    """``url``'s database reached over the server's Unix socket: a process with a network
    namespace of its own (another machine, here) has no route to this one's 127.0.0.1, but
    shares its file system."""
    database = url.rsplit("/", 1)[1]
    return f"postgresql://sipgw@/{database}?host={server.directory}&port={server.port}"


_ELSEWHERE = {
    # another machine: its own network, host name and process numbering
    "other-machine": ["--net", "--uts", "--pid"],
    # a container of this host (network_mode: host): one host name, its own pid numbering
    "container": ["--pid"],
    "same-host": [],
}


@pytest.mark.parametrize("where", list(_ELSEWHERE))
async def test_a_killed_gateways_contact_is_taken_at_once_only_if_its_death_is_seen(
    server: PostgresServer, url: str, where: str
) -> None:
    """Two gateways on one database, the first SIGKILLed while dialing. On another machine
    (network, host name and pid numbering of its own, the database reached over its Unix
    socket) or in a container of this host (one host name, and the first's pid 30001 is no
    process here), its claim is left to its lease, alive or dead; on this host, its death
    is seen and the contact retried at once. Either way the contact is retried once, by one
    gateway."""
    store, campaign = await make(url, 1, per_second=100, concurrency=1, max_attempts=3,
                                 retry={"failed": 10})  # fmt: skip
    namespaces = _ELSEWHERE[where]
    elsewhere = [
        "unshare", *namespaces, "--fork", "--mount-proc", "--kill-child=SIGKILL", "--",
        "sh", "-c",
        ("hostname machine-b; " if "--uts" in namespaces else "")
        + 'echo 30000 > /proc/sys/kernel/ns_last_pid; "$@"; true',
        "-",
    ]  # fmt: skip
    first_url = _unix_socket_url(server, url) if "--net" in namespaces else url
    argv = [sys.executable, "-c", _CLAIM_AND_DIAL, first_url, str(campaign), str(T0)]
    first = await asyncio.create_subprocess_exec(
        *(elsewhere if namespaces else []), *argv, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
    )  # fmt: skip
    try:
        assert first.stdout is not None
        owner = (await asyncio.wait_for(first.stdout.readline(), 30)).decode()
        host, pid = owner.split(":")[:2]
        assert host == ("machine-b" if "--uts" in namespaces else socket.gethostname())
        if namespaces:  # a pid no process here has: host:pid alone would say "dead"
            assert pid == "30001" and not await asyncio.to_thread(Path(f"/proc/{pid}").exists)
        second = CampaignScheduler(CampaignStore(Database(url)), claim_owner(), lease=30.0)
        assert await second.recover(T0 + 1) == []  # alive: left alone
        first.kill()
        await asyncio.wait_for(first.wait(), 10)
        recovered = await second.recover(T0 + 2)
        if namespaces:
            assert recovered == []  # its death is not seen from here: the lease tells
            assert await second.recover(T0 + 29) == []  # nor before the lease ends
            recovered = await second.recover(T0 + 31)
        assert len(recovered) == 1
        (row,) = await store.contacts(campaign)
        assert (row.state, row.attempts, row.last_outcome) == (
            ContactState.PENDING, 1, "interrupted")  # fmt: skip
        orders = await second.poll(row.next_at or T0)
        assert [o.contact.attempts for o in orders] == [2]  # dialled again, once
        assert await second.recover(T0 + 100) == []
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
