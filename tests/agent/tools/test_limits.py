"""What every tool, whatever its source, is held to (agent/tools/registry.py): per-call and
per-tool call limits, the result size, namespaces nothing can shadow, a provider's tools
offered only while it is up."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from sipgw.agent.tools.registry import Tool, ToolLimits, ToolRegistry
from tests.agent.tools.fake_call import FakeCall

OPEN = {"type": "object", "properties": {}}


def tool(name: str, result: object = "done", **kw: Any) -> Tool:
    async def handler(ctx: Any, args: dict[str, Any]) -> object:
        return result

    return Tool(name, f"The {name} tool.", OPEN, handler, **kw)


class Provider:
    """An MCP server as the registry sees it."""

    def __init__(self, prefix: str, names: Sequence[str]) -> None:
        self.prefix = prefix
        self.why = ""
        self._tools = [tool(prefix + name, source="mcp") for name in names]

    def tools(self) -> Sequence[Tool]:
        return [] if self.why else self._tools

    def unavailable(self) -> str:
        return self.why


async def test_a_phone_call_has_so_many_tool_calls_in_all() -> None:
    registry = ToolRegistry([tool("a"), tool("b")], ToolLimits(per_call=3, per_tool=0))
    call = FakeCall()
    results = [await registry.call(n, "{}", call) for n in ("a", "b", "a", "b")]
    assert [r.ok for r in results] == [True, True, True, False]
    assert results[-1].refused == "limit" and "used its 3 tool calls" in results[-1].content
    assert (await registry.call("a", "{}", FakeCall(call_id="another"))).ok  # per call


async def test_one_tool_has_so_many_calls_and_its_own_limit_wins() -> None:
    registry = ToolRegistry([tool("a"), tool("b", max_calls=1)], ToolLimits(per_tool=2))
    call = FakeCall()
    assert [(await registry.call("a", "{}", call)).ok for _ in range(3)] == [True, True, False]
    assert [(await registry.call("b", "{}", call)).ok for _ in range(2)] == [True, False]


async def test_a_refused_call_does_not_count() -> None:
    registry = ToolRegistry([tool("a")], ToolLimits(per_call=1))
    call = FakeCall()
    assert (await registry.call("a", '{"x": ', call)).refused == "schema"
    assert (await registry.call("a", "{}", call)).ok


async def test_a_result_over_the_limit_is_an_error_not_a_truncation() -> None:
    registry = ToolRegistry(
        [tool("big", "x" * 100), tool("small", "x" * 10)], ToolLimits(result_bytes=50)
    )
    big = await registry.call("big", "{}", FakeCall())
    assert not big.ok and json.loads(big.content) == {
        "error": "big returned 100 bytes, over the limit of 50"
    }
    assert (await registry.call("small", "{}", FakeCall())).ok


async def test_results_from_outside_are_masked_as_the_record_is() -> None:
    secret = "Bearer abcdefgh12345678"
    registry = ToolRegistry([tool("svc", {"key": secret}, source="http"), tool("mine", secret)])
    masked = (await registry.call("svc", "{}", FakeCall())).content
    assert secret not in masked and "abcdefgh12345678" not in masked
    assert secret in (await registry.call("mine", "{}", FakeCall())).content  # operator's code


def test_namespaces_cannot_shadow_each_other_or_a_tool() -> None:
    registry = ToolRegistry([tool("time_now")])
    registry.add_provider(Provider("time__", ["now"]))
    with pytest.raises(ValueError, match="overlaps"):
        registry.add_provider(Provider("time__", ["now"]))
    with pytest.raises(ValueError, match="namespace 'time__'"):
        registry.register(tool("time__now"))
    clash = ToolRegistry([tool("crm__lookup")])
    with pytest.raises(ValueError, match="namespace 'crm__'"):
        clash.add_provider(Provider("crm__", ["lookup"]))


async def test_a_providers_tools_are_offered_only_while_it_is_up() -> None:
    server = Provider("time__", ["now"])
    registry = ToolRegistry([tool("a")])
    registry.add_provider(server)
    names = [s["function"]["name"] for s in registry.schemas()]  # type: ignore[index]
    assert names == ["a", "time__now"]
    assert (await registry.call("time__now", "{}", FakeCall())).ok
    server.why = "the time server is down (restarting)"
    assert [s["function"]["name"] for s in registry.schemas()] == ["a"]  # type: ignore[index]
    result = await registry.call("time__now", "{}", FakeCall())
    assert (result.ok, result.refused, result.source) == (False, "unavailable", "mcp")
    assert "time__now is unavailable right now: the time server is down" in result.content
    assert (await registry.call("nobody__x", "{}", FakeCall())).content.startswith(
        '{"error": "unknown'
    )
