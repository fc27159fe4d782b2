"""The quotas' count (sipgw/agent/tools/quota.py): the first limit the last 24 hours'
rows reach, none past it, counted in the caller's transaction."""

from __future__ import annotations

from pathlib import Path

from sipgw.agent.tools.quota import DAY, Limit, reached
from sipgw.foundation.stores.sqlite import SqliteEngine, executescript

_SCHEMA = "CREATE TABLE IF NOT EXISTS notes (created_ts REAL NOT NULL, who TEXT NOT NULL)"
NOW = 1_800_000_000.0


async def _reached(path: Path, limits: tuple[Limit, ...]) -> tuple[str, int] | None:
    engine = SqliteEngine(path, executescript(_SCHEMA))
    async with engine.atomic() as tx:
        return await reached(tx, "notes", limits, NOW)


async def test_the_first_limit_reached_in_the_last_24_hours_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    engine = SqliteEngine(path, executescript(_SCHEMA))
    rows = [(NOW - 60, "a"), (NOW - 120, "a"), (NOW - 180, "b"), (NOW - DAY - 1, "a")]
    for row in rows:
        await engine.run("INSERT INTO notes (created_ts, who) VALUES (?, ?)", row)
    per_a: Limit = ("per_caller", 2, "who = ?", ("a",))  # two of a's three are recent
    per_day: Limit = ("per_day", 3, "TRUE", ())
    assert await _reached(path, (per_a, per_day)) == ("per_caller", 2)
    assert await _reached(path, (per_day, per_a)) == ("per_day", 3)
    roomier: Limit = ("per_caller", 3, "who = ?", ("a",))
    assert await _reached(path, (roomier, ("per_day", 4, "TRUE", ()))) is None
    assert await _reached(path, (("per_day", 0, "TRUE", ()),)) is None  # 0: no limit
