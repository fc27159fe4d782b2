"""``sipgw config convert`` (sipgw/app/configfile/convert.py): a routes file and a tools file
become settings-file tables that load to the same lines, routes and tools."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sipgw.agent.tools.declared import Declarations, parse_declarations
from sipgw.app.configfile.convert import convert
from sipgw.app.configfile.read import TOOLS_KEYS
from sipgw.app.lines.routesfile import LineSpec, RoutesFile, Written, parse_routes_file
from sipgw.foundation.settings import ConfigError
from tests.agent.tools.test_settings import TOOLS_FILE
from tests.sipgw.app.lines.test_routesfile import GOOD

ENVIRON = {"BILLING_TOKEN": "t0k"}


def comparable(routes: RoutesFile) -> tuple[Any, ...]:
    """The lines and routes without where they were written (their lines move)."""

    def path(written: Written) -> Written:  # old/x and new/../old/x are the same file
        value = str(written.value)
        if value.startswith("/"):
            file, sep, function = value.partition(":")
            value = os.path.normpath(file) + sep + function
        return Written(value, "")

    def tools(written: Written | None) -> Written | None:
        if written is None:
            return None
        tables = json.loads(str(written.value))
        for server in tables.get("mcp_servers", {}).values():
            server["command"] = [os.path.normpath(server["command"][0]), *server["command"][1:]]
        return Written(json.dumps(tables), "")

    def line(spec: LineSpec) -> LineSpec:
        return dataclasses.replace(
            spec,
            where="",
            in_settings_file=False,
            keys={key: path(w) for key, w in spec.keys.items()},
            settings={key: dataclasses.replace(w, where="") for key, w in spec.settings.items()},
            declared_tools=tools(spec.declared_tools),
        )

    lines = {name: line(spec) for name, spec in routes.lines.items()}
    found = tuple(dataclasses.replace(route, where="") for route in routes.routes)
    return lines, found, routes.default, routes.unknown_status


def normalized(declared: Declarations) -> Declarations:
    """The servers' commands as normal paths (old/x and new/../old/x are the same file)."""
    servers = tuple(
        dataclasses.replace(
            server, command=(os.path.normpath(server.command[0]), *server.command[1:])
        )
        for server in declared.mcp_servers
    )
    return dataclasses.replace(declared, mcp_servers=servers)


def old_files(tmp_path: Path) -> tuple[Path, Path]:
    old = tmp_path / "old"
    old.mkdir()
    (old / "schema.json").write_text(json.dumps({"type": "object", "properties": {}}))
    routes, tools = old / "routes.toml", old / "tools.toml"
    line_tools = (
        '\n[[lines.sales.http_tools]]\nname = "crm"\ndescription = "The CRM."\n'
        'url = "https://crm.example/x"\n[lines.sales.mcp_servers.local]\n'
        'command = ["bin/local-server"]\ntools = ["*"]\n'
    )
    routes.write_text(GOOD.replace("\n[lines.support]\n", line_tools + "\n[lines.support]\n"))
    tools.write_text(TOOLS_FILE)
    return routes, tools


@pytest.mark.parametrize("folder", ["old", "new"])
def test_the_tables_load_to_the_same_lines_and_tools(tmp_path: Path, folder: str) -> None:
    routes, tools = old_files(tmp_path)
    target = tmp_path / folder
    target.mkdir(exist_ok=True)
    converted = target / "sipgw.toml"
    converted.write_text(convert(routes, tools, target))
    assert comparable(parse_routes_file(converted, settings_file=True)) == comparable(
        parse_routes_file(routes)
    )
    new = tomllib.loads(converted.read_text())
    old = tomllib.loads(tools.read_text())
    found = parse_declarations({k: new[k] for k in TOOLS_KEYS if k in new}, "x", ENVIRON, target)
    assert normalized(found) == normalized(parse_declarations(old, "x", ENVIRON, tools.parent))
    if folder == "new":  # relative paths were rewritten for the new folder
        assert new["lines"]["sales"]["prompt_file"] == "../old/prompts/sales.txt"
        assert new["mcp_servers"]["time"]["command"] == ["../old/bin/time-server"]


def test_one_file_alone_and_none(tmp_path: Path) -> None:
    routes, tools = old_files(tmp_path)
    assert "[[routes]]" in convert(routes, None, tmp_path)
    assert "[[http_tools]]" in convert(None, tools, tmp_path)
    with pytest.raises(ConfigError, match="nothing to convert"):
        convert(None, None, tmp_path)


def test_a_bad_file_is_not_converted(tmp_path: Path) -> None:
    routes, tools = old_files(tmp_path)
    routes.write_text('[lines.a]\nmax_calls = "x"\n[[routes]]\nline = "a"\n')
    with pytest.raises(ConfigError, match=r"routes.toml line 2: line 'a': max_calls"):
        convert(routes, None, tmp_path)
    tools.write_text("[other]\n")
    with pytest.raises(ConfigError, match="unknown key 'other'"):
        convert(None, tools, tmp_path)
