"""The cluster's admin endpoints (sipgw/app/admin/cluster.py) on a stand-in index: a new
call on a full gateway goes to the one with room, whose answer comes back named; one that
is down is a 502 at once, and leaves nothing to the collector. Two real gateways on
PostgreSQL: tests/interop/test_postgres_cluster.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sipgw.app.admin.cluster import FORWARDED_BY, ClusterEndpoints
from sipgw.app.cluster.members import GatewayBeat
from sipgw.app.evaluation.ports import free_port
from tests.refcycles import garbage_of_ours

if TYPE_CHECKING:
    from sipgw.app.cluster.service import ClusterMember


class StandInIndex:
    """This gateway, ``gw-b``, and one other, ``gw-a`` at ``admin_url``, with room."""

    name = "gw-b"

    def __init__(self, admin_url: str) -> None:
        self.beat = GatewayBeat("gw-a", admin_url, 0, 10, True, 0.0)

    async def gateways(self, now: float) -> list[GatewayBeat]:
        return [self.beat]

    async def with_room(self, now: float) -> GatewayBeat | None:
        return self.beat


@dataclass
class StandInMember:
    index: StandInIndex


def endpoints(admin_url: str) -> ClusterEndpoints:
    """The endpoints of a full gateway (1 call of 1) whose peer ``gw-a`` is at ``admin_url``."""
    member = cast("ClusterMember", StandInMember(StandInIndex(admin_url)))
    return ClusterEndpoints(member, lambda: (1, 1, True), timeout=2.0)


@asynccontextmanager
async def placing(cluster: ClusterEndpoints) -> AsyncIterator[TestClient[Any, Any]]:
    """``POST /api/calls`` as the admin API places a call: forwarded when full."""

    async def place(request: web.Request) -> web.Response:
        answer = await cluster.forward(request, await request.json())
        return answer if answer is not None else web.json_response({"placed": "here"})

    app = web.Application()
    app.router.add_post("/api/calls", place)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_full_gateway_forwards_to_the_one_with_room() -> None:
    got: list[tuple[str, dict[str, Any]]] = []

    async def other(request: web.Request) -> web.Response:
        got.append((request.headers.get(FORWARDED_BY, ""), await request.json()))
        return web.json_response({"call_id": "c1"}, status=201)

    app = web.Application()
    app.router.add_post("/api/calls", other)
    async with TestServer(app) as gw_a, placing(endpoints(str(gw_a.make_url("")))) as http:
        answer = await http.post("/api/calls", json={"to": "+15550100"})
        assert answer.status == 201 and await answer.json() == {"call_id": "c1", "gateway": "gw-a"}
    assert got == [("gw-b", {"to": "+15550100"})]


async def test_a_gateway_down_is_a_502_and_leaves_nothing_to_the_collector() -> None:
    """Each call forwarded to a gateway that refuses the connection is answered 502 at
    once, and its error goes with its frames: aiohttp's connector keeps the refused
    connection's error in a local of its own frame, so its traceback held every frame down
    to the forward's, with the request (some 130 objects a call), in a cycle for the
    collector."""
    async with placing(endpoints(f"http://127.0.0.1:{free_port()}")) as http:
        with garbage_of_ours() as leftovers:
            for _ in range(3):
                answer = await http.post("/api/calls", json={"to": "+15550100"})
                assert answer.status == 502
                assert "forwarding to gw-a failed" in (await answer.json())["error"]
    assert leftovers == []
