"""ElevenLabs' section (``ELEVENLABS_*``) and the client settings made from it."""

from __future__ import annotations

import dataclasses

import pytest

from sipgw.agent.services.elevenlabs.settings import (
    ElevenLabsSection,
    elevenlabs_clients,
    elevenlabs_voiced,
)
from sipgw.agent.services.elevenlabs.tts import ElevenLabsSettings
from sipgw.foundation.settings import ConfigError, Sources, load
from tests.toolkit.canaries import API_KEY_VARIABLES

KEYS = API_KEY_VARIABLES


def _client_settings(values: dict[str, str], wideband: bool = False) -> ElevenLabsSettings:
    section = load(ElevenLabsSection, Sources({**KEYS, **values}))
    settings = elevenlabs_clients(section, wideband).args[0]  # type: ignore[attr-defined]
    assert isinstance(settings, ElevenLabsSettings)
    return settings


def test_the_base_url_format_and_timing() -> None:
    settings = _client_settings(
        {"ELEVENLABS_BASE_URL": "http://127.0.0.1:3/", "ELEVENLABS_AUTO_MODE": "false",
         "ELEVENLABS_FIRST_AUDIO_TIMEOUT_MS": "1500"}
    )  # fmt: skip
    assert settings.base_url == "http://127.0.0.1:3" and settings.auto_mode is False
    assert settings.first_audio_timeout == 1.5
    assert settings.output_format == "ulaw_8000" and settings.model_id == "eleven_flash_v2_5"


def test_the_hd_voice_clients_speak_16_khz_pcm() -> None:
    narrow = _client_settings({"ELEVENLABS_TRANSPORT": "http"})
    wide = _client_settings({"ELEVENLABS_TRANSPORT": "http"}, wideband=True)
    assert (narrow.output_format, wide.output_format) == ("ulaw_8000", "pcm_16000")
    assert dataclasses.replace(wide, output_format="ulaw_8000") == narrow


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ELEVENLABS_TRANSPORT", "carrier-pigeon", "must be 'websocket' or"),
        ("ELEVENLABS_AUTO_MODE", "maybe", "must be 'true' or 'false'"),
        ("ELEVENLABS_FIRST_AUDIO_TIMEOUT_MS", "50", "from 100 to 60000"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}=.*: .*{message}"):
        load(ElevenLabsSection, Sources({**KEYS, name: value}))


def test_a_voice_chooses_its_model_and_settings_over_the_configured() -> None:
    """``elevenlabs_voiced``: a voice's model and settings over the configured."""
    sources = Sources({**KEYS, "ELEVENLABS_VOICE_ID": "CONFIGURED"})
    voiced = elevenlabs_voiced(load(ElevenLabsSection, sources))
    tts = voiced("VOICE", "es", model_id="eleven_turbo_v2_5", voice_settings={"speed": 1.1})
    settings = tts.settings  # type: ignore[attr-defined]
    assert (settings.voice_id, settings.language_code) == ("VOICE", "es")
    assert settings.model_id == "eleven_turbo_v2_5" and settings.voice_settings["speed"] == 1.1
    plain = voiced(None, None).settings  # type: ignore[attr-defined]
    assert (plain.voice_id, plain.model_id) == ("CONFIGURED", "eleven_flash_v2_5")
