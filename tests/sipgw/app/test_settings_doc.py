"""docs/configuration.md and .env.example: written from the sections, current, and true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sipgw.app import settings_doc
from sipgw.app.evaluation.process import child_env
from sipgw.app.sections import SECTIONS

ROOT = Path(__file__).resolve().parents[3]
REGENERATE = "regenerate it: python -m sipgw.app.settings_doc {} > {}"


def test_docs_configuration_is_current() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert text == settings_doc.configuration_md(), REGENERATE.format(
        "configuration", "docs/configuration.md"
    )
    for info in SECTIONS:
        assert f"## {info.title}" in text
        for _, s in info.settings:
            assert f"`{s.env}`" in text and (s.flag is None or f"`{s.flag} " in text)
    headings = ("Where a value comes from", "Exit statuses", "Adding a setting")
    for heading in (*headings, "Configuring your own tools"):
        assert f"\n## {heading}\n" in text, heading


def test_every_table_row_has_its_headers_cells() -> None:
    """A ``|`` inside a cell (``--browser-calls on|off``) is escaped: unescaped, it would
    split the cell and break the row (GFM tables, code spans included)."""
    columns = 0
    for line in settings_doc.configuration_md().splitlines():
        if not line.startswith("|"):
            columns = 0
            continue
        cells = len(re.split(r"(?<!\\)\|", line)) - 2
        columns = columns or cells
        assert cells == columns, line


def test_env_example_is_current_and_lists_every_variable() -> None:
    text = (ROOT / ".env.example").read_text()
    assert text == settings_doc.env_example(), REGENERATE.format("env-example", ".env.example")
    for info in SECTIONS:
        for _, s in info.settings:
            line = f"{s.env}=" if s.required else f"# {s.env}={s.default_text}"
            assert f"\n{line}\n" in text, s.env


def test_settings_doc_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings_doc.main(["configuration"]) == 0
    assert capsys.readouterr().out == settings_doc.configuration_md()
    assert settings_doc.main(["env-example"]) == 0
    assert capsys.readouterr().out == settings_doc.env_example()
    assert settings_doc.main(["nonsense"]) == 2


def test_the_error_examples_are_what_sipgw_prints(tmp_path: Path) -> None:
    """Each ``sipgw: error:`` line the page shows, produced by the command it describes."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    shown = re.findall(r"^sipgw: error: .*$", text, re.MULTILINE)
    assert len(shown) == 6
    (tmp_path / ".env").write_text("# mine\n\nSIPGW_MAX_CALLS=many\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    users = tmp_path / "users"
    users.mkdir()
    (users / ".env").write_text("# mine\nSIPGW_INBOUND_USERS_FILE=users\n")  # no such file
    (elsewhere / "accounts.toml").write_text(
        '# trunk\n\n[accounts.office]\naor = "sip:1001@pbx.example.com"\n\n# short\nexpires = 0\n'
    )
    runs = [
        (["--sip-port", "abc"], {}, elsewhere),
        ([], {"SIPGW_RTP_PORTS": "20000"}, elsewhere),
        ([], {}, tmp_path),
        (["--accounts", "accounts.toml"], {}, elsewhere),
        (["--bind", "127.0.0.1", "--sip-port", "0", "--record-dir", "/proc/nonexistent/x"], {},
         elsewhere),
        ([], {}, users),
    ]  # fmt: skip
    for line, (argv, env, cwd) in zip(shown, runs, strict=True):
        result = subprocess.run(
            [sys.executable, "-m", "sipgw", "serve", *argv],
            capture_output=True, text=True, timeout=60, cwd=cwd, env={**child_env(), **env},
        )  # fmt: skip
        printed = result.stderr.strip()
        if "--record-dir" in argv:  # logged first: what the gateway set up before it failed
            printed = printed.splitlines()[-1]
        assert result.returncode == 2 and printed == line
