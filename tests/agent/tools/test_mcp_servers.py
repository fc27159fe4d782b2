"""MCP servers' tools (agent/tools/mcp_servers.py) against real servers nobody here wrote:
``mcp-server-time`` over stdio, and a streamable-HTTP server on the mcp SDK's MCPServer
(tests/agent/tools/mcp_http_server.py), each killed and restarted: the tools are listed,
allow-listed and namespaced, reported unavailable while the server is down, and back
once it restarts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import mcp  # noqa: F401 - the mcp extra scripts/test installs: fail, never skip
import pytest

from sipgw.agent.tools.mcp_servers import McpServer, McpServerSpec
from sipgw.agent.tools.registry import ToolRegistry
from sipgw.app.evaluation.ports import free_port
from sipgw.foundation.tracing import CURRENT_SPAN, Span
from tests.agent.tools.fake_call import FakeCall
from tests.refcycles import garbage_of_ours

ROOT = Path(__file__).resolve().parents[3]


async def until(condition: Callable[[], bool], within: float = 30.0) -> None:
    """Wait for ``condition`` (checked every 50 ms), failing after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - a server process and a supervisor task
            await asyncio.sleep(0.05)


def offered(registry: ToolRegistry) -> list[str]:
    return [schema["function"]["name"] for schema in registry.schemas()]  # type: ignore[index]


def children_running(marker: str) -> list[int]:
    """Our child processes whose command line has ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and marker in cmdline and stat[0] != "Z":
            found.append(int(entry.name))
    return found


async def test_mcp_server_time_over_stdio_killed_and_restarted() -> None:
    spec = McpServerSpec(
        "time",
        frozenset({"get_current_time"}),  # convert_time is not allowed
        command=(sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"),
    )
    server = McpServer(spec, backoff=(0.2, 1.0), ping_every=0.5)
    registry = ToolRegistry()
    registry.add_provider(server)
    call = FakeCall()
    try:
        assert await server.ready(60)
        assert offered(registry) == ["time__get_current_time"]
        assert await server.ready(10)  # a reload's warm-up: listed again, not reconnected
        assert (server.listings, server.connects) == (2, 1)
        result = await registry.call("time__get_current_time", '{"timezone": "Asia/Tokyo"}', call)
        assert result.ok and result.source == "mcp"
        assert json.loads(result.content)["timezone"] == "Asia/Tokyo"
        refused = await registry.call("time__get_current_time", '{"timezone": 9}', call)
        assert refused.refused == "schema" and "is not of type 'string'" in refused.content
        wrong = await registry.call("time__get_current_time", '{"timezone": "Mars/Olympus"}', call)
        assert not wrong.ok and "Invalid timezone" in wrong.content
        assert (await registry.call("time__convert_time", "{}", call)).content.startswith(
            '{"error": "unknown tool'
        )

        (pid,) = children_running("mcp_server_time")
        os.kill(pid, signal.SIGKILL)
        await until(lambda: bool(server.unavailable()))
        assert offered(registry) == []
        down = await registry.call("time__get_current_time", '{"timezone": "UTC"}', call)
        assert down.refused == "unavailable" and "the time server is" in down.content

        await until(lambda: server.connects == 2 and not server.unavailable())
        assert children_running("mcp_server_time") != [pid]
        again = await registry.call("time__get_current_time", '{"timezone": "UTC"}', call)
        assert again.ok
    finally:
        await server.close()
    await until(lambda: not children_running("mcp_server_time"))


class HttpServer:
    """The streamable-HTTP MCP server as a process of its own, on a port that stays."""

    def __init__(self, mark: Path) -> None:
        self.port = free_port()
        self.mark = mark
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MCP_TEST_MARK": str(self.mark)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.agent.tools.mcp_http_server", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[HttpServer]:
    server = HttpServer(tmp_path / "slow-started")
    server.start()
    yield server
    server.kill()


async def test_a_streamable_http_server_killed_mid_call_and_restarted(
    http_server: HttpServer,
) -> None:
    spec = McpServerSpec(
        "billing",
        frozenset({"invoice_status", "slow_lookup"}),  # not delete_everything
        url=f"http://127.0.0.1:{http_server.port}/mcp",
        timeout=15.0,
    )
    server = McpServer(spec, backoff=(0.2, 1.0), ping_every=0.5)
    registry = ToolRegistry()
    registry.add_provider(server)
    call = FakeCall()
    try:
        await until(lambda: not server.unavailable())
        assert offered(registry) == ["billing__invoice_status", "billing__slow_lookup"]
        paid = await registry.call("billing__invoice_status", '{"number": "1042"}', call)
        assert paid.ok and json.loads(paid.content) == {"number": "1042", "status": "paid"}

        running = asyncio.ensure_future(
            registry.call("billing__slow_lookup", '{"seconds": 30}', call)
        )
        await until(http_server.mark.exists)  # the server is in the middle of the call
        http_server.kill()
        cut = await asyncio.wait_for(running, 20)
        assert not cut.ok and cut.refused == "" and "billing" in cut.content
        await until(lambda: bool(server.unavailable()))
        assert offered(registry) == []

        http_server.start()
        await until(lambda: server.connects == 2 and not server.unavailable())
        again = await registry.call("billing__invoice_status", '{"number": "7"}', call)
        assert again.ok
    finally:
        await server.close()


async def test_a_tool_call_carries_the_current_spans_traceparent_in_its_meta(
    http_server: HttpServer,
) -> None:
    from tests.sipgw.foundation.test_tracing import Recorded

    spec = McpServerSpec(
        "billing", frozenset({"trace_context"}), url=f"http://127.0.0.1:{http_server.port}/mcp"
    )
    server = McpServer(spec, backoff=(0.2, 1.0))
    registry = ToolRegistry()
    registry.add_provider(server)
    call = FakeCall()
    try:
        await until(lambda: not server.unavailable())
        untraced = await registry.call("billing__trace_context", "{}", call)
        assert untraced.ok and json.loads(untraced.content) == {"result": ""}

        async def traced(span: Span) -> object:
            CURRENT_SPAN.set(span)
            got = await registry.call("billing__trace_context", "{}", call)
            return json.loads(got.content)["result"]

        tool = Recorded().child("tool")
        assert await asyncio.create_task(traced(tool)) == tool.traceparent()
    finally:
        await server.close()


async def test_a_streamable_http_server_down_leaves_nothing_of_ours_to_the_collector(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While a server is down every restart fails to connect, and its failure (from the
    SDK's task groups) goes with its frames: they held the supervisor's, in a cycle for
    the collector, at each restart. (The SDK's cancelled task groups leave some 180
    objects a restart in cycles of their own, none of the gateway's.)"""
    spec = McpServerSpec("billing", frozenset({"invoice_status"}),
                         url=f"http://127.0.0.1:{free_port()}/mcp", timeout=5.0)  # fmt: skip
    server = McpServer(spec, backoff=(0.05, 0.05))
    caplog.set_level("WARNING", "sipgw")

    def restarts() -> int:
        return sum("billing is down" in r.getMessage() for r in caplog.records)

    try:
        with garbage_of_ours() as leftovers:
            server.start()
            await until(lambda: restarts() >= 4, within=10)
        assert "ConnectError" in server.unavailable()
    finally:
        await server.close()
    assert leftovers == []
