"""``sipgw call`` (sipgw.app.callcmd): through a running gateway's admin API, else from here on
ephemeral ports; the call's options; how it ends, in one line and an exit status."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings, CallCommandSection
from sipgw.app.callcmd import admin_url, call_request_of, run
from sipgw.app.cli import parse
from sipgw.app.evaluation.ports import free_port, free_port_range
from sipgw.app.startup import build_startup
from sipgw.app.upstream.callrequest import CallRequest
from sipgw.foundation.settings import ConfigError, Sources, load
from tests.sipgw.app.refusing_peer import refusing_peer
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.tls import make_ca, make_server_cert

TOKEN = "call-cmd-admin-token"


pytestmark = pytest.mark.usefixtures("environ")
"""A clean working directory and no SIPGW_ variables (a .env would be loaded)."""


async def sipgw_call(*argv: str) -> int:
    """``sipgw call ARGV`` in this process (on loopback, echo agent, free RTP ports)."""
    low, high = free_port_range(8)
    invocation = parse(
        ["call", *argv, "--bind", "127.0.0.1", "--public-ip", "127.0.0.1",
         "--rtp-ports", f"{low}-{high}", "--overload-lateness-ms", "0",
         "--overload-cpu-percent", "0"]
    )  # fmt: skip
    assert invocation.plugin is not None
    startup = build_startup(invocation.plugin, invocation.sources)
    return await run(startup, invocation.args, invocation.sources)


def test_where_the_running_gateway_is() -> None:
    none = CallCommandSection()
    assert admin_url(none, AdminSettings()) == ""
    assert admin_url(none, AdminSettings(port=8080)) == "http://127.0.0.1:8080"
    assert admin_url(none, AdminSettings(port=8080, bind="0.0.0.0")) == "http://127.0.0.1:8080"
    assert admin_url(none, AdminSettings(port=8080, bind="::1")) == "http://[::1]:8080"
    env = load(CallCommandSection, Sources({"SIPGW_ADMIN_URL": "http://gw:9/"}))
    assert admin_url(env, AdminSettings(port=1)) == "http://gw:9"
    flag = load(
        CallCommandSection,
        Sources({"SIPGW_ADMIN_URL": "http://gw:9"}, {"--admin-url": "http://other:7"}),
    )
    assert admin_url(flag, AdminSettings()) == "http://other:7"


def test_the_admin_url_is_a_setting_of_sipgw_call_only() -> None:
    """Declared as a section: in the docs, a flag of ``call`` only."""
    from sipgw.app.cli import build_parser

    env = parse(["call", "1", "--admin-url", "http://gw:9"])
    assert env.sources.flags["--admin-url"] == "http://gw:9"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--admin-url", "http://gw:9"])
    root = Path(__file__).resolve().parents[3]
    assert "`--admin-url URL` | `SIPGW_ADMIN_URL`" in (root / "docs/configuration.md").read_text()


def test_the_command_line_describes_the_call() -> None:
    invocation = parse([
        "call", "+15557654321", "--caller-id", "+15551230000", "--var", "first_name=Ada",
        "--var", "appointment=Tuesday 3 pm", "--header", "X-Campaign=spring",
        "--account", "telnyx", "--agent", "echo", "--ring-timeout", "20", "--line", "sales",
    ])  # fmt: skip
    assert call_request_of(invocation.args, invocation.sources) == CallRequest(
        "+15557654321", "+15551230000", {"first_name": "Ada", "appointment": "Tuesday 3 pm"},
        (("X-Campaign", "spring"),), "echo", "telnyx", 20.0, "sales",
    )  # fmt: skip
    os.environ["SIPGW_CALLER_ID"] = "+15559999999"  # the running gateway's own setting
    os.environ["SIPGW_RING_TIMEOUT"] = "9"
    os.environ["SIPGW_AGENT"] = "echo"
    plain = parse(["call", "+15557654321"])
    assert call_request_of(plain.args, plain.sources) == CallRequest("+15557654321")
    default = parse(["call", "1", "--ring-timeout", "60", "--agent", "ECHO"])  # as defaults
    request = call_request_of(default.args, default.sources)
    assert (request.ring_timeout, request.agent) == (60.0, "echo")  # given: sent, parsed
    bad = parse(["call", "1", "--header", "Via=x"])
    with pytest.raises(ConfigError, match="must start with X-"):
        call_request_of(bad.args, bad.sources)


def test_answering_machine_detection_on_the_command_line() -> None:
    from sipgw.agent.amd.settings import AmdMode, AmdRequest
    from sipgw.app.callcmd import _body

    given = parse(["call", "1", "--amd", "leave_message", "--amd-message", "Call us back."])
    request = call_request_of(given.args, given.sources)
    assert request.amd == AmdRequest(AmdMode.LEAVE_MESSAGE, "Call us back.")
    assert _body(request) == {"target": "1", "amd": "leave_message",
                              "amd_message": "Call us back."}  # fmt: skip
    bad = parse(["call", "1", "--amd", "sometimes"])
    with pytest.raises(ConfigError, match="^--amd: must be one of off, detect"):
        call_request_of(bad.args, bad.sources)


def test_a_goal_behind_a_phone_menu_on_the_command_line() -> None:
    from sipgw.app.callcmd import _body

    given = parse(["call", "1", "--ivr-goal", "reach  billing"])
    request = call_request_of(given.args, given.sources)
    assert request.ivr_goal == "reach billing"
    assert _body(request) == {"target": "1", "ivr_goal": "reach billing"}
    plain = parse(["call", "1"])
    assert call_request_of(plain.args, plain.sources).ivr_goal is None
    bad = parse(["call", "1", "--ivr-goal", "x" * 501])
    with pytest.raises(ConfigError, match="^--ivr-goal: must be text of at most 500"):
        call_request_of(bad.args, bad.sources)


async def test_through_the_running_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    async with (
        running_gateway(max_call_seconds=1.0) as (callee, _),
        running_gateway() as (gateway, _),
    ):
        server = AdminServer(gateway, AdminSettings(port=free_port(), token=TOKEN))
        await server.start()
        os.environ["SIPGW_ADMIN_TOKEN"] = TOKEN
        try:
            target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
            code = await sipgw_call(target, "--admin-url", server.url, "--var", "first_name=Ada")
            recent = gateway.feed.recent[-1]
        finally:
            await server.stop()
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert f"calling {target} through the gateway at {server.url}" in err
    assert out.startswith(f"{target}: answered, ") and "ended by remote-bye" in out
    assert recent.direction == "outbound"  # the running gateway placed it


async def test_a_refusal_through_the_running_gateway_shows_the_carriers_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with (
        refusing_peer(403, "Caller Origination Number is Invalid D35") as carrier,
        running_gateway() as (gateway, _),
    ):
        server = AdminServer(gateway, AdminSettings(port=free_port()))
        await server.start()
        try:
            code = await sipgw_call(
                f"sip:+15557654321@127.0.0.1:{carrier.port}", "--admin-url", server.url
            )
        finally:
            await server.stop()
    out, _ = capsys.readouterr()
    assert code == 7
    assert "failed (SIP 403 Caller Origination Number is Invalid D35) - refused: most often " in out


async def test_a_wrong_admin_token_says_so_and_calls_from_here(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with (
        running_gateway(max_call_seconds=1.0) as (callee, _),
        running_gateway() as (gateway, _),
    ):
        server = AdminServer(gateway, AdminSettings(port=free_port(), token=TOKEN))
        await server.start()
        os.environ["SIPGW_ADMIN_TOKEN"] = "a-wrong-admin-token"
        try:
            target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
            code = await sipgw_call(target, "--admin-url", server.url)
        finally:
            await server.stop()
        assert not gateway.feed.recent  # the running gateway placed nothing
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "refused our admin token (SIPGW_ADMIN_TOKEN); placing the call from here" in err


async def test_from_here_on_ephemeral_ports_beside_a_gateway_holding_the_configured_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 22: 'sipgw call ... same options ...' beside a running serve failed with
    'cannot listen on udp:0.0.0.0:0, tcp:0.0.0.0:0, tls:0.0.0.0:25061: Address already in
    use'. Here the running gateway holds the SIP port and the TLS port the settings name
    (UDP, TCP and TLS all listening), and no admin server answers: the call goes out from
    here, on ports of its own."""
    pki = tmp_path / "pki"
    cert = make_server_cert(make_ca(pki), pki, "gateway")
    async with (
        running_gateway(max_call_seconds=1.0) as (callee, _),
        running_gateway(
            transports=("UDP", "TCP", "TLS"),
            tls_port=free_port(),
            tls_cert=str(cert.cert),
            tls_key=str(cert.key),
        ) as (serve, _),
    ):
        held, held_tls = serve.ua.config.sip_port, serve.config.tls_port
        with pytest.raises(OSError):  # the serve really holds its TLS port
            socket.create_server(("0.0.0.0", held_tls)).close()
        (tmp_path / ".env").write_text(
            f"SIPGW_SIP_PORT={held}\nSIPGW_ADMIN_PORT={free_port()}\n"
            f"SIPGW_TRANSPORTS=udp,tcp,tls\nSIPGW_TLS_PORT={held_tls}\n"
            f"SIPGW_TLS_CERT={cert.cert}\nSIPGW_TLS_KEY={cert.key}\n"
        )
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        code = await sipgw_call(target)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "no gateway answers at http://127.0.0.1:" in err and "placing the call from here" in err
    assert "Address already in use" not in err
    assert out.startswith(f"{target}: answered, ")


async def test_a_bad_option_is_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert await sipgw_call("sip:x@127.0.0.1:9", "--var", "first name=Ada") == 2
    assert "sipgw: error: variable name 'first name'" in capsys.readouterr().err


async def test_a_call_through_an_account_is_from_its_caller_id(tmp_path: Path) -> None:
    """``--account NAME``: the call goes out as that account of the accounts file, its
    ``caller_id`` (E.164) the From user at the account's host; without it, the gateway's
    own caller id (here none: the From is ``sip:sipgw@...``)."""
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        "[accounts.trunk]\naor = 'sip:gw-login@127.0.0.1'\nauth_password = 'pw'\n"
        "caller_id = '+1 555 123 0000'\n"
    )
    async with refusing_peer(486, "Busy Here") as peer:
        target = f"sip:+15557654321@127.0.0.1:{peer.port}"
        through = await sipgw_call(target, "--accounts", str(accounts), "--account", "trunk")
        plain = await sipgw_call(target, "--accounts", str(accounts))
    assert through == plain == 3  # busy
    account_invite, own_invite = peer.invites
    assert str(account_invite.from_.uri) == "sip:+15551230000@127.0.0.1"
    assert own_invite.from_.uri.user == "sipgw"


def test_a_calls_own_twiml_on_the_command_line(tmp_path: Path) -> None:
    """``--twiml-url`` or ``--twiml FILE`` (docs/twilio-apps.md), sent as the API's fields."""
    from sipgw.app.callcmd import _body
    from sipgw.app.upstream.callrequest import TwimlSource

    doc = tmp_path / "hello.xml"
    doc.write_text("<Response><Pause length='1'/><Hangup/></Response>")
    given = parse(["call", "1", "--twiml", str(doc)])
    request = call_request_of(given.args, given.sources)
    assert request.twiml == TwimlSource(document=doc.read_text())
    assert _body(request) == {"target": "1", "twiml": doc.read_text()}
    url = parse(["call", "1", "--twiml-url", "https://b.example/out"])
    assert _body(call_request_of(url.args, url.sources))["twiml_url"] == "https://b.example/out"
    doc.write_text("<Response><Say>x</Response>")
    with pytest.raises(ConfigError, match="^--twiml: not well-formed"):
        call_request_of(given.args, given.sources)
    missing = parse(["call", "1", "--twiml", str(tmp_path / "none.xml")])
    with pytest.raises(ConfigError, match="^--twiml .*none.xml: No such file"):
        call_request_of(missing.args, missing.sources)


async def test_a_menu_that_hangs_up_before_the_goal_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 67: the far end hung up while the assistant was still in its phone menu; the
    record's ``ivr_result`` said ``hung_up`` but ``sipgw call`` printed ``answered, 1.0 s,
    ended by remote-bye`` without the menu's result (written as the agent closed, after the
    call ended). A call with a goal says how the menu went, here ``hung_up``."""
    from sipgw.app.evaluation.fakes.services import ServiceOptions, start_services

    services = await start_services(ServiceOptions(llm_first_token_ms=0, tts_first_byte_ms=0))
    os.environ.update(services.gateway_env())
    os.environ["SIPGW_CALL_RECORD_DIR"] = str(tmp_path / "calls")
    try:
        async with running_gateway(max_call_seconds=1.0) as (callee, _):
            target = f"sip:menu@127.0.0.1:{callee.ua.config.sip_port}"
            code = await sipgw_call(target, "--agent", "assistant", "--ivr-goal", "reach billing")
    finally:
        await services.aclose()
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert out.startswith(f"{target}: answered, phone menu hung_up (the call ended before the "
                          "goal), "), out  # fmt: skip
    assert out.rstrip().endswith("ended by remote-bye")
