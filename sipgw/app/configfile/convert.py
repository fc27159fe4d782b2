"""``sipgw config convert``: a routes file and a tools file, written as settings-file tables.

The routes file's ``default``, ``unknown_status``, ``[lines.NAME]`` and ``[[routes]]`` and
the tools file's ``[[http_tools]]`` and ``[mcp_servers.NAME]`` keep their schema in the
settings file (``sipgw.toml``); only the relative paths change, as they were relative to
their old file's folder and are now relative to the new file's (the working directory when
the tables are printed). Both files are checked first, as ``sipgw serve`` would read them.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sipgw.agent.tools.declared import parse_declarations
from sipgw.app.configfile.read import TOOLS_KEYS
from sipgw.app.configfile.tomlwrite import dumps
from sipgw.app.lines.routesfile import ROUTES_KEYS, parse_routes_file
from sipgw.foundation.settings import ConfigError
from sipgw.foundation.settings.tomlfile import read_toml

__all__ = ["convert"]

_LINE_PATHS = ("prompt_file", "extract_schema")
"""A line's keys that name a file (``tools``: a file or a module; ``caller_context``: a file
or a module, and a function)."""


def _moved(path: str, old: Path, new: Path) -> str:
    """``path``, relative to ``old``, made relative to ``new`` (absolute ones stay)."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return path
    return os.path.relpath(old / candidate, new)


def _module(value: str, old: Path, new: Path, *, function: bool) -> str:
    """A module or a file (``file.py``), with ``:function`` when ``function``: the file
    moved, a module kept."""
    module, sep, name = value.rpartition(":") if function else (value, "", "")
    if not sep:
        module, name = value, ""
    if module.endswith(".py") or "/" in module:
        module = _moved(module, old, new)
    return f"{module}{sep}{name}"


def _servers(servers: Mapping[str, Any], old: Path, new: Path) -> None:
    """Each MCP server's relative command and working directory, moved."""
    for server in servers.values():
        if not isinstance(server, dict):
            continue
        command = server.get("command")
        if isinstance(command, str) and "/" in command:
            server["command"] = _moved(command, old, new)
        elif isinstance(command, list) and command and "/" in str(command[0]):
            server["command"] = [_moved(str(command[0]), old, new), *command[1:]]
        if isinstance(server.get("cwd"), str):
            server["cwd"] = _moved(server["cwd"], old, new)


def _routes(path: Path, new: Path) -> dict[str, Any]:
    parse_routes_file(path)  # checked as serve reads it: a bad file is not converted
    data = copy.deepcopy(read_toml(path).data)
    old = path.resolve().parent
    for line in data.get("lines", {}).values():
        for key in _LINE_PATHS:
            if isinstance(line.get(key), str) and line[key]:
                line[key] = _moved(line[key], old, new)
        for key in ("tools", "caller_context"):
            if isinstance(line.get(key), str) and line[key]:
                line[key] = _module(line[key], old, new, function=key == "caller_context")
        if isinstance(line.get("mcp_servers"), dict):
            _servers(line["mcp_servers"], old, new)
    return {
        key: data[key] for key in ("default", "unknown_status", "lines", "routes") if key in data
    }


def _tools(path: Path, new: Path) -> dict[str, Any]:
    document = read_toml(path)
    unknown = sorted(set(document.data) - TOOLS_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (known: http_tools, mcp_servers)")
    old = path.resolve().parent
    try:
        parse_declarations(document.data, str(path), None, old)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    data = copy.deepcopy(document.data)
    _servers(data.get("mcp_servers", {}), old, new)
    return data


def convert(routes: Path | None, tools: Path | None, folder: Path) -> str:
    """The settings-file tables of ``routes`` and ``tools``, paths relative to ``folder``.

    Raises:
        ConfigError: a file cannot be read, or is not one ``sipgw serve`` would take.
    """
    if routes is None and tools is None:
        raise ConfigError("nothing to convert: give --routes FILE, --tools FILE or both")
    new = folder.resolve()
    tables: dict[str, Any] = {}
    sources = []
    if routes is not None:
        tables.update(_routes(routes, new))
        sources.append(f"the routes file {routes}")
    if tools is not None:
        tables.update(_tools(tools, new))
        sources.append(f"the tools file {tools}")
    assert set(tables) <= ROUTES_KEYS | TOOLS_KEYS
    header = (
        f"# The lines, routes and tools of {' and '.join(sources)}, as tables of the\n"
        "# settings file (sipgw.toml; docs/configuration.md). Written by sipgw config convert.\n\n"
    )
    return header + dumps(tables)
