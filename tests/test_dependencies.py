"""Every third-party package the code imports is declared in pyproject.toml.

A package that only arrives as another's dependency (``httpx2`` through
``openai``) would vanish the day that package stops depending on it.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = {"sipgw", "tests"}  # tests: the toolkit (tests/toolkit) imports itself


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _declared(requirements: Iterable[str]) -> set[str]:
    return {_normalize(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0]) for req in requirements}


def _imports(paths: Iterable[Path]) -> dict[str, Path]:
    """Top-level third-party module names imported anywhere in ``paths``, with one file each."""
    found: dict[str, Path] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".", 1)[0]
                if top not in sys.stdlib_module_names and top not in OURS:
                    found.setdefault(top, path)
    return found


def _undeclared(imports: dict[str, Path], declared: set[str]) -> list[str]:
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module, path in sorted(imports.items()):
        names = {_normalize(d) for d in distributions.get(module, [module])}
        if not names & declared:
            missing.append(f"{module} (imported by {path.relative_to(ROOT)})")
    return missing


def _project() -> dict[str, object]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project, dict)
    return project


def _files(*roots: str) -> list[Path]:
    # sipgw/media and sipgw/agent by their own paths, not again through the top-level links
    return [p for root in roots for p in (ROOT / root).rglob("*.py") if p.resolve() == p]


OPTIONAL_MODULES = {
    "browser": ("sipgw/media/opus.py", "sipgw/media/aio/browser.py"),
    "mcp": ("sipgw/agent/tools/mcp_servers.py",),
    # numpy is a dependency (the model detector's default engine); ONNX Runtime is the extra
    "noise": ("sipgw/media/voice/denoise.py", "sipgw/media/voice/silero.py"),
    "opus": ("sipgw/media/opus.py",),
    "otel": ("sipgw/app/operations/opentelemetry.py",),
    "postgres": ("sipgw/app/cluster/database.py",),
    "stir": ("sipgw/sip/passportcheck.py",),
}
"""Extra -> the modules that may import it (nothing else imports them unless the extra is on)."""


def test_production_imports_are_runtime_dependencies() -> None:
    project = _project()
    declared = _declared(project["dependencies"])  # type: ignore[arg-type]
    optional = {ROOT / m for modules in OPTIONAL_MODULES.values() for m in modules}
    production = [p for p in _files("sipgw") if p not in optional]
    imports = _imports(production)
    assert {"websockets", "aiohttp", "httpx2"} <= imports.keys()  # the scan sees them
    assert _undeclared(imports, declared) == []


def test_an_optional_legs_imports_are_declared_with_its_extra() -> None:
    project = _project()
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    for extra, modules in OPTIONAL_MODULES.items():
        declared = _declared(project["dependencies"]) | _declared(extras[extra])  # type: ignore[arg-type]
        imports = _imports([ROOT / m for m in modules])
        assert {
            "browser": {"aiortc", "av"},
            "mcp": {"mcp", "jsonschema"},
            "noise": {"onnxruntime"},
            "opus": {"av"},
            "otel": {"opentelemetry"},
            "postgres": {"psycopg"},
            "stir": {"cryptography"},
        }[extra] <= imports.keys()
        assert _undeclared(imports, declared) == []


def test_the_test_toolkit_imports_are_declared_with_the_test_extra() -> None:
    project = _project()
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    declared = _declared(project["dependencies"]) | _declared(extras["test"])  # type: ignore[arg-type]
    assert _undeclared(_imports(_files("tests/toolkit")), declared) == []


def test_an_undeclared_import_is_caught() -> None:
    imports = {"httpx2": ROOT / "sipgw" / "agent" / "services" / "elevenlabs" / "tts.py"}
    found = _undeclared(imports, {"openai"})
    assert found == ["httpx2 (imported by sipgw/agent/services/elevenlabs/tts.py)"]
