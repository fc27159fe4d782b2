"""The tool registry (sipgw.agent.tools.registry) and user tools modules; the built-in tools are in
test_builtin.py."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest

from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.tools.registry import (
    Tool,
    ToolError,
    ToolLoadError,
    ToolRegistry,
    load_user_tools,
)
from sipgw.foundation.redact import Redactor
from tests.agent.tools.fake_call import FakeCall, assistant_settings, registry_for

# -- the registry ---------------------------------------------------------------------


def make_tool(name="echo", handler=None, timeout=1.0, parameters=None) -> Tool:
    async def echo(ctx, args):
        return args

    return Tool(
        name=name,
        description=f"The {name} tool.",
        parameters=parameters
        or {
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "count": {"type": "integer"},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "note": {"type": ["string", "null"]},
            },
            "required": ["text"],
        },
        handler=handler or echo,
        timeout=timeout,
    )


def test_schemas_are_the_openai_tools_parameter():
    registry = registry_for()
    schemas: list[Any] = registry.schemas()
    assert [s["function"]["name"] for s in schemas] == [
        "get_order_status",
        "schedule_callback",
        "take_message",
        "transfer_to_human",
        "end_call",
        "who_answered",
    ]
    for schema in schemas:
        assert schema["type"] == "function"
        assert set(schema["function"]) == {"name", "description", "parameters"}
        assert schema["function"]["parameters"]["type"] == "object"
    json.dumps(schemas)


def test_duplicate_names_are_refused():
    registry = ToolRegistry([make_tool()])
    with pytest.raises(ValueError, match="'echo' is registered already"):
        registry.register(make_tool())


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ('{"text": ', "invalid arguments for echo: not valid JSON"),
        ("[1, 2]", "invalid arguments for echo: expected a JSON object, got list"),
        ("{}", "missing required argument(s): text"),
        ('{"text": 5}', "'text' should be string, got int"),
        ('{"text": "x", "count": true}', "'count' should be integer, got bool"),
        ('{"text": "x", "mode": "c"}', "'mode' should be one of ['a', 'b'], got 'c'"),
    ],
)
async def test_bad_arguments_become_error_results(arguments, error):
    result = await ToolRegistry([make_tool()]).call("echo", arguments, FakeCall())
    assert not result.ok
    assert error in json.loads(result.content)["error"]


async def test_good_arguments_reach_the_handler():
    registry = ToolRegistry([make_tool()])
    args = {"text": "hi", "count": 2, "note": None, "extra": [1]}
    result = await registry.call("echo", json.dumps(args), FakeCall())
    assert result.ok and json.loads(result.content) == args
    assert result.elapsed >= 0
    empty = ToolRegistry([make_tool(parameters={"type": "object", "properties": {}})])
    assert (await empty.call("echo", "", FakeCall())).content == "{}"


async def test_unknown_tool():
    result = await ToolRegistry().call("launch_rockets", "{}", FakeCall())
    assert json.loads(result.content) == {"error": "unknown tool 'launch_rockets'"}


async def test_timeout_exception_and_tool_error_become_results():
    async def slow(ctx, args):
        await asyncio.sleep(10)

    async def broken(ctx, args):
        raise RuntimeError("database on fire")

    async def polite(ctx, args):
        raise ToolError("the store is closed")

    async def odd(ctx, args):
        return {1, 2}

    registry = ToolRegistry(
        [
            make_tool("slow", slow, timeout=0.05),
            make_tool("broken", broken),
            make_tool("polite", polite),
            make_tool("odd", odd),
        ]
    )
    results = {
        name: await registry.call(name, '{"text": "x"}', FakeCall())
        for name in ("slow", "broken", "polite", "odd")
    }
    assert all(not r.ok for r in results.values())
    errors = {name: json.loads(r.content)["error"] for name, r in results.items()}
    assert errors["slow"] == "slow timed out after 0.05 s"
    assert errors["broken"] == "broken failed: RuntimeError: database on fire"
    assert errors["polite"] == "the store is closed"
    assert errors["odd"].startswith("odd returned a result that is not JSON")
    assert results["slow"].elapsed < 1


async def test_a_tools_exception_reaches_the_model_redacted():
    """Issue 21: a tool's exception went to the LLM as it was, so an HTTP client's error
    naming ``https://api.example/orders?api_key=...`` could be read out to the caller."""
    key = "sk-live-0123456789abcdef"  # not a canary: the unfiltered test log shows it

    async def leaky(ctx, args):
        raise RuntimeError(
            f"500 from https://user:hunter22@crm.example/v1/orders?key={key}&id=7 ({key})"
        )

    async def chatty(ctx, args):
        raise ToolError(f"upstream said: Authorization: Bearer {key}; card 4111 1111 1111 1111")

    settings = AssistantSettings(redactor=Redactor([key]))
    registry = ToolRegistry([make_tool("leaky", leaky), make_tool("chatty", chatty)])
    ctx = FakeCall(settings=settings)
    leaked = json.loads((await registry.call("leaky", '{"text": "x"}', ctx)).content)["error"]
    told = json.loads((await registry.call("chatty", '{"text": "x"}', ctx)).content)["error"]
    for text in (leaked, told):
        assert key not in text and "hunter22" not in text
    assert (
        leaked == "leaky failed: RuntimeError: 500 from https://***@crm.example/v1/orders?*** (***)"
    )
    assert "4111" not in told and "[card ****1111]" in told
    long = ToolRegistry([make_tool("long", lambda c, a: _raise(RuntimeError("x" * 5000)))])
    text = json.loads((await long.call("long", '{"text": "x"}', FakeCall())).content)["error"]
    assert len(text) < 300


async def _raise(exc: Exception) -> None:
    raise exc


async def test_cancellation_propagates():
    started = asyncio.Event()

    async def slow(ctx, args):
        started.set()
        await asyncio.sleep(10)

    registry = ToolRegistry([make_tool("slow", slow, timeout=20)])
    task = asyncio.create_task(registry.call("slow", '{"text": "x"}', FakeCall()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- user tools modules -------------------------------------------------------------------


async def test_user_tools_module_by_name():
    registry = ToolRegistry()
    load_user_tools("tests.agent.example_tools", registry)
    assert registry.names == ["store_hours", "caller_greeting"]
    hours = await registry.call("store_hours", '{"city": "Berlin"}', FakeCall())
    assert json.loads(hours.content) == {"city": "berlin", "hours": "9 am to 6 pm"}
    missing = await registry.call("store_hours", '{"city": "Paris"}', FakeCall())
    assert json.loads(missing.content) == {"error": "no store in Paris"}
    greeting = await registry.call("caller_greeting", "{}", FakeCall(caller="sip:bob@x"))
    assert greeting.content == "The caller is sip:bob@x."


async def test_a_user_tool_reads_its_own_variables_and_the_typed_settings(tmp_path, monkeypatch):
    """What docs/configuration.md promises a tools module: os.environ and ctx.settings."""
    path = tmp_path / "shop_tools.py"
    path.write_text(
        "import os\n"
        "from sipgw.agent.tools.registry import Tool\n"
        "async def desk(ctx, args):\n"
        "    return {'url': os.environ['MYSHOP_URL'],\n"
        "            'target': ctx.settings.builtin_tools.transfer_target}\n"
        "TOOLS = [Tool('desk', 'The desk.', {'type': 'object', 'properties': {}}, desk)]\n"
    )
    monkeypatch.setenv("MYSHOP_URL", "http://shop.example")
    registry = ToolRegistry()
    load_user_tools(str(path), registry)
    ctx = FakeCall(settings=assistant_settings(transfer_target="sip:desk@pbx.example"))
    result = await registry.call("desk", "{}", ctx)
    assert json.loads(result.content) == {
        "url": "http://shop.example",
        "target": "sip:desk@pbx.example",
    }


def test_user_tools_module_from_a_file_path(tmp_path):
    path = tmp_path / "my_tools.py"
    path.write_text(EXAMPLE_MODULE.format(name="file_tool"))
    registry = ToolRegistry()
    load_user_tools(str(path), registry)
    assert registry.names == ["file_tool"]


def test_user_tools_module_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "cwd_tools_mod.py").write_text(EXAMPLE_MODULE.format(name="cwd_tool"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "cwd_tools_mod", raising=False)
    registry = ToolRegistry()
    load_user_tools("cwd_tools_mod", registry)
    assert registry.names == ["cwd_tool"]
    monkeypatch.delitem(sys.modules, "cwd_tools_mod")


EXAMPLE_MODULE = """
from sipgw.agent.tools.registry import Tool

async def handler(ctx, args):
    return "ok"

TOOLS = [Tool("{name}", "A tool.", {{"type": "object", "properties": {{}}}}, handler)]
"""


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def broken(:\n", "failed to import: SyntaxError"),
        ("raise RuntimeError('no config')\n", "failed to import: RuntimeError: no config"),
        ("import no_such_dependency_xyz\n", "No module named 'no_such_dependency_xyz'"),
        ("X = 1\n", "defines neither TOOLS nor register()"),
        ("TOOLS = 'store_hours'\n", "TOOLS must be a list of Tool, not str"),
        ("TOOLS = [42]\n", "TOOLS holds a int, not a Tool"),
        ("def register(registry):\n    raise KeyError('x')\n", "register() failed: KeyError"),
        (EXAMPLE_MODULE.format(name="end_call"), "'end_call' is registered already"),
    ],
    ids=[
        "syntax",
        "raises",
        "missing-dependency",
        "neither",
        "tools-not-list",
        "not-a-tool",
        "register-fails",
        "duplicate",
    ],
)
def test_broken_user_tools_modules_give_clear_errors(tmp_path, monkeypatch, source, problem):
    name = f"broken_tools_{abs(hash(source))}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(ToolLoadError) as info:
        load_user_tools(name, registry_for())
    assert f"tools module {name!r}" in str(info.value)
    assert problem in str(info.value)
    sys.modules.pop(name, None)


def test_missing_user_tools_module():
    with pytest.raises(ToolLoadError, match="tools module 'no_such_tools_module' not found"):
        load_user_tools("no_such_tools_module", ToolRegistry())
    with pytest.raises(ToolLoadError, match="not found"):
        load_user_tools("/nonexistent/tools.py", ToolRegistry())
