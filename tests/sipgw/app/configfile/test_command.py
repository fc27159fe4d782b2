"""``sipgw config check|show|convert`` (sipgw/app/configfile/command.py): output and exit
statuses, through ``sipgw``'s own entry point."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sipgw.app.cli import main
from tests.agent.tools.test_settings import TOOLS_FILE

pytestmark = pytest.mark.usefixtures("environ")


def test_check_exits_1_and_names_each_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "gw.toml").write_text('[network]\nsip_port = "x"\n[admin]\ntoken = "t"\n')
    assert main(["config", "check", "--config", "gw.toml"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "gw.toml line 2: network.sip_port = 'x': must be a port number 0..65535",
        "gw.toml line 4: admin.token is a secret: set SIPGW_ADMIN_TOKEN in the environment or "
        "in .env, never in this file",
        "gw.toml: 2 mistakes",
    ]


def test_check_exits_0_for_good_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sipgw.toml").write_text('[network]\nbind = "127.0.0.1"\n')
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out == "sipgw.toml: OK (1 setting)\n"


def test_serve_refuses_the_same_mistakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sipgw.toml").write_text('[network]\nsip_port = "x"\n')
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == (
        "sipgw: error: sipgw.toml line 2: network.sip_port = 'x': must be a port number 0..65535\n"
    )


def test_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sipgw.toml").write_text('[network]\nsip_port = 5070\n[lines.a]\nagent = "echo"\n')
    assert main(["config", "show", "--changed"]) == 0
    out = capsys.readouterr().out
    assert 'sip_port = "5070"  # sipgw.toml line 2' in out and "# line a: sipgw.toml line 3" in out


def test_convert_prints_or_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tools.toml").write_text(TOOLS_FILE)
    assert main(["config", "convert", "--tools", "tools.toml"]) == 0
    printed = capsys.readouterr().out
    assert tomllib.loads(printed)["http_tools"][0]["name"] == "invoice_status"
    assert main(["config", "convert", "--tools", "tools.toml", "--output", "sipgw.toml"]) == 0
    assert (tmp_path / "sipgw.toml").read_text() == printed
    assert main(["config", "convert", "--tools", "tools.toml", "--output", "sipgw.toml"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["config", "convert"]) == 1
    assert main(["config", "nonsense"]) == 2
