"""Where the toolkit sits: production never imports it, and it imports neither tests nor bench."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (function-level and TYPE_CHECKING imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_production_code_does_not_import_the_toolkit() -> None:
    production = [
        p
        for package in ("sipgw", "media", "agent")
        for p in (ROOT / package).rglob("*.py")
        if "testing" not in p.relative_to(ROOT).parts
    ]
    assert len(production) > 30
    offenders = {
        str(p.relative_to(ROOT))
        for p in production
        if any(m == "sipgw.testing" or m.startswith("sipgw.testing.") for m in imported_modules(p))
    }
    assert offenders == set()


def test_the_toolkit_imports_neither_tests_nor_bench() -> None:
    toolkit = list((ROOT / "sipgw" / "testing").rglob("*.py"))
    assert len(toolkit) > 10
    offenders = {
        str(p.relative_to(ROOT))
        for p in toolkit
        if any(m.split(".")[0] in ("tests", "bench") for m in imported_modules(p))
    }
    assert offenders == set()


def test_bench_imports_no_tests() -> None:
    offenders = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "bench").rglob("*.py")
        if any(m.split(".")[0] == "tests" for m in imported_modules(p))
    }
    assert offenders == set()
