"""The compiled modules' constants are ``Final`` (docs/architecture.md, "The native media path").

Compiled with mypyc, a module-level name that is not ``Final`` is looked up in the module's
dictionary at every use, and an int that is not ``Final`` is unboxed from a Python object
each time: on the per-packet path that was about a fifth of the compiled echo step. A
``Final`` int, float, str or bytes is a literal in the C code, any other ``Final`` value a
C static. The one exception is a tuple display (``X = (a, b)``): its type has a fixed
length, which mypyc keeps as a C struct and boxes into a new tuple at every use, so there
the dictionary lookup is the cheaper (none of them is on a per-packet path).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*")


def compiled_sources() -> tuple[str, ...]:
    """setup.py's ``COMPILED``, read without running setup.py."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "COMPILED" for target in node.targets
        ):
            sources = ast.literal_eval(node.value)
            assert isinstance(sources, tuple)
            return sources
    raise AssertionError("setup.py has no COMPILED")


def constants_not_final(source: str) -> list[str]:
    """``file:line name`` of each module-level constant of ``source`` that is not Final."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            value = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if "Final" in ast.unparse(node.annotation) or node.value is None:
                continue
            names, value = [node.target.id], node.value
        else:
            continue
        if isinstance(value, ast.Tuple):
            continue  # a tuple of fixed length: see the module's docstring
        found += [f"{node.lineno} {name}" for name in names if CONSTANT.fullmatch(name)]
    return found


def test_every_constant_of_a_compiled_module_is_final() -> None:
    sources = compiled_sources()
    assert "sipgw/media/jitterbuffer.py" in sources and "sipgw/agent/turns/machine.py" in sources
    missing = [
        f"{path}:{entry}"
        for path in sources
        for entry in constants_not_final((REPO / path).read_text())
    ]
    assert missing == []


def test_the_rule_finds_what_it_should() -> None:
    source = (
        "from typing import Final\n"
        "A = 1\n"
        "_B: int = 2\n"
        "C: Final = 3\n"
        "D: Final[bytes] = b''\n"
        "PAIR = (1, 2)\n"
        "lower = 4\n"
        "E = F = 5\n"
    )
    assert constants_not_final(source) == ["2 A", "3 _B", "8 E", "8 F"]
