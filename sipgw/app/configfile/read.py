"""Finding and reading the settings file (``sipgw.toml``) into the sources of a command.

Which file: ``--config FILE``, else ``SIPGW_CONFIG`` (the environment or ``.env``), else
``./sipgw.toml`` when it exists; none is fine (the environment and the flags alone). A file
that is named but missing is an error. The file holds a table per settings section (read
by :mod:`sipgw.foundation.settings.settingsfile`), the lines and routes (the routes file's
schema: :mod:`sipgw.app.lines.routesfile`) and the tools every line's agent gets (the tools
file's ``[[http_tools]]`` and ``[mcp_servers.NAME]``: :mod:`sipgw.agent.tools.declared`).

The file is read once (:func:`read_files`), and each of its values parsed once: the
catalogue's tables then, a plug-in agent's own tables once the agent is known
(:meth:`SettingsFiles.sources`). The parsed document travels in the sources
(:attr:`~sipgw.foundation.settings.Sources.document`) to those who read its lines and tools.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sipgw.app.agents import AgentPlugin, find_agent
from sipgw.app.lines.routesfile import ROUTES_KEYS
from sipgw.app.lines.settings import RoutesSection
from sipgw.app.sections import SECTIONS, DeclaredToolsSection
from sipgw.app.settings import AgentSection
from sipgw.foundation.settings import (
    ConfigError,
    SectionInfo,
    Sources,
    load,
    load_env_file,
    setting_of,
)
from sipgw.foundation.settings.settingsfile import SettingsFile, config_path, file_values
from sipgw.foundation.settings.sources import FileValue
from sipgw.foundation.settings.tomlfile import TomlDocument, read_toml

__all__ = [
    "OTHER_KEYS",
    "TOOLS_KEYS",
    "SettingsFiles",
    "choose_agent",
    "read_files",
    "read_document",
    "read_settings",
    "with_settings_file",
]

TOOLS_KEYS = frozenset({"http_tools", "mcp_servers"})
"""The top-level keys of a tools file (``SIPGW_TOOLS_FILE``)."""
OTHER_KEYS = ROUTES_KEYS | TOOLS_KEYS
"""The settings file's top-level keys that are not sections: the lines, routes and tools."""


def read_settings(
    document: TomlDocument, sections: Iterable[SectionInfo], read: SettingsFile | None = None
) -> SettingsFile:
    """The settings ``document`` sets for ``sections``, its tools among them (as the
    ``SIPGW_TOOLS_FILE`` of every line's agent), and every mistake in its sections
    (``read``: what was read of it before, not parsed again)."""
    found = file_values(document, sections, OTHER_KEYS, read)
    tools = [key for key in ("http_tools", "mcp_servers") if key in document.data]
    if not tools:
        return found
    values = dict(found.values)
    errors = list(found.errors)
    variable = setting_of(DeclaredToolsSection, "tools_file").env
    if variable in values:
        errors.append(
            f"{values[variable].where}: declared_tools.tools_file and this file's [[http_tools]] "
            "or [mcp_servers.NAME]: keep one (the tools go in this file)"
        )
    key = tools[0]
    header = (
        document.array_line(key, 0)
        if key == "http_tools"
        else document.table_line(key, next(iter(document.data[key]), ""))
    )
    where = f"{document.label} line {header}" if header else document.label
    spec = setting_of(DeclaredToolsSection, "tools_file")
    values[variable] = FileValue(document.label, where, key, spec.parse(document.label))
    return dataclasses.replace(found, values=values, errors=tuple(errors))


def with_settings_file(sources: Sources, found: SettingsFile) -> Sources:
    """``sources`` with the settings file's values under the environment's.

    Raises:
        ConfigError: the file's sections have mistakes (all of them named), or both the
            file and a routes file (``SIPGW_ROUTES``) give the lines.
    """
    if found.errors:
        raise ConfigError("\n".join(found.errors))
    document = found.document
    merged = sources.with_file(found.values, document)
    if "lines" in document.data:
        routes = merged.find(setting_of(RoutesSection, "routes"))
        if routes.text.strip():
            raise ConfigError(
                f"{routes.label} names a routes file, and {document.label} has its own "
                "[lines.NAME] tables: keep one (sipgw config convert moves a routes file's "
                "lines into the settings file)"
            )
    return merged


def read_document(path: Path) -> TomlDocument:
    """The settings file, parsed.

    Raises:
        ConfigError: it cannot be read or is not valid TOML (naming its line).
    """
    return read_toml(path)


@dataclass(frozen=True, slots=True)
class SettingsFiles:
    """What a command reads settings from before its sections are known."""

    env_lines: dict[str, str]
    """The variables the ``.env`` file set, with their lines."""
    config: tuple[Path, TomlDocument] | None
    """The settings file, parsed; None = there is none."""
    found: SettingsFile | None = None
    """The catalogue's tables of the settings file, each value parsed (and its mistakes)."""

    def sources(self, flags: dict[str, str], sections: Sequence[SectionInfo]) -> Sources:
        """The sources of ``sections``: the flags, the environment, the settings file
        (the tables of ``sections`` that :attr:`found` does not hold parsed now).

        Raises:
            ConfigError: the settings file's mistakes, all named.
        """
        sources = Sources(os.environ, flags, self.env_lines)
        if self.config is None:
            return sources
        _, document = self.config
        return with_settings_file(sources, read_settings(document, sections, self.found))


def read_files(argv: Sequence[str]) -> SettingsFiles:
    """Load ``.env`` (``--env-file``) and read the settings file (``--config``): once, its
    catalogue's tables parsed.

    Raises:
        ConfigError: no such env file or settings file, or a settings file that is not TOML.
    """
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--env-file")
    early.add_argument("--config")
    known, _ = early.parse_known_args(argv[1:])
    env_lines = load_env_file(known.env_file)
    located = config_path(known.config, os.environ)
    if located is None:
        return SettingsFiles(env_lines, None)
    document = read_document(located[0])
    return SettingsFiles(env_lines, (located[0], document), read_settings(document, SECTIONS))


def choose_agent(argv: Sequence[str], files: SettingsFiles) -> AgentPlugin:
    """The agent ``--agent``, ``SIPGW_AGENT`` or the settings file's ``[agent]`` names.

    Raises:
        ConfigError: a bad agent name, or a plug-in that does not load.
    """
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--agent")
    known, _ = early.parse_known_args(argv[1:])
    flags = {} if known.agent is None else {"--agent": known.agent}
    sources = Sources(os.environ, flags, files.env_lines)
    if files.found is not None:  # the file's other mistakes are named once the agent's known
        sources = replace(sources, file=files.found.values)
    spec = load(AgentSection, sources).agent
    return find_agent(spec, f"--agent {spec}")
