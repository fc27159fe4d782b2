"""Lines built (sipgw/app/lines/build.py): each line's agent with its own settings on top."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.assistant.agent import AssistantAgent
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.s2s.agent import SpeechToSpeechAgent
from sipgw.agent.turns.early_end import EarlyEndMode
from sipgw.app.agents import find_agent
from sipgw.app.lines.build import LineBase, LineTable, build_lines
from sipgw.app.lines.routesfile import LineSpec, parse_routes_file
from sipgw.app.sections import SECTIONS
from sipgw.foundation.settings import ConfigError, Sources
from tests.agent.parts import FakeCall

KEYS = {"ASSEMBLYAI_API_KEY": "a", "OPENAI_API_KEY": "o", "ELEVENLABS_API_KEY": "e"}


def base(env: dict[str, str] | None = None, agent: str = "echo", **options: object) -> LineBase:
    sources = Sources({"SIPGW_ECHO_DELAY_MS": "200", **(env or {})}, {"--echo-delay-ms": "300"})
    options.setdefault("catalogue", SECTIONS)  # as start-up gives it
    return LineBase(sources, agent, find_agent(agent).build(sources), **options)  # type: ignore[arg-type]


def build(tmp_path: Path, text: str, line_base: LineBase | None = None) -> LineTable:
    """The lines of ``text`` (its first line's name is also the one route's)."""
    first = text.split("[lines.", 1)[1].split("]")[0]
    path = tmp_path / "routes.toml"
    path.write_text(f'{text}\n[[routes]]\nline = "{first}"\n')
    return build_lines(parse_routes_file(path), line_base or base())


def test_a_line_that_changes_nothing_shares_the_gateways_agent(tmp_path: Path) -> None:
    gateway = base()
    table = build(tmp_path, "[lines.check]\n", gateway)
    line = table.lines["check"]
    assert line.factory is gateway.factory and line.agent == "echo"
    assert line.dial_policy is gateway.dial_policy


def test_a_lines_settings_win_over_flags_and_environment(tmp_path: Path) -> None:
    table = build(tmp_path, "[lines.slow]\n[lines.slow.settings]\nSIPGW_ECHO_DELAY_MS = 1000\n")
    agent = table.lines["slow"].factory(FakeCall())
    assert isinstance(agent, EchoAgent) and agent.delay_frames == 50  # not the flag's 300 ms


def test_errors_name_the_routes_files_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 3: SIPGW_ECHO_DELAY_MS=slow: must be"):
        build(tmp_path, '[lines.x]\n[lines.x.settings]\nSIPGW_ECHO_DELAY_MS = "slow"\n')
    with pytest.raises(ConfigError, match=r"line 3: SIPGW_SIP_PORT is not a setting of agent echo"):
        build(tmp_path, "[lines.x]\n[lines.x.settings]\nSIPGW_SIP_PORT = 5070\n")
    with pytest.raises(
        ConfigError, match=r"line 2: greeting is an assistant setting, and line 'x' runs"
    ):
        build(tmp_path, '[lines.x]\ngreeting = "hi"\n')
    with pytest.raises(ConfigError, match=r"line 2: line 'x': agent 'no-such' must be echo, "):
        build(tmp_path, '[lines.x]\nagent = "no-such"\n')
    with pytest.raises(
        ConfigError, match=r"line 'x': recording = true needs --record-dir/SIPGW_RECORD_DIR$"
    ):
        build(tmp_path, "[lines.x]\nrecording = true\n")
    with pytest.raises(ConfigError, match=r"line 1: line 'x': account 'trunk' is not an acc"):
        build(tmp_path, '[lines.x]\naccount = "trunk"\n')
    with pytest.raises(ConfigError, match=r"line 1: line 'x': caller_id 'sip:': not a SIP URI"):
        build(tmp_path, '[lines.x]\ncaller_id = "sip:"\n')
    path = tmp_path / "r.toml"
    path.write_text('[lines.x]\n[[routes]]\naccount = "trunk"\nline = "x"\n')
    with pytest.raises(ConfigError, match=r"r.toml line 2: account 'trunk' is not a configured"):
        build_lines(parse_routes_file(path), base(accounts=("office",)))


def test_each_check_the_gateway_gives_is_run_on_every_line(tmp_path: Path) -> None:
    seen: list[str] = []

    def check(line: LineSpec) -> None:
        seen.append(line.name)
        if line.name == "bad":
            raise ConfigError(f"{line.where}: not for this gateway")

    build(tmp_path, "[lines.good]\n", base(checks=(check,)))
    assert seen == ["good"]
    with pytest.raises(ConfigError, match=r"line 'bad': not for this gateway$"):
        build(tmp_path, "[lines.bad]\n", base(checks=(check,)))


async def test_an_assistant_line_has_its_greeting_voice_and_transfer_target(
    tmp_path: Path,
) -> None:
    (tmp_path / "sales.txt").write_text("You sell widgets.")
    text = (
        '[lines.sales]\nagent = "assistant"\ngreeting = "Sales, hello."\n'
        'prompt_file = "sales.txt"\nvoice = "sales-voice"\nkeyterms = ["Widget"]\n'
        'language = "ja"\ntransfer_target = "sip:sales@pbx.example.com"\n'
    )
    gateway = base({**KEYS, "SIPGW_CALL_RECORD_DIR": ""})
    table = build(tmp_path, text, gateway)
    line = table.lines["sales"]
    agent = line.factory(FakeCall())
    assert isinstance(agent, AssistantAgent)
    settings = agent.settings
    assert settings.greeting == "Sales, hello."
    assert settings.system_prompt.startswith("You sell widgets.")
    assert settings.builtin_tools.transfer_target == "sip:sales@pbx.example.com"
    assert agent.tts.settings.voice_id == "sales-voice"  # type: ignore[attr-defined]
    stt = agent.stt._settings  # type: ignore[attr-defined]
    assert stt.keyterms_prompt == ("Widget",) and stt.speech_model == "whisper-rt"
    assert line.dial_policy.allows("transfer", "sip:sales@pbx.example.com")
    assert not gateway.dial_policy.allows("transfer", "sip:sales@pbx.example.com")
    await agent.close()


async def test_a_line_chooses_its_own_early_end_of_turn(tmp_path: Path) -> None:
    """SIPGW_EARLY_TURN_END per line: the turn model on one line, the gateway's default on
    the other."""
    text = (
        '[lines.model]\nagent = "assistant"\n[lines.model.settings]\n'
        'SIPGW_EARLY_TURN_END = "model"\n[lines.plain]\nagent = "assistant"\n'
    )
    gateway = base({**KEYS, "SIPGW_CALL_RECORD_DIR": ""})
    table = build(tmp_path, text, gateway)
    modes = {}
    for name in ("model", "plain"):
        agent = table.lines[name].factory(FakeCall())
        assert isinstance(agent, AssistantAgent)
        modes[name] = agent.settings.early_end.mode
        await agent.close()
    assert modes == {"model": EarlyEndMode.MODEL, "plain": EarlyEndMode.WORDS}
    with pytest.raises(ConfigError, match=r"SIPGW_EARLY_TURN_END=smart: must be"):
        build(tmp_path, text.replace('"model"', '"smart"', 1), gateway)


def test_a_key_the_chosen_vendors_do_not_take_is_refused(tmp_path: Path) -> None:
    text = '[lines.x]\nagent = "assistant"\nvoice = "v"\n[lines.x.settings]\nSIPGW_TTS = "nope"\n'
    with pytest.raises(ConfigError, match=r"line 5: SIPGW_TTS=nope: must be 'elevenlabs'"):
        build(tmp_path, text, base(KEYS))


async def test_a_speech_to_speech_line_has_its_greeting_and_its_models_voice(
    tmp_path: Path,
) -> None:
    text = (
        '[lines.night]\nagent = "realtime"\ngreeting = "Night desk."\n'
        'transfer_target = "sip:night@pbx.example.com"\n'
        '[lines.night.settings]\nOPENAI_REALTIME_VOICE = "marin"\n'
    )
    gateway = base({**KEYS, "SIPGW_CALL_RECORD_DIR": "", "SIPGW_FALLBACK_SYNTHESIZE": "off"})
    line = build(tmp_path, text, gateway).lines["night"]
    agent = line.factory(FakeCall())
    assert isinstance(agent, SpeechToSpeechAgent) and agent.settings.greeting == "Night desk."
    assert agent.session.settings.voice == "marin"  # type: ignore[attr-defined]
    assert line.dial_policy.allows("transfer", "sip:night@pbx.example.com")
    await agent.close()
    with pytest.raises(ConfigError, match=r"line 3: voice is not something agent voice-agent"):
        build(tmp_path, '[lines.x]\nagent = "voice-agent"\nvoice = "dawn"\n', base(KEYS))


def test_twiml_and_stream_lines_name_their_own_app(tmp_path: Path) -> None:
    """docs/twilio-apps.md: one app per line, by its webhook (twiml_url) or its stream
    (stream_url); the account and token come from the gateway's settings."""
    from sipgw.agent.twiml.agent import TwimlAgent

    app = {"SIPGW_TWIML_ACCOUNT_SID": "AC" + "0" * 32, "SIPGW_TWIML_AUTH_TOKEN": "tok"}
    table = build(
        tmp_path,
        '[lines.sales]\nagent = "twiml"\ntwiml_url = "https://sales.example/twiml"\n'
        '[lines.support]\nagent = "stream"\nstream_url = "wss://support.example/media"\n',
        base(app),
    )  # fmt: skip
    sales = table.lines["sales"].factory(FakeCall())
    support = table.lines["support"].factory(FakeCall())
    assert isinstance(sales, TwimlAgent) and sales.settings.url == "https://sales.example/twiml"
    assert isinstance(support, TwimlAgent)
    assert support.settings.stream_url == "wss://support.example/media"
    with pytest.raises(ConfigError, match="line 3: SIPGW_TWIML_URL=ftp://x/y: must be an http"):
        build(tmp_path, '[lines.x]\nagent = "twiml"\ntwiml_url = "ftp://x/y"\n', base(app))


DECLARED = """
[lines.billing]
agent = "assistant"

[[lines.billing.http_tools]]
name = "invoice_status"
description = "An invoice's status."
url = "https://billing.example.com/invoices/{number}"
headers = { Authorization = "Bearer ${BILLING_TOKEN}" }
[lines.billing.http_tools.parameters]
type = "object"
required = ["number"]
properties = { number = { type = "string" } }

[lines.billing.mcp_servers.time]
command = ["bin/time-server"]
tools = ["get_current_time"]
"""


def test_a_line_declares_http_tools_and_mcp_servers_in_the_routes_file(tmp_path: Path) -> None:
    gateway = base({**KEYS, "SIPGW_CALL_RECORD_DIR": "", "BILLING_TOKEN": "t0k"})
    table = build(tmp_path, DECLARED, gateway)
    registry = table.lines["billing"].factory.make.resources.tools  # type: ignore[attr-defined]
    tool = registry.get("invoice_status")
    assert tool is not None and tool.source == "http"
    (server,) = registry.providers
    assert server.prefix == "time__"
    assert server.spec.command == (str(tmp_path / "bin/time-server"),)  # beside the file
    own = find_agent("assistant").build(gateway.sources).make
    assert "invoice_status" not in own.resources.tools  # type: ignore[attr-defined]


def test_what_a_lines_declared_tools_may_not_be(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"uses \$\{BILLING_TOKEN\}, which is not set"):
        build(tmp_path, DECLARED, base({**KEYS, "SIPGW_CALL_RECORD_DIR": ""}))
    with pytest.raises(
        ConfigError,
        match=r"line 5: line 'billing': http_tools\[1\] \(invoice_status\).headers.Authorization "
        r"carries credentials",
    ):
        build(tmp_path, DECLARED.replace("${BILLING_TOKEN}", "abc"))
    with pytest.raises(
        ConfigError,
        match=r"http_tools and mcp_servers are for the AI agents \(assistant, voice-agent, "
        r"realtime\), and line 'billing' runs agent echo, which takes no declared tools",
    ):
        build(tmp_path, DECLARED.replace('agent = "assistant"', ""))
    clash = DECLARED.replace('name = "invoice_status"', 'name = "end_call"')
    with pytest.raises(ConfigError, match=r"a tool named 'end_call' is registered already"):
        build(tmp_path, clash, base({**KEYS, "SIPGW_CALL_RECORD_DIR": "", "BILLING_TOKEN": "t"}))


@pytest.mark.parametrize("agent", ["voice-agent", "realtime"])
async def test_a_speech_to_speech_line_declares_its_own_tools_and_idle_policy(
    tmp_path: Path, agent: str
) -> None:
    text = DECLARED.replace('agent = "assistant"', f'agent = "{agent}"').replace(
        "[[lines.billing.http_tools]]",
        "[lines.billing.settings]\nSIPGW_IDLE_AFTER = 7\nSIPGW_IDLE_CHECKS = 1\n\n"
        "[[lines.billing.http_tools]]",
    )
    gateway = base({**KEYS, "SIPGW_CALL_RECORD_DIR": "", "BILLING_TOKEN": "t0k",
                    "SIPGW_FALLBACK_SYNTHESIZE": "off"})  # fmt: skip
    line = build(tmp_path, text, gateway).lines["billing"]
    resources = line.factory.make.resources  # type: ignore[attr-defined]
    tool = resources.tools.get("invoice_status")
    assert tool is not None and tool.source == "http"
    (server,) = resources.tools.providers
    assert server.prefix == "time__"
    assert (resources.settings.idle.after, resources.settings.idle.checks) == (7.0, 1)
    call = line.factory(FakeCall())
    assert isinstance(call, SpeechToSpeechAgent) and call.idle.settings.after == 7.0
    await call.close()
    own = find_agent(agent).build(gateway.sources).make
    assert "invoice_status" not in own.resources.tools  # type: ignore[attr-defined]
    assert own.resources.settings.idle.after == 15.0  # type: ignore[attr-defined]
