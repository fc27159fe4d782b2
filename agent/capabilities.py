"""What an agent can do, declared once: the record the gateway reads instead of asking.

An agent plug-in is a factory function (its parameters annotated with the settings
sections it reads; docs/writing-an-agent.md). It declares what its agents can do with
:func:`declare`::

    @declare(AgentCapabilities(callbacks=True, line_keys={"greeting": (MySection, "hello")}))
    def make(settings: MySection) -> AgentFactory: ...

The gateway reads that :class:`AgentCapabilities` record and nothing else: whether a
placed call may ask for answering-machine detection, whether ``serve`` dials the callbacks
the agents store, which routes-file keys a line may set, whether a gateway with nothing
configured about who may call may take calls for it. The built-in agents declare theirs
the same way. A factory function declaring nothing gets :data:`UNDECLARED` (today's
behaviour of a plug-in: it reads ``call.amd``, spends money, nothing more).

What the factory *returns* (a plain :data:`~agent.base.AgentFactory` or one with the
hooks of :mod:`agent.factory`, :mod:`agent.record`, :mod:`agent.variables`) is turned
into one :class:`PluginFactory` where the plug-in is built (:func:`plugin_factory`): the
gateway reads its services, record and variables hooks as fields, never by probing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from agent.base import Agent, AgentFactory, CallControl, Direction
from agent.factory import WarmUp, services_of, vendors_of, warm_up_of
from agent.observer import Service
from agent.record import CallRecord, KeepsRecords
from agent.variables import VariablesCheck

__all__ = [
    "UNDECLARED",
    "AgentCapabilities",
    "Leg",
    "LineKeys",
    "PluginFactory",
    "SectionLoader",
    "TransferKind",
    "capabilities_of",
    "declare",
    "plugin_factory",
]

TransferKind = Literal["blind", "warm"]
"""A transfer the agent's calls may make (docs/transfers.md)."""
Leg = Literal["sip", "twilio"]
"""A leg the agent's calls may come on (a SIP call, a Twilio media stream)."""
SectionLoader = Callable[[type[Any]], Any]
"""Loads one settings section from a line's sources (for keys that depend on a value)."""
LineKeys = Mapping[str, tuple[type[Any], str]]
"""Routes-file key -> (settings section, field) it sets (docs/lines.md)."""

F = TypeVar("F", bound=Callable[..., AgentFactory])


@dataclass(frozen=True, slots=True)
class AgentCapabilities:
    """What an agent's calls can do and take, as the gateway reads it.

    Attributes:
        amd: its agents act on a placed call's ``amd`` (read ``call.amd``); False: a
            call or a start-up asking for answering-machine detection is refused rather
            than greeting every voicemail (docs/amd.md).
        callbacks: its agents store callbacks (the ``schedule_callback`` tool:
            agent/tools/callback_store.py); ``serve`` then dials them when due.
        transfers: the transfers its calls make (none: it never transfers).
        keypad: its agents take the caller's keypad digits (``on_dtmf``).
        legs: the legs its calls may come on.
        audio: the audio formats it takes (``pcmu/8000``: 20 ms of μ-law at 8 kHz, the
            frame of :mod:`agent.base`).
        line_keys: the routes-file keys a line may set for it (``greeting``, ...) and
            the field each sets; a key not here is refused naming the line.
        more_line_keys: keys that depend on the line's settings (the assistant's chosen
            vendors' ``voice``, ``keyterms``, ``language``), given a loader of its
            sections.
        own_sections: sections it loads itself from the sources rather than by its
            parameters (the assistant's vendors'): a line's ``[settings]`` may set them.
        paid: its calls spend money (AI services): a gateway running only agents that
            do not may take calls from this host and private networks with nothing
            configured about who may call (:mod:`sipgw.app.access`).
        twiml: its agents follow a placed call's own TwiML (``twiml_url``, ``twiml``:
            :attr:`agent.base.CallDetails.twiml`); False: a call placed with one is refused.
    """

    amd: bool = True
    callbacks: bool = False
    transfers: frozenset[TransferKind] = frozenset()
    keypad: bool = False
    legs: frozenset[Leg] = frozenset({"sip", "twilio"})
    audio: frozenset[str] = frozenset({"pcmu/8000"})
    line_keys: LineKeys = field(default_factory=dict)
    more_line_keys: Callable[[SectionLoader], LineKeys] | None = None
    own_sections: tuple[type[Any], ...] = ()
    paid: bool = True
    twiml: bool = False

    def routes_keys(self, load: SectionLoader) -> LineKeys:
        """Every routes-file key it reads, for a line whose sections ``load`` gives."""
        extra = self.more_line_keys(load) if self.more_line_keys is not None else {}
        return {**self.line_keys, **extra}


UNDECLARED = AgentCapabilities()
"""A factory function that declares nothing: reads ``call.amd``, spends money, no callbacks,
no routes-file keys."""

_DECLARED: dict[Callable[..., AgentFactory], AgentCapabilities] = {}


def declare(capabilities: AgentCapabilities) -> Callable[[F], F]:
    """Decorator: the agent factory function ``capabilities`` describes (returned as is)."""

    def declared(factory: F) -> F:
        _DECLARED[factory] = capabilities
        return factory

    return declared


def capabilities_of(factory: Callable[..., AgentFactory]) -> AgentCapabilities:
    """What factory function ``factory`` declared (:data:`UNDECLARED` if nothing)."""
    return _DECLARED.get(factory, UNDECLARED)


@dataclass(frozen=True, slots=True)
class PluginFactory:
    """A built agent factory with its record and hooks, as fields (see the module docstring).

    Attributes:
        make: builds one call's agent.
        capabilities: what its agents can do.
        services: the AI services its calls use (one breaker each: :mod:`agent.factory`).
        vendors: the breaker key of each of those services.
        warm_up: done once when the gateway starts; None = nothing.
        new_record: opens the record of a call that never reached an agent
            (:class:`agent.record.KeepsRecords`); None = its agents keep none.
        missing_variables: the variables a call's templates lack
            (:class:`agent.variables.VariablesCheck`); None = it needs none.
    """

    make: AgentFactory
    capabilities: AgentCapabilities = UNDECLARED
    services: frozenset[Service] = frozenset()
    vendors: Mapping[Service, str] = field(default_factory=dict)
    warm_up: WarmUp | None = None
    new_record: Callable[[str], CallRecord | None] | None = None
    missing_variables: Callable[[Mapping[str, str], Direction], tuple[str, ...]] | None = None

    def __call__(self, call: CallControl) -> Agent:
        """One call's agent."""
        return self.make(call)

    def breaker_keys(self) -> dict[Service, str]:
        """Each service its calls use -> its breaker's key: the vendor behind it, else the
        service's own name."""
        return {service: self.vendors.get(service) or service for service in self.services}


def plugin_factory(
    factory: AgentFactory, capabilities: AgentCapabilities | None = None
) -> PluginFactory:
    """``factory`` as a :class:`PluginFactory` (itself if it is one and ``capabilities`` is
    None), its hooks read once, here."""
    if isinstance(factory, PluginFactory):
        if capabilities is None:
            return factory
        factory = factory.make
    return PluginFactory(
        factory,
        capabilities if capabilities is not None else UNDECLARED,
        services_of(factory),
        vendors_of(factory),
        warm_up_of(factory),
        factory.new_record if isinstance(factory, KeepsRecords) else None,
        factory.missing_variables if isinstance(factory, VariablesCheck) else None,
    )
