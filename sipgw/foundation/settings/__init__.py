"""Typed settings: sections declared as frozen dataclasses, loaded from flags and environment.

A section is a frozen dataclass whose fields are :func:`setting` s (environment variable,
flag, default, help, parser); :func:`section` gives it a name, a title and an intro. The
CLI's flags and help groups, the error messages, ``.env.example`` and
``docs/configuration.md`` all come from these declarations, and :func:`load` is the one
reader of settings by name: everything else gets typed objects, checked by mypy from the
environment to the field. Where a value comes from, highest first: a line's own value (for
that line's agent: :meth:`Sources.with_line`), the flag, the environment, the ``.env`` file
(loaded into the environment by :func:`load_env_file`), the settings file (``sipgw.toml``:
a table per section, :mod:`~sipgw.foundation.settings.settingsfile`), the default. Each
value is parsed once and each section loaded once for its sources.

The modules: :mod:`~sipgw.foundation.settings.declare` (:func:`setting`, :func:`section`),
:mod:`~sipgw.foundation.settings.parsers` (text to value, with messages that say what is
allowed), :mod:`~sipgw.foundation.settings.sources` (flags, environment, ``.env``, the settings
file's values), :mod:`~sipgw.foundation.settings.settingsfile` (the settings file's tables),
:mod:`~sipgw.foundation.settings.tomlfile` (TOML files whose errors name their lines),
:mod:`~sipgw.foundation.settings.load` (:func:`load`, :func:`require`),
:mod:`~sipgw.foundation.settings.state` (the state directory, where relative paths of
settings declared ``state=True`` are taken) and
:mod:`~sipgw.foundation.settings.flags` (argparse groups). The catalogue of sipgw's own sections
is :mod:`sipgw.app.sections`.
"""

from __future__ import annotations

from sipgw.foundation.settings.declare import (
    ConfigError,
    ConfigMistakes,
    InvalidSettings,
    SectionInfo,
    Setting,
    SettingError,
    check_names,
    is_loadable,
    section,
    section_info,
    sections_of,
    setting,
    setting_of,
    settings_of,
)
from sipgw.foundation.settings.load import (
    build_checked,
    load,
    missing,
    require,
    secret_texts,
    state_dir,
    validate,
    value_of,
)
from sipgw.foundation.settings.sources import Found, Sources, load_env_file
from sipgw.foundation.settings.state import StateSection

__all__ = [
    "ConfigError",
    "ConfigMistakes",
    "Found",
    "InvalidSettings",
    "SectionInfo",
    "Setting",
    "SettingError",
    "Sources",
    "StateSection",
    "build_checked",
    "check_names",
    "is_loadable",
    "load",
    "load_env_file",
    "missing",
    "require",
    "secret_texts",
    "section",
    "section_info",
    "sections_of",
    "setting",
    "setting_of",
    "settings_of",
    "state_dir",
    "validate",
    "value_of",
]
