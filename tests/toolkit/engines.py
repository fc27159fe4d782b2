"""Both engines a store runs on, for one test body: the ``backing`` fixture.

A store test takes ``backing`` and makes its store with ``Store(backing.engine())``; the
test runs twice, on a SQLite file in the test's directory and on a fresh database of a real
PostgreSQL server (:mod:`tests.toolkit.postgres`, one per test session and worker, started
by the first test that needs it) with the gateway's migrations applied. Each call of
:meth:`Backing.engine` is another process's way in (the same file, or a :class:`Database`
of its own connections on the same database), so two stores made that way share the rows
as two gateways would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.cluster.database import Database
from sipgw.app.cluster.migrations import apply_migrations
from tests.toolkit.postgres import PostgresServer

__all__ = ["ENGINES", "Backing", "backing", "postgres_server"]

ENGINES = ("sqlite", "postgresql")


class Backing:
    """One place a store keeps its rows: a SQLite file or a PostgreSQL database."""

    def __init__(self, kind: str, path: Path, url: str = "") -> None:
        self.kind = kind
        """``sqlite`` or ``postgresql``."""
        self.path = path
        """The SQLite file (unused on PostgreSQL)."""
        self.url = url
        """The PostgreSQL database ("" on SQLite)."""
        self.opened: list[Database] = []

    def engine(self) -> Path | Database:
        """Another process's way in: the file's path, or a new :class:`Database`."""
        if self.kind == "sqlite":
            return self.path
        db = Database(self.url)
        self.opened.append(db)
        return db

    def close(self) -> None:
        for db in self.opened:
            asyncio.run(db.close())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (this worker's)."""
    with PostgresServer() as running:
        yield running


async def _migrated(url: str) -> None:
    db = Database(url)
    await apply_migrations(db, 0.0)
    await db.close()


@pytest.fixture(params=ENGINES)
def backing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backing]:
    """A SQLite file, then a migrated PostgreSQL database (see the module docstring)."""
    if request.param == "sqlite":
        place = Backing("sqlite", tmp_path / "store.sqlite3")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.new_database()
        asyncio.run(_migrated(url))
        place = Backing("postgresql", tmp_path / "unused.sqlite3", url)
    yield place
    place.close()
