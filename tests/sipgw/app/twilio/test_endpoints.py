"""Twilio's endpoints on the admin server (sipgw/app/twilio/endpoints.py), an in-process gateway.

Requests are signed as Twilio's "Webhooks security" page says (``signature_for``: the URL
Twilio requested, the form's parameters sorted, HMAC-SHA1 with the Auth Token); the stream
is the Twilio fake (tests/toolkit/fakes/twilio.py) talking to the echo agent, opened as the
webhook's TwiML says (:func:`call_the_webhook`).
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from contextlib import AbstractAsyncContextManager
from urllib.parse import urlencode

import aiohttp
import pytest
from websockets.exceptions import InvalidStatus

from sipgw.app.admin.server import AdminServer
from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.gateway import Gateway
from sipgw.app.legs.settings import LegsSettings
from sipgw.app.twilio import endpoints as twilio_endpoints
from sipgw.sip.ratelimit import CallRateConfig, CallRateLimiter, Rate
from sipgw.twilio.signature import signature_for
from sipgw.twilio.token import TOKEN_PARAMETER
from tests.sipgw.app.admin.legs_admin import admin_with_legs
from tests.toolkit.fakes.twilio import FakeTwilioStream, TwimlAnswer, call_the_webhook
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)

TOKEN = "twilio-auth-token"
ADMIN = "admin-token-for-twilio"
PUBLIC = "https://gw.example.test"
FORM = {"CallSid": "CA" + "1" * 32, "From": "+15551230001", "To": "+15557650002",
        "CallerName": "Ann Example", "AccountSid": "AC" + "2" * 32}  # fmt: skip


def admin_for(
    gateway: Gateway, legs: LegsSettings | None = None, token: str = ADMIN
) -> AbstractAsyncContextManager[tuple[AdminServer, aiohttp.ClientSession]]:
    legs = legs or LegsSettings(twilio_auth_token=TOKEN, public_url=PUBLIC)
    return admin_with_legs(gateway, legs, token)


def stream_url(server: AdminServer) -> str:
    """The stream's local address (Twilio reaches it through the proxy at the public one)."""
    return server.url.replace("http://", "ws://") + "/twilio/stream"


async def webhook(
    server: AdminServer, http: aiohttp.ClientSession, form: dict[str, str] | None = None
) -> TwimlAnswer:
    """Twilio's call: the signed webhook, its TwiML read."""
    return await call_the_webhook(http, f"{server.url}/twilio/voice", TOKEN,
                                  f"{PUBLIC}/twilio/voice", form or FORM)  # fmt: skip


async def post_webhook(
    server: AdminServer, http: aiohttp.ClientSession, signature: str | None, **headers: str
) -> tuple[int, str, str]:
    given = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    if signature is not None:
        given["X-Twilio-Signature"] = signature
    async with http.post(f"{server.url}/twilio/voice", data=urlencode(FORM), headers=given) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


async def test_the_signed_webhook_streams_the_call_here_with_its_parties() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        signature = signature_for(TOKEN, f"{PUBLIC}/twilio/voice", FORM)
        status, content_type, body = await post_webhook(server, http, signature)
        assert status == 200 and content_type.startswith("application/xml"), body
        stream = ET.fromstring(body).find("./Connect/Stream")
        assert stream is not None and stream.get("url") == "wss://gw.example.test/twilio/stream"
        parameters = {p.get("name"): p.get("value") for p in stream}
        token = parameters.pop(TOKEN_PARAMETER, "")
        assert parameters == {
            "From": "+15551230001", "To": "+15557650002", "CallerName": "Ann Example"}  # fmt: skip
        assert token.startswith(FORM["CallSid"] + ".")


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "bm90IGEgc2lnbmF0dXJl",
        signature_for("another-token", f"{PUBLIC}/twilio/voice", FORM),
        signature_for(TOKEN, f"{PUBLIC}/twilio/voice", {**FORM, "From": "+15550000000"}),
        signature_for(TOKEN, "https://elsewhere.example/twilio/voice", FORM),
    ],
)
async def test_a_webhook_without_twilios_signature_is_refused(signature: str | None) -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        status, _, body = await post_webhook(server, http, signature)
        assert status == 403 and "<Response>" not in body


async def test_while_new_calls_are_refused_twilio_is_told_to_reject_unanswered() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        gateway.ua.draining = True
        signature = signature_for(TOKEN, f"{PUBLIC}/twilio/voice", FORM)
        status, _, body = await post_webhook(server, http, signature)
        reject = ET.fromstring(body).find("./Reject")
        assert status == 200 and reject is not None and reject.get("reason") == "busy"


async def test_over_a_call_rate_twilio_is_told_to_reject_and_the_stream_is_charged_once() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        now = asyncio.get_running_loop().time()
        gateway.ua.call_rate = CallRateLimiter(CallRateConfig(Rate(0, 0), Rate(6, 1)), now)
        answer = await webhook(server, http)
        assert answer.status == 200 and answer.stream_url
        # the stream of the call the webhook admitted: not charged again (the caller's one
        # call per 10 s is used up, yet it is a call)
        async with answer.stream(stream_url(server), TOKEN, audio=b"\xff" * 1600) as call:
            await call.wait_for(lambda: bool(gateway.handles), 10)
        # the same caller calls again at once: <Reject reason="busy"/>, nothing answered
        again = await webhook(server, http, {**FORM, "CallSid": "CA" + "3" * 32})
        assert again.status == 200 and again.reject == "busy" and not again.stream_url
        assert gateway.ua.call_rate.limited_caller == 1


async def test_without_the_token_setting_there_are_no_twilio_endpoints() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway, LegsSettings()) as (s, http):
        signature = signature_for(TOKEN, f"{PUBLIC}/twilio/voice", FORM)
        status, _, _ = await post_webhook(s, http, signature)
        assert status == 401  # an ordinary admin path: the bearer token is asked for
        status, _, _ = await post_webhook(s, http, signature, Authorization=f"Bearer {ADMIN}")
        assert status == 404


async def test_behind_a_proxy_without_an_admin_token_twilio_still_gets_in_by_signature() -> None:
    """A loopback admin server without a token refuses requests naming a public host, but
    Twilio's are signed: they pass (the proxy forwards Host: gw.example.test)."""
    async with running_gateway() as (gateway, _), admin_for(gateway, token="") as (server, http):
        signature = signature_for(TOKEN, f"{PUBLIC}/twilio/voice", FORM)
        status, _, _ = await post_webhook(server, http, signature, Host="gw.example.test",
                                          **{"X-Forwarded-For": "203.0.113.9"})  # fmt: skip
        assert status == 200
        async with http.get(f"{server.url}/api/calls", headers={"Host": "gw.example.test"}) as r:
            assert r.status == 403  # the rest of the server is not opened by it


async def test_the_stream_wants_the_signature_of_its_public_url() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        local = server.url.replace("http://", "ws://") + "/twilio/stream"
        for signed in (None, local):  # unsigned; signed for the local URL, not Twilio's
            fake = FakeTwilioStream(local, auth_token=TOKEN if signed else None, signed_url=signed)
            with pytest.raises(InvalidStatus, match="403"):
                async with fake:
                    pass
        assert not gateway.handles


async def test_a_stream_is_a_call_with_the_echo_agent() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        answer = await webhook(server, http)
        audio = b"".join(tone_frames(440, 1.0))
        async with answer.stream(stream_url(server), TOKEN, audio=audio) as call:
            await call.wait_for(lambda: call.heard_seconds() >= 0.6, 10)
            (handle,) = gateway.handles.values()
            assert handle.leg == "twilio" and handle.details.variables["CallerName"] == (
                "Ann Example")  # fmt: skip
            assert TOKEN_PARAMETER not in handle.details.variables
            assert handle.call.call_id == call.call_sid == FORM["CallSid"]
            assert handle.caller == "tel:+15551230001"
        await until_no_calls(gateway)
        assert gateway.feed.recent[-1].outcome == "remote-hangup"
        assert call.protocol_errors == []


async def until_no_calls(gateway: Gateway) -> None:
    for _ in range(250):  # the stream's end reaches the gateway
        if not gateway.handles:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"calls still up: {list(gateway.handles)}")


async def refused(call: FakeTwilioStream) -> None:
    """The stream was closed on us (at its ``start``) without a call."""
    await call.wait_for(lambda: call.closed_at is not None, 5)


async def test_a_replayed_stream_opens_nothing() -> None:
    """Issue 39: the handshake's signature covers the URL only; replayed with the same
    ``start`` (its token too), it opened a stream per try. Now the token is used once."""
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        answer = await webhook(server, http)
        async with answer.stream(stream_url(server), TOKEN) as call:
            await call.wait_for(lambda: bool(gateway.handles), 10)
            replays = [answer.stream(stream_url(server), TOKEN) for _ in range(5)]
            for replay in replays:
                async with replay:
                    await refused(replay)
            assert len(gateway.handles) == 1 and not call.closed_at
        await until_no_calls(gateway)
        assert [entry.call_id for entry in gateway.feed.recent] == [FORM["CallSid"]]


@pytest.mark.parametrize("how", ["no token", "another call's", "expired", "changed From"])
async def test_a_stream_without_its_calls_valid_token_is_refused(
    how: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        endpoints = server.legs.twilio
        if how == "expired":
            monkeypatch.setattr(endpoints.tokens, "lifetime", 0.0)
        answer = await webhook(server, http)
        parameters = dict(answer.parameters)
        call_sid = answer.call_sid
        if how == "no token":
            del parameters[TOKEN_PARAMETER]
        elif how == "another call's":
            call_sid = FORM["CallSid"][:24] + "9" * 10  # alike to 24 characters
        elif how == "changed From":
            parameters["From"] = "+15550000000"  # a caller of one's choosing
        fake = FakeTwilioStream(
            stream_url(server), auth_token=TOKEN, call_sid=call_sid,
            signed_url=answer.stream_url, custom_parameters=parameters,
        )  # fmt: skip
        async with fake:
            await refused(fake)
        assert not gateway.handles and not gateway.feed.recent
        assert f"of call '{call_sid}' refused" in caplog.text


async def test_own_twiml_on_lets_a_stream_without_a_token_in() -> None:
    legs = LegsSettings(twilio_auth_token=TOKEN, public_url=PUBLIC, twilio_own_twiml=True)
    async with running_gateway() as (gateway, _), admin_for(gateway, legs) as (server, http):
        async with FakeTwilioStream(
            stream_url(server), auth_token=TOKEN, signed_url="wss://gw.example.test/twilio/stream",
            custom_parameters={"From": "+15551230001", "order": "1234"},
        ) as call:  # fmt: skip
            await call.wait_for(lambda: bool(gateway.handles), 10)
            (handle,) = gateway.handles.values()
            assert handle.details.variables["order"] == "1234"
            # a replay of our webhook's stream is still refused: its token is checked
            answer = await webhook(server, http)
            async with answer.stream(stream_url(server), TOKEN) as first:
                await first.wait_for(lambda: len(gateway.handles) == 2, 10)
                async with answer.stream(stream_url(server), TOKEN) as replay:
                    await refused(replay)
                assert len(gateway.handles) == 2


async def test_a_stream_that_never_starts_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(twilio_endpoints, "START_WAIT", 0.2)
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        local = server.url.replace("http://", "ws://") + "/twilio/stream"
        signature = signature_for(TOKEN, "wss://gw.example.test/twilio/stream")
        async with http.ws_connect(local, headers={"X-Twilio-Signature": signature}) as ws:
            message = await ws.receive(timeout=5)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert not gateway.handles
