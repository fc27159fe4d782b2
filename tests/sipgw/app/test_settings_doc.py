"""docs/configuration.md and .env.example: written from the sections, current, and true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sipgw.app import settings_doc
from sipgw.app.configfile.check import check
from sipgw.app.configfile.read import read_settings
from sipgw.app.evaluation.process import child_env
from sipgw.app.sections import SECTIONS
from sipgw.foundation.settings import Sources, load
from sipgw.foundation.settings.tomlfile import TomlDocument

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
    assert settings_doc.main(["example-toml"]) == 0
    assert capsys.readouterr().out == settings_doc.example_toml()
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


def test_sipgw_example_toml_is_current_and_loads_to_the_defaults() -> None:
    """Every setting but the secrets is in it; uncommented, each gives its default."""
    text = (ROOT / "sipgw.example.toml").read_text()
    assert text == settings_doc.example_toml(), REGENERATE.format(
        "example-toml", "sipgw.example.toml"
    )
    names = {info.name: {name for name, _ in info.settings} for info in SECTIONS}
    lines, table = [], ""
    for line in text.splitlines():  # uncomment "# key = value" where key is the table's
        if line.startswith("[") and not line.startswith("[["):
            table = line.strip("[]").strip('"')
        key = line[2:].split(" = ")[0] if line.startswith("# ") and " = " in line else ""
        lines.append(line[2:] if key in names.get(table, ()) else line)
    uncommented = "\n".join(lines)
    data = tomllib.loads(uncommented)
    for info in SECTIONS:
        own = {name for name, s in info.settings if not s.secret}
        assert set(data[info.name]) == own, info.name
    found = read_settings(
        TomlDocument("sipgw.example.toml", data, tuple(uncommented.splitlines())), SECTIONS
    )
    assert found.errors == ()
    sources = Sources(file=found.values)
    for info in SECTIONS:
        assert load(info.cls, sources) == info.cls(), info.name


def test_env_example_opens_with_the_first_deployment() -> None:
    text = settings_doc.env_example()
    head, rest = text.split("\n# ---- ", 2)[1:]
    assert head.startswith("A first deployment")
    variables = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", head, re.MULTILINE)
    assert variables == list(settings_doc.FIRST_DEPLOYMENT)
    for variable in settings_doc.FIRST_DEPLOYMENT:
        assert f"\n# {variable}: at the top of this file\n" in text


@pytest.mark.usefixtures("environ")
def test_a_first_deployment_is_one_settings_file_and_three_keys(tmp_path: Path) -> None:
    """The page's sipgw.toml and .env, as they are, pass every check start-up makes."""
    (tmp_path / "sipgw.toml").write_text(settings_doc.FIRST_CONFIG)
    (tmp_path / ".env").write_text(settings_doc.FIRST_ENV)
    for key in ("ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY"):
        os.environ.pop(key, None)
    found = check(["serve"])
    assert found.errors == [] and found.file == "sipgw.toml" and found.tools == 1
    assert len(settings_doc.FIRST_ENV.splitlines()) == 3


@pytest.mark.usefixtures("environ")
def test_the_check_examples_are_what_sipgw_config_check_prints(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    block = text.split("## Checking the settings")[1].split("```")[1]
    shown = [line for line in block.splitlines() if line.startswith("sipgw.toml")]
    assert len(shown) == 4
    source = ["# padding"] * 40
    source[7:9] = ["[network]", "sip_prot = 5070"]
    source[12:15] = ["[calls]", "max_calls = true", 'srtp = "maybe"']
    source[29:32] = ["[lines.sales]", 'max_calls = "four"', ""]
    source += ["[[routes]]", 'line = "sales"']
    (tmp_path / "sipgw.toml").write_text("\n".join(source) + "\n")
    errors = check(["serve"]).errors
    assert len(errors) == 4
    for line, error in zip(shown, errors, strict=True):
        assert error.startswith(line.removesuffix("...)")), (line, error)
