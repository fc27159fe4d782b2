"""Where a setting's text comes from, and how a message names it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.settings import OperationsSection
from sipgw.foundation.settings import ConfigError, Setting, SettingError, Sources, load_env_file
from sipgw.foundation.settings.parsers import port, text
from sipgw.foundation.settings.sources import FileValue

PORT = Setting("SIPGW_SIP_PORT", "SIP port.", port, "5060", "--sip-port", "N")
KEY = Setting("TEST_KEY", "A key.", text, "", "--test-key", "KEY", secret=True)
NAME = Setting("TEST_NAME", "A name.", text, "")


def test_the_flag_wins_over_the_environment_which_wins_over_the_default() -> None:
    both = Sources({"SIPGW_SIP_PORT": "5070"}, {"--sip-port": "5080"})
    assert (both.find(PORT).text, both.find(PORT).origin) == ("5080", "flag")
    env = Sources({"SIPGW_SIP_PORT": "5070"})
    assert (env.find(PORT).text, env.find(PORT).origin) == ("5070", "environment")
    assert (Sources().find(PORT).text, Sources().find(PORT).origin) == ("5060", "default")
    assert Sources({"SIPGW_SIP_PORT": ""}).given(PORT) and not Sources().given(PORT)
    assert Sources({}, {"--sip-port": "1"}).find(NAME).origin == "default"  # no flag of its own


def test_the_settings_file_sits_under_the_environment_and_over_the_default() -> None:
    file = {"SIPGW_SIP_PORT": FileValue("5090", "sipgw.toml line 4", "network.sip_port", 5090)}
    only = Sources({}, {}, {}, file)
    assert (only.find(PORT).text, only.find(PORT).origin) == ("5090", "file")
    assert only.given(PORT)
    env = Sources({"SIPGW_SIP_PORT": "5070"}, {}, {}, file)
    assert (env.find(PORT).text, env.find(PORT).origin) == ("5070", "environment")
    flag = Sources({"SIPGW_SIP_PORT": "5070"}, {"--sip-port": "5080"}, {}, file)
    assert (flag.find(PORT).text, flag.find(PORT).origin) == ("5080", "flag")
    found = Sources(
        file={"SIPGW_SIP_PORT": FileValue("x y", "sipgw.toml line 4", "network.sip_port", 0)}
    ).find(PORT)
    assert found.quoted() == "sipgw.toml line 4: network.sip_port = 'x y'"
    assert found.name == "network.sip_port = 'x y' (sipgw.toml line 4)"
    assert found.label == "network.sip_port (sipgw.toml line 4)"


def test_a_lines_value_wins_over_everything_and_is_named_by_its_line() -> None:
    gateway = Sources({"SIPGW_SIP_PORT": "5070"}, {"--sip-port": "5080"})
    value = FileValue("6000", "sipgw.toml line 9", "lines.sales.settings.SIPGW_SIP_PORT", 6000)
    laid = gateway.with_line({"SIPGW_SIP_PORT": value})
    found = laid.find(PORT)
    assert (found.text, found.origin, found.written) == ("6000", "line", value)
    assert found.quoted() == "sipgw.toml line 9: SIPGW_SIP_PORT=6000"
    assert found.label == "SIPGW_SIP_PORT (sipgw.toml line 9)"
    assert laid.under is gateway and laid.flags == gateway.flags
    assert laid.find(NAME).origin == "default" and gateway.find(PORT).origin == "flag"


def test_messages_name_what_the_user_wrote() -> None:
    flag = Sources({}, {"--sip-port": "a b"}).find(PORT)
    assert flag.quoted() == "--sip-port 'a b'" and flag.name == "--sip-port 'a b'"
    env = Sources({"SIPGW_SIP_PORT": "abc"}).find(PORT)
    assert env.quoted() == "SIPGW_SIP_PORT=abc" and env.name == "SIPGW_SIP_PORT=abc"
    from_file = Sources({"SIPGW_SIP_PORT": "x"}, {}, {"SIPGW_SIP_PORT": ".env line 3"})
    assert from_file.find(PORT).quoted() == ".env line 3: SIPGW_SIP_PORT=x"
    assert from_file.find(PORT).name == "SIPGW_SIP_PORT=x (.env line 3)"
    assert Sources().find(PORT).name == "--sip-port/SIPGW_SIP_PORT (default 5060)"
    assert Sources().find(NAME).name == "TEST_NAME"


def test_after_loading_a_setting_is_named_as_given_without_its_value() -> None:
    assert Sources({}, {"--sip-port": "5070"}).find(PORT).label == "--sip-port"
    assert Sources({"SIPGW_SIP_PORT": "5070"}).find(PORT).label == "SIPGW_SIP_PORT"
    from_file = Sources({"SIPGW_SIP_PORT": "x"}, {}, {"SIPGW_SIP_PORT": ".env line 3"})
    assert from_file.find(PORT).label == "SIPGW_SIP_PORT (.env line 3)"
    assert Sources().find(PORT).label == "--sip-port/SIPGW_SIP_PORT"  # a default, or code's
    assert Sources().find(NAME).label == "TEST_NAME"
    given = Sources({}, {"--record-dir": "/x"})
    assert given.label(OperationsSection, "record_dir") == "--record-dir"
    assert given.labels(OperationsSection)["record_retention_days"] == (
        "--record-retention-days/SIPGW_RECORD_RETENTION_DAYS"
    )


def test_an_error_raised_after_loading_is_explained_by_the_sources() -> None:
    error = SettingError("{record_dir}: cannot create {path}", OperationsSection, path="/x")
    assert Sources({}, {"--record-dir": "/x"}).explain(error) == "--record-dir: cannot create /x"
    from_file = Sources({"SIPGW_RECORD_DIR": "/x"}, {}, {"SIPGW_RECORD_DIR": ".env line 2"})
    assert from_file.explain(error) == "SIPGW_RECORD_DIR (.env line 2): cannot create /x"
    assert (
        Sources().explain(error)
        == str(error)
        == ("--record-dir/SIPGW_RECORD_DIR: cannot create /x")
    )
    assert Sources({}, {"--record-dir": "/x"}).explain(ConfigError("plain")) == "plain"


def test_the_command_line_alone() -> None:
    both = Sources({"SIPGW_SIP_PORT": "5070"}, {"--bind": "127.0.0.1"}, {"SIPGW_SIP_PORT": "x"})
    line = both.command_line()
    assert line.flags == {"--bind": "127.0.0.1"} and not line.environ and not line.env_file_lines


def test_a_secret_value_is_never_shown() -> None:
    secret = "s3cret value"
    for sources in (
        Sources({}, {"--test-key": secret}),
        Sources({"TEST_KEY": secret}),
        Sources({"TEST_KEY": secret}, {}, {"TEST_KEY": ".env line 1"}),
    ):
        found = sources.find(KEY)
        assert secret not in found.quoted() and secret not in found.name
        assert secret not in found.label and secret not in repr(sources)
        assert found.quoted().endswith(("--test-key", "TEST_KEY"))


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A working directory of its own; os.environ restored afterwards."""
    saved = dict(os.environ)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


def test_the_env_file_fills_in_what_the_environment_lacks(clean_environ: Path) -> None:
    (clean_environ / ".env").write_text(
        "# settings\nTEST_A=from-file\nexport TEST_B=file\n\nTEST_C=first\nTEST_C=second\n"
    )
    os.environ["TEST_B"] = "from-environment"
    lines = load_env_file(None)
    assert os.environ["TEST_A"] == "from-file" and os.environ["TEST_B"] == "from-environment"
    assert os.environ["TEST_C"] == "second"  # the last assignment wins
    assert lines == {"TEST_A": ".env line 2", "TEST_C": ".env line 6"}


def test_a_named_env_file_must_exist_and_none_is_fine(clean_environ: Path) -> None:
    assert load_env_file(None) == {}  # no ./.env
    (clean_environ / "other.env").write_text("TEST_D=1\n")
    assert load_env_file("other.env") == {"TEST_D": "other.env line 1"}
    with pytest.raises(ConfigError, match="^--env-file missing.env: no such file$"):
        load_env_file("missing.env")
