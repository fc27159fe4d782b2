"""What both AI agents' plug-ins build alike from their sections: call settings, tool registry.

:func:`agent_settings` is what an AI agent's calls say and do, with what the gateway lets them
dial; :func:`tool_registry` holds the built-in tools, the user's module, the declared HTTP tools
and MCP servers; :data:`ASSISTANT_KEYS` are the routes-file keys both agents take."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sipgw.agent.capabilities import GatewayServices
from sipgw.agent.conversation.sections import (
    AssistantSection,
    BuiltinToolsSection,
    CallbackSection,
    CallerContextSection,
    PreemptiveSection,
    assistant_settings,
)
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.tools.settings import DeclaredToolsSection, declared_tools, tool_limits
from sipgw.foundation.settings import ConfigError, SettingError, Sources

if TYPE_CHECKING:
    from sipgw.agent.tools.registry import ToolRegistry

__all__ = ["ASSISTANT_KEYS", "agent_settings", "tool_registry"]


ASSISTANT_KEYS: Mapping[str, tuple[type[Any], str]] = {
    "prompt_file": (AssistantSection, "system_prompt_file"),
    "greeting": (AssistantSection, "greeting"),
    "tools": (AssistantSection, "tools_module"),
    "transfer_target": (BuiltinToolsSection, "transfer_target"),
    "caller_context": (CallerContextSection, "caller_context"),
}
"""The AI agents' named routes-file keys: the section field each sets (vendors' aside)."""


def agent_settings(
    assistant: AssistantSection,
    preemptive: PreemptiveSection,
    tools: BuiltinToolsSection,
    callbacks: CallbackSection,
    gateway: GatewayServices,
) -> AssistantSettings:
    """What an AI agent's calls say and do (the assistant's and the speech-to-speech
    agents'): :func:`~sipgw.agent.conversation.sections.assistant_settings`, with what the gateway
    lets them dial and its log redactor (which masks every secret setting).

    Raises:
        ConfigError: the system prompt file cannot be read.
    """
    settings = assistant_settings(
        assistant, preemptive, tools, callbacks, gateway.dial_policy, gateway.redactor
    )
    if gateway.callback_store is None and gateway.message_store is None:
        return settings
    shared = dataclasses.replace(  # the cluster's database instead of the SQLite file
        settings.builtin_tools,
        callback_store=gateway.callback_store,
        message_store=gateway.message_store,
    )
    return dataclasses.replace(settings, builtin_tools=shared)


def tool_registry(
    settings: AssistantSettings,
    declared: DeclaredToolsSection | None = None,
    sources: Sources | None = None,
) -> ToolRegistry:
    """The built-in tools, the user's (``SIPGW_TOOLS_MODULE``), then the declared HTTP tools
    and MCP servers (``declared``'s, with secrets from ``sources``), all held to
    ``declared``'s limits.

    Raises:
        ConfigError: the tools module does not load, a declaration is wrong, or a tool
            reuses a name (or an MCP server's namespace).
    """
    from sipgw.agent.tools.builtin import builtin_tools
    from sipgw.agent.tools.mcp_servers import mcp_server
    from sipgw.agent.tools.registry import ToolLoadError, ToolRegistry, load_user_tools

    limits = tool_limits(declared) if declared is not None else None
    registry = ToolRegistry(builtin_tools(settings.builtin_tools), limits)  # names checked
    if settings.tools_module:
        try:
            load_user_tools(settings.tools_module, registry)
        except (ToolLoadError, ValueError) as exc:  # ValueError: a user tool reusing a name
            raise SettingError("{tools_module}: {why}", AssistantSection, why=exc) from None
    if declared is None or sources is None:
        return registry
    found = declared_tools(declared, sources)
    for server in found.mcp_servers:
        _check_mcp_sdk(server.name)
    try:
        if found.http_tools:
            from sipgw.agent.tools.http import http_tool  # aiohttp: only when there are some

            for spec in found.http_tools:
                registry.register(http_tool(spec))
        for server in found.mcp_servers:
            registry.add_provider(mcp_server(server))
    except ValueError as exc:
        raise ConfigError(f"declared tools: {exc}") from None
    return registry


def _check_mcp_sdk(server: str) -> None:
    """MCP servers need the ``mcp`` extra."""
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        raise ConfigError(
            f"MCP server {server!r}: the mcp SDK is not installed (pip install 'sipgw[mcp]')"
        )
