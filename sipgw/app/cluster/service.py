"""The shared database at start, and this gateway's membership of the cluster.

:func:`open_shared_state` connects to ``SIPGW_DATABASE_URL``, applies the migrations and
returns the stores every part of the gateway uses instead of its SQLite files.
:class:`ClusterMember` is the asyncio side: it writes this gateway's heartbeat every
``interval`` seconds and each call's start and end, and a placed call's answer (from the
call feed), into the calls' index, one write after another in a task of its own (a call's
end never overtakes its start), each awaited on the loop (psycopg's asyncio API). A database
that stops answering is logged and retried: calls go on; the heartbeat resumes when it
answers again; an index write that fails is tried again for about 15 s
(:data:`INDEX_RETRIES`: a database restarting), the writes behind it waiting in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sipgw.agent.tools.callback_store import CallbackStore
from sipgw.agent.tools.message_store import MessageStore
from sipgw.app.calls.callfeed import CallFeed, FeedEvent
from sipgw.app.campaigns.store import CampaignStore
from sipgw.app.cluster.database import Database, redacted_url
from sipgw.app.cluster.members import ClusterIndex
from sipgw.app.cluster.migrations import apply_migrations
from sipgw.app.twilio.api.registry import CallRegistry
from sipgw.app.webhooks.outbox import Outbox
from sipgw.foundation.stopping import cancel_and_wait

__all__ = ["ClusterMember", "GatewayLoad", "SharedState", "open_shared_state"]

log = logging.getLogger("sipgw.cluster")

PRUNE_EVERY = 3600.0
"""Seconds between two prunings of the calls' index by one gateway."""

INDEX_RETRIES = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits, seconds, before each new try of an index write that failed (about 15 s in all:
a restart of the database), before the write is given up."""

GatewayLoad = Callable[[], tuple[int, int | None, bool]]
"""This gateway's calls in progress, capacity (None = no limit) and whether it takes calls."""


@dataclass(frozen=True, slots=True)
class SharedState:
    """The shared database's stores."""

    db: Database
    callbacks: CallbackStore
    messages: MessageStore
    campaigns: CampaignStore
    applied: tuple[int, ...] = ()
    """The migrations this start applied (none: the schema was up to date)."""

    def describe(self) -> str:
        """For the start-up log: where, and what the migrations did."""
        done = f"migrations {list(self.applied)} applied" if self.applied else "schema up to date"
        return f"shared state in {redacted_url(self.db.url)} ({done})"

    @property
    def twilio_calls(self) -> CallRegistry:
        """The REST subset's calls, shared by the cluster's gateways."""
        return CallRegistry(self.db)

    def outbox(self, owner: str, max_pending: int, table: str = "webhook_outbox") -> Outbox:
        """An outbox table for ``owner`` (this gateway's claim name)."""
        return Outbox(self.db, owner, max_pending, table)


async def open_shared_state(url: str, now: float | None = None) -> SharedState:
    """Connect to ``url`` and bring its schema up to date; the stores connect again on
    the loop that uses them (the start runs this on a loop of its own, before the gateway's).

    Raises:
        psycopg.Error: the database cannot be reached or a migration failed.
        RuntimeError: the database's schema is newer than this gateway's.
    """
    db = Database(url)
    try:
        applied = await apply_migrations(db, time.time() if now is None else now)
    finally:
        await db.close()
    return SharedState(db, CallbackStore(db), MessageStore(db), CampaignStore(db), tuple(applied))


class ClusterMember:
    """This gateway in the cluster: heartbeats and the calls' index (see the module docstring).

    Args:
        index: this gateway's rows.
        feed: the gateway's call feed.
        load: this gateway's load, read at each heartbeat.
        clock: wall time.
    """

    def __init__(
        self,
        index: ClusterIndex,
        feed: CallFeed,
        load: GatewayLoad,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = index
        self.load = load
        self.clock = clock
        self._feed = feed
        self._writes: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._ringing: set[str] = set()
        """Placed calls indexed as ``ringing``, by log id (their answer is written)."""

    def start(self) -> None:
        """Follow the feed and start heartbeating (the first beat at once)."""
        loop = asyncio.get_running_loop()
        self._unsubscribe = self._feed.subscribe(self._on_feed)
        self._tasks = [
            loop.create_task(self._beat(), name="cluster-heartbeat"),
            loop.create_task(self._write(), name="cluster-index"),
        ]

    async def beat_now(self) -> None:
        """Write the heartbeat now (after a change of load the others should see)."""
        active, capacity, accepting = self.load()
        await self.index.heartbeat(active, capacity, accepting, self.clock())

    async def stop(self) -> None:
        """Write what is queued, stop, and leave the cluster (its heartbeat row removed)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self._writes.join()
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        try:
            await self.index.leave()
        except Exception as exc:  # the database is gone: the heartbeat ages out instead
            log.warning("cluster: could not leave cleanly: %s", exc)

    def _on_feed(self, event: FeedEvent) -> None:
        if event.kind == "call_started":
            if event.data.get("state") == "ringing":  # a placed call: its answer follows
                self._ringing.add(event.call)
        elif event.kind == "call_answered":
            if event.call not in self._ringing:
                return
            self._ringing.discard(event.call)
        elif event.kind == "call_ended":
            self._ringing.discard(event.call)
        else:
            return
        self._writes.put_nowait((event.kind, event.data))

    async def _write(self) -> None:
        writes = {"call_started": self.index.call_started,
                  "call_answered": self.index.call_answered,
                  "call_ended": self.index.call_ended}  # fmt: skip
        while True:
            kind, call = await self._writes.get()
            try:
                await self._write_one(writes[kind], kind, call)
            finally:
                self._writes.task_done()

    async def _write_one(
        self,
        write: Callable[[dict[str, Any]], Awaitable[None]],
        kind: str,
        call: dict[str, Any],
    ) -> None:
        """One index write, tried again after :data:`INDEX_RETRIES` waits (the database
        restarting) before it is given up: the writes behind it wait, in order."""
        for wait in (*INDEX_RETRIES, None):
            try:
                await write(call)
                break
            except Exception as exc:
                if wait is None:  # logged; the call goes on without its index row
                    log.error("cluster: indexing call %s failed: %s", call.get("id"), exc)
                    return
                await asyncio.sleep(wait)
        if kind != "call_answered":
            with contextlib.suppress(Exception):  # the next heartbeat tells it anyway
                await self.beat_now()  # its load changed

    async def _beat(self) -> None:
        pruned_at = -PRUNE_EVERY
        while True:
            try:
                await self.beat_now()
                if self.clock() - pruned_at >= PRUNE_EVERY:
                    pruned_at = self.clock()
                    await self.index.prune(pruned_at)
            except Exception as exc:  # retried at the next beat
                log.error("cluster: heartbeat failed: %s", exc)
            await asyncio.sleep(self.index.interval)
