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
counted in the insert's transaction; one more raises
:class:`MessageQuotaExceeded`. :class:`MessageStorage` is what the tool needs of a store,
its methods coroutines: :class:`MessageStore` here (its ``sqlite3`` work in a thread:
:func:`~sipgw.agent.blocking.in_thread`), or the cluster's in PostgreSQL
(``SIPGW_DATABASE_URL``), which the app passes in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sipgw.agent.blocking import in_thread
from sipgw.agent.private_files import prepare_private_database
from sipgw.agent.tools.quota import CallbackQuota

__all__ = ["DAY", "MessageQuotaExceeded", "MessageRow", "MessageStorage", "MessageStore"]

DAY = 86400.0

_CREATE = """
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


class MessageStorage(Protocol):
    """A message store (see :class:`MessageStore`); its methods are coroutines."""

    async def add(
        self, *, call_id: str, for_target: str, from_number: str, caller_name: str,
        reach_at: str, message: str, now: float, quota: CallbackQuota | None = None,
    ) -> int: ...  # fmt: skip

    async def rows(self) -> list[MessageRow]: ...


class MessageStore:
    """The ``messages`` table in the SQLite file ``path`` (created on first use); each
    method runs in a thread (:func:`~sipgw.agent.blocking.in_thread`)."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self._prepared = False

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if not self._prepared:
            prepare_private_database(self.path)
            self._prepared = True
        with closing(sqlite3.connect(self.path, timeout=self.timeout)) as db, db:
            db.execute(_CREATE)
            yield db

    @in_thread
    def add(
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
        with self._db() as db:
            if quota is not None:
                db.execute("BEGIN IMMEDIATE")  # the count and the insert, as one
                checks = (
                    ("per_caller", quota.per_caller, "from_number = ?", (from_number,)),
                    ("per_day", quota.per_day, "1", ()),
                )
                for which, limit, where, params in checks:
                    if limit <= 0:
                        continue
                    (count,) = db.execute(
                        f"SELECT COUNT(*) FROM messages WHERE created_ts > ? AND {where}",
                        (now - DAY, *params),
                    ).fetchone()
                    if count >= limit:
                        raise MessageQuotaExceeded(which, limit)
            cursor = db.execute(
                "INSERT INTO messages (created_at, created_ts, call_id, for_target, from_number,"
                " caller_name, reach_at, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_iso(now), now, call_id, for_target, from_number, caller_name, reach_at,
                 message),
            )  # fmt: skip
            row_id = cursor.lastrowid
        assert row_id is not None
        return row_id

    @in_thread
    def rows(self) -> list[MessageRow]:
        """Every message, oldest first."""
        with self._db() as db:
            found = db.execute(
                "SELECT id, created_at, call_id, for_target, from_number, caller_name,"
                " reach_at, message, status FROM messages ORDER BY id"
            ).fetchall()
        return [MessageRow(*row) for row in found]


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
