"""The settings file (``sipgw.toml``): a table per section, read into the sources.

::

    [network]
    public_ip = "203.0.113.10"
    sip_port = 5060

    [assistant]
    greeting = "Thanks for calling. How can I help?"

Each table is a section, named as it is declared (``@section("network", ...)``); each key is
a field of it (``sip_port``). A value is a string, a number, true or false, or (for a
setting that takes several) a list; the setting's parser reads it as it reads the
environment's text: a number as its digits, a boolean as the words the setting takes
(``true``/``false``, ``on``/``off``), a list joined with commas (or ``|`` where the
setting's items may hold commas). Every value is parsed when
the file is read, so a mistake anywhere in it is named with its line, whether or not its
section is used; the parsed value is what the loader takes (each value is parsed once).

Which file: ``--config FILE``, else ``SIPGW_CONFIG`` (the environment or ``.env``), else
``./sipgw.toml`` when it exists (:func:`config_path`).

Secrets (every setting declared ``secret``: keys, passwords, tokens) are refused here: they
come from the environment or ``.env`` only. The file's other top-level keys (the lines,
the routes, the tools) are read by those who know them (``other_keys``).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sipgw.foundation.settings.declare import ConfigError, SectionInfo, Setting
from sipgw.foundation.settings.sources import FileValue
from sipgw.foundation.settings.tomlfile import TomlDocument

__all__ = [
    "CONFIG_VARIABLE",
    "DEFAULT_PATH",
    "SettingsFile",
    "config_path",
    "file_values",
    "secret_in_file",
]

CONFIG_VARIABLE = "SIPGW_CONFIG"
"""The variable that names the settings file when ``--config`` does not."""
DEFAULT_PATH = "sipgw.toml"
"""The settings file read when nothing names one, if it exists (in the working directory)."""

_BOOLEAN_WORDS = (("true", "false"), ("on", "off"), ("yes", "no"), ("1", "0"))


@dataclass(frozen=True, slots=True)
class SettingsFile:
    """A settings file as read: its text and parse, the settings it sets, and what is
    wrong in it (each message naming the file's line and the key)."""

    document: TomlDocument
    values: Mapping[str, FileValue]
    """Variable -> the value the file gives it."""
    errors: tuple[str, ...] = ()
    tables: Mapping[str, tuple[Mapping[str, FileValue], tuple[str, ...]]] = field(
        default_factory=dict, repr=False
    )
    """Section -> its table's values and mistakes, as read: a later reading of more
    sections (:func:`file_values`' ``read``) does not parse these again."""


def config_path(flag: str | None, environ: Mapping[str, str]) -> tuple[Path, str] | None:
    """The settings file and how to name what chose it (``--config``, ``SIPGW_CONFIG``).

    Raises:
        ConfigError: ``--config`` or ``SIPGW_CONFIG`` names a file that does not exist.
    """
    if flag:
        named, who = flag, f"--config {flag}"
    elif environ.get(CONFIG_VARIABLE, "").strip():
        named = environ[CONFIG_VARIABLE].strip()
        who = f"{CONFIG_VARIABLE}={named}"
    else:
        default = Path(DEFAULT_PATH)
        return (default, DEFAULT_PATH) if default.is_file() else None
    path = Path(named)
    if not path.is_file():
        raise ConfigError(f"{who}: no such file")
    return path, who


def secret_in_file(where: str, key: str, spec: Setting[Any]) -> str:
    """The message refusing a secret written in the file."""
    return (
        f"{where}: {key} is a secret: set {spec.env} in the environment or in .env, "
        "never in this file"
    )


def file_values(
    document: TomlDocument,
    sections: Iterable[SectionInfo],
    other_keys: Iterable[str] = (),
    read: SettingsFile | None = None,
) -> SettingsFile:
    """The settings ``document`` sets, each parsed by its setting, and every mistake.

    Args:
        document: the settings file.
        sections: the sections it may have a table for.
        other_keys: top-level keys read elsewhere (``lines``, ``routes``, ``http_tools`` ...).
        read: what an earlier call read of ``document`` (for fewer sections): its tables are
            taken as they were read, not parsed again.
    """
    by_name = {info.name: info for info in sections}
    others = frozenset(other_keys)
    tables = dict(read.tables) if read is not None else {}
    values: dict[str, FileValue] = {}
    errors: list[str] = []
    top = document.place(None)
    for name, table in document.data.items():
        if name in others:
            continue
        info = by_name.get(name)
        if info is None:
            where = document.table_line(name) or document.key_line(None, name)
            label = f"{document.label} line {where}" if where else document.label
            errors.append(f"{label}: [{name}] is not a section{_guess(name, [*by_name, *others])}")
            continue
        if not isinstance(table, dict):
            errors.append(f"{top.line(name)}: {name} must be a table ([{name}])")
            continue
        if name not in tables:
            tables[name] = _section_values(document, info, table)
        table_values, table_errors = tables[name]
        values.update(table_values)
        errors.extend(table_errors)
    return SettingsFile(document, values, tuple(errors), tables)


def _section_values(
    document: TomlDocument, info: SectionInfo, table: Mapping[str, Any]
) -> tuple[dict[str, FileValue], tuple[str, ...]]:
    """The values of one section's table, each parsed once, and its mistakes."""
    header = document.table_line(info.name)
    place = document.place(header)
    settings = dict(info.settings)
    defaults = {f.name: f.default for f in dataclasses.fields(info.cls)}
    values: dict[str, FileValue] = {}
    errors: list[str] = []
    for key, value in table.items():
        dotted = f"{info.name}.{key}"
        where = place.line(key)
        spec = settings.get(key)
        if spec is None:
            errors.append(
                f"{where}: {dotted}: unknown key{_guess(key, settings)} "
                f"(the settings of [{info.name}]: {', '.join(settings)})"
            )
            continue
        if spec.secret:
            errors.append(secret_in_file(where, dotted, spec))
            continue
        try:
            text = _text(value, spec, defaults.get(key))
        except ValueError as exc:
            errors.append(f"{where}: {dotted}: {exc}")
            continue
        try:
            parsed = spec.parse(text)
        except ValueError as exc:
            errors.append(f"{where}: {dotted} = {_shown(value)}: {exc}")
            continue
        values[spec.env] = FileValue(text, where, dotted, parsed)
    return values, tuple(errors)


def _text(value: object, spec: Setting[Any], default: object) -> str:
    """``value`` as the setting's parser reads it (see the module docstring).

    Raises:
        ValueError: a value of the wrong kind (a table; a list for a single value; true or
            false for a number, a number for true or false).
    """
    if isinstance(value, dict):
        raise ValueError("must be a value, not a table")
    if isinstance(value, list):
        if not isinstance(default, tuple | list | frozenset):
            raise ValueError("takes one value, not a list")
        if any(isinstance(item, dict | list) for item in value):
            raise ValueError("must be a list of strings or numbers")
        return _joined([_text(item, spec, None) for item in value], spec)
    if isinstance(value, bool):
        if isinstance(default, int | float) and not isinstance(default, bool):
            raise ValueError("must be a number, not true or false")
        return _boolean(value, spec)
    if isinstance(default, bool) and isinstance(value, int | float):
        raise ValueError("must be true or false, not a number")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _joined(items: list[str], spec: Setting[Any]) -> str:
    """``items`` joined as the setting's parser splits them: with commas, else with ``|``
    (the separator of items that may hold commas, such as filler lines)."""
    for separator in (",", "|"):
        text = separator.join(items)
        try:
            parsed = spec.parse(text)
        except ValueError:
            continue
        if isinstance(parsed, tuple | list | frozenset) and len(parsed) == len(items):
            return text
    return ",".join(items)


def _boolean(value: bool, spec: Setting[Any]) -> str:
    """The first pair of words the setting's parser takes (``true``, ``on``, ``yes``)."""
    for yes, no in _BOOLEAN_WORDS:
        try:
            spec.parse(yes)
            spec.parse(no)
        except ValueError:
            continue
        return yes if value else no
    return "true" if value else "false"


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _guess(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
