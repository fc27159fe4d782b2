"""The speech-to-speech agents' sections (agent/s2s/settings.py): the vendor clients'
rules as parsers, so a bad value names its variable."""

from __future__ import annotations

import pytest

from sipgw.agent.s2s.settings import RealtimeSection, VoiceAgentSection
from sipgw.agent.services.assemblyai.voice_agent import VoiceAgentSettings
from sipgw.agent.services.openai.realtime import DEFAULT_MODEL, RealtimeSettings
from sipgw.foundation.settings import ConfigError, Sources, load


def test_the_defaults_are_the_clients() -> None:
    voice = load(VoiceAgentSection, Sources({}))
    client = VoiceAgentSettings()
    assert (voice.url, voice.voice, voice.vad_threshold, voice.chunk_ms) == (
        client.url, client.voice, client.vad_threshold, client.chunk_ms,
    )  # fmt: skip
    realtime = load(RealtimeSection, Sources({}))
    defaults = RealtimeSettings()
    assert realtime.model == DEFAULT_MODEL == "gpt-realtime-2.1"
    assert (realtime.base_url, realtime.voice, realtime.turn_detection, realtime.silence_ms) == (
        defaults.base_url, defaults.voice, defaults.turn_detection, defaults.silence_ms,
    )  # fmt: skip


def test_values_are_typed() -> None:
    realtime = load(RealtimeSection, Sources({
        "OPENAI_REALTIME_VAD_THRESHOLD": "0.6", "OPENAI_REALTIME_MAX_OUTPUT_TOKENS": "400",
        "OPENAI_REALTIME_TURN_DETECTION": "LOCAL", "OPENAI_REALTIME_BASE_URL": "ws://h:9/v1/",
    }))  # fmt: skip
    assert (realtime.vad_threshold, realtime.max_output_tokens) == (0.6, 400)
    assert realtime.turn_detection == "local" and realtime.base_url == "ws://h:9/v1"
    voice = load(VoiceAgentSection, Sources({"ASSEMBLYAI_VOICE_AGENT_CHUNK_MS": "60"}))
    assert voice.chunk_ms == 60 and voice.vad_threshold is None


@pytest.mark.parametrize(
    ("cls", "name", "value"),
    [
        (VoiceAgentSection, "ASSEMBLYAI_VOICE_AGENT_VOICE", "Ivy"),
        (VoiceAgentSection, "ASSEMBLYAI_VOICE_AGENT_URL", "https://agents.example/ws"),
        (VoiceAgentSection, "ASSEMBLYAI_VOICE_AGENT_VAD_THRESHOLD", "1.5"),
        (VoiceAgentSection, "ASSEMBLYAI_VOICE_AGENT_CHUNK_MS", "30"),
        (RealtimeSection, "OPENAI_REALTIME_BASE_URL", "ftp://example.com"),
        (RealtimeSection, "OPENAI_REALTIME_TURN_DETECTION", "psychic"),
        (RealtimeSection, "OPENAI_REALTIME_SILENCE_MS", "50"),
        (RealtimeSection, "OPENAI_REALTIME_EAGERNESS", "eager"),
        (RealtimeSection, "OPENAI_REALTIME_MAX_OUTPUT_TOKENS", "0"),
    ],
)
def test_bad_values_name_the_variable(cls: type, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}={value}: must be"):
        load(cls, Sources({name: value}))
