"""Which agent answers: the ``--agent`` name to a factory of per-call agents.

:data:`AGENTS` maps each name to a builder that reads the agent's own settings
from the registry and returns the :data:`~agent.base.AgentFactory` the gateway
calls once per call. The assistant's modules (and their SDKs) are imported only
when it is chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING

from agent.base import AgentFactory, CallControl
from agent.echo import EchoAgent
from agent.settings import EchoSettings
from sipgw.app.settings import ConfigError, SettingValues

if TYPE_CHECKING:
    from agent.caller_context import CallerContextSettings

__all__ = [
    "AGENTS",
    "echo_factory",
    "load_caller_context",
    "load_echo_settings",
    "make_agent_factory",
]


def load_echo_settings(values: SettingValues) -> EchoSettings:
    """``SIPGW_ECHO_DELAY_MS``."""
    return EchoSettings(delay_ms=values["SIPGW_ECHO_DELAY_MS"])


def echo_factory(settings: EchoSettings) -> AgentFactory:
    """Echo agents with ``settings``."""
    delay = settings.delay_ms

    def echo(call: CallControl) -> EchoAgent:
        return EchoAgent(call, delay_ms=delay)

    return echo


def load_caller_context(values: SettingValues) -> CallerContextSettings | None:
    """``SIPGW_CALLER_CONTEXT`` loaded (None when empty), with its timeout.

    Raises:
        ConfigError: the module or function cannot be loaded or is not ``async def``.
    """
    from agent.caller_context import (
        CallerContextError,
        CallerContextSettings,
        load_caller_context_hook,
    )

    timeout = values["SIPGW_CALLER_CONTEXT_TIMEOUT"]  # checked even when unused
    spec = values["SIPGW_CALLER_CONTEXT"].strip()
    if not spec:
        return None
    try:
        hook = load_caller_context_hook(spec)
    except CallerContextError as exc:
        raise ConfigError(f"SIPGW_CALLER_CONTEXT: {exc}") from None
    return CallerContextSettings(hook, timeout=timeout)


def _assistant_factory(values: SettingValues) -> AgentFactory:
    """Resolve the assistant's settings and build what all its calls share."""
    from agent.assistant import AssistantAgent, AssistantResources
    from agent.tools.builtin import builtin_tools
    from agent.tools.registry import ToolLoadError, ToolRegistry, load_user_tools
    from sipgw.app.assistant_settings import load_assistant_settings
    from sipgw.app.vendors import choose_vendors

    vendors = choose_vendors(values)
    settings = load_assistant_settings(values, vendors)
    tools = ToolRegistry(builtin_tools(settings.builtin_tools))
    if settings.tools_module:
        try:
            load_user_tools(settings.tools_module, tools)
        except ToolLoadError as exc:
            raise ConfigError(f"SIPGW_TOOLS_MODULE: {exc}") from None
        except ValueError as exc:  # e.g. a user tool reusing a built-in name
            raise ConfigError(f"SIPGW_TOOLS_MODULE: {exc}") from None
    caller_context = load_caller_context(values)
    stt_settings = vendors.stt.settings(values)
    tts_settings = vendors.tts.settings(values)
    resources = AssistantResources(
        settings,
        vendors.llm.client(vendors.llm.settings(values)),
        tools,
        new_stt=partial(vendors.stt.client, stt_settings),
        new_tts=partial(vendors.tts.client, tts_settings),
        caller_context=caller_context,
    )

    def assistant(call: CallControl) -> AssistantAgent:
        return AssistantAgent(call, resources)

    return assistant


AGENTS: Mapping[str, Callable[[SettingValues], AgentFactory]] = {
    "echo": lambda values: echo_factory(load_echo_settings(values)),
    "assistant": _assistant_factory,
}
"""Agent name (``--agent``) to the builder of its factory; the names are
``AGENT_NAMES`` in :mod:`sipgw.app.settings_registry`."""


def make_agent_factory(values: SettingValues) -> AgentFactory:
    """The factory of the agent ``SIPGW_AGENT`` names, with its settings.

    Raises:
        ConfigError: a setting the agent reads is missing or bad.
    """
    return AGENTS[values["SIPGW_AGENT"]](values)
