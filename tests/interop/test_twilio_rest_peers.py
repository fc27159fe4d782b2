"""The REST subset against a real baresip callee, driven by the official ``twilio`` SDK.

- The SDK creates a call that the gateway places to baresip (the seam stood in for by the
  echo agent, as in tests/sipgw/app/twilio/api/test_endpoints.py), follows it, hangs it up;
  baresip sees it answered and closed, the status callbacks arrive signed.
- Through the real seam (sipgw/app/twilio/api/seam.py) the gateway places it with the
  agent, which fetches the app's ``Url`` with a signature the SDK's ``RequestValidator``
  accepts, its ``CallSid`` the API's ``sid``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.evaluation.ports import free_port
from sipgw.app.twilio.api.seam import TWIML_AGENT
from sipgw.app.twilio.api.settings import TwilioApiSection
from tests.sipgw.app.twilio.api.receiver import status_receiver
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

ACCOUNT = "AC" + "c" * 32
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
HOLD = '<Response><Pause length="30"/></Response>'


@asynccontextmanager
async def the_app() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """The app's voice webhook: checks Twilio's signature with the SDK, holds the call."""
    got: list[dict[str, str]] = []
    validator = RequestValidator(TOKEN)
    url = ""

    async def voice(request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            return web.Response(status=403)
        got.append(form)
        return web.Response(text=HOLD, content_type="application/xml")

    app = web.Application()
    app.router.add_post("/voice", voice)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/voice"
    try:
        yield url, got
    finally:
        await runner.cleanup()


async def sdk(call: Any) -> Any:
    return await asyncio.to_thread(call)


async def test_the_sdk_creates_a_call_baresip_answers_and_the_sdk_hangs_it_up(
    tmp_workdir: Path, tmp_path: Path
) -> None:
    from tests.sipgw.app.twilio.api.test_endpoints import echo_placer

    async with (
        status_receiver(TOKEN) as receiver,
        running_gateway() as (gw, _),
    ):
        settings = TwilioApiSection(twilio_api_account_sid=ACCOUNT, twilio_api_auth_token=TOKEN)
        server = AdminServer(gw, AdminSettings(port=free_port(), token="admin-token-" * 2),
                             twilio_api=settings, status_db=tmp_path / "hooks.sqlite3")  # fmt: skip
        server.twilio_api.place = echo_placer
        await server.start()
        try:
            client = Client(ACCOUNT, TOKEN)
            client.api.base_url = server.url
            with Baresip(tmp_workdir, "b", user="b", answermode="auto") as callee:
                call = await sdk(lambda: client.calls.create(
                    to=callee.uri, from_="+15551230001", twiml=HOLD,
                    status_callback=receiver.url,
                    status_callback_event=["initiated", "answered", "completed"],
                ))  # fmt: skip
                await asyncio.to_thread(callee.wait_event, "CALL_ESTABLISHED", 15)
                live = await sdk(lambda: client.calls(call.sid).fetch())
                ended = await sdk(lambda: client.calls(call.sid).update(status="completed"))
                await asyncio.to_thread(callee.wait_event, "CALL_CLOSED", 10)
                forms = await receiver.until(3)
        finally:
            await server.stop()
    assert live.status == "in-progress" and ended.status == "completed"
    assert [f["CallStatus"] for f in forms] == ["initiated", "in-progress", "completed"]
    assert int(forms[2]["CallDuration"]) >= 0 and forms[2]["CallSid"] == call.sid


async def test_the_sdk_places_a_twiml_call_to_baresip_and_hangs_it_up(
    tmp_workdir: Path, tmp_path: Path
) -> None:
    env = {"SIPGW_TWIML_ACCOUNT_SID": ACCOUNT, "SIPGW_TWIML_AUTH_TOKEN": TOKEN}
    async with (
        the_app() as (app_url, webhooks),
        status_receiver(TOKEN) as receiver,
        running_gateway(agent=TWIML_AGENT, env={**env, "SIPGW_TWIML_URL": app_url}) as (gw, _),
    ):
        gw.outbound.agents[TWIML_AGENT] = gw.outbound.default_agent
        settings = TwilioApiSection(twilio_api_account_sid=ACCOUNT, twilio_api_auth_token=TOKEN)
        server = AdminServer(gw, AdminSettings(port=free_port(), token="admin-token-" * 2),
                             twilio_api=settings, status_db=tmp_path / "hooks.sqlite3")  # fmt: skip
        await server.start()
        try:
            client = Client(ACCOUNT, TOKEN)
            client.api.base_url = server.url
            with Baresip(tmp_workdir, "b", user="b", answermode="auto") as callee:
                call = await sdk(lambda: client.calls.create(
                    to=callee.uri, from_="+15551230001", url=app_url,
                    status_callback=receiver.url,
                    status_callback_event=["initiated", "ringing", "answered", "completed"],
                ))  # fmt: skip
                await asyncio.to_thread(callee.wait_event, "CALL_ESTABLISHED", 15)
                forms = await receiver.until(3)  # initiated, ringing, answered
                ended = await sdk(lambda: client.calls(call.sid).update(status="completed"))
                await asyncio.to_thread(callee.wait_event, "CALL_CLOSED", 10)
                forms = await receiver.until(4)
        finally:
            await server.stop()
    assert ended.status == "completed"
    assert [f["CallStatus"] for f in forms] == ["initiated", "ringing", "in-progress", "completed"]
    (hook,) = webhooks  # the agent's signed webhook, for this very call
    assert hook["CallSid"] == call.sid and hook["AccountSid"] == ACCOUNT
