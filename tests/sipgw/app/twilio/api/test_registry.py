"""The REST subset's shared calls on both engines (``backing``: a SQLite file, a PostgreSQL
database): one gateway writes a call's resource, another reads it; a later status replaces
an earlier one, never the other way round; another account's call is not found; old rows
are pruned."""

from __future__ import annotations

from sipgw.app.twilio.api.registry import KEEP_DAYS, CallRegistry
from sipgw.app.twilio.api.resource import CallFacts, call_resource
from tests.toolkit.engines import Backing

ACCOUNT = "AC" + "a" * 32
SID = "CA" + "1" * 32
T0 = 1_800_000_000.0


def resource(status: str, at: float, sid: str = SID) -> dict[str, object]:
    facts = CallFacts(sid, ACCOUNT, "+15550001", "+15550002", T0, status, updated=at)
    return call_resource(facts)


async def test_another_gateway_reads_the_latest_status(backing: Backing) -> None:
    a, b = CallRegistry(backing.engine()), CallRegistry(backing.engine())
    assert await b.get(SID, ACCOUNT) is None
    assert await a.put("gw-a", resource("queued", T0), T0)
    assert await a.put("gw-a", resource("in-progress", T0 + 2), T0 + 2)
    shared = await b.get(SID, ACCOUNT)
    assert shared is not None
    assert (shared.gateway, shared.status, shared.updated) == ("gw-a", "in-progress", T0 + 2)
    assert shared.resource == resource("in-progress", T0 + 2)
    # an earlier status written late does not replace the later one
    assert not await a.put("gw-a", resource("ringing", T0 + 1), T0 + 1)
    assert (await b.get(SID, ACCOUNT)).status == "in-progress"
    assert await a.put("gw-a", resource("completed", T0 + 9), T0 + 9)
    assert (await b.get(SID, ACCOUNT)).resource["status"] == "completed"
    assert await b.get(SID, "AC" + "b" * 32) is None


async def test_rows_unchanged_for_the_keep_time_are_pruned(backing: Backing) -> None:
    store = CallRegistry(backing.engine())
    other = "CA" + "2" * 32
    await store.put("gw-a", resource("completed", T0), T0)
    await store.put("gw-b", resource("queued", T0 + 86400, other), T0 + 86400)
    assert await store.prune(T0 + KEEP_DAYS * 86400 + 1) == 1
    assert await store.get(SID, ACCOUNT) is None
    assert (await store.get(other, ACCOUNT)) is not None
