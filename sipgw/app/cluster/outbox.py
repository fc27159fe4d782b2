"""The webhook outbox in PostgreSQL: :class:`~sipgw.app.webhooks.outbox.OutboxStorage` on
the shared database, so an event is posted by one gateway of the cluster, once.

The rows and their order are SQLite's (:mod:`sipgw.app.webhooks.outbox`): only the oldest
row of each (URL, call) is claimable, so a call's events still reach a receiver in order
while any gateway may post them. A claim is :func:`~sipgw.app.cluster.claims.claim_due`
(``FOR UPDATE SKIP LOCKED``) and lasts the delivery's lease; a gateway that dies while
posting leaves its claim to run out, and then any gateway takes the row again (the
receiver may then see the event twice: the ``webhook-id`` is the same, to deduplicate).
A gateway's first claim also frees at once the claims of gone processes of its own host
(:func:`~sipgw.app.claimers.claimer_alive`): one restarted after a crash does not wait out
their lease; another host's are known gone by their lease only.
"""

from __future__ import annotations

from collections.abc import Iterable

from sipgw.app.claimers import claimer_alive
from sipgw.app.cluster.claims import ClaimQueue, claim_due
from sipgw.app.cluster.database import Database, redacted_url
from sipgw.app.webhooks.outbox import NewEvent, PendingEvent

__all__ = ["PgOutbox"]

_TABLES = ("webhook_outbox", "twilio_status_outbox")
_COLUMNS = "id, event_id, url, line, call, type, body, created, attempts"


class PgOutbox:
    """An outbox table of the shared database (after :func:`apply_migrations`).

    Args:
        db: the database.
        owner: this gateway's claim name.
        max_pending: rows kept at most (in all the cluster); :meth:`add` refuses more.
        table: ``webhook_outbox``, or Twilio's ``twilio_status_outbox``.
    """

    def __init__(
        self, db: Database, owner: str, max_pending: int = 10000, table: str = "webhook_outbox"
    ) -> None:
        if table not in _TABLES:
            raise ValueError(f"outbox table {table!r}: not one of {', '.join(_TABLES)}")
        self.db = db
        self.owner = owner
        self.max_pending = max_pending
        self.table = table
        self.queue = ClaimQueue(
            table=table,
            due="next_at",
            ready=(
                "(claimed_by IS NULL OR claim_until <= %(now)s) AND id = (SELECT MIN(h.id)"
                f" FROM {table} h WHERE h.url = {table}.url AND h.call = {table}.call)"
            ),
            lease="claim_until",
        )
        """The heads of their (URL, call) not claimed, or whose claim ran out."""
        self._swept = False

    @property
    def where(self) -> str:
        """The database (without its password) and table."""
        return f"{redacted_url(self.db.url)} ({self.table})"

    async def add(self, events: Iterable[NewEvent], now: float) -> int:
        """Keep ``events`` (due now); returns how many were refused because it is full."""
        batch = list(events)
        async with self.db.transaction() as cur:
            # the count and the inserts as one, across gateways
            await cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table,))
            ((pending,),) = await cur.execute(f"SELECT COUNT(*) FROM {self.table}")
            room = max(0, self.max_pending - int(pending))
            for e in batch[:room]:
                await cur.execute(
                    f"INSERT INTO {self.table} (event_id, url, line, call, type, body, created,"
                    " next_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (e.event_id, e.url, e.line, e.call, e.type, e.body, now, now),
                )
        return max(0, len(batch) - room)

    async def claim_due(
        self, now: float, lease: float, limit: int, busy: Iterable[tuple[str, str]] = ()
    ) -> list[PendingEvent]:
        """Claim up to ``limit`` due heads, skipping the (URL, call) pairs in ``busy``."""
        if not self._swept:
            await self._free_gone_claims(now)
        skip = [f"{url}\n{call}" for url, call in busy]
        rows = await claim_due(
            self.db, self.queue, owner=self.owner, now=now, lease=lease, limit=limit,
            columns=_COLUMNS, where="NOT (url || E'\\n' || call = ANY(%s))",
            where_params=(skip,),
        )  # fmt: skip
        return [
            PendingEvent(event_id, url, line, call, kind, bytes(body), rid, created, attempts)
            for rid, event_id, url, line, call, kind, body, created, attempts in rows
        ]

    async def _free_gone_claims(self, now: float) -> None:
        """Once: free the live claims of processes of this host that are gone."""
        held = await self.db.one(
            f"SELECT DISTINCT claimed_by FROM {self.table}"
            " WHERE claimed_by IS NOT NULL AND claimed_by <> %s AND claim_until > %s",
            (self.owner, now),
        )
        gone = [owner for (owner,) in held.rows if not claimer_alive(owner)]
        if gone:
            await self.db.one(
                f"UPDATE {self.table} SET claimed_by = NULL, claim_until = NULL"
                " WHERE claimed_by = ANY(%s)",
                (gone,),
            )
        self._swept = True

    async def delivered(self, row: int) -> None:
        """The receiver took it (2xx): forget it."""
        await self.db.one(f"DELETE FROM {self.table} WHERE id = %s", (row,))

    async def failed(self, row: int, next_at: float, error: str) -> None:
        """An attempt failed: try again at ``next_at``; the claim is released."""
        await self.db.one(
            f"UPDATE {self.table} SET attempts = attempts + 1, next_at = %s,"
            " last_error = %s, claimed_by = NULL, claim_until = NULL WHERE id = %s",
            (next_at, error[:500], row),
        )

    async def drop(self, row: int) -> None:
        """Give up on a row (too old, or the receiver said 410 Gone)."""
        await self.delivered(row)

    async def release(self, rows: Iterable[int] | None = None) -> None:
        """Give back claims without an attempt; ``rows`` None = every claim of this owner."""
        if rows is None:
            await self.db.one(
                f"UPDATE {self.table} SET claimed_by = NULL, claim_until = NULL"
                " WHERE claimed_by = %s",
                (self.owner,),
            )
        else:
            await self.db.one(
                f"UPDATE {self.table} SET claimed_by = NULL, claim_until = NULL WHERE id = ANY(%s)",
                (list(rows),),
            )

    async def pending(self) -> int:
        """Rows waiting for delivery (from every gateway)."""
        ((count,),) = (await self.db.one(f"SELECT COUNT(*) FROM {self.table}")).rows
        return int(count)

    async def next_due(self, now: float) -> float | None:
        """When a row may next be claimed (see ``Outbox.next_due``); None when empty."""
        found = await self.db.one(
            "SELECT MIN(CASE WHEN o.claim_until > %s THEN o.claim_until ELSE o.next_at END)"
            f" FROM {self.table} o WHERE o.id IN (SELECT MIN(id) FROM {self.table}"
            " GROUP BY url, call)",
            (now,),
        )
        ((due,),) = found.rows
        return None if due is None else float(due)
