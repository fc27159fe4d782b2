"""Schema migrations for the shared database, applied when a gateway starts.

The migrations are the numbered SQL files beside this module (``migrations/0001_*.sql``),
applied in order, each once: the table ``schema_migrations`` names those applied. All of a
start's work is one transaction under a transaction-level advisory lock
(``pg_advisory_xact_lock``), so of two gateways starting at once the second waits for the
first, then finds everything applied; a migration that fails rolls back whole and the
gateway does not start. A database newer than this gateway (a version it does not know) is
refused: an old gateway must not write into a schema it does not understand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from sipgw.app.cluster.database import Database

__all__ = ["LOCK_KEY", "Migration", "apply_migrations", "migrations"]

LOCK_KEY = 0x53495047  # "SIPG": the advisory lock every sipgw start takes
_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: its version (the number in its name), name and statements."""

    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The packaged migrations, by version."""
    found = []
    for entry in resources.files("sipgw.app.cluster").joinpath("migrations").iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if len({m.version for m in found}) != len(found):
        raise RuntimeError("two migrations share a version number")
    return found


async def apply_migrations(db: Database, now: float) -> list[int]:
    """Bring the schema up to date; returns the versions this call applied.

    Raises:
        RuntimeError: the database has a version this gateway does not know.
    """
    known = migrations()
    applied_now: list[int] = []
    async with db.transaction() as cur:
        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        await cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
        )
        done = {int(row[0]) for row in await cur.execute("SELECT version FROM schema_migrations")}
        unknown = done - {m.version for m in known}
        if unknown:
            raise RuntimeError(
                f"the database has schema version(s) {sorted(unknown)} this gateway does not "
                "know: upgrade the gateway"
            )
        for migration in known:
            if migration.version in done:
                continue
            await cur.execute(migration.sql)
            await cur.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                (migration.version, migration.name, now),
            )
            applied_now.append(migration.version)
    return applied_now
