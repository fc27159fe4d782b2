"""The state directory: relative paths of the settings kept across restarts are under it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipgw.foundation.settings import ConfigError, Sources, load, setting, state_dir, value_of
from sipgw.foundation.settings.parsers import text
from sipgw.foundation.settings.sources import FileValue
from sipgw.foundation.settings.state import default_state_dir


@dataclass(frozen=True)
class Stores:
    db: str = setting("things.sqlite3", env="STORES_DB", parse=text, state=True, help="D.")
    records: str = setting("calls", env="STORES_RECORDS", parse=text, state=True, help="R.")
    cache: Path | None = setting(
        None, env="STORES_CACHE", parse=Path, state=True, help="C.", default_text=""
    )
    name: str = setting("plain.txt", env="STORES_NAME", parse=text, help="N.")


def test_relative_paths_given_or_default_are_under_the_state_directory(tmp_path: Path) -> None:
    sources = Sources({"SIPGW_STATE_DIR": str(tmp_path), "STORES_RECORDS": "sub/records"})
    stores = load(Stores, sources)
    assert stores.db == str(tmp_path / "things.sqlite3")
    assert stores.records == str(tmp_path / "sub" / "records")
    assert stores.cache is None  # none at all stays none
    assert stores.name == "plain.txt"  # not a state setting: as given
    assert value_of(Stores, "db", sources) == str(tmp_path / "things.sqlite3")


def test_absolute_and_empty_values_are_kept(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.sqlite3"
    sources = Sources({"SIPGW_STATE_DIR": str(tmp_path / "state"), "STORES_DB": str(elsewhere),
                       "STORES_RECORDS": "", "STORES_CACHE": "lines"})  # fmt: skip
    stores = load(Stores, sources)
    assert stores.db == str(elsewhere)
    assert stores.records == ""  # empty: no records
    assert stores.cache == tmp_path / "state" / "lines"  # a Path stays a Path


def test_the_flag_and_the_settings_file_name_it_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    flagged = Sources({"SIPGW_STATE_DIR": "/ignored"}, {"--state-dir": "var/sipgw"})
    assert state_dir(flagged) == tmp_path / "var" / "sipgw"  # relative: from where it starts
    written = FileValue("/srv/sipgw", "sipgw.toml line 2", "state.state_dir", "/srv/sipgw")
    assert state_dir(Sources(file={"SIPGW_STATE_DIR": written})) == Path("/srv/sipgw")
    stores = load(Stores, Sources(file={"SIPGW_STATE_DIR": written}))
    assert stores.db == "/srv/sipgw/things.sqlite3"


def test_by_default_systemds_then_xdgs_then_the_users_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert default_state_dir() == tmp_path / "home" / ".local" / "state" / "sipgw"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/is/ignored")
    assert default_state_dir() == tmp_path / "home" / ".local" / "state" / "sipgw"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "sipgw"
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/sipgw:/var/lib/other")
    assert default_state_dir() == Path("/var/lib/sipgw")
    assert load(Stores, Sources()).db == "/var/lib/sipgw/things.sqlite3"
    assert os.path.isabs(load(Stores, Sources()).records)


def test_never_the_directory_it_was_started_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stores = load(Stores, Sources())
    assert not Path(stores.db).is_relative_to(tmp_path)
    assert Path(stores.db).parent == state_dir(Sources())


def test_a_state_directory_given_empty_is_the_default_and_a_bad_one_is_named() -> None:
    assert state_dir(Sources({"SIPGW_STATE_DIR": ""})) == default_state_dir()
    with pytest.raises(ConfigError, match="SIPGW_STATE_DIR"):
        state_dir(Sources({"SIPGW_STATE_DIR": "a\0b"}))
    with pytest.raises(ConfigError, match="not a directory"):
        state_dir(Sources({"SIPGW_STATE_DIR": __file__}))
