"""The REST subset's calls in a cluster, on a SQLite table and a stand-in cluster: statuses
written in order, a fetch answered from the table, an update sent to the carrying gateway
(its answer passed back), never forwarded twice, and refused when that gateway is gone or
silent. Two real gateways on PostgreSQL: tests/interop/test_postgres_cluster.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sipgw.app.evaluation.ports import free_port
from sipgw.app.twilio.api.registry import CallRegistry
from sipgw.app.twilio.api.resource import CallFacts, TwilioError, call_resource
from sipgw.app.twilio.api.shared import SharedCalls
from tests.refcycles import garbage_of_ours
from tests.sipgw.app.admin.test_cluster import endpoints

ACCOUNT = "AC" + "a" * 32
SID = "CA" + "1" * 32
T0 = 1_800_000_000.0


@dataclass
class StandIn:
    """The cluster: ``carrier`` live (answers 200 with what it got) or not (None)."""

    carrier: str | None = "gw-a"
    silent: bool = False
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    name: str = "gw-b"

    def forwarded(self, request: web.Request) -> bool:
        return "X-Forwarded-Here" in request.headers

    async def forward_to(
        self, request: web.Request, gateway: str, body: bytes
    ) -> web.Response | None:
        if self.silent:
            raise aiohttp.ClientConnectionError("refused")
        if gateway != self.carrier:
            return None
        self.sent.append((gateway, body))
        return web.json_response({"by": gateway, "status": "completed"}, status=200)


def facts(status: str, at: float) -> CallFacts:
    return CallFacts(SID, ACCOUNT, "+15550001", "+15550002", T0, status, updated=at)


@asynccontextmanager
async def serving(shared: SharedCalls) -> AsyncIterator[TestClient[Any, Any]]:
    async def guarded(request: web.Request) -> web.Response:
        try:
            if request.method == "GET":
                return web.json_response((await shared.elsewhere(request))[1])
            return await shared.forward(request)
        except TwilioError as exc:
            return web.json_response(exc.body(), status=exc.status)

    app = web.Application()
    app.router.add_route("*", "/Calls/{sid}.json", guarded)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_statuses_are_written_in_order_and_answered_from_the_table(
    tmp_path: Path,
) -> None:
    registry = CallRegistry(tmp_path / "calls.sqlite3")
    carrier = SharedCalls(registry, StandIn(name="gw-a"), ACCOUNT, 1000)
    elsewhere = SharedCalls(CallRegistry(tmp_path / "calls.sqlite3"), StandIn(), ACCOUNT, 1000)
    carrier.start()
    try:
        await carrier.shared(facts("queued", T0))
        for status, at in (("ringing", T0 + 1), ("in-progress", T0 + 2)):
            carrier.share(facts(status, at))
        await carrier.shared(facts("completed", T0 + 5))
    finally:
        await carrier.stop()
    async with serving(elsewhere) as http:
        answer = await http.get(f"/Calls/{SID}.json")
        got = await answer.json()
        assert answer.status == 200 and got["status"] == "completed" and got["sid"] == SID
        assert got["duration"] is None and got["end_time"] is None  # as written: no answer
        missing = await http.get(f"/Calls/CA{'9' * 32}.json")
        assert missing.status == 404 and (await missing.json())["code"] == 20404
    row = await registry.get(SID, ACCOUNT)
    assert row is not None and row.gateway == "gw-a"


async def test_an_update_goes_to_the_carrying_gateway_once(tmp_path: Path) -> None:
    registry = CallRegistry(tmp_path / "calls.sqlite3")
    await registry.put("gw-a", call_resource(facts("in-progress", T0)), T0)
    cluster = StandIn()
    async with serving(SharedCalls(registry, cluster, ACCOUNT, 1000)) as http:
        answer = await http.post(f"/Calls/{SID}.json", data={"Status": "completed"})
        assert answer.status == 200 and await answer.json() == {"by": "gw-a",
                                                                "status": "completed"}  # fmt: skip
        assert cluster.sent == [("gw-a", b"Status=completed")]
        again = await http.post(f"/Calls/{SID}.json", data={"Status": "completed"},
                                headers={"X-Forwarded-Here": "gw-c"})  # fmt: skip
        assert again.status == 404 and len(cluster.sent) == 1
        large = await http.post(f"/Calls/{SID}.json", data={"Twiml": "x" * 2000})
        assert large.status == 413 and len(cluster.sent) == 1
        unknown = await http.post(f"/Calls/CA{'9' * 32}.json", data={"Status": "completed"})
        assert unknown.status == 404
        cluster.name = "gw-a"  # the carrier itself, the call no longer among its recent ones
        own = await http.post(f"/Calls/{SID}.json", data={"Status": "completed"})
        assert own.status == 400 and len(cluster.sent) == 1
        cluster.name = "gw-b"
        cluster.carrier = None  # gw-a left the cluster
        gone = await http.post(f"/Calls/{SID}.json", data={"Status": "completed"})
        assert gone.status == 400 and (await gone.json())["code"] == 21220
        cluster.silent = True
        silent = await http.post(f"/Calls/{SID}.json", data={"Status": "completed"})
        assert silent.status == 502 and "gw-a" in (await silent.json())["message"]


async def test_a_carrying_gateway_down_leaves_nothing_to_the_collector(tmp_path: Path) -> None:
    """An update of a call whose gateway refuses the connection is a 502 at once, through
    the real forwarding (sipgw/app/admin/cluster.py), and its error goes with its frames:
    aiohttp's connector keeps the refused connection's error in a local of its own frame,
    so its traceback held every frame down to the forward's, with the request, in a cycle
    for the collector."""
    registry = CallRegistry(tmp_path / "calls.sqlite3")
    await registry.put("gw-a", call_resource(facts("in-progress", T0)), T0)
    cluster = endpoints(f"http://127.0.0.1:{free_port()}")
    async with serving(SharedCalls(registry, cluster, ACCOUNT, 1000)) as http:
        with garbage_of_ours() as leftovers:
            for _ in range(3):
                answer = await http.post(f"/Calls/{SID}.json", data={"Status": "completed"})
                assert answer.status == 502
                assert "Gateway gw-a carrying this call" in (await answer.json())["message"]
    assert leftovers == []
