"""Twilio's REST subset on the admin server (sipgw/app/twilio/api/endpoints.py), driven by the
official ``twilio`` Python SDK pointed at it, against two in-process gateways: ours places
the call, the other answers it (ringing first) with the echo agent.

Here a created call is placed by a stand-in for the seam (:func:`echo_placer`: the echo
agent talks instead of the app's TwiML, so two in-process gateways suffice); the mapping of
the request onto ``POST /api/calls``'s body is checked on the way. The real seam and the
``twiml`` agent, with a baresip callee, are tests/interop/test_twilio_rest_peers.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.admin.throttle import LoginThrottle
from sipgw.app.calls.outbound import PlacedCall
from sipgw.app.evaluation.ports import free_port
from sipgw.app.gateway import Gateway
from sipgw.app.twilio.api.seam import TWIML_AGENT, call_sid
from sipgw.app.twilio.api.settings import TwilioApiSection
from tests.sipgw.app.twilio.api.receiver import status_receiver
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(60)

ACCOUNT = "AC" + "5" * 32
TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
TWIML = '<Response><Connect><Stream url="wss://bot.example/ws"/></Connect></Response>'
T = TypeVar("T")


async def echo_placer(gateway: Gateway, body: dict[str, Any]) -> PlacedCall:
    """The seam's stand-in: checks the body the seam gives, places it with the echo agent."""
    assert body["agent"] == TWIML_AGENT, body
    assert ("twiml" in body) != ("twiml_url" in body), body
    return await gateway.originate(
        body["target"], caller_id=body["caller_id"], ring_timeout=body["ring_timeout"]
    )


@asynccontextmanager
async def api(
    tmp_path: Path, throttle: LoginThrottle | None = None, ring_time: float = 0.3
) -> AsyncIterator[tuple[AdminServer, Client, str]]:
    """Our gateway with the REST subset, the SDK pointed at it, and a callee's address
    (which rings ``ring_time`` before it answers)."""
    async with (
        running_gateway(ring_time=ring_time) as (callee, _),
        running_gateway() as (gateway, _),
    ):
        settings = TwilioApiSection(twilio_api_account_sid=ACCOUNT, twilio_api_auth_token=TOKEN)
        server = AdminServer(gateway, AdminSettings(port=free_port(), token="admin-token-" * 2),
                             twilio_api=settings, status_db=tmp_path / "hooks.sqlite3")  # fmt: skip
        server.twilio_api.place = echo_placer
        if throttle is not None:
            server.throttle = server.twilio_api.throttle = throttle
        await server.start()
        client = Client(ACCOUNT, TOKEN)
        client.api.base_url = server.url  # the docs' way: docs/twilio-api.md
        try:
            yield server, client, f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        finally:
            await server.stop()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


async def sdk(call: Callable[[], T]) -> T:
    """The SDK is synchronous (requests): run it off the loop."""
    return await asyncio.to_thread(call)


async def until_status(client: Client, sid: str, wanted: str, within: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        call = await sdk(lambda: client.calls(sid).fetch())
        if call.status == wanted:
            return call
        assert loop.time() < deadline, call.status
        await asyncio.sleep(0.05)  # polling the API, as an app does


async def test_the_sdk_creates_a_call_follows_it_and_hangs_it_up(tmp_path: Path) -> None:
    async with api(tmp_path) as (server, client, callee), status_receiver(TOKEN) as receiver:
        call = await sdk(lambda: client.calls.create(
            to=callee, from_="+15551230001", twiml=TWIML, status_callback=receiver.url,
            status_callback_event=["initiated", "ringing", "answered", "completed"], timeout=20,
        ))  # fmt: skip
        assert call.status == "queued" and call.account_sid == ACCOUNT
        assert call.to == callee and call._from == "+15551230001"
        assert call.direction == "outbound-api" and call.date_created is not None
        (handle,) = server.gateway.handles.values()
        assert call.sid == call_sid(handle.call.call_id)
        answered = await until_status(client, call.sid, "in-progress")
        assert answered.start_time is not None and answered.end_time is None
        ended = await sdk(lambda: client.calls(call.sid).update(status="completed"))
        assert ended.status == "completed" and ended.end_time is not None
        assert not server.gateway.handles
        forms = await receiver.until(4)
    assert [f["CallStatus"] for f in forms] == ["initiated", "ringing", "in-progress", "completed"]
    assert [f["SequenceNumber"] for f in forms] == ["0", "1", "2", "3"]
    assert {f["CallSid"] for f in forms} == {call.sid}
    assert forms[3]["CallDuration"].isdigit() and forms[3]["SipResponseCode"] == "200"


async def test_a_call_hung_up_while_it_rings_is_canceled(tmp_path: Path) -> None:
    async with (
        api(tmp_path, ring_time=10.0) as (server, client, callee),
        status_receiver(TOKEN) as receiver,
    ):
        call = await sdk(lambda: client.calls.create(
            to=callee, from_="+15551230001", url="https://app.example/voice",
            status_callback=receiver.url,
        ))  # fmt: skip
        await until_status(client, call.sid, "ringing")
        canceled = await sdk(lambda: client.calls(call.sid).update(status="canceled"))
        assert canceled.status == "canceled" and canceled.duration == "0"
        (form,) = await receiver.until(1)  # completed only: Twilio's default
    assert form["CallStatus"] == "canceled" and form["CallDuration"] == "0"


async def test_errors_are_twilios(tmp_path: Path) -> None:
    async with api(tmp_path) as (server, client, callee):
        with pytest.raises(TwilioRestException) as missing:
            await sdk(lambda: client.calls("CA" + "0" * 32).fetch())
        assert missing.value.status == 404 and missing.value.code == 20404
        cases = [
            ({"From": "+1555", "Twiml": TWIML}, 21201, "No 'To' number"),
            ({"To": callee, "Twiml": TWIML}, 21213, "No 'From' number"),
            ({"To": callee, "From": "+1555"}, 21205, "Url parameter is required"),
            ({"To": callee, "From": "+1555", "Url": "ftp://x"}, 21205, "not a valid http"),
            ({"To": callee, "From": "+1555", "Twiml": TWIML, "Record": "true"}, 20422,
             "Record is not supported by this gateway"),
            ({"To": callee, "From": "+1555", "Twiml": TWIML, "MachineDetection": "Maybe"},
             20422, "must be Enable or DetectMessageEnd"),
            ({"To": callee, "From": "+1555", "Twiml": TWIML, "AsyncAmd": "true"},
             20422, "AsyncAmd needs MachineDetection"),
            ({"To": callee, "From": "+1555", "Twiml": TWIML, "MachineDetection": "Enable",
              "MachineDetectionTimeout": "90"}, 20422, "3 to 59 seconds"),
            ({"To": callee, "From": "+1555", "Twiml": TWIML, "StatusCallback": "http://a/",
              "StatusCallbackEvent": "hangup"}, 21626, "Invalid 'StatusCallbackEvent'"),
            ({"To": callee, "From": "+1555", "Twiml": TWIML, "Timeout": "0"}, 20422, "Timeout"),
            ({"To": callee, "From": "+1555", "Twiml": TWIML, "Method": "GET"}, 20422,
             "only POST"),
        ]  # fmt: skip
        url = f"{server.url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
        async with aiohttp.ClientSession(headers=basic(ACCOUNT, TOKEN)) as http:
            for form, code, words in cases:
                async with http.post(url, data=form) as r:
                    body = await r.json()
                assert body["code"] == code and words in body["message"], (form, body)
                assert body["status"] == r.status and set(body) == {
                    "code", "message", "more_info", "status",
                }  # fmt: skip
        assert not server.gateway.handles  # nothing was placed
        other = Client("AC" + "6" * 32, TOKEN)
        other.api.base_url = server.url
        with pytest.raises(TwilioRestException) as elsewhere:  # its credentials are wrong
            await sdk(lambda: other.calls.create(to=callee, from_="+1555", twiml=TWIML))
        assert elsewhere.value.status == 401 and elsewhere.value.code == 20003


async def test_wrong_credentials_are_throttled_and_the_right_ones_always_pass(
    tmp_path: Path,
) -> None:
    throttle = LoginThrottle(burst=2, refill_seconds=60.0)
    async with api(tmp_path, throttle) as (server, client, callee):
        url = f"{server.url}/2010-04-01/Accounts/{ACCOUNT}/Calls/{'CA' + '0' * 32}.json"
        async with aiohttp.ClientSession() as http:
            answers = []
            for _ in range(3):
                async with http.get(url, headers=basic(ACCOUNT, "guess" * 7)) as r:
                    answers.append((r.status, (await r.json())["code"], r.headers))
            async with http.get(url) as r:  # no credentials: 401, nothing charged
                assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
            async with http.get(url, headers=basic(ACCOUNT, TOKEN)) as r:
                assert r.status == 404  # let in (no such call), locked out or not
            other = url.replace(ACCOUNT, "AC" + "7" * 32)
            async with http.get(other, headers=basic(ACCOUNT, TOKEN)) as r:
                assert r.status == 404 and (await r.json())["code"] == 20404
        assert [a[:2] for a in answers] == [(401, 20003), (401, 20003), (429, 20429)]
        assert int(answers[2][2]["Retry-After"]) > 0


async def test_without_the_settings_there_is_no_rest_subset(tmp_path: Path) -> None:
    async with running_gateway() as (gateway, _):
        server = AdminServer(gateway, AdminSettings(port=free_port(), token="admin-token-" * 2),
                             status_db=tmp_path / "hooks.sqlite3")  # fmt: skip
        await server.start()
        try:
            async with aiohttp.ClientSession() as http:
                url = f"{server.url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
                async with http.post(url, headers=basic(ACCOUNT, TOKEN)) as r:
                    assert r.status == 401  # the admin token's, as any unknown path
        finally:
            await server.stop()


async def test_machine_detections_tuning_reaches_the_call_and_values_out_of_range_are_400(
    tmp_path: Path,
) -> None:
    """The SDK's ``machine_detection_*`` tuning and ``async_amd_status_callback_method``: kept
    for the call's agent (the seam's body), each checked against Twilio's range."""
    from sipgw.app.twilio.api.seam import MACHINE_DETECTION

    bodies: list[dict[str, Any]] = []

    async def placer(gateway: Gateway, body: dict[str, Any]) -> PlacedCall:
        bodies.append(body)
        return await echo_placer(gateway, body)

    async with api(tmp_path) as (server, client, callee):
        server.twilio_api.place = placer
        call = await sdk(lambda: client.calls.create(
            to=callee, from_="+15551230001", twiml=TWIML, machine_detection="DetectMessageEnd",
            machine_detection_speech_threshold=3000, machine_detection_speech_end_threshold=800,
            machine_detection_silence_timeout=6000, async_amd="true",
            async_amd_status_callback="https://app.example/amd",
            async_amd_status_callback_method="GET",
        ))  # fmt: skip
        await sdk(lambda: client.calls(call.sid).update(status="completed"))
        for name, value, words in [
            ("machine_detection_speech_threshold", 7000, "1000 to 6000"),
            ("machine_detection_speech_end_threshold", 300, "500 to 5000"),
            ("machine_detection_silence_timeout", 1000, "2000 to 10000"),
            ("async_amd_status_callback_method", "PUT", "GET or POST"),
        ]:
            with pytest.raises(TwilioRestException) as refused:
                await sdk(lambda: client.calls.create(  # noqa: B023 - awaited at once
                    to=callee, from_="+1555", twiml=TWIML, machine_detection="Enable",
                    **{name: value},  # noqa: B023
                ))  # fmt: skip
            assert refused.value.status == 400 and refused.value.code == 20422, name
            assert words in refused.value.msg, refused.value.msg
    assert len(bodies) == 1
    assert bodies[0][MACHINE_DETECTION] == {
        "MachineDetection": "DetectMessageEnd", "MachineDetectionSpeechThreshold": "3000",
        "MachineDetectionSpeechEndThreshold": "800", "MachineDetectionSilenceTimeout": "6000",
        "AsyncAmd": "true", "AsyncAmdStatusCallback": "https://app.example/amd",
        "AsyncAmdStatusCallbackMethod": "GET",
    }  # fmt: skip
