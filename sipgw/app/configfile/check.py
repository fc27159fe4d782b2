"""``sipgw config check``: every mistake in the settings, each named by file, line and key.

In order, as far as the mistakes before allow:

1. the ``.env`` file and the settings file are read (a settings file that is not TOML is
   named by its line) and the agent is found;
2. every table of the settings file: unknown sections and keys, secrets written in it, values
   of the wrong kind or that do not parse (all of them, each on its line);
3. every setting the environment or a flag gives, parsed; every section's rules between
   its values (``check()``);
4. the lines and routes (the settings file's, or a routes file's) and the tools (the
   settings file's ``[[http_tools]]`` and ``[mcp_servers.NAME]``, or a tools file);
5. when nothing before was wrong: everything ``sipgw serve`` builds before it listens (the
   agents and their vendors' required keys, each line's agent, the accounts; the shared
   database is connected to when ``SIPGW_DATABASE_URL`` names one), without listening.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sipgw.agent.tools.declared import parse_declarations
from sipgw.app.configfile.read import (
    TOOLS_KEYS,
    SettingsFiles,
    choose_agent,
    read_files,
    read_settings,
)
from sipgw.app.configfile.removed import removed_settings
from sipgw.app.lines.routesfile import parse_routes_file, routes_of
from sipgw.app.lines.settings import RoutesSection
from sipgw.app.sections import SECTIONS
from sipgw.foundation.settings import (
    ConfigError,
    ConfigMistakes,
    SectionInfo,
    Sources,
    load,
    setting_of,
)
from sipgw.foundation.settings.tomlfile import TomlDocument

__all__ = ["Checked", "check"]


@dataclass
class Checked:
    """What ``sipgw config check`` found."""

    errors: list[str] = field(default_factory=list)
    """Each mistake, naming the file, the line and the key (or the flag or variable)."""
    file: str = ""
    """The settings file checked ("" = none)."""
    settings: int = 0
    """Settings the settings file gives."""
    lines: int = 0
    """Lines (the settings file's or a routes file's)."""
    tools: int = 0
    """HTTP tools and MCP servers the settings file declares."""

    def add(self, message: str) -> None:
        """One mistake (a message already given is not repeated)."""
        if message not in self.errors:
            self.errors.append(message)

    def add_error(self, error: ConfigError) -> None:
        """The mistakes an error names: each of :class:`ConfigMistakes`', or its one."""
        for message in error.messages if isinstance(error, ConfigMistakes) else (str(error),):
            self.add(message)


def check(argv: Sequence[str], flags: dict[str, str] | None = None) -> Checked:
    """Check the settings ``sipgw serve ARGV`` would run with.

    Args:
        argv: ``serve`` and the options that name the files (``--config``, ``--env-file``,
            ``--agent``).
        flags: flag -> text, for the settings the command line gives.
    """
    found = Checked()
    try:
        files = read_files(argv)
    except ConfigError as exc:
        found.add_error(exc)
        return found
    sections: tuple[SectionInfo, ...] = SECTIONS
    plugin = None
    try:
        plugin = choose_agent(argv, files)
        sections = (*SECTIONS, *(s for s in plugin.sections if s not in SECTIONS))
    except ConfigError as exc:
        found.add_error(exc)
    for message in removed_settings(os.environ, files.env_lines):
        found.add(message)
    sources = _sources(files, flags or {}, sections, found)
    _sections(sources, sections, found)
    _lines(files, sources, found)
    _tools(files, found)
    if plugin is not None and not found.errors:
        from sipgw.app.startup import build_startup

        try:
            build_startup(plugin, sources)
        except ConfigError as exc:
            found.add_error(exc)
    return found


def _sources(
    files: SettingsFiles, flags: dict[str, str], sections: Sequence[SectionInfo], found: Checked
) -> Sources:
    """The sources, the settings file's mistakes added to ``found``."""
    sources = Sources(os.environ, flags, files.env_lines)
    if files.config is None:
        return sources
    path, document = files.config
    settings = read_settings(document, sections, files.found)
    for message in settings.errors:
        found.add(message)
    found.file = str(path)
    found.settings = len(settings.values)
    return sources.with_file(settings.values, document)


def _sections(sources: Sources, sections: Sequence[SectionInfo], found: Checked) -> None:
    """Every value the environment or a flag gives, parsed; every section loaded."""
    for info in sections:
        bad = False
        for _, spec in info.settings:
            where = sources.find(spec)
            if where.origin not in ("flag", "environment"):
                continue
            try:
                spec.parse(where.text)
            except ValueError as exc:
                found.add(f"{where.quoted()}: {exc}")
                bad = True
        if bad:  # (a bad value of the file's is left out of its values: named already)
            continue
        try:
            load(info.cls, sources)
        except ConfigError as exc:
            found.add_error(exc)


def _lines(files: SettingsFiles, sources: Sources, found: Checked) -> None:
    """The settings file's lines and routes, or a routes file's."""
    routes = sources.find(setting_of(RoutesSection, "routes")).text.strip()
    try:
        if files.config is not None and "lines" in files.config[1].data:
            path, document = files.config
            found.lines = len(routes_of(document, path, settings_file=True).lines)
        elif routes:
            found.lines = len(parse_routes_file(Path(routes)).lines)
    except ConfigError as exc:
        found.add_error(exc)


def _tools(files: SettingsFiles, found: Checked) -> None:
    """The settings file's ``[[http_tools]]`` and ``[mcp_servers.NAME]``, their shape
    checked, each on its line (the secrets they name are filled in, and checked, when the
    agent is built)."""
    if files.config is None:
        return
    path, document = files.config
    base = path.resolve().parent
    tools, servers = document.data.get("http_tools"), document.data.get("mcp_servers")
    items: list[tuple[dict[str, object], str, str]] = []
    for index, table in enumerate(tools if isinstance(tools, list) else []):
        where = _line(document, document.array_line("http_tools", index))
        items.append(({"http_tools": [table]}, where, f"http_tools[{index + 1}]"))
    for name, table in (servers if isinstance(servers, dict) else {}).items():
        where = _line(document, document.table_line("mcp_servers", name))
        items.append(({"mcp_servers": {name: table}}, where, ""))
    failed = False
    for tables, where, label in items:
        try:
            parse_declarations(tables, where, None, base)
        except ValueError as exc:
            message = str(exc)
            found.add(message.replace("http_tools[1]", label, 1) if label else message)
            failed = True
    if failed:
        return
    whole = {key: document.data[key] for key in TOOLS_KEYS if key in document.data}
    if not whole:
        return
    try:  # what only the whole declares wrong: two tools of one name, a list not of tables
        declared = parse_declarations(whole, document.label, None, base)
    except ValueError as exc:
        found.add(str(exc))
        return
    found.tools = len(declared.http_tools) + len(declared.mcp_servers)


def _line(document: TomlDocument, number: int | None) -> str:
    return f"{document.label} line {number}" if number else document.label
