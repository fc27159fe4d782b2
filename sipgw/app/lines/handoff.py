"""Hand-offs between lines: a routes file's ``hand_off_to``, given to its lines' agents.

A line that names lines in ``hand_off_to`` gets a factory of its own
(:func:`hand_off_factory`) whose agents offer the ``hand_off`` tool
(:class:`sipgw.agent.conversation.handoff.HandOffSettings`: its name and targets), and its built
line a :class:`LineDirectory` of the table being built, through which the gateway finds a
target line when a call is handed to it (:mod:`sipgw.app.calls.lineswitch`). A reload builds a
new table and a new directory; a call goes on with the lines of the table it started with.

Either end may run the assistant or a speech-to-speech agent (:func:`takes_over`: the agents
that take a call over from another's, :mod:`sipgw.agent.conversation.handover`); anything else is
refused here, naming the line. :func:`same_stt` tells whether two lines' speech-to-text settings
agree
(then the call keeps its session across the hand-off).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

from sipgw.agent.base import AgentFactory
from sipgw.agent.capabilities import PluginFactory
from sipgw.agent.conversation.handoff import HandOffSettings
from sipgw.app.lines.routesfile import LineSpec
from sipgw.foundation.settings import ConfigError

__all__ = ["BuiltLine", "LineDirectory", "hand_off_factory", "same_stt", "takes_over"]


class BuiltLine(Protocol):
    """A line as :mod:`sipgw.app.lines.build` made it (its ``Line``)."""

    @property
    def agent(self) -> str: ...

    @property
    def factory(self) -> PluginFactory: ...

    @property
    def spec(self) -> LineSpec: ...


class _HandsOff(Protocol):
    """An agent factory whose agents can hand a call off (the assistant's, the
    speech-to-speech agents')."""

    def with_hand_off(self, hand_off: HandOffSettings) -> AgentFactory: ...


def takes_over(line: BuiltLine) -> _HandsOff | None:
    """The line's factory if its agents take a call over from another line's and hand it
    on (the assistant, the speech-to-speech agents); None for any other agent."""
    from sipgw.agent.assistant.agent import AssistantFactory  # not at import: the agents'
    from sipgw.agent.s2s.factories import S2sFactory

    make = line.factory.make
    return make if isinstance(make, AssistantFactory | S2sFactory) else None


def same_stt(one: BuiltLine, other: BuiltLine) -> bool:
    """Whether both lines run the assistant with the same speech-to-text settings (the
    vendor and its section as the line resolved them): a call handed between them keeps
    its speech-to-text session."""
    from sipgw.agent.assistant.agent import assistant_factory_of

    first, second = assistant_factory_of(one.factory.make), assistant_factory_of(other.factory.make)
    if first is None or second is None:
        return False
    settings = first.resources.stt_settings
    return settings is not None and settings == second.resources.stt_settings


class LineDirectory:
    """The lines of one built table, by name: where a call is handed to."""

    def __init__(self, lines: Mapping[str, BuiltLine]) -> None:
        self._lines = lines

    def line(self, name: str) -> BuiltLine | None:
        """Line ``name`` as built, if there is one."""
        return self._lines.get(name)


def hand_off_factory(line: BuiltLine, directory: LineDirectory) -> PluginFactory:
    """``line``'s factory, its agents given the ``hand_off`` tool (the same factory when it
    names no line to hand off to).

    Raises:
        ConfigError: the line, or one it hands off to, runs an agent that cannot hand a
            call off or take one over.
    """
    spec = line.spec
    if not spec.hand_off_to:
        return line.factory
    factory = takes_over(line)
    if factory is None:
        raise ConfigError(
            f"{spec.where}: hand_off_to needs the assistant or a speech-to-speech agent (line "
            f"{spec.name!r} runs {line.agent})"
        )
    for name in spec.hand_off_to:
        target = directory.line(name)
        if target is None or takes_over(target) is None:
            runs = "" if target is None else f" runs agent {target.agent}, and"
            raise ConfigError(
                f"{spec.where}: hand_off_to {name!r}: that line{runs} a call can only be "
                "handed to the assistant or a speech-to-speech agent"
            )
    made = factory.with_hand_off(HandOffSettings(spec.name, spec.hand_off_to))
    return dataclasses.replace(line.factory, make=made)
