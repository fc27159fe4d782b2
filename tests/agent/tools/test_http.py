"""HTTP tools (agent/tools/http.py) against a local aiohttp service that is slow, fails,
answers 5 MB, and redirects to an internal address: every failure is a tool error the
model reads, never a crash; internal addresses are refused unless the host is allowed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from sipgw.agent.tools.http import http_tool
from sipgw.agent.tools.http_spec import HttpToolSpec
from sipgw.agent.tools.registry import ToolLimits, ToolRegistry
from sipgw.app.evaluation.ports import free_port
from tests.agent.tools.fake_call import FakeCall
from tests.refcycles import garbage_of_ours

SCHEMA = {
    "type": "object",
    "properties": {"number": {"type": "string", "maxLength": 32}, "detail": {"type": "string"}},
    "required": ["number"],
    "additionalProperties": False,
}


class Service:
    """The local service and what it was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.port = 0
        self.internal_port = 0
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.path_qs, dict(request.headers), body))
        name = request.match_info["name"]
        if name == "slow":
            await self.release.wait()
        if name == "fail":
            return web.Response(status=500, text="upstream exploded: secret trace")
        if name == "huge":
            return web.Response(body=b"x" * (5 * 1024 * 1024))
        if name == "to-internal":
            raise web.HTTPFound(f"http://metadata.internal:{self.internal_port}/latest")
        if name == "to-other":
            raise web.HTTPFound(f"http://127.0.0.2:{self.port}/invoices/ok")
        if name == "to-self":
            raise web.HTTPFound("/invoices/ok?moved=1")
        return web.json_response({"number": name, "status": "paid", "data": {"due": "none"}})


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    svc = Service()
    app = web.Application()
    app.router.add_route("*", "/invoices/{name}", svc.handle)
    app.router.add_route("*", "/latest", svc.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    svc.port = svc.internal_port = runner.addresses[0][1]
    yield svc
    svc.release.set()
    await runner.cleanup()


NAMES = {"localhost": ["127.0.0.1"], "metadata.internal": ["169.254.169.254", "93.184.216.34"]}


async def fake_resolve(host: str, port: int) -> list[str]:
    """Names as a DNS would give them."""
    return NAMES.get(host, [])


def spec(service: Service, path: str = "/invoices/{number}", **changes: Any) -> HttpToolSpec:
    base = HttpToolSpec(
        name="invoice_status",
        description="An invoice's status.",
        parameters=SCHEMA,
        url=f"http://127.0.0.1:{service.port}{path}",
        headers={"Authorization": "Bearer s3cr3t-token-value"},
        timeout=2.0,
        allow_hosts=frozenset({"127.0.0.1"}),
    )
    return replace(base, **changes)


async def call(tool_spec: HttpToolSpec, arguments: dict[str, Any], **kw: Any) -> Any:
    registry = ToolRegistry([http_tool(tool_spec, **kw)], ToolLimits(result_bytes=0))
    return await registry.call(tool_spec.name, json.dumps(arguments), FakeCall())


async def test_the_answer_is_the_body_and_the_arguments_are_data(service: Service) -> None:
    result = await call(spec(service), {"number": "42/../../admin?x=1"})
    assert result.ok and result.source == "http"
    # the caller's words stay one path segment: no traversal, no query of their own
    assert json.loads(result.content) == {
        "number": "42/../../admin?x=1",
        "status": "paid",
        "data": {"due": "none"},
    }
    method, path, headers, _ = service.requests[-1]
    assert (method, path) == ("GET", "/invoices/42%2F..%2F..%2Fadmin%3Fx=1")
    assert headers["Authorization"] == "Bearer s3cr3t-token-value"


async def test_a_field_of_the_body_and_a_json_body_for_post(service: Service) -> None:
    tool = spec(service, method="POST", result="data.due")
    result = await call(tool, {"number": "7", "detail": "late fee"})
    assert result.ok and result.content == "none"
    method, path, _, body = service.requests[-1]
    assert (method, path, json.loads(body)) == ("POST", "/invoices/7", {"detail": "late fee"})
    missing = await call(spec(service, result="data.nope"), {"number": "7"})
    assert not missing.ok and "no field 'data.nope'" in missing.content


async def test_arguments_are_checked_before_any_request(service: Service) -> None:
    result = await call(spec(service), {"number": "7", "evil": "1"})
    assert result.refused == "schema" and service.requests == []
    result = await call(spec(service), {"number": ".."})
    assert not result.ok and service.requests == []


async def test_a_slow_service_is_a_timeout_the_model_hears(service: Service) -> None:
    result = await call(spec(service, timeout=0.3), {"number": "slow"})
    assert not result.ok and "timed out after 0.3 s" in result.content


async def test_a_500_is_a_tool_error_without_the_body_or_the_secret(service: Service) -> None:
    result = await call(spec(service), {"number": "fail"})
    assert not result.ok and "HTTP 500" in result.content
    assert "secret trace" not in result.content and "s3cr3t" not in result.content


async def test_5_mb_is_refused_not_read(service: Service) -> None:
    result = await call(spec(service, max_bytes=64 * 1024), {"number": "huge"})
    assert not result.ok and "over 65536" in result.content


async def test_the_registry_bounds_what_any_tool_returns(service: Service) -> None:
    registry = ToolRegistry([http_tool(spec(service))], ToolLimits(result_bytes=20))
    result = await registry.call("invoice_status", '{"number": "7"}', FakeCall())
    assert not result.ok and "over the limit of 20" in result.content


async def test_loopback_is_refused_unless_allowed(service: Service) -> None:
    result = await call(spec(service, allow_hosts=frozenset()), {"number": "7"})
    assert not result.ok and "internal address" in result.content
    assert service.requests == []


async def test_a_name_is_resolved_then_every_address_checked(service: Service) -> None:
    # localhost resolves to 127.0.0.1: refused by its address, though it is a name
    url = f"http://localhost:{service.port}/invoices/{{number}}"
    tool = spec(service, allow_hosts=frozenset(), url=url)
    result = await call(tool, {"number": "7"}, resolve=fake_resolve)
    assert not result.ok and "localhost is an internal address (127.0.0.1)" in result.content
    assert service.requests == []


async def test_a_redirect_to_an_internal_address_is_refused(service: Service) -> None:
    # a redirect the tool may follow by name, to a name one of whose addresses is internal
    tool = spec(service, redirect_hosts=frozenset({"metadata.internal"}))
    result = await call(tool, {"number": "to-internal"}, resolve=fake_resolve)
    assert not result.ok
    assert "metadata.internal is an internal address (169.254.169.254)" in result.content
    assert [p for _, p, _, _ in service.requests] == ["/invoices/to-internal"]
    # not allowed by name: refused before any lookup
    result = await call(spec(service), {"number": "to-internal"}, resolve=fake_resolve)
    assert "redirected to metadata.internal, which is not allowed" in result.content


async def test_a_redirect_to_another_host_is_refused_unless_allowed(service: Service) -> None:
    result = await call(spec(service), {"number": "to-other"})
    assert not result.ok and "redirected to 127.0.0.2, which is not allowed" in result.content
    moved = await call(spec(service), {"number": "to-self"})
    assert moved.ok and service.requests[-1][1] == "/invoices/ok?moved=1"


async def test_a_service_echoing_the_token_does_not_hand_it_to_the_model(service: Service) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"you_sent": request.headers["Authorization"]})

    app = web.Application()
    app.router.add_get("/echo/{number}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        result = await call(
            spec(service, url=f"http://127.0.0.1:{port}/echo/{{number}}"), {"number": "1"}
        )
    finally:
        await runner.cleanup()
    assert result.ok and "s3cr3t-token-value" not in result.content


async def test_a_tool_endpoint_down_leaves_nothing_to_the_collector(service: Service) -> None:
    """Each call of a tool whose endpoint refuses the connection is a tool error at once,
    and its error goes with its frames (aiohttp's connector keeps it in a local of its
    own frame, so its traceback held every frame down to the tool's, some 120 objects a
    call, in a cycle for the collector)."""
    down = spec(service, url=f"http://127.0.0.1:{free_port()}/invoices/{{number}}")
    with garbage_of_ours() as leftovers:
        for _ in range(3):
            result = await call(down, {"number": "7"})
            assert not result.ok and "ClientConnectorError" in result.content
    assert leftovers == []
