"""Secrets and privacy in the app: the log redaction, the secrets it knows, the settings."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipgw.app.cli import prepare
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.process import child_env
from sipgw.app.sections import SECTIONS
from sipgw.app.security.privacy import install_log_redaction, load_redactor
from sipgw.app.security.settings import AccessSection, PrivacySection
from sipgw.foundation.settings import ConfigError, Sources, load, secret_texts, setting
from tests.toolkit.canaries import (
    ASSEMBLYAI_KEY,
    ELEVENLABS_KEY,
    INBOUND_PASSWORD,
    OPENAI_KEY,
    SIP_PASSWORD,
    SIP_PASSWORD_2,
)

VISA = "4111111111111111"
SETTINGS = [spec for info in SECTIONS for _, spec in info.settings]


def test_secret_settings_are_marked() -> None:
    marked = {s.env for s in SETTINGS if s.secret}
    assert marked == {
        s.env for s in SETTINGS if s.env.endswith(("_API_KEY", "_PASSWORD", "_TOKEN", "_SECRET"))
    } | {"SIPGW_DATABASE_URL"}  # a URL that may carry the database's password
    assert {"SIPGW_AUTH_PASSWORD", "SIPGW_INBOUND_PASSWORD", "OPENAI_API_KEY"} <= marked


def test_redactor_from_settings() -> None:
    sources = Sources({"OPENAI_API_KEY": OPENAI_KEY, "SIPGW_AUTH_PASSWORD": SIP_PASSWORD})
    secrets = secret_texts([info.cls for info in SECTIONS], sources)
    r = load_redactor(load(PrivacySection, sources), secrets)
    assert r.redact(f"{OPENAI_KEY} {SIP_PASSWORD} {VISA}") == "*** *** [card ****1111]"
    sources = Sources({"SIPGW_REDACT": "off", "SIPGW_REDACT_PATTERNS": "ab+c"})
    off = load_redactor(load(PrivacySection, sources))
    assert off.redact(f"{VISA} abbbc") == f"{VISA} [redacted]"
    with pytest.raises(ConfigError, match=r"^SIPGW_REDACT_PATTERNS='\(': must be a regular"):
        load(PrivacySection, Sources({"SIPGW_REDACT_PATTERNS": "("}))


def _refuse(value: str) -> str:
    raise ValueError("not acceptable")


@dataclass(frozen=True)
class Guarded:
    key: str = setting("", env="GUARDED_KEY", flag="--guarded-key", parse=_refuse, secret=True,
                       help="A key.")  # fmt: skip


def test_a_secret_setting_is_never_in_an_error() -> None:
    refused = [
        (Guarded, Sources({"GUARDED_KEY": INBOUND_PASSWORD}), "GUARDED_KEY: not acceptable"),
        (Guarded, Sources({}, {"--guarded-key": INBOUND_PASSWORD}),
         "--guarded-key: not acceptable"),
        (AccessSection, Sources({"SIPGW_INBOUND_PASSWORD": INBOUND_PASSWORD}),
         "SIPGW_INBOUND_PASSWORD is set: --inbound-username/SIPGW_INBOUND_USERNAME is needed too"),
    ]  # fmt: skip
    for section, sources, message in refused:
        with pytest.raises(ConfigError) as error:
            load(section, sources)
        assert str(error.value) == message


def test_startup_masks_every_configured_secret(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f'[accounts.main]\naor = "sip:1001@pbx.example.com"\nauth_password = "{SIP_PASSWORD_2}"\n'
    )
    users = tmp_path / "users"
    users.write_text(f"bob:{INBOUND_PASSWORD}\n")
    (tmp_path / "none.env").write_text("")
    startup = prepare(
        ["serve", "--env-file", str(tmp_path / "none.env"), "--accounts", str(accounts),
         "--inbound-users-file", str(users), "--auth-password", SIP_PASSWORD]
    )  # fmt: skip
    text = startup.redactor.redact(f"{SIP_PASSWORD} {SIP_PASSWORD_2} {INBOUND_PASSWORD}")
    assert text == "*** *** ***"
    assert SIP_PASSWORD not in repr(startup)


def test_installed_redaction_covers_every_logger_and_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redaction = install_log_redaction(load_redactor(PrivacySection()))
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
        gw.wait_log("leak done", timeout=10)
        text = gw.log_text()
        gw.stop()
    for secret in (OPENAI_KEY, ASSEMBLYAI_KEY, INBOUND_PASSWORD, VISA, "4111 1111"):
        assert secret not in text
    assert "leak key=*** inbound=***" in text
    assert "RuntimeError: refused ***" in text and "leak card [card ****1111]" in text
