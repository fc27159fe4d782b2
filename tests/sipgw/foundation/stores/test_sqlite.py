"""The SQLite engine (sipgw/foundation/stores/sqlite.py): a private file made on first use, its
tables prepared once, transactions that commit or roll back whole, and one unit of work at a
time per file in a process, however many coroutines ask at once."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest

from sipgw.foundation.stores.sqlite import SqliteEngine, executescript

SCHEMA = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER)"


async def test_the_file_is_made_private_and_prepared_once(tmp_path: Path) -> None:
    prepared: list[int] = []

    def prepare(db: sqlite3.Connection) -> None:
        prepared.append(1)
        db.execute(SCHEMA)

    path = tmp_path / "deep" / "x.sqlite3"
    engine = SqliteEngine(path, prepare)
    assert engine.where == str(path) and not path.exists()
    await engine.run("INSERT INTO t (n) VALUES (?)", (1,))
    await engine.run("INSERT INTO t (n) VALUES (?)", (2,))
    assert prepared == [1] and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (await engine.run("SELECT n FROM t ORDER BY id")).rows == [(1,), (2,)]


async def test_a_shared_file_may_be_left_to_the_umask_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "outbox.sqlite3"
    engine = SqliteEngine(path, executescript(SCHEMA), private=False, wal=True)
    await engine.run("SELECT 1")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_a_transaction_commits_whole_or_not_at_all(tmp_path: Path) -> None:
    engine = SqliteEngine(tmp_path / "x.sqlite3", executescript(SCHEMA))
    async with engine.atomic() as tx:
        await tx.run_many("INSERT INTO t (n) VALUES (?)", [(1,), (2,)])
        changed = await tx.run("UPDATE t SET n = n + 10 RETURNING n")
        assert sorted(changed.rows) == [(11,), (12,)] and changed.rowcount == 2
    with pytest.raises(sqlite3.IntegrityError):
        async with engine.atomic() as tx:
            await tx.run("INSERT INTO t (n) VALUES (?)", (3,))
            await tx.run("INSERT INTO t (id, n) VALUES (1, 4)")  # the key is taken
    assert (await engine.run("SELECT n FROM t ORDER BY id")).rows == [(11,), (12,)]


async def test_a_cancelled_transaction_is_rolled_back_and_frees_the_file(tmp_path: Path) -> None:
    engine = SqliteEngine(tmp_path / "x.sqlite3", executescript(SCHEMA), timeout=0.5)
    inside = asyncio.Event()

    async def stuck() -> None:
        async with engine.atomic() as tx:
            await tx.run("INSERT INTO t (n) VALUES (1)")
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.ensure_future(stuck())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    other = SqliteEngine(tmp_path / "x.sqlite3")  # another process's way in: not locked
    async with other.atomic() as tx:
        assert (await tx.run("SELECT COUNT(*) FROM t")).rows == [(0,)]


async def test_units_of_work_on_one_file_take_turns_in_a_process(tmp_path: Path) -> None:
    """Twenty transactions at once, each a read and a write of the same row: none waits
    in SQLite's busy handler (a short timeout), and no update is lost."""
    path = tmp_path / "x.sqlite3"
    engine = SqliteEngine(path, executescript(SCHEMA), timeout=0.2)
    await engine.run("INSERT INTO t (n) VALUES (0)")

    async def bump(runner: SqliteEngine) -> None:
        async with runner.atomic() as tx:
            ((n,),) = (await tx.run("SELECT n FROM t WHERE id = 1")).rows
            await asyncio.sleep(0.01)
            await tx.run("UPDATE t SET n = ? WHERE id = 1", (n + 1,))

    runners = [engine, SqliteEngine(path)]  # two engines on one file share the turns
    await asyncio.gather(*(bump(runners[i % 2]) for i in range(20)))
    assert (await engine.run("SELECT n FROM t")).rows == [(20,)]
