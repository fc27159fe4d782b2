"""The message store (agent/tools/message_store.py): rows and quotas on both engines
(``backing``), a private SQLite file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sipgw.agent.tools.message_store import MessageQuotaExceeded, MessageStore
from sipgw.agent.tools.quota import DAY, CallbackQuota
from tests.toolkit.engines import Backing


async def add(
    store: MessageStore, now: float, who: str = "+15551234567", quota: CallbackQuota | None = None
) -> int:
    return await store.add(
        call_id="call-1@test", for_target="sip:kim@pbx.example", from_number=who,
        caller_name="Bob", reach_at="", message="Call me back.", now=now, quota=quota,
    )  # fmt: skip


async def test_messages_are_kept_in_order(backing: Backing) -> None:
    store = MessageStore(backing.engine())
    assert await store.rows() == []
    assert await add(store, 1_000_000.0) == 1 and await add(store, 1_000_001.0) == 2
    rows = await store.rows()
    assert [(r.id, r.created_at, r.status, r.message) for r in rows] == [
        (1, "1970-01-12T13:46:40+00:00", "new", "Call me back."),
        (2, "1970-01-12T13:46:41+00:00", "new", "Call me back."),
    ]


async def test_a_sqlite_file_of_messages_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "callbacks.sqlite3"
    assert await add(MessageStore(path), 1_000_000.0) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("which", "limits"),
    [("per_caller", {"per_caller": 2, "per_day": 0}), ("per_day", {"per_caller": 0, "per_day": 2})],
)
async def test_a_quota_counts_the_last_24_hours(
    backing: Backing, which: str, limits: dict[str, int]
) -> None:
    quota = CallbackQuota(**limits)
    store = MessageStore(backing.engine())
    now = 5_000_000.0
    await add(store, now - DAY - 10, quota=quota)  # over a day before the last two: not counted
    await add(store, now - 10, quota=quota)
    await add(store, now - 5, quota=quota)
    with pytest.raises(MessageQuotaExceeded) as refused:
        await add(store, now, quota=quota)
    assert refused.value.which == which and len(await store.rows()) == 3
    if which == "per_caller":
        await add(store, now, who="+15550009999", quota=quota)  # someone else may
    else:
        with pytest.raises(MessageQuotaExceeded):
            await add(store, now, who="+15550009999", quota=quota)
