"""The message store: the SQLite table ``messages`` that ``take_message`` writes.

A caller who could not reach the person they wanted (a warm transfer nobody
took, an office closed) leaves a message for them: one row per message, in the
callbacks' file (``SIPGW_CALLBACK_DB``: :mod:`sipgw.agent.tools.callback_store`), with
who it is for (the transfer target), who left it (their name and a number to
reach them, as they gave them, and the number they called from), the call and
the time. The same message is in the call record (the tool's line) and goes out
as the ``message.taken`` webhook: whoever handles messages reads it there.

The caller's words are stored as given: data, never instructions to anyone.
Messages are bounded like callbacks: per caller and in all, any 24 hours
(:class:`~sipgw.agent.tools.quota.CallbackQuota`'s ``per_caller`` and ``per_day``),
counted in the insert's transaction; one more raises :class:`MessageQuotaExceeded` (the
count and the insert are one transaction: SQLite's single writer, PostgreSQL's advisory
lock :data:`~sipgw.agent.tools.quota.QUOTA_LOCK`, which the callbacks' quotas share).
:class:`MessageStore` is written once over the dialect seam
(:mod:`sipgw.foundation.stores.sql`): on the SQLite file, or on the cluster's PostgreSQL
(``SIPGW_DATABASE_URL``: the app passes its database in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sipgw.agent.tools.quota import QUOTA_LOCK, CallbackQuota, Limit, reached
from sipgw.foundation.stores.sql import Engine
from sipgw.foundation.stores.sqlite import SqliteEngine, executescript

__all__ = [
    "MessageQuotaExceeded",
    "MessageRow",
    "MessageStore",
]

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    created_ts REAL NOT NULL,
    call_id TEXT NOT NULL,
    for_target TEXT NOT NULL,
    from_number TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    reach_at TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new'
)
"""
"""The table in a SQLite file (PostgreSQL's: migration ``0001_shared_state.sql``)."""


class MessageQuotaExceeded(Exception):
    """One more message would pass a quota; nothing was stored."""

    def __init__(self, which: str, limit: int) -> None:
        super().__init__(f"{which} quota of {limit} messages a day reached")
        self.which = which
        self.limit = limit


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One stored message."""

    id: int
    created_at: str
    call_id: str
    for_target: str
    """Whom it is for (the transfer target; "" when none is configured)."""
    from_number: str
    """The number the caller called from ("anonymous" when it was withheld)."""
    caller_name: str
    reach_at: str
    """The number they asked to be reached at ("" when they gave none)."""
    message: str
    status: str


class MessageStore:
    """The ``messages`` table on ``engine``: a SQLite file (a path: created on first use,
    owner-only) or the cluster's database."""

    def __init__(self, engine: Engine | Path, timeout: float = 5.0) -> None:
        if isinstance(engine, Path):
            engine = SqliteEngine(engine, executescript(SQLITE_SCHEMA), timeout=timeout)
        self.engine = engine

    @property
    def where(self) -> str:
        """Where the rows are, for logs."""
        return self.engine.where

    async def add(
        self,
        *,
        call_id: str,
        for_target: str,
        from_number: str,
        caller_name: str,
        reach_at: str,
        message: str,
        now: float,
        quota: CallbackQuota | None = None,
    ) -> int:
        """Store a message; returns its id.

        Raises:
            MessageQuotaExceeded: ``from_number`` (per caller) or everyone (per day) left
                as many in the last 24 hours as ``quota`` allows; nothing was stored.
        """
        async with self.engine.atomic(QUOTA_LOCK if quota is not None else None) as tx:
            if quota is not None:
                limits: tuple[Limit, ...] = (
                    ("per_caller", quota.per_caller, "from_number = ?", (from_number,)),
                    ("per_day", quota.per_day, "TRUE", ()),
                )
                over = await reached(tx, "messages", limits, now)
                if over is not None:
                    raise MessageQuotaExceeded(*over)
            ((row_id,),) = (await tx.run(
                "INSERT INTO messages (created_at, created_ts, call_id, for_target, from_number,"
                " caller_name, reach_at, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (_iso(now), now, call_id, for_target, from_number, caller_name, reach_at,
                 message),
            )).rows  # fmt: skip
        return int(row_id)

    async def rows(self) -> list[MessageRow]:
        """Every message, oldest first."""
        found = await self.engine.run(
            "SELECT id, created_at, call_id, for_target, from_number, caller_name,"
            " reach_at, message, status FROM messages ORDER BY id"
        )
        return [MessageRow(int(r[0]), *r[1:]) for r in found.rows]


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
