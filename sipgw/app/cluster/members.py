"""The cluster's gateways and calls in the shared database: heartbeats and the calls' index.

Each gateway writes, every ``interval`` seconds, one heartbeat row (``gateways``): its
name, its admin API's URL, its calls in progress, its capacity (``SIPGW_MAX_CALLS``) and
whether it takes new calls (not draining nor overloaded). A gateway whose heartbeat is
older than ``3 * interval`` counts as gone. Each call's start, end and, for a
placed call, its answer (``ringing`` then ``active``) go into ``calls_index`` (gateway, id,
parties, state, times): any gateway's admin API lists the
cluster's calls from there, and the full record stays on the gateway that took the call.
The index keeps :data:`INDEX_KEEP_DAYS` of calls: each gateway deletes older rows (anyone's)
once an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sipgw.app.cluster.database import Database

__all__ = ["INDEX_KEEP_DAYS", "ClusterIndex", "GatewayBeat"]

INDEX_KEEP_DAYS = 30
"""Days a call stays in ``calls_index`` after it started."""


@dataclass(frozen=True, slots=True)
class GatewayBeat:
    """One gateway's last heartbeat."""

    name: str
    admin_url: str
    active: int
    capacity: int | None
    """``SIPGW_MAX_CALLS``; None = no limit."""
    accepting: bool
    heartbeat_at: float

    @property
    def room(self) -> float:
        """Calls it can still take (infinite without a limit, 0 when not accepting)."""
        if not self.accepting:
            return 0.0
        return float("inf") if self.capacity is None else float(self.capacity - self.active)


class ClusterIndex:
    """This gateway's rows in ``gateways`` and ``calls_index``, and everyone's for reading.

    Args:
        db: the shared database.
        name: this gateway's name in the cluster (unique).
        admin_url: where the other gateways reach its admin API.
        interval: seconds between heartbeats.
    """

    def __init__(self, db: Database, name: str, admin_url: str, interval: float = 5.0) -> None:
        self.db = db
        self.name = name
        self.admin_url = admin_url
        self.interval = interval

    async def heartbeat(
        self, active: int, capacity: int | None, accepting: bool, now: float
    ) -> None:
        """Record this gateway's load (one upsert)."""
        await self.db.one(
            "INSERT INTO gateways (name, admin_url, active, capacity, accepting, heartbeat_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET"
            " admin_url = EXCLUDED.admin_url, active = EXCLUDED.active,"
            " capacity = EXCLUDED.capacity, accepting = EXCLUDED.accepting,"
            " heartbeat_at = EXCLUDED.heartbeat_at",
            (self.name, self.admin_url, active, capacity, accepting, now),
        )

    async def prune(self, now: float, keep_days: float = INDEX_KEEP_DAYS) -> int:
        """Delete the calls that started more than ``keep_days`` ago; returns how many."""
        done = await self.db.one(
            "DELETE FROM calls_index WHERE started_at < %s", (now - keep_days * 86400,)
        )
        return done.rowcount

    async def leave(self) -> None:
        """Remove this gateway's heartbeat (a clean stop); its ended calls stay listed."""
        await self.db.one("DELETE FROM gateways WHERE name = %s", (self.name,))

    async def gateways(self, now: float) -> list[GatewayBeat]:
        """The gateways whose heartbeat is recent, by name."""
        found = await self.db.one(
            "SELECT name, admin_url, active, capacity, accepting, heartbeat_at FROM gateways"
            " WHERE heartbeat_at >= %s ORDER BY name",
            (now - 3 * self.interval,),
        )
        return [GatewayBeat(*row) for row in found.rows]

    async def with_room(self, now: float) -> GatewayBeat | None:
        """Another live gateway with the most room, or None when none has any."""
        others = [beat for beat in await self.gateways(now) if beat.name != self.name]
        best = max(others, key=lambda beat: beat.room, default=None)
        return best if best is not None and best.room > 0 else None

    async def call_started(self, call: dict[str, Any]) -> None:
        """Index a call (a call feed's summary: ``id``, ``call_id``, parties, ``started``)."""
        await self.db.one(
            "INSERT INTO calls_index (gateway, id, call_id, direction, caller, called,"
            " state, started_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (gateway, id) DO UPDATE SET state = EXCLUDED.state",
            (self.name, call["id"], call["call_id"], call["direction"], call["caller"],
             call["called"], call["state"], call["started"]),
        )  # fmt: skip

    async def call_answered(self, call: dict[str, Any]) -> None:
        """A placed call indexed while it rang was answered: its ``state`` (``active``)."""
        await self.db.one(
            "UPDATE calls_index SET state = %s WHERE gateway = %s AND id = %s AND ended_at IS NULL",
            (call["state"], self.name, call["id"]),
        )

    async def call_ended(self, call: dict[str, Any]) -> None:
        """Mark an indexed call ended (its ``state``: the outcome, and ``ended``)."""
        await self.db.one(
            "UPDATE calls_index SET state = %s, ended_at = %s WHERE gateway = %s AND id = %s",
            (call["state"], call["ended"], self.name, call["id"]),
        )

    async def calls(
        self, now: float, active_only: bool = True, limit: int = 500
    ) -> list[dict[str, Any]]:
        """The cluster's calls, newest first: those in progress on live gateways (a gone
        gateway's calls ended with it), or with ``active_only`` False the latest too."""
        where = (
            "WHERE c.ended_at IS NULL AND g.heartbeat_at >= %s" if active_only else "WHERE %s = %s"
        )
        params: tuple[object, ...] = (now - 3 * self.interval,) if active_only else (0, 0)
        found = await self.db.one(
            "SELECT c.gateway, c.id, c.call_id, c.direction, c.caller, c.called, c.state,"
            " c.started_at, c.ended_at FROM calls_index c LEFT JOIN gateways g"
            f" ON g.name = c.gateway {where} ORDER BY c.started_at DESC LIMIT %s",
            (*params, limit),
        )
        keys = ("gateway", "id", "call_id", "direction", "caller", "called", "state",
                "started", "ended")  # fmt: skip
        return [dict(zip(keys, row, strict=True)) for row in found.rows]
