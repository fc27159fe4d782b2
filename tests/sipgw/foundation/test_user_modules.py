"""Importing a module the user names in a setting (sipgw.foundation.user_modules): by dotted name
or by file, every failure one UserModuleError whose message says what went wrong."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from sipgw.foundation.user_modules import UserModuleError, import_user_module

WHAT = "hooks module"


def load(name: str) -> ModuleType:
    return import_user_module(name, what=WHAT, file_prefix="sipgw_test_user_")


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path; modules imported from it are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_a_module_by_its_dotted_name(on_path: Path) -> None:
    package = on_path / "my_hooks_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "greeting.py").write_text("WORD = 'hello'\n")
    assert load("my_hooks_pkg.greeting").WORD == "hello"


def test_a_module_by_its_file(tmp_path: Path) -> None:
    path = tmp_path / "my_file_hooks.py"
    path.write_text("WORD = 'from a file'\n")
    try:
        module = load(str(path))
        assert module.WORD == "from a file"
        assert module.__name__ == "sipgw_test_user_my_file_hooks"
        assert sys.modules[module.__name__] is module  # dataclasses and pickling need it
    finally:
        sys.modules.pop("sipgw_test_user_my_file_hooks", None)


def test_the_working_directory_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "cwd_hooks_mod.py").write_text("WORD = 'here'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        assert load("cwd_hooks_mod").WORD == "here"
        assert os.getcwd() in sys.path
    finally:
        sys.modules.pop("cwd_hooks_mod", None)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, "hooks module 'broken_hooks_mod' not found (is it on PYTHONPATH or in the "
               "current directory?)"),
        ("def broken(:\n", "hooks module 'broken_hooks_mod' failed to import: SyntaxError: "),
        ("raise RuntimeError('no config')\n",
         "hooks module 'broken_hooks_mod' failed to import: RuntimeError: no config"),
        ("import no_such_dependency_xyz\n",
         "hooks module 'broken_hooks_mod' failed to import: No module named "
         "'no_such_dependency_xyz'"),
    ],
    ids=["missing", "syntax", "raises", "missing-dependency"],
)  # fmt: skip
def test_a_module_that_cannot_be_imported(on_path: Path, source: str | None, message: str) -> None:
    if source is not None:
        (on_path / "broken_hooks_mod.py").write_text(source)
    with pytest.raises(UserModuleError) as failed:
        load("broken_hooks_mod")
    assert str(failed.value).startswith(message)
    assert "\n" not in str(failed.value)  # one line, for a configuration error at start-up


def test_a_missing_package_is_not_found_too(on_path: Path) -> None:
    with pytest.raises(UserModuleError, match="'no_such_pkg.hooks' not found"):
        load("no_such_pkg.hooks")


def test_a_file_that_cannot_be_imported(tmp_path: Path) -> None:
    with pytest.raises(UserModuleError) as missing:
        load(str(tmp_path / "nowhere.py"))
    assert str(missing.value) == f"hooks module {str(tmp_path / 'nowhere.py')!r} not found"
    path = tmp_path / "exploding_hooks.py"
    path.write_text("raise KeyError('SHOP_URL')\n")
    with pytest.raises(UserModuleError) as failed:
        load(str(path))
    assert str(failed.value) == f"hooks module {str(path)!r} failed to import: KeyError: 'SHOP_URL'"
    assert "sipgw_test_user_exploding_hooks" not in sys.modules  # no half-imported module left
