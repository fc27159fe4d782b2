"""The call page and its signalling (sipgw/app/admin/phone.py), an in-process gateway.

Who may place a browser call: the bearer token, or the dashboard's cookie from this site's
own page (``Sec-Fetch-Site``, ``Origin``); what the offer and the variables must be; the
refusals; and a whole call with an aiortc peer as the browser, hung up from the "page".
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest
from aiortc import RTCSessionDescription

from sipgw.agent.variables import MAX_VALUE, MAX_VARIABLES
from sipgw.app.admin.dashboard import COOKIE, session_cookie_value
from sipgw.app.admin.phone import variables_from
from sipgw.app.admin.server import PROXY_HEADERS, AdminServer
from sipgw.app.gateway import Gateway
from sipgw.app.legs.settings import LegsSettings
from sipgw.sip.ratelimit import CallRateConfig, CallRateLimiter, Rate
from tests.media.aio.test_browser import ToneTrack, browser_peer
from tests.sipgw.app.admin.legs_admin import admin_with_legs
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.netns import ice_on_loopback_only

pytestmark = pytest.mark.timeout(30)

TOKEN = "admin-token-for-the-phone"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def ice_address(monkeypatch: pytest.MonkeyPatch) -> None:
    ice_on_loopback_only(monkeypatch)


def cookie() -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={session_cookie_value(TOKEN, int(time.time()) + 3600)}"}


def admin_for(
    gateway: Gateway, legs: LegsSettings | None = None
) -> AbstractAsyncContextManager[tuple[AdminServer, aiohttp.ClientSession]]:
    return admin_with_legs(gateway, legs, TOKEN)


async def post(
    server: AdminServer, http: aiohttp.ClientSession, path: str, body: Any, **headers: str
) -> tuple[int, Any]:
    async with http.post(server.url + path, json=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_the_page_is_behind_the_sign_in_and_carries_the_security_headers() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        async with http.get(server.url + "/dashboard/phone") as response:
            assert response.status == 401 and 'id="login"' in await response.text()
        async with http.get(server.url + "/dashboard/phone", headers=cookie()) as response:
            page = await response.text()
            assert response.status == 200 and "/dashboard/static/phone.js" in page
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        async with http.get(server.url + "/dashboard/static/phone.js") as response:
            assert response.status == 200
        async with http.get(server.url + "/api/phone/config", headers=cookie()) as response:
            assert await response.json() == {"ice_servers": []}


async def test_the_page_gets_the_configured_stun_and_turn_servers_with_turns_credentials() -> None:
    legs = LegsSettings(
        ice_servers=("stun:stun.example.test:3478", "turn:turn.example.test:3478?transport=tcp"),
        turn_username="sipgw", turn_password="turn-secret",
    )  # fmt: skip
    async with running_gateway() as (gateway, _), admin_for(gateway, legs) as (server, http):
        async with http.get(server.url + "/api/phone/config", headers=BEARER) as response:
            assert await response.json() == {"ice_servers": [
                {"urls": ["stun:stun.example.test:3478"]},
                {"urls": ["turn:turn.example.test:3478?transport=tcp"], "username": "sipgw",
                 "credential": "turn-secret"},
            ]}  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (BEARER, 400),  # past the check: the offer is missing
        ({"Sec-Fetch-Site": "same-origin"}, 401),  # no cookie
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 401),
        ({"Sec-Fetch-Site": "same-origin", "__cookie": "1"}, 400),
        ({"Origin": "https://evil.example", "__cookie": "1"}, 401),
        ({"__cookie": "1"}, 401),  # neither says it comes from our page
    ],
)
async def test_placing_a_call_wants_the_token_or_the_cookie_from_our_own_page(
    headers: dict[str, str], status: int
) -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        given = {k: v for k, v in headers.items() if k != "__cookie"}
        if "__cookie" in headers:
            given.update(cookie())
        got, _ = await post(server, http, "/api/phone/calls", {}, **given)
        assert got == status
        same_host = {"Origin": server.url, **cookie()}  # an Origin naming this host
        assert (await post(server, http, "/api/phone/calls", {}, **same_host))[0] == 400


@pytest.mark.parametrize("proxy_header", PROXY_HEADERS)
async def test_without_a_token_only_this_machine_calls_not_whoever_reaches_a_proxy(
    proxy_header: str,
) -> None:
    """An admin server without a token binds loopback only (its settings refuse any other
    address), so whoever reaches its port is on this machine, and may call the agent from
    the page, as they may use the rest of the API. A reverse proxy in front would put the
    world there: a request that says it came through one is refused, so a paid agent's
    calls cannot be placed by whoever reaches the proxy."""
    async with running_gateway() as (gateway, _), admin_with_legs(gateway, None, "") as (
        server, http,
    ):  # fmt: skip
        assert (await post(server, http, "/api/phone/calls", {}))[0] == 400  # past the check
        status, answer = await post(
            server, http, "/api/phone/calls", {"sdp": "v=0"}, **{proxy_header: "203.0.113.9"}
        )
        assert status == 403 and "no admin token is set" in answer["error"], answer
        async with http.get(server.url + "/dashboard/phone",
                            headers={proxy_header: "203.0.113.9"}) as response:  # fmt: skip
            assert response.status == 403
        assert not gateway.handles


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"sdp": ""}, '"sdp" must be the SDP offer'),
        ({"sdp": "x" * 70_000}, '"sdp" must be the SDP offer'),
        ({"sdp": "v=0", "variables": ["a"]}, '"variables" must be an object'),
        ({"sdp": "v=0", "variables": {"bad name": "x"}}, "'bad name' must be a letter or _"),
        ({"sdp": "v=0\r\n"}, "the browser's offer has no audio section"),
    ],
)
async def test_a_bad_offer_or_variables_is_a_400_saying_why(body: Any, says: str) -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        status, answer = await post(server, http, "/api/phone/calls", body, **BEARER)
        assert status == 400 and says in answer["error"], answer
        assert not gateway.handles


async def test_while_new_calls_are_refused_the_page_is_told_why() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        gateway.ua.draining = True
        status, answer = await post(server, http, "/api/phone/calls", {"sdp": "v=0"}, **BEARER)
        assert status == 503 and "draining" in answer["error"]


async def test_over_a_call_rate_the_page_gets_429_and_when_to_come_back() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        now = asyncio.get_running_loop().time()
        # the caller (this address): one call per 10 s; the gateway: two at once
        limits = CallRateConfig(Rate(0.01, 2), Rate(6, 1))
        gateway.ua.call_rate = CallRateLimiter(limits, now)
        offer = {"sdp": "v=0\r\n"}  # admitted, then refused for what it is: charged all the same
        assert (await post(server, http, "/api/phone/calls", offer, **BEARER))[0] == 400
        async with http.post(server.url + "/api/phone/calls", json=offer, headers=BEARER) as r:
            answer = await r.json()
            assert r.status == 429 and 9 <= int(r.headers["Retry-After"]) <= 10, answer
            assert "SIPGW_CALLS_PER_CALLER" in answer["error"]
        assert gateway.ua.call_rate.limited_caller == 1
        # no limit per caller; the gateway's one call at once taken by a SIP caller
        limits = CallRateConfig(Rate(0.01, 1), Rate(0, 0))
        gateway.ua.call_rate = CallRateLimiter(limits, now)
        assert gateway.ua.call_rate.admit_caller("+15551234567@trunk.example", now) is None
        async with http.post(server.url + "/api/phone/calls", json=offer, headers=BEARER) as r:
            answer = await r.json()
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 90, answer
            assert "SIPGW_CALLS_PER_SECOND" in answer["error"]
        assert not gateway.handles


async def test_browser_calls_switched_off_have_no_routes() -> None:
    legs = LegsSettings(browser_calls=False)
    async with running_gateway() as (gateway, _), admin_for(gateway, legs) as (server, http):
        async with http.post(server.url + "/api/phone/calls", json={}, headers=BEARER) as r:
            assert r.status == 404
        async with http.get(server.url + "/dashboard/phone", headers=BEARER) as response:
            assert response.status == 404


async def test_a_call_from_the_page_and_its_hang_up() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        browser = browser_peer()
        browser.addTransceiver(ToneTrack(), direction="sendrecv")
        await browser.setLocalDescription(await browser.createOffer())
        offer = {"sdp": browser.localDescription.sdp, "variables": {"customer": "Ann"}}
        headers = {"Sec-Fetch-Site": "same-origin", **cookie()}
        status, answer = await post(server, http, "/api/phone/calls", offer, **headers)
        assert status == 201 and answer["sdp"].startswith("v=0") and answer["id"]
        await browser.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        async with http.get(f"{server.url}/api/calls/{answer['id']}", headers=BEARER) as r:
            detail = await r.json()
        assert detail["leg"] == "browser" and detail["variables"] == {"customer": "Ann"}
        assert detail["media"]["transport"] == "WebRTC"
        path = f"/api/phone/calls/{answer['id']}/hangup"
        assert (await post(server, http, path, None, **headers))[0] == 202
        for _ in range(250):
            if not gateway.handles:
                break
            await asyncio.sleep(0.02)
        assert not gateway.handles and gateway.feed.recent[-1].outcome == "remote-hangup"
        assert (await post(server, http, path, None, **headers))[0] == 404
        await browser.close()


async def test_without_an_address_for_ice_the_page_is_told_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host whose only address is loopback (aioice leaves 127.0.0.1 out) and no STUN/TURN:
    a 503 saying so, not an answer without candidates that would time out in ICE."""
    from aioice import ice

    async with running_gateway() as (gateway, _), admin_for(gateway) as (server, http):
        browser = browser_peer()
        browser.addTransceiver(ToneTrack(), direction="sendrecv")
        await browser.setLocalDescription(await browser.createOffer())
        monkeypatch.setattr(ice, "get_host_addresses", lambda use_ipv4, use_ipv6: [])
        offer = {"sdp": browser.localDescription.sdp}
        status, answer = await post(server, http, "/api/phone/calls", offer, **BEARER)
        assert status == 503 and "no ICE candidate" in answer["error"], answer
        assert not gateway.handles
        await browser.close()


def test_variables_are_a_few_named_texts() -> None:
    assert variables_from(None) == {} and variables_from({"lang": "de"}) == {"lang": "de"}
    too_many = {f"v{n}": "x" for n in range(MAX_VARIABLES + 1)}
    long = {"x": "y" * (MAX_VALUE + 1)}
    for bad in (too_many, {"x": 1}, long, {"": "y"}, {"1st": "y"}, {"x": "a\nb"}, "text"):
        with pytest.raises(ValueError, match='"variables"'):
            variables_from(bad)
