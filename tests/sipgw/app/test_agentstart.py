"""What the gateway checks of an agent at start: only its record, the settings named as given.

Settings that ask an agent for what its :class:`~sipgw.agent.capabilities.AgentCapabilities` does
not declare stop the start instead of being ignored call after call: detection on placed
calls, warm transfers, a transfer target for an agent that never transfers; and the
services the gateway hands a plug-in carry its dial allow-list and its redactor.
"""

from __future__ import annotations

import pytest

from sipgw.agent.amd.settings import AmdMode
from sipgw.agent.capabilities import UNDECLARED, AgentCapabilities
from sipgw.app.agents import find_agent
from sipgw.app.agentstart import agents_may_dial, check_capabilities, gateway_services
from sipgw.app.callqueues import CALL_QUEUES
from sipgw.app.sections import SECTIONS
from sipgw.app.startup import build_startup
from sipgw.foundation.settings import ConfigError, Sources
from tests.agent.parts import FakeCall

BLIND = AgentCapabilities(transfers=frozenset({"blind"}))


def check(capabilities: AgentCapabilities, main: bool = True, **env: str) -> None:
    check_capabilities(capabilities, Sources(env), "the x agent", AmdMode.OFF, main=main)


def test_warm_transfers_need_an_agent_that_declares_them() -> None:
    check(BLIND, SIPGW_TRANSFER_MODE="blind")
    with pytest.raises(ConfigError, match="^SIPGW_TRANSFER_MODE=warm: the x agent makes blind "):
        check(BLIND, SIPGW_TRANSFER_MODE="warm")
    with pytest.raises(ConfigError, match="^SIPGW_TRANSFER_MODE=warm: the x agent makes no "):
        check(UNDECLARED, SIPGW_TRANSFER_MODE="warm")
    # an account's or a line's agent that never transfers is not what the setting is for
    check(UNDECLARED, main=False, SIPGW_TRANSFER_MODE="warm")
    check(AgentCapabilities(transfers=frozenset({"blind", "warm"})), SIPGW_TRANSFER_MODE="warm")


def test_a_transfer_target_needs_an_agent_that_transfers() -> None:
    target = "sip:desk@pbx.example.com"
    check(BLIND, SIPGW_TRANSFER_TARGET=target)
    with pytest.raises(ConfigError, match=f"^SIPGW_TRANSFER_TARGET={target}: the x agent makes no"):
        check(UNDECLARED, SIPGW_TRANSFER_TARGET=target)
    check(UNDECLARED, main=False, SIPGW_TRANSFER_TARGET=target)


def test_detection_needs_an_agent_that_declares_it() -> None:
    sources = Sources({"SIPGW_AMD": "detect"})
    check_capabilities(UNDECLARED, sources, "the x agent", AmdMode.DETECT, main=True)
    with pytest.raises(ConfigError, match="^SIPGW_AMD=detect: the x agent does not run"):
        check_capabilities(
            AgentCapabilities(amd=False), sources, "the x agent", AmdMode.DETECT, main=True
        )


@pytest.mark.parametrize(("agent", "key"), [("realtime", "OPENAI_API_KEY"),
                                            ("voice-agent", "ASSEMBLYAI_API_KEY")])  # fmt: skip
def test_the_speech_to_speech_agents_transfer_warm_and_read_the_transfers_section(
    agent: str, key: str
) -> None:
    """Their record declares warm transfers; their plug-ins read the section, so a bad hold
    music stops the start naming the variable."""
    environ = {key: "k" * 20, "SIPGW_BIND": "127.0.0.1", "SIPGW_FALLBACK_SYNTHESIZE": "off"}
    assert find_agent(agent).capabilities.transfers == {"blind", "warm"}
    build_startup(find_agent(agent), Sources({**environ, "SIPGW_TRANSFER_MODE": "warm"}))
    music = {**environ, "SIPGW_TRANSFER_MODE": "warm", "SIPGW_HOLD_MUSIC": "/nowhere/music.wav"}
    with pytest.raises(ConfigError, match="SIPGW_HOLD_MUSIC"):
        build_startup(find_agent(agent), Sources(music))


def test_echo_with_a_transfer_target_is_refused_naming_the_setting() -> None:
    environ = {"SIPGW_BIND": "127.0.0.1", "SIPGW_TRANSFER_TARGET": "sip:desk@pbx.example.com"}
    with pytest.raises(ConfigError, match="^SIPGW_TRANSFER_TARGET=sip:desk@pbx.example.com: the"):
        build_startup(find_agent("echo"), Sources(environ))


def test_the_services_carry_the_allow_list_and_the_secrets() -> None:
    sources = Sources({
        "SIPGW_DIAL_ALLOW": "sip:desk@pbx.example.com", "OPENAI_API_KEY": "s3cret-value-of-a-key",
        "SIPGW_CALLBACK_ALLOWED_PREFIXES": "+1555",
    })  # fmt: skip
    services = gateway_services(sources, agents_may_dial(sources), SECTIONS, ["another-secret-123"])
    assert services.dial_policy.allows("transfer", "sip:desk@pbx.example.com")
    assert services.dial_policy.allows("call", "+15550100")
    assert not services.dial_policy.allows("call", "+15660100")
    text = services.redactor.redact("s3cret-value-of-a-key and another-secret-123")
    assert "s3cret" not in text and "another-secret" not in text
    assert services.call_queues is CALL_QUEUES  # the process's one registry, for every line
    app = Sources({
        "SIPGW_TWIML_URL": "http://127.0.0.1/v", "SIPGW_TWIML_ACCOUNT_SID": "AC" + "1" * 32,
        "SIPGW_TWIML_AUTH_TOKEN": "t" * 32,
    })  # fmt: skip
    twiml = find_agent("twiml").build(app, services)
    assert twiml(FakeCall()).settings.queues is CALL_QUEUES  # type: ignore[attr-defined]


def test_a_callback_uri_the_sip_parser_refuses_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="SIPGW_CALLBACK_URI"):
        agents_may_dial(Sources({"SIPGW_CALLBACK_URI": "sip:{number}@"}))
