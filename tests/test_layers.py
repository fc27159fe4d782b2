"""The layers, checked on the source: which of our packages may import which, and no cycles.

Every module under ``sipgw/``, ``bench/`` and ``tests/`` is parsed with :mod:`ast`, once,
by its import name, which is its path (``sipgw/media/rtp.py`` is ``sipgw.media.rtp``; the
top-level ``media`` and ``agent`` are links to ``sipgw/media`` and ``sipgw/agent``, not
scanned again: docs/architecture.md, "Import names"); every import counts (top level, inside
functions, under ``TYPE_CHECKING``). The rules (imports point down only):

- nothing of ours imports a top-level ``media`` or ``agent``: those names are not ours (a
  user's package may have them);
- ``media`` (``sipgw.media``) imports nothing of ours but itself;
- ``twilio`` (``sipgw.twilio``, Twilio's wire formats) imports only ``twilio`` and ``media``;
- the SIP core (``sipgw.sip``, and the package's face ``sipgw`` with its version) imports
  only the SIP core, and the face nothing at all (it runs first on every import of ours);
- the SIP core's asyncio adapters (``sipgw.aio``) import only themselves and the SIP core;
- the base floor (``sipgw.foundation``: settings, the SQL stores' base, redaction, tracing
  spans, private files) imports nothing of ours but itself;
- ``agent`` (``sipgw.agent``) imports only ``agent``, ``foundation``, ``twilio`` and ``media``;
- the speech-to-speech agents (``sipgw.agent.s2s``) never import the assistant
  (``sipgw.agent.assistant``): what both use lies below them (``conversation/``, ``turns/``);
- ``sipgw.app`` (the composition root) imports anything of ours except ``tests.toolkit``,
  ``bench`` and ``tests``;
- ``tests.toolkit`` (the test and benchmark toolkit, not in the wheel) anything but ``bench``
  and the rest of ``tests`` (its own tests beside it, ``tests/toolkit/test_*.py``, are tests);
- ``bench`` anything but ``tests`` outside the toolkit;
- no two modules import each other, directly or around a loop (``from pkg import
  __version__`` of a module's own package is not counted);
- no two rooms of the composition root, nor two rooms of ``agent``, import each other,
  directly or around a loop: a room is a module of ``sipgw/app/`` (``sipgw/agent/``) or one
  of its folders whole (``calls/``, ``lines/``, ...; ``assistant/``, ``tools/``, ...), so
  that each package's folders stand one above another (:data:`ROOMS_OF`);
- in ``sipgw``, ``media`` and ``twilio`` only the asyncio adapters (``*/aio/``) and
  ``sipgw/app`` import ``asyncio`` or ``socket``: the protocol cores (``sipgw/sip``, ``media``,
  ``twilio``) are sans-IO;
- ``agent`` is mostly asyncio, but its sans-IO folders (:data:`SANS_IO_FOLDERS`: the
  turn-taking machine and its rules) and the modules it documents as sans-IO
  (:data:`SANS_IO_AGENT`: the STT uplink, the failure policy, ...) import neither, nor does
  anything of ours they import, however indirectly; and the sans-IO folders read no clock
  (no ``time``, ``datetime``, ``loop.time()``): the time is passed in.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sipgw", "bench", "tests")
"""Our top-level import names."""
FOLDERS = ("sipgw", "bench", "tests")
"""The folders our modules are in (the top-level ``media`` and ``agent`` links lead into
``sipgw/``)."""
NOT_OURS = ("media", "agent")
"""Top-level names that are not ours (the folders' names before issue 40)."""
IO_MODULES = ("asyncio", "socket")
SANS_IO_FOLDERS = ("sipgw.agent.turns",)
"""Agent folders that are sans-IO whole: every module in them, whatever its docstring says."""
SANS_IO_AGENT = (
    "sipgw.agent.idle.policy",
    "sipgw.agent.conversation.fillers",
    "sipgw.agent.services.backoff",
    "sipgw.agent.services.stt.uplink",
    "sipgw.agent.services.assemblyai.stt_protocol",
    "sipgw.agent.services.assemblyai.stt_session",
    "sipgw.agent.services.llm.retry",
    "sipgw.agent.resilience.policy",
    "sipgw.agent.resilience.breaker",
    "sipgw.agent.amd.classifier",
    "sipgw.agent.amd.cadence",
    "sipgw.agent.amd.heard_clock",
    "sipgw.agent.amd.transcripts",
    "sipgw.agent.amd.message_cue",
    "sipgw.agent.amd.events",
    "sipgw.agent.amd.detector",
    "sipgw.agent.amd.policy",
    "sipgw.agent.ivr.navigator",
    "sipgw.agent.ivr.menu",
    "sipgw.agent.twiml.program",
    "sipgw.agent.twiml.audiofile",
    "sipgw.agent.twiml.recording",
    "sipgw.agent.twiml.dial.rules",
    "sipgw.agent.twiml.referverb",
    "sipgw.agent.twiml.dial.legstatus",
    "sipgw.agent.twiml.relay.reconnect",
)
"""The agent modules documented as sans-IO outside :data:`SANS_IO_FOLDERS`: every one whose
docstring's first line says so (checked), and the answering-machine detector's, whose
docstrings say it of their class."""
CLOCKS = ("time", "datetime")
"""Modules whose import reads (or can read) the wall or monotonic clock."""


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target, resolved to one of our modules when it is ours."""

    source: str
    target: str
    line: int
    names: tuple[str, ...] = ()


def module_name(path: Path, root: Path = ROOT) -> str:
    """The import name of the module at ``path``: its path under the repository."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def through_symlink(path: Path, root: Path = ROOT) -> bool:
    """Whether ``path`` lies under a symlinked folder (the top-level ``media/...``): the same
    file is scanned under its real path."""
    return any((root / parent).is_symlink() for parent in path.relative_to(root).parents[:-1])


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def scan(root: Path = ROOT) -> dict[str, tuple[Path, ast.Module]]:
    """Every module of ours: name -> (path, syntax tree)."""
    modules: dict[str, tuple[Path, ast.Module]] = {}
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            if through_symlink(path, root):
                continue
            name = module_name(path, root)
            assert name not in modules, f"{name} is both {modules[name][0]} and {path}"
            modules[name] = (path, ast.parse(path.read_text(), str(path)))
    return modules


def imports_of(name: str, path: Path, tree: ast.Module, known: Iterable[str]) -> list[Import]:
    """Every import in ``tree`` (any depth), ours resolved to a known module."""
    known = set(known)
    package = name if is_package(path) else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(name, _resolve(alias.name, known), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = tuple(alias.name for alias in node.names)
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in known]
            for target in submodules:
                found.append(Import(name, target, node.lineno, names))
            if len(submodules) < len(names):
                found.append(Import(name, _resolve(base, known), node.lineno, names))
    return found


def _resolve(dotted: str, known: set[str]) -> str:
    """The longest known module that ``dotted`` names or lies in; else ``dotted``."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return dotted


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer(module: str) -> str:
    """The layer a module of ours belongs to."""
    if _within(module, "sipgw.app") or module == "sipgw.__main__":
        # ``python -m sipgw`` is an entry point into the composition root; nothing imports it.
        return "sipgw.app"
    if _within(module, "tests.toolkit") and not module.rpartition(".")[2].startswith("test_"):
        return "tests.toolkit"
    if _within(module, "sipgw.media"):
        return "media"
    if _within(module, "sipgw.twilio"):
        return "twilio"
    if _within(module, "sipgw.agent"):
        return "agent"
    if _within(module, "sipgw.aio"):
        return "sipgw.aio"
    if _within(module, "sipgw.foundation"):
        return "foundation"
    if _within(module, "sipgw.sip") or module == "sipgw":
        return "SIP core"
    return _top(module)


ALLOWED: Mapping[str, frozenset[str]] = {
    "media": frozenset({"media"}),
    "twilio": frozenset({"twilio", "media"}),
    "SIP core": frozenset({"SIP core"}),
    "sipgw.aio": frozenset({"sipgw.aio", "SIP core"}),
    "foundation": frozenset({"foundation"}),
    "agent": frozenset({"agent", "foundation", "twilio", "media"}),
    "sipgw.app": frozenset(
        {"sipgw.app", "sipgw.aio", "SIP core", "media", "twilio", "agent", "foundation"}
    ),
    "tests.toolkit": frozenset(
        {"tests.toolkit", "sipgw.app", "sipgw.aio", "SIP core", "media", "twilio", "agent"}
        | {"foundation"}
    ),
    "bench": frozenset(
        {"bench", "tests.toolkit", "sipgw.app", "sipgw.aio", "SIP core", "media", "twilio"}
        | {"agent", "foundation"}
    ),
    "tests": frozenset(
        {"tests", "bench", "tests.toolkit", "sipgw.app", "sipgw.aio", "SIP core", "media"}
        | {"twilio", "agent", "foundation"}
    ),
}
"""Which layers each layer may import (its own included)."""


def layer_violations(edges: Iterable[Import], paths: Mapping[str, Path]) -> list[str]:
    problems = []
    for edge in edges:
        if _top(edge.target) not in PACKAGES:
            continue
        source_layer, target_layer = layer(edge.source), layer(edge.target)
        if target_layer not in ALLOWED[source_layer]:
            where = _where(paths, edge)
            problems.append(
                f"{where}: {edge.source} ({source_layer}) imports {edge.target} "
                f"({target_layer}); {source_layer} may import only "
                f"{', '.join(sorted(ALLOWED[source_layer]))}"
            )
    return problems


def old_names(edges: Iterable[Import], paths: Mapping[str, Path]) -> list[str]:
    """Imports of a top-level ``media`` or ``agent``: someone else's package, not ours."""
    return [
        f"{_where(paths, edge)}: {edge.source} imports {edge.target}; ours is "
        f"sipgw.{edge.target} (a top-level {_top(edge.target)} is not ours)"
        for edge in edges
        if _top(edge.target) in NOT_OURS
    ]


def io_violations(edges: Iterable[Import], paths: Mapping[str, Path]) -> list[str]:
    problems = []
    for edge in edges:
        if layer(edge.source) not in ("SIP core", "sipgw.aio", "sipgw.app", "media", "twilio"):
            continue
        if _top(edge.target) not in IO_MODULES:
            continue
        if ".aio" in f".{edge.source}" or layer(edge.source) == "sipgw.app":
            continue
        problems.append(
            f"{_where(paths, edge)}: {edge.source} imports {edge.target}; protocol cores are "
            "sans-IO (asyncio/socket only in */aio/, sipgw/app/, agent/)"
        )
    return problems


def sans_io_violations(
    edges: Iterable[Import], paths: Mapping[str, Path], roots: Iterable[str]
) -> list[str]:
    """An import of asyncio or socket by one of ``roots`` or by anything of ours it imports."""
    imports: dict[str, list[Import]] = {}
    for edge in edges:
        imports.setdefault(edge.source, []).append(edge)
    problems = []
    for root in roots:
        seen, todo = {root}, [root]
        while todo:
            for edge in imports.get(todo.pop(), []):
                if _top(edge.target) in IO_MODULES:
                    via = "" if edge.source == root else f" (through {edge.source})"
                    problems.append(
                        f"{_where(paths, edge)}: {root} is documented as sans-IO, but "
                        f"{edge.source} imports {edge.target}{via}"
                    )
                elif edge.target in paths and edge.target not in seen:
                    seen.add(edge.target)
                    todo.append(edge.target)
    return problems


NEVER_IMPORTS: Mapping[str, str] = {"sipgw.agent.s2s": "sipgw.agent.assistant"}
"""Packages that must never import another, however they stand: the speech-to-speech agents
are no assistant; what both use lies below both."""


def forbidden_imports(
    edges: Iterable[Import], paths: Mapping[str, Path], never: Mapping[str, str] = NEVER_IMPORTS
) -> list[str]:
    return [
        f"{_where(paths, edge)}: {edge.source} imports {edge.target}; {source} never imports "
        f"{target} (what both use belongs below both)"
        for edge in edges
        for source, target in never.items()
        if _within(edge.source, source) and _within(edge.target, target)
    ]


def in_folders(paths: Iterable[str], folders: Iterable[str]) -> list[str]:
    """The modules of ``paths`` that lie in one of ``folders`` (the folders' faces too)."""
    return sorted(name for name in paths if any(_within(name, f) for f in folders))


def clock_reads(name: str, path: Path, tree: ast.Module) -> list[str]:
    """Where the module at ``path`` imports a clock or asks an event loop for the time."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            hits = [a.name for a in node.names if _top(a.name) in CLOCKS]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            hits = [node.module] if node.module and _top(node.module) in CLOCKS else []
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "time"
            and not node.args
            and "loop" in ast.unparse(node.func.value)
        ):
            hits = [ast.unparse(node.func)]
        else:
            continue
        found.extend(
            f"{_where({name: path}, Import(name, str(hit), node.lineno))}: {name} reads a "
            f"clock ({hit}); the time is passed in"
            for hit in hits
        )
    return found


def cycles(edges: Iterable[Import], paths: Mapping[str, Path]) -> list[str]:
    """Import loops: strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, list[Import]] = {name: [] for name in paths}
    for edge in edges:
        if edge.target not in paths or edge.target == edge.source:
            continue
        if edge.names == ("__version__",) and _within(edge.source, edge.target):
            continue  # ``from pkg import __version__`` in pkg's own modules
        graph[edge.source].append(edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative Tarjan: (module, next edge to follow).
        work = [(start, 0)]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, i = work.pop()
            if i < len(graph[node]):
                work.append((node, i + 1))
                target = graph[node][i].target
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    problems = []
    for component in sorted(components):
        members = set(component)
        links = [
            f"{_where(paths, e)}: {e.source} imports {e.target}"
            for name in component
            for e in graph[name]
            if e.target in members
        ]
        problems.append(f"import cycle among {', '.join(component)}:\n    " + "\n    ".join(links))
    return problems


ROOMS_OF = ("sipgw.app", "sipgw.agent")
"""The packages whose rooms (each module, and each folder whole) must not import in a loop."""


def room(module: str, package: str) -> str | None:
    """The room of ``package`` that ``module`` stands in: ``sipgw.app.lines.build`` ->
    ``sipgw.app.lines``, ``sipgw.app.cli`` -> itself; None outside (or the package's face)."""
    if not module.startswith(package + "."):
        return None
    return ".".join(module.split(".")[: package.count(".") + 2])


def room_cycles(edges: Iterable[Import], paths: Mapping[str, Path], package: str) -> list[str]:
    """Imports between two rooms of ``package`` that reach back, each with the imports that
    make it: a loop of folders, even where no module is in a loop."""
    between: dict[tuple[str, str], list[Import]] = {}
    for edge in edges:
        source, target = room(edge.source, package), room(edge.target, package)
        if source and target and source != target and edge.target in paths:
            between.setdefault((source, target), []).append(edge)
    ahead: dict[str, set[str]] = {}
    for source, target in between:
        ahead.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for nxt in ahead.get(todo.pop(), ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    problems = []
    for (source, target), made in sorted(between.items()):
        if reaches(target, source):
            links = "\n    ".join(
                f"{_where(paths, e)}: {e.source} imports {e.target}" for e in made
            )
            problems.append(f"{source} -> {target}, and {target} reaches back:\n    {links}")
    return problems


def _where(paths: Mapping[str, Path], edge: Import) -> str:
    path = paths.get(edge.source)
    return f"{path.relative_to(ROOT) if path else edge.source}:{edge.line}"


@pytest.fixture(scope="module")
def tree() -> tuple[list[Import], dict[str, Path]]:
    modules = scan()
    paths = {name: path for name, (path, _) in modules.items()}
    edges = [e for name, (path, t) in modules.items() for e in imports_of(name, path, t, paths)]
    return edges, paths


def test_the_scan_sees_the_whole_tree(tree: tuple[list[Import], dict[str, Path]]) -> None:
    edges, paths = tree
    for expected in (
        "sipgw.sip.useragent",
        "sipgw.media.session",
        "sipgw.twilio.stream",
        "sipgw.agent.assistant.agent",
        "sipgw.app.cli",
    ):
        assert expected in paths
    ours = [e for e in edges if _top(e.target) in PACKAGES]
    assert len(paths) > 100 and len(ours) > 300


def test_each_layer_imports_only_the_layers_below(
    tree: tuple[list[Import], dict[str, Path]],
) -> None:
    problems = layer_violations(*tree)
    assert not problems, "layer violations:\n" + "\n".join(problems)


def test_nothing_of_ours_imports_media_or_agent_by_a_top_level_name(
    tree: tuple[list[Import], dict[str, Path]],
) -> None:
    problems = old_names(*tree)
    assert not problems, "\n".join(problems)


def test_the_package_face_imports_nothing(tree: tuple[list[Import], dict[str, Path]]) -> None:
    """``sipgw/__init__.py`` runs before every import of ``sipgw.media`` and ``sipgw.agent``:
    it holds the version, and imports nothing that media would then import with it."""
    edges, paths = tree
    assert "sipgw" in paths
    imported = [e.target for e in edges if e.source == "sipgw" and e.target != "__future__"]
    assert not imported, imported


def test_protocol_cores_import_no_asyncio_or_socket(
    tree: tuple[list[Import], dict[str, Path]],
) -> None:
    problems = io_violations(*tree)
    assert not problems, "\n".join(problems)


def test_the_agent_modules_documented_as_sans_io_are(
    tree: tuple[list[Import], dict[str, Path]],
) -> None:
    edges, paths = tree
    problems = sans_io_violations(edges, paths, SANS_IO_AGENT)
    assert not problems, "\n".join(problems)


def test_the_sans_io_folders_import_no_asyncio_and_read_no_clock(
    tree: tuple[list[Import], dict[str, Path]],
) -> None:
    edges, paths = tree
    modules = in_folders(paths, SANS_IO_FOLDERS)
    assert "sipgw.agent.turns.machine" in modules and len(modules) > 5, modules
    problems = sans_io_violations(edges, paths, modules)
    for name in modules:
        problems += clock_reads(name, paths[name], ast.parse(paths[name].read_text()))
    assert not problems, "\n".join(problems)


def test_the_speech_to_speech_agents_never_import_the_assistant(
    tree: tuple[list[Import], dict[str, Path]],
) -> None:
    problems = forbidden_imports(*tree)
    assert not problems, "\n".join(problems)


def test_every_agent_module_that_says_it_is_sans_io_is_checked(
    tree: tuple[list[Import], dict[str, Path]],
) -> None:
    _, paths = tree
    said = []
    for name, path in paths.items():
        if layer(name) != "agent":
            continue
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if "sans-io" in docstring.strip().split("\n", 1)[0].lower():
            said.append(name)
    checked = set(SANS_IO_AGENT) | set(in_folders(paths, SANS_IO_FOLDERS))
    assert said and set(said) <= checked, sorted(set(said) - checked)
    assert set(SANS_IO_AGENT) <= set(paths), sorted(set(SANS_IO_AGENT) - set(paths))


def test_no_import_cycles(tree: tuple[list[Import], dict[str, Path]]) -> None:
    problems = cycles(*tree)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("package", ROOMS_OF)
def test_the_rooms_of_a_package_import_in_no_loop(
    tree: tuple[list[Import], dict[str, Path]], package: str
) -> None:
    """``sipgw.app``'s rooms, and ``sipgw.agent``'s: the contract at the root (``base``,
    ``capabilities``, ...), the features below the agents that use them (``transfer/``,
    ``idle/``, ``tools/`` below ``assistant/``, ``assistant/`` below ``s2s/``)."""
    edges, paths = tree
    rooms = {room(name, package) for name in paths} - {None}
    assert len(rooms) > 5, rooms  # the package is there, and has rooms
    problems = room_cycles(edges, paths, package)
    assert not problems, "loops between folders:\n" + "\n".join(problems)


# -- the checker itself, on a made-up tree -------------------------------------------------


def _fake_tree(tmp_path: Path, files: Mapping[str, str]) -> tuple[list[Import], dict[str, Path]]:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    paths = {module_name(tmp_path / r, tmp_path): tmp_path / r for r in files}
    edges = []
    for name, path in paths.items():
        edges.extend(imports_of(name, path, ast.parse(path.read_text()), paths))
    # Shown as if in our tree, so that messages name the relative path.
    return edges, {name: ROOT / path.relative_to(tmp_path) for name, path in paths.items()}


def test_the_checker_finds_each_kind_of_violation(tmp_path: Path) -> None:
    edges, paths = _fake_tree(
        tmp_path,
        {
            "sipgw/__init__.py": "__version__ = '1'\n",
            "sipgw/sip/useragent.py": "from sipgw import __version__\nimport socket\n",
            "sipgw/sip/dialog.py": "from sipgw.aio import transport\n",
            "sipgw/aio/transport.py": "import asyncio\nfrom sipgw.sip import useragent\n",
            "sipgw/app/cli.py": "from sipgw.agent import base\nfrom tests.toolkit import kit\n",
            "tests/toolkit/kit.py": "def f():\n    from bench import load\n",
            "sipgw/media/rtp.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from sipgw.sip.useragent import UserAgent\n",
            "sipgw/agent/base.py": "from sipgw.media.rtp import x\n",
            # sans-IO, they say
            "sipgw/agent/turns/machine.py": "from sipgw.agent.clock import now\n",
            "sipgw/agent/clock.py": "import asyncio\n",
            "sipgw/agent/a.py": "from .b import y\n",
            "sipgw/agent/b.py": "from . import a\n",
            "sipgw/agent/twiml.py": "from sipgw.twilio.document import parse\n",  # allowed
            "sipgw/twilio/document.py": "import asyncio\nfrom sipgw.agent import base\n",
            "sipgw/twilio/aio/connection.py": "import asyncio\nfrom sipgw.media import rtp\n",
            "bench/load.py": "from tests import helpers\n",
            "tests/helpers.py": "from bench.load import z\n",
            "bench/old.py": "import media.rtp\nfrom agent import base\n",  # names-rewrite: keep
            "sipgw/foundation/redact.py": "from sipgw.agent.record import CallRecord\n",
            "sipgw/agent/s2s/agent.py": "from sipgw.agent.assistant.speaker import Speaker\n",
            "sipgw/agent/assistant/speaker.py": "",
            "sipgw/agent/turns/pause.py": "import time\n\n\ndef f(loop):\n    return loop.time()\n",
        },
    )
    layers = layer_violations(edges, paths)
    assert [p.split(": ", 1)[1].split(" (", 1)[0] for p in layers] == [
        "sipgw.sip.dialog",  # -> sipgw.aio: the core knows no adapter
        "sipgw.app.cli",  # -> tests.toolkit
        "tests.toolkit.kit",  # -> bench (inside a function)
        "sipgw.media.rtp",  # -> SIP core (under TYPE_CHECKING)
        "sipgw.twilio.document",  # -> agent: the wire knows no agent
        "bench.load",  # -> tests
        "sipgw.foundation.redact",  # -> agent: the base floor knows nothing above it
    ]
    assert (
        "sipgw/media/rtp.py:3: sipgw.media.rtp (media) imports sipgw.sip.useragent (SIP core)"
        in layers[3]
    )
    io = io_violations(edges, paths)
    assert len(io) == 2 and "sipgw/sip/useragent.py:2: sipgw.sip.useragent imports socket" in io[0]
    assert "sipgw/twilio/document.py:1: sipgw.twilio.document imports asyncio" in io[1]
    sans_io = sans_io_violations(edges, paths, ["sipgw.agent.turns.machine", "sipgw.agent.a"])
    assert sans_io == [
        "sipgw/agent/clock.py:1: sipgw.agent.turns.machine is documented as sans-IO, but "
        "sipgw.agent.clock imports asyncio (through sipgw.agent.clock)"
    ]
    assert old_names(edges, paths) == [
        "bench/old.py:1: bench.old imports media.rtp; "  # names-rewrite: keep
        "ours is sipgw.media.rtp (a top-level media is not ours)",
        "bench/old.py:2: bench.old imports agent; ours is sipgw.agent (a top-level agent is "
        "not ours)",
    ]
    assert forbidden_imports(edges, paths) == [
        "sipgw/agent/s2s/agent.py:1: sipgw.agent.s2s.agent imports sipgw.agent.assistant.speaker; "
        "sipgw.agent.s2s never imports sipgw.agent.assistant (what both use belongs below both)"
    ]
    pause = "sipgw.agent.turns.pause"
    assert in_folders(paths, SANS_IO_FOLDERS) == ["sipgw.agent.turns.machine", pause]
    pause_tree = ast.parse((tmp_path / "sipgw/agent/turns/pause.py").read_text())
    assert [p.split(": ", 1)[0] for p in clock_reads(pause, paths[pause], pause_tree)] == [
        "sipgw/agent/turns/pause.py:1",
        "sipgw/agent/turns/pause.py:5",
    ]
    loops = cycles(edges, paths)
    assert len(loops) == 2, loops  # bench.load <-> tests.helpers, agent.a <-> agent.b
    assert "bench.load, tests.helpers" in loops[0]
    assert "import cycle among sipgw.agent.a, sipgw.agent.b" in loops[1]
    assert "sipgw/agent/b.py:1: sipgw.agent.b imports sipgw.agent.a" in loops[1]


def test_the_checker_finds_a_loop_of_folders(tmp_path: Path) -> None:
    edges, paths = _fake_tree(
        tmp_path,
        {
            "sipgw/app/__init__.py": "",
            "sipgw/app/cli.py": "from sipgw.app.lines import build\n",
            "sipgw/app/sections.py": "from sipgw.app.lines.settings import RoutesSection\n",
            "sipgw/app/lines/__init__.py": "",
            "sipgw/app/lines/settings.py": "",
            "sipgw/app/lines/build.py": "def f():\n    from sipgw.app.sections import SECTIONS\n",
        },
    )
    assert not cycles(edges, paths)  # no module is in a loop
    loops = room_cycles(edges, paths, "sipgw.app")
    assert [p.split(",", 1)[0] for p in loops] == [
        "sipgw.app.lines -> sipgw.app.sections",
        "sipgw.app.sections -> sipgw.app.lines",
    ]
    assert (
        "sipgw/app/lines/build.py:2: sipgw.app.lines.build imports sipgw.app.sections" in loops[0]
    )


def test_a_module_is_named_as_it_is_imported(tmp_path: Path) -> None:
    """A module is named by its path; the top-level links to sipgw/ are not scanned again."""
    for folder in ("sipgw/media/aio", "sipgw/agent", "bench", "tests"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "x.py").write_text("")
    (tmp_path / "sipgw" / "x.py").write_text("")
    (tmp_path / "media").symlink_to(Path("sipgw") / "media")
    (tmp_path / "agent").symlink_to(Path("sipgw") / "agent")
    scanned = {name: path.relative_to(tmp_path).as_posix() for name, (path, _) in
               scan(tmp_path).items()}  # fmt: skip
    assert scanned == {
        "sipgw.x": "sipgw/x.py",
        "sipgw.media.aio.x": "sipgw/media/aio/x.py",
        "sipgw.agent.x": "sipgw/agent/x.py",
        "bench.x": "bench/x.py",
        "tests.x": "tests/x.py",
    }
    assert layer("sipgw.media.aio.x") == "media" and layer("sipgw.agent.x") == "agent"
