"""The twiml and stream plug-ins: found by name like the other built-ins, their required
settings named when missing, their capabilities and routes-file keys declared."""

from __future__ import annotations

import pytest

from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.agent.twiml.plugin import STREAM_CAPABILITIES, TWIML_CAPABILITIES
from sipgw.agent.twiml.settings import StreamSection, TwimlSection
from sipgw.app.agents import find_agent
from sipgw.app.settings import BUILTIN_AGENTS
from sipgw.foundation.settings import ConfigError, Sources
from tests.agent.parts import FakeCall

APP = {"SIPGW_TWIML_ACCOUNT_SID": "AC" + "0" * 32, "SIPGW_TWIML_AUTH_TOKEN": "tok"}


def test_twiml_and_stream_are_builtin_agents() -> None:
    assert {"twiml", "stream"} <= set(BUILTIN_AGENTS)
    twiml = find_agent("twiml")
    assert twiml.capabilities is TWIML_CAPABILITIES
    factory = twiml.build(Sources({**APP, "SIPGW_TWIML_URL": "https://b.example/voice"}))
    agent = factory(FakeCall())
    assert isinstance(agent, TwimlAgent) and agent.settings.url == "https://b.example/voice"
    stream = find_agent("stream").build(Sources({**APP, "SIPGW_STREAM_URL": "wss://b.example/m"}))
    assert stream(FakeCall()).settings.stream_url == "wss://b.example/m"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "env", "says"),
    [
        ("twiml", APP, "SIPGW_TWIML_URL"),
        ("stream", {"SIPGW_STREAM_URL": "wss://b.example/m"}, "SIPGW_TWIML_AUTH_TOKEN"),
        (
            "twiml",
            {**APP, "SIPGW_TWIML_URL": "https://b.example/v", "SIPGW_TWIML_FALLBACK": "transfer"},
            "SIPGW_TWIML_FALLBACK_TARGET",
        ),
        (
            "twiml",
            {**APP, "SIPGW_TWIML_URL": "https://b.example/v", "SIPGW_TWIML_TTS": "elevenlabs"},
            "ELEVENLABS_API_KEY",
        ),
        (
            "twiml",
            {**APP, "SIPGW_TWIML_URL": "https://b.example/v", "SIPGW_TWIML_STT": "assemblyai"},
            "ASSEMBLYAI_API_KEY",
        ),
    ],
)
def test_what_is_missing_is_named(name: str, env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        find_agent(name).build(Sources(env))


def test_the_relays_speech_to_text_is_the_configured_one() -> None:
    env = {**APP, "SIPGW_TWIML_URL": "https://b.example/v", "SIPGW_TWIML_STT": "assemblyai",
           "ASSEMBLYAI_API_KEY": "k" * 32}  # fmt: skip
    agent = find_agent("twiml").build(Sources(env))(FakeCall())
    assert isinstance(agent, TwimlAgent) and agent.settings.stt is not None
    assert type(agent.settings.stt()).__name__ == "AssemblyAISTTService"
    plain = find_agent("twiml").build(Sources({**APP, "SIPGW_TWIML_URL": "https://b.example/v"}))
    assert plain(FakeCall()).settings.stt is None  # type: ignore[attr-defined]


def test_capabilities() -> None:
    for capabilities in (TWIML_CAPABILITIES, STREAM_CAPABILITIES):
        assert not capabilities.amd and capabilities.keypad and capabilities.paid
        assert capabilities.transfers == {"blind"} and capabilities.legs == {"sip"}
    assert TWIML_CAPABILITIES.line_keys == {"twiml_url": (TwimlSection, "url")}
    assert STREAM_CAPABILITIES.line_keys == {"stream_url": (StreamSection, "url")}


def test_gathers_speech_to_text_is_built_from_the_assemblyai_section() -> None:
    env = {
        **APP, "SIPGW_TWIML_URL": "https://b.example/v", "SIPGW_TWIML_STT": "assemblyai",
        "ASSEMBLYAI_API_KEY": "k", "ASSEMBLYAI_STREAMING_URL": "ws://127.0.0.1:9/v3/ws",
    }  # fmt: skip
    agent = find_agent("twiml").build(Sources(env))(FakeCall())
    assert isinstance(agent, TwimlAgent) and agent.settings.stt is not None
    assert type(agent.settings.stt()).__name__ == "AssemblyAISTTService"
    plain = find_agent("twiml").build(Sources({**APP, "SIPGW_TWIML_URL": "https://b.example/v"}))
    assert plain(FakeCall()).settings.stt is None  # type: ignore[attr-defined]
