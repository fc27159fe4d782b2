"""The callbacks in PostgreSQL: :class:`~sipgw.agent.tools.callback_store.CallbackStorage`
on the shared database, so every gateway of the cluster dials from one table.

The rows, states and quotas are SQLite's (:mod:`sipgw.agent.tools.callback_store`); what
differs is how they are taken and counted. A claim is :func:`~sipgw.app.cluster.claims.
claim_due` (``FOR UPDATE SKIP LOCKED``): of gateways claiming at once each due row goes to
exactly one. A quota's count and its insert run under a transaction-level advisory lock,
so two gateways cannot both store the last callback a quota allows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sipgw.agent.tools.callback_store import (
    CALLBACK_COLUMNS,
    DAY,
    CallbackQuotaExceeded,
    CallbackRow,
    CallbackState,
    callback_row,
)
from sipgw.agent.tools.quota import CallbackQuota
from sipgw.app.cluster.claims import ClaimQueue, claim_due, renew_leases
from sipgw.app.cluster.database import Cursor, Database, redacted_url

__all__ = ["CALLBACK_QUEUE", "QUOTA_LOCK", "PgCallbackStore"]

CALLBACK_QUEUE = ClaimQueue(
    table="callbacks",
    due="COALESCE(next_attempt_at, due_at)",
    ready="status = 'pending'",
    also="status = 'dialing', attempts = attempts + 1, updated_at ="
    " to_char(to_timestamp(%(now)s) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')",
)
"""Pending rows, by their next attempt; a claim makes one ``dialing`` (an attempt more)."""
QUOTA_LOCK = 0x53495048
"""The advisory lock a quota's count and insert hold (callbacks and messages)."""


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")


class PgCallbackStore:
    """The ``callbacks`` table of the shared database (after :func:`apply_migrations`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def where(self) -> str:
        """The database's URL without its password."""
        return redacted_url(self.db.url)

    async def add(
        self,
        *,
        call_id: str,
        phone: str,
        requested_time: str,
        reason: str,
        notes: str,
        due_at: float,
        now: float,
        requested_by: str = "",
        quota: CallbackQuota | None = None,
    ) -> int:
        """Store a pending callback (see ``CallbackStore.add``); returns its id."""
        async with self.db.transaction() as cur:
            if quota is not None:
                await cur.execute("SELECT pg_advisory_xact_lock(%s)", (QUOTA_LOCK,))
                await _check_quota(cur, quota, requested_by, phone, now)
            ((row_id,),) = await cur.execute(
                "INSERT INTO callbacks (created_at, call_id, phone, requested_time, reason,"
                " notes, due_at, next_attempt_at, status, updated_at, requested_by, created_ts)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s) RETURNING id",
                (_iso(now), call_id, phone, requested_time, reason, notes, due_at, due_at,
                 _iso(now), requested_by, now),
            )  # fmt: skip
        return int(row_id)

    async def get(self, row_id: int) -> CallbackRow | None:
        """One row by id."""
        found = await self.db.one(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id = %s", (row_id,)
        )
        return callback_row(found.rows[0]) if found.rows else None

    async def rows(self) -> list[CallbackRow]:
        """Every row, oldest first."""
        found = await self.db.one(f"SELECT {CALLBACK_COLUMNS} FROM callbacks ORDER BY id")
        return [callback_row(row) for row in found.rows]

    async def next_due_at(self) -> float | None:
        """The earliest next attempt of the pending rows, if any."""
        found = await self.db.one(
            "SELECT MIN(COALESCE(next_attempt_at, due_at)) FROM callbacks WHERE status = 'pending'"
        )
        ((value,),) = found.rows
        return None if value is None else float(value)

    async def dialing(self) -> list[CallbackRow]:
        """Rows some gateway has claimed."""
        found = await self.db.one(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE status = 'dialing'"
        )
        return [callback_row(row) for row in found.rows]

    async def claim_due(
        self, now: float, owner: str, lease: float, limit: int
    ) -> list[CallbackRow]:
        """Claim up to ``limit`` due pending rows for ``owner`` (one statement, row locks)."""
        found = await claim_due(
            self.db, CALLBACK_QUEUE, owner=owner, now=now, lease=lease, limit=limit,
            columns=CALLBACK_COLUMNS,
        )  # fmt: skip
        return [callback_row(row) for row in found]

    async def renew(self, row_ids: Iterable[int], owner: str, lease_until: float) -> None:
        """Extend the leases of the rows ``owner`` is dialing."""
        await renew_leases(self.db, CALLBACK_QUEUE, list(row_ids), owner, lease_until)

    async def release(
        self,
        row_id: int,
        state: CallbackState,
        outcome: str,
        now: float,
        *,
        owner: str | None = None,
        next_attempt_at: float | None = None,
        dialed: bool = True,
    ) -> bool:
        """Record an attempt's outcome and the row's new state (with ``owner``: only while
        that owner still holds it; ``dialed`` False: the claimed attempt was not made)."""
        query = (
            f"UPDATE callbacks SET {'' if dialed else 'attempts = attempts - 1, '}"
            "status = %s, last_outcome = %s, updated_at = %s,"
            " next_attempt_at = COALESCE(%s, next_attempt_at), claimed_by = NULL,"
            " lease_until = NULL WHERE id = %s"
        )
        params: tuple[object, ...] = (state.value, outcome, _iso(now), next_attempt_at, row_id)
        if owner is not None:
            query += " AND status = 'dialing' AND claimed_by = %s"
            params += (owner,)
        return (await self.db.one(query, params)).rowcount == 1

    async def requeue_stale(self, row_id: int, holder: str | None, next_attempt_at: float) -> bool:
        """Make a dialing row whose holder is gone pending again (if it is still so held)."""
        done = await self.db.one(
            "UPDATE callbacks SET status = 'pending', next_attempt_at = %s,"
            " last_outcome = 'interrupted: the dialing process stopped',"
            " claimed_by = NULL, lease_until = NULL"
            " WHERE id = %s AND status = 'dialing' AND claimed_by IS NOT DISTINCT FROM %s",
            (next_attempt_at, row_id, holder),
        )
        return done.rowcount == 1


async def _check_quota(
    cur: Cursor, quota: CallbackQuota, requested_by: str, phone: str, now: float
) -> None:
    checks = (
        ("per_caller", quota.per_caller, "requested_by = %s", (requested_by,)),
        ("per_number", quota.per_number, "phone = %s", (phone,)),
        ("per_day", quota.per_day, "TRUE", ()),
    )
    for which, limit, where, params in checks:
        if limit <= 0:
            continue
        ((count,),) = await cur.execute(
            f"SELECT COUNT(*) FROM callbacks WHERE created_ts > %s AND {where}",
            (now - DAY, *params),
        )
        if count >= limit:
            raise CallbackQuotaExceeded(which, limit)
