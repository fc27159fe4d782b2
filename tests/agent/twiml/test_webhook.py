"""The voice webhook as Twilio calls it: the form's fields, a signature the official SDK's
RequestValidator accepts (POST and GET), and the limits (time, size, status) as errors that
never name the token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from sipgw.agent.base import CallDetails
from sipgw.agent.twiml.webhook import FetchFailed, TwilioIdentity, call_params, fetch, new_sid
from sipgw.app.evaluation.ports import free_port
from tests.agent.parts import FakeCall
from tests.refcycles import garbage_of_ours

TOKEN = "f" * 32
IDENTITY = TwilioIdentity("AC" + "3" * 32, TOKEN)


def test_the_form_of_a_sip_call() -> None:
    call = FakeCall(details=CallDetails(caller_number="+15551234567", called_number="shop",
                                        headers={"X-Ticket": "7"}))  # fmt: skip
    params = call_params(call, "CA" + "1" * 32, IDENTITY.account_sid)
    assert params == {
        "CallSid": "CA" + "1" * 32, "AccountSid": IDENTITY.account_sid,
        "From": "+15551234567", "To": "sip:shop@gw.example",  # a user name: the URI
        "Caller": "+15551234567", "Called": "sip:shop@gw.example",
        "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01",
        "CallerName": "", "SipCallId": call.call_id, "SipHeader_X-Ticket": "7",
    }  # fmt: skip
    placed = call_params(FakeCall(direction="outbound"), "CA1", IDENTITY.account_sid)
    assert placed["Direction"] == "outbound-api"


def test_sids_and_identity() -> None:
    sid = new_sid("CA")
    assert sid.startswith("CA") and len(sid) == 34 and sid != new_sid("CA")
    assert TOKEN not in repr(IDENTITY)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[tuple[bool, str]]]]:
    seen: list[tuple[bool, str]] = []

    async def voice(request: web.Request) -> web.Response:
        form = dict(await request.post()) if request.method == "POST" else {}
        valid = RequestValidator(TOKEN).validate(
            str(request.url), form, request.headers.get("X-Twilio-Signature", "")
        )
        seen.append((valid, request.method))
        return web.Response(text="<Response/>", content_type="text/xml")

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"x" * 1000)
        return response

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]))

    app = web.Application()
    app.router.add_route("*", "/voice", voice)
    app.router.add_get("/big", big)
    app.router.add_get("/status/{code}", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def test_the_sdk_validates_our_signature_post_and_get(
    server: tuple[str, list[tuple[bool, str]]],
) -> None:
    base, seen = server
    params = {"CallSid": "CA1", "From": "+1 555 & co", "To": "x=y"}
    async with aiohttp.ClientSession() as session:
        got = await fetch(session, f"{base}/voice?a=1", params=params, identity=IDENTITY,
                          timeout=2, max_bytes=100)  # fmt: skip
        assert got.body == b"<Response/>"
        await fetch(session, f"{base}/voice", method="GET", params=params, identity=IDENTITY,
                    timeout=2, max_bytes=100)  # fmt: skip
        wrong = TwilioIdentity(IDENTITY.account_sid, "wrong")
        await fetch(session, f"{base}/voice", params=params, identity=wrong, timeout=2,
                    max_bytes=100)  # fmt: skip
    assert seen == [(True, "POST"), (True, "GET"), (False, "POST")]


async def test_limits_are_errors_that_say_what(server: tuple[str, list[tuple[bool, str]]]) -> None:
    base, _ = server
    async with aiohttp.ClientSession() as session:
        with pytest.raises(FetchFailed, match="more than 5000 bytes"):
            await fetch(session, f"{base}/big", method="GET", timeout=2, max_bytes=5000)
        with pytest.raises(FetchFailed, match="answered 500"):
            await fetch(session, f"{base}/status/500?token=s3cret", method="GET", timeout=2,
                        max_bytes=10)  # fmt: skip
        with pytest.raises(FetchFailed, match="answered 302"):  # no redirect followed
            await fetch(session, f"{base}/status/302", method="GET", timeout=2, max_bytes=10)
        with pytest.raises(FetchFailed, match="not an http"):
            await fetch(session, "file:///etc/passwd", method="GET", timeout=2, max_bytes=10)
        try:
            await fetch(session, f"{base}/status/404?token=s3cret", method="GET", timeout=2,
                        max_bytes=10)  # fmt: skip
        except FetchFailed as exc:
            assert "s3cret" not in str(exc)  # the query is left out of what is logged


async def test_an_app_server_down_leaves_nothing_to_the_collector() -> None:
    """Each fetch from an app server that refuses the connection fails at once, and its
    error goes with its frames: aiohttp's connector keeps the refused connection's error in
    a local of its own frame (``last_exc``), so that error's traceback held every frame
    down to the fetch's (the call's), some 100 objects a fetch, in a cycle for the collector."""
    url = f"http://127.0.0.1:{free_port()}/voice"
    async with aiohttp.ClientSession() as session:
        with garbage_of_ours() as leftovers:
            for _ in range(3):
                with pytest.raises(FetchFailed, match="ClientConnectorError"):
                    await fetch(session, url, method="POST", params={"CallSid": "CA1"},
                                identity=IDENTITY, timeout=2, max_bytes=100)  # fmt: skip
    assert leftovers == []
