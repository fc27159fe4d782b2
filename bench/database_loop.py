"""The event loop beside a busy shared database: the media ticker's lateness with calls up.

Run: ``.venv/bin/python -m bench.database_loop [--calls 200] [--workers 4] [--rate 2]
[--seconds 20] [--pin] [--url postgresql://...] [--json PATH]`` from the repository root.
Without ``--url`` it starts its own PostgreSQL, as ``bench.database`` does; ``--pin`` puts
that server on the second CPU and this process on the first, as a gateway and its database
on two machines would not share a core (on a machine shared with other work, pinning
leaves the loop to whatever else runs on its CPU: off by default).

One uvloop loop, as in ``sipgw serve``, runs the real media ticker
(:class:`~sipgw.media.aio.ticker.Ticker`, absolute 20 ms deadlines) with ``--calls`` calls'
send side on it: each tick encodes a 20 ms frame to μ-law and sends one RTP packet to a
sink on loopback. Two phases of ``--seconds`` each: the calls alone, then the calls while
``--workers`` campaign loops on the same loop keep the database busy, each as
:class:`~sipgw.app.campaigns.runner.CampaignRunner` makes its passes (recovery, claims of up
to five contacts, renewal, the progress snapshot, next due time) on a campaign of its own,
every claimed contact's outcome recorded at once, ``--rate`` passes a second (the campaign's
pacing lets one contact through a pass: about 15 transactions; 0: back to back, the
database's client as busy as it gets). For each phase: the ticker's wake-up lateness (p50,
p99, p99.9, max, ms), the transactions a second, and the CPU of the process and of the
loop's thread; and the CPU a transaction costs (the second phase's over the first's, per
transaction): in all, and on the loop's thread.

Every unit of work goes through :func:`unit` (awaited: the stores' asyncio API).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._harness import machine_info, percentile, pin_self, write_json
from bench.database import T0, run_on_uvloop
from sipgw.app.campaigns.model import CampaignLimits, Contact, campaign_spec
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.app.campaigns.scheduler import CampaignScheduler
from sipgw.app.campaigns.service import SHOWN
from sipgw.app.campaigns.store import CampaignStore
from sipgw.app.cluster.database import Database
from sipgw.app.cluster.migrations import apply_migrations
from sipgw.media.aio.ticker import Ticker
from sipgw.media.g711 import linear_to_ulaw

CONTACTS = 20_000
"""Contacts in each worker's campaign (more than a run claims)."""
ROOM = 5
"""Contacts a pass claims at most (a gateway's room for calls)."""


async def unit(step: Callable[..., Any], *args: Any) -> Any:
    """One step of the database's work, as the gateway runs it: awaited on the loop."""
    return await step(*args)


class SendingCall:
    """One call's send side: a μ-law frame and its RTP packet each tick."""

    def __init__(self, sock: socket.socket, sink: tuple[str, int], ssrc: int) -> None:
        self.sock = sock
        self.sink = sink
        self.ssrc = ssrc
        self.seq = 0
        self.pcm = bytes(range(256)) + bytes(64)  # 160 samples of 16-bit audio

    def tick(self, now: float) -> None:
        self.seq = (self.seq + 1) & 0xFFFF
        frame = linear_to_ulaw(self.pcm)
        header = struct.pack("!BBHII", 0x80, 0, self.seq, self.seq * 160, self.ssrc)
        try:
            self.sock.sendto(header + frame, self.sink)
        except BlockingIOError:  # the sink's buffer is full: dropped, as the kernel would
            pass

    def skip(self, ticks: int) -> None:
        self.seq = (self.seq + ticks) & 0xFFFF


async def _campaign(url: str, worker: int) -> tuple[Database, CampaignScheduler]:
    db = Database(url)
    store = CampaignStore(db)
    spec = campaign_spec(
        {"name": f"loop-{worker}", "hours": "00:00-24:00", "per_second": 1000,
         "concurrency": 1000},
        CampaignLimits(max_per_second=1000, max_concurrency=1000),
    )  # fmt: skip
    contacts = [Contact(f"+1{worker}55{n:07d}", {}, "UTC", n + 1) for n in range(CONTACTS)]
    await unit(store.create, spec, contacts, T0)
    return db, CampaignScheduler(store, f"loop:{worker}:x")


async def _busy(scheduler: CampaignScheduler, stop: asyncio.Event, rate: float) -> None:
    """A campaign loop's passes, ``rate`` a second (0: back to back), each claimed contact
    recorded at once."""
    store = scheduler.store
    loop = asyncio.get_running_loop()
    now, slot = T0, loop.time()
    while not stop.is_set():
        if rate > 0:
            slot += 1.0 / rate
            await asyncio.sleep(max(0.0, slot - loop.time()))
        now += 1.0  # every pass a second later: the pacing always allows the claims
        await unit(scheduler.recover, now)
        orders = await unit(scheduler.poll, now, ROOM)
        await unit(scheduler.renew, now)
        for campaign in await unit(store.campaigns, None, SHOWN):
            await unit(store.progress, campaign.id)
        await unit(scheduler.next_wakeup, now, 2.0)
        for order in orders:
            await unit(scheduler.record, order, Attempt("person", "answered", "c"), now + 0.5)


@contextmanager
def _database(url: str | None, pin: bool) -> Iterator[tuple[str, bool]]:
    """``url``, or a fresh database on a PostgreSQL of its own; with ``pin`` (and a server
    of its own on a machine of two CPUs or more) that server on the second CPU and this
    process on the first."""
    if url:
        yield url, False
        return
    from tests.toolkit.postgres import PostgresServer

    with PostgresServer() as server:
        cpus = sorted(os.sched_getaffinity(0))
        pinned = pin and len(cpus) >= 2
        if pinned:
            postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
            for pid in [postmaster, *_children(postmaster)]:  # backends fork from it later
                os.sched_setaffinity(pid, {cpus[1]})
            pin_self(cpus[0])
        try:
            yield server.new_database(), pinned
        finally:
            if pinned:
                os.sched_setaffinity(0, set(cpus))


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in found.read_text().split()] if found.exists() else []


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, time.thread_time()


async def _phase(
    ticker: Ticker,
    seconds: float,
    schedulers: list[tuple[Database, CampaignScheduler]],
    rate: float,
) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    workers = [loop.create_task(_busy(s, stop, rate)) for _, s in schedulers]
    before = sum(db.counts.transactions for db, _ in schedulers)
    ticker.drain_lateness()
    cpu0, loop0, began = *_cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, loop1, ended = *_cpu(), time.monotonic()
    late = sorted(1000 * x for x in ticker.drain_lateness())
    stop.set()
    await asyncio.gather(*workers)
    wall = ended - began
    transactions = sum(db.counts.transactions for db, _ in schedulers) - before
    return {
        "seconds": round(wall, 2),
        "ticks": len(late),
        "late_p50_ms": round(percentile(late, 50) or 0.0, 3),
        "late_p99_ms": round(percentile(late, 99) or 0.0, 3),
        "late_p999_ms": round(percentile(late, 99.9) or 0.0, 3),
        "late_max_ms": round(late[-1], 3) if late else 0.0,
        "transactions_per_s": round(transactions / wall, 1),
        "cpu_process_pct": round(100 * (cpu1 - cpu0) / wall, 1),
        "cpu_loop_thread_pct": round(100 * (loop1 - loop0) / wall, 1),
    }


async def measure(
    url: str, calls: int, workers: int, seconds: float, rate: float
) -> dict[str, Any]:
    """Both phases; the calls stay up through them."""
    migrated = Database(url)
    await unit(apply_migrations, migrated, T0)
    await unit(migrated.close)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setblocking(False)
    ticker = Ticker()
    for n in range(calls):
        ticker.add(SendingCall(sender, sink.getsockname(), n))
    busy = [await _campaign(url, w) for w in range(workers)]
    ticker.start()
    try:
        alone = await _phase(ticker, seconds, [], rate)
        beside = await _phase(ticker, seconds, busy, rate)
    finally:
        await ticker.stop()
        for db, _ in busy:
            await unit(db.close)
        sender.close()
        sink.close()
    return {"calls_alone": alone, "calls_and_database": beside, **cost(alone, beside)}


def cost(alone: dict[str, Any], beside: dict[str, Any]) -> dict[str, float]:
    """CPU per transaction, ms: the process's and the loop thread's, over the calls alone."""
    rate = beside["transactions_per_s"] or 1.0
    return {
        f"{what}_ms_per_transaction": round(
            10 * (beside[f"cpu_{what}_pct"] - alone[f"cpu_{what}_pct"]) / rate, 3
        )
        for what in ("process", "loop_thread")
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.database_loop", description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="calls on the ticker (200)")
    parser.add_argument("--workers", type=int, default=4, help="campaign loops at once (4)")
    parser.add_argument(
        "--rate",
        type=float,
        default=2.0,
        help="passes a second per campaign loop (2; 0: back to back)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds a phase (20)")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin this process and its own PostgreSQL to two CPUs",
    )
    parser.add_argument("--url", help="an empty PostgreSQL database; default: start one")
    parser.add_argument("--json", metavar="PATH", help="report path ('-' = stdout)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the table (and write JSON)."""
    args = build_parser().parse_args(argv)
    with _database(args.url, args.pin) as (url, pinned):
        figures = run_on_uvloop(measure(url, args.calls, args.workers, args.seconds, args.rate))
    rate = f"{args.rate:g} passes/s each" if args.rate > 0 else "back to back"
    print(f"media ticker with {args.calls} calls, {args.workers} campaign loops on the "
          f"database ({rate}; pinned: {pinned}):")  # fmt: skip
    print(f"  {'phase':<19} {'p50':>6} {'p99':>6} {'p99.9':>6} {'max':>7} {'tx/s':>7} "
          f"{'cpu %':>6} {'loop %':>6}")  # fmt: skip
    for name in ("calls_alone", "calls_and_database"):
        phase = figures[name]
        print(f"  {name:<19} {phase['late_p50_ms']:>6} {phase['late_p99_ms']:>6} "
              f"{phase['late_p999_ms']:>6} {phase['late_max_ms']:>7} "
              f"{phase['transactions_per_s']:>7} {phase['cpu_process_pct']:>6} "
              f"{phase['cpu_loop_thread_pct']:>6}")  # fmt: skip
    print(f"  CPU per transaction: {figures['process_ms_per_transaction']} ms, of which "
          f"{figures['loop_thread_ms_per_transaction']} ms on the loop's thread")  # fmt: skip
    print("  (the ticker's wake-up lateness, ms; cpu: the process; loop: the loop's thread)")
    report = {
        "tool": "database_loop",
        "params": {
            "calls": args.calls,
            "workers": args.workers,
            "rate": args.rate,
            "seconds": args.seconds,
            "own_server": not args.url,
            "pinned": pinned,
        },
        "machine": machine_info(),
        "figures": figures,
    }
    print(f"JSON: {write_json(report, args.json, 'database_loop')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
