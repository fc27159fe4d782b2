"""The campaigns service without HTTP: reading a request, results, the do-not-call numbers,
the snapshot for /metrics, the cells a spreadsheet would run."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sipgw.app.campaigns.model import CampaignLimits, CampaignState, ContactState
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.app.campaigns.scheduler import DialOrder
from sipgw.app.campaigns.service import RESULT_COLUMNS, Campaigns, csv_cell
from sipgw.app.campaigns.store import CampaignStore


async def until(condition: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def service(tmp_path: Path) -> Campaigns:
    async def dial(order: DialOrder) -> Attempt:
        await asyncio.sleep(0.01)
        return Attempt("person", "=answered", "call-1")

    def known(spec: object) -> None:
        if getattr(spec, "line", None) == "nope":
            raise ValueError('"line": no line nope')

    return Campaigns(
        CampaignStore(tmp_path / "c.sqlite3"), CampaignLimits(), dial,
        allowed=lambda target: target.startswith("+1555"), known=known, poll_interval=0.2,
    )  # fmt: skip


async def test_a_campaign_from_request_to_results(tmp_path: Path) -> None:
    campaigns = service(tmp_path)
    campaigns.start()
    assert not campaigns.runner.running  # no store yet: no loop
    spec, contacts = campaigns.read({
        "name": "r", "hours": "00:00-24:00", "per_second": 10,
        "csv": "number,first_name\r\n+15550001,-1+1\r\n+15550002,Bo\r\n",
    })  # fmt: skip
    campaign_id = await campaigns.create(spec, contacts)
    assert campaigns.runner.running
    try:

        async def finished() -> bool:
            return bool((await campaigns.describe(campaign_id))[0]["state"] == "finished")

        await until(finished)
        shown = (await campaigns.describe(campaign_id))[0]
        assert shown["progress"]["person"] == 2, shown
        text = await campaigns.results_csv(campaign_id)
        assert text is not None
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == [*RESULT_COLUMNS, "first_name"]
        assert rows[1][:6] == ["1", "+15550001", "UTC", "done", "1", "person"]
        assert rows[1][6] == "'=answered" and rows[1][-1] == "'-1+1"  # not formulas
        assert await campaigns.results_csv(99) is None

        async def refreshed() -> bool:  # a pass of the loop after the end
            return campaigns.snapshot[0][0].state is CampaignState.FINISHED

        await until(refreshed)
        ((snap_campaign, progress),) = campaigns.snapshot
        assert snap_campaign.state is CampaignState.FINISHED and progress.person == 2
        assert not await campaigns.change(campaign_id, CampaignState.PAUSED)  # finished
    finally:
        await campaigns.stop()


def test_reading_refuses_what_is_wrong(tmp_path: Path) -> None:
    campaigns = service(tmp_path)
    with pytest.raises(ValueError, match='"line": no line nope'):
        campaigns.read({"name": "r", "line": "nope", "csv": "number\r\n+15550001\r\n"})
    with pytest.raises(ValueError, match='give the contacts as "csv"'):
        campaigns.read({"name": "r", "csv": "number\r\n+1555\r\n", "contacts": []})
    with pytest.raises(ValueError, match="row 1, number: \\+4420 is not in the dial allow-list"):
        campaigns.read({"name": "r", "contacts": [{"number": "+4420"}]})
    spec, contacts = campaigns.read({"name": "r", "contacts": [{"number": "+1555 0001"}]})
    assert [c.number for c in contacts] == ["+15550001"] and spec.name == "r"


async def test_the_do_not_call_numbers(tmp_path: Path) -> None:
    campaigns = service(tmp_path)
    assert await campaigns.dnc_list(10) == [] and await campaigns.dnc_remove(["+1"]) == 0
    numbers = campaigns.dnc_numbers(["+1 555 0001", "sip:a@example.com"])
    assert numbers == ["+15550001", "sip:a@example.com"]
    assert await campaigns.dnc_add(numbers) == 2
    assert await campaigns.dnc_list(10) == ["+15550001", "sip:a@example.com"]
    for bad, why in (([], "a list of 1 to"), (["x"], "entry 1:"), ([5], "entry 1:")):
        with pytest.raises(ValueError, match=why):
            campaigns.dnc_numbers(bad)


def test_csv_cell() -> None:
    assert [csv_cell(v) for v in ("=1+1", "+1", "-2", "@SUM", "\tx", "ok", "")] == [
        "'=1+1", "'+1", "'-2", "'@SUM", "'\tx", "ok", "",
    ]  # fmt: skip


def test_contact_states_are_final_or_not() -> None:
    assert ContactState("dnc") is ContactState.DNC
