"""The callback store (sipgw.agent.tools.callback_store): one row per callback, claimed by one
scheduler at a time, and the numbers a callback may go to. The store's tests run on both
engines (``backing``: a SQLite file, a PostgreSQL database); an old SQLite file's are
SQLite's only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sipgw.agent.tools.callback_store import (
    CallbackQuotaExceeded,
    CallbackRow,
    CallbackState,
    CallbackStore,
    dialable_number,
    number_allowed,
)
from sipgw.agent.tools.quota import DAY, CallbackQuota
from tests.toolkit.engines import Backing

T0 = 1_750_000_000.0

FIRST_VERSION = {
    "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "created_at": "TEXT NOT NULL",
    "call_id": "TEXT NOT NULL",
    "phone": "TEXT NOT NULL",
    "requested_time": "TEXT NOT NULL",
    "reason": "TEXT NOT NULL",
    "status": "TEXT NOT NULL DEFAULT 'pending'",
}
"""The table as the first version wrote it, before callbacks were dialed."""


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("+1 (555) 123-4567", "+15551234567"),
        ("0044 20 7946 0000", "+442079460000"),
        ("1001", "1001"),
    ],
)
def test_dialable_numbers(text, number):
    assert dialable_number(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "sip:premium@evil.example",  # a SIP URI the caller dictates
        "tel:+4930123456",  # a URI, even of a number: the gateway reads addresses
        "sip:+15551234567@trunk.example;user=phone",
        "call me at home",
        "12",  # shorter than any number
        "+1234567890123456",  # 16 digits: longer than E.164 allows
        "++15551234567",
        "+1 555 12a 4567",
        "",
    ],
)
def test_what_is_not_a_phone_number(text: str) -> None:
    with pytest.raises(ValueError, match="is not a phone number"):
        dialable_number(text)


@pytest.mark.parametrize(
    ("number", "prefixes", "allowed"),
    [
        ("+15551234567", ("+1", "+44"), True),
        ("+445551234", ("+1", "+44"), True),
        ("+4955512345", ("+1", "+44"), False),
        ("+15551234567", (), True),  # no rule: every number (callback_allowed adds the gate)
        ("+15551234567", ("",), True),
    ],
)
def test_the_prefix_rule(number: str, prefixes: tuple[str, ...], allowed: bool) -> None:
    assert number_allowed(number, prefixes) is allowed


# --------------------------------------------------------------------------- the store


async def store_with(backing: Backing, *due: float) -> tuple[CallbackStore, list[int]]:
    store = CallbackStore(backing.engine())
    ids = [
        await store.add(
            call_id=f"c{i}",
            phone=f"+1555000{i:04d}",
            requested_time="soon",
            reason="your refund",
            notes="",
            due_at=at,
            now=T0,
        )  # fmt: skip
        for i, at in enumerate(due)
    ]
    return store, ids


async def test_a_new_callback_is_pending_until_its_time(backing: Backing) -> None:
    store, (row_id,) = await store_with(backing, T0 + 600)
    row = await store.get(row_id)
    assert row == CallbackRow(
        id=row_id, call_id="c0", phone="+15550000000", reason="your refund", notes="",
        requested_time="soon", created_at="2025-06-15T15:06:40+00:00", due_at=T0 + 600,
        state=CallbackState.PENDING, attempts=0, next_attempt_at=T0 + 600, last_outcome="",
        claimed_by=None, lease_until=None,
    )  # fmt: skip
    assert await store.next_due_at() == T0 + 600
    assert await store.claim_due(T0 + 599, "a", 30, 10) == []
    (claimed,) = await store.claim_due(T0 + 600, "a", 30, 10)
    assert (claimed.id, claimed.state, claimed.attempts) == (row_id, CallbackState.DIALING, 1)
    assert await store.get(row_id + 1) is None


async def test_due_rows_are_claimed_earliest_first(backing: Backing) -> None:
    store, ids = await store_with(backing, T0 + 30, T0 + 10, T0 + 20, T0 + 99)
    assert [row.id for row in await store.rows()] == ids  # every row, oldest first
    assert await store.next_due_at() == T0 + 10
    first = await store.claim_due(T0 + 50, "a", 30, 2)
    assert [row.id for row in first] == sorted([ids[1], ids[2]])  # the two due first
    assert [row.id for row in await store.claim_due(T0 + 50, "a", 30, 10)] == [ids[0]]
    assert await store.next_due_at() == T0 + 99


async def test_only_one_scheduler_claims_a_row_and_only_once_due(backing: Backing) -> None:
    store, (row_id,) = await store_with(backing, T0 + 60)
    other = CallbackStore(backing.engine())  # another process
    assert await store.claim_due(T0, "early", 30, 10) == []  # not due yet
    (row,) = await store.claim_due(T0 + 60, "a", 30, 10)
    assert await other.claim_due(T0 + 61, "b", 30, 10) == []  # a has it
    assert row == await store.get(row_id)
    assert row.state is CallbackState.DIALING and row.attempts == 1
    assert (row.claimed_by, row.lease_until) == ("a", T0 + 90)
    assert await other.dialing() == [row]
    assert await store.next_due_at() is None  # no pending row left


async def test_only_the_holder_renews_and_releases(backing: Backing) -> None:
    store, (row_id,) = await store_with(backing, T0)
    await store.claim_due(T0, "a", 30, 10)
    await store.renew([row_id], "b", T0 + 999)  # not b's
    await store.renew([row_id], "a", T0 + 60)
    assert (await store.get(row_id)).lease_until == T0 + 60
    assert not await store.release(row_id, CallbackState.DONE, "answered", T0 + 5, owner="b")
    retry = T0 + 300
    assert await store.release(row_id, CallbackState.PENDING, "no answer", T0 + 5, owner="a",
                         next_attempt_at=retry)  # fmt: skip
    row = await store.get(row_id)
    assert row is not None and row.state is CallbackState.PENDING and row.attempts == 1
    assert (row.last_outcome, row.next_attempt_at, row.claimed_by) == ("no answer", retry, None)
    assert await store.claim_due(retry - 1, "a", 30, 10) == []
    assert [r.id for r in await store.claim_due(retry, "a", 30, 10)] == [row_id]


async def test_a_row_that_was_not_dialed_gives_its_attempt_back(backing: Backing) -> None:
    store, (row_id,) = await store_with(backing, T0)
    await store.claim_due(T0, "a", 30, 10)
    assert await store.release(row_id, CallbackState.FAILED, "bad number", T0, dialed=False)
    row = await store.get(row_id)
    assert row is not None and row.state is CallbackState.FAILED and row.attempts == 0


async def test_a_row_whose_holder_is_gone_is_requeued_once(backing: Backing) -> None:
    store, (row_id,) = await store_with(backing, T0)
    await store.claim_due(T0, "crashed", 30, 10)
    assert not await store.requeue_stale(row_id, "someone else", T0 + 40)
    assert not await store.requeue_stale(row_id, None, T0 + 40)
    assert await store.requeue_stale(row_id, "crashed", T0 + 40)
    assert not await store.requeue_stale(row_id, "crashed", T0 + 40)  # already pending again
    row = await store.get(row_id)
    assert row is not None and row.state is CallbackState.PENDING
    assert row.last_outcome == "interrupted: the dialing process stopped"
    assert row.next_attempt_at == T0 + 40 and row.attempts == 1


async def test_an_old_file_keeps_its_rows_and_gains_the_new_columns(tmp_path: Path) -> None:
    """A row stored before callbacks were dialed has no due time: due at once, as a bad row
    the scheduler reports instead of dialing; an unknown status is never dialed."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        columns = ", ".join(f"{name} {kind}" for name, kind in FIRST_VERSION.items())
        db.execute(f"CREATE TABLE callbacks ({columns})")
        db.execute("INSERT INTO callbacks VALUES (1, '2024-01-01', 'c', '+1555', 'tomorrow', 'r',"
                   " 'pending'), (2, '2024-01-01', 'c', '+1555', 'x', 'r', 'lost')")  # fmt: skip
    store = CallbackStore(path)
    old, odd = await store.rows()
    assert (old.due_at, old.next_attempt_at, old.notes, old.attempts) == (None, None, "", 0)
    assert old.state is CallbackState.PENDING and odd.state is CallbackState.FAILED
    assert [row.id for row in await store.claim_due(T0, "a", 30, 10)] == [1]  # due at once
    assert await store.next_due_at() is None
    with sqlite3.connect(path) as db:
        now_present = {row[1] for row in db.execute("PRAGMA table_info(callbacks)")}
    assert {"due_at", "attempts", "claimed_by", "lease_until", "notes"} <= now_present


async def test_quotas_count_the_last_day_in_the_insert_transaction(backing: Backing) -> None:
    first = CallbackStore(backing.engine())
    second = CallbackStore(backing.engine())  # two processes on one file or database
    quota = CallbackQuota(per_caller=0, per_number=2, per_day=0)

    async def add(store: CallbackStore, now: float) -> int:
        return await store.add(
            call_id="c", phone="+15550001111", requested_time="now", reason="", notes="",
            due_at=now, now=now, requested_by="+1555", quota=quota,
        )  # fmt: skip

    await add(first, T0)
    await add(second, T0 + 10)
    with pytest.raises(CallbackQuotaExceeded, match="per_number quota of 2") as info:
        await add(first, T0 + 20)
    assert (info.value.which, info.value.limit) == ("per_number", 2)
    assert len(await first.rows()) == 2  # nothing stored by the refused one
    await add(second, T0 + DAY + 1)  # the first one is a day old: it no longer counts
    assert len(await first.rows()) == 3


async def test_rows_without_a_creation_time_do_not_count(tmp_path: Path) -> None:
    """Rows of an older table (before quotas) have no created_ts: never counted."""
    path = tmp_path / "cb.sqlite3"
    store = CallbackStore(path)
    await store.add(call_id="c", phone="+1", requested_time="now", reason="", notes="", due_at=T0,
              now=T0)  # fmt: skip
    with sqlite3.connect(path) as db:
        db.execute("UPDATE callbacks SET created_ts = NULL")
    quota = CallbackQuota(per_caller=1, per_number=1, per_day=1)
    await store.add(call_id="c", phone="+1", requested_time="now", reason="", notes="", due_at=T0,
              now=T0, quota=quota)  # fmt: skip
    assert len(await store.rows()) == 2
