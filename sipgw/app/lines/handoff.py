"""Hand-offs between lines: a routes file's ``hand_off_to``, given to its lines' agents.

A line that names lines in ``hand_off_to`` gets a factory of its own
(:func:`hand_off_factory`) whose calls carry an
:class:`sipgw.agent.assistant.handoff.HandOffSettings`: its name, its targets, and a
:class:`LineDirectory` of the table being built, through which the agent reaches a target line's
settings, tools and voice (the agent layer never imports the app: the directory is the whole
interface). A reload builds a new table and a new directory; a call goes on with the lines of the
table it started with. Both ends must run the assistant (checked here, naming the line).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, cast

from sipgw.agent.assistant.handoff import HandOffSettings, HandOffTarget, HistoryMode
from sipgw.agent.capabilities import PluginFactory
from sipgw.agent.sections import ConfigError
from sipgw.app.lines.routesfile import LineSpec

if TYPE_CHECKING:
    from sipgw.agent.assistant.agent import AssistantFactory

__all__ = ["BuiltLine", "LineDirectory", "hand_off_factory"]


class BuiltLine(Protocol):
    """A line as :mod:`sipgw.app.lines.build` made it (its ``Line``)."""

    @property
    def agent(self) -> str: ...

    @property
    def factory(self) -> PluginFactory: ...

    @property
    def spec(self) -> LineSpec: ...


def _assistant(line: BuiltLine) -> AssistantFactory | None:
    """The line's assistant factory, None for any other agent."""
    from sipgw.agent.assistant.agent import (
        assistant_factory_of,  # not at import: it is the assistant's
    )

    return assistant_factory_of(line.factory.make)


class LineDirectory:
    """The lines of one built table, as hand-off targets
    (:class:`sipgw.agent.assistant.handoff.HandOffLines`)."""

    def __init__(self, lines: Mapping[str, BuiltLine]) -> None:
        self._lines = lines

    def line(self, name: str) -> BuiltLine | None:
        """Line ``name`` as built, if there is one."""
        return self._lines.get(name)

    def target(self, name: str) -> HandOffTarget | None:
        line = self._lines.get(name)
        factory = None if line is None else _assistant(line)
        if line is None or factory is None:
            return None
        resources = factory.resources
        return HandOffTarget(
            name, resources.settings, resources.tools, resources.new_tts,
            cast(HistoryMode, line.spec.hand_off_history), line.spec.hand_off_to,
            resources.new_wideband_tts,
        )  # fmt: skip


def hand_off_factory(line: BuiltLine, directory: LineDirectory) -> PluginFactory:
    """``line``'s factory, its calls given the hand-off settings (the same factory when it
    names no line to hand off to).

    Raises:
        ConfigError: the line, or one it hands off to, is not an assistant line.
    """
    spec = line.spec
    if not spec.hand_off_to:
        return line.factory
    factory = _assistant(line)
    if factory is None:
        raise ConfigError(
            f"{spec.where}: hand_off_to needs the assistant agent (line {spec.name!r} runs "
            f"{line.agent})"
        )
    for name in spec.hand_off_to:
        target = directory.line(name)
        if target is None or _assistant(target) is None:
            runs = "" if target is None else f" runs agent {target.agent}, and"
            raise ConfigError(
                f"{spec.where}: hand_off_to {name!r}: that line{runs} a call can only be "
                "handed to the assistant"
            )
    made = factory.with_hand_off(HandOffSettings(spec.name, spec.hand_off_to, directory))
    return dataclasses.replace(line.factory, make=made)
