"""ConversationRelay's settings as a ``config`` or ``hints`` carries them: what each reads to,
the forms apps write, and the refusals that name what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from sipgw.twilio.relayconfig import (
    ConfigMessage,
    HintsMessage,
    LanguageSettings,
    eot_threshold,
    read_config,
    read_hints,
)


def test_nothing_given_changes_nothing() -> None:
    assert read_config({"type": "config"}) == ConfigMessage()


def test_every_session_setting() -> None:
    read = read_config({
        "interruptible": False, "preemptible": "true", "dtmfDetection": True,
        "reportInputDuringAgentSpeech": "speech", "partialPrompts": False,
        "speechTimeout": "1.5s", "echoPromptFiltering": True, "interruptSensitivity": "MEDIUM",
        "ignoreBackchannel": False, "profanityFilter": True, "eotThreshold": "0.55",
        "turnDetection": True,
    })  # fmt: skip
    assert read == ConfigMessage(
        interruptible="none", preemptible=True, dtmf_detection=True,
        report_input_during_agent_speech="speech", partial_prompts=False, speech_timeout="1.5s",
        echo_prompt_filtering=True, interrupt_sensitivity="medium", ignore_backchannel=False,
        profanity_filter=True, eot_threshold=0.55, turn_detection=True,
    )  # fmt: skip


def test_the_languages_switched_apart_or_together() -> None:
    both = read_config({"language": "fr-FR"})
    assert (both.tts_language, both.transcription_language) == ("fr-FR", "fr-FR")
    apart = read_config({"language": "fr-FR", "transcriptionLanguage": "en-US"})
    assert (apart.tts_language, apart.transcription_language) == ("fr-FR", "en-US")


def test_a_language_only_what_it_gives() -> None:
    read = read_config(
        {
            "languages": [
                {
                    "code": "es-ES",
                    "voice": "Lucia",
                    "ttsTextNormalization": "OFF",
                    "hints": "uno, dos",
                }
            ]
        }
    )
    assert read.languages == (
        LanguageSettings("es-ES", voice="Lucia", hints=("uno", "dos"), text_normalization="off"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"url": "wss://other"}, "'url' cannot change during a call"),
        ({"session": {"events": "speaker-events"}}, "'events' cannot change"),
        ({"reportInputDuringAgentSpeech": "sometimes"}, "'reportInputDuringAgentSpeech'"),
        ({"speechTimeout": 50}, "'speechTimeout' '50'"),
        ({"eotThreshold": True}, "'eotThreshold'"),
        ({"languages": "es-ES"}, "'languages' must be a list"),
        ({"languages": [{"code": ""}]}, "a language without a 'code'"),
        ({"languages": [{"code": "es", "ttsTextNormalization": "loud"}]},
         "'ttsTextNormalization' 'loud'"),
        ({"ttsLanguage": 5}, "'ttsLanguage' must be a string"),
    ],
)  # fmt: skip
def test_refusals_name_what_is_wrong(fields: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        read_config(fields)


@pytest.mark.parametrize(("value", "read"), [(0, 0.0), (1, 1.0), ("0.7", 0.7), (0.25, 0.25)])
def test_the_threshold_from_0_to_1(value: object, read: float) -> None:
    assert eot_threshold(value) == read


@pytest.mark.parametrize("value", [-0.1, 1.01, "high", None, [0.5], False])
def test_a_threshold_out_of_range_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="a number from 0 to 1"):
        eot_threshold(value)


def test_hints_as_a_list_or_the_verbs_comma_separated_string() -> None:
    assert read_hints({"hints": ["Acme", " ", "Sonny "]}) == HintsMessage(("Acme", "Sonny"))
    assert read_hints({"hints": "Acme,Sonny"}) == HintsMessage(("Acme", "Sonny"))
    assert read_hints({"hints": ""}) == HintsMessage(())
