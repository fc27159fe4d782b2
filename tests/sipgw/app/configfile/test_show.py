"""``sipgw config show`` (sipgw/app/configfile/show.py): each setting in effect with where it
came from, secrets masked."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from sipgw.app.configfile.read import read_files
from sipgw.app.configfile.show import MASK, show, tables
from sipgw.app.sections import SECTIONS
from sipgw.foundation.settings.tomlfile import TomlDocument


@pytest.mark.usefixtures("environ")
def test_every_source_is_named_and_secrets_are_masked(tmp_path: Path) -> None:
    (tmp_path / "sipgw.toml").write_text('[network]\nbind = "127.0.0.1"\nsip_port = 5070\n')
    (tmp_path / ".env").write_text("SIPGW_ADMIN_TOKEN=a-long-admin-token-of-ours\n")
    os.environ["SIPGW_MAX_CALLS"] = "7"
    files = read_files(["serve"])
    text = show(files.sources({"--rtp-ports": "12000-12100"}, SECTIONS), SECTIONS)
    rows = {line.split(" = ")[0]: line for line in text.splitlines() if " = " in line}
    assert rows["sip_port"].startswith('sip_port = "5070"')
    assert rows["sip_port"].split("#")[1].strip() == "sipgw.toml line 3"
    assert rows["max_calls"].split("#")[1].strip() == "environment SIPGW_MAX_CALLS"
    assert rows["rtp_ports"].split("#")[1].strip() == "flag --rtp-ports"
    assert rows["token"].split("#")[1].strip() == "environment SIPGW_ADMIN_TOKEN (.env line 1)"
    assert f'"{MASK}"' in rows["token"] and "a-long-admin-token" not in text
    assert rows["tls_port"].split("#")[1].strip() == "default"
    assert text.startswith("# settings file: sipgw.toml\n\n[agent]\n")
    changed = show(files.sources({}, SECTIONS), SECTIONS, changed=True)
    assert "[network]" in changed and "tls_port" not in changed and "[echo]" not in changed


def test_an_empty_secret_shows_empty() -> None:
    from sipgw.foundation.settings import Sources

    text = show(Sources(), SECTIONS)
    assert 'token = ""' in text and MASK not in text


def test_the_files_lines_and_tools_are_listed() -> None:
    source = (
        '[lines.a]\nagent = "echo"\n[[routes]]\nline = "a"\n'
        '[[http_tools]]\nname = "t"\n[mcp_servers.time]\ncommand = ["x"]\n'
    )
    document = TomlDocument("sipgw.toml", tomllib.loads(source), tuple(source.splitlines()))
    assert tables(document) == (
        "# line a: sipgw.toml line 1\n# route 1: sipgw.toml line 3\n"
        "# http tool t: sipgw.toml line 5\n# MCP server time: sipgw.toml line 7\n"
    )
