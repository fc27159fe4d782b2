"""ConversationRelay's messages: Twilio's field names both ways, and clear errors for bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sipgw.twilio.relay import (
    MAX_RELAY_CHARS,
    ConfigMessage,
    ConfigUpdatedMessage,
    DtmfMessage,
    EndMessage,
    ErrorMessage,
    HintsMessage,
    InfoMessage,
    InterruptMessage,
    LanguageMessage,
    MalformedRelayMessage,
    PlayMessage,
    PromptMessage,
    SendDigitsMessage,
    SetupMessage,
    TextMessage,
    parse_app_message,
    parse_platform_message,
    serialize,
)
from sipgw.twilio.relayconfig import LanguageSettings

SETUP = SetupMessage("VX" + "0" * 32, "AC" + "1" * 32, "CA" + "2" * 32, "+15551234567",
                     "+15557654321", custom_parameters=(("callReference", "bar"),))  # fmt: skip

# (message, its JSON as Twilio's docs write it)
PLATFORM_CASES: list[tuple[Any, dict[str, Any]]] = [
    (SETUP, {"type": "setup", "sessionId": "VX" + "0" * 32, "accountSid": "AC" + "1" * 32,
             "parentCallSid": "", "callSid": "CA" + "2" * 32, "from": "+15551234567",
             "to": "+15557654321", "forwardedFrom": "", "callType": "SIP", "callerName": "",
             "direction": "inbound", "callStatus": "IN-PROGRESS",
             "customParameters": {"callReference": "bar"}}),
    (PromptMessage("Hello there", "en-US", True),
     {"type": "prompt", "voicePrompt": "Hello there", "lang": "en-US", "last": True}),
    (DtmfMessage("1"), {"type": "dtmf", "digit": "1"}),
    (InterruptMessage("Welcome to", 460),
     {"type": "interrupt", "utteranceUntilInterrupt": "Welcome to",
      "durationUntilInterruptMs": 460}),
    (ErrorMessage("Invalid message received: unknown type 'foo'"),
     {"type": "error", "description": "Invalid message received: unknown type 'foo'"}),
    (InfoMessage("tokensPlayed", "Hello there."),
     {"type": "info", "name": "tokensPlayed", "value": "Hello there."}),
    (ConfigUpdatedMessage(), {"type": "configUpdated"}),
]  # fmt: skip

APP_CASES: list[tuple[Any, dict[str, Any]]] = [
    (TextMessage("Hello"), {"type": "text", "token": "Hello", "last": False}),
    (TextMessage("world.", True, "en-US", "speech", True),
     {"type": "text", "token": "world.", "last": True, "lang": "en-US", "interruptible": "speech",
      "preemptible": True}),
    (PlayMessage("https://example.com/a.wav", 2, "none"),
     {"type": "play", "source": "https://example.com/a.wav", "loop": 2, "interruptible": "none"}),
    (SendDigitsMessage("9www4085096"), {"type": "sendDigits", "digits": "9www4085096"}),
    (LanguageMessage("sv-SE", "en-US"),
     {"type": "language", "ttsLanguage": "sv-SE", "transcriptionLanguage": "en-US"}),
    (EndMessage('{"reasonCode":"live-agent-handoff"}'),
     {"type": "end", "handoffData": '{"reasonCode":"live-agent-handoff"}'}),
    (EndMessage(), {"type": "end"}),
    (ConfigMessage(interruptible="speech", dtmf_detection=True, speech_timeout="1500",
                   interrupt_sensitivity="low", eot_threshold=0.7, ignore_backchannel=False,
                   tts_language="es-ES",
                   languages=(LanguageSettings("es-ES", "ElevenLabs", "Lucia", hints=("Acme",)),)),
     {"type": "config", "interruptible": "speech", "dtmfDetection": True, "speechTimeout": "1500",
      "interruptSensitivity": "low", "ignoreBackchannel": False, "eotThreshold": 0.7,
      "ttsLanguage": "es-ES",
      "languages": [{"code": "es-ES", "ttsProvider": "ElevenLabs", "voice": "Lucia",
                     "hints": ["Acme"]}]}),
    (HintsMessage(("Acme", "Sonny")), {"type": "hints", "hints": ["Acme", "Sonny"]}),
]  # fmt: skip


@pytest.mark.parametrize(("message", "wire"), PLATFORM_CASES)
def test_platform_messages_round_trip(message: Any, wire: dict[str, Any]) -> None:
    assert json.loads(serialize(message)) == wire
    assert parse_platform_message(serialize(message)) == message
    assert parse_platform_message(json.dumps(wire).encode()) == message


@pytest.mark.parametrize(("message", "wire"), APP_CASES)
def test_app_messages_round_trip(message: Any, wire: dict[str, Any]) -> None:
    assert json.loads(serialize(message)) == wire
    assert parse_app_message(json.dumps(wire)) == message


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"type": "text", "token": "Hi", "interruptible": True},
         TextMessage("Hi", interruptible="any")),
        ({"type": "text", "token": "Hi", "interruptible": "false"},
         TextMessage("Hi", interruptible="none")),
        ({"type": "text", "token": "Hi", "last": "true"}, TextMessage("Hi", True)),
        ({"type": "play", "source": " https://x/a.wav "}, PlayMessage("https://x/a.wav")),
        ({"type": "end", "handoffData": {"reason": "x"}}, EndMessage('{"reason":"x"}')),
        ({"type": "language", "ttsLanguage": "fr-FR"}, LanguageMessage("fr-FR")),
        ({"type": "text", "token": "Hi", "extra": 1}, TextMessage("Hi")),
        ({"type": "config", "session": {"partialPrompts": "true"}, "language": "fr-FR"},
         ConfigMessage(partial_prompts=True, tts_language="fr-FR",
                       transcription_language="fr-FR")),
        ({"type": "config", "reportInputDuringAgentSpeech": True, "speechTimeout": 700},
         ConfigMessage(report_input_during_agent_speech="any", speech_timeout="700")),
        ({"type": "config", "languages": {"de-DE": {"voice": "Hans"}}},
         ConfigMessage(languages=(LanguageSettings("de-DE", voice="Hans"),))),
        ({"type": "hints", "hints": "Acme, Sonny,"}, HintsMessage(("Acme", "Sonny"))),
    ],
)  # fmt: skip
def test_app_messages_as_apps_write_them(wire: dict[str, Any], message: Any) -> None:
    assert parse_app_message(json.dumps(wire)) == message


def test_interrupt_duration_as_a_string_of_digits() -> None:
    wire = '{"type":"interrupt","utteranceUntilInterrupt":"Hi","durationUntilInterruptMs":"460"}'
    assert parse_platform_message(wire) == InterruptMessage("Hi", 460)


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ("{}", "no 'type'"),
        ('{"type": ""}', "no 'type'"),
        ('{"type": "media"}', "unknown type 'media'"),
        ('{"type": "config", "welcomeGreeting": "Hi"}',
         "config: 'welcomeGreeting' cannot change during a call"),
        ('{"type": "config", "interruptible": "sometimes"}',
         "config: 'interruptible' 'sometimes': none, dtmf, speech, any"),
        ('{"type": "config", "speechTimeout": "5"}',
         "config: 'speechTimeout' '5': auto, or 100"),
        ('{"type": "config", "eotThreshold": 1.5}',
         "config: 'eotThreshold' '1.5': a number from 0"),
        ('{"type": "config", "interruptSensitivity": "max"}',
         "config: 'interruptSensitivity' 'max': low, medium, high"),
        ('{"type": "config", "partialPrompts": "maybe"}',
         "config: 'partialPrompts' must be true or false"),
        ('{"type": "config", "languages": [{"voice": "x"}]}', "config: 'code' must be a string"),
        ('{"type": "config", "languages": [{"code": "x", "speed": 2}]}',
         "config: a language's 'speed' is not a language setting"),
        ('{"type": "config", "session": 1}', "config: 'session' must be an object"),
        ('{"type": "hints"}', "hints: 'hints' is missing"),
        ('{"type": "hints", "hints": [1]}', "hints: 'hints' must be a list of strings"),
        ('{"type": "text"}', "text: 'token' is missing"),
        ('{"type": "text", "token": 5}', "text: 'token' must be a string, not int"),
        ('{"type": "text", "token": "a", "last": "yes"}', "text: 'last' must be true or false"),
        ('{"type": "text", "token": "a", "interruptible": "sometimes"}',
         "text: 'interruptible' must be one of"),
        ('{"type": "play"}', "play: 'source' is missing"),
        ('{"type": "play", "source": " "}', "play: 'source' is empty"),
        ('{"type": "play", "source": "u", "loop": -1}', "play: 'loop' must be a whole number"),
        ('{"type": "play", "source": "u", "loop": true}', "play: 'loop' must be a whole number"),
        ('{"type": "sendDigits", "digits": "12x"}', "sendDigits: 'digits' must be keypad keys"),
        ('{"type": "sendDigits", "digits": ""}', "sendDigits: 'digits' must be keypad keys"),
        ('{"type": "language"}', "language: 'ttsLanguage' and 'transcriptionLanguage' are both"),
        ("x" * (MAX_RELAY_CHARS + 1), "a 65537-character message (at most 65536)"),
    ],
)  # fmt: skip
def test_malformed_app_messages_say_why(frame: str, error: str) -> None:
    with pytest.raises(MalformedRelayMessage, match="^" + _escape(error)):
        parse_app_message(frame)


def test_platform_messages_are_not_app_messages() -> None:
    with pytest.raises(MalformedRelayMessage, match="unknown type 'prompt'"):
        parse_app_message(serialize(PromptMessage("hi")))
    with pytest.raises(MalformedRelayMessage, match="unknown type 'text'"):
        parse_platform_message(serialize(TextMessage("hi")))
    with pytest.raises(MalformedRelayMessage, match="customParameters"):
        parse_platform_message('{"type":"setup","sessionId":"a","accountSid":"b","callSid":"c",'
                               '"from":"d","to":"e","customParameters":{"a":1}}')  # fmt: skip


def _escape(text: str) -> str:
    import re

    return re.escape(text)
