"""Campaigns through the admin API against in-process peers: a CSV in, progress, the
do-not-call list, retries, ``/metrics``, the results CSV; errors naming row and field."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import make_mocked_request

from sipgw.app.admin.campaigns import CampaignEndpoints
from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.campaigns.service import Campaigns, start_campaigns
from sipgw.app.campaigns.settings import CampaignSection
from sipgw.app.evaluation.ports import free_port
from sipgw.app.gateway import Gateway
from tests.sipgw.app.refusing_peer import refusing_peer
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.metrics import sample_value

TOKEN = "campaign-admin-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@asynccontextmanager
async def admin(
    gateway: Gateway, campaigns: Campaigns
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    server = AdminServer(gateway, AdminSettings(port=free_port(), token=TOKEN), campaigns=campaigns)
    await server.start()
    session = aiohttp.ClientSession(headers=AUTH, timeout=aiohttp.ClientTimeout(total=10))
    try:
        yield server.url, session
    finally:
        await session.close()
        await campaigns.stop(grace=1.0)
        await server.stop()


async def until(condition: Any, within: float = 40.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_campaign_from_csv_runs_to_its_results(tmp_path: Path) -> None:
    async with (
        running_gateway() as (callee, _),
        refusing_peer(486, "Busy Here") as busy,
    ):
        people = f"127.0.0.1:{callee.ua.config.sip_port}"
        allow = f"sip:*@{people},sip:*@127.0.0.1:{busy.port}"
        async with running_gateway(env={"SIPGW_DIAL_ALLOW": allow}, max_call_seconds=1.0) as (
            gateway,
            _,
        ):
            campaigns = start_campaigns(
                CampaignSection(campaign_db=str(tmp_path / "campaigns.sqlite3")), gateway
            )
            async with admin(gateway, campaigns) as (url, http):
                # the do-not-call list first (the store is made with it)
                async with http.post(
                    f"{url}/api/dnc", json={"numbers": [f"sip:dnc@{people}"]}
                ) as r:
                    assert r.status == 200 and (await r.json()) == {"added": 1}
                text = (
                    "number,first_name,time_zone\r\n"
                    f"sip:ada@{people},Ada,Europe/London\r\n"
                    f"sip:bob@127.0.0.1:{busy.port},Bob,\r\n"
                    f"sip:dnc@{people},Dee,America/New_York\r\n"
                    f"sip:cy@{people},=HYPERLINK(1),Asia/Tokyo\r\n"
                )
                body = {
                    "name": "reminders", "csv": text, "hours": "00:00-24:00",
                    "per_second": 10, "concurrency": 2, "max_attempts": 2,
                    "retry": {"busy": 0.3, "no_answer": 0.3},
                }  # fmt: skip
                async with http.post(f"{url}/api/campaigns", json=body) as r:
                    assert r.status == 201, await r.text()
                    created = await r.json()
                campaign_id = created["id"]
                assert created["settings"]["retry"]["busy"] == 0.3

                async def finished() -> bool:
                    async with http.get(f"{url}/api/campaigns/{campaign_id}") as r:
                        shown = await r.json()
                    return bool(shown["state"] == "finished")

                await until(finished)
                async with http.get(f"{url}/api/campaigns/{campaign_id}") as r:
                    progress = (await r.json())["progress"]
                assert progress == {
                    "total": 4, "dialled": 4, "person": 2, "machine": 0, "completed": 2,
                    "failed": 1, "dnc": 1, "cancelled": 0, "dialing": 0, "left": 0,
                }, progress  # fmt: skip
                assert len(busy.invites) == 2  # busy, retried once (max_attempts 2)
                async with http.get(f"{url}/api/campaigns/{campaign_id}/results.csv") as r:
                    assert r.status == 200 and r.content_type == "text/csv"
                    results = list(csv.DictReader(io.StringIO(await r.text())))
                by_name = {row["first_name"]: row for row in results}
                assert by_name["Ada"]["state"] == "done" and by_name["Ada"]["outcome"] == "person"
                assert by_name["Ada"]["time_zone"] == "Europe/London"
                assert by_name["Bob"]["time_zone"] == "UTC"  # the campaign's
                assert (by_name["Bob"]["state"], by_name["Bob"]["attempts"]) == ("failed", "2")
                assert by_name["Bob"]["detail"].startswith("busy (SIP 486 Busy Here)")
                assert (by_name["Dee"]["state"], by_name["Dee"]["attempts"]) == ("dnc", "0")
                assert "'=HYPERLINK(1)" in {row["first_name"] for row in results}  # not a formula
                which = str(campaign_id)
                metrics = b""

                async def scraped() -> bool:  # the snapshot: refreshed at the loop's next pass
                    nonlocal metrics
                    async with http.get(f"{url}/metrics") as r:
                        metrics = await r.read()
                    person = sample_value(metrics, "sipgw_campaign_contacts", campaign=which,
                                          state="person")  # fmt: skip
                    return person == 2

                await until(scraped)
                assert sample_value(metrics, "sipgw_campaign_dialled_total", campaign=which) == 4
                async with http.post(f"{url}/api/campaigns/{campaign_id}/resume") as r:
                    assert r.status == 409, await r.text()


BAD: list[tuple[dict[str, Any], str]] = [
    ({"csv": "number\r\n+15550100\r\nnot a number\r\n"}, "row 2, number: 'not a number' is not"),
    ({"csv": "number\r\n+15550100\r\n+15550100\r\n"}, "row 2, number: +15550100 is also row 1"),
    ({"csv": "phone,1st\r\n+15550100,x\r\n"}, "row 1, variables: variable name '1st'"),
    ({"csv": "number,tz\r\n+15550100,Mars/Olympus\r\n"}, "row 1, time_zone: 'Mars/Olympus'"),
    ({"csv": "name\r\nAda\r\n"}, "row 0, header: no column named number"),
    ({"csv": "number,note\r\n+15550100,a,b\r\n"}, "row 1, csv: 3 fields, the header has 2"),
    ({"csv": "number,note\r\n+15550100," + "x" * 1001 + "\r\n"},
     "row 1, note: longer than 1000 characters"),
    ({"csv": "number\r\n+4420790000\r\n"},
     "row 1, number: +4420790000 is not in the dial allow-list"),
    ({"contacts": [{"number": "+15550100", "variables": {"a": 1}}]},
     "row 1, variables: variable a: the value must be a string"),
    ({"contacts": [{"number": "+15550100", "colour": "red"}]}, "row 1, colour: unknown field"),
    ({"csv": "number\r\n+15550100\r\n", "per_second": 50}, '"per_second" must be a number'),
    ({"csv": "number\r\n+15550100\r\n", "hours": "9-5"}, '"hours" must be HH:MM-HH:MM'),
    ({"csv": "number\r\n+15550100\r\n", "retry": {"busy": -1}}, '"retry": busy must be'),
    ({"csv": "number\r\n+15550100\r\n", "retry": {"angry": 1}}, '"retry": \'angry\' is not one'),
    ({"csv": "number\r\n+15550100\r\n", "agent": "nobody"}, '"agent": no agent \'nobody\''),
    ({"csv": "number\r\n+15550100\r\n", "amd": "guess"}, '"amd" must be one of'),
    ({}, 'give the contacts as "csv"'),
]  # fmt: skip


async def test_a_bad_campaign_is_refused_naming_the_row_and_field(tmp_path: Path) -> None:
    async with running_gateway(env={"SIPGW_DIAL_ALLOW": "+1555*"}) as (gateway, _):
        campaigns = start_campaigns(
            CampaignSection(campaign_db=str(tmp_path / "campaigns.sqlite3")), gateway
        )
        async with admin(gateway, campaigns) as (url, http):
            for fields, error in BAD:
                async with http.post(f"{url}/api/campaigns", json={"name": "x", **fields}) as r:
                    assert r.status == 400, fields
                    assert error in (await r.json())["error"], fields
            async with http.get(f"{url}/api/campaigns") as r:
                assert (await r.json()) == {"campaigns": []}
        assert not (tmp_path / "campaigns.sqlite3").exists()  # nothing stored


class SignedIn:
    def __init__(self, signed: bool) -> None:
        self.signed = signed

    def signed_in(self, request: object) -> bool:
        return self.signed


def test_the_pages_changes_pass_on_the_cookie_from_this_site_only() -> None:
    def allowed(method: str, path: str, headers: dict[str, str], signed: bool = True) -> bool:
        endpoints = CampaignEndpoints(None, SignedIn(signed))  # type: ignore[arg-type]
        request = make_mocked_request(method, path, headers={"Host": "gw:8080", **headers})
        return endpoints.allows(request)

    same = {"Sec-Fetch-Site": "same-origin"}
    assert allowed("POST", "/api/campaigns", same)
    assert allowed("POST", "/api/campaigns/3/cancel", same)
    assert allowed("POST", "/api/campaigns/3/pause", {"Origin": "http://gw:8080"})
    assert not allowed("POST", "/api/campaigns/3/pause", same, signed=False)
    assert not allowed("POST", "/api/campaigns/3/pause", {"Sec-Fetch-Site": "cross-site"})
    assert not allowed("POST", "/api/campaigns/3/pause", {"Origin": "http://evil.example"})
    assert not allowed("POST", "/api/dnc", same)  # the list: the token only
    assert not allowed("GET", "/api/campaigns/3/results.csv", same)  # GETs: the dashboard's


async def test_the_page_and_no_campaigns_here(tmp_path: Path) -> None:
    async with running_gateway() as (gateway, _):
        server = AdminServer(gateway, AdminSettings(port=free_port(), token=TOKEN))
        await server.start()
        try:
            async with aiohttp.ClientSession(headers=AUTH) as http:
                async with http.get(f"{server.url}/dashboard/campaigns") as r:
                    assert r.status == 200 and "campaigns.js" in await r.text()
                async with http.get(f"{server.url}/dashboard/static/campaigns.js") as r:
                    assert r.status == 200 and "innerHTML" not in await r.text()
                async with http.get(f"{server.url}/api/campaigns") as r:
                    assert r.status == 404  # this server was given no campaigns
        finally:
            await server.stop()
