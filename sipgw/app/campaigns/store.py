"""Where campaigns live: the :class:`CampaignStore` protocol and its SQLite implementation.

Every method but :meth:`~CampaignStore.exists` is a coroutine, one unit of work: the
SQLite store runs its ``sqlite3`` work in a thread (:func:`~sipgw.agent.blocking.in_thread`),
the PostgreSQL one awaits psycopg's asyncio API. Time is passed in (epoch seconds). The
store's one rule: **a contact is claimed by one scheduler at a time and one attempt at a
time**. :meth:`CampaignStore.claim_next` is that rule as one atomic
operation: in one transaction it checks the campaign is running, its pacing allows a
dial now (``next_dial_at``) and fewer than its cap are dialing, takes the next due
pending contact (``pending`` -> ``dialing``, one attempt more, the claimer and its
lease), and moves the pacing on by ``1 / per_second``. In SQLite that is ``BEGIN
IMMEDIATE`` (one writer at a time, across processes) and ``UPDATE ... WHERE state =
'pending' RETURNING``; the PostgreSQL store (:mod:`sipgw.app.cluster.campaigns`) locks
the campaign's row (``SELECT ... FOR UPDATE``) and picks the contact with ``FOR UPDATE
SKIP LOCKED``, so that gateways sharing it never wait on each other's contacts. Every
later write to a contact names its claimer (``claimed_by``): one whose claim was taken
over (its lease ran out) changes nothing.

The do-not-call list is a table of numbers (as :func:`~sipgw.app.campaigns.contacts.
normalize_number` writes them), shared by every campaign.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Protocol

from sipgw.agent.blocking import in_thread
from sipgw.agent.private_files import prepare_private_database
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

__all__ = [
    "CAMPAIGN_COLUMNS",
    "CONTACT_COLUMNS",
    "CampaignStore",
    "SqliteCampaignStore",
    "campaign_of",
    "contact_of",
]

_SCHEMA = """
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

CONTACT_COLUMNS = ("id, campaign, row, number, variables, time_zone, state, attempts, next_at, "
            "last_outcome, detail, call_id, claimed_by, lease_until, updated")  # fmt: skip
CAMPAIGN_COLUMNS = "id, spec, state, created, next_dial_at"


class CampaignStore(Protocol):
    """The campaigns' state, shared by the schedulers that use it (module docstring)."""

    def exists(self) -> bool:
        """Whether there may be campaigns (the loop starts only then, else with the first)."""
        ...

    async def create(self, spec: CampaignSpec, contacts: Sequence[Contact], now: float) -> int:
        """Store a running campaign and its contacts (due now); returns its id."""
        ...

    async def campaign(self, campaign_id: int) -> Campaign | None:
        """One campaign."""
        ...

    async def campaigns(
        self, state: CampaignState | None = None, limit: int | None = None
    ) -> list[Campaign]:
        """The campaigns (in ``state``, if given), newest first, at most ``limit``."""
        ...

    async def set_state(self, campaign_id: int, state: CampaignState, now: float) -> bool:
        """Pause (running), resume (paused) or cancel (running or paused: its pending
        contacts become ``cancelled``); False when the campaign is not in a state that
        allows it."""
        ...

    async def claim_next(
        self, campaign_id: int, owner: str, now: float, lease: float
    ) -> tuple[ContactRow, float] | None:
        """Atomically claim the campaign's next due contact (module docstring); returns it
        (``dialing``, its attempt counted) and the pacing's time before the claim, or None
        (not running, paced, at its cap, or nothing due)."""
        ...

    async def unclaim(
        self, contact_id: int, owner: str, state: ContactState, next_at: float, why: str,
        now: float, pace_back: float | None,
    ) -> bool:  # fmt: skip
        """Give back a claimed contact no call was placed for (its attempt uncounted):
        ``pending`` again at ``next_at`` (calling hours) or final (``dnc``); the pacing
        back to ``pace_back`` when given."""
        ...

    async def finish(
        self, contact_id: int, owner: str | None, state: ContactState, attempt: Attempt,
        next_at: float | None, now: float,
    ) -> bool:  # fmt: skip
        """Record an attempt and the contact's next state, if ``owner`` (None: whoever)
        still holds it."""
        ...

    async def renew(self, contact_ids: Iterable[int], owner: str, lease_until: float) -> None:
        """Extend the claims ``owner`` holds."""
        ...

    async def dialing(self) -> list[ContactRow]:
        """Every claimed contact, of every campaign."""
        ...

    async def contacts(self, campaign_id: int) -> list[ContactRow]:
        """A campaign's contacts, in the order given."""
        ...

    async def progress(self, campaign_id: int) -> Progress:
        """A campaign's counts."""
        ...

    async def finish_if_done(self, campaign_id: int, now: float) -> bool:
        """A running campaign with nothing pending or dialing becomes ``finished`` (True)."""
        ...

    async def next_due(self) -> float | None:
        """The earliest time a running campaign below its cap may have a contact to claim
        (perhaps already past: it became due while the caller looked)."""
        ...

    async def dnc_add(self, numbers: Iterable[str], now: float) -> int:
        """Put numbers on the do-not-call list; returns how many were new."""
        ...

    async def dnc_remove(self, numbers: Iterable[str]) -> int:
        """Take numbers off it; returns how many were on it."""
        ...

    async def dnc_has(self, number: str) -> bool:
        """Whether ``number`` is on it."""
        ...

    async def dnc_list(self, limit: int) -> list[str]:
        """Its numbers (at most ``limit``)."""
        ...


class SqliteCampaignStore:
    """:class:`CampaignStore` in the SQLite file ``path`` (created on first write); each
    method runs in a thread (:func:`~sipgw.agent.blocking.in_thread`).

    ``timeout``: how long a write waits for another process's lock.
    """

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self._prepared = False

    def exists(self) -> bool:
        """Whether the file is there (a gateway that never had a campaign keeps none)."""
        return self.path.exists()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode: each statement its own transaction, or the
        ``BEGIN IMMEDIATE`` ... ``COMMIT`` the caller writes."""
        if not self._prepared:
            prepare_private_database(self.path)
        with closing(sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)) as db:
            if not self._prepared:
                db.executescript(_SCHEMA)
                self._prepared = True
            yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- campaigns --------------------------------------------------------------------

    @in_thread
    def create(self, spec: CampaignSpec, contacts: Sequence[Contact], now: float) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO campaigns (spec, state, concurrency, interval, next_dial_at,"
                " created, updated) VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (json.dumps(spec.as_json()), spec.concurrency, 1.0 / spec.per_second, now,
                 now, now),
            )  # fmt: skip
            campaign_id = cursor.lastrowid
            assert campaign_id is not None
            db.executemany(
                "INSERT INTO contacts (campaign, row, number, variables, time_zone, next_at,"
                " updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(campaign_id, c.row, c.number, json.dumps(dict(c.variables)), c.time_zone,
                  now, now) for c in contacts],
            )  # fmt: skip
        return campaign_id

    @in_thread
    def campaign(self, campaign_id: int) -> Campaign | None:
        with self._db() as db:
            row = db.execute(
                f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?", (campaign_id,)
            ).fetchone()
        return None if row is None else campaign_of(row)

    @in_thread
    def campaigns(
        self, state: CampaignState | None = None, limit: int | None = None
    ) -> list[Campaign]:
        where = "" if state is None else "WHERE state = ?"
        params: tuple[object, ...] = () if state is None else (state.value,)
        with self._db() as db:
            rows = db.execute(
                f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns {where} ORDER BY id DESC LIMIT ?",
                (*params, -1 if limit is None else limit),
            ).fetchall()
        return [campaign_of(row) for row in rows]

    @in_thread
    def set_state(self, campaign_id: int, state: CampaignState, now: float) -> bool:
        allowed = {
            CampaignState.PAUSED: ("running",),
            CampaignState.RUNNING: ("paused",),
            CampaignState.CANCELLED: ("running", "paused"),
        }.get(state, ())
        if not allowed:
            return False
        marks = ",".join("?" * len(allowed))
        with self._transaction() as db:
            changed = db.execute(
                f"UPDATE campaigns SET state = ?, updated = ? WHERE id = ? AND state IN ({marks})",
                (state.value, now, campaign_id, *allowed),
            ).rowcount
            if changed and state is CampaignState.CANCELLED:
                db.execute(
                    "UPDATE contacts SET state = 'cancelled', updated = ?"
                    " WHERE campaign = ? AND state = 'pending'",
                    (now, campaign_id),
                )
        return changed == 1

    @in_thread
    def finish_if_done(self, campaign_id: int, now: float) -> bool:
        with self._db() as db:
            return db.execute(
                "UPDATE campaigns SET state = 'finished', updated = ? WHERE id = ?"
                " AND state = 'running' AND NOT EXISTS (SELECT 1 FROM contacts WHERE"
                " campaign = ? AND state IN ('pending', 'dialing'))",
                (now, campaign_id, campaign_id),
            ).rowcount == 1  # fmt: skip

    # -- contacts ---------------------------------------------------------------------

    @in_thread
    def claim_next(
        self, campaign_id: int, owner: str, now: float, lease: float
    ) -> tuple[ContactRow, float] | None:
        with self._transaction() as db:
            found = db.execute(
                "SELECT concurrency, interval, next_dial_at FROM campaigns"
                " WHERE id = ? AND state = 'running' AND next_dial_at <= ?",
                (campaign_id, now),
            ).fetchone()
            if found is None:
                return None
            concurrency, interval, paced = found
            (dialing,) = db.execute(
                "SELECT COUNT(*) FROM contacts WHERE campaign = ? AND state = 'dialing'",
                (campaign_id,),
            ).fetchone()
            if dialing >= concurrency:
                return None
            row = db.execute(
                f"UPDATE contacts SET state = 'dialing', attempts = attempts + 1,"
                f" claimed_by = ?, lease_until = ?, updated = ?"
                f" WHERE id = (SELECT id FROM contacts WHERE campaign = ? AND state = 'pending'"
                f" AND next_at <= ? ORDER BY next_at, id LIMIT 1) AND state = 'pending'"
                f" RETURNING {CONTACT_COLUMNS}",
                (owner, now + lease, now, campaign_id, now),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE campaigns SET next_dial_at = ? WHERE id = ?",
                (max(paced, now) + interval, campaign_id),
            )
        return contact_of(row), float(paced)

    @in_thread
    def unclaim(
        self, contact_id: int, owner: str, state: ContactState, next_at: float, why: str,
        now: float, pace_back: float | None,
    ) -> bool:  # fmt: skip
        with self._transaction() as db:
            done = db.execute(
                "UPDATE contacts SET state = ?, attempts = attempts - 1, next_at = ?,"
                " detail = ?, claimed_by = NULL, lease_until = NULL, updated = ?"
                " WHERE id = ? AND state = 'dialing' AND claimed_by = ?",
                (state.value, next_at, why, now, contact_id, owner),
            ).rowcount == 1  # fmt: skip
            if done and pace_back is not None:
                db.execute(
                    "UPDATE campaigns SET next_dial_at = MIN(next_dial_at, ?)"
                    " WHERE id = (SELECT campaign FROM contacts WHERE id = ?)",
                    (pace_back, contact_id),
                )
        return done

    @in_thread
    def finish(
        self, contact_id: int, owner: str | None, state: ContactState, attempt: Attempt,
        next_at: float | None, now: float,
    ) -> bool:  # fmt: skip
        query = (
            "UPDATE contacts SET state = ?, next_at = COALESCE(?, next_at), last_outcome = ?,"
            " detail = ?, call_id = ?, claimed_by = NULL, lease_until = NULL, updated = ?"
            " WHERE id = ? AND state = 'dialing'"
        )
        params: tuple[object, ...] = (state.value, next_at, attempt.outcome, attempt.detail,
                                      attempt.call_id, now, contact_id)  # fmt: skip
        if owner is not None:
            query += " AND claimed_by = ?"
            params += (owner,)
        with self._transaction() as db:
            done = db.execute(query, params).rowcount == 1
            if done and state is ContactState.PENDING:  # a retry of a cancelled campaign: not
                db.execute(
                    "UPDATE contacts SET state = 'cancelled' WHERE id = ? AND (SELECT state"
                    " FROM campaigns WHERE id = contacts.campaign) = 'cancelled'",
                    (contact_id,),
                )
        return done

    @in_thread
    def renew(self, contact_ids: Iterable[int], owner: str, lease_until: float) -> None:
        with self._db() as db:
            db.executemany(
                "UPDATE contacts SET lease_until = ?"
                " WHERE id = ? AND state = 'dialing' AND claimed_by = ?",
                [(lease_until, contact_id, owner) for contact_id in contact_ids],
            )

    @in_thread
    def dialing(self) -> list[ContactRow]:
        with self._db() as db:
            rows = db.execute(f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE state = 'dialing'")
            return [contact_of(row) for row in rows]

    @in_thread
    def contacts(self, campaign_id: int) -> list[ContactRow]:
        with self._db() as db:
            rows = db.execute(
                f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE campaign = ? ORDER BY row",
                (campaign_id,),
            )
            return [contact_of(row) for row in rows]

    @in_thread
    def progress(self, campaign_id: int) -> Progress:
        with self._db() as db:
            counts = dict(db.execute(
                "SELECT state || ':' || CASE WHEN state = 'done' THEN last_outcome ELSE '' END,"
                " COUNT(*) FROM contacts WHERE campaign = ? GROUP BY 1",
                (campaign_id,),
            ).fetchall())  # fmt: skip
            (dialled,) = db.execute(
                "SELECT COALESCE(SUM(attempts), 0) FROM contacts WHERE campaign = ?",
                (campaign_id,),
            ).fetchone()
        person, machine = counts.get("done:person", 0), counts.get("done:machine", 0)
        pending, dialing = counts.get("pending:", 0), counts.get("dialing:", 0)
        return Progress(
            total=sum(counts.values()), dialled=int(dialled), person=person, machine=machine,
            completed=person + machine, failed=counts.get("failed:", 0),
            dnc=counts.get("dnc:", 0), cancelled=counts.get("cancelled:", 0),
            dialing=dialing, left=pending + dialing,
        )  # fmt: skip

    @in_thread
    def next_due(self) -> float | None:
        with self._db() as db:
            (value,) = db.execute(
                "SELECT MIN(MAX(c.next_at, k.next_dial_at)) FROM contacts c"
                " JOIN campaigns k ON k.id = c.campaign"
                " WHERE k.state = 'running' AND c.state = 'pending' AND k.concurrency >"
                " (SELECT COUNT(*) FROM contacts d WHERE d.campaign = k.id AND d.state = 'dialing')"
            ).fetchone()
        return None if value is None else float(value)

    # -- do not call ------------------------------------------------------------------

    @in_thread
    def dnc_add(self, numbers: Iterable[str], now: float) -> int:
        with self._transaction() as db:
            return sum(
                db.execute(
                    "INSERT OR IGNORE INTO dnc (number, added) VALUES (?, ?)", (number, now)
                ).rowcount  # fmt: skip
                for number in numbers
            )

    @in_thread
    def dnc_remove(self, numbers: Iterable[str]) -> int:
        with self._transaction() as db:
            return sum(
                db.execute("DELETE FROM dnc WHERE number = ?", (number,)).rowcount
                for number in numbers
            )

    @in_thread
    def dnc_has(self, number: str) -> bool:
        with self._db() as db:
            found = db.execute("SELECT 1 FROM dnc WHERE number = ?", (number,)).fetchone()
        return found is not None

    @in_thread
    def dnc_list(self, limit: int) -> list[str]:
        with self._db() as db:
            rows = db.execute("SELECT number FROM dnc ORDER BY number LIMIT ?", (limit,))
            return [str(row[0]) for row in rows]


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
