"""Which agent answers: maps the ``--agent`` setting to a factory."""

from __future__ import annotations

from functools import partial
from typing import cast

from agent.base import AgentFactory, CallControl
from agent.echo import EchoAgent
from sipgw.app.config import ConfigError, GatewayConfig

__all__ = ["make_agent_factory"]


def make_agent_factory(config: GatewayConfig) -> AgentFactory:
    """The factory for ``config.agent``.

    Raises:
        ConfigError: the agent cannot run with this configuration.
    """
    if config.agent == "echo":
        delay = config.echo_delay_ms

        def echo(call: CallControl) -> EchoAgent:
            return EchoAgent(call, delay_ms=delay)

        return echo
    if config.agent == "assistant":
        return _assistant_factory(config)
    raise ConfigError(f"unknown agent {config.agent!r}")


def _assistant_factory(config: GatewayConfig) -> AgentFactory:
    """Resolve the assistant's settings and build what all its calls share."""
    from agent.assistant import AssistantAgent, AssistantCallControl, AssistantResources
    from agent.llm.openai import OpenAIChatLLM
    from agent.stt.assemblyai import AssemblyAISTTService
    from agent.tools.builtin import builtin_tools
    from agent.tools.registry import ToolLoadError, ToolRegistry, load_user_tools
    from agent.tts.elevenlabs import ElevenLabsTTSService
    from sipgw.app.assistant_settings import load_assistant_settings

    settings = load_assistant_settings(config.env)
    tools = ToolRegistry(builtin_tools(settings.env))
    if settings.tools_module:
        try:
            load_user_tools(settings.tools_module, tools)
        except ToolLoadError as exc:
            raise ConfigError(f"SIPGW_TOOLS_MODULE: {exc}") from None
        except ValueError as exc:  # e.g. a user tool reusing a built-in name
            raise ConfigError(f"SIPGW_TOOLS_MODULE: {exc}") from None
    resources = AssistantResources(
        settings,
        OpenAIChatLLM(settings.llm),
        tools,
        new_stt=partial(AssemblyAISTTService, settings.stt),
        new_tts=partial(ElevenLabsTTSService, settings.tts),
    )

    def assistant(call: CallControl) -> AssistantAgent:
        return AssistantAgent(cast(AssistantCallControl, call), resources)

    return assistant
