"""The methods @dataclass writes, compiled through a table (sipgw.app.operations.dataclass_code)."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.operations import dataclass_code
from sipgw.app.operations.dataclass_code import CodeTable


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "__pycache__" / "dataclasses.marshal"
    yield path
    dataclass_code.uninstall()
    assert not hasattr(dataclasses, "exec")


def _make() -> type:
    """A frozen dataclass with a default, a factory and a return annotation to write."""

    @dataclasses.dataclass(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 2
        tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)

    return Point


def _behaviour(cls: type) -> tuple[object, ...]:
    p = cls(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 5
    return (
        repr(p), p == cls(1), p == cls(1, 3), hash(p) == hash(cls(1)), p.tags,
        inspect.signature(vars(cls)["__init__"]).return_annotation,
        vars(cls)["__init__"].__annotations__,
    )  # fmt: skip


def test_classes_made_through_the_table_are_those_python_makes(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    plain = _behaviour(_make())
    table = dataclass_code.install(installed)
    first = _behaviour(_make())
    assert table.compiled > 3  # __init__, __repr__, __eq__, __hash__, __setattr__, ...
    assert first == plain
    assert dataclass_code.save(installed) is True

    again = dataclass_code.install(installed)
    second = _behaviour(_make())
    assert second == plain
    assert again.compiled == 0  # every method's code came from the file
    assert again.used and set(again.used) <= set(again.loaded)
    assert dataclass_code.save(installed) is False  # nothing new: not written again


def test_a_changed_class_gets_its_own_code_never_a_stale_one() -> None:
    table = CodeTable()
    old = table.code("def f():\n return 1\n")
    table.code("def f():\n return 2\n")
    ns: dict[str, object] = {}
    table.exec("def f():\n return 2\n", {}, ns)
    assert ns["f"]() == 2  # type: ignore[operator]
    assert table.compiled == 2
    later = CodeTable(table.used)
    assert later.code("def f():\n return 1\n") is old
    assert later.compiled == 0


def test_texts_no_longer_written_age_out_of_the_table() -> None:
    table = CodeTable({f"x = {n}\n": compile(f"x = {n}\n", "<string>", "exec") for n in range(3)})
    table.code("x = 0\n")
    assert set(table.to_keep()) == {"x = 0\n"}  # two stale texts, one live: the live one
    table.code("x = 10\n")
    table.code("x = 11\n")
    assert set(table.to_keep()) == {"x = 0\n", "x = 10\n", "x = 11\n", "x = 1\n", "x = 2\n"}


@pytest.mark.parametrize("content", [b"", b"not marshal", b"\xe9\x01\x00\x00\x00"])
def test_an_unreadable_table_is_an_empty_one(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "t.marshal"
    path.write_bytes(content)
    assert CodeTable.read(path).loaded == {}
    assert CodeTable.read(tmp_path / "missing").loaded == {}


def test_the_table_makes_its_directories(tmp_path: Path) -> None:
    table = CodeTable()
    table.code("x = 1\n")
    path = tmp_path / "prefix" / "sipgw" / "__pycache__" / "t.marshal"
    assert table.write(path) is True
    assert set(CodeTable.read(path).loaded) == {"x = 1\n"}


def test_a_directory_it_cannot_write_to_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    table = CodeTable()
    table.code("x = 1\n")
    assert table.write(tmp_path / "file" / "sub" / "t.marshal") is False


def test_nothing_is_written_when_python_writes_no_bytecode(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    dataclass_code.install(installed)
    _make()
    assert dataclass_code.save(installed) is False
    assert not installed.exists()


def test_the_table_sits_with_the_bytecode_of_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = sys.implementation.cache_tag
    package = Path(dataclass_code.__file__).resolve().parents[2]
    monkeypatch.setattr(sys, "pycache_prefix", None)  # scripts/test may run the suite with one
    assert dataclass_code.table_path() == package / "__pycache__" / f"dataclasses.{tag}.marshal"
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))
    assert dataclass_code.table_path().is_relative_to(tmp_path)
