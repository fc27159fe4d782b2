"""TOML files of settings (accounts, routes): read once, every error naming the file's line.

``tomllib`` gives values without positions, so :class:`TomlDocument` keeps the text and
finds where a table or a key was written: ``[accounts.office]`` and its ``auth_password =``
line, or the third ``[[routes]]`` entry. A :class:`Place` is one table of the file as a
message names it (``routes.toml line 7: line 'sales'``); called with a key it names that
key's line instead, when it can find it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sipgw.foundation.settings.declare import ConfigError, ConfigMistakes

_Value = TypeVar("_Value")

__all__ = ["Place", "TableMistakes", "TomlDocument", "read_toml"]

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(?:#.*)?$")
_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)$")


def _dotted(text: str) -> str:
    """A header's dotted name with blanks around the dots removed."""
    return re.sub(r"\s*\.\s*", ".", text.strip())


@dataclass(frozen=True, slots=True)
class TomlDocument:
    """A parsed TOML file and its lines (for the positions of what it holds)."""

    label: str
    """The file as messages name it (the path as given)."""
    data: dict[str, Any]
    lines: tuple[str, ...]

    def table_line(self, *names: str) -> int | None:
        """The line of ``[a.b]`` (each name bare or quoted), if there is one."""
        wanted = {".".join(parts) for parts in _spellings(names)}
        for number, line in enumerate(self.lines, 1):
            match = _HEADER.match(line)
            if match and not _ARRAY_HEADER.match(line) and _dotted(match.group(1)) in wanted:
                return number
        return None

    def array_line(self, name: str, index: int) -> int | None:
        """The line of the ``index``-th (from 0) ``[[name]]`` header, if there is one."""
        seen = 0
        for number, line in enumerate(self.lines, 1):
            match = _ARRAY_HEADER.match(line)
            if match and _dotted(match.group(1)) == name:
                if seen == index:
                    return number
                seen += 1
        return None

    def key_line(self, header: int | None, key: str) -> int | None:
        """The line of ``key = ...`` in the table whose header is on line ``header``
        (``None``: the top of the file, before any table)."""
        start = 0 if header is None else header
        assignment = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for number in range(start + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if _HEADER.match(line) or _ARRAY_HEADER.match(line):
                return None
            if assignment.match(line):
                return number
        return None

    def place(self, header: int | None, what: str = "") -> Place:
        """The table whose header is on line ``header``, named ``what`` in messages."""
        return Place(self, header, what)


def _spellings(names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every way to write the dotted name: each part bare, "quoted" or 'quoted'."""
    found: list[tuple[str, ...]] = [()]
    for name in names:
        found = [(*prefix, form) for prefix in found for form in (name, f'"{name}"', f"'{name}'")]
    return found


@dataclass(frozen=True, slots=True)
class Place:
    """Names one table of a file, or one of its keys, for a message."""

    document: TomlDocument
    header: int | None
    what: str

    def __call__(self, key: str | None = None) -> str:
        """``FILE line N: WHAT``: the key's line when it is found, else the table's."""
        where = self.line(key)
        return f"{where}: {self.what}" if self.what else where

    def line(self, key: str | None = None) -> str:
        """``FILE line N``: the key's line when it is found, else the table's."""
        number = self.document.key_line(self.header, key) if key else None
        number = number or self.header
        label = self.document.label
        return f"{label} line {number}" if number else label


def read_toml(path: Path) -> TomlDocument:
    """Read and parse a TOML file.

    Raises:
        ConfigError: it cannot be read, is not UTF-8, or is not valid TOML; the message
            names the file and, for a syntax error, the line.
    """
    label = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{label}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text") from None
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _POSITION.search(message)
        where = label
        if position:
            where = f"{label} line {position.group(1)}"
            message = message[: position.start()]
        raise ConfigError(f"{where}: not valid TOML ({message})") from None
    return TomlDocument(label, data, tuple(source.splitlines()))


class TableMistakes:
    """The mistakes of one table: every check runs and each mistake is kept
    (:meth:`keep`), so that one run names them all, each on its key's line."""

    def __init__(self, document: TomlDocument) -> None:
        self.document = document
        self.messages: list[str] = []

    def keep(self, check: Callable[[], _Value], instead: _Value) -> _Value:
        """What ``check()`` reads, or ``instead`` when it finds a mistake (kept)."""
        try:
            return check()
        except ConfigMistakes as exc:
            self.messages.extend(exc.messages)
        except ConfigError as exc:
            self.messages.append(str(exc))
        return instead

    def unknown(self, place: Place, table: Mapping[str, Any], known: frozenset[str]) -> None:
        """Every key of ``table`` that is not one of ``known``."""
        names = ", ".join(sorted(known))
        for key in sorted(set(table) - known):
            self.messages.append(f"{place(key)}: unknown key {key!r} (known: {names})")

    def raise_any(self) -> None:
        """Raise them all (:class:`ConfigMistakes`), in the file's order, if any."""
        if self.messages:
            self.messages.sort(key=self._line_number)
            raise ConfigMistakes(self.messages)

    def _line_number(self, message: str) -> int:
        """The line a message names (``FILE line N: ...``); 0 when it names none."""
        prefix = f"{self.document.label} line "
        number = message.removeprefix(prefix).partition(":")[0]
        return int(number) if message.startswith(prefix) and number.isdigit() else 0
