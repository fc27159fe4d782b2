"""The lines in force and their reload (sipgw/app/lines/reload.py): whole, or not at all."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sipgw.app.agents import find_agent
from sipgw.app.lines.build import LineBase
from sipgw.app.lines.reload import Lines
from sipgw.foundation.settings import ConfigError, Sources

FIRST = '[lines.a]\n[[routes]]\ncalled = "+1"\nline = "a"\n'
SECOND = 'default = "b"\n[lines.a]\n[lines.b]\n[[routes]]\ncalled = "+1"\nline = "a"\n'
BAD = '[lines.a]\n[[routes]]\ncalled = "+1"\nline = "c"\n'


def lines(tmp_path: Path) -> Lines:
    sources = Sources({})
    base = LineBase(sources, "echo", find_agent("echo").build(sources))
    path = tmp_path / "routes.toml"
    path.write_text(FIRST)
    return Lines(path, base)


def test_a_reload_swaps_the_lines_whole(tmp_path: Path) -> None:
    current = lines(tmp_path)
    before = current.table
    assert list(before.lines) == ["a"] and before.default is None
    current.path.write_text(SECOND)
    after = current.reload()
    assert current.table is after and list(after.lines) == ["a", "b"]
    assert after.default is after.lines["b"]
    assert current.reloads == 1 and current.last_error == ""
    assert current.describe()["default"] == "b"
    assert current.describe_briefly() == "2 lines (a, b), 1 routes, default b"


def test_the_gateway_is_told_of_each_table_put_in_force(tmp_path: Path) -> None:
    current = lines(tmp_path)
    told: list[object] = []
    current.on_reload = told.append
    current.path.write_text(BAD)
    with pytest.raises(ConfigError):
        current.reload()
    current.path.write_text(SECOND)
    assert told == [] and current.reload() is current.table and told == [current.table]


def test_a_bad_file_is_refused_and_the_old_lines_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    current = lines(tmp_path)
    before = current.table
    current.path.write_text(BAD)
    with caplog.at_level(logging.ERROR), pytest.raises(ConfigError, match=r"line 4: route 1"):
        current.reload()
    assert current.table is before
    assert current.refused == 1 and "line 'c' is not a [lines.NAME] table" in current.last_error
    assert "the routes loaded before stay in force" in caplog.text
    assert current.describe()["refused_reloads"] == 1


def test_a_bad_file_at_start_up_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(BAD)
    sources = Sources({})
    with pytest.raises(ConfigError, match="routes.toml line 4"):
        Lines(path, LineBase(sources, "echo", find_agent("echo").build(sources)))
