"""docs/configuration.md, .env.example and sipgw.example.toml: written from the sections,
current, and true."""

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
from sipgw.app.evaluation.process import child_env
from sipgw.app.sections import SECTIONS

ROOT = Path(__file__).resolve().parents[3]
FIRST = settings_doc.FIRST_SETTINGS
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


def test_env_example_is_current_and_holds_the_secrets_and_the_environments_own() -> None:
    text = (ROOT / ".env.example").read_text()
    assert text == settings_doc.env_example(), REGENERATE.format("env-example", ".env.example")
    written = re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=$", text, re.MULTILINE)
    secrets = [s.env for info in SECTIONS for _, s in info.settings if s.secret]
    own = [variable for variable, _ in settings_doc.ENVIRONMENT_ONLY]
    assert sorted(written) == sorted([*secrets, *own])  # each once, no other setting
    uncommented = re.findall(r"^([A-Z][A-Z0-9_]+)=$", text, re.MULTILINE)
    assert uncommented == ["ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY"]
    assert [line.split("=")[0] for line in settings_doc.FIRST_ENV.splitlines()] == uncommented
    every = {s.env for info in SECTIONS for _, s in info.settings}
    assert not every & set(own)  # no section gives them


def test_the_environments_own_variables_are_read_from_it(tmp_path: Path) -> None:
    """``SIPGW_CONFIG`` names the settings file; OpenAI's SDK variables become headers."""
    from sipgw.agent.services.openai.chat import sdk_headers
    from sipgw.foundation.settings.settingsfile import config_path

    (tmp_path / "mine.toml").write_text("")
    assert config_path(None, {"SIPGW_CONFIG": str(tmp_path / "mine.toml")}) is not None
    environ = {"OPENAI_ORG_ID": "org-1", "OPENAI_PROJECT_ID": "proj-1",
               "OPENAI_CUSTOM_HEADERS": "X-Team: voice"}  # fmt: skip
    headers = dict(sdk_headers("k", environ))
    assert headers["OpenAI-Organization"] == "org-1" and headers["OpenAI-Project"] == "proj-1"
    assert headers["X-Team"] == "voice"


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


def test_sipgw_example_toml_is_current_and_fits_one_screen() -> None:
    """A first deployment: about a dozen settings, each under its comment, in 60 lines."""
    text = (ROOT / "sipgw.example.toml").read_text()
    assert text == settings_doc.example_toml(), REGENERATE.format(
        "example-toml", "sipgw.example.toml"
    )
    assert len(text.splitlines()) <= 60 and max(map(len, text.splitlines())) <= 100
    assert 10 <= len(FIRST) <= 16
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^(# )?[a-z_]+ = ", line):
            assert lines[index - 1].startswith("# ") and " = " not in lines[index - 1], line
    tables = {info.name: info for info in SECTIONS}
    for name, key, value, _ in FIRST:  # every one a setting of its table
        assert key.lstrip("#") in dict(tables[name].settings), (name, key)
        tomllib.loads(f"v = {value}")


@pytest.mark.usefixtures("environ")
def test_a_first_deployment_is_one_settings_file_and_three_keys(tmp_path: Path) -> None:
    """The page's sipgw.toml and .env, as they are, pass every check start-up makes."""
    (tmp_path / "sipgw.toml").write_text(settings_doc.example_toml())
    (tmp_path / ".env").write_text(settings_doc.FIRST_ENV)
    for key in ("ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY"):
        os.environ.pop(key, None)
    found = check(["serve"])
    assert found.errors == [] and found.file == "sipgw.toml"
    assert found.settings == sum(not key.startswith("#") for _, key, _, _ in FIRST)
    assert len(settings_doc.FIRST_ENV.splitlines()) == 3
    uncommented = re.sub(r"^# ([a-z_]+ = )", r"\1", settings_doc.example_toml(), flags=re.M)
    (tmp_path / "prompt.txt").write_text("You answer for Acme.\n")
    (tmp_path / "sipgw.toml").write_text(uncommented)  # its choices too
    os.environ["SIPGW_ADMIN_TOKEN"] = "t" * 24
    found = check(["serve"])
    assert found.errors == [] and found.settings == len(FIRST)


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
