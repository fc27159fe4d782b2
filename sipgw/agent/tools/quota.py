"""How many callbacks and messages callers may leave (:class:`CallbackQuota`), apart from
the tools' settings module so that the stores need nothing else of it
(:class:`~sipgw.agent.tools.settings.BuiltinToolSettings` holds one), and the count both
stores make before they store one more (:func:`reached`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sipgw.foundation.stores.sql import Statements

__all__ = ["DAY", "QUOTA_LOCK", "CallbackQuota", "Limit", "reached"]

DAY = 86400.0
"""The quotas' window, seconds."""
QUOTA_LOCK = 0x53495048
"""The PostgreSQL advisory lock a quota's count and insert hold (callbacks and messages)."""

Limit = tuple[str, int, str, tuple[object, ...]]
"""One quota: its name (``per_caller``), how many (0: no limit), the SQL condition the rows
it counts meet (``phone = ?``) and that condition's parameters."""


@dataclass(frozen=True, slots=True)
class CallbackQuota:
    """How many callbacks may be scheduled in any 24 hours (0 = no limit).

    Attributes:
        per_caller: by one caller (their proven number when the call has one, else the
            From's number; anonymous callers count together).
        per_number: to one number, whoever asked.
        per_day: in all.
    """

    per_caller: int = 3
    per_number: int = 3
    per_day: int = 100


async def reached(
    tx: Statements, table: str, limits: Sequence[Limit], now: float
) -> tuple[str, int] | None:
    """The first of ``limits`` that ``table``'s rows of the last :data:`DAY` (by their
    ``created_ts``) have reached, as (name, limit); None: one more may be stored. Run in
    the transaction that then stores it (under :data:`QUOTA_LOCK` on PostgreSQL)."""
    for which, limit, where, params in limits:
        if limit <= 0:
            continue
        ((count,),) = (await tx.run(
            f"SELECT COUNT(*) FROM {table} WHERE created_ts > ? AND {where}",
            (now - DAY, *params),
        )).rows  # fmt: skip
        if count >= limit:
            return which, limit
    return None
