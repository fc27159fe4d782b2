"""Tool registry, built-in tools and user tools modules."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.settings import AssistantSettings, BuiltinToolSettings
from agent.tools.builtin import builtin_tools, caller_number, normalize_order_id
from agent.tools.callback_store import dialable_number
from agent.tools.registry import (
    Tool,
    ToolError,
    ToolLoadError,
    ToolRegistry,
    load_user_tools,
)
from sipgw.dialpolicy import DialPolicy


def assistant_settings(**builtin: Any) -> AssistantSettings:
    return AssistantSettings(builtin_tools=BuiltinToolSettings(**builtin))


@dataclass
class FakeCall:
    """A ToolContext for tests: records what the tools did to the call."""

    call_id: str = "call-1@test"
    caller: str = '"Bob" <sip:+15551234567@trunk.example;user=phone>'
    settings: AssistantSettings = field(default_factory=assistant_settings)
    transfer_accepted: bool = True
    transfers: list[str] = field(default_factory=list)
    transfers_after_reply: list[str] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    hangups: int = 0

    async def transfer(self, target: str) -> bool:
        self.transfers.append(target)
        return self.transfer_accepted

    def send_dtmf(self, digits: str) -> None:
        self.dtmf.append(digits)

    def hangup_after_reply(self) -> None:
        self.hangups += 1

    def transfer_after_reply(self, target: str) -> None:
        self.transfers_after_reply.append(target)


ANY_NUMBER = DialPolicy(["+*", "[0-9]*"])
"""An allow-list admitting every number, for tests about something else than toll fraud."""


def registry_for(**settings: Any) -> ToolRegistry:
    """The built-in tools; callbacks may dial any number unless the test sets their rules."""
    if "callback_allowed_prefixes" not in settings:
        settings.setdefault("dial_policy", ANY_NUMBER)
    return ToolRegistry(builtin_tools(BuiltinToolSettings(**settings)))


async def call(registry: ToolRegistry, name: str, args: Any, ctx: FakeCall | None = None):
    arguments = args if isinstance(args, str) else json.dumps(args)
    return await registry.call(name, arguments, ctx or FakeCall())


# -- get_order_status ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("1234", "1234"),
        ("1 2 3 4", "1234"),
        ("#1234", "1234"),
        ("order 1234", "1234"),
        ("Order No. 1234.", "1234"),
        ("order number one two three four", "1234"),
        ("it's one double two three", "1223"),
        ("oh oh seven", "007"),
        ("ab-12", "AB12"),
        ("", ""),
    ],
)
def test_order_id_normalisation(spoken, expected):
    assert normalize_order_id(spoken) == expected


def test_sample_orders_file_is_packaged_and_complete():
    data = json.loads(resources.files("agent.tools").joinpath("sample_orders.json").read_text())
    orders = data["orders"]
    assert len(orders) == 10
    assert len({order["id"] for order in orders}) == 10
    for order in orders:
        assert set(order) == {"id", "status", "items", "eta", "carrier"}
        assert isinstance(order["items"], list) and order["items"]


@pytest.mark.parametrize("spoken", ["1 2 3 4", "#1234", "order 1234", "one two three four"])
async def test_order_status_from_the_sample_file(spoken):
    result = await call(registry_for(), "get_order_status", {"order_id": spoken})
    assert result.ok
    assert json.loads(result.content) == {
        "order_id": "1234",
        "status": "shipped",
        "items": ["blue winter jacket", "wool scarf"],
        "eta": "tomorrow by 8 pm",
        "carrier": "DHL",
    }


async def test_unknown_order_is_an_error_the_model_can_speak():
    result = await call(registry_for(), "get_order_status", {"order_id": "9 9 9 9"})
    assert not result.ok
    assert json.loads(result.content) == {"error": "no order with the number 9999"}


async def test_order_number_missing():
    result = await call(registry_for(), "get_order_status", {"order_id": "the order"})
    assert json.loads(result.content) == {"error": "no order number given; ask the caller for it"}


@pytest.mark.parametrize(
    "content",
    [
        [{"id": "ORD-77", "status": "packed", "items": ["mug"], "eta": "Monday", "carrier": "UPS"}],
        {"ORD-77": {"status": "packed", "items": ["mug"], "eta": "Monday", "carrier": "UPS"}},
    ],
    ids=["list", "keyed-by-id"],
)
async def test_orders_file_from_settings(tmp_path, content):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(content))
    registry = registry_for(orders_file=path)
    by_digits = await call(registry, "get_order_status", {"order_id": "7 7"})
    assert json.loads(by_digits.content)["status"] == "packed"
    exact = await call(registry, "get_order_status", {"order_id": "ord 77"})
    assert json.loads(exact.content)["order_id"] == "ORD-77"


async def test_orders_file_missing_is_a_polite_error(tmp_path):
    registry = registry_for(orders_file=tmp_path / "nope.json")
    result = await call(registry, "get_order_status", {"order_id": "1234"})
    assert not result.ok
    assert "unavailable" in json.loads(result.content)["error"]


# -- schedule_callback -----------------------------------------------------------------


def callback_rows(path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT id, call_id, phone, requested_time, reason, status FROM callbacks"
        ).fetchall()


def due_times(path) -> list[float]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT due_at FROM callbacks ORDER BY id")]


async def test_callback_row_is_written_pending_with_its_due_time(tmp_path):
    db = tmp_path / "data" / "callbacks.sqlite3"
    registry = registry_for(callback_db=db, callback_timezone="America/New_York")
    new_york = ZoneInfo("America/New_York")
    day = datetime.now(new_york).date() + timedelta(days=30)
    local = datetime(day.year, day.month, day.day, 15, 0, tzinfo=new_york)
    when = f"{day.isoformat()}T15:00"  # local time: the zone's offset applies
    args = {"phone": "+1 (555) 000-1111", "time": when, "reason": "refund"}
    result = await call(registry, "schedule_callback", args)
    assert result.ok, result.content
    offset = local.strftime("%z")
    assert json.loads(result.content) == {
        "scheduled": True,
        "callback_id": 1,
        "phone": "+15550001111",
        "time": when,
        "due": f"{local:%A %Y-%m-%d} 15:00 (UTC{offset[:3]}:{offset[3:]})",
    }
    second = await call(registry, "schedule_callback", {**args, "reason": "again"})
    assert json.loads(second.content)["callback_id"] == 2
    assert callback_rows(db) == [
        (1, "call-1@test", "+15550001111", when, "refund", "pending"),
        (2, "call-1@test", "+15550001111", when, "again", "pending"),
    ]
    assert due_times(db) == [local.timestamp()] * 2
    assert local.astimezone(UTC).hour in (19, 20)  # 15:00 New York is 19:00 or 20:00 UTC


async def test_callback_times_now_and_relative(tmp_path):
    db = tmp_path / "cb.sqlite3"
    registry = registry_for(callback_db=db)
    before = time.time()
    for when in ("now", "in 10 minutes", "in 2 hours"):
        result = await call(registry, "schedule_callback", {"time": when})
        assert result.ok, result.content
    now, ten, two_hours = due_times(db)
    assert before <= now <= time.time()
    assert abs(ten - now - 600) < 5 and abs(two_hours - now - 7200) < 5


@pytest.mark.parametrize(
    ("when", "error"),
    [
        ("tomorrow at 3 pm", "give an ISO 8601 date and time"),
        ("2001-01-01T10:00", "that time has passed: it is now"),
        ("2999-01-01T10:00", "more than a year ahead"),
    ],
)
async def test_callback_times_we_cannot_use_are_explained_to_the_model(tmp_path, when, error):
    registry = registry_for(callback_db=tmp_path / "cb.sqlite3")
    result = await call(registry, "schedule_callback", {"time": when})
    assert not result.ok
    assert error in json.loads(result.content)["error"]
    assert not (tmp_path / "cb.sqlite3").exists()


async def test_callback_phone_defaults_to_the_caller(tmp_path):
    db = tmp_path / "cb.sqlite3"
    registry = registry_for(callback_db=db)
    result = await call(registry, "schedule_callback", {"time": "in 1 day"})
    assert json.loads(result.content)["phone"] == "+15551234567"
    assert callback_rows(db)[0][2:5] == ("+15551234567", "in 1 day", "")


async def test_callback_for_an_anonymous_caller_needs_a_number(tmp_path):
    registry = registry_for(callback_db=tmp_path / "cb.sqlite3")
    ctx = FakeCall(caller="sip:anonymous@anonymous.invalid")
    result = await call(registry, "schedule_callback", {"time": "now"}, ctx)
    assert not result.ok
    assert "ask the caller" in json.loads(result.content)["error"]


@pytest.mark.parametrize(
    ("phone", "caller", "error"),
    [
        ("sip:premium@evil.example", None, "is not a phone number"),
        ("call me at home", None, "is not a phone number"),
        ("12", None, "is not a phone number"),
        (None, "sip:alice@example.com", "the caller's address is not a phone number"),
        ("+900 123 4567", None, "can only call back numbers starting with +1 or +44"),
    ],
)
async def test_callback_numbers_are_phone_numbers_within_the_allowed_prefixes(
    tmp_path, phone, caller, error
):
    db = tmp_path / "cb.sqlite3"
    registry = registry_for(callback_db=db, callback_allowed_prefixes=("+1", "+44"))
    args = {"time": "now"} if phone is None else {"time": "now", "phone": phone}
    ctx = FakeCall(caller=caller) if caller else FakeCall()
    result = await call(registry, "schedule_callback", args, ctx)
    assert not result.ok
    assert error in json.loads(result.content)["error"]
    assert not db.exists()


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("+1 (555) 123-4567", "+15551234567"),
        ("0044 20 7946 0000", "+442079460000"),
        ("tel:+4930123456", "+4930123456"),
        ("sip:+15551234567@trunk.example;user=phone", "+15551234567"),
        ("1001", "1001"),
    ],
)
def test_dialable_numbers(text, number):
    assert dialable_number(text) == number


async def test_callback_without_time_is_rejected_by_the_schema(tmp_path):
    registry = registry_for(callback_db=tmp_path / "cb.sqlite3")
    result = await call(registry, "schedule_callback", {"reason": "x"})
    assert json.loads(result.content)["error"] == (
        "invalid arguments for schedule_callback: missing required argument(s): time"
    )
    assert not (tmp_path / "cb.sqlite3").exists()


@pytest.mark.parametrize(
    ("uri", "number"),
    [
        ("sip:+15551234567@trunk.example", "+15551234567"),
        ('"Bob" <sips:alice@example.com;transport=tls>', "alice"),
        ("tel:+4930123456", "+4930123456"),
        ("+4930123456", "+4930123456"),
        ("sip:anonymous@anonymous.invalid", ""),
    ],
)
def test_caller_number(uri, number):
    assert caller_number(uri) == number


# -- transfer_to_human and end_call ----------------------------------------------------

TARGET = "sip:support@pbx.example.com"


TO_TARGET = DialPolicy(per_action={"transfer": (TARGET,)})
"""What the app's policy holds when SIPGW_TRANSFER_TARGET is set."""


async def test_transfer_waits_for_the_handoff_line():
    ctx = FakeCall()
    result = await call(
        registry_for(transfer_target=TARGET, dial_policy=TO_TARGET),
        "transfer_to_human", {"reason": "x"}, ctx,
    )  # fmt: skip
    content = json.loads(result.content)
    assert result.ok and content["transferring"] is True and "handoff line" in content["note"]
    assert ctx.transfers_after_reply == [TARGET]  # the agent transfers once the line is heard
    assert ctx.transfers == []  # nothing at once


async def test_transfer_to_a_target_the_policy_refuses_is_told_at_once():
    ctx = FakeCall()
    result = await call(
        registry_for(transfer_target=TARGET), "transfer_to_human", {"reason": "x"}, ctx
    )
    assert not result.ok and result.refused
    assert ctx.transfers_after_reply == [] and ctx.transfers == []


async def test_transfer_not_configured():
    ctx = FakeCall()
    result = await call(registry_for(), "transfer_to_human", {"reason": "x"}, ctx)
    assert not result.ok
    assert json.loads(result.content) == {"error": "transfer not configured"}
    assert ctx.transfers == []


async def test_end_call_hangs_up_after_the_reply():
    ctx = FakeCall()
    result = await call(registry_for(), "end_call", {"reason": "goodbye"}, ctx)
    assert result.ok and json.loads(result.content) == {"ok": True}
    assert ctx.hangups == 1


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
        "transfer_to_human",
        "end_call",
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
        "from agent.tools.registry import Tool\n"
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
from agent.tools.registry import Tool

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
