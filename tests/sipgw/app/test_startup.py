"""Start-up: every section loaded from the sources, the agents built, secrets gathered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sipgw.app.agents import find_agent
from sipgw.app.sections import CALL_ONLY, SECTIONS
from sipgw.app.settings import HealthcheckSection
from sipgw.app.startup import Startup, build_startup
from sipgw.foundation.settings import ConfigError, Sources, settings_of
from tests.toolkit.canaries import (
    API_KEY_VARIABLES,
    ELEVENLABS_KEY,
    INBOUND_PASSWORD,
    OPENAI_KEY,
    SIP_PASSWORD,
    SIP_PASSWORD_2,
)

KEYS = API_KEY_VARIABLES
ECHO = find_agent("echo")


class Recording(dict[str, str]):
    """An environment that remembers which variables were looked up."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: set[str] = set()

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def startup(environ: dict[str, str], flags: dict[str, str] | None = None) -> Startup:
    return build_startup(ECHO, Sources(environ, flags or {}))


def test_every_section_is_read_at_start_but_the_health_checks(tmp_path: Path) -> None:
    twiml = {"SIPGW_TWIML_URL": "https://b.example/v", "SIPGW_STREAM_URL": "wss://b.example/m",
             "SIPGW_TWIML_ACCOUNT_SID": "AC" + "0" * 32, "SIPGW_TWIML_AUTH_TOKEN": "t"}  # fmt: skip
    environ = Recording({**KEYS, **twiml, "SIPGW_PUBLIC_IP": "192.0.2.7"})
    built = build_startup(find_agent("assistant"), Sources(environ))
    assert built.agent == "assistant" and built.callbacks is not None
    for name in ("voice-agent", "realtime"):  # the speech-to-speech agents dial callbacks too
        assert build_startup(find_agent(name), Sources(environ)).callbacks is not None
    build_startup(ECHO, Sources(environ))
    for name in ("twiml", "stream"):  # an app built for Twilio (docs/twilio-apps.md)
        build_startup(find_agent(name), Sources(environ))
    build_startup(find_agent("srs"), Sources(environ))  # a SIPREC recording server
    every = {spec.env for info in SECTIONS for _, spec in info.settings}
    unread = every - environ.asked
    health = {spec.env for _, spec in settings_of(HealthcheckSection)}
    call_only = {spec.env for info in CALL_ONLY for _, spec in info.settings}  # sipgw call's
    assert call_only == {"SIPGW_ADMIN_URL"}
    assert unread == {*health, *call_only, "SIPGW_AGENT"}  # the agent: chosen by the CLI first


def test_only_agents_that_spend_nothing_leave_an_unconfigured_gateway_open() -> None:
    """Issue 21: closed by default for the assistant (and any plug-in); the echo agent, which
    spends nothing, answers this host and private networks with nothing configured (the
    Quickstart; tests/sipgw/app/security/test_access.py has which networks)."""
    echo = startup({"SIPGW_BIND": "127.0.0.1"})
    assert echo.access.free_agents and not echo.access.closed_by_default
    assistant = build_startup(find_agent("assistant"), Sources({**KEYS, "SIPGW_BIND": "127.0.0.1"}))
    assert not assistant.access.free_agents and assistant.access.closed_by_default
    assert assistant.config.max_calls == 100


def test_the_defaults() -> None:
    built = startup({"SIPGW_BIND": "127.0.0.1"})
    assert built.agent == "echo" and built.config.public_ip == "127.0.0.1"
    assert built.callbacks is None and built.workers == 1 and not built.admin.enabled
    assert built.registration.accounts == () and built.account_agents == {}
    assert built.access.upstreams == () and built.outbound.proxy == ""
    wildcard = startup({})
    assert wildcard.config.public_ip not in ("", "0.0.0.0")  # the default route's address


def test_accounts_upstreams_outbound_and_their_agents(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[accounts.trunk]\naor = "sip:+15550100@trunk.example.com"\n'
        f'auth_password = "{SIP_PASSWORD_2}"\nagent = "tests.sipgw.app.tone_agent:no_settings"\n'
    )
    built = startup(
        {"SIPGW_REGISTER": "sip:1001@pbx.example.com", "SIPGW_AUTH_PASSWORD": SIP_PASSWORD,
         "SIPGW_ACCOUNTS": str(accounts), "SIPGW_INBOUND_USERNAME": "alice",
         "SIPGW_INBOUND_PASSWORD": INBOUND_PASSWORD},
        {"--outbound-proxy": "sip:proxy.example.net", "--bind": "127.0.0.1"},
    )  # fmt: skip
    assert [a.name for a in built.registration.accounts] == ["register", "trunk"]
    assert built.access.upstreams == ("pbx.example.com", "proxy.example.net", "trunk.example.com")
    assert built.outbound.aor == "sip:1001@pbx.example.com" and built.outbound.password
    # no --auth-username: the AOR's user answers challenges to our INVITEs, as registering does
    assert built.outbound.credentials is not None
    assert built.outbound.credentials.username == "1001"
    trunk = built.outbound.for_account("trunk")  # it places calls with its own credentials
    assert trunk.aor == "sip:+15550100@trunk.example.com" and trunk.proxy == "sip:proxy.example.net"
    assert trunk.credentials is not None and trunk.credentials.username == "+15550100"
    assert set(built.account_agents) == {"trunk"}
    assert set(built.agent_factories) == {"echo", "tests.sipgw.app.tone_agent:no_settings"}
    masked = built.redactor.redact(f"{SIP_PASSWORD} {SIP_PASSWORD_2} {INBOUND_PASSWORD} x")
    assert SIP_PASSWORD not in masked and SIP_PASSWORD_2 not in masked
    assert INBOUND_PASSWORD not in masked and masked.endswith(" x")


def test_an_accounts_agent_that_does_not_load_names_its_line(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text('[accounts.lab]\naor = "sip:lab@10.0.0.1"\nagent = "nowhere.mod:make"\n')
    with pytest.raises(ConfigError) as error:
        startup({"SIPGW_ACCOUNTS": str(accounts), "SIPGW_BIND": "127.0.0.1"})
    assert str(error.value).startswith(
        f"{accounts} line 3: account 'lab': agent nowhere.mod:make: agent module 'nowhere.mod' "
        "not found"
    )


def test_secrets_of_every_section_are_masked_in_logs_whatever_the_agent() -> None:
    built = startup({**KEYS, "SIPGW_BIND": "127.0.0.1"})  # echo answers; the keys are set anyway
    masked = built.redactor.redact(f"{OPENAI_KEY} and {ELEVENLABS_KEY}")
    assert OPENAI_KEY not in masked and ELEVENLABS_KEY not in masked


def test_the_first_bad_value_stops_the_start() -> None:
    with pytest.raises(ConfigError, match="^--workers 0: must be a whole number >= 1"):
        startup({"SIPGW_BIND": "127.0.0.1"}, {"--workers": "0"})
    with pytest.raises(ConfigError, match="^SIPGW_DIAL_ALLOW="):
        startup({"SIPGW_BIND": "127.0.0.1", "SIPGW_DIAL_ALLOW": "mailto:x"})


def test_a_lines_webhook_secret_is_masked_in_the_logs(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    secret = "a line's webhook secret, long enough"
    routes.write_text(
        f'[lines.a]\nwebhook_url = "https://crm.example/a"\nwebhook_secret = "{secret}"\n'
        '[[routes]]\nline = "a"\n'
    )
    startup = build_startup(find_agent("echo"), Sources({"SIPGW_ROUTES": str(routes)}))
    assert startup.lines is not None and list(startup.lines.table.lines) == ["a"]
    assert startup.redactor.redact(f"posting with {secret}") == "posting with ***"


def test_a_lines_status_callback_needs_the_twilio_api_and_the_admin_server(
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(
        '[lines.a]\nstatus_callback = "https://app.example/status"\n[[routes]]\nline = "a"\n'
    )
    with pytest.raises(ConfigError, match="status_callback needs .*SIPGW_TWILIO_API=on"):
        build_startup(find_agent("echo"), Sources({"SIPGW_ROUTES": str(routes)}))
    account = {
        "SIPGW_TWILIO_API": "on", "SIPGW_TWIML_ACCOUNT_SID": "AC" + "1" * 32,
        "SIPGW_TWIML_AUTH_TOKEN": "f" * 32, "SIPGW_ROUTES": str(routes),
    }  # fmt: skip
    with pytest.raises(ConfigError, match="SIPGW_ADMIN_PORT"):
        build_startup(find_agent("echo"), Sources(account))
    startup = build_startup(find_agent("echo"), Sources({**account, "SIPGW_ADMIN_PORT": "8081"}))
    assert startup.lines is not None
    assert startup.lines.table.lines["a"].spec.status_callback == "https://app.example/status"


def test_a_lines_tls_peer_names_need_peers_asked_for_certificates(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text('[lines.a]\ntls_peer_names = ["sbc.example.com"]\n[[routes]]\nline = "a"\n')
    with pytest.raises(
        ConfigError, match="line 'a': tls_peer_names needs --tls-peer-ca/SIPGW_TLS_PEER_CA"
    ):
        build_startup(find_agent("echo"), Sources({"SIPGW_ROUTES": str(routes)}))
    for name in ("cert", "key", "ca"):
        (tmp_path / name).write_text("PEM")
    tls = {
        "SIPGW_ROUTES": str(routes), "SIPGW_TRANSPORTS": "udp,tls",
        "SIPGW_TLS_CERT": str(tmp_path / "cert"), "SIPGW_TLS_KEY": str(tmp_path / "key"),
        "SIPGW_TLS_PEER_CA": str(tmp_path / "ca"),
    }  # fmt: skip
    startup = build_startup(find_agent("echo"), Sources(tls))
    assert startup.lines is not None
    assert startup.lines.table.lines["a"].spec.tls_peer_names == ("sbc.example.com",)


def test_a_routes_file_keeps_an_unconfigured_gateway_closed(tmp_path: Path) -> None:
    """Its lines may name any agent (and it can be reloaded): never the echo agent's lab."""
    routes = tmp_path / "routes.toml"
    routes.write_text('[lines.a]\nagent = "echo"\n[[routes]]\nline = "a"\n')
    startup = build_startup(find_agent("echo"), Sources({"SIPGW_ROUTES": str(routes)}))
    assert startup.access.closed_by_default and not startup.access.free_agents


def test_detection_an_agent_does_not_run_stops_the_start(tmp_path: Path) -> None:
    """An agent that runs no answering-machine detection (``stream``: the app hears the
    callee itself): asked for by ``SIPGW_AMD`` (every placed call's default) or by a line,
    it is refused by name rather than ignored (its placed calls would greet every
    voicemail). The speech-to-speech agents run it (agent/s2s/answering.py)."""
    environ = {**KEYS, "SIPGW_BIND": "127.0.0.1", "SIPGW_FALLBACK_SYNTHESIZE": "off",
               "SIPGW_TWIML_ACCOUNT_SID": "AC" + "0" * 32, "SIPGW_TWIML_AUTH_TOKEN": "tok",
               "SIPGW_STREAM_URL": "wss://app.example/media"}  # fmt: skip
    with pytest.raises(ConfigError, match="^SIPGW_AMD=leave_message: the stream agent does"):
        build_startup(find_agent("stream"), Sources({**environ, "SIPGW_AMD": "leave_message"}))
    build_startup(find_agent("stream"), Sources({**environ, "SIPGW_AMD": "off"}))
    build_startup(find_agent("realtime"), Sources({**environ, "SIPGW_AMD": "leave_message"}))
    assistant = build_startup(find_agent("assistant"), Sources({**environ, "SIPGW_AMD": "detect"}))
    assert assistant.outbound.amd.value == "detect"
    routes = tmp_path / "routes.toml"
    with_routes = {**environ, "SIPGW_ROUTES": str(routes), "SIPGW_AMD": "detect"}
    route = '[[routes]]\nline = "app"\n'
    routes.write_text('[lines.app]\nagent = "stream"\namd = "hang_up"\n' + route)
    with pytest.raises(ConfigError, match='line .app.: amd = "hang_up": its agent stream does'):
        build_startup(find_agent("assistant"), Sources(with_routes))
    routes.write_text('[lines.app]\nagent = "stream"\n' + route)  # SIPGW_AMD applies
    with pytest.raises(ConfigError, match="line 'app': SIPGW_AMD=detect: its agent stream"):
        build_startup(find_agent("assistant"), Sources(with_routes))
    routes.write_text('[lines.app]\nagent = "stream"\namd = "off"\n' + route)
    built = build_startup(find_agent("assistant"), Sources(with_routes))
    assert built.lines is not None and list(built.lines.table.lines) == ["app"]
    routes.write_text('[lines.s2s]\nagent = "realtime"\namd = "hang_up"\n'
                      '[[routes]]\nline = "s2s"\n')  # fmt: skip
    build_startup(find_agent("assistant"), Sources(with_routes))


def test_the_rest_subset_takes_the_twiml_pair_and_warns_of_the_old_one() -> None:
    sid, token = "AC" + "a" * 32, "t" * 32
    one = {"SIPGW_BIND": "127.0.0.1", "SIPGW_TWIML_ACCOUNT_SID": sid,
           "SIPGW_TWIML_AUTH_TOKEN": token}  # fmt: skip
    built = startup({**one, "SIPGW_TWILIO_API": "on"})
    assert built.twilio_api.enabled and built.twilio_api.twilio_api_auth_token == token
    assert built.warnings == ()
    old = startup({**one, "SIPGW_TWILIO_API_ACCOUNT_SID": sid,
                   "SIPGW_TWILIO_API_AUTH_TOKEN": token})  # fmt: skip
    assert old.twilio_api.enabled and "deprecated" in old.warnings[0]
    with pytest.raises(ConfigError, match="differ from SIPGW_TWIML_ACCOUNT_SID"):
        startup({**one, "SIPGW_TWILIO_API_ACCOUNT_SID": "AC" + "b" * 32,
                 "SIPGW_TWILIO_API_AUTH_TOKEN": token})  # fmt: skip


def test_the_settings_files_lines_are_built_and_reloaded(tmp_path: Path) -> None:
    config = tmp_path / "sipgw.toml"
    config.write_text(
        '[network]\nbind = "127.0.0.1"\n\n[lines.a]\nagent = "echo"\n[[routes]]\nline = "a"\n'
    )
    sources = Sources({}, {}, {}, {}, str(config), frozenset({"network", "lines", "routes"}))
    startup = build_startup(find_agent("echo"), sources)
    assert startup.lines is not None and list(startup.lines.table.lines) == ["a"]
    assert startup.lines.path == config and startup.warnings == ()
    assert startup.access.closed_by_default  # lines may name any agent: never the lab
    config.write_text(
        '[network]\nbind = "127.0.0.1"\n\n[lines.b]\nagent = "echo"\n[[routes]]\nline = "b"\n'
    )
    startup.lines.reload()
    assert list(startup.lines.table.lines) == ["b"]


def test_a_routes_file_or_tools_file_of_its_own_is_read_with_a_warning(tmp_path: Path) -> None:
    routes, tools = tmp_path / "routes.toml", tmp_path / "tools.toml"
    routes.write_text('[lines.a]\nagent = "echo"\n[[routes]]\nline = "a"\n')
    tools.write_text("")
    environ = {
        "SIPGW_BIND": "127.0.0.1",
        "SIPGW_ROUTES": str(routes),
        "SIPGW_TOOLS_FILE": str(tools),
    }
    startup = build_startup(find_agent("echo"), Sources(environ))
    assert startup.lines is not None and list(startup.lines.table.lines) == ["a"]
    assert startup.warnings == (
        f"SIPGW_ROUTES {routes}: a routes file of its own is deprecated (still read): its tables "
        "go in the settings file (sipgw.toml, docs/configuration.md)",
        f"SIPGW_TOOLS_FILE {tools}: a tools file of its own is deprecated (still read): its "
        "tables go in the settings file (sipgw.toml, docs/configuration.md)",
        f"sipgw config convert --routes {routes} --tools {tools} writes them as settings-file "
        "tables",
    )
