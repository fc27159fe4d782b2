"""Where a setting's text comes from: a line's own value, else the flag, else the
environment, else the settings file (``sipgw.toml``), else the default.

``sipgw serve`` loads the ``.env`` file into the environment first
(:func:`load_env_file`), never overriding a variable that is already set, so a ``.env``
line sits between the environment and the settings file, and a user's own module (tools, a
plug-in agent) can read its own variables from ``os.environ`` too. The lines of both files
are remembered so that an error can name the line the user wrote. The settings file's
values are :class:`FileValue` s, read and parsed once by
:mod:`sipgw.foundation.settings.settingsfile`; a line's own values (its
``[lines.NAME.settings]`` and named keys) are :class:`FileValue` s too, laid over the
gateway's sources by :meth:`Sources.with_line`. What the loader made of a :class:`Sources`
(each value parsed, each section loaded) is kept with it, so that a value is parsed once
and a section loaded once, however many modules ask for it
(:mod:`sipgw.foundation.settings.load`).

Every message names a setting the way the user gave it, through :class:`Found`: while
loading, with the text (:attr:`Found.name`, :meth:`Found.quoted`: ``--sip-port abc``);
after loading, without it (:attr:`Found.label`: ``--record-dir``, ``SIPGW_RECORD_DIR
(.env line 3)``), which :meth:`Sources.explain` puts into a
:class:`~sipgw.foundation.settings.declare.SettingError` raised far from the sources.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dotenv import load_dotenv

from sipgw.foundation.settings.declare import (
    ConfigError,
    Setting,
    SettingError,
    setting_of,
    settings_of,
)

if TYPE_CHECKING:
    from sipgw.foundation.settings.tomlfile import TomlDocument

__all__ = ["FileValue", "Found", "Origin", "Sources", "load_env_file"]

Origin = Literal["line", "flag", "environment", "file", "default"]
"""Where a setting's text was found, highest first."""


@dataclass(frozen=True, slots=True)
class FileValue:
    """A setting's value as a file wrote it (the settings file's table, a line's
    settings), as text and parsed."""

    text: str
    """The value as the setting's parser reads it (and ``sipgw config show`` prints it)."""
    where: str
    """``sipgw.toml line 12``."""
    key: str
    """The key as written, with its table: ``network.sip_port``."""
    value: Any
    """:attr:`text` parsed by the setting's parser, once, when the file was read."""


@dataclass(frozen=True, slots=True)
class Found:
    """A setting's text and where it was found."""

    setting: Setting[Any]
    text: str
    origin: Origin
    env_file_line: str = ""
    """``.env line 3`` when the environment got it from the ``.env`` file; ``sipgw.toml
    line 12`` when the settings file gave it."""
    key: str = ""
    """The settings file's key (``network.sip_port``) when it gave it."""
    written: FileValue | None = None
    """The file's or the line's value, parsed already (None: the text is still to parse)."""

    @property
    def name(self) -> str:
        """The setting as the user gave it, for a sentence: ``--sip-port abc``,
        ``SIPGW_SIP_PORT=abc (.env line 3)``; one nobody set by both its names and its
        default: ``--sip-port/SIPGW_SIP_PORT (default 5060)``. A secret's value is never
        shown."""
        spec = self.setting
        if self.origin == "default":
            name = spec.names
            shown = "" if spec.secret else spec.default_text
            return f"{name} (default {shown})" if shown else name
        written = self._written()
        return f"{written} ({self.env_file_line})" if self.env_file_line else written

    @property
    def label(self) -> str:
        """The setting as the user gave it, without its value, for a message about a value
        already loaded: ``--record-dir``, ``SIPGW_RECORD_DIR``, ``SIPGW_RECORD_DIR (.env
        line 3)``; one nobody set (its default, or a value set in code) by both its names:
        ``--record-dir/SIPGW_RECORD_DIR``."""
        spec = self.setting
        if self.origin == "flag":
            return str(spec.flag)
        if self.origin in ("environment", "line"):
            return f"{spec.env} ({self.env_file_line})" if self.env_file_line else spec.env
        if self.origin == "file":
            return f"{self.key} ({self.env_file_line})"
        return spec.names

    def quoted(self) -> str:
        """What the user wrote, to start an error message: ``--sip-port abc``,
        ``SIPGW_SIP_PORT=abc``, ``.env line 3: SIPGW_SIP_PORT=abc``,
        ``sipgw.toml line 12: network.sip_port = 'abc'``."""
        written = self._written()
        return f"{self.env_file_line}: {written}" if self.env_file_line else written

    def _written(self) -> str:
        spec = self.setting
        if self.origin == "file":  # never a secret: the file may not hold one
            return f"{self.key} = {shlex.quote(self.text)}"
        if spec.secret:
            return str(spec.flag) if self.origin == "flag" else spec.env
        value = shlex.quote(self.text)
        return f"{spec.flag} {value}" if self.origin == "flag" else f"{spec.env}={value}"


@dataclass(frozen=True, slots=True)
class Sources:
    """What settings are read from: the command line's flags, the environment and the
    settings file (and, for one line's agent, the line's own values over them)."""

    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The environment (with the ``.env`` file already loaded into it); not in the repr,
    like :attr:`flags`: both hold secrets."""
    flags: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Flag (``--sip-port``) -> its text, for the flags given on the command line."""
    env_file_lines: Mapping[str, str] = field(default_factory=dict)
    """Variable -> the ``.env`` line that set it (``.env line 3``), for those it set."""
    file: Mapping[str, FileValue] = field(default_factory=dict)
    """Variable -> the settings file's value (``sipgw.toml``), for those it sets."""
    file_path: str = ""
    """The settings file as the user named it ("" = none)."""
    file_keys: frozenset[str] = frozenset()
    """The settings file's top-level keys (its sections, ``lines``, ``http_tools`` ...)."""
    document: TomlDocument | None = field(default=None, repr=False)
    """The settings file as read (once): its lines, routes and tools are taken from it."""
    line: Mapping[str, FileValue] = field(default_factory=dict)
    """Variable -> a line's own value (parsed), over everything else (:meth:`with_line`)."""
    under: Sources | None = field(default=None, repr=False)
    """The gateway's sources that :attr:`line` is laid over: what is not the line's is
    taken from what the loader made of them (parsed once for every line)."""
    parsed: dict[Setting[Any], tuple[bool, Any]] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )
    """Setting -> (given, value): each value the loader parsed, kept so that it is parsed
    once (filled by :mod:`sipgw.foundation.settings.load`)."""
    loaded: dict[type, Any] = field(init=False, default_factory=dict, repr=False, compare=False)
    """Section -> the section loaded from these sources, kept so that it is loaded once
    (filled by :func:`~sipgw.foundation.settings.load.load`)."""

    def find(self, setting: Setting[Any]) -> Found:
        """The setting's text: the line's, else its flag's, else its variable's, else the
        settings file's, else its default."""
        given = self.line.get(setting.env)
        if given is not None:
            return Found(setting, given.text, "line", given.where, given.key, given)
        if setting.flag and setting.flag in self.flags:
            return Found(setting, self.flags[setting.flag], "flag")
        if setting.env in self.environ:
            line = self.env_file_lines.get(setting.env, "")
            return Found(setting, self.environ[setting.env], "environment", line)
        written = self.file.get(setting.env)
        if written is not None:
            return Found(setting, written.text, "file", written.where, written.key, written)
        return Found(setting, setting.default_text, "default")

    def with_line(self, values: Mapping[str, FileValue]) -> Sources:
        """These sources with a line's own values (variable -> value, parsed) over them:
        what the line's agent is built from. What the line does not set is what these
        sources give, parsed and loaded once for the gateway and every line."""
        return dataclasses.replace(self, line={**self.line, **values}, under=self)

    def given(self, setting: Setting[Any]) -> bool:
        """Whether a line, a flag, the environment or the settings file sets it."""
        return self.find(setting).origin != "default"

    def gives(self, cls: type, name: str) -> bool:
        """Whether a flag, the environment or the settings file sets the setting of field
        ``name`` of ``cls``.

        Raises:
            TypeError: ``cls`` has no such setting.
        """
        return self.given(setting_of(cls, name))

    def label(self, cls: type, name: str) -> str:
        """How a message names the setting of field ``name`` of ``cls`` (:attr:`Found.label`).

        Raises:
            TypeError: ``cls`` has no such setting.
        """
        return self.find(setting_of(cls, name)).label

    def labels(self, *classes: type) -> dict[str, str]:
        """Field -> :attr:`Found.label`, for every setting of ``classes``."""
        return {name: self.find(spec).label for cls in classes for name, spec in settings_of(cls)}

    def explain(self, error: ConfigError) -> str:
        """The message of ``error``; a :class:`SettingError`'s names its settings as given here."""
        if isinstance(error, SettingError):
            return error.with_names(self.labels(*error.sections))
        return str(error)

    def command_line(self) -> Sources:
        """The flags alone: what this command line says, without the environment."""
        return Sources(flags=self.flags)

    def with_file(self, values: Mapping[str, FileValue], document: TomlDocument) -> Sources:
        """These sources with the settings file ``document`` and its values (under the
        environment's)."""
        return dataclasses.replace(
            self,
            file=values,
            file_path=document.label,
            file_keys=frozenset(document.data),
            document=document,
        )


_ASSIGNMENT = r"^\s*(?:export\s+)?{}\s*="


def load_env_file(env_file: str | None) -> dict[str, str]:
    """Load ``env_file`` (default ``./.env`` if it exists) into ``os.environ``.

    Variables already set keep their values (the environment wins over the file).

    Returns:
        Variable -> ``FILE line N`` for each variable the file set.

    Raises:
        ConfigError: ``env_file`` was named but is not a file.
    """
    path = Path(env_file) if env_file else Path(".env")
    if env_file and not path.is_file():
        raise ConfigError(f"--env-file {env_file}: no such file")
    if not path.is_file():
        return {}
    before = set(os.environ)
    load_dotenv(path, override=False)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    label = env_file or ".env"
    return {name: f"{label} line {_line_of(name, lines)}" for name in set(os.environ) - before}


def _line_of(name: str, lines: list[str]) -> int:
    """The line (from 1) of the last assignment to ``name``; the file's last one wins."""
    assignment = re.compile(_ASSIGNMENT.format(re.escape(name)))
    found = [number for number, line in enumerate(lines, 1) if assignment.match(line)]
    return found[-1] if found else 1
