"""``sipgw config show``: the settings in effect, each with where its value came from.

One table per section, in the catalogue's order, each setting as the text its parser read
and a comment naming its source: ``default``, ``sipgw.toml line 12``, ``environment
SIPGW_SIP_PORT`` (``.env line 3``), ``flag --sip-port``. A secret's value is masked
(``********``; an empty one shows empty). The settings file's lines and tools follow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sipgw.app.configfile.tomlwrite import toml_key
from sipgw.foundation.settings import SectionInfo, Sources
from sipgw.foundation.settings.sources import Found
from sipgw.foundation.settings.tomlfile import TomlDocument

__all__ = ["MASK", "origin", "show", "tables"]

MASK = "********"
"""What a secret's value is shown as."""


def origin(found: Found) -> str:
    """Where ``found`` came from, for a comment."""
    if found.origin == "flag":
        return f"flag {found.setting.flag}"
    if found.origin == "environment":
        where = f" ({found.env_file_line})" if found.env_file_line else ""
        return f"environment {found.setting.env}{where}"
    if found.origin == "file":
        return found.env_file_line
    return "default"


def show(sources: Sources, sections: Sequence[SectionInfo], *, changed: bool = False) -> str:
    """The settings of ``sections`` in effect (``changed``: only those not at their default)."""
    out: list[str] = []
    if sources.file_path:
        out.append(f"# settings file: {sources.file_path}")
    for info in sections:
        rows = []
        for name, spec in info.settings:
            found = sources.find(spec)
            if changed and found.origin == "default":
                continue
            text = MASK if spec.secret and found.text.strip() else found.text
            rows.append((f"{toml_key(name)} = {json.dumps(text, ensure_ascii=False)}", found))
        if not rows:
            continue
        out.extend(["", f"[{toml_key(info.name)}]"])
        width = max(len(row) for row, _ in rows)
        out.extend(f"{row.ljust(width)}  # {origin(found)}" for row, found in rows)
    return "\n".join(out).lstrip("\n") + "\n"


def tables(document: TomlDocument) -> str:
    """The settings file's lines, routes and tools, each with its line (as comments)."""
    data = document.data
    out = []
    lines = data.get("lines")
    for name in lines if isinstance(lines, dict) else {}:
        out.append(f"# line {name}: {_at(document, document.table_line('lines', name))}")
    routes = data.get("routes")
    for index, _ in enumerate(routes if isinstance(routes, list) else []):
        out.append(f"# route {index + 1}: {_at(document, document.array_line('routes', index))}")
    tools = data.get("http_tools")
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        name = tool.get("name", "?") if isinstance(tool, dict) else "?"
        where = _at(document, document.array_line("http_tools", index))
        out.append(f"# http tool {name}: {where}")
    servers = data.get("mcp_servers")
    for name in servers if isinstance(servers, dict) else {}:
        where = _at(document, document.table_line("mcp_servers", name))
        out.append(f"# MCP server {name}: {where}")
    return "\n".join(out) + "\n" if out else ""


def _at(document: TomlDocument, number: int | None) -> str:
    return f"{document.label} line {number}" if number else document.label
