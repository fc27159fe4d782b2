"""Which agent answers: ``--agent NAME`` or ``--agent package.module:factory``, as plug-ins.

An agent is plugged in as a *factory function*: its parameters are annotated with the
settings sections it reads (frozen dataclasses of :func:`~sipgw.foundation.settings.setting`
fields, each marked with :func:`~sipgw.foundation.settings.section`), and it returns the
:data:`~sipgw.agent.base.AgentFactory` the gateway calls once per call::

    def make(settings: BeepSection) -> AgentFactory: ...

:func:`find_agent` imports the module a spec names (a dotted name on ``sys.path`` or a
``.py`` path), checks the factory's parameters, and returns an :class:`AgentPlugin`,
whose sections join the CLI's flags and help like sipgw's own, and whose
:meth:`~AgentPlugin.build` loads them (flags, environment, ``.env``) and calls the
factory. A parameter annotated :class:`~sipgw.foundation.settings.Sources` gets the sources
themselves, for an agent whose sections depend on a value (the assistant's vendors); one
annotated :class:`~sipgw.agent.capabilities.GatewayServices` gets what the gateway hands every
agent (what it may dial, the log redactor).

What the agent can do is declared beside its factory function
(:func:`sipgw.agent.capabilities.declare`) and read from :attr:`AgentPlugin.capabilities` only;
what :meth:`~AgentPlugin.build` returns is a :class:`~sipgw.agent.capabilities.PluginFactory`
carrying that record. No code of the app compares agent names.

The built-in agents are plug-ins registered by name in
:data:`~sipgw.app.settings.BUILTIN_AGENTS` (beside the ``agent`` section), each beside
its agent and found exactly as a ``package.module:factory`` is: ``echo``
(:mod:`sipgw.agent.echo.plugin`), ``assistant`` (:mod:`sipgw.agent.assistant.plugin`),
``voice-agent``
and ``realtime`` (:mod:`sipgw.agent.s2s.plugin`), ``twiml`` and ``stream``
(:mod:`sipgw.agent.twiml.plugin`:
an app built for Twilio), each imported only when chosen, with its SDKs.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sipgw.agent.base import AgentFactory
from sipgw.agent.capabilities import (
    UNDECLARED,
    AgentCapabilities,
    GatewayServices,
    PluginFactory,
    capabilities_of,
    plugin_factory,
)
from sipgw.app.settings import BUILTIN_AGENTS
from sipgw.foundation.settings import (
    ConfigError,
    SectionInfo,
    SettingError,
    Sources,
    load,
    require,
    sections_of,
)
from sipgw.foundation.user_modules import UserModuleError, import_user_module

__all__ = ["AgentPlugin", "find_agent"]


@dataclass(frozen=True, slots=True)
class AgentPlugin:
    """An agent's factory function and the settings it takes."""

    spec: str
    """What picked it: a built-in name or ``module:factory``."""
    factory: Callable[..., AgentFactory]
    """The factory function."""
    parameters: tuple[type, ...]
    """Its parameters' annotations, in order: settings classes, :class:`Sources` or
    :class:`GatewayServices`."""
    who: str
    """How messages name it: ``--agent SPEC``, or where an account names it."""
    capabilities: AgentCapabilities = UNDECLARED
    """What its agents can do, as its factory function declared it."""

    @property
    def sections(self) -> tuple[SectionInfo, ...]:
        """The sections among its parameters (for the CLI's flags and help)."""
        found = (info for cls in self.parameters for info in sections_of(cls))
        return tuple(dict.fromkeys(found))

    def build(self, sources: Sources, gateway: GatewayServices | None = None) -> PluginFactory:
        """Load its settings from ``sources`` and call the factory (``gateway``: what a
        parameter annotated :class:`GatewayServices` gets; default: nothing may be dialed,
        nothing masked beyond card numbers).

        Raises:
            ConfigError: a required setting is missing, a value is bad, or the factory
                refused them (``ConfigError`` or ``ValueError``) or returned no factory; a
                :class:`~sipgw.foundation.settings.SettingError` it raised names its settings as
                ``sources`` gave them.
        """
        given: dict[type, object] = {
            Sources: sources,
            GatewayServices: gateway if gateway is not None else GatewayServices(),
        }
        settings_classes = [cls for cls in self.parameters if cls not in given]
        require(settings_classes, sources, self.who)
        args = [given[cls] if cls in given else load(cls, sources) for cls in self.parameters]
        try:
            made = self.factory(*args)
        except SettingError as exc:  # a value unusable after loading: named as given
            raise ConfigError(sources.explain(exc)) from None
        except ValueError as exc:
            raise ConfigError(f"{self.who}: {exc}") from None
        if not callable(made):
            raise ConfigError(
                f"{self.who}: returned {type(made).__name__}, not an agent factory (a function "
                "that takes the call and returns an Agent)"
            )
        return plugin_factory(made, self.capabilities, self.spec)


def find_agent(spec: str, who: str | None = None) -> AgentPlugin:
    """The plug-in ``spec`` names (:func:`agent_spec`), its module imported.

    Args:
        spec: a built-in agent's name, or ``module:factory``.
        who: how messages name it; default ``--agent SPEC``.

    Raises:
        ConfigError: the module cannot be imported, the factory is missing or not a
            function, or a parameter is not annotated with a settings section.
    """
    who = who or f"--agent {spec}"
    module_name, _, name = BUILTIN_AGENTS.get(spec, spec).rpartition(":")
    if spec in BUILTIN_AGENTS:
        module = importlib.import_module(module_name)
    else:
        try:
            module = import_user_module(
                module_name, what="agent module", file_prefix="sipgw_agent_"
            )
        except UserModuleError as exc:
            raise ConfigError(f"{who}: {exc}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        found = "not found" if factory is None else f"a {type(factory).__name__}, not a function"
        raise ConfigError(f"{who}: {name!r} in {module_name!r}: {found}")
    return AgentPlugin(spec, factory, _parameters(factory, who), who, capabilities_of(factory))


def _parameters(factory: Callable[..., Any], who: str) -> tuple[type, ...]:
    """The settings class (or :class:`Sources`, :class:`GatewayServices`) each parameter of
    ``factory`` is annotated with."""
    try:
        hints = typing.get_type_hints(factory)
        parameters = inspect.signature(factory).parameters.values()
    except (NameError, TypeError, ValueError) as exc:
        raise ConfigError(f"{who}: cannot read its parameters' annotations ({exc})") from None
    found: list[type] = []
    for parameter in parameters:
        annotation = hints.get(parameter.name)
        given = annotation in (Sources, GatewayServices)
        if isinstance(annotation, type) and (given or sections_of(annotation)):
            found.append(annotation)
            continue
        raise ConfigError(
            f"{who}: parameter {parameter.name!r} must be annotated with a settings section "
            "(a @section frozen dataclass of setting(...) fields; see docs/writing-an-agent.md)"
        )
    return tuple(found)
