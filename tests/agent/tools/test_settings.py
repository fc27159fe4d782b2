"""The declared_tools section (agent/tools/settings.py): the tools file and the inline
JSON read together, secrets from the sources, and the limits every tool is held to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipgw.agent.tools.registry import ToolLimits
from sipgw.agent.tools.settings import DeclaredToolsSection, declared_tools, tool_limits
from sipgw.foundation.settings import ConfigError, Sources, load

TOOLS_FILE = """
[[http_tools]]
name = "invoice_status"
description = "An invoice's status."
url = "https://billing.example.com/invoices/{number}"
headers = { Authorization = "Bearer ${BILLING_TOKEN}" }
[http_tools.parameters]
type = "object"
required = ["number"]
properties = { number = { type = "string" } }

[mcp_servers.time]
command = ["bin/time-server"]
tools = ["*"]
"""


def test_the_file_and_the_lines_json_together(tmp_path: Path) -> None:
    path = tmp_path / "tools.toml"
    path.write_text(TOOLS_FILE)
    inline = {"mcp_servers": {"crm": {"url": "https://mcp.crm.example/mcp", "tools": ["a"]}}}
    env = {
        "SIPGW_TOOLS_FILE": str(path),
        "SIPGW_DECLARED_TOOLS": json.dumps(inline),
        "BILLING_TOKEN": "t0k",
    }
    sources = Sources(env)
    found = declared_tools(load(DeclaredToolsSection, sources), sources)
    assert found.http_tools[0].headers == {"Authorization": "Bearer t0k"}
    assert [s.name for s in found.mcp_servers] == ["time", "crm"]
    assert found.mcp_servers[0].command == (str(tmp_path / "bin/time-server"),)


def test_errors_name_the_file_or_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "tools.toml"
    path.write_text("[other]\n")
    sources = Sources({"SIPGW_TOOLS_FILE": str(path)})
    with pytest.raises(ConfigError, match=r"tools.toml: unknown key 'other'"):
        declared_tools(load(DeclaredToolsSection, sources), sources)
    sources = Sources(
        {"SIPGW_DECLARED_TOOLS": "{"}, {}, {"SIPGW_DECLARED_TOOLS": "routes.toml line 4"}
    )
    with pytest.raises(ConfigError, match=r"routes.toml line 4: not JSON"):
        declared_tools(load(DeclaredToolsSection, sources), sources)


def test_the_limits_and_their_defaults() -> None:
    assert tool_limits(DeclaredToolsSection()) == ToolLimits(20, 8, 16384)
    sources = Sources({"SIPGW_TOOL_CALLS_PER_CALL": "5", "SIPGW_TOOL_RESULT_MAX_BYTES": "0"})
    assert tool_limits(load(DeclaredToolsSection, sources)) == ToolLimits(5, 8, 0)
