"""The ``declared_tools`` settings section: HTTP tools, MCP servers, and every tool's limits.

``SIPGW_TOOLS_FILE`` declares tools for every line (:mod:`sipgw.agent.tools.declared`): the
settings file's own ``[[http_tools]]`` and ``[mcp_servers.NAME]``, or a tools file; a routes
file's line adds its own through ``SIPGW_DECLARED_TOOLS`` (JSON, which the routes file
writes for it). :func:`declared_tools` reads both, with the secrets they name from the
sources' environment; :func:`tool_limits` is what every tool, whatever its source, is held to.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sipgw.agent.sections import ConfigError, Sources, section, setting, settings_of
from sipgw.agent.sections.parsers import int_at_least, optional_file, text
from sipgw.agent.tools.declared import Declarations, parse_declarations
from sipgw.agent.tools.registry import ToolLimits

__all__ = ["DeclaredToolsSection", "declared_tools", "tool_limits"]


@section(
    "declared_tools",
    title="HTTP tools and MCP servers",
    intro="Read when `--agent assistant`, `voice-agent` or `realtime`: tools declared without "
    'Python (docs/assistant.md, "HTTP tools and MCP servers"), and the limits every tool '
    "is held to on a call.",
)
@dataclass(frozen=True)
class DeclaredToolsSection:
    """Declared tools and the limits of all tools."""

    tools_file: str = setting(
        "", env="SIPGW_TOOLS_FILE", parse=optional_file,
        help="TOML file of [[http_tools]] and [mcp_servers.NAME] every line's agent gets; "
        "secrets in it only as ${VAR}, read from the environment.",
    )  # fmt: skip
    declared_tools: str = setting(
        "", env="SIPGW_DECLARED_TOOLS", parse=text,
        help="The same as JSON ({\"http_tools\": [...], \"mcp_servers\": {...}}), added to "
        "the file's; a routes file's [[lines.NAME.http_tools]] and [lines.NAME.mcp_servers.*] "
        "set it for their line.",
    )  # fmt: skip
    tool_calls_per_call: int = setting(
        20, env="SIPGW_TOOL_CALLS_PER_CALL", parse=int_at_least(0),
        help="Tool calls one phone call may make, all tools together (then each is refused "
        "and the model told); 0 = no limit.",
    )  # fmt: skip
    tool_calls_per_tool: int = setting(
        8, env="SIPGW_TOOL_CALLS_PER_TOOL", parse=int_at_least(0),
        help="Calls of any one tool per phone call (a declared tool's max_calls wins); "
        "0 = no limit.",
    )  # fmt: skip
    tool_result_max_bytes: int = setting(
        16384, env="SIPGW_TOOL_RESULT_MAX_BYTES", parse=int_at_least(0),
        help="The largest tool result the model is given; a larger one is a tool error; "
        "0 = no limit.",
    )  # fmt: skip


def tool_limits(section: DeclaredToolsSection) -> ToolLimits:
    """The limits every tool is held to."""
    return ToolLimits(
        section.tool_calls_per_call, section.tool_calls_per_tool, section.tool_result_max_bytes
    )


def declared_tools(section: DeclaredToolsSection, sources: Sources) -> Declarations:
    """The tools file's declarations, then ``SIPGW_DECLARED_TOOLS``'s, secrets filled in
    from the sources' environment.

    Raises:
        ConfigError: either is unreadable or wrong (the message names it and where).
    """
    environ = dict(sources.environ)
    found = Declarations()
    if section.tools_file:
        path = Path(section.tools_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        # The settings file (sipgw.toml) holds the tools beside the sections' tables.
        settings_file = bool(sources.file_path) and path == Path(sources.file_path)
        unknown = [] if settings_file else sorted(set(data) - {"http_tools", "mcp_servers"})
        if unknown:
            raise ConfigError(
                f"{path}: unknown key {unknown[0]!r} (known: http_tools, mcp_servers)"
            )
        try:
            found += parse_declarations(data, str(path), environ, path.resolve().parent)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if section.declared_tools.strip():
        variable = dict(settings_of(DeclaredToolsSection))["declared_tools"].env
        where = sources.env_file_lines.get(variable, variable)
        try:
            data = json.loads(section.declared_tools)
        except ValueError as exc:
            raise ConfigError(f"{where}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: must be a JSON object")
        try:
            found += parse_declarations(data, where, environ)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return found
