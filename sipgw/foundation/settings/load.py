"""The loader: a section's values from the flags, the environment and the defaults.

:func:`load` is the one place that reads settings by their names: every other module
gets typed section objects. A value that does not parse is a
:class:`~sipgw.foundation.settings.declare.ConfigError` naming what the user wrote and what is
allowed (``--sip-port abc: must be a port number 0..65535``); a section's ``check()``
then judges its values together, its message naming the flags or variables as given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from sipgw.foundation.settings.declare import (
    ConfigError,
    InvalidSettings,
    section_info,
    settings_of,
)
from sipgw.foundation.settings.sources import Found, Sources

__all__ = ["build_checked", "load", "missing", "require", "secret_texts", "validate"]

S = TypeVar("S")
T = TypeVar("T")


def load(cls: type[S], sources: Sources) -> S:
    """The settings of ``cls`` (a dataclass of :func:`setting` fields), parsed and checked.

    A setting nobody set takes its field's default (not parsed again).

    Raises:
        ConfigError: a value does not parse, or ``check()`` refuses the values together.
    """
    found: dict[str, Found] = {}
    values: dict[str, Any] = {}
    for name, spec in settings_of(cls):
        where = found[name] = sources.find(spec)
        if where.origin == "default":
            continue
        try:
            values[name] = spec.parse(where.text)
        except ValueError as exc:
            raise ConfigError(f"{where.quoted()}: {exc}") from None
    loaded = cls(**values)
    validate(loaded, {name: where.name for name, where in found.items()})
    return loaded


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
            f"(set {them} in the environment or in .env; see .env.example)"
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
