"""Claiming due work with row locks: each row is taken by exactly one gateway.

A :class:`ClaimQueue` describes a table of work: its key, its due column, the claimer and
lease columns, which rows are ready, and what a claim sets besides the claimer and lease.
:func:`claim_due` takes up to ``limit`` ready rows whose due time has come, in due order,
in one statement::

    UPDATE t SET claimer = me, lease = now + L, <also>
    WHERE key IN (SELECT key FROM t WHERE <ready> AND due <= now
                  ORDER BY due, key LIMIT n FOR UPDATE SKIP LOCKED)
    RETURNING ...

``FOR UPDATE`` locks each row the sub-select picks until the transaction ends, and ``SKIP
LOCKED`` makes another gateway's concurrent claim pass over those rows instead of waiting
for them (and then taking them again): two gateways claiming at once get disjoint rows.
Once committed, the claim stands in the row itself (claimer and lease), so the ready
predicate must leave claimed rows out while their lease runs; a row whose lease ran out
(its gateway died mid-work) is ready again, by the predicate's choice (the outbox takes such
rows back at once, callbacks go through their scheduler's recovery, which counts the lost
attempt). Campaigns can use the same helper with their own table and predicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sipgw.app.cluster.database import Cursor, Database

__all__ = ["ClaimQueue", "claim_due", "renew_leases"]


@dataclass(frozen=True, slots=True)
class ClaimQueue:
    """A table of claimable work (every name is an SQL identifier or fragment we wrote).

    Attributes:
        table: the table.
        due: the column (or expression) of when a row is due, epoch seconds.
        ready: the SQL condition of a claimable row; ``%(now)s`` in it (and in ``also``)
            is the time, epoch seconds.
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
    runner: Cursor | Database,
    queue: ClaimQueue,
    *,
    owner: str,
    now: float,
    lease: float,
    limit: int,
    columns: str,
    where: str = "",
    where_params: Sequence[object] = (),
) -> list[tuple[Any, ...]]:
    """Claim up to ``limit`` due rows of ``queue`` for ``owner`` until ``now + lease``;
    returns their ``columns`` (after the claim), ordered by the first (name the key first).
    ``where`` (with ``%s`` for ``where_params``) narrows this claim's rows further. The
    statement runs in ``runner``: a transaction's cursor, or the database (its own
    transaction: the row locks last the statement, and the claim is committed with it)."""
    if limit <= 0:
        return []
    also = f", {queue.also}" if queue.also else ""
    also_params: Sequence[object] = (now,) * also.count("%(now)s")
    ready_params: Sequence[object] = (now,) * queue.ready.count("%(now)s")
    query = (
        f"UPDATE {queue.table} SET {queue.claimer} = %s, {queue.lease} = %s"
        f"{also.replace('%(now)s', '%s')}"
        f" WHERE {queue.key} IN (SELECT {queue.key} FROM {queue.table}"
        f" WHERE ({queue.ready.replace('%(now)s', '%s')}) AND {queue.due} <= %s"
        f"{f' AND ({where})' if where else ''}"
        f" ORDER BY {queue.due}, {queue.key} LIMIT %s FOR UPDATE SKIP LOCKED)"
        f" RETURNING {columns}"
    )
    params = (owner, now + lease, *also_params, *ready_params, now, *where_params, limit)
    if isinstance(runner, Database):
        rows = (await runner.one(query, params)).rows
    else:
        rows = await runner.execute(query, params)
    return sorted(rows, key=lambda row: row[0])


async def renew_leases(
    db: Database, queue: ClaimQueue, keys: Sequence[object], owner: str, until: float
) -> int:
    """Extend ``owner``'s claims on ``keys`` to ``until`` (one statement); returns how
    many it still held."""
    if not keys:
        return 0
    done = await db.one(
        f"UPDATE {queue.table} SET {queue.lease} = %s"
        f" WHERE {queue.key} = ANY(%s) AND {queue.claimer} = %s",
        (until, list(keys), owner),
    )
    return done.rowcount
