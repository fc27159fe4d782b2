"""When a vendor fails: the fallback lines' and the failure policy's settings, and the
breakers' (agent/resilience/settings.py): typed, checked, errors naming the variable."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from sipgw.agent.conversation.sections import with_fallback
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.resilience.breaker import BreakerSettings
from sipgw.agent.resilience.lines import DEFAULT_ONE_MOMENT_LINE
from sipgw.agent.resilience.policy import FailurePolicySettings
from sipgw.agent.resilience.settings import BreakerSection, FallbackSection, load_message
from sipgw.foundation.settings import ConfigError, Sources, load, state_dir


def test_the_defaults_are_the_agent_layers() -> None:
    fallback = load(FallbackSection, Sources({}))
    assert fallback.policy() == FailurePolicySettings()
    settings = with_fallback(AssistantSettings(), fallback)
    assert settings.one_moment_line == DEFAULT_ONE_MOMENT_LINE
    cache = state_dir(Sources({})) / "fallback-lines"  # under the state directory
    assert settings.fallback_cache_dir == cache and fallback.fallback_synthesize
    assert load(BreakerSection, Sources({})).settings() == BreakerSettings()


def test_values_reach_the_agent() -> None:
    fallback = load(FallbackSection, Sources({
        "SIPGW_ONE_MOMENT_LINE": "Hang on.", "SIPGW_STT_DOWN_LINE": "I lost you.",
        "SIPGW_FALLBACK_CACHE_DIR": "", "SIPGW_HOLD_LINE_AFTER_MS": "1200",
        "SIPGW_STT_GIVE_UP_AFTER_MS": "9000", "SIPGW_LLM_MAX_FAILURES": "1",
        "SIPGW_FALLBACK_SYNTHESIZE": "off",
    }))  # fmt: skip
    settings = with_fallback(AssistantSettings(), fallback)
    assert settings.fallback_cache_dir is None and not fallback.fallback_synthesize
    assert (settings.one_moment_line, settings.stt_down_line) == ("Hang on.", "I lost you.")
    policy = settings.failure_policy
    assert (policy.hold_line_after, policy.stt_give_up_after, policy.llm_max_failures) == (
        1.2, 9.0, 1,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SIPGW_HOLD_LINE_AFTER_MS", "2500", "SIPGW_HOLD_LINE_AFTER_MS=2500: must be"),
        ("SIPGW_TTS_MAX_FAILURES", "0", "SIPGW_TTS_MAX_FAILURES=0"),
        ("SIPGW_STT_GIVE_UP_AFTER_MS", "500",
         "SIPGW_STT_GIVE_UP_AFTER_MS.* must not be shorter than SIPGW_STT_NOTICE_AFTER_MS"),
        ("SIPGW_FALLBACK_SYNTHESIZE", "maybe", "SIPGW_FALLBACK_SYNTHESIZE=maybe"),
    ],
)  # fmt: skip
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(FallbackSection, Sources({name: value}))


def test_breaker_values_and_their_errors() -> None:
    section = load(BreakerSection, Sources({
        "SIPGW_BREAKER_FAILURES": "3", "SIPGW_BREAKER_OPEN_FOR": "10", "SIPGW_BREAKER": "off",
    }))  # fmt: skip
    assert not section.breaker and section.settings().failures == 3
    with pytest.raises(ConfigError, match="SIPGW_BREAKER_MAX_OPEN_FOR.*SIPGW_BREAKER_OPEN_FOR"):
        load(BreakerSection, Sources({"SIPGW_BREAKER_MAX_OPEN_FOR": "5"}))
    with pytest.raises(ConfigError, match="SIPGW_BREAKER_MESSAGE=/nowhere.wav: cannot read it"):
        load(BreakerSection, Sources({"SIPGW_BREAKER_MESSAGE": "/nowhere.wav"}))


def test_the_message_is_a_wav_or_raw_mulaw_in_whole_frames(tmp_path: Path) -> None:
    wav_path = tmp_path / "closed.wav"
    with wave.open(str(wav_path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x10" * 400)  # 50 ms
    frames = load_message(wav_path)
    assert len(frames) == 3 and all(len(frame) == 160 for frame in frames)
    raw = tmp_path / "closed.ulaw"
    raw.write_bytes(b"\x7f" * 320)
    assert load_message(raw) == (b"\x7f" * 160,) * 2
    wrong = tmp_path / "stereo.wav"
    with wave.open(str(wrong), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(b"\x00" * 64)
    with pytest.raises(ValueError, match="8 kHz mono 16-bit"):
        load_message(wrong)
    (tmp_path / "empty.ulaw").write_bytes(b"")
    with pytest.raises(ValueError, match="no audio"):
        load_message(tmp_path / "empty.ulaw")
