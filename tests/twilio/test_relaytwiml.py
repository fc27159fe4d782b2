"""``<Connect><ConversationRelay>`` as the official SDK writes it, read into a verb."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import VoiceResponse

from sipgw.agent.twiml.program import Fetch, Program, Run
from sipgw.twilio.document import REFUSED, TwimlError, Unsupported, parse_twiml
from sipgw.twilio.relaytwiml import (
    ConnectRelay,
    ConversationRelay,
    RelayLanguage,
    speech_timeout_ms,
)


def test_the_sdks_conversation_relay_with_every_attribute_read() -> None:
    response = VoiceResponse()
    connect = response.connect(action="https://app.example.com/after")
    relay = connect.conversation_relay(
        url="wss://app.example.com/relay",
        welcome_greeting="Hi! How can I help?",
        welcome_greeting_interruptible="none",
        interruptible="speech",
        dtmf_detection=True,
        language="en-US",
        tts_provider="ElevenLabs",
        voice="alice",
        transcription_provider="Deepgram",
        speech_model="nova-3",
        hints="sipgw, Kamailio",
        preemptible=True,
        report_input_during_agent_speech="dtmf",
        partial_prompts=True,
        debug="debugging",
    )
    relay.language(code="fr-FR", tts_provider="Google", voice="fr-FR-Neural2-A")
    relay.parameter(name="customer", value="42")
    verbs = parse_twiml(str(response))
    assert verbs == (
        ConnectRelay(
            ConversationRelay(
                url="wss://app.example.com/relay", welcome_greeting="Hi! How can I help?",
                welcome_greeting_interruptible="none", interruptible="speech",
                dtmf_detection=True, language="en-US", tts_provider="ElevenLabs", voice="alice",
                transcription_provider="Deepgram", speech_model="nova-3",
                hints=("sipgw", "Kamailio"), preemptible=True,
                report_input_during_agent_speech="dtmf", partial_prompts=True,
                languages=(RelayLanguage("fr-FR", "Google", "fr-FR-Neural2-A"),),
                parameters=(("customer", "42"),), events=frozenset({"debugging"}),
            ),
            "https://app.example.com/after",
        ),
    )  # fmt: skip


def test_defaults_and_booleans() -> None:
    (verb,) = parse_twiml('<Response><Connect><ConversationRelay url="wss://a/b" '
                          'interruptible="false" welcomeGreetingInterruptible="true"/>'
                          "</Connect></Response>")  # fmt: skip
    assert isinstance(verb, ConnectRelay)
    assert verb.action == ""
    assert verb.relay.interruptible == "none"
    assert verb.relay.welcome_greeting_interruptible == "any"
    assert not verb.relay.dtmf_detection
    assert verb.relay.language == ""
    assert verb.relay.report_input_during_agent_speech == "none"
    assert not verb.relay.partial_prompts
    for given, read in (("true", "any"), ("false", "none"), ("Speech", "speech")):
        relay = f'<ConversationRelay url="wss://a/b" reportInputDuringAgentSpeech="{given}"/>'
        (verb,) = parse_twiml(f"<Response><Connect>{relay}</Connect></Response>")
        assert isinstance(verb, ConnectRelay)
        assert verb.relay.report_input_during_agent_speech == read


@pytest.mark.parametrize(
    ("relay", "error"),
    [
        ("<ConversationRelay/>", "<ConversationRelay> without a url"),
        ('<ConversationRelay url="wss://a" interruptible="maybe"/>', "interruptible='maybe'"),
        ('<ConversationRelay url="wss://a" dtmfDetection="yes"/>', "dtmfDetection='yes'"),
        ('<ConversationRelay url="wss://a" reportInputDuringAgentSpeech="all"/>',
         "reportInputDuringAgentSpeech='all'"),
        ('<ConversationRelay url="wss://a"><Stream url="x"/></ConversationRelay>',
         "<Stream> inside"),
        ('<ConversationRelay url="wss://a"><Language/></ConversationRelay>', "without a code"),
        ('<ConversationRelay url="wss://a"><Parameter value="1"/></ConversationRelay>',
         "without a name"),
        ('<ConversationRelay url="wss://a" events="speaker-events everything"/>',
         "events='everything'"),
        ('<ConversationRelay url="wss://a" ttsTextNormalization="yes"/>',
         "ttsTextNormalization='yes'"),
        ('<ConversationRelay url="wss://a" interruptSensitivity="max"/>',
         "interruptSensitivity='max'"),
        ('<ConversationRelay url="wss://a" ignorebackchannel="sometimes"/>',
         "ignorebackchannel='sometimes'"),
        ('<ConversationRelay url="wss://a" turnDetection="1"/>', "turnDetection='1'"),
        ('<ConversationRelay url="wss://a" echoPromptFiltering="on"/>',
         "echoPromptFiltering='on'"),
        ('<ConversationRelay url="wss://a" speechtimeout="soon"/>', "speechtimeout='soon'"),
        ('<ConversationRelay url="wss://a" speechTimeout="2"/>', "speechtimeout='2'"),
        ('<ConversationRelay url="wss://a" eotThreshold="high"/>', "eotThreshold='high'"),
    ],
)  # fmt: skip
def test_bad_relays_say_why(relay: str, error: str) -> None:
    with pytest.raises(TwimlError, match=error.replace("(", r"\(")):
        parse_twiml(f"<Response><Connect>{relay}</Connect></Response>")


def test_events_and_debug_ask_for_info_messages() -> None:
    relay = ('<ConversationRelay url="wss://a/b" events="speaker-events, tokens-played" '
             'debug="debugging" intelligenceService="GA1"/>')  # fmt: skip
    (verb,) = parse_twiml(f"<Response><Connect>{relay}</Connect></Response>")
    assert isinstance(verb, ConnectRelay)
    assert verb.relay.events == {"speaker-events", "tokens-played", "debugging"}
    assert verb.relay.ignored == ("intelligenceService",)


@pytest.mark.parametrize(
    ("attrs", "read"),
    [('elevenlabsTextNormalization="On"', "on"),
     ('ttsTextNormalization="off" elevenlabsTextNormalization="on"', "off"), ("", "")],
)  # fmt: skip
def test_text_normalization_the_tts_attribute_first(attrs: str, read: str) -> None:
    (verb,) = parse_twiml(f'<Response><Connect><ConversationRelay url="wss://a/b" {attrs}/>'
                          "</Connect></Response>")  # fmt: skip
    assert isinstance(verb, ConnectRelay) and verb.relay.text_normalization == read


def test_the_turn_taking_attributes_as_the_sdk_writes_them() -> None:
    response = VoiceResponse()
    response.connect().conversation_relay(
        url="wss://a/b", interrupt_sensitivity="Low", ignorebackchannel=False,
        speechtimeout="1500", turn_detection=True, echo_prompt_filtering=True,
        eager_eot_threshold="0.5", application_reconnect=True, partial_prompt_on_hangup=True,
    )  # fmt: skip
    (verb,) = parse_twiml(str(response))
    assert isinstance(verb, ConnectRelay)
    relay = verb.relay
    assert (relay.interrupt_sensitivity, relay.ignore_backchannel, relay.speech_timeout_ms,
            relay.turn_detection, relay.echo_prompt_filtering) == ("low", False, 1500, True,
                                                                   True)  # fmt: skip
    assert relay.partial_prompt_on_hangup and relay.application_reconnect
    assert relay.ignored == ("eagerEotThreshold",)


def test_the_end_of_turn_threshold() -> None:
    response = VoiceResponse()
    response.connect().conversation_relay(url="wss://a/b", eot_threshold="0.7")
    (verb,) = parse_twiml(str(response))
    assert isinstance(verb, ConnectRelay) and verb.relay.eot_threshold == 0.7


def test_the_turn_taking_defaults_and_camel_case() -> None:
    relay = '<ConversationRelay url="wss://a/b" ignoreBackchannel="true" speechTimeout="auto"/>'
    (verb,) = parse_twiml(f"<Response><Connect>{relay}</Connect></Response>")
    assert isinstance(verb, ConnectRelay)
    read = verb.relay
    assert read == ConversationRelay("wss://a/b")  # the defaults: today's turn-taking
    assert read.interrupt_sensitivity == "high" and read.ignore_backchannel
    assert read.speech_timeout_ms is None and not read.turn_detection
    assert not read.echo_prompt_filtering and not read.partial_prompt_on_hangup
    assert not read.application_reconnect


def test_application_reconnect_is_true_or_false() -> None:
    relay = '<ConversationRelay url="wss://a/b" applicationReconnect="maybe"/>'
    with pytest.raises(ValueError, match="applicationReconnect='maybe'"):
        parse_twiml(f"<Response><Connect>{relay}</Connect></Response>")


@pytest.mark.parametrize(
    ("value", "ms"),
    [("auto", None), ("", None), ("AUTO", None), ("1500", 1500), ("800ms", 800),
     ("1.5s", 1500), ("2 s", 2000), ("100", 100), ("10000", 10000)],
)  # fmt: skip
def test_speech_timeout_in_milliseconds_or_auto(value: str, ms: int | None) -> None:
    assert speech_timeout_ms(value) == ms


@pytest.mark.parametrize("value", ["2", "99", "10001", "-500", "1500.5", "nan", "1.5m", "ms"])
def test_speech_timeout_refuses_what_cannot_be_read(value: str) -> None:
    with pytest.raises(ValueError, match=f"speechtimeout={value!r}"):
        speech_timeout_ms(value)


def test_the_program_runs_it_then_fetches_the_action() -> None:
    verbs = parse_twiml('<Response><Connect action="/after"><ConversationRelay url="wss://a/r"/>'
                        "</Connect><Hangup/></Response>")  # fmt: skip
    program = Program(verbs, "https://app.example.com/voice")
    step = program.next_step(0.0)
    assert isinstance(step, Run) and isinstance(step.verb, ConnectRelay)
    assert program.next_step(0.0) == Fetch("https://app.example.com/after", "POST",
                                           "<ConnectRelay action>")  # fmt: skip


def test_other_connect_nouns_are_still_refused_by_name() -> None:
    assert parse_twiml("<Response><Connect><Room>r</Room></Connect></Response>") == (
        Unsupported("Connect><Room", REFUSED["Connect><Room"]),
    )
