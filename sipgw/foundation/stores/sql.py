"""The dialect seam: each SQL store is written once and runs on SQLite or PostgreSQL.

Where the pieces live (imports point down only: the agent's tools cannot import the app)::

    app    sipgw/app/campaigns/store.py   sipgw/app/webhooks/outbox.py    (stores, written once)
           sipgw/app/cluster/database.py  Database: the Engine on PostgreSQL
                  │                                (psycopg's asyncio API, a pool)
                  ▼
    agent  sipgw/agent/tools/callback_store.py  message_store.py         (stores, written once)
                  │
                  ▼
           sipgw/foundation/stores/sql.py     Engine, Statements (protocols), Dialect, Result,
                                        ClaimQueue / claim_due / renew_leases
           sipgw/foundation/stores/sqlite.py  SqliteEngine: the Engine on a SQLite file
                                        (sqlite3 in a thread, one unit of work at a time)

A store takes an :class:`Engine` (the app hands the tools the shared database's) and speaks
to it in one SQL text: ``?`` placeholders (turned into ``%s`` for psycopg: no ``?`` inside
a literal), standard SQL both engines run (``RETURNING id`` for new ids,
``ON CONFLICT ... DO NOTHING``, ``COALESCE``, ``CASE``), and the few words they spell
differently taken from :class:`Dialect`: the row locks (``FOR UPDATE [SKIP LOCKED]`` in
PostgreSQL, nothing in SQLite, whose transactions are ``BEGIN IMMEDIATE``: one writer at a
time, so what the lock guards holds there already), the null-safe equality, and the two-argument
``GREATEST``/``LEAST`` (SQLite's ``MAX``/``MIN``). Time is passed in (epoch seconds, and the
ISO text some rows show beside them, made in Python), never read by the server.

A unit of work is :meth:`Engine.run` (one statement, its own transaction) or
:meth:`Engine.atomic` (several, ``BEGIN`` ... ``COMMIT``; its ``lock`` is the PostgreSQL
advisory lock that makes a count and an insert one step across gateways, which SQLite's
single writer gives anyway). What stays apart: the schema. PostgreSQL's is the versioned
migrations of ``sipgw/app/cluster/migrations/`` (shared by a cluster); a SQLite file gets
its tables from the store on first use (``CREATE TABLE IF NOT EXISTS``, columns added to
older files), through :class:`~sipgw.foundation.stores.sqlite.SqliteEngine`'s ``prepare``.

Claims (:func:`claim_due`): the due rows of a :class:`ClaimQueue`, taken for one claimer
under a lease in one statement::

    UPDATE t SET claimer = ?, lease = ?, <also>
    WHERE key IN (SELECT key FROM t WHERE <ready> AND due <= ? [AND <where>]
                  ORDER BY due, key LIMIT n [FOR UPDATE SKIP LOCKED])
    RETURNING ...

In PostgreSQL ``FOR UPDATE`` locks each row the sub-select picks, and ``SKIP LOCKED`` makes
another gateway's concurrent claim pass over them instead of waiting (and then taking them
again): two gateways claiming at once get disjoint rows. In SQLite the statement runs alone
(one writer), which gives the same. Once committed the claim stands in the row (claimer and
lease), so ``ready`` must leave claimed rows out while their lease runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "ClaimQueue",
    "Dialect",
    "Engine",
    "Result",
    "Statements",
    "claim_due",
    "marks",
    "renew_leases",
]


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one engine spells its own way (see the module docstring)."""

    name: str
    """``sqlite`` or ``postgresql``."""
    for_update: str
    """Locks the rows a ``SELECT`` in a transaction read until it ends ("" in SQLite)."""
    skip_locked: str
    """Locks them, passing over rows another transaction locked ("" in SQLite)."""
    same: str
    """Null-safe equality: ``a IS b`` (SQLite), ``a IS NOT DISTINCT FROM b``."""
    greatest: str
    """The larger of two values (``MAX(a, b)`` in SQLite)."""
    least: str
    """The smaller of two values."""
    placeholder: str
    """The driver's parameter mark, written ``?`` in a store's SQL."""

    def native(self, sql: str) -> str:
        """``sql`` as the driver takes it: ``?`` marks made the driver's (``%s``, with a
        literal ``%`` doubled)."""
        if self.placeholder == "?":
            return sql
        return sql.replace("%", "%%").replace("?", self.placeholder)


SQLITE = Dialect(
    name="sqlite", for_update="", skip_locked="", same="IS", greatest="MAX", least="MIN",
    placeholder="?",
)  # fmt: skip
POSTGRESQL = Dialect(
    name="postgresql", for_update=" FOR UPDATE", skip_locked=" FOR UPDATE SKIP LOCKED",
    same="IS NOT DISTINCT FROM", greatest="GREATEST", least="LEAST", placeholder="%s",
)  # fmt: skip


def marks(count: int) -> str:
    """``count`` parameter marks for an ``IN (...)`` list (``NULL`` for none: matches nothing)."""
    return ", ".join("?" * count) if count else "NULL"


@dataclass(frozen=True, slots=True)
class Result:
    """What one statement returned and changed."""

    rows: list[tuple[Any, ...]]
    rowcount: int
    """Rows the statement changed (an ``UPDATE``'s, a ``DELETE``'s; -1 for a ``SELECT``
    in SQLite)."""


class Statements(Protocol):
    """The statements of one transaction (:meth:`Engine.atomic`)."""

    @property
    def dialect(self) -> Dialect: ...

    async def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        """One statement of the transaction."""
        ...

    async def run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """One statement once per row of parameters (an insert of many rows)."""
        ...


class Engine(Protocol):
    """A database a store runs its units of work on: a SQLite file or PostgreSQL."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def where(self) -> str:
        """Where the rows are, for logs (a file, a database's URL without its password)."""
        ...

    async def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        """One statement, its own transaction."""
        ...

    def atomic(self, lock: int | str | None = None) -> AbstractAsyncContextManager[Statements]:
        """One transaction: committed when the block ends, rolled back on an error. ``lock``:
        a PostgreSQL advisory lock (a number, or a name hashed) held until it ends."""
        ...


@dataclass(frozen=True, slots=True)
class ClaimQueue:
    """A table of claimable work (every name is an SQL identifier or fragment we wrote).

    Attributes:
        table: the table.
        due: the column (or expression) of when a row is due, epoch seconds.
        ready: the SQL condition of a claimable row; ``:now`` in it (and in ``also``) is
            the time, epoch seconds.
        claimer: the column naming who holds a claim.
        lease: the column of when the claim runs out.
        also: more ``col = expr`` assignments a claim makes (e.g. a state and an attempt).
        key: the primary key.
    """

    table: str
    due: str
    ready: str
    claimer: str = "claimed_by"
    lease: str = "lease_until"
    also: str = ""
    key: str = "id"

    def __post_init__(self) -> None:
        for name in (self.table, self.claimer, self.lease, self.key):
            if not name.isidentifier():
                raise ValueError(f"{name!r}: not an SQL identifier")


async def claim_due(
    runner: Engine | Statements,
    queue: ClaimQueue,
    *,
    owner: str,
    now: float,
    lease: float,
    limit: int,
    columns: str,
    where: str = "",
    where_params: Sequence[object] = (),
    also_params: Sequence[object] = (),
) -> list[tuple[Any, ...]]:
    """Claim up to ``limit`` due rows of ``queue`` for ``owner`` until ``now + lease``;
    returns their ``columns`` (after the claim), ordered by the first (name the key first).
    ``where`` (with ``?`` for ``where_params``) narrows this claim's rows further;
    ``also_params`` are the ``?`` of the queue's ``also``. The statement runs in ``runner``:
    a transaction's statements, or the engine (its own transaction: PostgreSQL's row locks
    last the statement, and the claim is committed with it)."""
    if limit <= 0:
        return []
    also, also_marks = _with_now(f", {queue.also}" if queue.also else "", also_params, now)
    ready, ready_marks = _with_now(queue.ready, (), now)
    narrow, narrow_marks = _with_now(f" AND ({where})" if where else "", where_params, now)
    found = await runner.run(
        f"UPDATE {queue.table} SET {queue.claimer} = ?, {queue.lease} = ?{also}"
        f" WHERE {queue.key} IN (SELECT {queue.key} FROM {queue.table}"
        f" WHERE ({ready}) AND {queue.due} <= ?{narrow}"
        f" ORDER BY {queue.due}, {queue.key} LIMIT ?{runner.dialect.skip_locked})"
        f" RETURNING {columns}",
        (owner, now + lease, *also_marks, *ready_marks, now, *narrow_marks, limit),
    )
    return sorted(found.rows, key=lambda row: row[0])


def _with_now(fragment: str, given: Sequence[object], now: float) -> tuple[str, list[object]]:
    """``fragment`` with each ``:now`` a mark, and its marks' parameters: ``now`` for each
    ``:now``, ``given`` in order for each ``?``."""
    params: list[object] = []
    values = iter(given)
    for i, char in enumerate(fragment):
        if char == "?":
            params.append(next(values))
        elif fragment.startswith(":now", i):
            params.append(now)
    return fragment.replace(":now", "?"), params


async def renew_leases(
    runner: Engine | Statements, queue: ClaimQueue, keys: Sequence[object], owner: str,
    until: float,
) -> int:  # fmt: skip
    """Extend ``owner``'s claims on ``keys`` to ``until`` (one statement); returns how
    many it still held."""
    if not keys:
        return 0
    done = await runner.run(
        f"UPDATE {queue.table} SET {queue.lease} = ?"
        f" WHERE {queue.key} IN ({marks(len(keys))}) AND {queue.claimer} = ?",
        (until, *keys, owner),
    )
    return done.rowcount
