"""Writing TOML (sipgw/app/configfile/tomlwrite.py): what tomllib reads back as it was."""

from __future__ import annotations

import datetime
import math
import tomllib
from typing import Any

import pytest

from sipgw.app.configfile.tomlwrite import dumps, toml_key, toml_value

DOCUMENTS: list[dict[str, Any]] = [
    {},
    {"default": "a", "unknown_status": 480, "ratio": 0.25, "on": True},
    {"lines": {"a": {"agent": "echo", "settings": {"SIPGW_X": 1}, "variables": {}}}},
    {"routes": [{"line": "a", "called": ["+1555", "x"]}, {"line": "b"}]},
    {
        "http_tools": [
            {
                "name": "t",
                "headers": {"Authorization": "Bearer ${T}"},
                "parameters": {
                    "type": "object",
                    "properties": {"n": {"type": "string", "enum": ["a", "b"]}},
                },
            },
            {"name": "u", "allow_hosts": []},
        ],
        "mcp_servers": {"time": {"command": ["x", "--tz", "UTC"], "env": {"A": "${A}"}}},
    },
    {"odd keys": {"with.dot": 'a"b\\c\n\té', "ünï": [1, [2, 3], {"k": "v"}]}},
    {"when": datetime.date(2026, 1, 2), "at": datetime.time(9, 30), "list": [{"a": 1}, 2]},
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_what_is_written_reads_back_the_same(document: dict[str, Any]) -> None:
    assert tomllib.loads(dumps(document)) == document


def test_values_and_keys() -> None:
    assert toml_key("sip_port") == "sip_port" and toml_key("a b") == '"a b"'
    assert toml_value(True) == "true" and toml_value(5) == "5" and toml_value(0.5) == "0.5"
    assert toml_value(math.inf) == "inf" and toml_value({}) == "{}"
    assert tomllib.loads(f"x = {toml_value(math.nan)}")["x"] != 0
    with pytest.raises(TypeError, match="cannot write object"):
        toml_value(object())
