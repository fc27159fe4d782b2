"""The shared database's load per call: transactions, statements and rows, and the time.

Run: ``.venv/bin/python -m bench.database [--calls N] [--url postgresql://...] [--json PATH]``
from the repository root. Without ``--url`` it starts its own PostgreSQL (Debian's, in a
temporary directory: tests/toolkit/postgres.py) and uses a fresh database; with one, it
creates the schema there (use an empty database). It prints a table and writes JSON
(default ``bench/results/database-<UTC time>.json``).

Each part runs its real code against the database, on its own connections so that its
counts stay apart (:class:`~sipgw.app.cluster.database.DatabaseCounts`), on one event loop
(uvloop, as ``sipgw serve``):

- ``index``: the calls' index, as :class:`~sipgw.app.cluster.service.ClusterMember` writes it
  for each call: its start and its end, each followed by a heartbeat (the load changed);
  apart, a placed call's (``index_placed``), also written when it is answered.
- ``webhooks``: ``--events`` events per call (an inbound call answered by the agent sends
  ``call.incoming``, ``call.answered`` and ``call.ended``) through the real
  :class:`~sipgw.app.webhooks.delivery.WebhookDelivery` to a receiver on loopback; the
  delivery's loop, not a script, decides how many polls it makes, so this varies a little.
- ``callback``: a call that schedules a callback: the tool's insert with its quotas, then
  the scheduler's pass that dials it (:meth:`CallbackScheduler.run_due`: recovery, claim,
  outcome) with a fake dialer that answers.
- ``campaign`` (per contact, apart from the per-call total): a campaign of ``--calls``
  contacts dialled one a second, each contact one pass of the campaigns' loop as
  :class:`~sipgw.app.campaigns.runner.CampaignRunner` makes it (recovery, claims, renewal,
  the progress snapshot, next due time) and the call's outcome recorded.
- ``idle``: what a gateway does with no call, per minute: heartbeats every 5 s, the
  callback scheduler's poll every 2 s (recovery, claim, renewal, next due time), and in a
  cluster the campaigns' loop every 2 s (it always runs: another gateway may add one).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from aiohttp import web

from bench._harness import machine_info, write_json
from sipgw.agent.tools.callback_store import CallbackStore
from sipgw.agent.tools.quota import CallbackQuota
from sipgw.app.calls.callbacks import CallbackPolicy, CallbackScheduler, DialRequest, DialResult
from sipgw.app.campaigns.model import CampaignLimits, Contact, campaign_spec
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.app.campaigns.scheduler import CampaignScheduler
from sipgw.app.campaigns.service import SHOWN
from sipgw.app.campaigns.store import CampaignStore
from sipgw.app.cluster.database import Database, DatabaseCounts
from sipgw.app.cluster.members import ClusterIndex
from sipgw.app.cluster.migrations import apply_migrations
from sipgw.app.webhooks.delivery import DeliveryPolicy, WebhookDelivery
from sipgw.app.webhooks.outbox import NewEvent, Outbox
from sipgw.app.webhooks.signing import WebhookSecret

T = TypeVar("T")
T0 = 1_800_000_000.0
SECRET = WebhookSecret.parse("whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")


def _per_call(counts: DatabaseCounts, calls: int) -> dict[str, float]:
    """Per call; ``ms``: time inside the database's transactions (the client's view:
    connection, round trips, commit), not the time the part took."""
    return {
        "transactions": round(counts.transactions / calls, 2),
        "statements": round(counts.statements / calls, 2),
        "rows": round(counts.rows / calls, 2),
        "ms": round(counts.seconds * 1000 / calls, 3),
    }


async def index_load(url: str, calls: int, placed: bool = False) -> dict[str, float]:
    """The calls' index: start, heartbeat, end, heartbeat, per call; a ``placed`` call is
    indexed ringing and written once more when it is answered."""
    db = Database(url)
    index = ClusterIndex(db, "bench-placed" if placed else "bench", "http://127.0.0.1:1")
    for n in range(calls):
        call = {"id": f"c{n}", "call_id": f"{n}@bench",
                "direction": "outbound" if placed else "inbound", "caller": "+15550100",
                "called": "+15550199", "state": "ringing" if placed else "active",
                "started": T0 + n, "ended": None}  # fmt: skip
        await index.call_started(call)
        await index.heartbeat(1, 100, True, T0 + n)
        if placed:
            await index.call_answered({**call, "state": "active"})
        await index.call_ended({**call, "state": "completed", "ended": T0 + n + 60})
        await index.heartbeat(0, 100, True, T0 + n + 60)
    figures = _per_call(db.counts, calls)
    await db.close()
    return figures


async def _webhooks(url: str, calls: int, events: int) -> DatabaseCounts:
    async def receive(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    db = Database(url)
    outbox = Outbox(db, "bench")
    delivery = WebhookDelivery(outbox, lambda line: SECRET, DeliveryPolicy())
    delivery.start()
    kinds = ("call.incoming", "call.answered", "call.ended", "call.transferred")
    for n in range(calls):
        for e in range(events):
            kind = kinds[e % len(kinds)]
            delivery.enqueue([NewEvent(f"msg_{n}_{e}", hook, "", f"c{n}", kind, b"{}")])
            await asyncio.sleep(0.002)  # events of a call come apart, as calls make them
    deadline = time.monotonic() + 60 + calls
    while delivery.counts.delivered < calls * events:  # noqa: ASYNC110 - no event to wait on
        if time.monotonic() > deadline:
            raise RuntimeError(f"{delivery.counts.delivered} of {calls * events} delivered")
        await asyncio.sleep(0.01)
    snapshot = DatabaseCounts(**{k: getattr(db.counts, k) for k in DatabaseCounts.__slots__})
    await delivery.stop(grace=1.0)
    await runner.cleanup()
    await db.close()
    return snapshot


async def webhooks_load(url: str, calls: int, events: int) -> dict[str, float]:
    """``events`` webhooks per call through the real delivery loop."""
    return _per_call(await _webhooks(url, calls, events), calls)


async def callback_load(url: str, calls: int) -> dict[str, float]:
    """A callback stored (with its quotas) and dialled, per call."""
    db = Database(url)
    store = CallbackStore(db)
    quota = CallbackQuota(per_caller=1000, per_number=1000, per_day=100000)

    async def answer(request: DialRequest) -> DialResult:
        return DialResult(True, "answered (200)")

    policy = CallbackPolicy(allowed_prefixes=("+1",), max_concurrent=1)
    scheduler = CallbackScheduler(store, answer, policy, owner="bench:1:x")
    for n in range(calls):
        await store.add(call_id=f"c{n}", phone=f"+1555{n:07d}", requested_time="now",
                        reason="r", notes="", due_at=T0 + n, now=T0 + n,
                        requested_by=f"+1555{n:07d}", quota=quota)  # fmt: skip
        await scheduler.run_due(lambda n=n: T0 + n)  # type: ignore[misc]
    figures = _per_call(db.counts, calls)
    await db.close()
    return figures


async def campaign_pass(scheduler: CampaignScheduler, now: float) -> None:
    """One pass of the campaigns' loop (CampaignRunner._run and its progress snapshot)."""
    await scheduler.recover(now)
    await scheduler.poll(now)
    await scheduler.renew(now)
    for campaign in await scheduler.store.campaigns(limit=SHOWN):
        await scheduler.store.progress(campaign.id)
    await scheduler.next_wakeup(now, 2.0)


async def campaign_load(url: str, contacts: int) -> dict[str, float]:
    """A campaign's contacts dialled one a second, per contact (the campaign's creation in)."""
    db = Database(url)
    store = CampaignStore(db)
    spec = campaign_spec({"name": "bench", "hours": "00:00-24:00", "per_second": 1},
                         CampaignLimits())  # fmt: skip
    given = [Contact(f"+1555{n:07d}", {"name": "x"}, "UTC", n + 1) for n in range(contacts)]
    campaign_id = await store.create(spec, given, T0)
    scheduler = CampaignScheduler(store, "bench:1:x")
    for n in range(contacts):
        await campaign_pass(scheduler, T0 + n)
        for order in list(scheduler.in_flight.values()):
            await scheduler.record(order, Attempt("person", "answered", f"c{n}"), T0 + n + 0.5)
    figures = _per_call(db.counts, contacts)  # the bench's own check below not counted
    done = (await store.progress(campaign_id)).completed
    assert done == contacts, f"the bench's campaign completed {done} of {contacts} contacts"
    await db.close()
    return figures


async def idle_load(url: str) -> dict[str, float]:
    """One gateway's statements per minute with no call: 12 heartbeats, 30 callback
    scheduler polls, 30 passes of the campaigns' loop (a cluster's gateway runs it always)."""
    db = Database(url)
    index = ClusterIndex(db, "idle", "http://127.0.0.1:1")
    store = CallbackStore(db)

    async def never(request: DialRequest) -> DialResult:
        raise AssertionError("nothing is due")

    scheduler = CallbackScheduler(store, never, CallbackPolicy(), owner="idle:1:x")
    for beat in range(12):
        await index.heartbeat(0, 100, True, T0 + 5 * beat)
    for poll in range(30):  # what CallbackRunner._run does each pass
        now = T0 - 10**6 + 2 * poll  # before every stored callback: nothing due
        await scheduler.recover(now)
        await scheduler.claim_due(now)
        await scheduler.renew(now, [])
        await scheduler.next_wakeup(now, 2.0)
    campaigns = CampaignScheduler(CampaignStore(db), "idle:1:x")
    for poll in range(30):  # the campaigns' loop, with no campaign running
        await campaign_pass(campaigns, T0 + 2 * poll)
    counts = db.counts
    await db.close()
    return {"transactions": counts.transactions, "statements": counts.statements,
            "rows": counts.rows, "ms": round(counts.seconds * 1000, 1)}  # fmt: skip


@contextmanager
def database_at(url: str | None) -> Iterator[str]:
    """``url``, or a fresh database on a PostgreSQL of its own (stopped after)."""
    if url:
        yield url
        return
    from tests.toolkit.postgres import PostgresServer

    with PostgresServer() as server:
        yield server.new_database()


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.database", description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="calls per part (200)")
    parser.add_argument("--events", type=int, default=3, help="webhook events per call (3)")
    parser.add_argument("--url", help="an empty PostgreSQL database; default: start one")
    parser.add_argument("--json", metavar="PATH", help="report path ('-' = stdout)")
    return parser


async def _measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    migrated = Database(url)
    await apply_migrations(migrated, T0)
    await migrated.close()
    return {
        "index": await index_load(url, args.calls),
        "webhooks": await webhooks_load(url, args.calls, args.events),
        "callback": await callback_load(url, args.calls),
        "placed": await index_load(url, args.calls, placed=True),
        "campaign": await campaign_load(url, args.calls),
        "idle": await idle_load(url),
    }


def run_on_uvloop(main: Coroutine[Any, Any, T]) -> T:
    """``main`` on uvloop, the gateway's loop (asyncio's where uvloop is missing)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table (and write JSON)."""
    args = build_parser().parse_args(argv)
    with database_at(args.url) as url:
        measured = run_on_uvloop(_measure(url, args))
    parts = {name: measured[name] for name in ("index", "webhooks", "callback")}
    placed, campaign, idle = measured["placed"], measured["campaign"], measured["idle"]
    total = {
        key: round(sum(part[key] for part in parts.values()), 3)
        for key in ("transactions", "statements", "rows", "ms")
    }
    print(f"database load per call ({args.calls} calls, {args.events} webhook events each):")
    print(f"  {'part':<10} {'transactions':>12} {'statements':>10} {'rows':>6} {'ms':>8}")
    for name, part in {**parts, "all": total}.items():
        print(f"  {name:<10} {part['transactions']:>12} {part['statements']:>10} "
              f"{part['rows']:>6} {part['ms']:>8}")  # fmt: skip
    print(f"  {'placed':<10} {placed['transactions']:>12} {placed['statements']:>10} "
          f"{placed['rows']:>6} {placed['ms']:>8}  (a placed call's index, apart)")  # fmt: skip
    print(f"  {'campaign':<10} {campaign['transactions']:>12} {campaign['statements']:>10} "
          f"{campaign['rows']:>6} {campaign['ms']:>8}  (per contact dialled, apart)")  # fmt: skip
    print(f"  idle gateway, per minute: {idle['transactions']} transactions, "
          f"{idle['statements']} statements")  # fmt: skip
    print("  (ms: time inside the database's transactions, per call, from the client)")
    report = {
        "tool": "database",
        "params": {"calls": args.calls, "events": args.events, "own_server": not args.url},
        "machine": machine_info(),
        "figures": {
            "per_call": parts,
            "per_call_all": total,
            "index_placed_per_call": placed,
            "campaign_per_contact": campaign,
            "idle_per_minute": idle,
        },
    }
    print(f"JSON: {write_json(report, args.json, 'database')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
