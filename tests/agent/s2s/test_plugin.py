"""The ``voice-agent`` and ``realtime`` plug-ins: built from the environment like the
assistant, each needing only its own vendor's key."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sipgw.agent.conversation.caller_audio import LoadsVoiceModel
from sipgw.agent.s2s.agent import SpeechToSpeechAgent
from sipgw.agent.s2s.factories import S2sFactory
from sipgw.agent.services.assemblyai.voice_agent import AssemblyAIVoiceAgent
from sipgw.agent.services.openai.realtime import OpenAIRealtime
from sipgw.app.agents import find_agent
from sipgw.foundation.settings import ConfigError, Sources
from tests.agent.parts import FakeCall


async def test_the_voice_agent_needs_only_the_assemblyai_key(tmp_path: Path) -> None:
    factory = find_agent("voice-agent").build(Sources({
        "ASSEMBLYAI_API_KEY": "aai", "SIPGW_GREETING": "Hi.",
        "SIPGW_CALL_RECORD_DIR": str(tmp_path / "calls"), "ASSEMBLYAI_VOICE_AGENT_VOICE": "dawn",
        "SIPGW_TRANSFER_TARGET": "sip:human@pbx.example",
    }))  # fmt: skip
    assert isinstance(factory.make, S2sFactory) and factory.services == {"s2s"}
    assert factory.warm_up is not None  # the fallback lines in the model's voice, at start
    agent = factory(FakeCall())
    assert isinstance(agent, SpeechToSpeechAgent) and agent.settings.greeting == "Hi."
    assert isinstance(agent.session, AssemblyAIVoiceAgent)
    assert agent.session.settings.voice == "dawn" and agent.session.settings.api_key == "aai"
    assert agent.settings.builtin_tools.transfer_target == "sip:human@pbx.example"
    await agent.close("test")
    assert factory.new_record is not None
    record = factory.new_record("refused@call")  # a placed call no agent took
    assert record is not None and record.path is not None
    assert record.path.parent == tmp_path / "calls"
    record.close()


async def test_realtime_needs_only_the_openai_key(tmp_path: Path) -> None:
    factory = find_agent("realtime").build(Sources({
        "OPENAI_API_KEY": "sk", "OPENAI_REALTIME_TURN_DETECTION": "local",
        "OPENAI_REALTIME_SILENCE_MS": "700", "SIPGW_CALL_RECORD_DIR": "",
        "SIPGW_FALLBACK_SYNTHESIZE": "off",
    }))  # fmt: skip
    assert isinstance(factory.make, S2sFactory)
    warm_up = factory.warm_up  # no fallback lines: the voice model only
    assert isinstance(warm_up, LoadsVoiceModel) and warm_up.then is None
    agent = factory(FakeCall())
    assert isinstance(agent, SpeechToSpeechAgent) and isinstance(agent.session, OpenAIRealtime)
    settings = agent.session.settings
    assert (settings.model, settings.turn_detection) == ("gpt-realtime-2.1", "local")
    assert settings.noise_reduction is None  # off by default: not asked for
    assert agent.endpointer is not None and agent.endpointer.silence_ms == 700
    await agent.close("test")


@pytest.mark.parametrize(
    ("agent", "environ", "message"),
    [
        ("voice-agent", {"OPENAI_API_KEY": "sk"}, "^--agent voice-agent needs ASSEMBLYAI_API_KEY "),
        ("realtime", {"ASSEMBLYAI_API_KEY": "a"}, "^--agent realtime needs OPENAI_API_KEY "),
        ("voice-agent", {"ASSEMBLYAI_API_KEY": "a", "ASSEMBLYAI_VOICE_AGENT_VOICE": "Ivy"},
         "ASSEMBLYAI_VOICE_AGENT_VOICE=Ivy: must be a voice name in lower case"),
        ("realtime", {"OPENAI_API_KEY": "sk", "SIPGW_HOLD_LINE_AFTER_MS": "5000"},
         "SIPGW_HOLD_LINE_AFTER_MS=5000"),
    ],
)  # fmt: skip
def test_missing_keys_and_bad_values_are_named(
    agent: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        find_agent(agent).build(Sources(environ))


@pytest.mark.parametrize("agent", ["voice-agent", "realtime"])
async def test_they_run_answering_machine_detection_with_its_settings(agent: str) -> None:
    """Calls placed with ``amd`` are theirs (agent/s2s/answering.py), and they read the
    detection section's message."""
    assert find_agent(agent).capabilities.amd
    factory = find_agent(agent).build(Sources({
        "ASSEMBLYAI_API_KEY": "a", "OPENAI_API_KEY": "sk", "SIPGW_FALLBACK_SYNTHESIZE": "off",
        "SIPGW_CALL_RECORD_DIR": "", "SIPGW_AMD_MESSAGE": "Please call us back.",
    }))  # fmt: skip
    assert factory.capabilities.amd
    made = factory(FakeCall())
    assert isinstance(made, SpeechToSpeechAgent)
    assert made.settings.answering.message == "Please call us back."


@pytest.mark.parametrize("agent", ["voice-agent", "realtime"])
async def test_they_read_the_idle_policy(agent: str) -> None:
    factory = find_agent(agent).build(Sources({
        "ASSEMBLYAI_API_KEY": "a", "OPENAI_API_KEY": "sk", "SIPGW_FALLBACK_SYNTHESIZE": "off",
        "SIPGW_CALL_RECORD_DIR": "", "SIPGW_IDLE_AFTER": "9", "SIPGW_IDLE_CHECKS": "0",
        "SIPGW_IDLE_LINE": "",
    }))  # fmt: skip
    call = factory(FakeCall())
    assert isinstance(call, SpeechToSpeechAgent)
    idle = call.idle.settings
    assert (idle.after, idle.checks, idle.check_line) == (9.0, 0, "")
    await call.close("test")
    off = find_agent(agent).build(Sources({
        "ASSEMBLYAI_API_KEY": "a", "OPENAI_API_KEY": "sk", "SIPGW_FALLBACK_SYNTHESIZE": "off",
        "SIPGW_CALL_RECORD_DIR": "", "SIPGW_IDLE_AFTER": "0",
    }))(FakeCall())  # fmt: skip
    assert isinstance(off, SpeechToSpeechAgent) and off.idle.settings.after is None
    await off.close("test")


async def test_realtime_starts_replies_early_only_as_configured() -> None:
    env = {"OPENAI_API_KEY": "sk", "OPENAI_REALTIME_TURN_DETECTION": "local",
           "SIPGW_FALLBACK_SYNTHESIZE": "off", "SIPGW_CALL_RECORD_DIR": ""}  # fmt: skip
    factory = find_agent("realtime").build(Sources({**env, "OPENAI_REALTIME_PREEMPTIVE_MS": "200"}))
    agent = factory(FakeCall())
    assert isinstance(agent, SpeechToSpeechAgent) and agent.endpointer is not None
    assert agent.endpointer.early_ms == 200
    await agent.close("test")
    for value in ("50", "500"):  # below 100, or not below the 500 ms that end a turn
        with pytest.raises(ConfigError, match=f"^OPENAI_REALTIME_PREEMPTIVE_MS={value}: "):
            find_agent("realtime").build(Sources({**env, "OPENAI_REALTIME_PREEMPTIVE_MS": value}))
    vad = {
        **env,
        "OPENAI_REALTIME_PREEMPTIVE_MS": "200",
        "OPENAI_REALTIME_TURN_DETECTION": "server_vad",
    }
    server = find_agent("realtime").build(Sources(vad))
    agent = server(FakeCall())
    assert isinstance(agent, SpeechToSpeechAgent) and agent.endpointer is None
    await agent.close("test")


@pytest.mark.parametrize("agent", ["voice-agent", "realtime"])
async def test_they_read_noise_suppression_and_refuse_to_start_without_pyrnnoise(
    agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SIPGW_NOISE_SUPPRESSION=on`` reaches the call's caller-audio stage; without its
    package ``sipgw serve`` stops naming the setting, as for the assistant."""
    env = {"ASSEMBLYAI_API_KEY": "a", "OPENAI_API_KEY": "sk", "SIPGW_FALLBACK_SYNTHESIZE": "off",
           "SIPGW_CALL_RECORD_DIR": "", "SIPGW_NOISE_SUPPRESSION": "on"}  # fmt: skip
    made = find_agent(agent).build(Sources(env))(FakeCall())
    assert isinstance(made, SpeechToSpeechAgent) and made.caller_audio.settings.suppression
    await made.close("test")
    real = importlib.util.find_spec
    hidden = lambda name, *a: None if name == "pyrnnoise" else real(name, *a)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    with pytest.raises(ConfigError, match="SIPGW_NOISE_SUPPRESSION.*pyrnnoise"):
        find_agent(agent).build(Sources(env))


async def test_realtime_asks_for_the_api_s_noise_reduction_as_configured() -> None:
    env = {"OPENAI_API_KEY": "sk", "SIPGW_FALLBACK_SYNTHESIZE": "off",
           "SIPGW_CALL_RECORD_DIR": "", "OPENAI_REALTIME_NOISE_REDUCTION": "far_field"}  # fmt: skip
    agent = find_agent("realtime").build(Sources(env))(FakeCall())
    assert isinstance(agent, SpeechToSpeechAgent) and isinstance(agent.session, OpenAIRealtime)
    assert agent.session.settings.noise_reduction == "far_field"
    await agent.close("test")
    with pytest.raises(ConfigError, match="^OPENAI_REALTIME_NOISE_REDUCTION=on: "):
        find_agent("realtime").build(Sources({**env, "OPENAI_REALTIME_NOISE_REDUCTION": "on"}))


@pytest.mark.parametrize("agent", ["voice-agent", "realtime"])
def test_they_read_the_handover_format(agent: str) -> None:
    env = {"ASSEMBLYAI_API_KEY": "a", "OPENAI_API_KEY": "sk", "SIPGW_FALLBACK_SYNTHESIZE": "off",
           "SIPGW_CALL_RECORD_DIR": ""}  # fmt: skip
    for value, keep in (("", False), ("best", False), ("keep", True)):
        extra = {"SIPGW_S2S_HANDOVER_FORMAT": value} if value else {}
        factory = find_agent(agent).build(Sources({**env, **extra})).make
        assert isinstance(factory, S2sFactory)
        assert factory.resources.keep_handed_format is keep
    with pytest.raises(ConfigError, match="^SIPGW_S2S_HANDOVER_FORMAT=narrow: "):
        find_agent(agent).build(Sources({**env, "SIPGW_S2S_HANDOVER_FORMAT": "narrow"}))
