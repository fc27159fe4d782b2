"""Placing calls on a line (docs/lines.md): its agent, caller id, variables and headers.

Two in-process gateways: the one under test places calls on a line of its routes file (by
``Gateway.place_call(line=...)`` and by ``POST /api/calls``), the other answers them and
keeps what each INVITE carried.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sipgw.agent.amd.settings import AmdCall, AmdMode, AmdRequest
from sipgw.agent.base import Agent, CallControl
from sipgw.agent.echo.agent import EchoAgent
from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.evaluation.ports import free_port
from sipgw.app.gateway import Gateway
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.metrics import sample_value

pytestmark = pytest.mark.timeout(30)

ROUTES = """\
[lines.reminders]
caller_id = "+15551230000"

[lines.reminders.settings]
SIPGW_ECHO_DELAY_MS = 1000

[lines.reminders.variables]
clinic = "Main St"
first_name = "there"

[lines.reminders.headers]
X-Line = "reminders"

[[routes]]
called = "+15550100"
line = "reminders"
"""


async def test_a_call_on_a_line_takes_its_agent_and_defaults(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    heard: list[CallHandle] = []

    def answering(call: CallControl) -> Agent:
        assert isinstance(call, CallHandle)
        heard.append(call)
        return EchoAgent(call, 0)

    async with (
        running_gateway(answering, max_call_seconds=1.0) as (callee, _),
        running_gateway(routes=routes) as (gateway, _),
    ):
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        placed = await gateway.originate(
            target, line="reminders", variables={"first_name": "Ada"},
            headers=(("X-Campaign", "spring"),),
        )  # fmt: skip
        assert placed.handle is not None and placed.handle.line == "reminders"
        assert dict(placed.handle.details.variables) == {"clinic": "Main St", "first_name": "Ada"}
        handle = placed.handle
        for _ in range(200):  # answered, its agent built
            if handle.agent is not None or placed.outcome.done():
                break
            await asyncio.sleep(0.01)
        assert isinstance(handle.agent, EchoAgent) and handle.agent.delay_frames == 50  # the line's
        outcome = await asyncio.wait_for(placed.outcome, 10)
        assert outcome.answered, outcome
        unknown = await gateway.originate(target, line="nope")
        failed = await unknown.outcome
        assert failed.kind == "failed" and "no line 'nope' (lines: reminders)" in failed.reason
        text, _ = gateway.metrics.render()
    (call,) = heard
    assert str(call.call.caller.uri).startswith("sip:+15551230000@")  # the line's caller id
    assert dict(call.call.details.custom) == {"X-Line": "reminders", "X-Campaign": "spring"}
    ended = {"direction": "outbound", "leg": "sip", "outcome": "remote-bye", "line": "reminders"}
    assert sample_value(text, "sipgw_calls_total", **ended) == 1
    assert gateway.feed.recent[-1].variables == {"clinic": "Main St", "first_name": "Ada"}


async def placed_through_the_api(gateway: Gateway, target: str, line: str) -> Any:
    """``POST /api/calls`` on ``line``, waiting for the outcome: the answer's JSON."""
    server = AdminServer(gateway, AdminSettings(port=free_port()))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            body = {"target": target, "line": line, "wait": True}
            async with session.post(f"{server.url}/api/calls", json=body) as response:
                answer = await response.json()
                assert response.status == 200, answer
                return answer
    finally:
        await server.stop()


async def test_the_admin_api_places_a_call_on_a_line(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    async with (
        running_gateway(max_call_seconds=1.0) as (callee, _),
        running_gateway(routes=routes) as (gateway, _),
    ):
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        answer = await placed_through_the_api(gateway, target, "reminders")
        on_line = [entry for entry in gateway.feed.recent if entry.line == "reminders"]
    assert answer["answered"] and answer["kind"] == "answered", answer
    assert len(on_line) == 1 and on_line[0].direction == "outbound"


CAMPAIGN = """\
[lines.campaign]
amd = "hang_up"
amd_message = "Hi {first_name}, this is Acme: please call us back."

[[routes]]
called = "+15550200"
line = "campaign"
"""


async def test_a_campaign_line_s_detection_reaches_each_call_placed_on_it(tmp_path: Path) -> None:
    """A campaign is a line whose ``amd`` every call placed on it runs (docs/lines.md,
    docs/amd.md "Asking for it"), by ``originate(line=...)`` and by ``POST /api/calls``:
    the agent built for the answered call is handed that request; a call's own ``amd``
    wins over the line's, ``off`` included (no detection: the agent gets none)."""
    routes = tmp_path / "routes.toml"
    routes.write_text(CAMPAIGN)
    seen: list[AmdRequest | None] = []

    def factory(call: CallControl) -> Agent:
        seen.append(call.amd if isinstance(call, AmdCall) else None)
        return EchoAgent(call, 0)

    async with (
        running_gateway(max_call_seconds=0.3) as (callee, _),
        running_gateway(factory, routes=routes) as (gateway, _),
    ):
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        outcomes = [
            await gateway.place_call(target, line="campaign"),
            await gateway.place_call(
                target, line="campaign", amd=AmdRequest(AmdMode.LEAVE_MESSAGE, "Call Acme.")
            ),
            await gateway.place_call(target, line="campaign", amd=AmdRequest(AmdMode.OFF)),
        ]
        answer = await placed_through_the_api(gateway, target, "campaign")
    assert all(outcome.answered for outcome in outcomes), outcomes
    assert answer["answered"], answer
    line_s = AmdRequest(AmdMode.HANG_UP, "Hi {first_name}, this is Acme: please call us back.")
    assert seen == [line_s, AmdRequest(AmdMode.LEAVE_MESSAGE, "Call Acme."), None, line_s]
