"""Which agent answers: maps the ``--agent`` setting to a factory."""

from __future__ import annotations

from agent.base import AgentFactory, CallControl
from agent.echo import EchoAgent
from sipgw.config import ConfigError, GatewayConfig

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
    raise ConfigError(f"agent {config.agent!r} is not available in this version")
