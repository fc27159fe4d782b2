"""Files that hold secrets must be their owner's (sipgw/app/security/filemodes.py): checked
at start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sipgw.app.cli import main
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.security.filemodes import check_secret_files
from sipgw.foundation.settings import ConfigError
from tests.sipgw.app.test_cli import environ  # noqa: F401 - the fixture


def secret(tmp_path: Path, name: str, mode: int) -> Path:
    path = tmp_path / name
    path.write_text("SIPGW_AUTH_PASSWORD=x\n")
    path.chmod(mode)
    return path


def test_readable_by_others_warns_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    env = secret(tmp_path, ".env", 0o644)
    users = secret(tmp_path, "users", 0o600)
    key = secret(tmp_path, "key.pem", 0o640)  # readable by a service's group: a choice
    assert check_secret_files(
        [("the settings file", str(env)), ("SIPGW_INBOUND_USERS_FILE", str(users)),
         ("SIPGW_TLS_KEY", str(key)), ("--accounts", ""), ("x", str(tmp_path / "none"))]
    ) == [
        f"the settings file: {env} holds secrets and any user of this machine can read it "
        f"(mode 0644): chmod o-rwx {env} (or chmod 600 {env})"
    ]  # fmt: skip


def test_writable_by_others_is_refused(tmp_path: Path) -> None:
    accounts = secret(tmp_path, "accounts.toml", 0o666)
    with pytest.raises(ConfigError, match=r"^--accounts: .*accounts.toml can be changed by "
                       r"any user of this machine \(mode 0666\): chmod o-rwx "):  # fmt: skip
        check_secret_files([("--accounts", str(accounts))])


@pytest.mark.usefixtures("environ")
def test_sipgw_serve_refuses_a_settings_file_anyone_may_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 21: .env and the accounts file were never checked: a .env any local user
    may write lets them set SIPGW_ALLOW_FROM=any or the dial allow-list."""
    env = secret(tmp_path, ".env", 0o666)
    assert os.stat(env).st_mode & 0o777 == 0o666
    assert main(["serve", "--sip-port", "0", "--bind", "127.0.0.1"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "sipgw: error: the settings file: .env can be changed by any user of this machine "
        "(mode 0666): chmod o-rwx .env\n"
    )


def test_sipgw_serve_warns_about_a_settings_file_others_can_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SIPGW_ECHO_DELAY_MS=100\n")
    (tmp_path / ".env").chmod(0o644)  # what cp .env.example .env gives with umask 022
    with GatewayProcess(tmp_path) as gateway:
        line = gateway.wait_log(r"WARNING +sipgw +(the settings file: .env holds secrets.*)", 5)[1]
        assert line.endswith("(mode 0644): chmod o-rwx .env (or chmod 600 .env)")
        assert gateway.stop() == 0
    (tmp_path / ".env").chmod(0o600)
    with GatewayProcess(tmp_path, name="gateway-2") as gateway:
        assert gateway.stop() == 0
    assert "holds secrets" not in gateway.log_text()
