"""TOML files of settings (foundation/settings/tomlfile.py): positions of tables and keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.foundation.settings import ConfigError
from sipgw.foundation.settings.tomlfile import read_toml

TEXT = """\
top = 1

[lines.sales]
agent = "echo"

[lines."night shift"]
'greeting' = "hi"

[ lines . sales . settings ]
SIPGW_ECHO_DELAY_MS = 10

[[routes]]
line = "sales"

[[routes]]
called = "+1"
line = "night shift"
"""


def test_tables_keys_and_array_entries_are_found(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(TEXT)
    doc = read_toml(path)
    assert doc.data["lines"]["sales"]["agent"] == "echo"
    assert doc.table_line("lines", "sales") == 3
    assert doc.table_line("lines", "night shift") == 6  # quoted in the file
    assert doc.table_line("lines", "sales", "settings") == 9  # blanks around the dots
    assert doc.table_line("lines", "nope") is None
    assert doc.array_line("routes", 0) == 12
    assert doc.array_line("routes", 1) == 15
    assert doc.array_line("routes", 2) is None
    assert doc.key_line(None, "top") == 1
    assert doc.key_line(6, "greeting") == 7  # quoted key
    assert doc.key_line(15, "line") == 17
    assert doc.key_line(3, "greeting") is None  # not in that table
    place = doc.place(15, "route 2")
    assert place("line") == f"{path} line 17: route 2"
    assert place("missing") == f"{path} line 15: route 2"
    assert place.line() == f"{path} line 15"
    assert doc.place(None)() == str(path)


def test_errors_name_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[lines.a]\nagent = "echo\n')
    with pytest.raises(ConfigError, match=r"bad\.toml line 2: not valid TOML"):
        read_toml(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_toml(path)
    with pytest.raises(ConfigError, match="No such file"):
        read_toml(tmp_path / "absent.toml")
