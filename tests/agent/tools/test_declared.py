"""Declared tools (agent/tools/declared.py): the tables read and checked, secrets from the
environment only."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from sipgw.agent.tools.declared import parse_declarations

PARAMS = {"type": "object", "properties": {"number": {"type": "string"}}, "required": ["number"]}


def http(**changes: Any) -> dict[str, Any]:
    table = {
        "name": "invoice_status",
        "description": "An invoice's status.",
        "url": "https://billing.example.com/invoices/{number}",
        "headers": {"Authorization": "Bearer ${BILLING_TOKEN}", "Accept": "application/json"},
        "parameters": PARAMS,
    }
    table.update(changes)
    return {"http_tools": [table]}


def test_an_http_tool_with_its_secret_from_the_environment() -> None:
    found = parse_declarations(http(timeout=3), "tools.toml", {"BILLING_TOKEN": "t0k"})
    (tool,) = found.http_tools
    assert tool.headers == {"Authorization": "Bearer t0k", "Accept": "application/json"}
    assert (tool.method, tool.timeout, tool.max_bytes) == ("GET", 3.0, 65536)
    assert "t0k" not in repr(tool)
    shape_only = parse_declarations(http(), "tools.toml")  # the routes file's check
    assert shape_only.http_tools[0].headers["Authorization"] == "Bearer ${BILLING_TOKEN}"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"headers": {"Authorization": "Bearer abc123"}}, "carries credentials: take them from"),
        ({"headers": {"X-Api-Key": "abc123"}}, "X-Api-Key carries credentials"),
        ({"url": "https://{number}.example.com/"}, "may not set the scheme, host or port"),
        ({"url": "https://b.example/{other}"}, "uses {other}, which parameters does not declare"),
        ({"parameters": {"type": "object", "properties": {"number": {"type": "string"}}}},
         "uses {number}: it must be required"),
        ({"name": "crm__lookup"}, "no __"),
        ({"method": "TRACE"}, "method must be one of"),
        ({"timeout": 600}, "timeout must be a number above 0 and at most 60"),
        ({"parameters": {"type": "object", "anyOf": []}}, "unsupported keyword 'anyOf'"),
        ({"verb": "GET"}, "unknown key 'verb'"),
        ({"parameters": {"type": "object", "default": datetime.date(2026, 1, 1)}},
         "not JSON serializable"),
    ],
)  # fmt: skip
def test_what_an_http_tool_may_not_be(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("(", r"\(")):
        parse_declarations(http(**changes), "tools.toml", {"BILLING_TOKEN": "x"})


def test_a_missing_variable_is_named_not_its_value() -> None:
    with pytest.raises(ValueError, match=r"uses \$\{BILLING_TOKEN\}, which is not set"):
        parse_declarations(http(), "tools.toml", {})


def test_mcp_servers_stdio_and_http(tmp_path: Path) -> None:
    data = {
        "mcp_servers": {
            "time": {"command": ["bin/time-server", "--utc"], "tools": ["get_current_time"]},
            "crm": {
                "url": "https://mcp.crm.example/mcp",
                "headers": {"Authorization": "Bearer ${CRM}"},
                "tools": ["*"],
                "timeout": 4,
            },
        }
    }
    time, crm = parse_declarations(data, "routes.toml", {"CRM": "c"}, tmp_path).mcp_servers
    assert time.command == (str(tmp_path / "bin/time-server"), "--utc")
    assert time.transport == "stdio" and time.tools == frozenset({"get_current_time"})
    assert crm.transport == "http" and dict(crm.headers) == {"Authorization": "Bearer c"}
    assert "Bearer c" not in repr(crm)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"command": ["x"]}, "tools is missing"),
        ({"tools": ["*"]}, "either command"),
        ({"command": ["x"], "url": "https://a.example", "tools": ["*"]}, "either command"),
        ({"url": "ftp://a.example", "tools": ["*"]}, "http:// or https://"),
    ],
)
def test_what_an_mcp_server_may_not_be(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_declarations({"mcp_servers": {"s": table}}, "tools.toml", {})
    with pytest.raises(ValueError, match="1 to 24 letters"):
        parse_declarations({"mcp_servers": {"a__b": {"command": ["x"], "tools": ["*"]}}}, "f")
