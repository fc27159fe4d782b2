"""``<Say voice language>`` through the configured text-to-speech (agent/twiml/say.py): the
voice map, the language for models that take one, what is ignored said, never dropped."""

from __future__ import annotations

import pytest

from sipgw.agent.services.elevenlabs.settings import ElevenLabsSection, elevenlabs_voiced
from sipgw.agent.services.elevenlabs.tts import ElevenLabsTTSService
from sipgw.agent.services.tts.base import TextToSpeech
from sipgw.agent.twiml.say import SayVoice, say_voices
from sipgw.agent.twiml.settings import TwilioAppSection
from sipgw.foundation.settings import ConfigError, Sources, load
from tests.agent.parts import ScriptedTts

VOICE = "EXAVITQu4vr4xnSDxMaL"


def test_the_voice_map_is_parsed_and_bad_entries_named() -> None:
    assert say_voices(" Polly.Joanna = EXAVITQu4vr4xnSDxMaL , alice=abc_1,") == (
        ("polly.joanna", VOICE), ("alice", "abc_1"),
    )  # fmt: skip
    assert say_voices("") == ()
    env = {"SIPGW_TWIML_SAY_VOICES": "alice"}
    with pytest.raises(ConfigError, match="SIPGW_TWIML_SAY_VOICES=alice: 'alice': each entry"):
        load(TwilioAppSection, Sources(env))


Asked = list[tuple[str | None, str | None]]


def voicing(model: str = "eleven_flash_v2_5") -> tuple[SayVoice, Asked]:
    """A voicing that records the voice ID and language each client was made with."""
    asked: Asked = []

    def make(voice_id: str | None, language: str | None) -> TextToSpeech:
        asked.append((voice_id, language))
        return ScriptedTts()

    return SayVoice(make, {"polly.joanna": VOICE}, model), asked


def test_a_mapped_voice_and_a_language_are_honoured() -> None:
    say, asked = voicing()
    assert say.voiced("Polly.Joanna", "fr-FR")[1] == []
    assert say.voiced("", "")[1] == []
    assert asked == [(VOICE, "fr"), (None, None)]


def test_what_cannot_be_honoured_is_said() -> None:
    say, asked = voicing("eleven_multilingual_v2")
    _, ignored = say.voiced("alice", "en-US")
    assert asked == [(None, None)]
    assert ignored == [
        "voice='alice' (not in SIPGW_TWIML_SAY_VOICES: the configured voice speaks)",
        "language='en-US' (the model eleven_multilingual_v2 takes none)",
    ]
    say, asked = voicing()
    assert say.voiced("", "x1")[1] == ["language='x1' (not a language tag)"]


def test_elevenlabs_gets_the_voice_and_language_per_say() -> None:
    make = elevenlabs_voiced(ElevenLabsSection(api_key="k" * 32, voice_id="configured"))
    chosen, default = make(VOICE, "de"), make(None, None)
    assert isinstance(chosen, ElevenLabsTTSService) and isinstance(default, ElevenLabsTTSService)
    assert (chosen.settings.voice_id, chosen.settings.language_code) == (VOICE, "de")
    assert (default.settings.voice_id, default.settings.language_code) == ("configured", None)
