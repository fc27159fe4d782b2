"""A ConversationRelay's providers, voices and languages onto the operator's services
(sipgw/agent/twiml/relay/providers.py): Twilio's ElevenLabs voice syntax, the voice map, the
language to the models that take one, what is not followed named, hints as key terms, when
a new recognizer session is needed, the ``<Language>`` table."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from sipgw.agent.twiml.relay.providers import (
    ElevenLabsVoice,
    choose_voice,
    elevenlabs_voice,
    keyterms,
    language_setup,
    needs_new_session,
    stt_notes,
)
from sipgw.agent.twiml.say import SayVoice
from sipgw.twilio.relaytwiml import ConversationRelay, RelayLanguage
from tests.agent.parts import ScriptedTts

VOICE_ID = "UgBBYS2sOqTuMpoF3BR0"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (VOICE_ID, ElevenLabsVoice(VOICE_ID)),
        (f"{VOICE_ID}-flash_v2_5", ElevenLabsVoice(VOICE_ID, "eleven_flash_v2_5")),
        (f"{VOICE_ID}-turbo_v2_5-1.2_0.8_0.75",
         ElevenLabsVoice(VOICE_ID, "eleven_turbo_v2_5", 1.2, 0.8, 0.75)),
        (f"{VOICE_ID}-0.9_1.0_1.0", ElevenLabsVoice(VOICE_ID, "", 0.9, 1.0, 1.0)),
        (f"{VOICE_ID}-flash_v2_5-1.5_1.0_1.0", None),  # speed out of ElevenLabs' range
        (f"{VOICE_ID}-flash_v2_5-1.0_1.2_1.0", None),  # stability out of range
        ("en-US-Journey-O", None),
        ("Polly.Joanna-Neural", None),
        ("alice", None),
    ],
)  # fmt: skip
def test_twilios_elevenlabs_voice_syntax(value: str, parsed: ElevenLabsVoice | None) -> None:
    assert elevenlabs_voice(value) == parsed


class Voices:
    """A SayVoice's client makers that record what they were asked."""

    def __init__(self, tuned: bool = True, model: str = "eleven_flash_v2_5") -> None:
        self.asked: list[tuple[str | None, str | None, str | None, Mapping[str, float] | None]] = []
        self.normalized: list[str | None] = []
        self.say = SayVoice(self.make, {"polly.joanna": "MAPPED01"}, model)
        if tuned:
            self.say = SayVoice(self.make, {"polly.joanna": "MAPPED01"}, model, self.tuned)

    def make(self, voice: str | None, language: str | None) -> ScriptedTts:
        self.asked.append((voice, language, None, None))
        return ScriptedTts()

    def tuned(self, voice_id: str | None, language_code: str | None, *,
              model_id: str | None = None,
              voice_settings: Mapping[str, float] | None = None,
              text_normalization: str | None = None) -> ScriptedTts:  # fmt: skip
        self.asked.append((voice_id, language_code, model_id, voice_settings))
        self.normalized.append(text_normalization)
        return ScriptedTts()


def test_an_elevenlabs_voice_speaks_with_its_model_and_settings() -> None:
    voices = Voices()
    _, notes = choose_voice("ElevenLabs", f"{VOICE_ID}-turbo_v2_5-1.1_0.5_0.9", "es-MX",
                            voices.say)  # fmt: skip
    assert notes == []
    settings = {"speed": 1.1, "stability": 0.5, "similarity_boost": 0.9}
    assert voices.asked == [(VOICE_ID, "es", "eleven_turbo_v2_5", settings)]
    # no provider named: Twilio's default is ElevenLabs
    choose_voice("", VOICE_ID, "", voices.say)
    assert voices.asked[-1] == (VOICE_ID, None, None, None)


def test_text_normalization_goes_to_the_voice_that_takes_it() -> None:
    voices = Voices()
    _, notes = choose_voice("", "Polly.Joanna", "en-US", voices.say, "on")
    assert notes == [] and voices.asked[-1] == ("MAPPED01", "en", None, None)
    assert voices.normalized == ["on"]
    choose_voice("", "", "", voices.say)  # none asked: the configured one (no tuning)
    assert voices.normalized == ["on"] and voices.asked[-1] == (None, None, None, None)
    untuned = Voices(tuned=False)
    _, notes = choose_voice("", "", "", untuned.say, "off")
    assert notes == ["ttsTextNormalization='off' (the text-to-speech takes none)"]


def test_a_model_without_a_language_is_named_and_a_client_without_tuning_too() -> None:
    voices = Voices(tuned=False)
    _, notes = choose_voice("ElevenLabs", f"{VOICE_ID}-multilingual_v2", "fr-FR", voices.say)
    assert voices.asked == [(VOICE_ID, None, None, None)]
    assert notes == [
        "language='fr-FR' (the model eleven_multilingual_v2 takes none)",
        f"voice='{VOICE_ID}-multilingual_v2''s model and settings (the text-to-speech takes none)",
    ]


def test_google_and_amazon_voices_go_through_the_voice_map() -> None:
    voices = Voices()
    _, notes = choose_voice("Amazon", "Polly.Joanna", "en-US", voices.say)
    assert notes == [] and voices.asked[-1] == ("MAPPED01", "en", None, None)
    _, notes = choose_voice("Google", "en-US-Journey-O", "en-US", voices.say)
    assert voices.asked[-1] == (None, "en", None, None)  # the configured voice
    assert notes == [
        "voice='en-US-Journey-O' (not in SIPGW_TWIML_SAY_VOICES nor an ElevenLabs voice: the "
        "configured voice speaks)",
        "ttsProvider='Google' (SIPGW_TWIML_TTS=elevenlabs speaks)",
    ]
    _, notes = choose_voice("Google", VOICE_ID, "", voices.say)  # not ElevenLabs' syntax's
    assert voices.asked[-1][0] is None and len(notes) == 2


def test_recognition_notes_hints_and_sessions() -> None:
    assert stt_notes("", "") == [] and stt_notes("AssemblyAI", "") == []
    assert stt_notes("Deepgram", "nova-3-general", "<Language code='fr'> ") == [
        "<Language code='fr'> transcriptionProvider='Deepgram' (SIPGW_TWIML_STT=assemblyai "
        "transcribes)",
        "<Language code='fr'> speechModel='nova-3-general' (AssemblyAI's model for the "
        "language transcribes)",
    ]
    terms, notes = keyterms(["Acme", "y" * 51, *[f"t{n}" for n in range(120)]])
    assert len(terms) == 100 and terms[0] == "Acme" and "y" * 51 not in terms
    assert notes == ["hints: 22 of 122 left out (too long or too many)"]
    assert keyterms(["Acme"]) == (("Acme",), [])
    assert not needs_new_session("en-US", "fr-FR")  # u3-rt-pro follows both
    assert not needs_new_session("", "es-ES")
    assert needs_new_session("en-US", "ja-JP")  # whisper-rt for Japanese
    assert not needs_new_session("ja-JP", "ko-KR")  # whisper-rt for both


def test_each_language_has_its_setup() -> None:
    relay = ConversationRelay(
        "wss://a", language="en-US", voice="alice",
        languages=(RelayLanguage("en-US", "Amazon", "Polly.Joanna", "Deepgram", "nova"),
                   RelayLanguage("FR-fr", "ElevenLabs", VOICE_ID)),
    )  # fmt: skip
    table = language_setup(relay)
    assert set(table) == {"en-us", "fr-fr"}
    assert table["en-us"].voice == "alice" and table["en-us"].tts_provider == "Amazon"
    assert table["en-us"].transcription_provider == "Deepgram"
    assert table["fr-fr"].voice == VOICE_ID
    assert set(language_setup(ConversationRelay("wss://a"))) == {"en-us"}
