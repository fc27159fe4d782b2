"""The connection to PostgreSQL (``SIPGW_DATABASE_URL``) that the shared stores use.

psycopg 3, the maintained driver with both a blocking and an asyncio API, through its
blocking API: the stores' protocols are synchronous (SQLite's are) and the gateway runs
them in a thread (``asyncio.to_thread``), as it runs the SQLite stores. :class:`Database`
keeps a few idle connections for those threads (at most ``pool`` of them) and counts the
statements it runs and the rows they touch (``bench/database.py`` reads the counts).

Every unit of work is one transaction (:meth:`Database.transaction`); a connection that
failed is closed, never given back.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg

__all__ = ["Database", "DatabaseCounts", "Cursor", "is_postgres_url", "redacted_url"]

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
    """Time inside transactions (connecting, statements, commit), summed over threads."""


class Cursor:
    """A statement runner inside one transaction: counts what it runs."""

    def __init__(self, cursor: psycopg.Cursor[Any], counts: DatabaseCounts) -> None:
        self._cursor = cursor
        self._counts = counts

    def execute(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run ``query``; returns its rows (none for a statement without any)."""
        # no parameters: the simple protocol, which takes several statements (a migration)
        self._cursor.execute(query.encode(), params or None)
        rows = self._cursor.fetchall() if self._cursor.description is not None else []
        self._counts.statements += 1
        self._counts.rows += len(rows) if rows else max(self._cursor.rowcount, 0)
        return rows

    def rowcount(self) -> int:
        """Rows the last statement changed."""
        return self._cursor.rowcount


class Database:
    """Connections to the PostgreSQL database at ``url``.

    Args:
        url: a libpq URL (``postgresql://user:password@host:port/name``).
        pool: idle connections kept for reuse.
        connect_timeout: seconds to wait for a connection.
    """

    def __init__(self, url: str, pool: int = 10, connect_timeout: float = 10.0) -> None:
        if not is_postgres_url(url):
            raise ValueError(f"{redacted_url(url)!r} is not a postgresql:// URL")
        self.url = url
        self.pool = pool
        self.connect_timeout = connect_timeout
        self.counts = DatabaseCounts()
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[Any]:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return psycopg.connect(self.url, connect_timeout=max(1, int(self.connect_timeout)))

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock:
            if len(self._idle) < self.pool and not conn.closed:
                self._idle.append(conn)
                return
        conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction: committed when the block ends, rolled back on an error."""
        began = time.perf_counter()
        conn = self._connect()
        try:
            with conn.transaction(), conn.cursor() as cursor:
                self.counts.transactions += 1
                yield Cursor(cursor, self.counts)
        except BaseException:
            conn.close()
            raise
        finally:
            self.counts.seconds += time.perf_counter() - began
        self._give_back(conn)

    def close(self) -> None:
        """Close the idle connections (those in use close when given back)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self.pool = 0
        for conn in idle:
            conn.close()
