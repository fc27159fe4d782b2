"""A routes file built into lines: each line's agent factory, with its own settings on top.

A line changes settings of its agent, never the gateway's: its ``[lines.NAME.settings]``
(any setting of the agent's sections, by variable) and the named keys its agent declares it
reads (:meth:`sipgw.agent.capabilities.AgentCapabilities.routes_keys`: for the built-in AI agents
``greeting`` is ``SIPGW_GREETING``; for the assistant, ``voice``, ``keyterms`` and
``language`` are the chosen vendors'; a plug-in declares its own) are each parsed once, here,
and laid over the gateway's own sources (:meth:`Sources.with_line
<sipgw.foundation.settings.Sources.with_line>`): the line's sections are the gateway's,
loaded once, with the line's typed values in place of theirs. The agent's plug-in is
built from that, exactly as ``--agent`` is (:meth:`~sipgw.app.agents.AgentPlugin.build`).
An error names the routes file's line: ``routes.toml line 9: SIPGW_GREETING=...``.

A line that changes nothing and runs the gateway's agent shares the gateway's factory. Each
line's dial allow-list is the gateway's computed from its sources, so a line's own
``transfer_target`` is allowed for that line's calls only.

What the lines are checked against comes in with :class:`LineBase`, so that this module
imports neither the catalogue of sections nor the features a line configures (they import
the lines): sipgw's own sections (``catalogue``), and what each feature checks of a line
(``checks``: its webhooks, :func:`sipgw.app.webhooks.settings.line_check`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sipgw.agent.amd.settings import AmdMode
from sipgw.agent.capabilities import PluginFactory
from sipgw.agent.tools.settings import DeclaredToolsSection
from sipgw.app.agents import AgentPlugin, find_agent
from sipgw.app.agentstart import agents_may_dial, check_capabilities, gateway_services
from sipgw.app.lines.handoff import LineDirectory, hand_off_factory
from sipgw.app.lines.match import Route
from sipgw.app.lines.routesfile import AGENT_KEYS, LineSpec, RoutesFile, Written
from sipgw.app.settings import OperationsSection, agent_spec
from sipgw.app.upstream.dialout import OutboundConfig, caller
from sipgw.foundation.settings import (
    ConfigError,
    SectionInfo,
    Setting,
    Sources,
    check_names,
    load,
    setting_of,
    settings_of,
)
from sipgw.foundation.settings.settingsfile import secret_in_file
from sipgw.foundation.settings.sources import FileValue, Found
from sipgw.sip.call import CallInfo
from sipgw.sip.dialpolicy import DialPolicy

__all__ = ["Line", "LineBase", "LineTable", "build_lines"]


@dataclass(frozen=True, eq=False)
class Line:
    """One line, built: its name, agent and what its calls are given."""

    name: str
    agent: str
    """The agent's name or plug-in spec."""
    factory: PluginFactory
    dial_policy: DialPolicy
    """What its calls' agents may transfer to, call and key."""
    spec: LineSpec
    """As the routes file gave it (limits, recording, webhooks, summary, outbound)."""
    directory: LineDirectory | None = None
    """The table's lines by name, where its calls are handed to (a line that names
    ``hand_off_to``: :mod:`sipgw.app.calls.lineswitch`); None: it hands off to none."""


@dataclass(frozen=True)
class LineBase:
    """What the gateway's own settings give every line."""

    sources: Sources
    """The gateway's flags, environment and ``.env``."""
    agent: str
    """The gateway's ``--agent``."""
    factory: PluginFactory
    """Its factory, which lines that change nothing share."""
    accounts: tuple[str, ...] = ()
    """The accounts' names (a route or a line may name one)."""
    recording: bool = False
    """Whether ``--record-dir`` is set (a line may only record then)."""
    dial_policy: DialPolicy = field(default_factory=DialPolicy)
    """The gateway's allow-list, for lines that change nothing."""
    catalogue: tuple[SectionInfo, ...] = ()
    """sipgw's own sections (:data:`sipgw.app.sections.SECTIONS`): a line's agent may not
    reuse their names, and a flag of theirs given for a setting a line changes is dropped."""
    checks: tuple[Callable[[LineSpec], None], ...] = ()
    """What the features a line configures check of it (its webhooks' URL and secret), each
    raising :class:`~sipgw.foundation.settings.ConfigError` naming the line."""
    amd: AmdMode = AmdMode.OFF
    """``SIPGW_AMD``: the detection of a line's placed calls when it names none."""


@dataclass(frozen=True)
class LineTable:
    """A routes file's lines and routes, built: what :meth:`route` decides with."""

    path: Path
    lines: Mapping[str, Line]
    routes: tuple[Route, ...]
    default: Line | None
    unknown_status: int

    def route(self, call: CallInfo, account: str | None) -> Line | None:
        """The line of the first route ``call`` takes, else the default line, else None."""
        for candidate in self.routes:
            if candidate.matches(call, account):
                return self.lines[candidate.line]
        return self.default


def _settings_by_variable(classes: Iterable[type]) -> dict[str, Setting[Any]]:
    return {spec.env: spec for cls in classes for _, spec in settings_of(cls)}


def _text(value: str | int | float | bool, setting: Setting[Any]) -> str:
    """A TOML value as the setting's parser reads it (true/false or on/off for booleans)."""
    if isinstance(value, bool):
        words = ("on", "off") if setting.default_text in ("on", "off") else ("true", "false")
        return words[0] if value else words[1]
    return str(value)


def _parsed(variable: str, written: Written, setting: Setting[Any], key: str = "") -> FileValue:
    """A line's value, parsed (once) by its setting.

    Raises:
        ConfigError: it does not parse: ``routes.toml line 9: SIPGW_GREETING=...: why``.
    """
    text = _text(written.value, setting)
    try:
        value = setting.parse(text)
    except ValueError as exc:
        quoted = Found(setting, text, "line", written.where).quoted()
        raise ConfigError(f"{quoted}: {exc}") from None
    return FileValue(text, written.where, key or variable, value)


def _variable(cls: type, name: str) -> str:
    """The variable of field ``name`` of section ``cls``."""
    return dict(settings_of(cls))[name].env


def _agent_values(
    line: LineSpec, plugin: AgentPlugin, base: LineBase, allowed: Mapping[str, Setting[Any]]
) -> dict[str, FileValue]:
    """Variable -> value (parsed) for everything the line sets of its agent."""
    values: dict[str, FileValue] = {}
    for variable, written in line.settings.items():
        setting = allowed.get(variable)
        if setting is None:
            raise ConfigError(
                f"{written.where}: {variable} is not a setting of agent {plugin.spec} "
                "(a line sets only its agent's settings; see docs/lines.md)"
            )
        key = f"lines.{line.name}.settings.{variable}"
        if setting.secret and line.in_settings_file:
            raise ConfigError(secret_in_file(written.where, key, setting))
        values[variable] = _parsed(variable, written, setting, key)
    if line.declared_tools is not None:
        written = line.declared_tools
        declared = _variable(DeclaredToolsSection, "declared_tools")  # JSON of the tables
        if declared not in allowed:
            raise ConfigError(
                f"{written.where}: http_tools and mcp_servers are for the AI agents (assistant, "
                f"voice-agent, realtime), and line {line.name!r} runs agent {plugin.spec}, "
                "which takes no declared tools"
            )
        if declared in values:
            raise ConfigError(
                f"{written.where}: the line declares tools in its table and in "
                f"[lines.{line.name}.settings] {declared}: keep one"
            )
        values[declared] = _parsed(declared, written, allowed[declared])
    if not line.keys:
        return values
    if not plugin.capabilities.line_keys:
        key, written = next(iter(line.keys.items()))
        raise ConfigError(
            f"{written.where}: {key} is an assistant setting, and line {line.name!r} runs agent "
            f"{plugin.spec} (set its own settings in [lines.{line.name}.settings])"
        )
    overlay = base.sources.with_line(values)

    def load_section(cls: type[Any]) -> Any:
        try:
            return load(cls, overlay)
        except ConfigError as exc:
            raise ConfigError(f"{line.where}: {exc}") from None

    keys = plugin.capabilities.routes_keys(load_section)
    for key, written in line.keys.items():
        if key not in keys:
            known = ", ".join(k for k in AGENT_KEYS if k in keys)
            raise ConfigError(
                f"{written.where}: {key} is not something agent {plugin.spec} takes (with the "
                f"vendors it is given; one of: {known})"
            )
        cls, name = keys[key]
        setting = setting_of(cls, name)
        if setting.env not in values:
            values[setting.env] = _parsed(setting.env, written, setting, f"lines.{line.name}.{key}")
    return values


def _build_line(line: LineSpec, base: LineBase) -> Line:
    spec = base.agent
    if line.agent:
        try:
            spec = agent_spec(line.agent)
        except ValueError as exc:
            raise ConfigError(f"{line.where}: agent {line.agent!r} {exc}") from None
    if line.recording and not base.recording:
        needed = base.sources.label(OperationsSection, "record_dir")
        raise ConfigError(f"{line.where}: recording = true needs {needed}")
    for check in base.checks:
        check(line)
    if line.account is not None and line.account not in base.accounts:
        known = ", ".join(base.accounts) or "none configured"
        raise ConfigError(f"{line.where}: account {line.account!r} is not an account ({known})")
    if line.caller_id is not None:
        try:
            caller(OutboundConfig(caller_id=line.caller_id), "127.0.0.1")
        except ValueError as exc:
            raise ConfigError(f"{line.where}: caller_id {line.caller_id!r}: {exc}") from None
    plugin = find_agent(spec, f"{line.where}: agent {spec}")
    check_names(plugin.sections, plugin.who, base.catalogue)
    agent_sections = [info.cls for info in plugin.sections]
    agent_sections += plugin.capabilities.own_sections  # sections it loads itself (vendors')
    values = _agent_values(line, plugin, base, _settings_by_variable(agent_sections))
    if not values and spec == base.agent:
        return _detects(Line(line.name, spec, base.factory, base.dial_policy, line), base)
    sources = base.sources.with_line(values)
    try:
        policy = agents_may_dial(sources)
        check_capabilities(plugin.capabilities, sources, f"its agent {spec}", AmdMode.OFF,
                           main=False)  # fmt: skip
    except ConfigError as exc:
        raise ConfigError(f"{line.where}: {sources.explain(exc)}") from None
    built = plugin.build(
        sources, gateway_services(sources, policy, (*base.catalogue, *plugin.sections))
    )
    return _detects(Line(line.name, spec, built, policy, line), base)


def _detects(line: Line, base: LineBase) -> Line:
    """``line``, if its agent acts on the detection its placed calls ask for.

    Raises:
        ConfigError: it does not (the twiml and stream agents), naming the line's ``amd`` or
            ``SIPGW_AMD``.
    """
    asked = line.spec.amd
    mode = asked.mode if asked is not None else base.amd
    if mode is AmdMode.OFF or line.factory.capabilities.amd:
        return line
    given = f'amd = "{mode.value}"' if asked is not None else f"SIPGW_AMD={mode.value}"
    raise ConfigError(
        f"{line.spec.where}: {given}: its agent {line.agent} does not run answering-machine "
        'detection (docs/amd.md); give the line amd = "off", or another agent'
    )


def _hand_offs(lines: dict[str, Line]) -> None:
    """Lines that hand off (``hand_off_to``) get their own factory: their calls reach the
    other lines of this table (:mod:`sipgw.app.lines.handoff`)."""
    directory = LineDirectory(lines)  # sees the lines replaced below (the same dict)
    for name, line in list(lines.items()):
        factory = hand_off_factory(line, directory)
        if factory is not line.factory:
            lines[name] = dataclasses.replace(line, factory=factory, directory=directory)


def build_lines(routes: RoutesFile, base: LineBase) -> LineTable:
    """Build every line of ``routes`` (see the module docstring).

    Raises:
        ConfigError: a line's agent does not load, a setting it gives is bad or not its
            agent's, or a route names an unknown account; the message names the line.
    """
    for route in routes.routes:
        for account in route.accounts:
            if account not in base.accounts:
                known = ", ".join(base.accounts) or "none configured"
                raise ConfigError(
                    f"{route.where}: account {account!r} is not a configured account ({known})"
                )
    lines = {name: _build_line(spec, base) for name, spec in routes.lines.items()}
    _hand_offs(lines)
    default = lines[routes.default] if routes.default is not None else None
    return LineTable(routes.path, lines, routes.routes, default, routes.unknown_status)
