"""AssemblyAI's section (``ASSEMBLYAI_*``) and the session options its clients are made with."""

from __future__ import annotations

import pytest

from sipgw.agent.services.assemblyai.settings import (
    AssemblyAISection,
    assemblyai_clients,
    assemblyai_spoken,
)
from sipgw.agent.services.assemblyai.stt import REGION_URLS, AssemblyAISettings
from sipgw.foundation.settings import ConfigError, Sources, load
from tests.toolkit.canaries import API_KEY_VARIABLES

KEYS = API_KEY_VARIABLES


def _options(values: dict[str, str]) -> AssemblyAISettings:
    made = assemblyai_clients(load(AssemblyAISection, Sources({**KEYS, **values})))
    options = made.args[0]  # type: ignore[attr-defined]
    assert isinstance(options, AssemblyAISettings)
    return options


def test_defaults_regions_and_urls() -> None:
    settings = _options({"ASSEMBLYAI_REGION": "eu"})
    assert settings.url == REGION_URLS["eu"] and settings.speech_model == "u3-rt-pro"
    assert settings.encoding == "pcm_mulaw" and settings.sample_rate == 8000
    # left empty, continuous partials are asked for on Universal-3 Pro, not left to the
    # server's default (which changed during 2026: AMD reads a greeting's words in them)
    assert settings.continuous_partials is True
    chosen = _options(
        {"ASSEMBLYAI_STREAMING_URL": "ws://127.0.0.1:1/v3/ws",
         "ASSEMBLYAI_KEYTERMS": "Acme, Sonny ,", "ASSEMBLYAI_MIN_TURN_SILENCE": "200",
         "ASSEMBLYAI_INTERRUPTION_DELAY": "0", "ASSEMBLYAI_CONTINUOUS_PARTIALS": "off"}
    )  # fmt: skip
    assert chosen.url == "ws://127.0.0.1:1/v3/ws"
    assert chosen.keyterms_prompt == ("Acme", "Sonny")
    assert chosen.min_turn_silence == 200 and chosen.max_turn_silence is None
    assert (chosen.interruption_delay, chosen.continuous_partials) == (0, False)
    assert (settings.interruption_delay, settings.continuous_partials) == (None, True)


def test_the_backlog_is_a_setting() -> None:
    assert _options({"ASSEMBLYAI_MAX_BACKLOG_MS": "45000"}).max_backlog_seconds == 45.0
    assert AssemblyAISettings(api_key="k").max_backlog_seconds == 30.0  # above the 20 s give-up


def test_the_hd_voice_clients_take_16_khz_s16le() -> None:
    section = load(AssemblyAISection, Sources(KEYS))
    wide = assemblyai_clients(section, wideband=True).args[0]  # type: ignore[attr-defined]
    assert (wide.encoding, wide.sample_rate) == ("pcm_s16le", 16000)


def test_universal_3_pro_settings_with_another_model_are_refused() -> None:
    sources = Sources({**KEYS, "ASSEMBLYAI_LANGUAGE": "nl", "ASSEMBLYAI_INTERRUPTION_DELAY": "0"})
    with pytest.raises(
        ConfigError,
        match=r"^AssemblyAI \(speech to text\): interruption_delay: Universal-3 Pro .* whisper-rt",
    ):
        assemblyai_clients(load(AssemblyAISection, sources))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ASSEMBLYAI_REGION", "mars", "must be one of default, us, eu"),
        ("ASSEMBLYAI_CHUNK_MS", "20", "must be a whole number from 50 to 1000"),
        ("ASSEMBLYAI_KEYTERMS", ",".join(f"t{i}" for i in range(101)), "at most 100"),
        ("ASSEMBLYAI_KEYTERMS", "Acme, " + "x" * 51, "50"),
        ("ASSEMBLYAI_MAX_TURN_SILENCE", "soon", "must be a whole number of ms"),
        ("ASSEMBLYAI_INTERRUPTION_DELAY", "1500", "from 0 to 1000, or empty"),
        ("ASSEMBLYAI_CONTINUOUS_PARTIALS", "yes", "must be on, off, or empty"),
        ("ASSEMBLYAI_LANGUAGE", "english!", "must be a language code"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}=.*: .*{message}"):
        load(AssemblyAISection, Sources({**KEYS, name: value}))


def test_the_keyterm_limits_are_the_apis() -> None:
    terms = ",".join(f"{i:0>50}" for i in range(100))
    assert len(load(AssemblyAISection, Sources({"ASSEMBLYAI_KEYTERMS": terms})).keyterms) == 100


def test_a_relays_language_chooses_the_model() -> None:
    """``assemblyai_spoken``: the model for the callers' language, as ASSEMBLYAI_LANGUAGE
    chooses it."""
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
