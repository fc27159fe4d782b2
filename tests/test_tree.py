"""Tests mirror the tree: each production module has ``tests/<package>/.../test_<module>.py``.

For ``sipgw/usages/invite.py`` that is ``tests/sipgw/usages/test_invite.py``. Other test
files may sit beside them (a feature across modules, the RFC 4475 messages, hostile
input), but a reader looking for a module's tests finds them at the mirrored path.
The toolkit (``sipgw/testing``) is tested where it is used and in ``tests/sipgw/testing``.

Modules without such a file are listed in :data:`EXCEPTIONS`, each with the reason.
:data:`PENDING` holds the ones still to be written; it must shrink to nothing.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sipgw", "media", "agent")

EXCEPTIONS: dict[str, str] = {}
"""Module path -> why it has no test file of its own."""

PENDING: frozenset[str] = frozenset()
"""Modules whose mirrored test file is still to be written (shape step, issue 20)."""


def production_modules() -> list[str]:
    """Every module of the production packages, as a path relative to the repository."""
    modules = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative.parts[:2] == ("sipgw", "testing"):
                continue
            if path.name in ("__init__.py", "__main__.py"):
                continue
            modules.append(relative.as_posix())
    return modules


def mirrored_test(module: str) -> Path:
    """``sipgw/usages/invite.py`` -> ``tests/sipgw/usages/test_invite.py``."""
    path = Path(module)
    return ROOT / "tests" / path.parent / f"test_{path.name}"


def test_every_module_has_its_mirrored_test_file() -> None:
    without = [
        module
        for module in production_modules()
        if not mirrored_test(module).exists() and module not in EXCEPTIONS
    ]
    unexpected = sorted(set(without) - PENDING)
    assert not unexpected, f"modules without tests/<package>/.../test_<module>.py: {unexpected}"


def test_the_lists_name_only_modules_that_exist_and_lack_a_test_file() -> None:
    modules = set(production_modules())
    for listed in (*EXCEPTIONS, *PENDING):
        assert listed in modules, f"{listed} is listed but is no module of ours"
        assert not mirrored_test(listed).exists(), (
            f"{listed} now has {mirrored_test(listed).relative_to(ROOT)}: take it off the list"
        )
