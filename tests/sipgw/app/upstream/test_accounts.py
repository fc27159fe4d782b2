"""Accounts from the accounts section (the flags) and the TOML accounts file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.capabilities import plugin_factory
from sipgw.agent.echo.plugin import echo_factory
from sipgw.agent.echo.settings import EchoSettings
from sipgw.app.cli import build_parser
from sipgw.app.gateway import Gateway, GatewayParts
from sipgw.app.settings import GatewayConfig
from sipgw.app.upstream.accounts import (
    Account,
    RegistrationSettings,
    load_accounts,
    parse_accounts_file,
    registration_settings,
)
from sipgw.app.upstream.settings import AccountSection
from sipgw.foundation.settings import ConfigError, ConfigMistakes, Sources, load
from sipgw.sip.call import CallInfo
from sipgw.sip.headers import NameAddr

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


def section(**env: str) -> AccountSection:
    return load(AccountSection, Sources(env))


def accounts_from(tmp_path: Path, text: str, **env: str) -> tuple[Account, ...]:
    path = tmp_path / "accounts.toml"
    path.write_text(text)
    return load_accounts(section(SIPGW_ACCOUNTS=str(path), **env))


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


def test_an_account_may_say_where_its_media_goes(tmp_path: Path) -> None:
    text = GOOD + 'media_networks = ["203.0.113.0/24", "2001:db8:5::/48"]\n'
    office, trunk = accounts_from(tmp_path, text)
    assert office.media_networks == () and trunk.media_networks == (
        "203.0.113.0/24",
        "2001:db8:5::/48",
    )


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
        ("[accounts.a]\nregistrar = 'sip:x'\n", "line 1: account 'a': aor is missing"),
        ("[accounts.a]\naor = 'sip:pbx.example.com'\n",
         "line 2: account 'a': aor .* needs a user part"),
        ("[accounts.a]\naor = 'mailto:x@y'\n", "line 2: account 'a': aor .* must be a sip:"),
        ("[accounts.b]\naor = 'sip:1@h'\nexpires = 'long'\n",
         "line 3: account 'b': expires must be a number"),
        ("[accounts.b]\naor = 'sip:1@h'\n\n# short\nexpires = 0\n",
         "line 5: account 'b': expires must be at least"),
        ("[accounts.c]\naor = 'sip:1@h'\ntransport = 'sctp'\n",
         "line 3: account 'c': transport 'sctp'"),
        ("[accounts.c]\naor = 'sip:1@h'\nagent = 'robot'\n",
         "line 3: account 'c': agent 'robot' must be echo, assistant, voice-agent, "
         "realtime, twiml, stream or srs, or package.module:factory"),
        ("[accounts.d]\naor = 'sip:1@h'\npassword = 'x'\n",
         "line 3: account 'd': unknown key 'password'"),
        ("[accounts.d]\naor = 'sip:1@h'\noutbound_proxy = 'proxy'\n",
         "line 3: account 'd': outbound_proxy"),
        ("[accounts.e]\naor = 'sip:1@h'\nauth_password = 7\n",
         "line 3: account 'e': auth_password must be a string"),
        ("[accounts.\"my office\"]\n aor = 'sip:1@h'\n \"expires\" = 0\n",
         "line 3: account 'my office': expires must be at least"),
        ("[accounts]\nf = { aor = 'sip:1@h', expires = 0 }\n",
         ": account 'f': expires must be at least"),  # an inline table: no line to name
        ("[accounts.g]\naor = 'sip:1@h'\nmedia_networks = '10.0.0.0/8'\n",
         "line 3: account 'g': media_networks must be a list of strings"),
        ("[accounts.g]\naor = 'sip:1@h'\nmedia_networks = ['media.example.com']\n",
         "line 3: account 'g': media_networks: 'media.example.com' is not an IP address"),
        ("[accounts]\n", "no \\[accounts.NAME\\] table"),
        ("[account.a]\naor = 'sip:1@h'\n", "unknown table 'account'"),
        ("accounts = 3\n", "no \\[accounts.NAME\\] table"),
        ("[accounts.a]\naor = 'sip:1@h'\n[accounts.a\n", "line 3: not valid TOML"),
        (
            "[accounts.a]\naor = 'sip:1@h'\n[accounts.b]\naor = 'sip:1@H'\n",
            "accounts 'a' and 'b' register the same AOR",
        ),
    ],
)  # fmt: skip
def test_bad_files_name_the_file_line_account_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        accounts_from(tmp_path, text)
    assert str(info.value).startswith(str(tmp_path)) or "same AOR" in str(info.value)


def test_every_mistake_of_every_account_is_named_at_once(tmp_path: Path) -> None:
    text = (
        "[accounts.office]\n"
        "aor = 'sip:1001@pbx.example.com'\n"
        "numbers = ['+15550100']\n"
        "agent = 'assistent'\n"
        "transport = 'sctp'\n"
        "[accounts.trunk]\n"
        "expires = 'long'\n"
    )
    with pytest.raises(ConfigMistakes) as info:
        accounts_from(tmp_path, text)
    found = [message.partition(": ")[2] for message in info.value.messages]
    lines = [message.split(":")[0].rpartition(" ")[2] for message in info.value.messages]
    assert lines == ["3", "4", "5", "6", "7"]  # each on its key's line, in the file's order
    assert found[0].startswith(
        "account 'office': unknown key 'numbers' (known: 100rel, agent, aor,"
    )
    assert found[1].startswith("account 'office': agent 'assistent' must be")
    assert found[2] == "account 'office': transport 'sctp' must be one of udp, tcp, tls"
    assert found[3] == "account 'trunk': aor is missing"
    assert found[4] == "account 'trunk': expires must be a number"


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"^SIPGW_ACCOUNTS={missing}: no such file"):
        section(SIPGW_ACCOUNTS=str(missing))
    with pytest.raises(ConfigError, match=f"^{missing}: No such file"):
        parse_accounts_file(missing)


def test_one_account_from_flags_with_defaults() -> None:
    settings = section(SIPGW_REGISTER="sip:1001@pbx.example.com", SIPGW_AUTH_PASSWORD="pw")
    (account,) = load_accounts(settings)
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
    with pytest.raises(ConfigError, match="^SIPGW_REGISTRAR=sip:pbx.example.com is set but"):
        section(SIPGW_REGISTRAR="sip:pbx.example.com")


def test_credentials_without_an_aor_are_for_outbound_calls() -> None:
    # e.g. Twilio termination with a credential list: no registration, 407s answered.
    assert load_accounts(section(SIPGW_AUTH_USERNAME="u", SIPGW_AUTH_PASSWORD="pw")) == ()


def test_the_register_account_goes_through_the_outbound_proxy() -> None:
    proxy = "sip:edge.example.com;transport=tls"
    (account,) = load_accounts(section(SIPGW_REGISTER="sip:1001@pbx.example.com"), proxy)
    assert account.outbound_proxy == proxy and account.origin == "--register"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SIPGW_REGISTER": "pbx.example.com"},
         "SIPGW_REGISTER=pbx.example.com: must be a sip: or sips: URI"),
        ({"SIPGW_REGISTER": "sip:pbx.example.com"},
         "SIPGW_REGISTER=sip:pbx.example.com: needs a user part"),
        ({"SIPGW_REGISTRAR": "sip:"}, "SIPGW_REGISTRAR=sip:: must be a sip: or sips: URI"),
        ({"SIPGW_REGISTER_EXPIRES": "0"}, "SIPGW_REGISTER_EXPIRES=0: must be a whole number >= 1"),
        ({"SIPGW_KEEPALIVE_INTERVAL": "-1"}, "SIPGW_KEEPALIVE_INTERVAL=-1: must be a number >= 0"),
        ({"SIPGW_REGISTER_RETRY_BASE": "0"}, "SIPGW_REGISTER_RETRY_BASE=0: must be a number > 0"),
    ],
)  # fmt: skip
def test_bad_register_flags_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}"):
        section(**env)


def test_registration_settings_carry_accounts_and_keepalive(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(GOOD)
    settings = registration_settings(
        section(SIPGW_ACCOUNTS=str(path), SIPGW_KEEPALIVE_INTERVAL="10")
    )
    assert [a.name for a in settings.accounts] == ["office", "trunk"]
    assert settings.keepalive_interval == 10.0
    assert settings.retry_base == 30.0  # RFC 5626 §4.5's base-time for a flow that failed
    retry = registration_settings(section(SIPGW_REGISTER_RETRY_BASE="2")).retry_base
    assert retry == 2.0
    office = settings.accounts[0]
    assert office.registration(retry_base=retry).policy.retry_base == 2.0
    assert office.registration().policy.retry_base == 30.0
    assert registration_settings(section()).accounts == ()


def test_an_account_may_name_a_plug_in_agent(tmp_path: Path) -> None:
    (account,) = accounts_from(
        tmp_path, "[accounts.lab]\naor = 'sip:lab@10.0.0.1'\n\nagent = 'mypkg.agent:make'\n"
    )
    assert account.agent == "mypkg.agent:make"
    assert account.origin == f"{tmp_path / 'accounts.toml'} line 4: account 'lab'"


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
        GatewayConfig(),
        default,
        GatewayParts(registration=registration, account_agents={"trunk": trunk_agent}),
    )

    def call(to: str) -> CallInfo:
        return CallInfo(("c", "t"), NameAddr.parse("<sip:a@b>"), NameAddr.parse(to))

    assert gateway.routes.account_for(call("<sip:1001@pbx.example.com>")) is office
    assert gateway.routes.account_for(call("<sip:+15550100@sip.telnyx.example>;tag=x")) is trunk
    assert gateway.routes.account_for(call("<sip:1001@192.0.2.1:5070>")) is office  # user alone
    assert gateway.routes.account_for(call("<sip:999@pbx.example.com>")) is None
    # the gateway holds each factory with its record (read once: plugin_factory)
    trunks, defaults = plugin_factory(trunk_agent), plugin_factory(default)
    assert gateway.routes.agent_for(call("<sip:+15550100@sip.telnyx.example>")) == trunks
    assert gateway.routes.agent_for(call("<sip:1001@pbx.example.com>")) == defaults
    assert gateway.routes.agent_for(call("<sip:echo@192.0.2.1>")) == defaults


def test_an_account_has_its_own_caller_id_for_calls_placed_through_it(tmp_path: Path) -> None:
    (telnyx,) = accounts_from(tmp_path, (
        "[accounts.telnyx]\naor = 'sip:gw@sip.telnyx.com'\nauth_password = 'pw'\n"
        "caller_id = '+1 555 123 0000'\ncaller_id_header = 'PPI'\ncaller_id_privacy = 'id'\n"
    ))  # fmt: skip
    assert (telnyx.caller_id, telnyx.caller_id_header, telnyx.caller_id_privacy) == (
        "+1 555 123 0000", "ppi", "id",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("caller_id = 'who?'", "line 3: account 'a': caller_id 'who\\?' must be a SIP URI"),
        ("caller_id_header = 'rpid'",
         "line 3: account 'a': caller_id_header 'rpid' must be one of none, pai, ppi"),
        ("caller_id_privacy = 'all'",
         "line 3: account 'a': caller_id_privacy 'all' must be one of none, id"),
        ("100rel = 'yes'",
         "line 3: account 'a': 100rel 'yes' must be one of supported, required, off"),
    ],
)  # fmt: skip
def test_a_bad_caller_id_names_its_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        accounts_from(tmp_path, f"[accounts.a]\naor = 'sip:1@h'\n{line}\n")


def test_an_account_says_whether_its_calls_listen_for_key_tones(tmp_path: Path) -> None:
    office, trunk = accounts_from(tmp_path, GOOD + 'inband_dtmf = "on"\n')
    assert office.inband_dtmf is None and trunk.inband_dtmf == "on"
    with pytest.raises(ConfigError, match="inband_dtmf must be one of auto, on, off"):
        accounts_from(tmp_path, GOOD + 'inband_dtmf = "always"\n')


def test_an_accounts_tls_files_are_found_beside_the_file_and_checked(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    for name in ("office.crt", "office.key", "trunk-ca.crt"):
        (tmp_path / "tls" / name).write_text("PEM")
    (office,) = accounts_from(
        tmp_path,
        '[accounts.office]\naor = "sip:1001@sbc.example.com"\ntransport = "tls"\n'
        'tls_cert = "tls/office.crt"\ntls_key = "tls/office.key"\ntls_ca = "tls/trunk-ca.crt"\n'
        'tls_peer_names = ["SBC1.example.com", "sbc2.example.com"]\n',
    )
    assert office.tls is not None
    assert office.tls.cert == str(tmp_path / "tls" / "office.crt")
    assert office.tls.ca == str(tmp_path / "tls" / "trunk-ca.crt")
    assert office.tls.peer_names == ("sbc1.example.com", "sbc2.example.com")
    (plain,) = accounts_from(tmp_path, '[accounts.p]\naor = "sip:1@pbx.example.com"\n')
    assert plain.tls is None
    with pytest.raises(ConfigMistakes) as info:
        accounts_from(
            tmp_path,
            '[accounts.office]\naor = "sip:1001@sbc.example.com"\n'
            'tls_cert = "tls/missing.crt"\n'
            'tls_peer_names = ["sbc one"]\n'
            '[accounts.half]\naor = "sip:1002@sbc.example.com"\ntls_cert = "tls/office.crt"\n',
        )
    found = [message.partition(": ")[2] for message in info.value.messages]
    assert any(
        m.startswith("account 'office': tls_cert 'tls/missing.crt': no such file") for m in found
    )
    wrong_name = "'sbc one' is not a host name (e.g. sbc.example.com)"
    assert f"account 'office': tls_peer_names: {wrong_name}" in found
    assert "account 'half': tls_cert and tls_key go together: tls_key is missing" in found
