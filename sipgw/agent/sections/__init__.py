"""Typed settings: sections declared as frozen dataclasses, loaded from flags and environment.

A section is a frozen dataclass whose fields are :func:`setting` s (environment variable,
flag, default, help, parser); :func:`section` gives it a name, a title and an intro. The
CLI's flags and help groups, the error messages, ``.env.example`` and
``docs/configuration.md`` all come from these declarations, and :func:`load` is the one
reader of settings by name: everything else gets typed objects, checked by mypy from the
environment to the field. Where a value comes from, highest first: the flag, the
environment, the ``.env`` file (loaded into the environment by :func:`load_env_file`),
the settings file (``sipgw.toml``: a table per section,
:mod:`~sipgw.agent.sections.settingsfile`), the default.

The modules: :mod:`~sipgw.agent.sections.declare` (:func:`setting`, :func:`section`),
:mod:`~sipgw.agent.sections.parsers` (text to value, with messages that say what is
allowed), :mod:`~sipgw.agent.sections.sources` (flags, environment, ``.env``, the settings
file's values), :mod:`~sipgw.agent.sections.settingsfile` (the settings file's tables),
:mod:`~sipgw.agent.sections.tomlfile` (TOML files whose errors name their lines),
:mod:`~sipgw.agent.sections.load` (:func:`load`, :func:`require`) and
:mod:`~sipgw.agent.sections.flags` (argparse groups). The catalogue of sipgw's own sections
is :mod:`sipgw.app.sections`.
"""

from __future__ import annotations

from sipgw.agent.sections.declare import (
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
from sipgw.agent.sections.load import load, missing, require, secret_texts, validate
from sipgw.agent.sections.sources import Found, Sources, load_env_file

__all__ = [
    "ConfigError",
    "ConfigMistakes",
    "Found",
    "InvalidSettings",
    "SectionInfo",
    "Setting",
    "SettingError",
    "Sources",
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
    "validate",
]
