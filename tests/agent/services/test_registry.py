"""The vendor registry: each vendor's section, its client's typed settings, the tables."""

from __future__ import annotations

import dataclasses

import pytest

from sipgw.agent.conversation.sections import AssistantSection
from sipgw.agent.services.assemblyai.stt import REGION_URLS, AssemblyAISettings
from sipgw.agent.services.llm.retry import LlmRetrySettings
from sipgw.agent.services.openai.models import ModelCapabilities
from sipgw.agent.services.registry import (
    LLM_VENDORS,
    STT_VENDORS,
    TTS_VENDORS,
    AssemblyAISection,
    ElevenLabsSection,
    OpenAISection,
)
from sipgw.app.sections import SECTIONS
from sipgw.foundation.settings import ConfigError, Sources, load, section_info
from tests.toolkit.canaries import API_KEY_VARIABLES, OPENAI_KEY

KEYS = API_KEY_VARIABLES


def test_the_tables_are_the_choices_and_their_sections_are_listed() -> None:
    assert AssistantSection().stt in STT_VENDORS and AssistantSection().llm in LLM_VENDORS
    assert AssistantSection().tts in TTS_VENDORS
    for table in (STT_VENDORS, LLM_VENDORS, TTS_VENDORS):
        for name, vendor in table.items():
            assert vendor.name == name and section_info(vendor.section) in SECTIONS


async def test_each_vendor_makes_its_clients_from_its_section() -> None:
    sources = Sources(KEYS)
    stt = STT_VENDORS["assemblyai"].clients(load(AssemblyAISection, sources))
    llm = LLM_VENDORS["openai"].clients(load(OpenAISection, sources))
    tts = TTS_VENDORS["elevenlabs"].clients(load(ElevenLabsSection, sources))
    first, second = stt(), stt()
    assert type(first).__name__ == "AssemblyAISTTService" and first is not second
    assert type(tts()).__name__ == "ElevenLabsTTSService"
    await llm().close()


def test_client_settings_defaults_regions_and_urls() -> None:
    stt = load(AssemblyAISection, Sources({**KEYS, "ASSEMBLYAI_REGION": "eu"}))
    settings = STT_VENDORS["assemblyai"].clients(stt).args[0]  # type: ignore[attr-defined]
    assert settings.url == REGION_URLS["eu"] and settings.speech_model == "u3-rt-pro"
    assert settings.encoding == "pcm_mulaw" and settings.sample_rate == 8000
    # left empty, continuous partials are asked for on Universal-3 Pro, not left to the
    # server's default (which changed during 2026: AMD reads a greeting's words in them)
    assert settings.continuous_partials is True
    sources = Sources(
        {**KEYS, "ASSEMBLYAI_STREAMING_URL": "ws://127.0.0.1:1/v3/ws",
         "OPENAI_BASE_URL": "http://127.0.0.1:2/v1", "ELEVENLABS_BASE_URL": "http://127.0.0.1:3/",
         "ASSEMBLYAI_KEYTERMS": "Acme, Sonny ,", "ASSEMBLYAI_MIN_TURN_SILENCE": "200",
         "ASSEMBLYAI_INTERRUPTION_DELAY": "0", "ASSEMBLYAI_CONTINUOUS_PARTIALS": "off",
         "ELEVENLABS_AUTO_MODE": "false", "ELEVENLABS_FIRST_AUDIO_TIMEOUT_MS": "1500"}
    )  # fmt: skip
    stt_settings = STT_VENDORS["assemblyai"].clients(load(AssemblyAISection, sources)).args[0]  # type: ignore[attr-defined]
    llm_settings = LLM_VENDORS["openai"].clients(load(OpenAISection, sources)).args[0]  # type: ignore[attr-defined]
    tts_settings = TTS_VENDORS["elevenlabs"].clients(load(ElevenLabsSection, sources)).args[0]  # type: ignore[attr-defined]
    assert stt_settings.url == "ws://127.0.0.1:1/v3/ws"
    assert stt_settings.keyterms_prompt == ("Acme", "Sonny")
    assert stt_settings.min_turn_silence == 200 and stt_settings.max_turn_silence is None
    assert (stt_settings.interruption_delay, stt_settings.continuous_partials) == (0, False)
    assert (settings.interruption_delay, settings.continuous_partials) == (None, True)
    assert llm_settings.base_url == "http://127.0.0.1:2/v1" and llm_settings.model == "gpt-4.1-mini"
    assert tts_settings.base_url == "http://127.0.0.1:3" and tts_settings.auto_mode is False
    assert tts_settings.first_audio_timeout == 1.5
    assert (
        tts_settings.output_format == "ulaw_8000" and tts_settings.model_id == "eleven_flash_v2_5"
    )
    assert OPENAI_KEY not in repr(load(OpenAISection, sources))


def test_the_hd_voice_clients_take_and_speak_16_khz() -> None:
    """Issue 43: each vendor's wideband clients are its plain ones but for the format:
    AssemblyAI ``pcm_s16le`` at 16000, ElevenLabs ``pcm_16000`` (both transports)."""
    sources = Sources({**KEYS, "ELEVENLABS_TRANSPORT": "http", "ELEVENLABS_VOICE_ID": "v9"})
    stt, tts = STT_VENDORS["assemblyai"], TTS_VENDORS["elevenlabs"]
    assert stt.wideband is not None and tts.wideband is not None
    wide_stt = stt.wideband(load(AssemblyAISection, sources)).args[0]  # type: ignore[attr-defined]
    assert (wide_stt.encoding, wide_stt.sample_rate) == ("pcm_s16le", 16000)
    section = load(ElevenLabsSection, sources)
    narrow = tts.clients(section).args[0]  # type: ignore[attr-defined]
    wide = tts.wideband(section).args[0]  # type: ignore[attr-defined]
    assert (narrow.output_format, wide.output_format) == ("ulaw_8000", "pcm_16000")
    assert dataclasses.replace(wide, output_format="ulaw_8000") == narrow


def test_the_llms_retries_reasoning_and_capabilities_are_settings() -> None:
    defaults = LLM_VENDORS["openai"].clients(load(OpenAISection, Sources(KEYS))).args[0]  # type: ignore[attr-defined]
    assert defaults.retry == LlmRetrySettings() and defaults.capabilities is None
    assert (defaults.max_completion_tokens, defaults.reasoning_token_allowance) == (300, 4096)
    assert defaults.reasoning_effort == "low"
    sources = Sources({
        **KEYS, "OPENAI_MAX_RETRIES": "0", "OPENAI_RETRY_BUDGET": "1.5",
        "OPENAI_RETRY_FIRST_DELAY": "0.2", "OPENAI_MAX_RETRY_AFTER": "0.5",
        "OPENAI_MAX_COMPLETION_TOKENS": "", "OPENAI_REASONING_TOKEN_ALLOWANCE": "",
        "OPENAI_REASONING_EFFORT": "", "OPENAI_CAPABILITIES": "max_tokens,temperature",
        "ASSEMBLYAI_MAX_BACKLOG_MS": "45000",
    })  # fmt: skip
    llm = LLM_VENDORS["openai"].clients(load(OpenAISection, sources)).args[0]  # type: ignore[attr-defined]
    assert llm.retry == LlmRetrySettings(attempts=0, budget=1.5, first_delay=0.2,
                                         max_retry_after=0.5)  # fmt: skip
    assert llm.max_completion_tokens is None and llm.reasoning_token_allowance is None
    assert llm.reasoning_effort is None
    assert llm.capabilities == ModelCapabilities("max_tokens", temperature=True,
                                                 parallel_tool_calls=False)  # fmt: skip
    stt = STT_VENDORS["assemblyai"].clients(load(AssemblyAISection, sources)).args[0]  # type: ignore[attr-defined]
    assert stt.max_backlog_seconds == 45.0
    assert AssemblyAISettings(api_key="k").max_backlog_seconds == 30.0  # above the 20 s give-up


def test_universal_3_pro_settings_with_another_model_are_refused() -> None:
    sources = Sources({**KEYS, "ASSEMBLYAI_LANGUAGE": "nl", "ASSEMBLYAI_INTERRUPTION_DELAY": "0"})
    with pytest.raises(ConfigError, match="interruption_delay: Universal-3 Pro .* whisper-rt"):
        STT_VENDORS["assemblyai"].clients(load(AssemblyAISection, sources))


@pytest.mark.parametrize(
    ("section", "name", "value", "message"),
    [
        (AssemblyAISection, "ASSEMBLYAI_REGION", "mars", "must be one of default, us, eu"),
        (AssemblyAISection, "ASSEMBLYAI_CHUNK_MS", "20", "must be a whole number from 50 to 1000"),
        (AssemblyAISection, "ASSEMBLYAI_KEYTERMS", ",".join(f"t{i}" for i in range(101)),
         "at most 100"),
        (AssemblyAISection, "ASSEMBLYAI_KEYTERMS", "Acme, " + "x" * 51, "50"),
        (AssemblyAISection, "ASSEMBLYAI_MAX_TURN_SILENCE", "soon", "must be a whole number of ms"),
        (AssemblyAISection, "ASSEMBLYAI_INTERRUPTION_DELAY", "1500", "from 0 to 1000, or empty"),
        (AssemblyAISection, "ASSEMBLYAI_CONTINUOUS_PARTIALS", "yes", "must be on, off, or empty"),
        (OpenAISection, "OPENAI_TOTAL_TIMEOUT", "0", "must be a number > 0"),
        (OpenAISection, "OPENAI_MAX_RETRIES", "-1", "must be a whole number from 0 to 10"),
        (OpenAISection, "OPENAI_RETRY_BUDGET", "-2", "must be a number >= 0"),
        (OpenAISection, "OPENAI_REASONING_EFFORT", "extreme", "must be one of"),
        (OpenAISection, "OPENAI_MAX_COMPLETION_TOKENS", "0", "tokens from 1, or empty"),
        (OpenAISection, "OPENAI_CAPABILITIES", "max_tokens,telepathy", "unknown model capability"),
        (ElevenLabsSection, "ELEVENLABS_TRANSPORT", "carrier-pigeon", "must be 'websocket' or"),
        (ElevenLabsSection, "ELEVENLABS_AUTO_MODE", "maybe", "must be 'true' or 'false'"),
    ],
)  # fmt: skip
def test_bad_values_name_the_variable(section: type, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}=.*: .*{message}"):
        load(section, Sources({**KEYS, name: value}))


def test_the_keyterm_limits_are_the_apis() -> None:
    terms = ",".join(f"{i:0>50}" for i in range(100))
    assert len(load(AssemblyAISection, Sources({"ASSEMBLYAI_KEYTERMS": terms})).keyterms) == 100


def test_a_relays_language_chooses_the_model_and_a_voice_its_model_and_settings() -> None:
    """``assemblyai_spoken``: the model for the callers' language, as ASSEMBLYAI_LANGUAGE
    chooses it; ``elevenlabs_voiced``: a voice's model and settings over the configured."""
    from sipgw.agent.services.registry import assemblyai_spoken, elevenlabs_voiced

    spoken = assemblyai_spoken(load(AssemblyAISection, Sources(KEYS)))
    japanese, french = spoken("ja-JP"), spoken("fr-FR")
    assert japanese._settings.speech_model == "whisper-rt"  # type: ignore[attr-defined]
    assert japanese._settings.continuous_partials is None  # type: ignore[attr-defined]
    assert french._settings.speech_model == "u3-rt-pro"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="language code"):
        spoken("!!")
    strict = assemblyai_spoken(
        load(AssemblyAISection, Sources({**KEYS, "ASSEMBLYAI_INTERRUPTION_DELAY": "0"}))
    )
    with pytest.raises(ValueError, match="whisper-rt"):
        strict("ja")
    sources = Sources({**KEYS, "ELEVENLABS_VOICE_ID": "CONFIGURED"})
    voiced = elevenlabs_voiced(load(ElevenLabsSection, sources))
    tts = voiced("VOICE", "es", model_id="eleven_turbo_v2_5", voice_settings={"speed": 1.1})
    settings = tts.settings  # type: ignore[attr-defined]
    assert (settings.voice_id, settings.language_code) == ("VOICE", "es")
    assert settings.model_id == "eleven_turbo_v2_5" and settings.voice_settings["speed"] == 1.1
    plain = voiced(None, None).settings  # type: ignore[attr-defined]
    assert (plain.voice_id, plain.model_id) == ("CONFIGURED", "eleven_flash_v2_5")
