"""Declaring settings: a section is a frozen dataclass whose fields are settings.

::

    @section("echo", title="Echo agent", intro="Read when `--agent echo`.")
    @dataclass(frozen=True)
    class EchoSection:
        delay_ms: int = setting(
            500, env="SIPGW_ECHO_DELAY_MS", flag="--echo-delay-ms", metavar="MS",
            parse=milliseconds, help="How long the echo waits before playing the caller back.",
        )

:func:`setting` is :func:`dataclasses.field` with the setting's description in its
metadata. Its type parameter ties the default, the parser and the field's annotation
together, so mypy checks that they agree. :func:`section` (applied above
``@dataclass``) gives the class its name, title and intro, which the CLI's help groups,
``docs/configuration.md`` and ``.env.example`` show. Any dataclass whose fields are all
settings can be loaded (:func:`sipgw.foundation.settings.load.load`): a section, or a class
that inherits several sections' fields (:class:`~sipgw.app.settings.GatewayConfig`).

A section may define ``check(self)`` for rules between its values; it raises
:class:`InvalidSettings` with ``{field}`` placeholders, which the loader fills with the
names the user wrote (the flag, or the variable). A value that turns out unusable after
loading (a directory that cannot be created, a file others may change) is a
:class:`SettingError`, its placeholders filled the same way where the sources are known
(:meth:`~sipgw.foundation.settings.sources.Sources.explain`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = [
    "ConfigError",
    "InvalidSettings",
    "SectionInfo",
    "Setting",
    "SettingError",
    "check_names",
    "is_loadable",
    "section",
    "section_info",
    "sections_of",
    "setting",
    "setting_of",
    "settings_of",
]

T = TypeVar("T")
C = TypeVar("C", bound=type)

_KEY = "sipgw.setting"
"""The key of a field's metadata that holds its :class:`Setting`."""


class ConfigError(Exception):
    """A setting has a value we cannot use; the message names it as the user wrote it
    (the flag, the variable, the line of a file) and says what is allowed."""


class ConfigMistakes(ConfigError):
    """Several mistakes found in one pass over a file, each message naming its own place;
    ``str()`` gives them one to a line."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = tuple(messages)


class InvalidSettings(ConfigError):
    """Values of one section that do not go together (raised by its ``check()``).

    Args:
        template: the message, naming fields as ``{field_name}``.
        values: other values the template shows, e.g. ``{path!r}``.

    ``str()`` shows the field names; the loader shows what the user wrote instead.
    """

    def __init__(self, template: str, **values: object) -> None:
        self.template = template
        self.values = values
        super().__init__(self.with_names({}))

    def with_names(self, names: Mapping[str, str]) -> str:
        """The message, each field named by ``names`` (field name -> what the user wrote)."""
        return self.template.format_map(_Names({**names, **self.values}))


class SettingError(InvalidSettings):
    """A loaded setting whose value turned out unusable: a directory that cannot be
    created, a file that does not load or that others may change.

    Args:
        template: the message, naming settings as ``{field_name}``, fields of ``sections``.
        sections: the settings classes whose fields the template names.
        values: other values the template shows, e.g. ``{path}``.

    ``str()`` names each setting by its flag and variable (``--record-dir/SIPGW_RECORD_DIR``);
    :meth:`Sources.explain <sipgw.foundation.settings.sources.Sources.explain>` by what the user
    wrote (``--record-dir``, ``SIPGW_RECORD_DIR (.env line 3)``).
    """

    def __init__(self, template: str, *sections: type, **values: object) -> None:
        self.sections = sections
        super().__init__(template, **values)

    def with_names(self, names: Mapping[str, str]) -> str:
        """The message, each field named by ``names``, else by its flag and variable."""
        declared = {name: spec.names for cls in self.sections for name, spec in settings_of(cls)}
        return super().with_names({**declared, **names})


class _Names(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return key


@dataclass(frozen=True, slots=True)
class Setting(Generic[T]):
    """One setting: how it is named, documented and parsed (a field's metadata)."""

    env: str
    """The environment variable (and ``.env`` key), e.g. ``SIPGW_SIP_PORT``."""
    help: str
    """What it means, one or two sentences (``--help``, the docs, ``.env.example``)."""
    parse: Callable[[str], T]
    """Text to value; raises ``ValueError`` saying what is allowed (never Python's words)."""
    default_text: str
    """The default as text (what ``.env.example`` shows; it parses to the default)."""
    flag: str | None = None
    """The ``sipgw serve`` flag, if the setting has one."""
    metavar: str | None = None
    """The flag's value placeholder in ``--help``."""
    default_doc: str | None = None
    """How the docs show the default when the text alone would mislead (``auto``)."""
    secret: bool = False
    """A key or password: masked in every log line, never echoed in an error."""
    required: bool = False
    """Must be set (not empty) when its section is used, e.g. an API key."""
    first: bool = False
    """Among the options a newcomer needs first: listed at the top of ``--help``."""
    state: bool = False
    """A file or directory the gateway keeps across restarts: a relative value (its default
    among them) is taken under the state directory (:mod:`~sipgw.foundation.settings.state`)."""

    @property
    def names(self) -> str:
        """Both its names, for a message about a value the user may not have given:
        ``--record-dir/SIPGW_RECORD_DIR`` (the variable alone when it has no flag)."""
        return f"{self.flag}/{self.env}" if self.flag else self.env


def setting(
    default: T,
    *,
    env: str,
    help: str,
    parse: Callable[[str], T],
    flag: str | None = None,
    metavar: str | None = None,
    default_text: str | None = None,
    default_doc: str | None = None,
    secret: bool = False,
    required: bool = False,
    first: bool = False,
    state: bool = False,
) -> T:
    """A dataclass field that is a setting (see the module docstring).

    Args:
        default: the value when nothing sets it.
        env: its environment variable.
        help: what it means.
        parse: text to value, raising ``ValueError`` with what is allowed.
        flag: its ``sipgw serve`` flag, if any; ``metavar`` its placeholder.
        default_text: ``default`` as text; needed unless it is None, a str, int or float.
        default_doc: how the docs show the default, if not ``default_text``.
        secret: masked in logs, never echoed in errors, left out of the repr.
        required: must not be empty when its section is used.
        first: listed at the top of ``--help``.
        state: a path kept across restarts, relative to the state directory.
    """
    text = _as_text(default) if default_text is None else default_text
    spec = Setting(
        env, help, parse, text, flag, metavar or ("VALUE" if flag else None), default_doc,
        secret, required, first, state,
    )  # fmt: skip
    return dataclasses.field(default=default, repr=not secret, metadata={_KEY: spec})


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int | str) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"give default_text= for the default {value!r}")


@dataclass(frozen=True, slots=True)
class SectionInfo:
    """A section: its name, its heading and intro, and its settings by field."""

    name: str
    """Short name, e.g. ``network``."""
    title: str
    """Heading in ``--help``, the docs and ``.env.example``."""
    intro: str
    """When these settings are read, one or two sentences."""
    cls: type
    """The dataclass."""
    settings: tuple[tuple[str, Setting[Any]], ...]
    """Its own fields (not inherited ones), in order: field name, setting."""

    @property
    def flagged(self) -> bool:
        """Whether any of its settings has a flag."""
        return any(s.flag for _, s in self.settings)


_SECTIONS: dict[type, SectionInfo] = {}


def section(name: str, *, title: str, intro: str) -> Callable[[C], C]:
    """Make a frozen dataclass of settings a section (apply it above ``@dataclass``).

    Raises:
        TypeError: the class is not a frozen dataclass, or one of its fields is not a
            :func:`setting`.
    """

    def declare(cls: C) -> C:
        params = getattr(cls, "__dataclass_params__", None)
        if params is None or not params.frozen:
            raise TypeError(f"{cls.__name__}: @section goes above @dataclass(frozen=True)")
        own = cls.__dict__.get("__annotations__", {})
        settings = tuple((n, s) for n, s in settings_of(cls) if n in own)
        _SECTIONS[cls] = SectionInfo(name, title, intro, cls, settings)
        return cls

    return declare


def section_info(cls: type) -> SectionInfo | None:
    """The section ``cls`` is, or None."""
    return _SECTIONS.get(cls)


def settings_of(cls: type) -> tuple[tuple[str, Setting[Any]], ...]:
    """Every field of the dataclass ``cls`` (inherited ones too) with its setting.

    Raises:
        TypeError: ``cls`` is not a dataclass, or a field is not a :func:`setting`.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass of settings")
    found = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_KEY)
        if not isinstance(spec, Setting):
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with setting(...)")
        found.append((f.name, spec))
    return tuple(found)


def setting_of(cls: type, name: str) -> Setting[Any]:
    """The setting of the field ``name`` of the dataclass ``cls``.

    Raises:
        TypeError: ``cls`` has no such setting.
    """
    for field_name, spec in settings_of(cls):
        if field_name == name:
            return spec
    raise TypeError(f"{cls.__name__} has no setting {name!r}")


def is_loadable(cls: object) -> bool:
    """Whether ``cls`` is a dataclass whose fields are all settings."""
    if not isinstance(cls, type) or not dataclasses.is_dataclass(cls):
        return False
    try:
        settings_of(cls)
    except TypeError:
        return False
    return True


def sections_of(cls: object) -> tuple[SectionInfo, ...]:
    """The sections whose fields ``cls`` has: itself if it is one, else the sections it
    inherits when their fields are all it has (``GatewayConfig``); () for anything else."""
    if not is_loadable(cls):
        return ()
    assert isinstance(cls, type)
    if cls in _SECTIONS:
        return (_SECTIONS[cls],)
    bases = [_SECTIONS[base] for base in cls.__mro__ if base in _SECTIONS]
    covered = {name for info in bases for name, _ in info.settings}
    return tuple(bases) if covered == {name for name, _ in settings_of(cls)} else ()


def check_names(
    sections: Iterable[SectionInfo], who: str, catalogue: Iterable[SectionInfo]
) -> None:
    """Refuse sections whose variables or flags are also the catalogue's (a plug-in's
    sections beside sipgw's own); a section of the catalogue itself passes.

    Raises:
        ConfigError: a variable or flag of ``sections`` is already one of ``catalogue``'s,
            named with ``who`` (the plug-in as the user gave it).
    """
    catalogue = tuple(catalogue)
    taken = {name for info in catalogue for _, s in info.settings for name in (s.env, s.flag)}
    for info in sections:
        if info in catalogue:
            continue
        for _, spec in info.settings:
            for name in (spec.env, spec.flag):
                if name and name in taken:
                    raise ConfigError(
                        f"{who}: its setting {name} is one of sipgw's own; choose another name"
                    )
