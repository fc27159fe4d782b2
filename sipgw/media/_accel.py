"""Which media path runs: the compiled one, or the pure-Python reference; chosen at import.

The Python modules are the one source of truth. A build with a C compiler
(``scripts/build-native``, run by ``scripts/serve`` and ``scripts/test``; or ``pip wheel``)
compiles the hot ones with mypyc, next to their sources, and builds ``sipgw.media._rtpio``
(batched UDP receive), then writes ``media/_native_build.json``: the compiled modules
and a hash of each one's source (and of ``media/_rtpio.c``). The first import of
``media`` (``agent`` imports it first too) calls :func:`select`, which decides once for
the process:

- ``native`` when the build is there and every compiled module's source, and the
  extension's C source, still hashes as it did at the build;
- ``pure`` otherwise: ``SIPGW_PURE_PYTHON=1`` asked for it, nothing was built (no
  compiler), or a source changed since the build (a stale build never runs). Then a
  finder ahead of the others makes every compiled module load from its ``.py``: all
  or none, since compiled modules call each other directly.

:data:`PATH` and :data:`REASON` say which and why (the start-up log line and
``/metrics`` show them).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType

__all__ = [
    "MANIFEST",
    "PATH",
    "REASON",
    "PureFinder",
    "compiled_file",
    "decide",
    "import_name",
    "native",
    "read_manifest",
    "read_sources",
    "select",
    "source_hash",
]

HERE = Path(os.path.abspath(__file__)).parent
"""This package's folder as imported: ``.../sipgw/media`` (the checkout's symlink to ``media/``,
or the installed package), not resolved: module names map to paths under it."""
ROOT = HERE.parent.parent
"""The folder that holds the ``sipgw`` package."""
MANIFEST = HERE / "_native_build.json"
"""Written by the build: ``{"modules": {name: source sha256}, "extensions": [...],
"sources": {C source path: sha256}}``."""

PATH = "pure"
"""``native`` or ``pure``, once :func:`select` ran."""
REASON = "not chosen yet"
"""Why, in words (e.g. ``SIPGW_PURE_PYTHON=1``, ``media/jitterbuffer.py changed since the
build``)."""

_selected = False


def source_hash(path: Path) -> str:
    """The sha256 of a module's source, as the build records it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _source_path(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def _hashes(path: Path, section: str) -> dict[str, str] | None:
    """One ``{name: sha256}`` section of the build's manifest; None when there is none."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    hashes = data.get(section) if isinstance(data, dict) else None
    if not isinstance(hashes, dict):
        return None
    return {str(name): str(digest) for name, digest in hashes.items()}


def read_manifest(path: Path = MANIFEST) -> dict[str, str] | None:
    """The build's compiled modules and their sources' hashes; None when there is none."""
    return _hashes(path, "modules")


def read_sources(path: Path = MANIFEST) -> dict[str, str]:
    """The build's hashes of the C extension's sources (``{"sipgw/media/_rtpio.c": sha256}``);
    empty when the manifest has none."""
    return _hashes(path, "sources") or {}


def _stale(
    modules: Mapping[str, str], root: Path, sources: Mapping[str, str] | None = None
) -> str | None:
    """The first compiled module or extension source that changed (or whose build output
    is gone)."""
    for relative, digest in (sources or {}).items():
        try:
            if source_hash(root / relative) != digest:
                return f"{relative} changed since the build"
        except OSError:
            return f"{relative} is missing"
    for name, digest in modules.items():
        source = _source_path(name, root)
        try:
            if source_hash(source) != digest:
                return f"{source.relative_to(root)} changed since the build"
        except OSError:
            return f"{source.relative_to(root)} is missing"
        if not compiled_file(name, root):
            return f"the compiled {name} is missing"
    return None


def import_name(module: str) -> str:
    """A compiled module's import name: an older build named them ``media.*``
    and ``agent.*`` (its libraries still sit next to the sources, under the new names)."""
    top = module.partition(".")[0]
    return f"sipgw.{module}" if top in ("media", "agent") else module


def compiled_file(module: str, root: Path = ROOT) -> bool:
    """Whether the module's compiled build sits next to its source."""
    source = _source_path(module, root)
    return any(
        source.with_name(source.stem + suffix).exists()
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )


def decide(
    env: Mapping[str, str],
    modules: Mapping[str, str] | None,
    root: Path = ROOT,
    sources: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """``(path, reason)`` for this environment and build (see the module docstring);
    ``sources``: the build's hashes of the C extension's sources."""
    if env.get("SIPGW_PURE_PYTHON", "") not in ("", "0"):
        return "pure", "SIPGW_PURE_PYTHON=1"
    if modules is None:
        return "pure", "not built (scripts/build-native builds it where a C compiler is)"
    if any(name != import_name(name) for name in modules):
        return (
            "pure",
            "stale build: made before media and agent were sipgw.media and "
            "sipgw.agent (run scripts/build-native)",
        )
    stale = _stale(modules, root, sources)
    if stale is not None:
        return "pure", f"stale build: {stale} (run scripts/build-native)"
    return "native", f"{len(modules)} modules compiled with mypyc, batched RTP I/O"


class PureFinder:
    """Loads the named modules from their sources, ahead of their compiled builds."""

    def __init__(self, modules: Iterable[str], root: Path = ROOT) -> None:
        self.modules = frozenset(modules)
        self.root = root

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in self.modules:
            return None
        return importlib.util.spec_from_file_location(name, _source_path(name, self.root))


def select() -> None:
    """Choose the path for this process (the first call decides; later ones do nothing)."""
    global PATH, REASON, _selected
    if _selected:
        return
    _selected = True
    modules = read_manifest()
    PATH, REASON = decide(os.environ, modules, sources=read_sources())
    if PATH == "pure":
        names = [import_name(name) for name in modules or {}]
        compiled = [name for name in names if compiled_file(name)]
        if compiled:
            sys.meta_path.insert(0, PureFinder(compiled))


def native() -> bool:
    """Whether the compiled path runs (after :func:`select`)."""
    return PATH == "native"
