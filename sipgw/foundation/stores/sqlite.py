"""The :class:`~sipgw.foundation.stores.sql.Engine` on a SQLite file: the stores' default.

Each statement runs in a thread (``asyncio.to_thread``, with ``sqlite3``'s blocking API), so
a slow disk never stalls the loop. A transaction (:meth:`SqliteEngine.atomic`) is ``BEGIN
IMMEDIATE`` ... ``COMMIT`` on one connection: SQLite's single writer, across processes (a
writer waits up to ``timeout`` for another process's). Inside one process the units of work
on one file take turns on the loop (an :class:`asyncio.Lock` per file and loop), so that no
thread of the default executor sits in SQLite's busy wait for a transaction of its own
process, which needs a thread for its next statement.

The file is made on first use (owner-only with ``private``:
:func:`~sipgw.foundation.private_files.prepare_private_database`; else its directory is made),
in WAL mode with ``wal``, and ``prepare`` (the store's tables) runs on its first connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from sipgw.foundation.private_files import prepare_private_database
from sipgw.foundation.stores.sql import SQLITE, Dialect, Result

__all__ = ["SqliteEngine", "executescript"]

_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
"""Per loop, per file (its real path): the lock its units of work take turns with."""


def executescript(script: str) -> Callable[[sqlite3.Connection], None]:
    """A ``prepare`` that runs ``script`` (``CREATE TABLE IF NOT EXISTS ...``)."""

    def prepare(db: sqlite3.Connection) -> None:
        db.executescript(script)

    return prepare


class SqliteEngine:
    """The SQLite file ``path`` (see the module docstring).

    Args:
        path: the file.
        prepare: makes the store's tables on the first connection (in its thread).
        timeout: seconds a write waits for another process's lock.
        private: the file owner-only (call data); False: only its directory is made.
        wal: WAL journal (readers never wait for the writer), ``synchronous=NORMAL``.
    """

    dialect: Dialect = SQLITE

    def __init__(
        self,
        path: Path,
        prepare: Callable[[sqlite3.Connection], None] | None = None,
        *,
        timeout: float = 5.0,
        private: bool = True,
        wal: bool = False,
    ) -> None:
        self.path = path
        self.timeout = timeout
        self._prepare = prepare
        self._private = private
        self._wal = wal
        self._prepared = False
        self._preparing = threading.Lock()
        self._key = os.path.realpath(path)

    @property
    def where(self) -> str:
        """The file."""
        return str(self.path)

    def _turn(self) -> asyncio.Lock:
        files = _turns.setdefault(asyncio.get_running_loop(), {})
        return files.setdefault(self._key, asyncio.Lock())

    def _connect(self) -> sqlite3.Connection:
        """A connection in autocommit mode (in a thread; the file made on first use)."""
        if not self._prepared:
            with self._preparing:
                if not self._prepared:
                    if self._private:
                        prepare_private_database(self.path)
                    else:
                        self.path.parent.mkdir(parents=True, exist_ok=True)
                    with contextlib.closing(self._open()) as db:
                        if self._prepare is not None:
                            self._prepare(db)
                    self._prepared = True
        return self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            if self._wal:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a process crash
        except BaseException:
            db.close()
            raise
        return db

    def _run_alone(self, sql: str, params: Sequence[object]) -> Result:
        with contextlib.closing(self._connect()) as db:
            return _execute(db, sql, params)

    async def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        """One statement, its own transaction."""
        async with self._turn():
            return await asyncio.to_thread(self._run_alone, sql, params)

    def _begin(self) -> sqlite3.Connection:
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
        except BaseException:
            db.close()
            raise
        return db

    @contextlib.asynccontextmanager
    async def atomic(self, lock: int | str | None = None) -> AsyncIterator[_Transaction]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``lock`` is PostgreSQL's: the single writer
        holds here already)."""
        async with self._turn():
            db = await asyncio.to_thread(self._begin)
            try:
                yield _Transaction(db)
            except BaseException:
                # given up even if the waiting task is cancelled again
                await asyncio.shield(asyncio.to_thread(_end, db, "ROLLBACK"))
                raise
            await asyncio.shield(asyncio.to_thread(_end, db, "COMMIT"))


class _Transaction:
    """The statements of one SQLite transaction, each in a thread."""

    dialect: Dialect = SQLITE

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        return await asyncio.to_thread(_execute, self._db, sql, params)

    async def run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        await asyncio.to_thread(self._db.executemany, sql, rows)


def _execute(db: sqlite3.Connection, sql: str, params: Sequence[object]) -> Result:
    cursor = db.execute(sql, params)
    rows = cursor.fetchall()  # before rowcount: an UPDATE ... RETURNING counts as it is read
    return Result(rows, cursor.rowcount)


def _end(db: sqlite3.Connection, how: str) -> None:
    """COMMIT or ROLLBACK, and close the connection whatever happens."""
    try:
        if db.in_transaction:
            db.execute(how)
    finally:
        db.close()
