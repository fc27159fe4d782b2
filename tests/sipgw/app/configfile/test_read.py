"""Finding and reading the settings file (sipgw/app/configfile/read.py): the same typed
settings as the environment's, under the environment and the flags, its tools and lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sipgw.agent.tools.settings import declared_tools
from sipgw.app.configfile.read import read_files, read_settings, with_settings_file
from sipgw.app.sections import SECTIONS, DeclaredToolsSection
from sipgw.app.settings import GatewayConfig
from sipgw.foundation.settings import ConfigError, Sources, load, setting_of
from sipgw.foundation.settings.settingsfile import config_path

FILE = """\
[network]
public_ip = "203.0.113.10"
sip_port = 5070
rtp_ports = "12000-12100"
transports = ["udp", "tcp"]

[calls]
max_calls = 7
codecs = ["PCMA", "PCMU"]

[access]
allow_from = ["192.0.2.0/24", "198.51.100.7"]

[legs]
browser_calls = false

[summary]
summary = true

[assistant]
greeting = "Hello, there."
filler_lines = ["One moment, please.", "Just a second, I'm looking."]
"""
ENVIRONMENT = {
    "SIPGW_PUBLIC_IP": "203.0.113.10",
    "SIPGW_SIP_PORT": "5070",
    "SIPGW_RTP_PORTS": "12000-12100",
    "SIPGW_TRANSPORTS": "udp,tcp",
    "SIPGW_MAX_CALLS": "7",
    "SIPGW_CODECS": "PCMA,PCMU",
    "SIPGW_ALLOW_FROM": "192.0.2.0/24,198.51.100.7",
    "SIPGW_BROWSER_CALLS": "off",
    "SIPGW_SUMMARY": "on",
    "SIPGW_GREETING": "Hello, there.",
    "SIPGW_FILLER_LINES": "One moment, please.|Just a second, I'm looking.",
}


def file_sources(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Sources:
    path = tmp_path / "sipgw.toml"
    path.write_text(text)
    files = read_files(["serve", "--config", path.name])  # the working directory: tmp_path
    os.environ.update(environ or {})
    return files.sources({}, SECTIONS)


@pytest.mark.usefixtures("environ")
def test_the_file_gives_the_same_typed_settings_as_the_environment(tmp_path: Path) -> None:
    from_file = file_sources(tmp_path, FILE)
    from_environment = Sources(ENVIRONMENT)
    changed = 0
    for info in SECTIONS:
        loaded: object = load(info.cls, from_file)
        assert loaded == load(info.cls, from_environment), info.name
        changed += loaded != load(info.cls, Sources())
    assert changed == 6  # network, calls, access, legs, summary, assistant: and no other
    config = load(GatewayConfig, from_file)
    assert config.sip_port == 5070 and config.transports == ("UDP", "TCP")


@pytest.mark.usefixtures("environ")
def test_the_environment_and_the_flags_win_over_the_file(tmp_path: Path) -> None:
    sources = file_sources(tmp_path, FILE, {"SIPGW_SIP_PORT": "5080", "SIPGW_MAX_CALLS": "9"})
    config = load(GatewayConfig, sources)
    assert (config.sip_port, config.max_calls, config.rtp_ports) == (5080, 9, (12000, 12100))
    flagged = Sources(os.environ, {"--sip-port": "5090"}, {}, sources.file)
    assert load(GatewayConfig, flagged).sip_port == 5090


@pytest.mark.usefixtures("environ")
def test_which_file(tmp_path: Path) -> None:
    assert config_path(None, {}) is None  # none: the environment and the flags alone
    (tmp_path / "sipgw.toml").write_text("")
    assert config_path(None, {}) == (Path("sipgw.toml"), "sipgw.toml")
    (tmp_path / "other.toml").write_text("")
    assert config_path(None, {"SIPGW_CONFIG": "other.toml"}) == (
        Path("other.toml"), "SIPGW_CONFIG=other.toml"
    )  # fmt: skip
    flag_wins = config_path("other.toml", {"SIPGW_CONFIG": "x"})
    assert flag_wins is not None and flag_wins[0] == Path("other.toml")
    with pytest.raises(ConfigError, match="^--config nope.toml: no such file$"):
        config_path("nope.toml", {})
    with pytest.raises(ConfigError, match="^SIPGW_CONFIG=nope.toml: no such file$"):
        config_path(None, {"SIPGW_CONFIG": "nope.toml"})


@pytest.mark.usefixtures("environ")
def test_sipgw_config_may_come_from_the_env_file(tmp_path: Path) -> None:
    (tmp_path / "gw.toml").write_text("[network]\nsip_port = 5071\n")
    (tmp_path / ".env").write_text("SIPGW_CONFIG=gw.toml\n")
    files = read_files(["serve"])
    assert files.config is not None and files.config[0] == Path("gw.toml")
    assert load(GatewayConfig, files.sources({}, SECTIONS)).sip_port == 5071


@pytest.mark.usefixtures("environ")
def test_a_secret_in_the_file_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        file_sources(
            tmp_path, '[network]\nsip_port = 5070\n\n[admin]\ntoken = "0123456789abcdef"\n'
        )
    assert str(caught.value) == (
        "sipgw.toml line 5: admin.token is a secret: set SIPGW_ADMIN_TOKEN in the environment "
        "or in .env, never in this file"
    )
    assert "0123456789abcdef" not in str(caught.value)


@pytest.mark.usefixtures("environ")
def test_the_files_tools_are_every_lines_agent_s(tmp_path: Path) -> None:
    text = (
        "[network]\nsip_port = 5070\n\n"
        '[[http_tools]]\nname = "status"\ndescription = "A status."\n'
        'url = "https://api.example.com/status"\n'
        'headers = { Authorization = "Bearer ${API_TOKEN}" }\n'
    )
    sources = file_sources(tmp_path, text, {"API_TOKEN": "t0k"})
    found = sources.find(setting_of(DeclaredToolsSection, "tools_file"))
    assert (found.origin, found.env_file_line, found.key) == (
        "file",
        "sipgw.toml line 4",
        "http_tools",
    )
    tools = declared_tools(load(DeclaredToolsSection, sources), sources)
    assert [tool.name for tool in tools.http_tools] == ["status"]
    assert tools.http_tools[0].headers == {"Authorization": "Bearer t0k"}
    with pytest.raises(ConfigError, match=r"sipgw.toml line 2: declared_tools.tools_file and"):
        file_sources(
            tmp_path,
            f'[declared_tools]\ntools_file = "{tmp_path / "sipgw.toml"}"\n'
            + text[text.index("[[") :],
        )


@pytest.mark.usefixtures("environ")
def test_lines_in_the_file_and_a_routes_file_are_refused_together(tmp_path: Path) -> None:
    path = tmp_path / "sipgw.toml"
    path.write_text('[lines.a]\nagent = "echo"\n[[routes]]\nline = "a"\n')
    (tmp_path / "routes.toml").write_text("")
    files = read_files(["serve", "--config", str(path)])
    assert files.config is not None
    found = read_settings(files.config[1], SECTIONS)
    assert found.errors == ()
    with pytest.raises(
        ConfigError, match="^SIPGW_ROUTES names a routes file, and .*sipgw.toml has"
    ):
        with_settings_file(Sources({"SIPGW_ROUTES": "routes.toml"}), found)
    merged = with_settings_file(Sources(), found)
    assert merged.file_path == str(path) and "lines" in merged.file_keys
