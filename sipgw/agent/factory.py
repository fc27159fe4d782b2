"""An agent factory that depends on AI services: which ones, and what it prepares at start-up.

A plain :data:`sipgw.agent.base.AgentFactory` (a function from the call to its agent) is
enough for most agents. A factory whose calls use AI services also has the two
attributes of :class:`UsesServices`, which tell the gateway:

* ``services``: the AI services its calls use (:data:`sipgw.agent.observer.Service`).
  The gateway keeps one circuit breaker per service across calls
  (agent/resilience/breaker.py); while one of them is open, a new call for this
  agent is refused (503, so a trunk fails over) or answered with a recorded
  message, instead of becoming a dead call.
* ``vendors`` (optional): the vendor behind each of those services
  (``{"s2s": "openai-realtime"}``). The breaker is per vendor: a gateway may run
  several vendors of one service (the two speech-to-speech agents on two lines), and
  one of them down must not turn away the other's calls. A service with no vendor
  named is its own key (:func:`vendors_of`).
* ``warm_up``: work done once when the gateway starts, in the background (the
  fallback lines synthesized in the agent's voice: agent/resilience/line_cache.py;
  the chat model's client made ready at the same time: :func:`with_llm_ready`).
  Calls that come before it is done are taken as usual.

The built-in AI agents' factories have them (:class:`sipgw.agent.assistant.agent.AssistantFactory`,
:class:`sipgw.agent.s2s.factories.S2sFactory`); a plug-in wraps its function in a
:class:`ServiceAgentFactory`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sipgw.agent.base import Agent, AgentFactory, CallControl
from sipgw.agent.observer import Service
from sipgw.agent.services.llm.base import PreparesAtStart

__all__ = [
    "ServiceAgentFactory",
    "UsesServices",
    "WarmUp",
    "services_of",
    "vendors_of",
    "warm_up_of",
    "with_llm_ready",
]

WarmUp = Callable[[], Awaitable[object]]
"""Work a factory does once when the gateway starts."""


@runtime_checkable
class UsesServices(Protocol):
    """An agent factory that names the AI services its calls use (see the module docstring)."""

    @property
    def services(self) -> frozenset[Service]:
        """The AI services its calls use."""
        ...

    @property
    def warm_up(self) -> WarmUp | None:
        """Done once when the gateway starts; None = nothing to do."""
        ...


@dataclass(frozen=True, slots=True)
class ServiceAgentFactory:
    """An :data:`~sipgw.agent.base.AgentFactory` with the services it uses (see the module
    docstring).

    Attributes:
        make: builds one call's agent.
        services: the AI services its calls use.
        warm_up: done once when the gateway starts; None = nothing to do.
        vendors: the vendor behind each service, where it matters (see the module
            docstring).
    """

    make: Callable[[CallControl], Agent]
    services: frozenset[Service]
    warm_up: WarmUp | None = None
    vendors: Mapping[Service, str] = field(default_factory=dict)

    def __call__(self, call: CallControl) -> Agent:
        """One call's agent."""
        return self.make(call)


def services_of(factory: AgentFactory) -> frozenset[Service]:
    """The AI services ``factory``'s calls use (none for a plain function)."""
    return factory.services if isinstance(factory, UsesServices) else frozenset()


def vendors_of(factory: AgentFactory) -> dict[Service, str]:
    """The vendor behind each AI service ``factory``'s calls use: its breaker's key (the
    service's own name where the factory names no vendor)."""
    named = getattr(factory, "vendors", None)
    named = named if isinstance(named, Mapping) else {}
    return {service: str(named.get(service) or service) for service in services_of(factory)}


def warm_up_of(factory: AgentFactory) -> WarmUp | None:
    """What ``factory`` does once when the gateway starts (None for a plain function)."""
    return factory.warm_up if isinstance(factory, UsesServices) else None


def alongside(warm_up: WarmUp | None, also: WarmUp) -> WarmUp:
    """A factory's warm-up that runs ``warm_up`` and ``also`` at the same time and returns
    ``warm_up``'s result (None without one)."""

    async def both() -> object:
        if warm_up is None:
            await also()
            return None
        done = await asyncio.gather(warm_up(), also())
        return done[0]

    return both


def with_llm_ready(warm_up: WarmUp | None, llm: object) -> WarmUp | None:
    """A factory's warm-up that also prepares ``llm`` (a :class:`PreparesAtStart`), at the
    same time, returning ``warm_up``'s result; ``warm_up`` as it is when ``llm`` has
    nothing to prepare."""
    if not isinstance(llm, PreparesAtStart):
        return warm_up
    return alongside(warm_up, llm.prepare)
