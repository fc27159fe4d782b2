"""The admin HTTP server against an in-process gateway carrying real calls (echo agent)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sipgw.agent.base import CallControl
from sipgw.agent.capabilities import AgentCapabilities, plugin_factory
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.record import CallRecord
from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.evaluation.ports import free_port
from sipgw.app.gateway import Gateway
from sipgw.app.legs.settings import LegsSettings
from sipgw.app.upstream.accounts import Account, RegistrationSettings
from sipgw.foundation.settings import ConfigError
from sipgw.sip.addressing import Flow
from sipgw.sip.events import RegistrationChanged, RegistrationState
from sipgw.sip.message import SipRequest
from sipgw.twilio.signature import signature_for
from tests.sipgw.app.admin.legs_admin import admin_with_legs
from tests.sipgw.app.refusing_peer import refusing_peer
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.https_proxy import HttpsProxy
from tests.toolkit.metrics import sample_value
from tests.toolkit.tls import make_ca, make_server_cert

TOKEN = "s3cret-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class Client:
    """aiohttp's client against the real port, answers read in full."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0))

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        async with self.session.request(method, self.base_url + path, **kwargs) as response:
            return Reply(response.status, dict(response.headers), await response.read())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("POST", path, **kwargs)


@asynccontextmanager
async def admin_for(
    gateway: Gateway, token: str = TOKEN, wrong_tries: int | None = None
) -> AsyncIterator[Client]:
    """The gateway's admin server on a free loopback port, and a client for it.

    ``wrong_tries``: how many wrong tokens the client's address may send before it waits
    (default: the server's own limit)."""
    settings = AdminSettings(port=free_port(), token=token)
    if wrong_tries is not None:
        settings = dataclasses.replace(settings, login_tries=wrong_tries)
    server = AdminServer(gateway, settings)
    await server.start()
    client = Client(server.url)
    try:
        yield client
    finally:
        await client.session.close()
        await server.stop()


async def until(condition: object, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_every_endpoint_wants_the_token() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway, wrong_tries=100) as client:
        for method, path in [
            ("GET", "/api/health"),
            ("GET", "/api/ready"),
            ("GET", "/api/calls"),
            ("GET", "/api/calls/x"),
            ("POST", "/api/calls/x/hangup"),
            ("POST", "/api/calls"),
            ("GET", "/metrics"),
            ("GET", "/api/drain"),
            ("POST", "/api/drain"),
        ]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                response = await client.request(method, path, headers=headers)
                assert response.status_code == 401, (method, path, headers)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.get("/api/health", headers=AUTH)).status_code == 200


async def test_wrong_tokens_get_429_and_the_right_token_always_passes() -> None:
    """Issue 21: nothing limited how fast one address could try tokens, nor how long one
    could be. Issue 39: then 5 wrong tries locked the address out, the right token too, so
    an attacker kept the operator out (from the same address, or a proxy's). Now the
    wrong ones only get 429 with Retry-After; the right one always gets in."""
    async with running_gateway() as (gateway, _), admin_for(gateway) as client:
        for _ in range(5):
            wrong = await client.get("/api/calls", headers={"Authorization": "Bearer wrong"})
            assert wrong.status_code == 401
        waited = await client.get("/api/calls", headers={"Authorization": "Bearer wrong"})
        assert waited.status_code == 429 and int(waited.headers["Retry-After"]) >= 1
        assert gateway.counters().admin_throttled == 1  # in the stats line and /metrics
        for _ in range(3):  # the same address, the right token, during the lockout
            assert (await client.get("/api/calls", headers=AUTH)).status_code == 200
        assert (await client.get("/api/calls", headers=AUTH)).status_code == 200
        assert gateway.counters().admin_throttled == 1  # the right token is not counted
    async with running_gateway() as (gateway, _), admin_for(gateway) as client:
        long = {"Authorization": "Bearer " + "x" * 4000}  # aiohttp itself caps a header at 8 KiB
        assert (await client.get("/api/calls", headers=long)).status_code == 401
        assert (await client.get("/api/calls", headers=AUTH)).status_code == 200


@asynccontextmanager
async def from_address(host: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose connections come from ``host`` (a 127.x address: another machine)."""
    connector = aiohttp.TCPConnector(local_addr=(host, 0), ssl=False)
    timeout = aiohttp.ClientTimeout(total=5.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def status(session: aiohttp.ClientSession, url: str, token: str, **headers: str) -> int:
    async with session.get(url, headers={"Authorization": f"Bearer {token}", **headers}) as got:
        return got.status


@pytest.mark.parametrize("trusted", [(), ("127.0.0.1",)])
async def test_an_attacker_behind_the_operators_proxy_never_locks_the_operator_out(
    tmp_path: Path, trusted: tuple[str, ...]
) -> None:
    """Issue 39: behind a reverse proxy every client shares the proxy's address, so one
    attacker's wrong guesses kept the operator's right token out indefinitely. Through the
    tests' HTTPS proxy (nginx-like: it appends the client to X-Forwarded-For), the attacker
    at 127.0.0.2 guesses, writing a fresh X-Forwarded-For each time; the operator at
    127.0.0.3 gets in whatever it did. With the proxy trusted, each client is counted on
    its own: the operator's own wrong token is a 401, not the attacker's 429."""
    pki = tmp_path / "pki"
    cert = make_server_cert(make_ca(pki), pki, "proxy", ips=("127.0.0.1",))
    settings = AdminSettings(port=free_port(), token=TOKEN, trusted_proxies=trusted)
    async with running_gateway() as (gateway, _):
        server = AdminServer(gateway, settings)
        await server.start()
        try:
            async with (
                HttpsProxy(server.url, cert.cert, cert.key) as proxy,
                from_address("127.0.0.2") as attacker,
                from_address("127.0.0.3") as operator,
            ):
                url = f"https://127.0.0.1:{proxy.port}/api/calls"
                answers = [
                    await status(attacker, url, "wrong", **{"X-Forwarded-For": f"198.51.100.{n}"})
                    for n in range(8)
                ]
                assert answers == [401] * 5 + [429] * 3
                assert await status(operator, url, TOKEN) == 200
                assert await status(operator, url, "typo") == (401 if trusted else 429)
                assert await status(attacker, url, "wrong") == 429
                assert await status(operator, url, TOKEN) == 200
        finally:
            await server.stop()


async def test_x_forwarded_for_from_a_source_that_is_not_a_trusted_proxy_is_ignored() -> None:
    """An attacker reaching the admin port itself cannot pose as a fresh client per guess
    by writing X-Forwarded-For: only the trusted proxy's is read."""
    settings = AdminSettings(port=free_port(), token=TOKEN, trusted_proxies=("127.0.0.1",))
    async with running_gateway() as (gateway, _):
        server = AdminServer(gateway, settings)
        await server.start()
        try:
            async with from_address("127.0.0.2") as attacker:
                url = server.url + "/api/calls"
                answers = [
                    await status(attacker, url, "wrong", **{"X-Forwarded-For": f"198.51.100.{n}"})
                    for n in range(7)
                ]
                assert answers == [401] * 5 + [429] * 2
                assert await status(attacker, url, TOKEN) == 200
        finally:
            await server.stop()


async def test_many_sources_together_get_a_bounded_number_of_401s() -> None:
    settings = AdminSettings(port=free_port(), token=TOKEN, login_tries_total=4)
    async with running_gateway() as (gateway, _):
        server = AdminServer(gateway, settings)
        await server.start()
        try:
            answers = []
            for n in range(2, 8):  # six machines, one wrong guess each
                async with from_address(f"127.0.0.{n}") as guesser:
                    answers.append(await status(guesser, server.url + "/api/calls", "wrong"))
            assert answers == [401] * 4 + [429] * 2
            async with from_address("127.0.0.9") as operator:
                assert await status(operator, server.url + "/api/calls", TOKEN) == 200
        finally:
            await server.stop()


async def test_the_throttle_takes_its_settings() -> None:
    settings = AdminSettings(port=free_port(), token=TOKEN, login_tries=2, login_wait=30.0)
    async with running_gateway() as (gateway, _):
        server = AdminServer(gateway, settings)
        assert (server.throttle.burst, server.throttle.refill_seconds) == (2, 30.0)
        assert server.throttle.total_per_minute == 60
        assert gateway.admin_throttle is server.throttle


def test_a_token_longer_than_can_be_checked_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="at most 256 characters"):
        AdminSettings(port=1, token="t" * 300).check()


async def test_without_a_token_loopback_needs_none() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway, token="") as client:
        response = await client.get("/api/health")
        assert response.status_code == 200
        assert response.json() == {"ok": True, "draining": False, "calls_left": 0}


async def test_calls_lists_the_live_call_shows_it_and_hangs_it_up() -> None:
    async with running_gateway() as (gateway, new_phone), admin_for(gateway) as client:
        assert (await client.get("/api/calls", headers=AUTH)).json() == {"calls": []}
        phone = await new_phone(user="echo")
        assert (await phone.invite()).status == 200
        await until(lambda: any(h.agent is not None for h in gateway.handles.values()))

        calls = (await client.get("/api/calls", headers=AUTH)).json()["calls"]
        assert len(calls) == 1
        call = calls[0]
        assert call["call_id"] == phone.call_id
        assert call["direction"] == "inbound" and call["agent"] == "echo"
        assert call["caller"].startswith("sip:") and "echo@" in call["called"]
        assert call["state"] in ("answered", "confirmed") and call["duration_s"] >= 0

        detail = (await client.get(f"/api/calls/{call['id']}", headers=AUTH)).json()
        assert detail["call_id"] == phone.call_id and detail["media"]["codec"] == "PCMU"
        assert detail["transcript"] is None  # the echo agent keeps no record
        assert 1 <= detail["quality"]["mos"] <= 5 and detail["rtp"]["packets_out"] > 0
        by_call_id = await client.get(f"/api/calls/{phone.call_id}", headers=AUTH)
        assert by_call_id.json()["id"] == call["id"]

        hangup = await client.post(f"/api/calls/{call['id']}/hangup", headers=AUTH)
        assert hangup.status_code == 202
        bye = await phone.answer_bye()
        assert isinstance(bye, SipRequest) and bye.method == "BYE"
        await until(lambda: not gateway.handles)
        assert (await client.get("/api/calls", headers=AUTH)).json() == {"calls": []}
        gone = await client.post(f"/api/calls/{call['id']}/hangup", headers=AUTH)
        assert gone.status_code == 404
        assert (await client.get(f"/api/calls/{call['id']}", headers=AUTH)).status_code == 404


async def test_ready_is_503_while_draining_health_stays_200() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as client:
        ready = await client.get("/api/ready", headers=AUTH)
        assert ready.status_code == 200 and ready.json()["ready"] is True
        drained = asyncio.get_running_loop().create_task(gateway.drain(0.5, asyncio.Event()))
        await until(lambda: gateway.ua.draining)
        ready = await client.get("/api/ready", headers=AUTH)
        assert ready.status_code == 503 and ready.json()["reason"] == "draining"
        assert (await client.get("/api/health", headers=AUTH)).status_code == 200
        await drained


async def test_post_drain_starts_the_drain_sigterm_starts() -> None:
    async with running_gateway() as (gateway, new_phone), admin_for(gateway) as client:
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        state = (await client.get("/api/drain", headers=AUTH)).json()
        assert state == {"draining": False, "calls_left": 1}
        for bad in ('{"seconds": -1}', '{"seconds": "ten"}', "not json", '{"seconds": true}'):
            response = await client.post("/api/drain", headers=AUTH, data=bad)
            assert response.status_code == 400, bad
        assert not gateway.drain_request.active  # a bad request starts nothing

        started = await client.post("/api/drain", headers=AUTH, json={"seconds": 42})
        assert started.status_code == 202
        body = started.json()
        assert body["draining"] is True and body["seconds"] == 42 and body["source"] == "admin"
        assert body["calls_left"] == 1 and body["ending_now"] is False
        assert gateway.drain_request.requested.is_set()  # what `sipgw serve` waits on
        again = await client.post("/api/drain", headers=AUTH)  # no body: keeps the 42 s
        assert again.status_code == 202 and again.json()["seconds"] == 42
        health = (await client.get("/api/health", headers=AUTH)).json()
        assert health["ok"] is True and health["draining"] is True and health["calls_left"] == 1

        # what `sipgw serve` does next (tests/interop/test_draining.py runs the process)
        drained = asyncio.get_running_loop().create_task(
            gateway.drain(gateway.drain_request.seconds, gateway.drain_request.now)
        )
        await until(lambda: gateway.ua.draining)
        ready = await client.get("/api/ready", headers=AUTH)
        assert ready.status_code == 503 and ready.json()["reason"] == "draining"
        refused = await (await new_phone()).invite()
        assert refused.status == 503
        await phone.hang_up()
        assert await asyncio.wait_for(drained, 5.0) == 0
        assert (await client.get("/api/drain", headers=AUTH)).json()["calls_left"] == 0


async def test_ready_is_503_until_an_account_is_registered() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as client:
        gateway.registration = RegistrationSettings(
            accounts=(Account("pbx", "sip:1001@pbx.example.com"),)
        )
        ready = await client.get("/api/ready", headers=AUTH)
        assert ready.status_code == 503 and ready.json()["reason"] == "no account registered"
        registrar = Flow("UDP", ("192.0.2.1", 5060))
        aor = "sip:1001@pbx.example.com"
        gateway._on_event(RegistrationChanged(aor, RegistrationState.FAILED, registrar))
        assert (await client.get("/api/ready", headers=AUTH)).status_code == 503
        gateway._on_event(RegistrationChanged(aor, RegistrationState.REGISTERED, registrar, 600))
        ready = await client.get("/api/ready", headers=AUTH)
        assert ready.status_code == 200
        assert ready.json()["registrations"] == {aor: RegistrationState.REGISTERED.value}


class RecordingEchoAgent(EchoAgent):
    """The echo agent keeping a call record, as the assistant does (sipgw.agent.record)."""

    def __init__(self, call: CallControl) -> None:
        super().__init__(call, delay_ms=200)
        self.record = CallRecord(None, call.call_id)
        self.record.write({"type": "call", "caller": call.caller})
        self.record.write({"type": "user", "text": "hello there"})
        self.record.write({"type": "assistant", "text": "hi, how can I help?"})


async def test_a_call_shows_the_transcript_its_agent_recorded() -> None:
    async with (
        running_gateway(RecordingEchoAgent) as (gateway, new_phone),
        admin_for(gateway) as client,
    ):
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        await until(lambda: any(h.agent is not None for h in gateway.handles.values()))
        detail = (await client.get(f"/api/calls/{phone.call_id}", headers=AUTH)).json()
        assert detail["agent"] == "recordingecho"
        turns = [(line["type"], line["text"]) for line in detail["transcript"]]
        assert turns == [("user", "hello there"), ("assistant", "hi, how can I help?")]
        await phone.hang_up()


async def test_health_is_503_once_the_gateway_stopped() -> None:
    async with running_gateway() as (gateway, _):
        server = AdminServer(gateway, AdminSettings(port=free_port(), token=""))
        await server.start()
        try:
            await gateway.stop(grace=0.5)
            client = Client(server.url)
            try:
                assert (await client.get("/api/health")).status_code == 503
                assert (await client.get("/api/ready")).status_code == 503
            finally:
                await client.session.close()
        finally:
            await server.stop()


async def test_place_a_call_through_the_api_then_hang_it_up() -> None:
    async with (
        running_gateway() as (callee, _),
        running_gateway() as (gateway, _),
        admin_for(gateway) as client,
    ):
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        bad = await client.post("/api/calls", headers=AUTH, json={"number": "1"})
        assert bad.status_code == 400
        placed = await client.post("/api/calls", headers=AUTH, json={"target": target})
        assert placed.status_code == 202
        call_id = placed.json()["id"]
        await until(lambda: any(h.call.established for h in gateway.handles.values()))
        calls = (await client.get("/api/calls", headers=AUTH)).json()["calls"]
        assert [(c["id"], c["direction"]) for c in calls] == [(call_id, "outbound")]
        assert (await client.post(f"/api/calls/{call_id}/hangup", headers=AUTH)).status_code == 202
        await until(lambda: not gateway.handles and not callee.handles)


async def test_a_call_asks_for_answering_machine_detection() -> None:
    async with (
        running_gateway() as (callee, _),
        running_gateway() as (gateway, _),
        admin_for(gateway) as client,
    ):
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        bad = await client.post("/api/calls", headers=AUTH, json={"target": target, "amd": "x"})
        assert bad.status_code == 400 and '"amd" must be one of' in bad.json()["error"]
        assert not gateway.handles  # nothing was dialled
        body = {"target": target, "amd": "leave_message", "amd_message": "Call us back."}
        placed = await client.post("/api/calls", headers=AUTH, json=body)
        assert placed.status_code == 202
        (handle,) = gateway.handles.values()
        assert handle.amd is not None and handle.amd.message == "Call us back."
        assert handle.amd.mode.value == "leave_message"
        handle.hangup()
        await until(lambda: not gateway.handles and not callee.handles)


def echo_agent(call: CallControl) -> EchoAgent:
    return EchoAgent(call)


DETECTS_NOTHING = plugin_factory(echo_agent, AgentCapabilities(amd=False))
"""An agent factory that runs no answering-machine detection, as the ``stream`` agent's
(its capabilities say ``amd=False``: sipgw/agent/twiml/plugin.py)."""


async def test_detection_the_agent_does_not_run_is_refused_with_400() -> None:
    async with (
        running_gateway() as (callee, _),
        running_gateway(DETECTS_NOTHING) as (gateway, _),
        admin_for(gateway) as client,
    ):
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        body = {"target": target, "amd": "leave_message"}
        refused = await client.post("/api/calls", headers=AUTH, json=body)
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error.startswith('"amd" leave_message: this call\'s agent does not run'), error
        assert not gateway.handles and not callee.handles  # nothing was dialled
        with_off = await client.post("/api/calls", headers=AUTH, json={**body, "amd": "off"})
        assert with_off.status_code == 202
        await until(lambda: bool(gateway.handles))
        for handle in list(gateway.handles.values()):
            handle.hangup()
        await until(lambda: not gateway.handles and not callee.handles)


async def test_a_call_that_fails_at_once_gives_its_outcome() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as client:
        placed = await client.post("/api/calls", headers=AUTH, json={"target": "not a target!"})
        assert placed.status_code == 200
        assert placed.json()["kind"] == "failed" and placed.json()["id"] is None


async def test_metrics_are_scraped_during_a_call() -> None:
    async with running_gateway() as (gateway, new_phone), admin_for(gateway) as client:
        assert (await client.get("/metrics")).status_code == 401
        caller = await new_phone()
        assert (await caller.invite()).status == 200
        response = await client.get("/metrics", headers=AUTH)
        assert response.status_code == 200
        assert sample_value(response.content, "sipgw_active_calls") == 1
        assert await caller.bye()
        await until(lambda: not gateway.handles)
        after = (await client.get("/metrics", headers=AUTH)).content
    assert sample_value(after, "sipgw_active_calls") == 0
    outcome = {"direction": "inbound", "leg": "sip", "outcome": "remote-bye", "line": ""}
    assert sample_value(after, "sipgw_calls_total", **outcome) == 1


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.0.2.10", "::"])
async def test_a_non_loopback_bind_without_a_token_is_refused(bind: str) -> None:
    async with running_gateway() as (gateway, _):
        server = AdminServer(gateway, AdminSettings(port=free_port(), bind=bind))
        with pytest.raises(ConfigError, match="SIPGW_ADMIN_TOKEN"):
            await server.start()


async def test_a_call_with_variables_headers_and_an_agent_by_name() -> None:
    async with (
        running_gateway() as (callee, _),
        running_gateway() as (gateway, _),
        admin_for(gateway) as client,
    ):
        gateway.outbound.agents = {"echo": gateway.agent_factory}
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        body = {
            "target": target, "caller_id": "+15551230000", "agent": "echo",
            "variables": {"first_name": "Ada"}, "headers": {"X-Campaign": "spring"},
        }  # fmt: skip
        placed = await client.post("/api/calls", headers=AUTH, json=body)
        assert placed.status_code == 202, placed.content
        call_id = placed.json()["id"]
        await until(lambda: bool(callee.handles))
        (incoming,) = callee.handles.values()
        assert incoming.call.details.custom == (("X-Campaign", "spring"),)
        assert incoming.caller.startswith("sip:+15551230000@")
        (ours,) = gateway.handles.values()
        assert dict(ours.details.variables) == {"first_name": "Ada"}
        waiting = await client.get(f"/api/calls/{call_id}/outcome")
        assert waiting.status_code == 401  # behind the token like the rest
        waiting = await client.get(f"/api/calls/{call_id}/outcome?wait=0.1", headers=AUTH)
        assert waiting.status_code == 202 and waiting.json()["state"] == "in progress"
        await client.post(f"/api/calls/{call_id}/hangup", headers=AUTH)
        done = await client.get(f"/api/calls/{call_id}/outcome?wait=5", headers=AUTH)
    assert done.status_code == 200
    assert (done.json()["id"], done.json()["kind"], done.json()["answered"]) == (
        call_id, "answered", True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"target": ""}, '"target" must be a phone number or SIP URI'),
        ({"target": "1", "number": "2"}, 'unknown field "number"'),
        ({"target": "1", "variables": ["a"]}, '"variables" must be an object of strings'),
        ({"target": "1", "variables": {"first name": "A"}}, "variable name 'first name'"),
        ({"target": "1", "headers": {"Via": "x"}}, "must start with X-"),
        ({"target": "1", "headers": {"X-A": "1\r\nBYE"}}, "one line of printable text"),
        ({"target": "1", "agent": "nobody"}, "no agent 'nobody' here"),
        ({"target": "1", "ring_timeout": 0}, '"ring_timeout" must be a number of seconds'),
    ],
)
async def test_a_bad_field_is_a_400_naming_it(body: dict[str, object], error: str) -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as client:
        reply = await client.post("/api/calls", headers=AUTH, json=body)
        assert reply.status_code == 400 and error in reply.json()["error"], reply.json()
        assert not gateway.handles


async def test_a_refused_call_says_why_in_its_outcome_and_on_the_dashboard() -> None:
    """Telnyx's caller id refusal: 403 Caller Origination Number is Invalid D35."""
    async with (
        refusing_peer(403, "Caller Origination Number is Invalid D35") as carrier,
        running_gateway() as (gateway, _),
        admin_for(gateway) as client,
    ):
        body = {"target": f"sip:+15557654321@127.0.0.1:{carrier.port}", "wait": True}
        reply = await client.post("/api/calls", headers=AUTH, json=body)
        recent = gateway.feed.recent[-1].summary()
    outcome = reply.json()
    assert (outcome["kind"], outcome["status"], outcome["phrase"]) == (
        "failed", 403, "Caller Origination Number is Invalid D35",
    )  # fmt: skip
    assert "caller id" in outcome["hint"] and outcome["id"] == recent["id"]
    assert recent["refusal"].startswith("SIP 403 Caller Origination Number is Invalid D35 - ")


async def test_the_outcome_of_an_unknown_call_is_404() -> None:
    async with running_gateway() as (gateway, _), admin_for(gateway) as client:
        assert (await client.get("/api/calls/nope/outcome", headers=AUTH)).status_code == 404


async def raw_exchange(url: str, request: bytes) -> bytes:
    """Send ``request`` as it is to the server at ``url``; its response's head."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
    finally:
        writer.close()


async def test_no_admin_response_names_the_server_software() -> None:
    """Issue 39: every response said ``Server: Python/3.11 aiohttp/3.x``, what to attack.
    Now none does: JSON, 401 and 429, the router's 404 and 405, pages, static files, the
    login's redirect, and a WebSocket upgrade (Twilio's stream); nor do the public login
    page and the 401's challenge name the product."""
    legs = LegsSettings(twilio_auth_token="twilio-auth-token", public_url="https://gw.test")
    async with (
        running_gateway() as (gateway, _),
        admin_with_legs(gateway, legs, TOKEN) as (server, http),
    ):
        heads = []
        for method, path, headers in [
            ("GET", "/api/health", AUTH),
            ("GET", "/api/health", {}),
            ("GET", "/no/such/path", AUTH),
            ("DELETE", "/api/health", AUTH),
            ("GET", "/dashboard/login", {}),
            ("GET", "/dashboard/static/dashboard.js", {}),
            ("GET", "/dashboard", {}),
        ]:
            async with http.request(method, server.url + path, headers=headers) as reply:
                heads.append((path, reply.status, reply.headers))
        login = {"token": TOKEN}
        async with http.post(
            server.url + "/dashboard/login", data=login, allow_redirects=False
        ) as reply:
            heads.append(("login", reply.status, reply.headers))
        for _ in range(6):
            async with http.get(server.url + "/metrics", headers={"Authorization": "x"}) as reply:
                heads.append(("/metrics", reply.status, reply.headers))
        statuses = [status for _, status, _ in heads]
        assert statuses == [200, 401, 404, 405, 200, 200, 401, 303, *[401] * 5, 429], statuses
        assert [(path, h["Server"]) for path, _, h in heads if "Server" in h] == []
        async with http.get(server.url + "/dashboard/login") as reply:  # a public page
            assert "sipgw" not in (await reply.text()).lower()
        async with http.get(server.url + "/api/calls") as reply:  # no token: not a try
            assert reply.headers["WWW-Authenticate"] == "Bearer"  # was Bearer realm="sipgw"
            assert "sipgw" not in (await reply.text()).lower()
        signature = signature_for("twilio-auth-token", "wss://gw.test/twilio/stream")
        upgrade = await raw_exchange(server.url, (
            "GET /twilio/stream HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nX-Twilio-Signature: {signature}\r\n\r\n"
        ).encode())  # fmt: skip
        assert upgrade.startswith(b"HTTP/1.1 101 ") and b"\r\nserver:" not in upgrade.lower()
