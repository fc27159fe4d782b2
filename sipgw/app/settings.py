"""Settings: what one setting is, and how its value is found and parsed.

Every setting sipgw reads is one :class:`Setting` row in the registry
(:mod:`sipgw.app.settings_registry`), grouped in :class:`Section` s. The same
rows give the CLI its flags, the environment and ``.env`` their variables, the
error messages their names, and ``.env.example`` and ``docs/configuration.md``
their text.

:class:`SettingValues` finds a setting's text, highest first: its command-line
flag, the environment, its default. ``sipgw serve`` loads the ``.env`` file
into the environment beforehand without overriding what is already set, so a
``.env`` line sits between the environment and the default. Values are parsed
when they are read, so a bad value of a setting nobody reads (say, an
assistant key while the echo agent answers) stops nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigError",
    "Section",
    "Setting",
    "SettingValues",
    "choice",
    "int_at_least",
    "ip_address",
    "log_level",
    "non_negative",
    "optional_int",
    "optional_ip_address",
    "port",
    "port_range",
    "positive",
    "text",
]


class ConfigError(Exception):
    """A setting has a value we cannot use; the message names the setting."""


def text(value: str) -> str:
    """Any text, surrounding blanks removed (the default parser)."""
    return value.strip()


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its environment variable, flag, default, meaning and parser."""

    env: str
    """The environment variable (and ``.env`` key), e.g. ``SIPGW_SIP_PORT``."""
    default: str
    """The text used when neither flag nor environment sets it."""
    help: str
    """What it means, one or two sentences (CLI help, docs, ``.env.example``)."""
    parse: Callable[[str], Any] = text
    """Text to value; raises ``ValueError`` with a message saying what is allowed."""
    flag: str | None = None
    """The ``sipgw serve`` flag, if the setting has one."""
    metavar: str | None = None
    """The flag's value placeholder in ``--help``."""
    required: bool = False
    """Must be set (non-empty) when its section is used, e.g. an API key."""
    default_doc: str | None = None
    """How the docs show the default, when the text alone would mislead."""
    secret: bool = False
    """A key or password: masked in every log line (:mod:`sipgw.app.privacy`), never
    echoed in an error message."""


@dataclass(frozen=True, slots=True)
class Section:
    """Settings that belong together: the gateway's, one agent's, one vendor's."""

    name: str
    """Short name, e.g. ``gateway`` or ``assemblyai``."""
    title: str
    """Heading in the docs and in ``.env.example``."""
    intro: str
    """When these settings are read, one or two sentences."""
    settings: tuple[Setting, ...]


class SettingValues:
    """The value of each setting: flag, else environment, else default; parsed on reading.

    Args:
        settings: the rows this resolves (normally the whole registry).
        environ: the environment (with ``.env`` already merged in).
        flags: ``env name -> text`` from the command line; None = not given.
    """

    def __init__(
        self,
        settings: Iterable[Setting],
        environ: Mapping[str, str],
        flags: Mapping[str, str | None] | None = None,
    ) -> None:
        self._settings = {setting.env: setting for setting in settings}
        self._environ = environ
        self._flags = flags or {}

    def setting(self, env: str) -> Setting:
        """The row for ``env``."""
        return self._settings[env]

    def text(self, env: str) -> tuple[str, str]:
        """The setting's text and where it came from (flag, variable or ``default``)."""
        setting = self._settings[env]
        flagged = self._flags.get(env)
        if flagged is not None:
            return flagged, setting.flag or env
        if env in self._environ:
            return self._environ[env], env
        return setting.default, "default"

    def __getitem__(self, env: str) -> Any:
        """The parsed value.

        Raises:
            ConfigError: the text does not parse; the message names the flag or variable.
        """
        value, source = self.text(env)
        try:
            return self._settings[env].parse(value)
        except ValueError as exc:
            name = env if source == "default" else source
            if self._settings[env].secret:
                raise ConfigError(f"{name}: {exc}") from None
            raise ConfigError(f"{name}={value!r}: {exc}") from None

    def missing(self, sections: Iterable[Section]) -> list[str]:
        """The required settings of ``sections`` that are unset or empty."""
        return [
            s.env
            for section in sections
            for s in section.settings
            if s.required and not self.text(s.env)[0].strip()
        ]


# -- parsers: text in, value out, ValueError saying what is allowed --------------------


def port(value: str) -> int:
    """A UDP port number, 0..65535."""
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be 0..65535")
    return number


def port_range(value: str) -> tuple[int, int]:
    """``LO-HI`` with 1024 <= LO < HI <= 65535."""
    low_text, sep, high_text = value.partition("-")
    if not sep:
        raise ValueError("must look like LO-HI, e.g. 10000-20000")
    low, high = int(low_text), int(high_text)
    if not 1024 <= low < high <= 65535:
        raise ValueError("must be LO-HI with 1024 <= LO < HI <= 65535")
    return low, high


def ip_address(value: str) -> str:
    """An IPv4 or IPv6 address (no host names)."""
    return str(ipaddress.ip_address(value.strip()))


def optional_ip_address(value: str) -> str:
    """An IP address, or "" for "work it out"."""
    return ip_address(value) if value.strip() else ""


def non_negative(value: str) -> float:
    """A number >= 0."""
    number = float(value)
    if number < 0:
        raise ValueError("must be >= 0")
    return number


def positive(value: str) -> float:
    """A number > 0."""
    number = float(value)
    if number <= 0:
        raise ValueError("must be > 0")
    return number


def int_at_least(low: int) -> Callable[[str], int]:
    """A whole number >= ``low``."""

    def parse(value: str) -> int:
        number = int(value)
        if number < low:
            raise ValueError(f"must be a whole number >= {low}")
        return number

    return parse


def optional_int(value: str) -> int | None:
    """A positive whole number, or 0 / "" / ``none`` / ``unlimited`` for no limit (None)."""
    if value.strip().lower() in ("", "0", "none", "unlimited"):
        return None
    number = int(value)
    if number < 1:
        raise ValueError("must be a positive number or 0 for no limit")
    return number


def log_level(value: str) -> str:
    """A logging level name."""
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def choice(*options: str) -> Callable[[str], str]:
    """One of ``options`` (case-insensitive)."""

    def parse(value: str) -> str:
        picked = value.strip().lower()
        if picked not in options:
            if len(options) == 2:
                raise ValueError(f"must be '{options[0]}' or '{options[1]}'")
            raise ValueError(f"must be one of {', '.join(options)}")
        return picked

    return parse
