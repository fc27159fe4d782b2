"""The connection to PostgreSQL (``SIPGW_DATABASE_URL``) that the shared stores use.

psycopg 3, the maintained driver, through its asyncio API (:class:`psycopg.AsyncConnection`):
a unit of work awaits its round trips on the gateway's event loop, beside the calls, and
never waits for a thread of the default executor (which the stores used to fill, each unit
of work in ``asyncio.to_thread`` on psycopg's blocking API, ahead of the recordings' and
summaries' work). The client's side of a transaction now runs on the loop's thread:
``bench/database_loop.py`` measures it, and the media ticker's lateness beside it
(docs/performance.md, "Shared state in PostgreSQL").

:class:`Database` is a small pool of our own: at most ``pool`` connections, opened when a
unit of work needs one and kept for the next (a unit of work beyond ``pool`` at once waits
for one to come back); it runs no task of its own on the loop. It counts the statements it
runs and the rows they touch (``bench/database.py`` reads the counts).

Every unit of work is one transaction: several statements in :meth:`Database.transaction`
(``BEGIN`` ... ``COMMIT``), a single one through :meth:`Database.one` (autocommit: its own
transaction, in one round trip instead of three: each round trip is loop time, about a
third of a transaction's). A connection that failed (a statement's error, a cancellation,
the server gone) is closed, never given back; when the server is gone (psycopg's
``OperationalError``) the idle ones are let go too: after a restart of the server every one
of them is dead, and the next unit of work connects again instead of failing on each.

A :class:`Database` is also the stores' :class:`~sipgw.foundation.stores.sql.Engine` on
PostgreSQL (:meth:`Database.run`, :meth:`Database.atomic`): the stores' SQL, written once
for SQLite and PostgreSQL with ``?`` marks, made psycopg's (``%s``) on the way
(:mod:`sipgw.foundation.stores.sql` draws the seam).
A :class:`Database` serves one event loop at a time: used from another loop (a test's next
``asyncio.run``, the gateway's loop after the start's migrations), it lets go of the
connections it kept on the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg

from sipgw.foundation.stores.sql import POSTGRESQL, Dialect, Result

__all__ = ["Cursor", "Database", "DatabaseCounts", "Result", "is_postgres_url", "redacted_url"]

_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(url: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return urlsplit(url).scheme in _SCHEMES


def redacted_url(url: str) -> str:
    """``url`` without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


@dataclass(slots=True)
class DatabaseCounts:
    """What went to the database since the counts were last reset."""

    transactions: int = 0
    statements: int = 0
    rows: int = 0
    """Rows returned plus rows changed (``rowcount``)."""
    seconds: float = 0.0
    """Time inside transactions (connecting, statements, commit), summed over the units of
    work in progress at once; waiting for a free connection is not counted."""


class Cursor:
    """A statement runner inside one transaction: counts what it runs."""

    def __init__(self, cursor: psycopg.AsyncCursor[Any], counts: DatabaseCounts) -> None:
        self._cursor = cursor
        self._counts = counts

    async def execute(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run ``query``; returns its rows (none for a statement without any)."""
        # no parameters: the simple protocol, which takes several statements (a migration)
        await self._cursor.execute(query.encode(), params or None)
        rows = await self._cursor.fetchall() if self._cursor.description is not None else []
        self._counts.statements += 1
        self._counts.rows += len(rows) if rows else max(self._cursor.rowcount, 0)
        return rows

    async def executemany(self, query: str, rows: Sequence[Sequence[object]]) -> None:
        """Run ``query`` once per row of parameters (pipelined by psycopg)."""
        await self._cursor.executemany(query, rows)
        self._counts.statements += len(rows)
        self._counts.rows += max(self._cursor.rowcount, 0)

    def rowcount(self) -> int:
        """Rows the last statement changed."""
        return self._cursor.rowcount


class _Statements:
    """A transaction's statements in the stores' SQL (``?`` marks)."""

    dialect: Dialect = POSTGRESQL

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    async def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        rows = await self._cursor.execute(POSTGRESQL.native(sql), params)
        return Result(rows, self._cursor.rowcount())

    async def run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        await self._cursor.executemany(POSTGRESQL.native(sql), rows)


class Database:
    """Connections to the PostgreSQL database at ``url`` (see the module docstring).

    Args:
        url: a libpq URL (``postgresql://user:password@host:port/name``).
        pool: connections open at most (in use or kept idle for reuse).
        connect_timeout: seconds to wait for a connection.
    """

    def __init__(self, url: str, pool: int = 10, connect_timeout: float = 10.0) -> None:
        if not is_postgres_url(url):
            raise ValueError(f"{redacted_url(url)!r} is not a postgresql:// URL")
        if pool < 1:
            raise ValueError("pool: at least one connection")
        self.url = url
        self.pool = pool
        self.connect_timeout = connect_timeout
        self.counts = DatabaseCounts()
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._generation = 0
        """Bumped by :meth:`close` and by a change of loop: a connection of an older
        generation is closed when given back."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None

    def _this_loop(self) -> asyncio.Semaphore:
        """The slots of the running loop (a new loop: the connections of the last let go)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._slots is None:
            self._loop = loop
            self._slots = asyncio.Semaphore(self.pool)
            self._let_go()
        return self._slots

    def _let_go(self) -> None:
        self._generation += 1
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.pgconn.finish()  # what AsyncConnection.close() does, without a loop

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._idle:
            return self._idle.pop()
        return await psycopg.AsyncConnection.connect(
            self.url, connect_timeout=max(1, int(self.connect_timeout)), autocommit=True
        )

    @contextlib.asynccontextmanager
    async def _cursor(self, begin: bool) -> AsyncIterator[Cursor]:
        """A unit of work's cursor on a connection of the pool (in ``BEGIN`` ... ``COMMIT``
        with ``begin``); a connection that failed is closed, the others given back."""
        async with self._this_loop():
            generation = self._generation
            began = time.perf_counter()
            try:
                conn = await self._connect()
                try:
                    async with contextlib.AsyncExitStack() as stack:
                        if begin:
                            await stack.enter_async_context(conn.transaction())
                        cursor = await stack.enter_async_context(conn.cursor())
                        self.counts.transactions += 1
                        yield Cursor(cursor, self.counts)
                except BaseException as exc:
                    await conn.close()
                    if isinstance(exc, psycopg.OperationalError):
                        # the server is gone or restarted: the connections kept idle are
                        # dead too; the next unit of work connects afresh, not to fail on one
                        self._let_go()
                    raise
            finally:
                self.counts.seconds += time.perf_counter() - began
            if generation == self._generation and not conn.closed:
                self._idle.append(conn)
            else:
                await conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Cursor]:
        """One transaction: committed when the block ends, rolled back on an error (and
        its connection closed)."""
        async with self._cursor(begin=True) as cursor:
            yield cursor

    async def one(self, query: str, params: Sequence[object] = ()) -> Result:
        """One statement, its own transaction: the connection in autocommit, one round trip
        where :meth:`transaction`'s ``BEGIN`` and ``COMMIT`` make three (a unit of work of
        one statement: a read, an insert, one ``UPDATE``, a claim's
        ``UPDATE ... FOR UPDATE SKIP LOCKED``, whose row locks last the statement)."""
        async with self._cursor(begin=False) as cursor:
            rows = await cursor.execute(query, params)
            return Result(rows, cursor.rowcount())

    # -- the stores' engine (sipgw.foundation.stores.sql.Engine) ---------------------------------

    dialect: Dialect = POSTGRESQL

    @property
    def where(self) -> str:
        """The URL without its password."""
        return redacted_url(self.url)

    async def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        """One statement of a store (``?`` marks), its own transaction (:meth:`one`)."""
        return await self.one(POSTGRESQL.native(sql), params)

    @contextlib.asynccontextmanager
    async def atomic(self, lock: int | str | None = None) -> AsyncIterator[_Statements]:
        """A store's transaction (:meth:`transaction`), under the advisory lock ``lock``
        (a number, or a name: its ``hashtext``) when given."""
        async with self.transaction() as cursor:
            if isinstance(lock, str):
                await cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
            elif lock is not None:
                await cursor.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            yield _Statements(cursor)

    async def close(self) -> None:
        """Close the idle connections (those in use close when given back); a later
        transaction connects again."""
        self._let_go()
