"""The loader: a section's values from a line, the flags, the environment, the settings
file and the defaults.

:func:`load` is the one place that reads settings by their names: every other module
gets typed section objects. A value that does not parse is a
:class:`~sipgw.foundation.settings.declare.ConfigError` naming what the user wrote and what is
allowed (``--sip-port abc: must be a port number 0..65535``); a section's ``check()``
then judges its values together, its message naming the flags or variables as given.

Each value is parsed once: the settings file's and a line's when their file is read
(:class:`~sipgw.foundation.settings.sources.FileValue`), a flag's or the environment's the
first time a section of it is loaded; and each section is loaded once for a
:class:`~sipgw.foundation.settings.sources.Sources`, however many modules ask for it (both
kept with the sources). A line's sources (:meth:`Sources.with_line
<sipgw.foundation.settings.sources.Sources.with_line>`) take the gateway's parsed values
and lay the line's own typed values over them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sipgw.foundation.settings.declare import (
    ConfigError,
    InvalidSettings,
    Setting,
    section_info,
    setting_of,
    settings_of,
)
from sipgw.foundation.settings.sources import Sources
from sipgw.foundation.settings.state import StateSection, under

__all__ = [
    "build_checked",
    "load",
    "missing",
    "require",
    "secret_texts",
    "state_dir",
    "validate",
    "value_of",
]

S = TypeVar("S")
T = TypeVar("T")


def load(cls: type[S], sources: Sources) -> S:
    """The settings of ``cls`` (a dataclass of :func:`setting` fields), parsed and checked;
    loaded once for ``sources`` (the same object again after that).

    A setting nobody set takes its field's default (not parsed again). A ``state=True``
    setting's relative path, given or default, is taken under the state directory
    (:func:`state_dir`).

    Raises:
        ConfigError: a value does not parse, or ``check()`` refuses the values together.
    """
    done = sources.loaded.get(cls)
    if done is not None:
        assert isinstance(done, cls)
        return done
    values: dict[str, Any] = {}
    for name, spec in settings_of(cls):
        given, value = _value(spec, sources)
        if spec.state:
            values[name] = under(value if given else _default(cls, name), state_dir(sources))
        elif given:
            values[name] = value
    loaded = cls(**values)
    validate(loaded, {name: sources.find(spec).name for name, spec in settings_of(cls)})
    sources.loaded[cls] = loaded
    return loaded


def value_of(cls: type, name: str, sources: Sources) -> Any:
    """Setting ``name`` of section ``cls`` alone, typed: parsed as :func:`load` parses it
    (once), without loading its neighbours; its default when nothing sets it.

    Raises:
        ConfigError: it does not parse.
    """
    spec = setting_of(cls, name)
    given, value = _value(spec, sources)
    if not given:
        value = _default(cls, name)
    return under(value, state_dir(sources)) if spec.state else value


def state_dir(sources: Sources) -> Path:
    """The state directory ``sources`` give (absolute): where the relative paths of
    ``state=True`` settings are taken (:mod:`~sipgw.foundation.settings.state`).

    Raises:
        ConfigError: it does not parse.
    """
    return StateSection(state_dir=value_of(StateSection, "state_dir", sources)).path()


def _default(cls: type, name: str) -> Any:
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _value(spec: Setting[Any], sources: Sources) -> tuple[bool, Any]:
    """(whether anything sets ``spec``, its value parsed), parsed once for ``sources``.

    Raises:
        ConfigError: the text does not parse, naming what the user wrote.
    """
    known = sources.parsed.get(spec)
    if known is not None:
        return known
    where = sources.find(spec)
    if where.origin == "default":
        found: tuple[bool, Any] = (False, None)
    elif where.written is not None:  # a file's or a line's: parsed when it was read
        found = (True, where.written.value)
    elif sources.under is not None:  # not the line's: as the gateway's sources give it
        found = _value(spec, sources.under)
    else:
        try:
            found = (True, spec.parse(where.text))
        except ValueError as exc:
            raise ConfigError(f"{where.quoted()}: {exc}") from None
    sources.parsed[spec] = found
    return found


def validate(settings: object, names: Mapping[str, str] | None = None) -> None:
    """Run the ``check()`` of ``settings`` (if it has one).

    Args:
        settings: a loaded or hand-built section.
        names: field -> how to name it in a message; default: its variable.

    Raises:
        ConfigError: ``check()`` refused the values, named by ``names``.
    """
    check = getattr(settings, "check", None)
    if not callable(check):
        return
    try:
        check()
    except InvalidSettings as exc:
        if names is None:
            names = {name: spec.env for name, spec in settings_of(type(settings))}
        raise ConfigError(exc.with_names(names)) from None


def build_checked(cls: type, build: Callable[[], T]) -> T:
    """What a loaded section of ``cls`` configures (a vendor client's own typed settings),
    built by ``build``; their checks' ValueError names the section by its title.

    Raises:
        ConfigError: ``"AssemblyAI (speech to text): chunk_ms must be ..."``.
    """
    try:
        return build()
    except ValueError as exc:
        info = section_info(cls)
        raise ConfigError(f"{info.title if info else cls.__name__}: {exc}") from None


def missing(classes: Iterable[type], sources: Sources) -> list[str]:
    """The required settings of ``classes`` that are unset or blank, by variable name."""
    return [
        spec.env
        for cls in classes
        for _, spec in settings_of(cls)
        if spec.required and not sources.find(spec).text.strip()
    ]


def require(classes: Iterable[type], sources: Sources, who: str) -> None:
    """Refuse to go on while a required setting of ``classes`` is missing (all named at once).

    Raises:
        ConfigError: ``"{who} needs A, B (set them ...)"``.
    """
    absent = missing(classes, sources)
    if absent:
        them = "it" if len(absent) == 1 else "them"
        raise ConfigError(
            f"{who} needs {', '.join(absent)} "
            f"(set {them} in the environment or in .env; see docs/configuration.md)"
        )


def secret_texts(classes: Iterable[type], sources: Sources) -> list[str]:
    """The texts given to every secret setting of ``classes`` (to mask them in logs)."""
    found: list[str] = []
    for cls in classes:
        for _, spec in settings_of(cls):
            if spec.secret:
                where = sources.find(spec)
                if where.origin != "default" and where.text.strip():
                    found.extend({where.text, where.text.strip()})
    return found
