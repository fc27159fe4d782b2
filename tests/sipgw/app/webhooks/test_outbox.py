"""The webhook outbox (sipgw/app/webhooks/outbox.py): in order per call, claimed, on both engines
(``backing``: a SQLite file, a PostgreSQL database)."""

from __future__ import annotations

from pathlib import Path

from sipgw.app.claimers import claim_owner
from sipgw.app.webhooks.outbox import NewEvent, Outbox
from tests.sipgw.app.test_claimers import gone_owner
from tests.toolkit.engines import Backing


def event(n: int, call: str = "c1", url: str = "http://crm/hook") -> NewEvent:
    return NewEvent(f"msg_{n}", url, "", call, "call.answered", f'{{"n":{n}}}'.encode())


async def test_only_the_oldest_event_of_each_call_and_url_is_due(backing: Backing) -> None:
    box = Outbox(backing.engine(), "me")
    await box.add(
        [event(1), event(2), event(3, "c2"), event(4, url="http://other/hook")], now=100.0
    )
    claimed = await box.claim_due(100.0, lease=60, limit=10)
    assert [e.event_id for e in claimed] == ["msg_1", "msg_3", "msg_4"]
    assert await box.claim_due(100.0, lease=60, limit=10) == claimed  # ours: claimed again
    assert (
        await box.claim_due(100.0, lease=60, limit=10, busy={("http://crm/hook", "c1")})
        == claimed[1:]
    )
    await box.delivered(claimed[0].id)
    after = await box.claim_due(101.0, lease=60, limit=10)
    assert [e.event_id for e in after] == ["msg_2", "msg_3", "msg_4"]  # c1's next, in order
    assert await box.pending() == 3


async def test_a_failed_event_waits_and_holds_back_its_calls_later_ones(backing: Backing) -> None:
    box = Outbox(backing.engine(), "me")
    await box.add([event(1), event(2)], now=100.0)
    (first,) = await box.claim_due(100.0, lease=60, limit=10)
    await box.failed(first.id, next_at=105.0, error="HTTP 503")
    assert await box.claim_due(104.0, lease=60, limit=10) == []  # msg_2 waits behind msg_1
    assert await box.next_due(104.0) == 105.0
    (again,) = await box.claim_due(105.0, lease=60, limit=10)
    assert again.event_id == "msg_1" and again.attempts == 1


async def test_a_claim_keeps_other_processes_off_until_its_lease_ends(backing: Backing) -> None:
    mine, theirs = Outbox(backing.engine(), "worker-1"), Outbox(backing.engine(), "worker-2")
    await mine.add([event(1)], now=100.0)
    assert len(await mine.claim_due(100.0, lease=60, limit=10)) == 1
    assert await theirs.claim_due(120.0, lease=60, limit=10) == []  # claimed by worker-1
    assert await theirs.next_due(120.0) == 160.0  # when worker-1's claim ends
    assert len(await theirs.claim_due(161.0, lease=60, limit=10)) == 1  # worker-1 died: free again
    await theirs.release([1])
    assert len(await mine.claim_due(161.0, lease=60, limit=10)) == 1


async def test_a_claim_of_a_gone_process_of_this_host_is_taken_over_at_once(
    backing: Backing,
) -> None:
    """A gateway restarted after a crash delivers what the dead one had claimed (and the
    same call's events behind it) without waiting out the lease."""
    dead = Outbox(backing.engine(), gone_owner())
    await dead.add([event(1), event(2)], now=100.0)
    assert len(await dead.claim_due(100.0, lease=60, limit=10)) == 1  # then it was killed
    restarted = Outbox(backing.engine(), claim_owner())
    assert await restarted.next_due(101.0) == 100.0  # due now, not at 160
    (taken,) = await restarted.claim_due(101.0, lease=60, limit=10)
    assert taken.event_id == "msg_1"
    await restarted.delivered(taken.id)
    (after,) = await restarted.claim_due(101.0, lease=60, limit=10)
    assert after.event_id == "msg_2"
    # a live claimer's lease still holds (this process, under another claim name)
    other = Outbox(backing.engine(), claim_owner())
    assert await other.claim_due(102.0, lease=60, limit=10) == []


async def test_the_outbox_is_bounded_and_outlives_its_process(backing: Backing) -> None:
    box = Outbox(backing.engine(), "me", max_pending=3)
    assert await box.add([event(n) for n in range(5)], now=1.0) == 2  # two refused
    assert await box.pending() == 3
    reopened = Outbox(backing.engine(), "after-restart", max_pending=3)
    assert [e.event_id for e in await reopened.claim_due(2.0, 60, 10)] == ["msg_0"]
    assert await reopened.next_due(2.0) == 62.0
    await reopened.delivered(1)
    assert await reopened.next_due(2.0) == 1.0  # msg_1, due since it was queued


async def test_a_sqlite_outbox_makes_its_directory_and_an_empty_one_is_empty(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "outbox.sqlite3"
    assert await Outbox(path, "me").add([event(1)], now=1.0) == 0 and path.exists()
    empty = Outbox(tmp_path / "empty.sqlite3", "me")
    assert await empty.next_due(0.0) is None and await empty.pending() == 0


async def test_a_stopping_process_gives_back_all_its_claims(backing: Backing) -> None:
    mine, theirs = Outbox(backing.engine(), "worker-1"), Outbox(backing.engine(), "worker-2")
    await mine.add([event(1), event(2, "c2")], now=100.0)
    await theirs.add([event(3, "c3")], now=100.0)
    assert len(await theirs.claim_due(100.0, lease=60, limit=1)) == 1  # c1's head, worker-2's
    assert len(await mine.claim_due(100.0, lease=60, limit=10)) == 2  # c2 and c3
    await mine.release()  # every claim of worker-1, none of worker-2's
    assert [e.event_id for e in await theirs.claim_due(101.0, lease=60, limit=10)] == [
        "msg_1", "msg_2", "msg_3"
    ]  # fmt: skip
