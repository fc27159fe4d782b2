"""The shape rules of the tree, checked on the source with :mod:`ast` (issue 20).

- **Small classes in the composition root**: no class in ``sipgw/app`` is over
  :data:`MAX_CLASS_LINES` lines (``Gateway`` keeps lifecycle and dispatch; call setup,
  placing calls and counting live beside it). ``sipgw/app/evaluation`` (``sipgw eval``'s
  harness, which the gateway never imports: its phone and fakes came from the test toolkit)
  is no part of the root.
- **Small classes in the agent layer**: no class in ``sipgw/agent`` is over
  :data:`MAX_CLASS_LINES` lines (the TwiML interpreter keeps its verb loop; each verb
  family's handling is a class of ``sipgw/agent/twiml/verbs``; the turn-taking machine
  owns its pause, early-reply and tentative-end parts).
- **No reaching into another module's private names**: ``x._name`` is read only on
  ``self``, ``cls`` or ``super()``, or when this module defines ``_name`` itself (another
  instance of its own class); a namedtuple's ``_replace``/``_asdict``/``_fields``/``_make``
  are its public API. Checked in ``sipgw``, ``media``, ``agent`` and the test toolkit
  ``tests/toolkit`` (its own tests aside),
  with the exceptions of :data:`PRIVATE_EXCEPTIONS`, each with its reason.
- **Settings are read by the loader only**: outside ``foundation/settings/`` no code reads a
  setting by its name: a variable or flag of a declared setting used as a key
  (``values["SIPGW_SIP_PORT"]``, ``environ.get(...)``, ``os.getenv(...)``,
  ``getattr(args, ...)``), tested for membership (``"--sip-port" in flags``), or bound to
  a module-level name that is then used so. Everything else gets the loaded sections.
- **Timeouts that keep a cancellation**: no ``asyncio.wait_for`` in ``sipgw`` or the test
  toolkit, ``asyncio.timeout`` instead. On Python 3.11 ``wait_for`` returns the result when
  its task is cancelled in the loop pass in which what it awaits completes, and the
  cancellation is lost (cpython gh-86296, fixed in 3.12): a loop that waits so never ends
  when cancelled at that moment, and whoever awaits it after cancelling it waits for good
  (the fake Twilio stream's mark loop hung a test for its whole timeout so, in CI).

Each check also runs on planted examples, so it cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_CLASS_LINES = 350
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})

PRIVATE_EXCEPTIONS: dict[str, str] = {
    "sipgw/sip/message.py": "the parser's hot path: serializing walks Headers' item list in place "
    "and a response's headers are built without re-checking them (Headers._trusted)",
    "sipgw/app/evaluation/fakes/assemblyai.py": "a fake's per-connection handler updates its own "
    "server's private state (one fake written as two classes)",
    "tests/toolkit/fakes/realtime.py": "as the AssemblyAI fake",
    "tests/toolkit/fakes/voice_agent.py": "as the AssemblyAI fake",
    "sipgw/agent/services/elevenlabs/tts.py": "ends its replies through the hooks "
    "agent/services/tts/base.py gives subclasses (TtsReply._fail, _end)",
    "sipgw/agent/services/websocket_client.py": "breaks the cycle between a refused handshake's "
    "InvalidStatus and its Response (Response._exception, which websockets keeps only for "
    "its deprecated Response.exception)",
    "tests/toolkit/tracebacks.py": "mends pytest's TracebackEntry.lineno, which reads the raw "
    "traceback entry (_rawentry) that pytest keeps no public name for",
}
"""Module -> why it may read another module's private names (debts named, not hidden)."""

SETTING_READ_EXCEPTIONS: dict[str, str] = {
    "sipgw/app/evaluation/gateway_process.py": "reads back the environment it builds for the "
    "gateway process it starts (a test harness, not the gateway)",
    "sipgw/app/evaluation/fakes/services.py": "gives each fake the key the gateway is given, "
    "from the toolkit's table of keys by variable (KEYS)",
    "sipgw/app/evaluation/run.py": "as sipgw/app/evaluation/fakes/services.py",
}
"""Module -> why it may read a setting by its name."""


@pytest.fixture(autouse=True, scope="module")
def _trees_freed() -> Iterator[None]:
    """The trees :func:`parse` keeps go with this module: kept for the worker's life they
    are millions of objects, which tests/refcycles.py's checks then walk one by one."""
    yield
    parse.cache_clear()
    walked.cache_clear()


@functools.cache
def parse(path: Path) -> ast.Module:
    """The file's tree, read once: the checks only walk it, and the whole-tree tests read
    sipgw/ three times over (they run on one worker: ONE_UNIT in tests/conftest.py)."""
    return ast.parse(path.read_text(), str(path))


Node = TypeVar("Node", bound=ast.AST)


@functools.cache
def walked(tree: ast.AST) -> tuple[ast.AST, ...]:
    """Every node of ``tree`` in :func:`ast.walk`'s order, walked once: the checks go over
    each tree several times, and walking it costs as much as reading the list again."""
    return tuple(ast.walk(tree))


def by_line(nodes: Iterable[Node]) -> list[Node]:
    """``nodes`` in source order (stable: nodes on one line keep their walk order)."""
    return sorted(nodes, key=lambda node: getattr(node, "lineno", 0))


def modules(*folders: str) -> Iterator[tuple[str, ast.Module]]:
    """Every module under ``folders``: its path relative to the repository, its tree."""
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name.startswith("test_"):
                continue  # the toolkit's own tests, beside it in tests/toolkit
            if path.resolve() != path:
                continue  # a file once, by its own path, not again through a link
            yield path.relative_to(ROOT).as_posix(), parse(path)


# -- the checks ---------------------------------------------------------------------------


def long_classes(tree: ast.Module, limit: int = MAX_CLASS_LINES) -> list[str]:
    """``Name (N lines)`` for each class of ``tree`` longer than ``limit`` lines."""
    return [
        f"{node.name} ({lines} lines)"
        for node in walked(tree)
        if isinstance(node, ast.ClassDef)
        and (lines := (node.end_lineno or node.lineno) - node.lineno + 1) > limit
    ]


def class_lengths(tree: ast.Module) -> dict[str, int]:
    """Each class of ``tree`` by name: its length in lines."""
    return {
        node.name: (node.end_lineno or node.lineno) - node.lineno + 1
        for node in walked(tree)
        if isinstance(node, ast.ClassDef)
    }


def long_class_problems(tree: ast.Module) -> list[str]:
    """The classes of ``tree`` over :data:`MAX_CLASS_LINES`."""
    return [
        f"{name} ({lines} lines)"
        for name, lines in class_lengths(tree).items()
        if lines > MAX_CLASS_LINES
    ]


def _defined_here(tree: ast.Module) -> set[str]:
    """The private names this module defines: functions, classes, module-level names, the
    attributes its classes set on ``self``/``cls`` and their ``__slots__``."""
    names: set[str] = set()
    for node in walked(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if _is_own(node.value):
                names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
        ):
            slots = node.value.elts if isinstance(node.value, ast.Tuple | ast.List) else []
            names.update(str(e.value) for e in slots if isinstance(e, ast.Constant))
    return {name for name in names if name.startswith("_")}


def _is_own(value: ast.expr) -> bool:
    if isinstance(value, ast.Name) and value.id in ("self", "cls"):
        return True
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "super"
    )


def private_reaches(tree: ast.Module) -> list[str]:
    """``line: x._name`` for each read of a private name this module does not define."""
    here = _defined_here(tree)
    reaches: list[ast.Attribute] = [
        node
        for node in walked(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and node.attr not in NAMEDTUPLE_API
        and not _is_own(node.value)
        and node.attr not in here
    ]
    return [f"{node.lineno}: {ast.unparse(node)}" for node in by_line(reaches)]


def _names_setting(node: ast.expr, settings: frozenset[str], aliases: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in settings
    return isinstance(node, ast.Name) and node.id in aliases


def setting_reads(tree: ast.Module, settings: frozenset[str]) -> list[str]:
    """``line: code`` for each place ``tree`` reads one of ``settings`` (variables and flags)
    by its name; see the module docstring."""
    aliases = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and node.value.value in settings
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found: list[tuple[ast.AST, ast.expr]] = []
    for node in walked(tree):
        key: ast.expr | None = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            key = node.slice
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("get", "pop", "getenv", "setdefault"):
                key = node.args[0]
            elif name in ("getattr", "hasattr") and len(node.args) > 1:
                key = node.args[1]
        elif isinstance(node, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) for op in node.ops
        ):
            key = node.left
        if key is not None and _names_setting(key, settings, aliases):
            found.append((node, key))
    keys = dict(found)
    return [f"{keys[node].lineno}: {ast.unparse(node)}" for node in by_line(keys)]


def declared_settings() -> frozenset[str]:
    """Every declared setting's variable and flag (sipgw's sections, ``sipgw call``'s too)."""
    from sipgw.app.sections import SECTIONS

    names = {
        name for info in SECTIONS for _, spec in info.settings for name in (spec.env, spec.flag)
    }
    return frozenset(name for name in names if name)


# -- the tree keeps them --------------------------------------------------------------------


def wait_fors(tree: ast.Module) -> list[str]:
    """``line: asyncio.wait_for`` for each use of it in ``tree``, imported by name too."""
    found = []
    for node in walked(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "asyncio":
            found += [f"{node.lineno}: import" for a in node.names if a.name == "wait_for"]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "wait_for"
            and isinstance(node.value, ast.Name)
            and node.value.id == "asyncio"
        ):
            found.append(f"{node.lineno}: asyncio.wait_for")
    return sorted(found, key=lambda text: int(text.split(":")[0]))


def _problems(found: Iterable[tuple[str, list[str]]]) -> list[str]:
    return [f"{where}: {problem}" for where, problems in found for problem in problems]


def test_no_class_in_the_composition_root_is_over_350_lines() -> None:
    problems = _problems(
        (where, long_classes(tree))
        for where, tree in modules("sipgw/app")
        if not where.startswith("sipgw/app/evaluation/")
    )
    assert not problems, f"classes over {MAX_CLASS_LINES} lines: {problems}"


def test_no_class_in_the_agent_layer_is_over_350_lines() -> None:
    problems = _problems(
        (where, long_class_problems(tree)) for where, tree in modules("sipgw/agent")
    )
    assert not problems, f"classes over {MAX_CLASS_LINES} lines: {problems}"


def test_no_module_reaches_into_another_modules_private_names() -> None:
    problems = _problems(
        (where, private_reaches(tree))
        for where, tree in modules("sipgw", "tests/toolkit")
        if where not in PRIVATE_EXCEPTIONS
    )
    assert not problems, "private names of another module read:\n" + "\n".join(problems)


def test_no_setting_is_read_by_its_name_outside_the_loader() -> None:
    settings = declared_settings()
    assert {"SIPGW_SIP_PORT", "--sip-port", "SIPGW_ADMIN_URL", "--admin-url"} <= settings
    problems = _problems(
        (where, setting_reads(tree, settings))
        for where, tree in modules("sipgw")
        if not where.startswith("sipgw/foundation/settings/")
        and where not in SETTING_READ_EXCEPTIONS
    )
    assert not problems, "settings read by name outside the loader:\n" + "\n".join(problems)


def test_no_timeout_can_lose_a_cancellation() -> None:
    problems = _problems(
        (where, wait_fors(tree)) for where, tree in modules("sipgw", "tests/toolkit")
    )
    assert not problems, "asyncio.wait_for (use asyncio.timeout):\n" + "\n".join(problems)


@pytest.mark.parametrize("listed", [*PRIVATE_EXCEPTIONS, *SETTING_READ_EXCEPTIONS])
def test_each_exception_is_still_needed(listed: str) -> None:
    tree = parse(ROOT / listed)
    if listed in PRIVATE_EXCEPTIONS:
        assert private_reaches(tree), f"{listed} reads no private name now: unlist it"
    if listed in SETTING_READ_EXCEPTIONS:
        assert setting_reads(tree, declared_settings()), f"{listed}: unlist it"


# -- the checks themselves, on planted examples -------------------------------------------


def test_a_long_class_is_found() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_CLASS_LINES + 10))
    planted = ast.parse(f"class Long:\n{body}class Small:\n    x = 1\n")
    assert long_class_problems(planted) == [f"Long ({MAX_CLASS_LINES + 11} lines)"]


def test_reaching_into_private_names_is_found() -> None:
    planted = ast.parse(
        "from sipgw.sip.call import CallInfo\n"
        "import helpers\n"
        "class Session:\n"
        "    __slots__ = ('_seen',)\n"
        "    def __init__(self, info: CallInfo) -> None:\n"
        "        self._info = info\n"
        "        self._seen = 0\n"
        "    def state(self):\n"
        "        return self._info._state\n"  # another module's private: found
        "    def same(self, other: 'Session') -> bool:\n"
        "        return self._info is other._info and other._seen == 0\n"  # own class: fine
        "    def base(self):\n"
        "        return super()._hook(), type(self)._x\n"  # super() fine; type(self)._x found
        "def f(point, info: CallInfo):\n"
        "    info._state = 1\n"  # writing another module's private: found too
        "    return point._replace(x=1), helpers._private(), point.__class__\n"
    )
    assert private_reaches(planted) == [
        "9: self._info._state",
        "13: type(self)._x",
        "15: info._state",
        "16: helpers._private",
    ]


def test_a_wait_for_is_found() -> None:
    planted = ast.parse(
        "import asyncio\n"
        "from asyncio import sleep, wait_for\n"
        "async def f(event):\n"
        "    await asyncio.wait_for(event.wait(), 1)\n"
        "    async with asyncio.timeout(1):\n"  # fine
        "        await event.wait()\n"
        "    await wait_for(event.wait(), 1)\n"
    )
    assert wait_fors(planted) == ["2: import", "4: asyncio.wait_for"]


def test_a_wait_for_loses_a_cancellation_on_this_python() -> None:
    """Why the rule holds while the product runs on 3.11: a task waiting so in a loop is
    cancelled as its event is set, and goes on; with ``asyncio.timeout`` it ends."""

    async def loop(event: asyncio.Event, waiting: bool) -> None:
        while True:
            event.clear()
            with contextlib.suppress(TimeoutError):
                if waiting:
                    await asyncio.wait_for(event.wait(), 5)  # the rule's subject
                else:
                    async with asyncio.timeout(5):
                        await event.wait()

    async def ends(waiting: bool) -> bool:
        event = asyncio.Event()
        task = asyncio.create_task(loop(event, waiting))
        await asyncio.sleep(0)
        event.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.5)
        task.cancel()  # a second time: a lost cancellation is not lost twice in a row
        await asyncio.wait({task}, timeout=0.5)
        return bool(done)

    assert asyncio.run(ends(waiting=False))
    if sys.version_info < (3, 12):
        assert not asyncio.run(ends(waiting=True))


def test_reading_a_setting_by_its_name_is_found() -> None:
    settings = frozenset({"SIPGW_SIP_PORT", "--sip-port", "--ring-timeout", "SIPGW_ADMIN_URL"})
    planted = ast.parse(
        "import os\n"
        'ADMIN_URL_ENV = "SIPGW_ADMIN_URL"\n'
        "def f(values, flags, environ, args, argv):\n"
        '    a = values["SIPGW_SIP_PORT"]\n'
        '    b = flags.get("--ring-timeout")\n'
        '    c = "--sip-port" in flags\n'
        "    d = environ.get(ADMIN_URL_ENV, '')\n"
        '    e = os.getenv("SIPGW_SIP_PORT")\n'
        '    g = getattr(args, "SIPGW_SIP_PORT", None)\n'
        '    fine = ("--help" in argv, environ["MYTOOL_URL"], "SIPGW_SIP_PORT".lower())\n'
        '    values["SIPGW_SIP_PORT"] = "5060"\n'  # writing a child's environment: fine
        '    return setting(env="SIPGW_SIP_PORT", flag="--sip-port")\n'
    )
    assert setting_reads(planted, settings) == [
        "4: values['SIPGW_SIP_PORT']",
        "5: flags.get('--ring-timeout')",
        "6: '--sip-port' in flags",
        "7: environ.get(ADMIN_URL_ENV, '')",
        "8: os.getenv('SIPGW_SIP_PORT')",
        "9: getattr(args, 'SIPGW_SIP_PORT', None)",
    ]
