"""Where campaigns live: :class:`CampaignStore`, written once for SQLite and PostgreSQL.

Every method but :meth:`~CampaignStore.exists` is a coroutine, one unit of work on the
store's engine (:mod:`sipgw.foundation.stores.sql`: a SQLite file, the default, or the cluster's
PostgreSQL, so every gateway of a cluster dials one campaign's contacts). Time is passed in
(epoch seconds). The store's one rule: **a contact is claimed by one scheduler at a time and
one attempt at a time**. :meth:`CampaignStore.claim_next` is that rule as one atomic
operation: in one transaction it reads the campaign's row (locked: ``SELECT ... FOR
UPDATE`` in PostgreSQL, so the claims of one campaign are taken one after another across
the cluster; SQLite's ``BEGIN IMMEDIATE`` is one writer at a time already), checks the
campaign is running, its pacing allows a dial now (``next_dial_at``) and fewer than its cap
are dialing (calls in flight on every gateway), takes the next due pending contact
(:func:`~sipgw.foundation.stores.sql.claim_due`: ``pending`` -> ``dialing``, one attempt more,
the claimer and its lease; ``FOR UPDATE SKIP LOCKED`` in PostgreSQL), and moves the pacing
on by ``1 / per_second``. Every later write to a contact names its claimer
(``claimed_by``): one whose claim was taken over (its lease ran out, or its process on this
host is gone: :meth:`~sipgw.app.campaigns.scheduler.CampaignScheduler.recover`) changes
nothing, so only one scheduler's recovery counts an interrupted attempt.

The do-not-call list is a table of numbers (as :func:`~sipgw.app.campaigns.contacts.
normalize_number` writes them), shared by every campaign. The tables: PostgreSQL's are
migration ``0002_campaigns.sql`` (``campaign_contacts``, ``campaign_dnc``); a SQLite file
keeps the names it was first made with (``contacts``, ``dnc``: :data:`SQLITE_SCHEMA`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from sipgw.app.campaigns.model import (
    Campaign,
    CampaignSpec,
    CampaignState,
    Contact,
    ContactRow,
    ContactState,
    Progress,
    spec_from_json,
)
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.foundation.stores.sql import ClaimQueue, Engine, claim_due, marks, renew_leases
from sipgw.foundation.stores.sqlite import SqliteEngine, executescript

__all__ = [
    "CAMPAIGN_COLUMNS",
    "CONTACT_COLUMNS",
    "SQLITE_SCHEMA",
    "CampaignStore",
    "campaign_of",
    "contact_of",
]

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    interval REAL NOT NULL,
    next_dial_at REAL NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign INTEGER NOT NULL REFERENCES campaigns (id),
    row INTEGER NOT NULL,
    number TEXT NOT NULL,
    variables TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_outcome TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    call_id TEXT NOT NULL DEFAULT '',
    claimed_by TEXT,
    lease_until REAL,
    updated REAL NOT NULL,
    UNIQUE (campaign, number)
);
CREATE INDEX IF NOT EXISTS contacts_due ON contacts (campaign, state, next_at);
CREATE TABLE IF NOT EXISTS dnc (number TEXT PRIMARY KEY, added REAL NOT NULL);
"""
"""The tables in a SQLite file."""

CONTACT_COLUMNS = ("id, campaign, row, number, variables, time_zone, state, attempts, next_at, "
            "last_outcome, detail, call_id, claimed_by, lease_until, updated")  # fmt: skip
CAMPAIGN_COLUMNS = "id, spec, state, created, next_dial_at"

_ALLOWED = {
    CampaignState.PAUSED: ("running",),
    CampaignState.RUNNING: ("paused",),
    CampaignState.CANCELLED: ("running", "paused"),
}
_CHUNK = 500
"""Numbers per statement of the do-not-call list's inserts and deletes."""
_CONTACTS_AT_ONCE = 100
"""Contacts per insert of a new campaign (700 parameters: below SQLite's oldest limit, 999)."""


class CampaignStore:
    """The campaigns' state, shared by the schedulers that use it (module docstring), on
    ``engine``: a SQLite file (a path: created on first write, owner-only; ``timeout`` is
    how long a write waits for another process's lock) or the cluster's database."""

    def __init__(self, engine: Engine | Path, timeout: float = 5.0) -> None:
        if isinstance(engine, Path):
            engine = SqliteEngine(engine, executescript(SQLITE_SCHEMA), timeout=timeout)
        self.engine = engine
        sqlite = engine.dialect.name == "sqlite"
        self._contacts = "contacts" if sqlite else "campaign_contacts"
        self._dnc = "dnc" if sqlite else "campaign_dnc"
        self._queue = ClaimQueue(
            table=self._contacts,
            due="next_at",
            ready="state = 'pending'",
            also="state = 'dialing', attempts = attempts + 1, updated = :now",
        )
        """Pending contacts, by their next attempt; a claim makes one ``dialing``."""

    def exists(self) -> bool:
        """Whether there may be campaigns (the loop starts only then, else with the first):
        a SQLite file that is there (a gateway that never had a campaign keeps none); a
        shared database always (another gateway may add a campaign at any time)."""
        if isinstance(self.engine, SqliteEngine):
            return self.engine.path.exists()
        return True

    # -- campaigns --------------------------------------------------------------------

    async def create(self, spec: CampaignSpec, contacts: Sequence[Contact], now: float) -> int:
        """Store a running campaign and its contacts (due now); returns its id."""
        async with self.engine.atomic() as tx:
            ((campaign_id,),) = (await tx.run(
                "INSERT INTO campaigns (spec, state, concurrency, interval, next_dial_at,"
                " created, updated) VALUES (?, 'running', ?, ?, ?, ?, ?) RETURNING id",
                (json.dumps(spec.as_json()), spec.concurrency, 1.0 / spec.per_second, now,
                 now, now),
            )).rows  # fmt: skip
            for start in range(0, len(contacts), _CONTACTS_AT_ONCE):
                chunk = contacts[start : start + _CONTACTS_AT_ONCE]
                await tx.run(
                    f"INSERT INTO {self._contacts} (campaign, row, number, variables,"
                    " time_zone, next_at, updated) VALUES"
                    f" {', '.join(['(?, ?, ?, ?, ?, ?, ?)'] * len(chunk))}",
                    [value for c in chunk for value in (
                        campaign_id, c.row, c.number, json.dumps(dict(c.variables)),
                        c.time_zone, now, now,
                    )],
                )  # fmt: skip
        return int(campaign_id)

    async def campaign(self, campaign_id: int) -> Campaign | None:
        """One campaign."""
        found = await self.engine.run(
            f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?", (campaign_id,)
        )
        return campaign_of(found.rows[0]) if found.rows else None

    async def campaigns(
        self, state: CampaignState | None = None, limit: int | None = None
    ) -> list[Campaign]:
        """The campaigns (in ``state``, if given), newest first, at most ``limit``."""
        where = "" if state is None else " WHERE state = ?"
        params: tuple[object, ...] = () if state is None else (state.value,)
        if limit is not None:
            params += (limit,)
        found = await self.engine.run(
            f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns{where} ORDER BY id DESC"
            f"{'' if limit is None else ' LIMIT ?'}",
            params,
        )
        return [campaign_of(row) for row in found.rows]

    async def set_state(self, campaign_id: int, state: CampaignState, now: float) -> bool:
        """Pause (running), resume (paused) or cancel (running or paused: its pending
        contacts become ``cancelled``); False when the campaign is not in a state that
        allows it."""
        allowed = _ALLOWED.get(state, ())
        if not allowed:
            return False
        async with self.engine.atomic() as tx:
            changed = (await tx.run(
                "UPDATE campaigns SET state = ?, updated = ? WHERE id = ?"
                f" AND state IN ({marks(len(allowed))})",
                (state.value, now, campaign_id, *allowed),
            )).rowcount  # fmt: skip
            if changed and state is CampaignState.CANCELLED:
                await tx.run(
                    f"UPDATE {self._contacts} SET state = 'cancelled', updated = ?"
                    " WHERE campaign = ? AND state = 'pending'",
                    (now, campaign_id),
                )
        return changed == 1

    async def finish_if_done(self, campaign_id: int, now: float) -> bool:
        """A running campaign with nothing pending or dialing becomes ``finished`` (True)."""
        done = await self.engine.run(
            "UPDATE campaigns SET state = 'finished', updated = ? WHERE id = ?"
            f" AND state = 'running' AND NOT EXISTS (SELECT 1 FROM {self._contacts}"
            " WHERE campaign = ? AND state IN ('pending', 'dialing'))",
            (now, campaign_id, campaign_id),
        )
        return done.rowcount == 1

    # -- contacts ---------------------------------------------------------------------

    async def claim_next(
        self, campaign_id: int, owner: str, now: float, lease: float
    ) -> tuple[ContactRow, float] | None:
        """Atomically claim the campaign's next due contact (module docstring); returns it
        (``dialing``, its attempt counted) and the pacing's time before the claim, or None
        (not running, paced, at its cap, or nothing due)."""
        async with self.engine.atomic() as tx:
            found = (await tx.run(
                "SELECT concurrency, interval, next_dial_at FROM campaigns"
                f" WHERE id = ? AND state = 'running' AND next_dial_at <= ?"
                f"{tx.dialect.for_update}",
                (campaign_id, now),
            )).rows  # fmt: skip
            if not found:
                return None
            concurrency, interval, paced = found[0]
            ((dialing,),) = (await tx.run(
                f"SELECT COUNT(*) FROM {self._contacts} WHERE campaign = ? AND state = 'dialing'",
                (campaign_id,),
            )).rows  # fmt: skip
            if dialing >= concurrency:
                return None
            rows = await claim_due(
                tx, self._queue, owner=owner, now=now, lease=lease, limit=1,
                columns=CONTACT_COLUMNS, where="campaign = ?", where_params=(campaign_id,),
            )  # fmt: skip
            if not rows:
                return None
            await tx.run(
                "UPDATE campaigns SET next_dial_at = ? WHERE id = ?",
                (max(float(paced), now) + float(interval), campaign_id),
            )
        return contact_of(rows[0]), float(paced)

    async def unclaim(
        self, contact_id: int, owner: str, state: ContactState, next_at: float, why: str,
        now: float, pace_back: float | None,
    ) -> bool:  # fmt: skip
        """Give back a claimed contact no call was placed for (its attempt uncounted):
        ``pending`` again at ``next_at`` (calling hours) or final (``dnc``); the pacing
        back to ``pace_back`` when given."""
        async with self.engine.atomic() as tx:
            done = (await tx.run(
                f"UPDATE {self._contacts} SET state = ?, attempts = attempts - 1, next_at = ?,"
                " detail = ?, claimed_by = NULL, lease_until = NULL, updated = ?"
                " WHERE id = ? AND state = 'dialing' AND claimed_by = ?",
                (state.value, next_at, why, now, contact_id, owner),
            )).rowcount == 1  # fmt: skip
            if done and pace_back is not None:
                await tx.run(
                    f"UPDATE campaigns SET next_dial_at = {tx.dialect.least}(next_dial_at, ?)"
                    f" WHERE id = (SELECT campaign FROM {self._contacts} WHERE id = ?)",
                    (pace_back, contact_id),
                )
        return done

    async def finish(
        self, contact_id: int, owner: str | None, state: ContactState, attempt: Attempt,
        next_at: float | None, now: float,
    ) -> bool:  # fmt: skip
        """Record an attempt and the contact's next state, if ``owner`` (None: whoever)
        still holds it."""
        query = (
            f"UPDATE {self._contacts} SET state = ?, next_at = COALESCE(?, next_at),"
            " last_outcome = ?, detail = ?, call_id = ?, claimed_by = NULL,"
            " lease_until = NULL, updated = ? WHERE id = ? AND state = 'dialing'"
        )
        params: tuple[object, ...] = (state.value, next_at, attempt.outcome, attempt.detail,
                                      attempt.call_id, now, contact_id)  # fmt: skip
        if owner is not None:
            query += " AND claimed_by = ?"
            params += (owner,)
        async with self.engine.atomic() as tx:
            done = (await tx.run(query, params)).rowcount == 1
            if done and state is ContactState.PENDING:  # a retry of a cancelled campaign: not
                await tx.run(
                    f"UPDATE {self._contacts} SET state = 'cancelled' WHERE id = ? AND"
                    f" (SELECT state FROM campaigns WHERE id = {self._contacts}.campaign)"
                    " = 'cancelled'",
                    (contact_id,),
                )
        return done

    async def renew(self, contact_ids: Iterable[int], owner: str, lease_until: float) -> None:
        """Extend the claims ``owner`` holds."""
        await renew_leases(self.engine, self._queue, list(contact_ids), owner, lease_until)

    async def dialing(self) -> list[ContactRow]:
        """Every claimed contact, of every campaign."""
        found = await self.engine.run(
            f"SELECT {CONTACT_COLUMNS} FROM {self._contacts} WHERE state = 'dialing'"
        )
        return [contact_of(row) for row in found.rows]

    async def contacts(self, campaign_id: int) -> list[ContactRow]:
        """A campaign's contacts, in the order given."""
        found = await self.engine.run(
            f"SELECT {CONTACT_COLUMNS} FROM {self._contacts} WHERE campaign = ? ORDER BY row",
            (campaign_id,),
        )
        return [contact_of(row) for row in found.rows]

    async def progress(self, campaign_id: int) -> Progress:
        """A campaign's counts."""
        found = await self.engine.run(
            "SELECT state || ':' || CASE WHEN state = 'done' THEN last_outcome ELSE '' END,"
            f" COUNT(*), COALESCE(SUM(attempts), 0) FROM {self._contacts}"
            " WHERE campaign = ? GROUP BY 1",
            (campaign_id,),
        )
        counts = {str(key): int(count) for key, count, _ in found.rows}
        dialled = sum(int(attempts) for _, _, attempts in found.rows)
        person, machine = counts.get("done:person", 0), counts.get("done:machine", 0)
        pending, dialing = counts.get("pending:", 0), counts.get("dialing:", 0)
        return Progress(
            total=sum(counts.values()), dialled=dialled, person=person, machine=machine,
            completed=person + machine, failed=counts.get("failed:", 0),
            dnc=counts.get("dnc:", 0), cancelled=counts.get("cancelled:", 0),
            dialing=dialing, left=pending + dialing,
        )  # fmt: skip

    async def next_due(self) -> float | None:
        """The earliest time a running campaign below its cap may have a contact to claim
        (perhaps already past: it became due while the caller looked)."""
        ((value,),) = (await self.engine.run(
            f"SELECT MIN({self.engine.dialect.greatest}(c.next_at, k.next_dial_at))"
            f" FROM {self._contacts} c JOIN campaigns k ON k.id = c.campaign"
            " WHERE k.state = 'running' AND c.state = 'pending' AND k.concurrency >"
            f" (SELECT COUNT(*) FROM {self._contacts} d WHERE d.campaign = k.id"
            " AND d.state = 'dialing')"
        )).rows  # fmt: skip
        return None if value is None else float(value)

    # -- do not call ------------------------------------------------------------------

    async def dnc_add(self, numbers: Iterable[str], now: float) -> int:
        """Put numbers on the do-not-call list; returns how many were new."""
        return await self._each_chunk(numbers, lambda chunk: (
            f"INSERT INTO {self._dnc} (number, added) VALUES"
            f" {', '.join(['(?, ?)'] * len(chunk))} ON CONFLICT (number) DO NOTHING",
            [value for number in chunk for value in (number, now)],
        ))  # fmt: skip

    async def dnc_remove(self, numbers: Iterable[str]) -> int:
        """Take numbers off it; returns how many were on it."""
        return await self._each_chunk(numbers, lambda chunk: (
            f"DELETE FROM {self._dnc} WHERE number IN ({marks(len(chunk))})", chunk
        ))  # fmt: skip

    async def _each_chunk(
        self,
        numbers: Iterable[str],
        statement: Callable[[list[str]], tuple[str, Sequence[object]]],
    ) -> int:
        """The rows ``statement`` (SQL and parameters for a chunk of ``numbers``) changed,
        run on each number once, :data:`_CHUNK` at a time, in one transaction."""
        unique = list(dict.fromkeys(numbers))
        changed = 0
        async with self.engine.atomic() as tx:
            for start in range(0, len(unique), _CHUNK):
                changed += (await tx.run(*statement(unique[start : start + _CHUNK]))).rowcount
        return changed

    async def dnc_has(self, number: str) -> bool:
        """Whether ``number`` is on it."""
        found = await self.engine.run(f"SELECT 1 FROM {self._dnc} WHERE number = ?", (number,))
        return bool(found.rows)

    async def dnc_list(self, limit: int) -> list[str]:
        """Its numbers (at most ``limit``)."""
        found = await self.engine.run(
            f"SELECT number FROM {self._dnc} ORDER BY number LIMIT ?", (limit,)
        )
        return [str(row[0]) for row in found.rows]


def campaign_of(row: Sequence[object]) -> Campaign:
    campaign_id, spec, state, created, paced = row
    return Campaign(
        id=int(campaign_id),  # type: ignore[call-overload]
        spec=spec_from_json(json.loads(str(spec))),
        state=CampaignState(state),
        created=float(created),  # type: ignore[arg-type]
        next_dial_at=float(paced),  # type: ignore[arg-type]
    )


def contact_of(row: Sequence[object]) -> ContactRow:
    (contact_id, campaign, number_row, number, variables, zone, state, attempts, next_at,
     outcome, detail, call_id, claimed_by, lease_until, updated) = row  # fmt: skip
    return ContactRow(
        id=int(contact_id),  # type: ignore[call-overload]
        campaign=int(campaign),  # type: ignore[call-overload]
        row=int(number_row),  # type: ignore[call-overload]
        number=str(number),
        variables=json.loads(str(variables)),
        time_zone=str(zone),
        state=ContactState(state),
        attempts=int(attempts),  # type: ignore[call-overload]
        next_at=float(next_at),  # type: ignore[arg-type]
        last_outcome=str(outcome),
        detail=str(detail),
        call_id=str(call_id),
        claimed_by=None if claimed_by is None else str(claimed_by),
        lease_until=None if lease_until is None else float(lease_until),  # type: ignore[arg-type]
        updated=float(updated),  # type: ignore[arg-type]
    )
