"""The ``echo`` plug-in, beside its agent: its section, its factory and what it can do.

Registered by name in :data:`sipgw.app.agents.BUILTIN_AGENTS` (``--agent echo``) and found
exactly as ``package.module:factory`` is; it declares its
:class:`~agent.capabilities.AgentCapabilities` like any plug-in.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.base import AgentFactory, CallControl
from agent.capabilities import AgentCapabilities, declare
from agent.echo import EchoAgent
from agent.sections import section, setting
from agent.sections.parsers import milliseconds
from agent.settings import EchoSettings

__all__ = ["ECHO_CAPABILITIES", "EchoSection", "echo_agent", "echo_factory"]


@section("echo", title="Echo agent", intro="Read when `--agent echo`.")
@dataclass(frozen=True)
class EchoSection:
    """The echo agent's delay."""

    delay_ms: int = setting(
        500, env="SIPGW_ECHO_DELAY_MS", flag="--echo-delay-ms", metavar="MS",
        parse=milliseconds,
        help="How long the echo agent waits before playing the caller back, ms.",
    )  # fmt: skip


def echo_factory(settings: EchoSettings) -> AgentFactory:
    """Echo agents with ``settings``."""
    delay = settings.delay_ms

    def echo(call: CallControl) -> EchoAgent:
        return EchoAgent(call, delay_ms=delay)

    return echo


ECHO_CAPABILITIES = AgentCapabilities(paid=False)
"""The echo agent spends nothing per call (a gateway with only it may take calls from this
host and private networks with no access configured). It takes a placed call's ``amd`` as
it always has (the line check of detection: ``call.amd`` reaches it, it plays back whatever
answered), no callbacks, no routes-file keys."""


@declare(ECHO_CAPABILITIES)
def echo_agent(settings: EchoSection) -> AgentFactory:
    """The ``echo`` plug-in: echo agents with the ``echo`` section's delay."""
    return echo_factory(EchoSettings(delay_ms=settings.delay_ms))
