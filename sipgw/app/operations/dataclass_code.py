"""The methods ``@dataclass`` writes, compiled once and kept beside the bytecode.

``@dataclass`` writes each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``
(and a frozen class's ``__setattr__`` and ``__delattr__``) as source text and runs it with
``exec``: about 2,200 compilations for the 390 dataclasses a gateway imports, 40 % of its
imports' time and a third of an echo gateway's start (docs/performance.md, "Start-up").
The text is the same from one start to the next, and so is what it compiles to.

:func:`install` (from ``python -m sipgw``, before anything is imported) gives the
``dataclasses`` module an ``exec`` that takes the code of a text it has seen from a table
(:func:`table_path`: ``sipgw/__pycache__/dataclasses.<cache tag>.marshal``) and compiles
the others as ``exec`` would; the rest of what ``exec`` does (the namespaces, running the
code) is Python's own. :func:`save` (once the gateway has started) writes the table back
when it compiled something new. The table's key is the text itself, so a changed class
never gets stale code; texts no longer written leave the table once they outnumber the
live ones. The file is written as Python writes ``.pyc`` files (not when
``sys.dont_write_bytecode``; a directory it cannot write to is skipped) and read with the
same trust: it sits beside them.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib.util
import marshal
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import CodeType
from typing import Any

__all__ = ["CodeTable", "install", "save", "table_path"]


def table_path() -> Path:
    """Where the table of this checkout (or install) and this Python lives: beside the
    bytecode of ``sipgw/__init__.py`` (under ``sys.pycache_prefix`` when set)."""
    init = Path(__file__).resolve().parents[2] / "__init__.py"  # sipgw/__init__.py
    pycache = Path(importlib.util.cache_from_source(str(init))).parent
    return pycache / f"dataclasses.{sys.implementation.cache_tag}.marshal"


class CodeTable:
    """Source text -> its code, as ``exec(text)`` would compile it in ``dataclasses``."""

    def __init__(self, loaded: Mapping[str, CodeType] | None = None) -> None:
        self.loaded: dict[str, CodeType] = dict(loaded or {})
        self.used: dict[str, CodeType] = {}
        self.compiled = 0
        """Texts not in the table, compiled here."""

    def code(self, text: str) -> CodeType:
        code = self.used.get(text) or self.loaded.get(text)
        if code is None:
            # exec(text) from dataclasses compiles with its module's future flags: none
            code = compile(text, "<string>", "exec", dont_inherit=True)
            self.compiled += 1
        self.used[text] = code
        return code

    def exec(self, source: Any, globals: Any = None, locals: Any = None, /) -> None:  # noqa: A002
        """``exec``, with the code of a text taken from the table."""
        if isinstance(source, str):
            source = self.code(source)
        builtins.exec(source, globals, locals)

    def to_keep(self) -> dict[str, CodeType]:
        """What to write: the texts used this time, and those loaded but not used unless
        they outnumber them (classes of a feature this start did not import stay; the
        texts of classes since changed go once they are as many as the live ones)."""
        unused = {t: c for t, c in self.loaded.items() if t not in self.used}
        return {**self.used, **unused} if len(unused) <= len(self.used) else dict(self.used)

    @classmethod
    def read(cls, path: Path) -> CodeTable:
        """The table in ``path``; an empty one when it is missing or unreadable."""
        try:
            data = marshal.loads(path.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return cls()
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, CodeType) for k, v in data.items()
        ):
            return cls()
        return cls(data)

    def write(self, path: Path) -> bool:
        """Write :meth:`to_keep` to ``path`` (atomically: gateways may start side by side);
        False when it could not be written."""
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(marshal.dumps(self.to_keep()))
            os.replace(tmp, path)
        except OSError:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return False
        return True


_installed: CodeTable | None = None


def install(path: Path | None = None) -> CodeTable:
    """Make ``dataclasses`` compile through a table read from ``path`` (default
    :func:`table_path`); classes made from now on use it."""
    global _installed
    table = CodeTable.read(path or table_path())
    dataclasses.exec = table.exec  # type: ignore[attr-defined]  # found before the builtin
    _installed = table
    return table


def uninstall() -> None:
    """``dataclasses`` back to the builtin ``exec``."""
    global _installed
    if _installed is not None:
        del dataclasses.exec  # type: ignore[attr-defined]
        _installed = None


def save(path: Path | None = None) -> bool:
    """Write the installed table back if it compiled something (not when Python writes no
    bytecode); True when written."""
    table = _installed
    if table is None or not table.compiled or sys.dont_write_bytecode:
        return False
    return table.write(path or table_path())
