"""The ``backing`` fixture (tests/toolkit/engines.py): each engine once, each way in another
process's (a new connection pool on PostgreSQL), the PostgreSQL database migrated."""

from __future__ import annotations

from pathlib import Path

from sipgw.app.cluster.database import Database
from tests.toolkit.engines import Backing


async def test_each_engine_and_its_ways_in(backing: Backing) -> None:
    first, second = backing.engine(), backing.engine()
    if backing.kind == "sqlite":
        assert first == second == backing.path and isinstance(first, Path)
        return
    assert isinstance(first, Database) and isinstance(second, Database) and first is not second
    tables = await first.run(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name IN (?, ?)",
        ("callbacks", "campaign_contacts"),
    )
    assert tables.rows == [(2,)]  # the migrations ran
