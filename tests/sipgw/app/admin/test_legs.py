"""The admin server's part for the other legs (sipgw/app/admin/legs.py): which routes exist,
which requests Twilio's signature opens, and the leg calls ended when the server stops."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from sipgw.app.admin.dashboard import Dashboard
from sipgw.app.admin.legs import LegEndpoints
from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.calls.callfeed import CallFeed
from sipgw.app.evaluation.ports import free_port
from sipgw.app.legs.calls import party
from sipgw.app.legs.settings import LegsSettings
from tests.sipgw.app.legs.doubles import FakeMedia
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)

TWILIO = LegsSettings(twilio_auth_token="token", public_url="https://gw.example.test")


def routes(endpoints: LegEndpoints) -> set[str]:
    app = web.Application()
    endpoints.add_routes(app)
    return {
        f"{r.method} {r.resource.canonical}"
        for r in app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (LegsSettings(), {"GET /dashboard/phone", "GET /api/phone/config",
                          "POST /api/phone/calls", "POST /api/phone/calls/{id}/hangup"}),
        (LegsSettings(browser_calls=False), set()),
        (LegsSettings(browser_calls=False, twilio_auth_token="token",
                      public_url="https://gw.example.test"),
         {"POST /twilio/voice", "GET /twilio/stream"}),
    ],
)  # fmt: skip
async def test_only_the_legs_that_are_on_have_routes(
    settings: LegsSettings, expected: set[str]
) -> None:
    async with running_gateway() as (gateway, _):
        endpoints = LegEndpoints(gateway, settings, Dashboard(CallFeed(), lambda: "t"))
        assert routes(endpoints) == expected


async def test_twilios_signature_opens_twilios_paths_only() -> None:
    async with running_gateway() as (gateway, _):
        on = LegEndpoints(gateway, TWILIO, Dashboard(CallFeed(), lambda: "t"))
        off = LegEndpoints(gateway, LegsSettings(), Dashboard(CallFeed(), lambda: "t"))
        for path, opened in [("/twilio/voice", True), ("/twilio/stream", True),
                             ("/api/calls", False), ("/twilio/voice/x", False)]:  # fmt: skip
            request = make_mocked_request("POST", path)
            assert on.signed_by_twilio(request) is opened, path
            assert not off.signed_by_twilio(request)


async def test_stopping_the_admin_server_ends_the_leg_calls() -> None:
    async with running_gateway() as (gateway, _):
        server = AdminServer(gateway, AdminSettings(port=free_port(), token="t" * 16), TWILIO)
        await server.start()
        media = FakeMedia()
        handle = server.legs.calls.start(
            media, call_id="CA1", caller=party("tel:+15551234567", fallback="x:y"),
            called=party("tel:+15557654321", fallback="x:y"),
        )  # fmt: skip
        await server.stop()
        await asyncio.wait_for(server.legs.calls.finished(handle), 5)
        assert handle.end_reason == "shutdown" and media.closed == 1 and not gateway.handles
