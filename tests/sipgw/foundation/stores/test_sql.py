"""The dialect seam (sipgw/foundation/stores/sql.py): one SQL text on both engines (``backing``),
the marks made the driver's, and a claim that gives each due row to one claimer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipgw.foundation.stores.sql import (
    POSTGRESQL,
    SQLITE,
    ClaimQueue,
    Engine,
    claim_due,
    marks,
    renew_leases,
)
from sipgw.foundation.stores.sqlite import SqliteEngine, executescript
from tests.toolkit.engines import Backing

JOBS = ClaimQueue(
    table="jobs",
    due="due",
    ready="state = 'new'",
    also="state = 'taken', tries = tries + 1, seen = :now",
)

SQLITE_JOBS = """
CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, due REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'new', tries INTEGER NOT NULL DEFAULT 0, seen REAL,
    claimed_by TEXT, lease_until REAL)
"""
POSTGRES_JOBS = """
CREATE TABLE IF NOT EXISTS jobs (id BIGSERIAL PRIMARY KEY, due DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL DEFAULT 'new', tries INTEGER NOT NULL DEFAULT 0,
    seen DOUBLE PRECISION, claimed_by TEXT, lease_until DOUBLE PRECISION)
"""


async def jobs(backing: Backing, *due: float) -> Engine:
    """An engine with the table ``jobs`` holding one new row per due time."""
    given = backing.engine()
    if isinstance(given, Path):
        engine: Engine = SqliteEngine(given, executescript(SQLITE_JOBS))
    else:
        engine = given
        await engine.run(POSTGRES_JOBS)
    async with engine.atomic() as tx:
        await tx.run_many("INSERT INTO jobs (due) VALUES (?)", [(at,) for at in due])
    return engine


def test_the_marks_are_made_the_drivers() -> None:
    query = "SELECT 1 WHERE a = ? AND b LIKE '5%' AND c IN (?, ?)"
    assert SQLITE.native(query) == query
    assert POSTGRESQL.native(query) == "SELECT 1 WHERE a = %s AND b LIKE '5%%' AND c IN (%s, %s)"
    assert marks(3) == "?, ?, ?" and marks(0) == "NULL"


def test_a_queue_names_only_identifiers() -> None:
    with pytest.raises(ValueError, match="not an SQL identifier"):
        ClaimQueue(table="jobs; DROP TABLE jobs", due="due", ready="TRUE")


async def test_new_ids_come_back_and_the_dialects_words_mean_the_same(backing: Backing) -> None:
    engine = await jobs(backing, 5.0, 3.0)
    ((new,),) = (await engine.run("INSERT INTO jobs (due) VALUES (?) RETURNING id", (9.0,))).rows
    assert new == 3
    d = engine.dialect
    ((big, small, same, null_same),) = (await engine.run(
        f"SELECT {d.greatest}(MIN(due), 4.0), {d.least}(MIN(due), 4.0),"
        f" (SELECT COUNT(*) FROM jobs WHERE claimed_by {d.same} ?),"
        f" (SELECT COUNT(*) FROM jobs WHERE seen {d.same} ?) FROM jobs",
        ("nobody", None),
    )).rows  # fmt: skip
    assert (big, small, same, null_same) == (4.0, 3.0, 0, 3)


async def test_a_failed_transaction_leaves_nothing(backing: Backing) -> None:
    engine = await jobs(backing)
    with pytest.raises(RuntimeError):
        async with engine.atomic(lock="jobs") as tx:
            await tx.run("INSERT INTO jobs (due) VALUES (?)", (1.0,))
            raise RuntimeError("changed my mind")
    ((count,),) = (await engine.run("SELECT COUNT(*) FROM jobs")).rows
    assert count == 0


async def test_a_claim_takes_due_rows_in_due_order_once(backing: Backing) -> None:
    engine = await jobs(backing, 30.0, 10.0, 20.0, 99.0)
    rows = await claim_due(engine, JOBS, owner="a", now=50.0, lease=60.0, limit=2,
                           columns="id, state, tries, seen, claimed_by, lease_until")  # fmt: skip
    assert rows == [(2, "taken", 1, 50.0, "a", 110.0), (3, "taken", 1, 50.0, "a", 110.0)]
    again = await claim_due(engine, JOBS, owner="b", now=50.0, lease=60.0, limit=10,
                            columns="id", where="due > ?", where_params=(25.0,))  # fmt: skip
    assert again == [(1,)]  # 99 is not due; the claimed ones are not ready
    assert await renew_leases(engine, JOBS, [1, 2], "b", 500.0) == 1  # only b's


async def test_claimers_at_once_share_the_rows_without_overlap(backing: Backing) -> None:
    engine = await jobs(backing, *([1.0] * 30))
    others = [backing.engine() for _ in range(3)]
    claimers: list[Engine] = [engine]
    for other in others:  # the other processes' own connections (the SQLite file: its own engine)
        claimers.append(SqliteEngine(other) if isinstance(other, Path) else other)

    async def take(runner: Engine, name: str) -> list[int]:
        taken: list[int] = []
        while found := await claim_due(runner, JOBS, owner=name, now=5.0, lease=60.0,
                                       limit=4, columns="id"):  # fmt: skip
            taken += [row[0] for row in found]
        return taken

    shares = await asyncio.gather(*(take(c, f"c{i}") for i, c in enumerate(claimers)))
    every = [row for share in shares for row in share]
    assert sorted(every) == list(range(1, 31))
