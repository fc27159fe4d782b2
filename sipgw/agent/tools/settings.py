"""The ``declared_tools`` settings section: HTTP tools, MCP servers, and every tool's limits.

``SIPGW_TOOLS_FILE`` declares tools for every line (:mod:`sipgw.agent.tools.declared`): the
settings file's own ``[[http_tools]]`` and ``[mcp_servers.NAME]``, or a tools file; a routes
file's line adds its own through ``SIPGW_DECLARED_TOOLS`` (JSON, which the routes file
writes for it). :func:`declared_tools` reads both, with the secrets they name from the
sources' environment; :func:`tool_limits` is what every tool, whatever its source, is held to.
:class:`BuiltinToolSettings` is what the built-in tools (:mod:`sipgw.agent.tools.builtin`) are
configured with.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sipgw.agent.dialpolicy import NOTHING_ALLOWED, DialChecker
from sipgw.agent.tools.declared import Declarations, parse_declarations
from sipgw.agent.tools.quota import CallbackQuota
from sipgw.agent.tools.registry import ToolLimits
from sipgw.foundation.settings import ConfigError, Sources, section, setting, settings_of
from sipgw.foundation.settings.parsers import int_at_least, optional_file, text

if TYPE_CHECKING:
    from sipgw.agent.tools.callback_store import CallbackStore
    from sipgw.agent.tools.message_store import MessageStore

__all__ = [
    "BUILTIN_TOOL_NAMES",
    "BuiltinToolSettings",
    "DeclaredToolsSection",
    "declared_tools",
    "tool_limits",
]

BUILTIN_TOOL_NAMES = (
    "get_order_status",
    "schedule_callback",
    "take_message",
    "transfer_to_human",
    "end_call",
    "who_answered",
)
"""The built-in tools (agent/tools/builtin.py), all of them on by default."""


@dataclass(frozen=True, slots=True)
class BuiltinToolSettings:
    """The built-in tools (see agent/tools/builtin.py).

    Attributes:
        orders_file: JSON orders file for ``get_order_status``; None = the packaged sample.
        callback_db: SQLite file where ``schedule_callback`` stores requests (the
            gateway's scheduler dials them from there), and ``take_message`` the
            caller's messages (table ``messages``).
        transfer_target: SIP URI ``transfer_to_human`` refers callers to; None = no transfers.
        callback_allowed_prefixes: numbers a callback may go to start with one of these
            (e.g. ``("+1", "+44")``), besides those ``dial_policy`` allows for calls.
        callback_timezone: IANA zone of callback times given without an offset; "" = the
            server's local time.
        dial_policy: the operator's allow-list (``SIPGW_DIAL_ALLOW``; the app gives a
            ``sipgw.sip.dialpolicy.DialPolicy``); a callback number neither it nor
            ``callback_allowed_prefixes`` allows is refused (both empty: every callback
            is refused).
        callback_quota: callbacks per caller, per number and in all, a day; messages
            per caller and in all, a day, the same limits.
        orders_verify: ``get_order_status`` reads an order out only to its owner (the
            call's proven number is the order's, or the caller gives its verification);
            False: any order to anyone.
        enabled: the built-in tools the model gets, by name (:data:`BUILTIN_TOOL_NAMES`);
            empty = none (a production prompt without the demo's order lookup).
        callback_store: where callbacks go instead of ``callback_db`` (the cluster's
            shared database, which the gateway passes in); None = ``callback_db``.
        message_store: where messages go instead of ``callback_db``; None = that file.
    """

    orders_file: Path | None = None
    callback_db: Path = Path("callbacks.sqlite3")
    transfer_target: str | None = None
    callback_allowed_prefixes: tuple[str, ...] = ()
    callback_timezone: str = ""
    dial_policy: DialChecker = NOTHING_ALLOWED
    callback_quota: CallbackQuota = CallbackQuota()
    orders_verify: bool = True
    enabled: tuple[str, ...] = BUILTIN_TOOL_NAMES
    callback_store: CallbackStore | None = None
    message_store: MessageStore | None = None


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
        # The settings file (sipgw.toml) holds the tools beside the sections' tables: as read.
        settings_file = bool(sources.file_path) and path == Path(sources.file_path)
        if settings_file and sources.document is not None:
            data = sources.document.data
        else:
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"{path}: {exc}") from None
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
