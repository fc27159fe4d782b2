"""The REST subset against a real baresip callee, driven by the official ``twilio`` SDK.

- The SDK creates a call that the gateway places to baresip (the seam stood in for by the
  echo agent, as in tests/sipgw/app/twilio/api/test_endpoints.py), follows it, hangs it up;
  baresip sees it answered and closed, the status callbacks arrive signed.
- Through the real seam (sipgw/app/twilio/api/seam.py) the gateway places it with the
  agent, which fetches the app's ``Url`` with a signature the SDK's ``RequestValidator``
  accepts, its ``CallSid`` the API's ``sid``; ``MachineDetection`` on a callee playing a
  voicemail greeting, saying "Hello?", or answering with a fax's answer tone (``fax``).
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


async def until(condition: Any, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


VOICEMAIL = (
    "Hi, you've reached Ana Lopez. I can't take your call right now. "
    "Please leave your name and number after the tone."
)


@pytest.mark.parametrize(
    ("asynchronous", "greeting", "answered_by"),
    [(False, VOICEMAIL, "machine_end_beep"), (True, VOICEMAIL, "machine_end_beep"),
     (False, "Hello?", "human")],
    ids=["voicemail-sync", "voicemail-async-amd", "hello-sync"],
)  # fmt: skip
async def test_machine_detection_on_a_real_callee(
    tmp_workdir: Path, tmp_path: Path, asynchronous: bool, greeting: str, answered_by: str
) -> None:
    """``MachineDetection=DetectMessageEnd`` on a real call to a baresip that plays a
    voicemail greeting and a beep, or a person's "Hello?": the app's webhook (synchronous)
    or its ``AsyncAmdStatusCallback`` gets ``AnsweredBy`` (``machine_end_beep``, ``human``),
    signed."""
    from tests.interop.test_amd_peers import greeting_wav

    beep = 1000.0 if greeting == VOICEMAIL else None
    played = greeting_wav(tmp_workdir / "callee.wav", greeting, beep_hz=beep)
    env = {"SIPGW_TWIML_ACCOUNT_SID": ACCOUNT, "SIPGW_TWIML_AUTH_TOKEN": TOKEN}
    async with (
        the_app() as (app_url, webhooks),
        status_receiver(TOKEN) as amd_receiver,
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
            extra: dict[str, Any] = (
                {"async_amd": "true", "async_amd_status_callback": amd_receiver.url}
                if asynchronous else {}
            )  # fmt: skip
            with Baresip(tmp_workdir, "b", user="b", answermode="auto",
                         source_wav=played.wav) as callee:  # fmt: skip
                call = await sdk(lambda: client.calls.create(
                    to=callee.uri, from_="+15551230001", url=app_url,
                    machine_detection="DetectMessageEnd", machine_detection_timeout=20, **extra,
                ))  # fmt: skip
                await asyncio.to_thread(callee.wait_event, "CALL_ESTABLISHED", 15)
                if asynchronous:
                    (form,) = await amd_receiver.until(1, within=20)
                else:
                    await until(lambda: webhooks, within=20)
                    (form,) = webhooks
                await sdk(lambda: client.calls(call.sid).update(status="completed"))
                await asyncio.to_thread(callee.wait_event, "CALL_CLOSED", 10)
        finally:
            await server.stop()
    assert form["AnsweredBy"] == answered_by, form
    assert form["CallSid"] == call.sid and form["AccountSid"] == ACCOUNT
    after = played.beep[0] if played.beep is not None else played.speech_end
    assert 1000 * after < int(form["MachineDetectionDuration"]) < 20000
    if asynchronous:
        assert "AnsweredBy" not in webhooks[0]  # the TwiML was fetched without waiting


async def test_a_fax_machine_answering_is_answered_by_fax(
    tmp_workdir: Path, tmp_path: Path
) -> None:
    """A baresip callee answering with a fax's CED (2100 Hz, after half a second): with
    ``MachineDetection=Enable``, ``AsyncAmd`` and the tuning parameters given through the SDK,
    the ``AsyncAmdStatusCallback`` gets ``AnsweredBy=fax``, signed."""
    from sipgw.app.evaluation.audio import write_pattern

    ced = write_pattern(tmp_workdir / "fax.wav", [(None, 0.5), (2100.0, 3.5), (None, 8.0)], -12.0)
    env = {"SIPGW_TWIML_ACCOUNT_SID": ACCOUNT, "SIPGW_TWIML_AUTH_TOKEN": TOKEN}
    async with (
        the_app() as (app_url, webhooks),
        status_receiver(TOKEN) as amd_receiver,
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
            with Baresip(tmp_workdir, "fax", user="fax", answermode="auto",
                         source_wav=ced) as callee:  # fmt: skip
                call = await sdk(lambda: client.calls.create(
                    to=callee.uri, from_="+15551230001", url=app_url, machine_detection="Enable",
                    machine_detection_silence_timeout=8000,
                    machine_detection_speech_threshold=2400, async_amd="true",
                    async_amd_status_callback=amd_receiver.url,
                ))  # fmt: skip
                await asyncio.to_thread(callee.wait_event, "CALL_ESTABLISHED", 15)
                (form,) = await amd_receiver.until(1, within=15)
                await sdk(lambda: client.calls(call.sid).update(status="completed"))
                await asyncio.to_thread(callee.wait_event, "CALL_CLOSED", 10)
        finally:
            await server.stop()
    assert form["AnsweredBy"] == "fax", form
    assert form["CallSid"] == call.sid
    assert 1000 < int(form["MachineDetectionDuration"]) < 5000
