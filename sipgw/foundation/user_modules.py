"""Importing a module the user names in a setting (a tools module, a caller-context hook).

``name`` is a dotted module name (found on ``sys.path``, the current directory included) or
the path of a ``.py`` file. Every failure is one :class:`UserModuleError` whose message
says what went wrong in a line, so start-up can show it as a configuration error.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["UserModuleError", "import_user_module"]


class UserModuleError(Exception):
    """The module could not be found or imported (the message says which, and why)."""


def import_user_module(name: str, *, what: str, file_prefix: str) -> ModuleType:
    """Import ``name``; ``what`` starts every message (e.g. ``"tools module"``).

    A ``.py`` file is loaded under the module name ``file_prefix + its stem``.

    Raises:
        UserModuleError: not found, or its import raised.
    """
    if name.endswith(".py"):
        return _import_file(Path(name), what, file_prefix)
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise UserModuleError(
                f"{what} {name!r} not found (is it on PYTHONPATH or in the current directory?)"
            ) from exc
        raise UserModuleError(f"{what} {name!r} failed to import: {exc}") from exc
    except Exception as exc:
        raise UserModuleError(
            f"{what} {name!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc


def _import_file(path: Path, what: str, file_prefix: str) -> ModuleType:
    if not path.is_file():
        raise UserModuleError(f"{what} {str(path)!r} not found")
    name = f"{file_prefix}{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserModuleError(f"{what} {str(path)!r} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UserModuleError(
            f"{what} {str(path)!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    return module
