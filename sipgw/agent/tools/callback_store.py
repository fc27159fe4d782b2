"""The callback store: the SQLite table ``callbacks`` that ``schedule_callback`` writes
and the gateway's scheduler (``sipgw/app/calls/callbacks.py``) dials from.

One row per requested callback. Its ``status`` is its state:

``pending``
    waiting for ``next_attempt_at`` (epoch seconds, UTC);
``dialing``
    claimed by one scheduler (``claimed_by``) until ``lease_until``, which that
    scheduler renews while the call lasts; a lease that runs out (its process
    died) makes the row pending again;
``done``
    the callee answered;
``failed``
    every attempt went unanswered, or the row cannot be dialed
    (``last_outcome`` says why).

Claims are one statement (:func:`~sipgw.foundation.stores.sql.claim_due`): of schedulers
claiming at once, on one SQLite file (processes) or one PostgreSQL database (gateways,
``FOR UPDATE SKIP LOCKED``), each due row goes to exactly one.

:class:`CallbackStore` is written once over the dialect seam (:mod:`sipgw.foundation.stores.sql`):
on the SQLite file (the default), or on the cluster's PostgreSQL (``SIPGW_DATABASE_URL``:
the app passes its database in).

Quotas (:class:`~sipgw.agent.tools.quota.CallbackQuota`): :meth:`CallbackStore.add` counts
the callbacks stored in the last 24 hours by the same caller (``requested_by``), to
the same number and in all, in the same transaction as the insert (SQLite's ``BEGIN
IMMEDIATE``, PostgreSQL's advisory lock :data:`~sipgw.agent.tools.quota.QUOTA_LOCK`:
two processes cannot both take the last one), and raises
:class:`CallbackQuotaExceeded` instead of storing one more.

Numbers: :func:`dialable_number` accepts phone numbers only (digits, an optional
leading ``+``, 3 to 15 digits: E.164's longest), never a URI the caller dictates (the
caller's own address is read by the gateway's URI parser, not here).
:func:`number_allowed` applies an operator's prefix rule.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from sipgw.agent.tools.quota import QUOTA_LOCK, CallbackQuota, Limit, reached
from sipgw.foundation.stores.sql import ClaimQueue, Engine, Statements, claim_due, renew_leases
from sipgw.foundation.stores.sqlite import SqliteEngine

__all__ = [
    "CALLBACK_COLUMNS",
    "CALLBACK_QUEUE",
    "CallbackQuotaExceeded",
    "CallbackRow",
    "CallbackState",
    "CallbackStore",
    "callback_row",
    "dialable_number",
    "number_allowed",
]

_CREATE = """
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    call_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    requested_time TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
)
"""

# Columns added since the first version of the table (an old file gets them on
# first use). A row without due_at predates dialing and is reported, not dialed.
_ADDED_COLUMNS = {
    "notes": "TEXT NOT NULL DEFAULT ''",
    "due_at": "REAL",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
    "next_attempt_at": "REAL",
    "last_outcome": "TEXT NOT NULL DEFAULT ''",
    "updated_at": "TEXT",
    "claimed_by": "TEXT",
    "lease_until": "REAL",
    "requested_by": "TEXT NOT NULL DEFAULT ''",
    "created_ts": "REAL",
}

CALLBACK_COLUMNS = (
    "id, call_id, phone, reason, notes, requested_time, created_at, due_at, status, "
    "attempts, next_attempt_at, last_outcome, claimed_by, lease_until"
)
"""The columns :func:`callback_row` reads, in its order."""

CALLBACK_QUEUE = ClaimQueue(
    table="callbacks",
    due="COALESCE(next_attempt_at, due_at, 0)",
    ready="status = 'pending'",
    also="status = 'dialing', attempts = attempts + 1, updated_at = ?",
)
"""Pending rows, by their next attempt (a row without a time first: it is reported, not
dialed); a claim makes one ``dialing`` (an attempt more)."""


class CallbackQuotaExceeded(Exception):
    """A callback over a quota was not stored.

    Attributes:
        which: ``per_caller``, ``per_number`` or ``per_day``.
        limit: the quota.
    """

    def __init__(self, which: str, limit: int) -> None:
        super().__init__(f"{which} quota of {limit} callbacks in 24 hours reached")
        self.which = which
        self.limit = limit


class CallbackState(Enum):
    """A callback's ``status`` column."""

    PENDING = "pending"
    DIALING = "dialing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CallbackRow:
    """One stored callback request."""

    id: int
    call_id: str
    """The Call-ID of the call in which it was requested."""
    phone: str
    """The number to call, as stored (normally already :func:`dialable_number`)."""
    reason: str
    """What the callback is about, as the caller put it."""
    notes: str
    """Anything else the agent calling back should know."""
    requested_time: str
    """The time as agreed with the caller (text, for people)."""
    created_at: str
    due_at: float | None
    """When to call, epoch seconds; None for a row stored before callbacks were dialed."""
    state: CallbackState
    attempts: int
    """Dial attempts made so far."""
    next_attempt_at: float | None
    last_outcome: str
    claimed_by: str | None
    lease_until: float | None


def dialable_number(text: str) -> str:
    """A phone number reduced to ``+`` and digits: ``"+1 (555) 123-4567"`` -> ``"+15551234567"``.

    Accepts blanks, dashes, dots and parentheses between digits. A URI is no phone number
    here: the gateway reads a caller's address (:attr:`sipgw.agent.base.CallDetails.caller_number`),
    and a caller who dictates one is asked for a number.

    Raises:
        ValueError: not a phone number (letters, a URI, too short or long).
    """
    compact = re.sub(r"[\s().\-]", "", text.strip())
    if compact.startswith("00") and len(compact) > 4:
        compact = "+" + compact[2:]  # international prefix written as 00
    if not re.fullmatch(r"\+?[0-9]{3,15}", compact):
        raise ValueError(f"{text.strip()!r} is not a phone number")
    return compact


def number_allowed(number: str, prefixes: Iterable[str]) -> bool:
    """True when ``number`` starts with one of ``prefixes`` (none given: every number)."""
    wanted = [prefix for prefix in prefixes if prefix]
    return not wanted or any(number.startswith(prefix) for prefix in wanted)


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")


def prepare_sqlite(db: sqlite3.Connection) -> None:
    """The table in a SQLite file, with the columns older files lack (PostgreSQL's:
    migration ``0001_shared_state.sql``)."""
    db.execute(_CREATE)
    present = {row[1] for row in db.execute("PRAGMA table_info(callbacks)")}
    for name, declaration in _ADDED_COLUMNS.items():
        if name not in present:
            try:
                db.execute(f"ALTER TABLE callbacks ADD COLUMN {name} {declaration}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise


class CallbackStore:
    """The ``callbacks`` table on ``engine``: a SQLite file (a path: created on first use,
    owner-only; ``timeout`` is how long a write waits for another process's lock) or the
    cluster's database."""

    def __init__(self, engine: Engine | Path, timeout: float = 5.0) -> None:
        if isinstance(engine, Path):
            engine = SqliteEngine(engine, prepare_sqlite, timeout=timeout)
        self.engine = engine

    @property
    def where(self) -> str:
        """Where the rows are, for logs (a file, a database without its password)."""
        return self.engine.where

    # -- the tool's side --------------------------------------------------------------

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
        """Store a pending callback due at ``due_at``; returns its id.

        ``requested_by``: the caller who asked (``verified:NUMBER``, else the From's
        number, ``anonymous``: :func:`sipgw.agent.tools.builtin.callback_requester`), counted
        against ``quota`` with the number and the total (see the module docstring).

        Raises:
            CallbackQuotaExceeded: a quota is reached; nothing was stored.
        """
        async with self.engine.atomic(QUOTA_LOCK if quota is not None else None) as tx:
            if quota is not None:
                await _check_quota(tx, quota, requested_by, phone, now)
            ((row_id,),) = (await tx.run(
                "INSERT INTO callbacks (created_at, call_id, phone, requested_time, reason,"
                " notes, due_at, next_attempt_at, status, updated_at, requested_by, created_ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id",
                (_iso(now), call_id, phone, requested_time, reason, notes, due_at, due_at,
                 _iso(now), requested_by, now),
            )).rows  # fmt: skip
        return int(row_id)

    # -- the scheduler's side ---------------------------------------------------------

    async def get(self, row_id: int) -> CallbackRow | None:
        """One row by id."""
        found = await self.engine.run(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id = ?", (row_id,)
        )
        return callback_row(found.rows[0]) if found.rows else None

    async def rows(self) -> list[CallbackRow]:
        """Every row, oldest first."""
        found = await self.engine.run(f"SELECT {CALLBACK_COLUMNS} FROM callbacks ORDER BY id")
        return [callback_row(row) for row in found.rows]

    async def next_due_at(self) -> float | None:
        """The earliest next attempt of the pending rows, if any."""
        ((value,),) = (await self.engine.run(
            "SELECT MIN(COALESCE(next_attempt_at, due_at)) FROM callbacks"
            " WHERE status = 'pending'"
        )).rows  # fmt: skip
        return None if value is None else float(value)

    async def dialing(self) -> list[CallbackRow]:
        """Rows some scheduler has claimed."""
        found = await self.engine.run(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE status = 'dialing'"
        )
        return [callback_row(row) for row in found.rows]

    async def claim_due(
        self, now: float, owner: str, lease: float, limit: int
    ) -> list[CallbackRow]:
        """Claim up to ``limit`` due pending rows (an attempt more each) for ``owner``,
        oldest due first, in one statement; returns them as claimed (``attempts`` counts
        the attempt about to be made)."""
        found = await claim_due(
            self.engine, CALLBACK_QUEUE, owner=owner, now=now, lease=lease, limit=limit,
            columns=CALLBACK_COLUMNS, also_params=(_iso(now),),
        )  # fmt: skip
        return [callback_row(row) for row in found]

    async def renew(self, row_ids: Iterable[int], owner: str, lease_until: float) -> None:
        """Extend the leases of the rows ``owner`` is dialing."""
        await renew_leases(self.engine, CALLBACK_QUEUE, list(row_ids), owner, lease_until)

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
        """Record an attempt's outcome and the row's new state.

        With ``owner``, only while that owner still holds the row (a scheduler
        whose lease was taken over does not overwrite the new holder's state).
        ``dialed`` False: the claimed attempt was not made (a row that cannot be dialed).
        """
        query = (
            f"UPDATE callbacks SET {'' if dialed else 'attempts = attempts - 1, '}"
            "status = ?, last_outcome = ?, updated_at = ?,"
            " next_attempt_at = COALESCE(?, next_attempt_at), claimed_by = NULL,"
            " lease_until = NULL WHERE id = ?"
        )
        params: tuple[object, ...] = (state.value, outcome, _iso(now), next_attempt_at, row_id)
        if owner is not None:
            query += " AND status = 'dialing' AND claimed_by = ?"
            params += (owner,)
        return (await self.engine.run(query, params)).rowcount == 1

    async def requeue_stale(self, row_id: int, holder: str | None, next_attempt_at: float) -> bool:
        """Make a dialing row whose holder is gone pending again (if it is still so held)."""
        done = await self.engine.run(
            "UPDATE callbacks SET status = 'pending', next_attempt_at = ?,"
            " last_outcome = 'interrupted: the dialing process stopped',"
            " claimed_by = NULL, lease_until = NULL"
            f" WHERE id = ? AND status = 'dialing' AND claimed_by {self.engine.dialect.same} ?",
            (next_attempt_at, row_id, holder),
        )
        return done.rowcount == 1


async def _check_quota(
    tx: Statements, quota: CallbackQuota, requested_by: str, phone: str, now: float
) -> None:
    limits: tuple[Limit, ...] = (
        ("per_caller", quota.per_caller, "requested_by = ?", (requested_by,)),
        ("per_number", quota.per_number, "phone = ?", (phone,)),
        ("per_day", quota.per_day, "TRUE", ()),
    )
    over = await reached(tx, "callbacks", limits, now)
    if over is not None:
        raise CallbackQuotaExceeded(*over)


def callback_row(values: tuple[object, ...]) -> CallbackRow:
    """A row of :data:`CALLBACK_COLUMNS`' values."""
    (row_id, call_id, phone, reason, notes, requested, created, due_at, status, attempts,
     next_at, outcome, claimed_by, lease_until) = values  # fmt: skip
    try:
        state = CallbackState(status)
    except ValueError:
        state = CallbackState.FAILED  # an unknown state written by hand: never dialed
    return CallbackRow(
        id=int(row_id),  # type: ignore[call-overload]
        call_id=str(call_id),
        phone=str(phone),
        reason=str(reason or ""),
        notes=str(notes or ""),
        requested_time=str(requested),
        created_at=str(created),
        due_at=_float(due_at),
        state=state,
        attempts=int(attempts or 0),  # type: ignore[call-overload]
        next_attempt_at=_float(next_at),
        last_outcome=str(outcome or ""),
        claimed_by=None if claimed_by is None else str(claimed_by),
        lease_until=_float(lease_until),
    )


def _float(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
