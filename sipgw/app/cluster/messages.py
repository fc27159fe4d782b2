"""Messages in PostgreSQL: :class:`~sipgw.agent.tools.message_store.MessageStorage` on the
shared database (the rows and quotas of :mod:`sipgw.agent.tools.message_store`; a quota's
count and insert under the advisory lock the callbacks' quotas take)."""

from __future__ import annotations

from datetime import UTC, datetime

from sipgw.agent.tools.message_store import DAY, MessageQuotaExceeded, MessageRow
from sipgw.agent.tools.quota import CallbackQuota
from sipgw.app.cluster.callbacks import QUOTA_LOCK
from sipgw.app.cluster.database import Database

__all__ = ["PgMessageStore"]


class PgMessageStore:
    """The ``messages`` table of the shared database."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
        """Store a message; returns its id (``MessageQuotaExceeded`` over a quota)."""
        async with self.db.transaction() as cur:
            if quota is not None:
                await cur.execute("SELECT pg_advisory_xact_lock(%s)", (QUOTA_LOCK,))
                checks = (
                    ("per_caller", quota.per_caller, "from_number = %s", (from_number,)),
                    ("per_day", quota.per_day, "TRUE", ()),
                )
                for which, limit, where, params in checks:
                    if limit <= 0:
                        continue
                    ((count,),) = await cur.execute(
                        f"SELECT COUNT(*) FROM messages WHERE created_ts > %s AND {where}",
                        (now - DAY, *params),
                    )
                    if count >= limit:
                        raise MessageQuotaExceeded(which, limit)
            created = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
            ((row_id,),) = await cur.execute(
                "INSERT INTO messages (created_at, created_ts, call_id, for_target, from_number,"
                " caller_name, reach_at, message) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (created, now, call_id, for_target, from_number, caller_name, reach_at, message),
            )
        return int(row_id)

    async def rows(self) -> list[MessageRow]:
        """Every message, oldest first."""
        found = await self.db.one(
            "SELECT id, created_at, call_id, for_target, from_number, caller_name,"
            " reach_at, message, status FROM messages ORDER BY id"
        )
        return [MessageRow(int(r[0]), *r[1:]) for r in found.rows]
