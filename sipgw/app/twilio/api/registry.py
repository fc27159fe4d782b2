"""The REST subset's calls shared by a cluster: the table ``twilio_calls``.

Each call created through Twilio's API is one row: its ``sid``, the account, the gateway
carrying it (its name in the cluster), its status, and its resource as the API answers it
(:func:`~sipgw.app.twilio.api.resource.call_resource`'s JSON), written when it is created
and again whenever its status changes (a later write replaces an earlier one, never the
other way round: ``updated`` only grows). Another gateway answers ``GET .../Calls/{Sid}``
from the row, and sends an update to the carrying gateway it names
(:mod:`sipgw.app.twilio.api.endpoints`). Rows stay :data:`KEEP_DAYS` after their last change.

:class:`CallRegistry` is written once over the dialect seam (:mod:`sipgw.foundation.stores.sql`):
on the cluster's PostgreSQL (``SIPGW_DATABASE_URL``, migration ``0004_twilio_calls.sql``) or
on a SQLite file (its table made on first use), the same SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sipgw.foundation.stores.sql import Engine
from sipgw.foundation.stores.sqlite import SqliteEngine, executescript

__all__ = ["KEEP_DAYS", "CallRegistry", "SharedCall"]

KEEP_DAYS = 30
"""Days a call's row stays after its last change."""

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS twilio_calls (
    sid TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL,
    gateway TEXT NOT NULL,
    status TEXT NOT NULL,
    resource TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS twilio_calls_updated ON twilio_calls (updated);
"""
"""The table in a SQLite file (PostgreSQL's: migration ``0004_twilio_calls.sql``)."""


@dataclass(frozen=True, slots=True)
class SharedCall:
    """One call's row."""

    sid: str
    account_sid: str
    gateway: str
    """The gateway carrying it (its name in the cluster)."""
    status: str
    resource: dict[str, Any]
    """The Call resource's JSON, as the carrying gateway last wrote it."""
    updated: float


class CallRegistry:
    """The ``twilio_calls`` table on ``engine``: the cluster's database, or a SQLite file
    (a path: created on first use, owner-only)."""

    def __init__(self, engine: Engine | Path, timeout: float = 5.0) -> None:
        if isinstance(engine, Path):
            engine = SqliteEngine(engine, executescript(SQLITE_SCHEMA), timeout=timeout)
        self.engine = engine

    @property
    def where(self) -> str:
        """Where the rows are, for logs."""
        return self.engine.where

    async def put(self, gateway: str, resource: dict[str, Any], updated: float) -> bool:
        """Write the call ``resource`` (its ``sid``, ``account_sid`` and ``status`` read from
        it) as carried by ``gateway``, as of ``updated``; False when the row is already newer
        (nothing written)."""
        done = await self.engine.run(
            "INSERT INTO twilio_calls (sid, account_sid, gateway, status, resource, updated)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sid) DO UPDATE SET"
            " account_sid = excluded.account_sid, gateway = excluded.gateway,"
            " status = excluded.status, resource = excluded.resource,"
            " updated = excluded.updated WHERE twilio_calls.updated <= excluded.updated",
            (resource["sid"], resource["account_sid"], gateway, resource["status"],
             json.dumps(resource, separators=(",", ":")), updated),
        )  # fmt: skip
        return done.rowcount > 0

    async def get(self, sid: str, account_sid: str) -> SharedCall | None:
        """The call ``sid`` of ``account_sid``; None when no gateway wrote it."""
        found = await self.engine.run(
            "SELECT sid, account_sid, gateway, status, resource, updated FROM twilio_calls"
            " WHERE sid = ? AND account_sid = ?",
            (sid, account_sid),
        )
        if not found.rows:
            return None
        sid_, account, gateway, status, resource, updated = found.rows[0]
        return SharedCall(sid_, account, gateway, status, json.loads(resource), float(updated))

    async def prune(self, now: float, keep_days: float = KEEP_DAYS) -> int:
        """Delete the rows unchanged for ``keep_days``; returns how many."""
        done = await self.engine.run(
            "DELETE FROM twilio_calls WHERE updated < ?", (now - keep_days * 86400,)
        )
        return done.rowcount
