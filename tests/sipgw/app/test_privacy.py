"""Secrets and privacy in the app: the log redaction, the secrets it knows, the settings."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from sipgw.app.cli import build_parser, prepare
from sipgw.app.privacy import install_log_redaction, load_redactor
from sipgw.app.settings import ConfigError
from sipgw.app.settings_registry import SETTINGS, resolve_settings
from sipgw.testing.canaries import (
    ASSEMBLYAI_KEY,
    ELEVENLABS_KEY,
    INBOUND_PASSWORD,
    OPENAI_KEY,
    SIP_PASSWORD,
    SIP_PASSWORD_2,
)
from sipgw.testing.gateway_process import GatewayProcess
from sipgw.testing.process import child_env

VISA = "4111111111111111"


def test_secret_settings_are_marked() -> None:
    marked = {s.env for s in SETTINGS if s.secret}
    assert marked == {
        s.env for s in SETTINGS if s.env.endswith(("_API_KEY", "_PASSWORD", "_TOKEN"))
    }
    assert {"SIPGW_AUTH_PASSWORD", "SIPGW_INBOUND_PASSWORD", "OPENAI_API_KEY"} <= marked


def test_redactor_from_settings() -> None:
    values = resolve_settings({"OPENAI_API_KEY": OPENAI_KEY, "SIPGW_AUTH_PASSWORD": SIP_PASSWORD})
    r = load_redactor(values)
    assert r.redact(f"{OPENAI_KEY} {SIP_PASSWORD} {VISA}") == "*** *** [card ****1111]"
    off = load_redactor(resolve_settings({"SIPGW_REDACT": "off", "SIPGW_REDACT_PATTERNS": "ab+c"}))
    assert off.redact(f"{VISA} abbbc") == f"{VISA} [redacted]"
    with pytest.raises(ConfigError, match=r"SIPGW_REDACT_PATTERNS='\(': not a regular"):
        load_redactor(resolve_settings({"SIPGW_REDACT_PATTERNS": "("}))


def test_a_secret_setting_is_never_in_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    values = resolve_settings({"SIPGW_INBOUND_PASSWORD": INBOUND_PASSWORD})
    setting = values.setting("SIPGW_INBOUND_PASSWORD")

    def refuse(value: str) -> str:
        raise ValueError("not acceptable")

    monkeypatch.setattr(values, "_settings", {**values._settings, setting.env: type(setting)(
        setting.env, "", "", refuse, secret=True)})  # fmt: skip
    with pytest.raises(ConfigError) as error:
        values["SIPGW_INBOUND_PASSWORD"]
    assert INBOUND_PASSWORD not in str(error.value)
    assert str(error.value) == "SIPGW_INBOUND_PASSWORD: not acceptable"


def test_startup_masks_every_configured_secret(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f'[accounts.main]\naor = "sip:1001@pbx.example.com"\nauth_password = "{SIP_PASSWORD_2}"\n'
    )
    users = tmp_path / "users"
    users.write_text(f"bob:{INBOUND_PASSWORD}\n")
    args = build_parser().parse_args(
        ["serve", "--env-file", str(tmp_path / "none.env"), "--accounts", str(accounts),
         "--inbound-users-file", str(users), "--auth-password", SIP_PASSWORD]
    )  # fmt: skip
    (tmp_path / "none.env").write_text("")
    startup = prepare(args)
    text = startup.redactor.redact(f"{SIP_PASSWORD} {SIP_PASSWORD_2} {INBOUND_PASSWORD}")
    assert text == "*** *** ***"
    assert SIP_PASSWORD not in repr(startup)


def test_installed_redaction_covers_every_logger_and_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redaction = install_log_redaction(load_redactor(resolve_settings({})))
    redaction.redactor.add_secrets([ELEVENLABS_KEY])
    try:
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("some.library").debug("> xi-api-key: %s", ELEVENLABS_KEY)
            try:
                raise RuntimeError(f"401 for {ELEVENLABS_KEY}, card {VISA}")
            except RuntimeError:
                logging.getLogger("sipgw.agent").exception("TTS failed")
    finally:
        redaction.uninstall()
    assert ELEVENLABS_KEY not in caplog.text and VISA not in caplog.text
    assert "RuntimeError: 401 for ***, card [card ****1111]" in caplog.text
    assert logging.getLogRecordFactory() is logging.LogRecord


LEAKY = """
import logging, os, sys, threading
from sipgw.app.cli import main

def leak():
    log = logging.getLogger("some.library")
    log.warning("leak key=%s inbound=%s", os.environ["OPENAI_API_KEY"], os.environ["LEAK_INBOUND"])
    try:
        raise RuntimeError("refused " + os.environ["ASSEMBLYAI_API_KEY"])
    except RuntimeError:
        log.exception("leak card 4111 1111 1111 1111")
    log.warning("leak done")

threading.Timer(1.0, leak).start()
sys.exit(main(sys.argv[1:]))
"""


def test_the_gateway_masks_secrets_in_its_log(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text(f"bob:{INBOUND_PASSWORD}\n")
    env = {**child_env(), "OPENAI_API_KEY": OPENAI_KEY, "ASSEMBLYAI_API_KEY": ASSEMBLYAI_KEY,
           "LEAK_INBOUND": INBOUND_PASSWORD}  # fmt: skip
    with GatewayProcess(
        tmp_path / "gw",
        program=[sys.executable, "-c", LEAKY],
        extra_args=["--inbound-users-file", str(users)],
        env=env,
    ) as gw:
        gw.start()
        gw.wait_log("leak done", timeout=10)
        text = gw.log_text()
        gw.stop()
    for secret in (OPENAI_KEY, ASSEMBLYAI_KEY, INBOUND_PASSWORD, VISA, "4111 1111"):
        assert secret not in text
    assert "leak key=*** inbound=***" in text
    assert "RuntimeError: refused ***" in text and "leak card [card ****1111]" in text
