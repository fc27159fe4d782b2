"""The webhook outbox: events kept in SQLite until their receiver took them.

One row per event and destination URL, in the order the events happened (``id``). A
row is deleted once delivered (2xx) and retried otherwise, at ``next_at``; it is dropped
(logged by the caller) when it has waited longer than the give-up age. Only the oldest
pending row of each (URL, call) is ever due (:meth:`Outbox.claim_due`): a call's events
reach a receiver one after the other, in order, while other calls' events go on.

Several processes may share the file (``serve --workers``): a row is *claimed* for a
lease before it is posted, with one ``UPDATE ... WHERE`` that only one claimer wins, so
no two processes post the same event at once; a claim that outlives its lease (its
process died) is free again, and so is at once a claim of a process of this host that is
gone (:func:`~sipgw.app.claimers.claimer_alive`: a gateway restarted after a crash does not
wait out the lease, nor do the events of the same call behind it). Every method is short
and runs its ``sqlite3`` work in a thread (:func:`~sipgw.agent.blocking.in_thread`). Time is
passed in (tests use a fake clock).

:class:`OutboxStorage` is what the delivery needs of an outbox, its methods coroutines:
:class:`Outbox` (SQLite, the default) or the cluster's (``SIPGW_DATABASE_URL``:
:mod:`sipgw.app.cluster.outbox`, on psycopg's asyncio API).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sipgw.agent.blocking import in_thread
from sipgw.app.claimers import claimer_alive

__all__ = ["NewEvent", "Outbox", "OutboxStorage", "PendingEvent"]

_SCHEMA = """
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


class OutboxStorage(Protocol):
    """An outbox (see :class:`Outbox` for what each method does); every method is a
    coroutine, one unit of work."""

    max_pending: int

    @property
    def where(self) -> str:
        """Where the rows are, for logs."""
        ...

    async def add(self, events: Iterable[NewEvent], now: float) -> int: ...

    async def claim_due(
        self, now: float, lease: float, limit: int, busy: Iterable[tuple[str, str]] = ()
    ) -> list[PendingEvent]: ...

    async def delivered(self, row: int) -> None: ...

    async def failed(self, row: int, next_at: float, error: str) -> None: ...

    async def drop(self, row: int) -> None: ...

    async def release(self, rows: Iterable[int] | None = None) -> None: ...

    async def pending(self) -> int: ...

    async def next_due(self, now: float) -> float | None: ...


class Outbox:
    """The SQLite table of events to deliver (see the module docstring).

    Args:
        path: the database file (created, with its directory, if missing, on first use).
        owner: this process's claim name.
        max_pending: rows kept at most; :meth:`add` refuses more.
        table: the table's name (another outbox in the same file: Twilio's status
            callbacks, :mod:`sipgw.app.twilio.api.status`).
    """

    def __init__(
        self, path: Path, owner: str, max_pending: int = 10000, table: str = "webhook_outbox"
    ) -> None:
        if not table.isidentifier():
            raise ValueError(f"outbox table {table!r}: not an SQL identifier")
        self.path = path
        self.owner = owner
        self.max_pending = max_pending
        self.table = table
        self._prepared = False
        self._preparing = threading.Lock()
        """Held while the first use makes the file and the table (and switches it to WAL,
        which another connection at the same moment would find locked)."""

    @property
    def where(self) -> str:
        """The file and table."""
        return f"{self.path} ({self.table})"

    def _prepare(self) -> None:
        """The first use, in its thread: the directory, the file in WAL mode, the table."""
        with self._preparing:
            if self._prepared:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(self._open()) as db:
                db.executescript(_SCHEMA.format(table=self.table))
            self._prepared = True

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a process crash
        except BaseException:
            db.close()
            raise
        return db

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._prepared:
            self._prepare()
        db = self._open()
        try:
            yield db
        finally:
            db.close()

    @in_thread
    def add(self, events: Iterable[NewEvent], now: float) -> int:
        """Keep ``events`` (due now); returns how many were refused because the outbox is full."""
        batch = list(events)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            (pending,) = db.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()
            room = max(0, self.max_pending - int(pending))
            db.executemany(
                f"INSERT INTO {self.table} (event_id, url, line, call, type, body, created, "
                "next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (e.event_id, e.url, e.line, e.call, e.type, e.body, now, now)
                    for e in batch[:room]
                ],
            )
            db.execute("COMMIT")
        return max(0, len(batch) - room)

    @in_thread
    def claim_due(
        self, now: float, lease: float, limit: int, busy: Iterable[tuple[str, str]] = ()
    ) -> list[PendingEvent]:
        """Claim up to ``limit`` due rows, each the oldest pending one of its (URL, call),
        skipping the pairs in ``busy`` (being posted by this process) and rows another
        claimer holds; each claim lasts ``lease`` seconds."""
        skip = set(busy)
        claimed: list[PendingEvent] = []
        with self._connect() as db:
            heads = db.execute(
                "SELECT o.id, o.event_id, o.url, o.line, o.call, o.type, o.body, o.created, "
                f"o.attempts, o.next_at, o.claimed_by, o.claim_until FROM {self.table} o "
                f"JOIN (SELECT MIN(id) AS id FROM {self.table} GROUP BY url, call) h "
                "ON o.id = h.id ORDER BY o.id"
            ).fetchall()
            for row in heads:
                if len(claimed) >= limit:
                    break
                (rid, event_id, url, line, call, kind, body, created, attempts, next_at,
                 claimed_by, claim_until) = row  # fmt: skip
                if next_at > now or (url, call) in skip:
                    continue
                # another claimer's row waits for its lease, unless that claimer was a
                # process of this host that is gone (a crash: taken over at once)
                held = claimed_by not in (None, self.owner) and (claim_until or 0) > now
                gone = held and not claimer_alive(claimed_by)
                if held and not gone:
                    continue
                won = db.execute(
                    f"UPDATE {self.table} SET claimed_by = ?, claim_until = ? WHERE id = ? "
                    "AND (claimed_by IS NULL OR claimed_by = ? OR claim_until <= ? "
                    "OR claimed_by = ?)",
                    (self.owner, now + lease, rid, self.owner, now, claimed_by if gone else None),
                ).rowcount
                if won:
                    claimed.append(
                        PendingEvent(event_id, url, line, call, kind, body, rid, created, attempts)
                    )
        return claimed

    @in_thread
    def delivered(self, row: int) -> None:
        """The receiver took it (2xx): forget it."""
        with self._connect() as db:
            db.execute(f"DELETE FROM {self.table} WHERE id = ?", (row,))

    @in_thread
    def failed(self, row: int, next_at: float, error: str) -> None:
        """An attempt failed: try again at ``next_at``; the claim is released."""
        with self._connect() as db:
            db.execute(
                f"UPDATE {self.table} SET attempts = attempts + 1, next_at = ?, last_error = ?, "
                "claimed_by = NULL, claim_until = NULL WHERE id = ?",
                (next_at, error[:500], row),
            )

    async def drop(self, row: int) -> None:
        """Give up on a row (too old, or the receiver said 410 Gone)."""
        await self.delivered(row)

    @in_thread
    def release(self, rows: Iterable[int] | None = None) -> None:
        """Give back claims without an attempt (stopping): due again at once; ``rows``
        None = every claim of this owner."""
        with self._connect() as db:
            if rows is None:
                db.execute(
                    f"UPDATE {self.table} SET claimed_by = NULL, claim_until = NULL "
                    "WHERE claimed_by = ?",
                    (self.owner,),
                )
                return
            db.executemany(
                f"UPDATE {self.table} SET claimed_by = NULL, claim_until = NULL WHERE id = ?",
                [(row,) for row in rows],
            )

    @in_thread
    def pending(self) -> int:
        """Rows waiting for delivery."""
        with self._connect() as db:
            (count,) = db.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()
        return int(count)

    @in_thread
    def next_due(self, now: float) -> float | None:
        """When a row may next be claimed: the earliest ``next_at`` of the unclaimed rows
        at the head of their (URL, call), or the end of a claim (its ``next_at`` when its
        claimer is a process of this host that is gone); None when empty."""
        with self._connect() as db:
            heads = db.execute(
                "SELECT o.next_at, o.claimed_by, o.claim_until "
                f"FROM {self.table} o JOIN (SELECT MIN(id) AS id FROM {self.table} "
                "GROUP BY url, call) h ON o.id = h.id"
            ).fetchall()
        due = [
            float(claim_until)
            if claimed_by is not None
            and claim_until is not None
            and claim_until > now
            and claimer_alive(claimed_by)
            else float(next_at)
            for next_at, claimed_by, claim_until in heads
        ]
        return min(due, default=None)
