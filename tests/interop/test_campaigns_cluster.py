"""Campaigns across gateways sharing a real PostgreSQL (tests/toolkit/postgres.py).

First the store alone: gateways' claims at once never take a contact twice, and the cap and
the pacing hold across them (counted in the database). Then the issue's test: two ``sipgw
serve`` processes on one database dial a campaign of :data:`CONTACTS` contacts on three
baresips (people who answer, phones always busy: 486, phones nobody answers), some contacts
in a time zone where the calling hours are closed; one gateway is SIGKILLed halfway and the
other runs the campaign to its end. Counted at the callees (each contact is an account of
its baresip, so every INVITE is seen per contact): none dialled twice at once, none again
once done, none lost, retries as configured, the closed contacts never called.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sipgw.app.campaigns.model import CampaignLimits, Contact, ContactState, campaign_spec
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.app.campaigns.scheduler import CampaignScheduler
from sipgw.app.cluster.campaigns import PgCampaignStore
from sipgw.app.cluster.database import Database
from sipgw.app.cluster.migrations import apply_migrations
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port, free_port_range
from sipgw.app.evaluation.process import running_processes
from tests.interop.test_campaigns_peers import (
    TOKEN,
    accounts,
    api,
    assert_never_twice_at_once,
    calls_by_contact,
    refuse_every_call,
    wait_until,
)
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.postgres import PostgresServer

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("nothing_left_running")]


LIMITS = CampaignLimits(max_per_second=1000, max_concurrency=100)
T0 = 1_800_000_000.0
PER_CLASS = 65
"""Contacts per kind of callee (people, busy, nobody), plus :data:`CLOSED` more."""
CLOSED = 5
"""Contacts twelve hours ahead of UTC, where the calling hours are closed."""
CONTACTS = 3 * PER_CLASS + CLOSED
MAX_ATTEMPTS = 2
CONCURRENCY = 10


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with PostgresServer() as running:
        yield running


@pytest.fixture
def url(server: PostgresServer) -> str:
    new = server.new_database()
    db = Database(new)
    apply_migrations(db, T0)
    db.close()
    return new


def make(url: str, count: int, **fields: object) -> tuple[PgCampaignStore, int]:
    store = PgCampaignStore(Database(url))
    spec = campaign_spec({"name": "t", "hours": "00:00-24:00", **fields}, LIMITS)
    contacts = [Contact(f"+1555{i:04d}", {"i": str(i)}, "UTC", i + 1) for i in range(count)]
    return store, store.create(spec, contacts, T0)


def test_gateways_claiming_at_once_take_each_contact_once_within_the_cap(url: str) -> None:
    store, campaign = make(url, 80, per_second=1000, concurrency=7)
    taken: list[list[int]] = [[] for _ in range(4)]
    most = [0]
    lock = threading.Lock()

    def gateway(worker: int) -> None:
        mine = PgCampaignStore(Database(url))  # its own connections, as another machine
        now = T0
        while now < T0 + 3:
            claimed = mine.claim_next(campaign, f"elsewhere:{worker}:x", now, 60.0)
            now += 0.01
            if claimed is None:
                continue
            contact = claimed[0]
            taken[worker].append(contact.id)
            with lock:
                most[0] = max(most[0], mine.progress(campaign).dialing)
            done = Attempt("person", "answered", "call-1")
            assert mine.finish(contact.id, f"elsewhere:{worker}:x", ContactState.DONE, done,
                               None, now)  # fmt: skip
        mine.db.close()

    threads = [threading.Thread(target=gateway, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [i for ids in taken for i in ids]
    assert sorted(every) == sorted(set(every)) and len(every) == 80
    assert sum(1 for ids in taken if ids) >= 2, "one gateway took everything"
    assert most[0] <= 7, most
    assert store.progress(campaign).completed == 80


def test_the_pacing_and_cap_are_the_clusters(url: str) -> None:
    store, campaign = make(url, 6, per_second=2, concurrency=2)
    other = PgCampaignStore(Database(url))
    assert store.claim_next(campaign, "a", T0, 60) is not None
    assert other.claim_next(campaign, "b", T0 + 0.4, 60) is None  # paced by a's claim
    assert other.claim_next(campaign, "b", T0 + 0.5, 60) is not None
    assert store.claim_next(campaign, "a", T0 + 5, 60) is None  # two dialing: the cap
    assert store.progress(campaign).dialing == 2


def _claims_at_once(url: str, campaign: int, times: list[float]) -> int:
    """Claims made by ``len(times)`` gateways released at the same moment, each once."""
    stores = [PgCampaignStore(Database(url)) for _ in times]
    for store in stores:
        store.dnc_has("warm")  # each has its connection open before the start
    barrier = threading.Barrier(len(times))
    made = [0] * len(times)

    def claim(i: int) -> None:
        barrier.wait()
        made[i] = stores[i].claim_next(campaign, f"elsewhere:{i}:x", times[i], 60.0) is not None

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(times))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for store in stores:
        store.db.close()
    return sum(made)


def test_claims_at_the_same_moment_keep_to_the_pacing_and_the_cap(url: str) -> None:
    """The campaign's row lock: without it, gateways claiming at once all see the same free
    slot (the pacing) or the same count below the cap."""
    for _ in range(5):
        _, paced = make(url, 20, per_second=1, concurrency=100)
        assert _claims_at_once(url, paced, [T0] * 8) == 1
        store, capped = make(url, 20, per_second=1000, concurrency=2)
        with store.db.transaction() as cur:  # the pacing out of the way: only the cap counts
            cur.execute("UPDATE campaigns SET interval = 0 WHERE id = %s", (capped,))
        assert _claims_at_once(url, capped, [T0] * 8) == 2


def test_a_dead_gateways_contact_is_retried_once_by_one_of_the_others(url: str) -> None:
    store, campaign = make(url, 1, per_second=100, concurrency=1, max_attempts=3,
                           retry={"failed": 10})  # fmt: skip
    claimed = store.claim_next(campaign, "dead:1:x", T0, 30.0)
    assert claimed is not None
    survivors = [
        CampaignScheduler(
            PgCampaignStore(Database(url)),
            f"alive:{n}:x",
            lease=30.0,
            owner_alive=lambda owner: not owner.startswith("dead"),
        )  # fmt: skip
        for n in range(2)
    ]
    recovered = [s.recover(T0 + 1) for s in survivors]
    assert sum(len(r) for r in recovered) == 1  # one of them counts it
    (row,) = store.contacts(campaign)
    assert (row.state, row.attempts, row.last_outcome, row.next_at) == (
        ContactState.PENDING, 1, "interrupted", T0 + 11,
    )  # fmt: skip
    assert survivors[0].poll(T0 + 5) == []  # not before its retry delay
    orders = survivors[1].poll(T0 + 11)
    assert [o.contact.attempts for o in orders] == [2]
    # a claimer on another machine: only its lease tells
    lease = CampaignScheduler(store, "alive:9:x", lease=30.0, owner_alive=lambda owner: True)
    assert lease.recover(T0 + 11 + 29) == []
    assert len(lease.recover(T0 + 11 + 31)) == 1


def _window() -> tuple[str, str]:
    """Calling hours open now in UTC (and UTC+1), closed twelve hours ahead."""
    hour = datetime.now(UTC).hour
    return f"{(hour - 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00", "Etc/GMT-12"


@pytest.fixture
def callees(tmp_workdir: Path) -> Iterator[tuple[Baresip, Baresip, Baresip]]:
    room = {"call_max_calls": "40"}  # and media ports for as many: the dead gateway's calls
    # linger at the callee (baresip's BYE to it waits out its timer) beside the next ones
    people = Baresip(tmp_workdir, "people", user="p0",
                     account=accounts([f"p{i}" for i in range(PER_CLASS + CLOSED)],
                                      ";answermode=auto"), extra_config=room,
                     rtp_ports=free_port_range(80))  # fmt: skip
    busy = Baresip(
        tmp_workdir,
        "busy",
        user="b0",
        account=accounts([f"b{i}" for i in range(PER_CLASS)], ""),
        extra_config=room,
        rtp_ports=free_port_range(80),
    )
    nobody = Baresip(
        tmp_workdir,
        "nobody",
        user="n0",
        account=accounts([f"n{i}" for i in range(PER_CLASS)], ""),
        extra_config=room,
        rtp_ports=free_port_range(80),
    )
    with people, busy, nobody:
        done = threading.Event()
        refuser = threading.Thread(target=refuse_every_call, args=(busy, done), daemon=True)
        refuser.start()
        try:
            yield people, busy, nobody
        finally:
            done.set()
            refuser.join(5)
    for process in running_processes():
        process.kill()


def test_a_campaign_runs_across_two_gateways_and_a_crash(
    server: PostgresServer, tmp_workdir: Path, callees: tuple[Baresip, Baresip, Baresip]
) -> None:
    people, busy, nobody = callees
    database = server.new_database()
    hours, closed_zone = _window()
    rows = []
    for i in range(PER_CLASS):
        for user, callee in ((f"p{i}", people), (f"b{i}", busy), (f"n{i}", nobody)):
            zone = "UTC" if i % 2 else "Etc/GMT-1"
            rows.append(f"sip:{user}@127.0.0.1:{callee.sip_port},{user},{zone}")
    closed = [f"p{PER_CLASS + i}" for i in range(CLOSED)]
    rows += [f"sip:{user}@127.0.0.1:{people.sip_port},{user},{closed_zone}" for user in closed]
    ports = [free_port(), free_port()]

    def gateway(name: str, port: int) -> GatewayProcess:
        env = {
            "SIPGW_DATABASE_URL": database, "SIPGW_CLUSTER_NAME": name,
            "SIPGW_ADMIN_PORT": str(port), "SIPGW_ADMIN_TOKEN": TOKEN,
            "SIPGW_DIAL_ALLOW": ",".join(f"sip:*@127.0.0.1:{b.sip_port}" for b in callees),
            "SIPGW_RING_TIMEOUT": "1", "SIPGW_CAMPAIGN_MAX_PER_SECOND": "50",
        }  # fmt: skip
        return GatewayProcess(tmp_workdir / name, name=name, lifetime=200, extra_env=env,
                              extra_args=("--max-call-seconds", "1"))  # fmt: skip

    first, second = gateway("gw-a", ports[0]), gateway("gw-b", ports[1])
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        first.start()
        second.start()
        created = api(urls[0], "/api/campaigns", {
            "name": "cluster", "csv": "number,who,time_zone\r\n" + "\r\n".join(rows) + "\r\n",
            "hours": hours, "per_second": 15, "concurrency": CONCURRENCY,
            "max_attempts": MAX_ATTEMPTS,
            "retry": {"busy": 0.5, "no_answer": 0.5, "failed": 0.5},
        })  # fmt: skip
        campaign = created["id"]
        assert [c["id"] for c in api(urls[1], "/api/campaigns")["campaigns"]] == [campaign]

        def finals() -> int:
            progress = api(urls[1], f"/api/campaigns/{campaign}")["progress"]
            return int(progress["completed"] + progress["failed"])

        wait_until(lambda: finals() >= 3 * PER_CLASS // 2, 90, "half the contacts done")
        assert re.search(r"dialing row", second.log_text()), "gw-b dialled nothing"
        killed_at = time.monotonic()
        first.stop(9)  # SIGKILL: its calls are cut, their contacts stay "dialing"
        second.wait_log(r"interrupted: the dialing process", 15)
        wait_until(lambda: finals() == 3 * PER_CLASS, 120, "every open contact done")
        shown = api(urls[1], f"/api/campaigns/{campaign}")
        results = api(urls[1], f"/api/campaigns/{campaign}/results.csv")
        assert second.stop() == 0
        assert not second.tracebacks(), second.tracebacks()
    finally:
        first.close()
        second.close()

    calls = {
        who: [(start, killed_at if start < killed_at and (end is None or end > killed_at)
               else end) for start, end in spans]
        for who, spans in calls_by_contact(*callees).items()
    }  # fmt: skip
    assert_never_twice_at_once(calls)
    # the cap is the cluster's: the callees never had more of the campaign's calls at once
    # (a span at a callee lies within its claim: claimed before the INVITE, ended after; one
    # more allowed for the callees' events reaching us out of order: a cap per gateway
    # would show up to twice the cap)
    edges = sorted(
        (t, step)
        for spans in calls.values()
        for start, end in spans
        for t, step in ((start, 1), (end if end is not None else 1e12, -1))
    )
    at_once = max(itertools.accumulate(step for _, step in edges))
    print(f"at most {at_once} calls at once at the callees")
    assert at_once <= CONCURRENCY + 1, at_once
    table = {row["who"]: row for row in csv.DictReader(io.StringIO(results))}
    interrupted = set(re.findall(r"row \d+, sip:(\w+)@\S+: interrupted", second.log_text()))
    dialled = first.log_text() + second.log_text()
    for i in range(PER_CLASS):
        for user, outcome, state in ((f"p{i}", "person", "done"), (f"b{i}", "busy", "failed"),
                                     (f"n{i}", "no_answer", "failed")):  # fmt: skip
            row, made = table[user], len(calls.get(user, []))
            assert row["state"] == state, row
            expected = 1 if state == "done" else MAX_ATTEMPTS
            if user in interrupted:  # the cut claim counts, whether its INVITE went or not
                assert made <= int(row["attempts"]) <= MAX_ATTEMPTS, (user, made, row)
                continue
            assert row["outcome"] == outcome, row
            assert made == int(row["attempts"]) == expected, (user, calls.get(user), row)
            assert len(re.findall(rf"dialing row \d+, sip:{user}@", dialled)) == expected
    for user in closed:
        row = table[user]
        assert user not in calls and row["state"] == "pending" and row["attempts"] == "0", row
    progress = shown["progress"]
    assert (progress["person"], progress["left"], shown["state"]) == (
        PER_CLASS, CLOSED, "running",
    ), progress  # fmt: skip
