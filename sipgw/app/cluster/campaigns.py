"""The campaigns in PostgreSQL: :class:`~sipgw.app.campaigns.store.CampaignStore` on the
shared database, so every gateway of a cluster dials one campaign's contacts.

The tables are SQLite's (migration ``0002_campaigns.sql``); what differs is the claim.
:meth:`PgCampaignStore.claim_next` locks the campaign's row (``SELECT ... FOR UPDATE``),
so the claims of one campaign are taken one after another across the cluster: under that
lock it counts the contacts ``dialing`` (the cap: calls in flight on every gateway), checks
the shared pacing (``next_dial_at``), takes the next due contact with
:func:`~sipgw.app.cluster.claims.claim_due` (``FOR UPDATE SKIP LOCKED``, a lease) and moves
the pacing on, then commits. A gateway that dies mid-call keeps its contact ``dialing``
until another gateway's scheduler finds its claimer gone (its process, on the same host)
or its lease run out, and records that attempt (``interrupted``, retried by the ``failed``
rule: :meth:`~sipgw.app.campaigns.scheduler.CampaignScheduler.recover`); each later write
names its claimer, so only one gateway's recovery counts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sipgw.app.campaigns.model import (
    Campaign,
    CampaignSpec,
    CampaignState,
    Contact,
    ContactRow,
    ContactState,
    Progress,
)
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.app.campaigns.store import (
    CAMPAIGN_COLUMNS,
    CONTACT_COLUMNS,
    campaign_of,
    contact_of,
)
from sipgw.app.cluster.claims import ClaimQueue, claim_due, renew_leases
from sipgw.app.cluster.database import Database

__all__ = ["CONTACT_QUEUE", "PgCampaignStore"]

CONTACT_QUEUE = ClaimQueue(
    table="campaign_contacts",
    due="next_at",
    ready="state = 'pending'",
    also="state = 'dialing', attempts = attempts + 1, updated = %(now)s",
)
"""Pending contacts, by their next attempt; a claim makes one ``dialing`` (an attempt more)."""

_ALLOWED = {
    CampaignState.PAUSED: ("running",),
    CampaignState.RUNNING: ("paused",),
    CampaignState.CANCELLED: ("running", "paused"),
}


class PgCampaignStore:
    """The campaign tables of the shared database (after :func:`apply_migrations`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def exists(self) -> bool:
        """Always: another gateway may add a campaign at any time, so the loop runs."""
        return True

    # -- campaigns --------------------------------------------------------------------

    async def create(self, spec: CampaignSpec, contacts: Sequence[Contact], now: float) -> int:
        async with self.db.transaction() as cur:
            ((campaign_id,),) = await cur.execute(
                "INSERT INTO campaigns (spec, state, concurrency, interval, next_dial_at,"
                " created, updated) VALUES (%s, 'running', %s, %s, %s, %s, %s) RETURNING id",
                (json.dumps(spec.as_json()), spec.concurrency, 1.0 / spec.per_second, now,
                 now, now),
            )  # fmt: skip
            for start in range(0, len(contacts), 1000):  # one statement per 1000 contacts
                chunk = contacts[start : start + 1000]
                await cur.execute(
                    "INSERT INTO campaign_contacts (campaign, row, number, variables,"
                    " time_zone, next_at, updated) SELECT %s, * FROM unnest(%s::int[],"
                    " %s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[])",
                    (campaign_id, [c.row for c in chunk], [c.number for c in chunk],
                     [json.dumps(dict(c.variables)) for c in chunk],
                     [c.time_zone for c in chunk], [now] * len(chunk), [now] * len(chunk)),
                )  # fmt: skip
        return int(campaign_id)

    async def campaign(self, campaign_id: int) -> Campaign | None:
        rows = (
            await self.db.one(
                f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = %s", (campaign_id,)
            )
        ).rows
        return campaign_of(rows[0]) if rows else None

    async def campaigns(
        self, state: CampaignState | None = None, limit: int | None = None
    ) -> list[Campaign]:
        where = "" if state is None else "WHERE state = %s"
        params: tuple[object, ...] = () if state is None else (state.value,)
        rows = (
            await self.db.one(
                f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns {where} ORDER BY id DESC LIMIT %s",
                (*params, limit),  # LIMIT NULL: no limit
            )
        ).rows
        return [campaign_of(row) for row in rows]

    async def set_state(self, campaign_id: int, state: CampaignState, now: float) -> bool:
        allowed = _ALLOWED.get(state, ())
        if not allowed:
            return False
        async with self.db.transaction() as cur:
            await cur.execute(
                "UPDATE campaigns SET state = %s, updated = %s WHERE id = %s AND state = ANY(%s)",
                (state.value, now, campaign_id, list(allowed)),
            )
            changed = cur.rowcount()
            if changed and state is CampaignState.CANCELLED:
                await cur.execute(
                    "UPDATE campaign_contacts SET state = 'cancelled', updated = %s"
                    " WHERE campaign = %s AND state = 'pending'",
                    (now, campaign_id),
                )
        return changed == 1

    async def finish_if_done(self, campaign_id: int, now: float) -> bool:
        done = await self.db.one(
            "UPDATE campaigns SET state = 'finished', updated = %s WHERE id = %s"
            " AND state = 'running' AND NOT EXISTS (SELECT 1 FROM campaign_contacts"
            " WHERE campaign = %s AND state IN ('pending', 'dialing'))",
            (now, campaign_id, campaign_id),
        )
        return done.rowcount == 1

    # -- contacts ---------------------------------------------------------------------

    async def claim_next(
        self, campaign_id: int, owner: str, now: float, lease: float
    ) -> tuple[ContactRow, float] | None:
        async with self.db.transaction() as cur:
            found = await cur.execute(
                "SELECT concurrency, interval, next_dial_at FROM campaigns"
                " WHERE id = %s AND state = 'running' AND next_dial_at <= %s FOR UPDATE",
                (campaign_id, now),
            )
            if not found:
                return None
            concurrency, interval, paced = found[0]
            ((dialing,),) = await cur.execute(
                "SELECT COUNT(*) FROM campaign_contacts WHERE campaign = %s AND state = 'dialing'",
                (campaign_id,),
            )
            if dialing >= concurrency:
                return None
            rows = await claim_due(
                cur, CONTACT_QUEUE, owner=owner, now=now, lease=lease, limit=1,
                columns=CONTACT_COLUMNS, where="campaign = %s", where_params=(campaign_id,),
            )  # fmt: skip
            if not rows:
                return None
            await cur.execute(
                "UPDATE campaigns SET next_dial_at = %s WHERE id = %s",
                (max(float(paced), now) + float(interval), campaign_id),
            )
        return contact_of(rows[0]), float(paced)

    async def unclaim(
        self, contact_id: int, owner: str, state: ContactState, next_at: float, why: str,
        now: float, pace_back: float | None,
    ) -> bool:  # fmt: skip
        async with self.db.transaction() as cur:
            await cur.execute(
                "UPDATE campaign_contacts SET state = %s, attempts = attempts - 1,"
                " next_at = %s, detail = %s, claimed_by = NULL, lease_until = NULL,"
                " updated = %s WHERE id = %s AND state = 'dialing' AND claimed_by = %s",
                (state.value, next_at, why, now, contact_id, owner),
            )
            done = cur.rowcount() == 1
            if done and pace_back is not None:
                await cur.execute(
                    "UPDATE campaigns SET next_dial_at = LEAST(next_dial_at, %s)"
                    " WHERE id = (SELECT campaign FROM campaign_contacts WHERE id = %s)",
                    (pace_back, contact_id),
                )
        return done

    async def finish(
        self, contact_id: int, owner: str | None, state: ContactState, attempt: Attempt,
        next_at: float | None, now: float,
    ) -> bool:  # fmt: skip
        query = (
            "UPDATE campaign_contacts SET state = %s, next_at = COALESCE(%s, next_at),"
            " last_outcome = %s, detail = %s, call_id = %s, claimed_by = NULL,"
            " lease_until = NULL, updated = %s WHERE id = %s AND state = 'dialing'"
        )
        params: tuple[object, ...] = (state.value, next_at, attempt.outcome, attempt.detail,
                                      attempt.call_id, now, contact_id)  # fmt: skip
        if owner is not None:
            query += " AND claimed_by = %s"
            params += (owner,)
        async with self.db.transaction() as cur:
            await cur.execute(query, params)
            done = cur.rowcount() == 1
            if done and state is ContactState.PENDING:  # a retry of a cancelled campaign: not
                await cur.execute(
                    "UPDATE campaign_contacts SET state = 'cancelled' WHERE id = %s AND"
                    " (SELECT state FROM campaigns WHERE id = campaign_contacts.campaign)"
                    " = 'cancelled'",
                    (contact_id,),
                )
        return done

    async def renew(self, contact_ids: Iterable[int], owner: str, lease_until: float) -> None:
        await renew_leases(self.db, CONTACT_QUEUE, list(contact_ids), owner, lease_until)

    async def dialing(self) -> list[ContactRow]:
        rows = (
            await self.db.one(
                f"SELECT {CONTACT_COLUMNS} FROM campaign_contacts WHERE state = 'dialing'"
            )
        ).rows
        return [contact_of(row) for row in rows]

    async def contacts(self, campaign_id: int) -> list[ContactRow]:
        rows = (
            await self.db.one(
                f"SELECT {CONTACT_COLUMNS} FROM campaign_contacts WHERE campaign = %s ORDER BY row",
                (campaign_id,),
            )
        ).rows
        return [contact_of(row) for row in rows]

    async def progress(self, campaign_id: int) -> Progress:
        rows = (
            await self.db.one(
                "SELECT state || ':' || CASE WHEN state = 'done' THEN last_outcome ELSE ''"
                " END, COUNT(*), COALESCE(SUM(attempts), 0) FROM campaign_contacts"
                " WHERE campaign = %s GROUP BY 1",
                (campaign_id,),
            )
        ).rows
        counts = {str(key): int(count) for key, count, _ in rows}
        dialled = sum(int(attempts) for _, _, attempts in rows)
        person, machine = counts.get("done:person", 0), counts.get("done:machine", 0)
        pending, dialing = counts.get("pending:", 0), counts.get("dialing:", 0)
        return Progress(
            total=sum(counts.values()), dialled=dialled, person=person, machine=machine,
            completed=person + machine, failed=counts.get("failed:", 0),
            dnc=counts.get("dnc:", 0), cancelled=counts.get("cancelled:", 0),
            dialing=dialing, left=pending + dialing,
        )  # fmt: skip

    async def next_due(self) -> float | None:
        ((value,),) = (
            await self.db.one(
                "SELECT MIN(GREATEST(c.next_at, k.next_dial_at)) FROM campaign_contacts c"
                " JOIN campaigns k ON k.id = c.campaign"
                " WHERE k.state = 'running' AND c.state = 'pending' AND k.concurrency >"
                " (SELECT COUNT(*) FROM campaign_contacts d WHERE d.campaign = k.id"
                " AND d.state = 'dialing')"
            )
        ).rows
        return None if value is None else float(value)

    # -- do not call ------------------------------------------------------------------

    async def dnc_add(self, numbers: Iterable[str], now: float) -> int:
        done = await self.db.one(
            "INSERT INTO campaign_dnc (number, added) SELECT DISTINCT unnest(%s::text[]),"
            " %s ON CONFLICT (number) DO NOTHING",
            (list(numbers), now),
        )
        return done.rowcount

    async def dnc_remove(self, numbers: Iterable[str]) -> int:
        done = await self.db.one(
            "DELETE FROM campaign_dnc WHERE number = ANY(%s)", (list(numbers),)
        )
        return done.rowcount

    async def dnc_has(self, number: str) -> bool:
        found = await self.db.one("SELECT 1 FROM campaign_dnc WHERE number = %s", (number,))
        return bool(found.rows)

    async def dnc_list(self, limit: int) -> list[str]:
        rows = (
            await self.db.one("SELECT number FROM campaign_dnc ORDER BY number LIMIT %s", (limit,))
        ).rows
        return [str(row[0]) for row in rows]
