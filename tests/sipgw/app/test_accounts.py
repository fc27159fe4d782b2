"""Accounts from the REGISTRATION settings and the TOML accounts file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import EchoSettings
from sipgw.app.accounts import (
    Account,
    RegistrationSettings,
    load_accounts,
    load_registration_settings,
)
from sipgw.app.agents import echo_factory
from sipgw.app.cli import build_parser
from sipgw.app.config import GatewayConfig
from sipgw.app.gateway import Gateway
from sipgw.app.settings import ConfigError
from sipgw.app.settings_registry import AGENT_NAMES, resolve_settings
from sipgw.call import CallInfo
from sipgw.headers import NameAddr

GOOD = """
[accounts.office]
aor = "sip:1001@pbx.example.com"
auth_password = "s3cret"

[accounts.trunk]
aor = "sip:+15550100@sip.telnyx.example"
registrar = "sip:sip.telnyx.example:5060"
auth_username = "gw-user"
auth_password = "other"
outbound_proxy = "sip:proxy.example.net;transport=tcp"
transport = "TCP"
expires = 3600
agent = "assistant"
"""


def accounts_from(tmp_path: Path, text: str, **env: str) -> tuple[Account, ...]:
    path = tmp_path / "accounts.toml"
    path.write_text(text)
    return load_accounts(resolve_settings({"SIPGW_ACCOUNTS": str(path), **env}), AGENT_NAMES)


def test_accounts_file_with_defaults_and_every_key(tmp_path: Path) -> None:
    office, trunk = accounts_from(tmp_path, GOOD)
    assert office == Account("office", "sip:1001@pbx.example.com", auth_password="s3cret")
    reg = office.registration(keepalive_interval=15.0)
    assert reg.aor == "sip:1001@pbx.example.com" and reg.registrar == ""
    assert reg.credentials is not None and reg.credentials.username == "1001"  # the AOR's user
    assert reg.policy.expires == 600 and reg.policy.keepalive_interval == 15.0
    assert trunk.transport == "tcp" and trunk.agent == "assistant" and trunk.expires == 3600
    reg = trunk.registration()
    assert reg.credentials is not None and reg.credentials.username == "gw-user"
    assert reg.transport == "TCP" and reg.outbound_proxy == "sip:proxy.example.net;transport=tcp"
    assert reg.registrar == "sip:sip.telnyx.example:5060"


def test_passwords_stay_out_of_reprs(tmp_path: Path) -> None:
    accounts = accounts_from(tmp_path, GOOD)
    text = repr(accounts) + repr([a.registration() for a in accounts])
    assert "s3cret" not in text and "other" not in text


def test_no_password_means_no_credentials(tmp_path: Path) -> None:
    (account,) = accounts_from(tmp_path, '[accounts.lab]\naor = "sip:lab@10.0.0.1"\n')
    assert account.registration().credentials is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[accounts.a]\nregistrar = 'sip:x'\n", "account 'a': aor is missing"),
        ("[accounts.a]\naor = 'sip:pbx.example.com'\n", "account 'a': aor .* needs a user part"),
        ("[accounts.a]\naor = 'mailto:x@y'\n", "account 'a': aor .* is not a sip"),
        ("[accounts.b]\naor = 'sip:1@h'\nexpires = 'long'\n", "account 'b': expires must be a num"),
        ("[accounts.b]\naor = 'sip:1@h'\nexpires = 0\n", "account 'b': expires must be at least"),
        ("[accounts.c]\naor = 'sip:1@h'\ntransport = 'sctp'\n", "account 'c': transport 'sctp'"),
        ("[accounts.c]\naor = 'sip:1@h'\nagent = 'robot'\n", "account 'c': agent 'robot'"),
        ("[accounts.d]\naor = 'sip:1@h'\npassword = 'x'\n", "account 'd': unknown key 'password'"),
        ("[accounts.d]\naor = 'sip:1@h'\noutbound_proxy = 'proxy'\n", "'d': outbound_proxy"),
        ("[accounts.e]\naor = 'sip:1@h'\nauth_password = 7\n", "'e': auth_password must be a str"),
        ("[accounts]\n", "no \\[accounts.NAME\\] table"),
        ("[account.a]\naor = 'sip:1@h'\n", "unknown table 'account'"),
        ("accounts = 3\n", "no \\[accounts.NAME\\] table"),
        ("[accounts.a\n", "not valid TOML"),
        (
            "[accounts.a]\naor = 'sip:1@h'\n[accounts.b]\naor = 'sip:1@H'\n",
            "accounts 'a' and 'b' register the same AOR",
        ),
    ],
)
def test_bad_files_name_the_account_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        accounts_from(tmp_path, text)
    assert str(tmp_path) in str(info.value) or "same AOR" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    values = resolve_settings({"SIPGW_ACCOUNTS": str(tmp_path / "nope.toml")})
    with pytest.raises(ConfigError, match="SIPGW_ACCOUNTS .*nope.toml: No such file"):
        load_accounts(values, AGENT_NAMES)


def test_one_account_from_flags_with_defaults() -> None:
    values = resolve_settings(
        {"SIPGW_REGISTER": "sip:1001@pbx.example.com", "SIPGW_AUTH_PASSWORD": "pw"}
    )
    (account,) = load_accounts(values, AGENT_NAMES)
    assert account.name == "register" and account.expires == 600
    reg = account.registration()
    assert reg.registrar == "" and reg.credentials is not None
    assert reg.credentials.username == "1001" and reg.credentials.password == "pw"


def test_flags_and_file_together(tmp_path: Path) -> None:
    accounts = accounts_from(
        tmp_path,
        GOOD,
        SIPGW_REGISTER="sip:9@lab.example.com",
        SIPGW_REGISTRAR="sip:10.0.0.1:5080",
        SIPGW_REGISTER_EXPIRES="120",
    )
    assert [a.name for a in accounts] == ["register", "office", "trunk"]
    assert accounts[0].registrar == "sip:10.0.0.1:5080" and accounts[0].expires == 120


def test_a_registrar_without_an_aor_is_an_error() -> None:
    values = resolve_settings({"SIPGW_REGISTRAR": "sip:pbx.example.com"})
    with pytest.raises(ConfigError, match="SIPGW_REGISTRAR is set but SIPGW_REGISTER"):
        load_accounts(values, AGENT_NAMES)


def test_credentials_without_an_aor_are_for_outbound_calls() -> None:
    # e.g. Twilio termination with a credential list: no registration, 407s answered.
    values = resolve_settings({"SIPGW_AUTH_USERNAME": "u", "SIPGW_AUTH_PASSWORD": "pw"})
    assert load_accounts(values, AGENT_NAMES) == ()


def test_the_register_account_goes_through_the_outbound_proxy() -> None:
    proxy = "sip:edge.example.com;transport=tls"
    values = resolve_settings(
        {"SIPGW_REGISTER": "sip:1001@pbx.example.com", "SIPGW_OUTBOUND_PROXY": proxy}
    )
    (account,) = load_accounts(values, AGENT_NAMES)
    assert account.outbound_proxy == proxy


def test_bad_register_flag_names_the_setting() -> None:
    values = resolve_settings({"SIPGW_REGISTER": "pbx.example.com"})
    with pytest.raises(ConfigError, match="SIPGW_REGISTER: aor 'pbx.example.com' is not a sip"):
        load_registration_settings(values, AGENT_NAMES)
    with pytest.raises(ConfigError, match="SIPGW_REGISTER_EXPIRES"):
        load_accounts(resolve_settings({"SIPGW_REGISTER_EXPIRES": "0"}), AGENT_NAMES)
    with pytest.raises(ConfigError, match="SIPGW_KEEPALIVE_INTERVAL"):
        load_registration_settings(
            resolve_settings({"SIPGW_KEEPALIVE_INTERVAL": "-1"}), AGENT_NAMES
        )
    with pytest.raises(ConfigError, match="SIPGW_REGISTER_RETRY_BASE"):
        load_registration_settings(
            resolve_settings({"SIPGW_REGISTER_RETRY_BASE": "0"}), AGENT_NAMES
        )


def test_registration_settings_carry_accounts_and_keepalive(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(GOOD)
    settings = load_registration_settings(
        resolve_settings({"SIPGW_ACCOUNTS": str(path), "SIPGW_KEEPALIVE_INTERVAL": "10"}),
        AGENT_NAMES,
    )
    assert [a.name for a in settings.accounts] == ["office", "trunk"]
    assert settings.keepalive_interval == 10.0
    assert settings.retry_base == 30.0  # RFC 5626 §4.5's base-time for a flow that failed
    retry = load_registration_settings(
        resolve_settings({"SIPGW_REGISTER_RETRY_BASE": "2"}), AGENT_NAMES
    ).retry_base
    assert retry == 2.0
    office = settings.accounts[0]
    assert office.registration(retry_base=retry).policy.retry_base == 2.0
    assert office.registration().policy.retry_base == 30.0
    assert load_registration_settings(resolve_settings({}), AGENT_NAMES).accounts == ()


def test_help_shows_no_password(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--auth-password SECRET" in text and "default none" in text
    assert "--register AOR" in text and "--accounts FILE" in text


def test_calls_find_their_account(tmp_path: Path) -> None:
    office, trunk = accounts_from(tmp_path, GOOD)
    registration = RegistrationSettings((office, trunk))
    default, trunk_agent = echo_factory(EchoSettings()), echo_factory(EchoSettings(delay_ms=0))
    gateway = Gateway(
        GatewayConfig(), default, registration=registration, account_agents={"trunk": trunk_agent}
    )

    def call(to: str) -> CallInfo:
        return CallInfo(("c", "t"), NameAddr.parse("<sip:a@b>"), NameAddr.parse(to))

    assert gateway.routes.account_for(call("<sip:1001@pbx.example.com>")) is office
    assert gateway.routes.account_for(call("<sip:+15550100@sip.telnyx.example>;tag=x")) is trunk
    assert gateway.routes.account_for(call("<sip:1001@192.0.2.1:5070>")) is office  # user alone
    assert gateway.routes.account_for(call("<sip:999@pbx.example.com>")) is None
    assert gateway.routes.agent_for(call("<sip:+15550100@sip.telnyx.example>")) is trunk_agent
    assert gateway.routes.agent_for(call("<sip:1001@pbx.example.com>")) is default
    assert gateway.routes.agent_for(call("<sip:echo@192.0.2.1>")) is default
