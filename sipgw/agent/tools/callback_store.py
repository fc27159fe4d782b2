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

Claims are one ``UPDATE ... WHERE status = 'pending'``: of two schedulers on one
file (two processes) only one gets a row.

:class:`CallbackStorage` is what the tool and the scheduler need of a store, its methods
coroutines: :class:`CallbackStore` here (SQLite, the default: each method runs its
``sqlite3`` work in a thread, :func:`~sipgw.agent.blocking.in_thread`), or the gateway's
PostgreSQL store (``SIPGW_DATABASE_URL``: ``sipgw.app.cluster.callbacks``, on psycopg's
asyncio API), which the app passes in.

Quotas (:class:`~sipgw.agent.tools.quota.CallbackQuota`): :meth:`CallbackStore.add` counts
the callbacks stored in the last 24 hours by the same caller (``requested_by``), to
the same number and in all, in the same transaction as the insert (``BEGIN
IMMEDIATE``: two processes cannot both take the last one), and raises
:class:`CallbackQuotaExceeded` instead of storing one more.

Numbers: :func:`dialable_number` accepts phone numbers only (digits, an optional
leading ``+``, 3 to 15 digits: E.164's longest), never a URI the caller dictates (the
caller's own address is read by the gateway's URI parser, not here).
:func:`number_allowed` applies an operator's prefix rule.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Protocol

from sipgw.agent.blocking import in_thread
from sipgw.agent.private_files import prepare_private_database
from sipgw.agent.tools.quota import CallbackQuota

__all__ = [
    "CALLBACK_COLUMNS",
    "DAY",
    "CallbackQuotaExceeded",
    "CallbackRow",
    "CallbackState",
    "CallbackStorage",
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

DAY = 86400.0
"""The quotas' window, seconds."""

CALLBACK_COLUMNS = (
    "id, call_id, phone, reason, notes, requested_time, created_at, due_at, status, "
    "attempts, next_attempt_at, last_outcome, claimed_by, lease_until"
)
"""The columns :func:`callback_row` reads, in its order."""


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


class CallbackStorage(Protocol):
    """A callback store: SQLite's :class:`CallbackStore` or a shared one. Every method is
    a coroutine, one unit of work; see :class:`CallbackStore` for what each does."""

    @property
    def where(self) -> str:
        """Where the rows are, for logs (a file, a database without its password)."""
        ...

    async def add(
        self, *, call_id: str, phone: str, requested_time: str, reason: str, notes: str,
        due_at: float, now: float, requested_by: str = "", quota: CallbackQuota | None = None,
    ) -> int: ...  # fmt: skip

    async def get(self, row_id: int) -> CallbackRow | None: ...

    async def rows(self) -> list[CallbackRow]: ...

    async def next_due_at(self) -> float | None: ...

    async def dialing(self) -> list[CallbackRow]: ...

    async def claim_due(
        self, now: float, owner: str, lease: float, limit: int
    ) -> list[CallbackRow]:
        """Claim up to ``limit`` due pending rows (an attempt more each) for ``owner``;
        returns them as claimed (``attempts`` counts the attempt about to be made)."""
        ...

    async def renew(self, row_ids: Iterable[int], owner: str, lease_until: float) -> None: ...

    async def release(
        self, row_id: int, state: CallbackState, outcome: str, now: float, *,
        owner: str | None = None, next_attempt_at: float | None = None, dialed: bool = True,
    ) -> bool: ...  # fmt: skip

    async def requeue_stale(
        self, row_id: int, holder: str | None, next_attempt_at: float
    ) -> bool: ...


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


class CallbackStore:
    """The ``callbacks`` table in the SQLite file ``path`` (created on first use); each
    method runs in a thread (:func:`~sipgw.agent.blocking.in_thread`)."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        """Use ``path``; ``timeout`` is how long a write waits for another process's lock."""
        self.path = path
        self.timeout = timeout
        self._prepared = False

    @property
    def where(self) -> str:
        """The file."""
        return str(self.path)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if not self._prepared:
            prepare_private_database(self.path)
            self._prepared = True
        with closing(sqlite3.connect(self.path, timeout=self.timeout)) as db, db:
            db.execute(_CREATE)
            present = {row[1] for row in db.execute("PRAGMA table_info(callbacks)")}
            for name, declaration in _ADDED_COLUMNS.items():
                if name not in present:
                    try:
                        db.execute(f"ALTER TABLE callbacks ADD COLUMN {name} {declaration}")
                    except sqlite3.OperationalError as exc:  # another process added it first
                        if "duplicate column" not in str(exc):
                            raise
            yield db

    # -- the tool's side --------------------------------------------------------------

    @in_thread
    def add(
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
        with self._db() as db:
            if quota is not None:
                db.execute("BEGIN IMMEDIATE")  # the count and the insert, as one
                self._check_quota(db, quota, requested_by, phone, now)
            cursor = db.execute(
                "INSERT INTO callbacks (created_at, call_id, phone, requested_time, reason,"
                " notes, due_at, next_attempt_at, status, updated_at, requested_by, created_ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                (_iso(now), call_id, phone, requested_time, reason, notes, due_at, due_at,
                 _iso(now), requested_by, now),
            )  # fmt: skip
            row_id = cursor.lastrowid
        assert row_id is not None
        return row_id

    @staticmethod
    def _check_quota(
        db: sqlite3.Connection, quota: CallbackQuota, requested_by: str, phone: str, now: float
    ) -> None:
        since = now - DAY
        checks = (
            ("per_caller", quota.per_caller, "requested_by = ?", (requested_by,)),
            ("per_number", quota.per_number, "phone = ?", (phone,)),
            ("per_day", quota.per_day, "1", ()),
        )
        for which, limit, where, params in checks:
            if limit <= 0:
                continue
            (count,) = db.execute(
                f"SELECT COUNT(*) FROM callbacks WHERE created_ts > ? AND {where}",
                (since, *params),
            ).fetchone()
            if count >= limit:
                raise CallbackQuotaExceeded(which, limit)

    # -- the scheduler's side ---------------------------------------------------------

    @in_thread
    def get(self, row_id: int) -> CallbackRow | None:
        """One row by id."""
        return self._get(row_id)

    def _get(self, row_id: int) -> CallbackRow | None:
        with self._db() as db:
            found = db.execute(f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id = ?", (row_id,))
            row = found.fetchone()
        return None if row is None else callback_row(row)

    @in_thread
    def rows(self) -> list[CallbackRow]:
        """Every row, oldest first."""
        with self._db() as db:
            return [
                callback_row(r)
                for r in db.execute(f"SELECT {CALLBACK_COLUMNS} FROM callbacks ORDER BY id")
            ]

    @in_thread
    def due(self, now: float) -> list[CallbackRow]:
        """Pending rows whose next attempt is due (or that have no time: the bad rows)."""
        return self._due(now)

    def _due(self, now: float) -> list[CallbackRow]:
        with self._db() as db:
            found = db.execute(
                f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE status = 'pending'"
                " AND (COALESCE(next_attempt_at, due_at) IS NULL"
                "      OR COALESCE(next_attempt_at, due_at) <= ?)"
                " ORDER BY COALESCE(next_attempt_at, due_at), id",
                (now,),
            )
            return [callback_row(r) for r in found]

    @in_thread
    def next_due_at(self) -> float | None:
        """The earliest next attempt of the pending rows, if any."""
        with self._db() as db:
            (value,) = db.execute(
                "SELECT MIN(COALESCE(next_attempt_at, due_at)) FROM callbacks"
                " WHERE status = 'pending'"
            ).fetchone()
        return None if value is None else float(value)

    @in_thread
    def dialing(self) -> list[CallbackRow]:
        """Rows some scheduler has claimed."""
        with self._db() as db:
            found = db.execute(f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE status = 'dialing'")
            return [callback_row(r) for r in found]

    @in_thread
    def claim(self, row_id: int, owner: str, now: float, lease: float) -> bool:
        """Take a due pending row for dialing (one attempt more); False if someone else did."""
        return self._claim(row_id, owner, now, lease)

    def _claim(self, row_id: int, owner: str, now: float, lease: float) -> bool:
        with self._db() as db:
            cursor = db.execute(
                "UPDATE callbacks SET status = 'dialing', attempts = attempts + 1,"
                " claimed_by = ?, lease_until = ?, updated_at = ?"
                " WHERE id = ? AND status = 'pending'"
                " AND (COALESCE(next_attempt_at, due_at) IS NULL"
                "      OR COALESCE(next_attempt_at, due_at) <= ?)",
                (owner, now + lease, _iso(now), row_id, now),
            )
            return cursor.rowcount == 1

    @in_thread
    def claim_due(self, now: float, owner: str, lease: float, limit: int) -> list[CallbackRow]:
        """Claim up to ``limit`` due pending rows, oldest due first (:meth:`due`, then
        :meth:`claim` each: a row another process took meanwhile is passed over)."""
        claimed: list[CallbackRow] = []
        for row in self._due(now):
            if len(claimed) >= limit:
                break
            if self._claim(row.id, owner, now, lease):
                claimed.append(self._get(row.id) or row)
        return claimed

    @in_thread
    def renew(self, row_ids: Iterable[int], owner: str, lease_until: float) -> None:
        """Extend the leases of the rows ``owner`` is dialing."""
        with self._db() as db:
            db.executemany(
                "UPDATE callbacks SET lease_until = ?"
                " WHERE id = ? AND status = 'dialing' AND claimed_by = ?",
                [(lease_until, row_id, owner) for row_id in row_ids],
            )

    @in_thread
    def release(
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
        with self._db() as db:
            return db.execute(query, params).rowcount == 1

    @in_thread
    def requeue_stale(self, row_id: int, holder: str | None, next_attempt_at: float) -> bool:
        """Make a dialing row whose holder is gone pending again (if it is still so held)."""
        with self._db() as db:
            cursor = db.execute(
                "UPDATE callbacks SET status = 'pending', next_attempt_at = ?,"
                " last_outcome = 'interrupted: the dialing process stopped',"
                " claimed_by = NULL, lease_until = NULL"
                " WHERE id = ? AND status = 'dialing' AND claimed_by IS ?",
                (next_attempt_at, row_id, holder),
            )
            return cursor.rowcount == 1


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
