"""The webhook outbox: events kept in SQLite until their receiver took them.

One row per event and destination URL, in the order the events happened (``id``). A
row is deleted once delivered (2xx) and retried otherwise, at ``next_at``; it is dropped
(logged by the caller) when it has waited longer than the give-up age. Only the oldest
pending row of each (URL, call) is ever due (:meth:`Outbox.claim_due`): a call's events
reach a receiver one after the other, in order, while other calls' events go on.

Several processes share it (``serve --workers`` on one SQLite file; the gateways of a
cluster on PostgreSQL, ``SIPGW_DATABASE_URL``: an event is posted by one of them, once): a
row is *claimed* for a lease before it is posted, in one statement
(:func:`~sipgw.foundation.stores.sql.claim_due`; ``FOR UPDATE SKIP LOCKED`` in PostgreSQL), so no
two processes post the same event at once. A claim that outlives its lease (its process
died) is free again, and so is at once a claim of a process of this host that is gone
(:func:`~sipgw.app.claimers.claimer_alive`: a gateway restarted after a crash does not wait
out the lease, nor do the events of the same call behind it); another host's claim is known
gone by its lease only (the receiver may then see the event twice: the ``webhook-id`` is
the same, to deduplicate). A claimer may claim its own rows again (the delivery passes those
it is posting as ``busy``). Time is passed in (tests use a fake clock).

:class:`Outbox` is written once over the dialect seam (:mod:`sipgw.foundation.stores.sql`): on
the SQLite file (the default, in WAL mode), or on the cluster's PostgreSQL (the tables of
migration ``0001_shared_state.sql``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sipgw.app.claimers import claimer_alive
from sipgw.foundation.stores.sql import ClaimQueue, Engine, claim_due, marks
from sipgw.foundation.stores.sqlite import SqliteEngine, executescript

__all__ = ["NewEvent", "Outbox", "PendingEvent"]

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    url TEXT NOT NULL,
    line TEXT NOT NULL,
    call TEXT NOT NULL,
    type TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    claimed_by TEXT,
    claim_until REAL
);
CREATE INDEX IF NOT EXISTS {table}_order ON {table} (url, call, id);
"""
"""An outbox table in a SQLite file."""
SHARED_TABLES = ("webhook_outbox", "twilio_status_outbox")
"""The outbox tables of the shared database (its migrations make these)."""
_COLUMNS = "id, event_id, url, line, call, type, body, created, attempts"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to keep for one destination."""

    event_id: str
    """The ``webhook-id`` (the same on every attempt)."""
    url: str
    line: str
    """The line whose secret signs it ("" = the gateway's)."""
    call: str
    """The call it is about: its events go out in order."""
    type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class PendingEvent(NewEvent):
    """A row of the outbox: the event, its row id, when it was made, attempts so far."""

    id: int
    created: float
    attempts: int


class Outbox:
    """An outbox table of events to deliver (see the module docstring).

    Args:
        engine: where: a SQLite file (a path: created, with its directory, if missing,
            on first use) or the cluster's database.
        owner: this process's claim name.
        max_pending: rows kept at most (in all the cluster); :meth:`add` refuses more.
        table: the table's name (another outbox beside it: Twilio's status callbacks,
            ``twilio_status_outbox``: :mod:`sipgw.app.twilio.api.status`).
    """

    def __init__(
        self,
        engine: Engine | Path,
        owner: str,
        max_pending: int = 10000,
        table: str = "webhook_outbox",
    ) -> None:
        if not table.isidentifier():
            raise ValueError(f"outbox table {table!r}: not an SQL identifier")
        if isinstance(engine, Path):
            schema = executescript(SQLITE_SCHEMA.format(table=table))
            engine = SqliteEngine(engine, schema, timeout=10.0, private=False, wal=True)
        elif table not in SHARED_TABLES:
            raise ValueError(f"outbox table {table!r}: not one of {', '.join(SHARED_TABLES)}")
        self.engine = engine
        self.owner = owner
        self.max_pending = max_pending
        self.table = table
        self.queue = ClaimQueue(
            table=table,
            due="next_at",
            ready=(
                f"id = (SELECT MIN(h.id) FROM {table} h"
                f" WHERE h.url = {table}.url AND h.call = {table}.call)"
            ),
            lease="claim_until",
        )
        """The heads of their (URL, call); :meth:`claim_due` narrows them to the free."""

    @property
    def where(self) -> str:
        """Where the rows are (a file, a database without its password) and the table."""
        return f"{self.engine.where} ({self.table})"

    async def add(self, events: Iterable[NewEvent], now: float) -> int:
        """Keep ``events`` (due now); returns how many were refused because the outbox is full."""
        batch = list(events)
        # the count and the inserts as one, across processes and gateways
        async with self.engine.atomic(lock=self.table) as tx:
            ((pending,),) = (await tx.run(f"SELECT COUNT(*) FROM {self.table}")).rows
            room = max(0, self.max_pending - int(pending))
            await tx.run_many(
                f"INSERT INTO {self.table} (event_id, url, line, call, type, body, created,"
                " next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(e.event_id, e.url, e.line, e.call, e.type, e.body, now, now)
                 for e in batch[:room]],
            )  # fmt: skip
        return max(0, len(batch) - room)

    async def claim_due(
        self, now: float, lease: float, limit: int, busy: Iterable[tuple[str, str]] = ()
    ) -> list[PendingEvent]:
        """Claim up to ``limit`` due rows, each the oldest pending one of its (URL, call),
        skipping the pairs in ``busy`` (being posted by this process) and rows another
        claimer holds (unless it is a process of this host that is gone); each claim lasts
        ``lease`` seconds."""
        if limit <= 0:
            return []
        gone = await self._gone_claimers(now)
        free = "claimed_by IS NULL OR claim_until <= :now OR claimed_by IN"
        free += f" ({marks(1 + len(gone))})"
        pairs = sorted(set(busy))
        skip = " OR ".join(["(url = ? AND call = ?)"] * len(pairs))
        rows = await claim_due(
            self.engine, self.queue, owner=self.owner, now=now, lease=lease, limit=limit,
            columns=_COLUMNS, where=f"({free}){f' AND NOT ({skip})' if skip else ''}",
            where_params=(self.owner, *gone, *(part for pair in pairs for part in pair)),
        )  # fmt: skip
        return [
            PendingEvent(event_id, url, line, call, kind, bytes(body), rid, created, attempts)
            for rid, event_id, url, line, call, kind, body, created, attempts in rows
        ]

    async def _gone_claimers(self, now: float) -> list[str]:
        """The other claimers holding a live claim that are gone processes of this host."""
        held = await self.engine.run(
            f"SELECT DISTINCT claimed_by FROM {self.table}"
            " WHERE claimed_by IS NOT NULL AND claimed_by <> ? AND claim_until > ?",
            (self.owner, now),
        )
        return [str(owner) for (owner,) in held.rows if not claimer_alive(str(owner))]

    async def delivered(self, row: int) -> None:
        """The receiver took it (2xx): forget it."""
        await self.engine.run(f"DELETE FROM {self.table} WHERE id = ?", (row,))

    async def failed(self, row: int, next_at: float, error: str) -> None:
        """An attempt failed: try again at ``next_at``; the claim is released."""
        await self.engine.run(
            f"UPDATE {self.table} SET attempts = attempts + 1, next_at = ?, last_error = ?,"
            " claimed_by = NULL, claim_until = NULL WHERE id = ?",
            (next_at, error[:500], row),
        )

    async def drop(self, row: int) -> None:
        """Give up on a row (too old, or the receiver said 410 Gone)."""
        await self.delivered(row)

    async def release(self, rows: Iterable[int] | None = None) -> None:
        """Give back claims without an attempt (stopping): due again at once; ``rows``
        None = every claim of this owner."""
        params: list[object]
        if rows is None:
            where, params = "claimed_by = ?", [self.owner]
        else:
            params = list(rows)
            where = f"id IN ({marks(len(params))})"
        await self.engine.run(
            f"UPDATE {self.table} SET claimed_by = NULL, claim_until = NULL WHERE {where}",
            params,
        )

    async def pending(self) -> int:
        """Rows waiting for delivery (from every process)."""
        ((count,),) = (await self.engine.run(f"SELECT COUNT(*) FROM {self.table}")).rows
        return int(count)

    async def next_due(self, now: float) -> float | None:
        """When a row may next be claimed: the earliest ``next_at`` of the unclaimed rows
        at the head of their (URL, call), or the end of a claim (its ``next_at`` when its
        claimer is a process of this host that is gone); None when empty."""
        found = await self.engine.run(
            "SELECT claimed_by, MIN(next_at),"
            " MIN(CASE WHEN claim_until > ? THEN claim_until ELSE next_at END)"
            f" FROM {self.table} WHERE id IN (SELECT MIN(id) FROM {self.table}"
            " GROUP BY url, call) GROUP BY claimed_by",
            (now,),
        )
        due = [
            float(held_until if claimed_by is None or claimer_alive(str(claimed_by)) else next_at)
            for claimed_by, next_at, held_until in found.rows
        ]
        return min(due, default=None)
