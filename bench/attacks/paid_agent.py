"""A plug-in agent that stands for one that spends money per call (``bench.attacks.callers``).

``--agent bench.attacks.paid_agent:make``: it echoes like the echo agent, but it is not
the echo agent, so the gateway treats it as what the assistant is (every call a paid
session); :data:`BUILT` counts the agents built, i.e. the paid sessions a caller opened.
"""

from __future__ import annotations

from sipgw.agent.base import Agent, AgentFactory, CallControl
from sipgw.agent.echo.agent import EchoAgent

__all__ = ["BUILT", "make"]

BUILT = [0]
"""Agents built so far (a list, so that importers see the count change)."""


def make() -> AgentFactory:
    """The plug-in's factory function (no settings)."""

    def factory(call: CallControl) -> Agent:
        BUILT[0] += 1
        return EchoAgent(call, delay_ms=0)

    return factory
