"""Writing TOML: what ``tomllib`` reads, written back as tables (``sipgw config convert``).

Only what a parsed file can hold: strings, booleans, numbers, dates and times, lists and
tables. A table is written as ``[a.b]`` under its parent's plain values; a list of tables
as ``[[a.b]]`` entries, each followed by its own sub-tables; a list that mixes tables with
other values, or a table inside a list, inline (``{ key = value }``).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps", "toml_key", "toml_value"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(key: str) -> str:
    """``key`` bare when it may be, else quoted."""
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """One value, inline.

    Raises:
        TypeError: not something TOML holds.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_tables(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(path: tuple[str, ...], table: Mapping[str, Any], out: list[str]) -> None:
    """The plain values of ``table``, then its tables and lists of tables."""
    for key, value in table.items():
        if not isinstance(value, Mapping) and not _is_tables(value):
            out.append(f"{toml_key(key)} = {toml_value(value)}")
    for key, value in table.items():
        here = (*path, toml_key(key))
        if isinstance(value, Mapping):
            plain = any(not isinstance(v, Mapping) and not _is_tables(v) for v in value.values())
            if plain or not value:
                out.extend(["", f"[{'.'.join(here)}]"])
            _table(here, value, out)
        elif _is_tables(value):
            for entry in value:
                out.extend(["", f"[[{'.'.join(here)}]]"])
                _table(here, entry, out)


def dumps(data: Mapping[str, Any]) -> str:
    """``data`` as a TOML document (``tomllib.loads`` gives it back).

    Raises:
        TypeError: a value TOML does not hold.
    """
    out: list[str] = []
    _table((), data, out)
    while out and not out[0]:
        out.pop(0)
    return "\n".join(out) + "\n"
