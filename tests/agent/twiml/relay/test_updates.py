"""A ConversationRelay app updating its session mid-call (``config``, ``hints``), in process:
the app is the toolkit's real WebSocket server, the call a fake; each update answered with
``configUpdated`` and followed from the next reply, key or turn; a bad one refused whole."""

from __future__ import annotations

import asyncio
import json

from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.agent.twiml.relay.session import RelaySession
from sipgw.agent.twiml.say import SayVoice
from tests.agent.parts import ScriptedTts, wait_for
from tests.agent.twiml.relay.test_session import (
    GREETING,
    ConfigurableStt,
    LanguageVoices,
    apps,
    relay_with_languages,
    start_relay,
)
from tests.toolkit.apps.relay_app import RelayApp, RelaySessionSeen
from tests.toolkit.twilio_app import TwilioSdkApp

__all__ = ["apps"]  # the fixture, shared with test_session


async def updated(seen: RelaySessionSeen, message: dict[str, object]) -> None:
    """``message`` sent; returns once its ``configUpdated`` came back."""
    before = len(seen.of_type("configUpdated"))
    await seen.ws.send(json.dumps(message))
    await wait_for(lambda: len(seen.of_type("configUpdated")) > before, 3)


def session_of(agent: TwimlAgent) -> RelaySession:
    relayed = agent.verbs.relay.relayed
    assert relayed is not None
    return relayed


async def test_a_config_changes_a_voice_adds_a_language_and_the_session_settings(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    """The English voice changed (the next English reply speaks with it), a language the
    TwiML did not declare added and switched to in the same message, keys reported once
    ``dtmfDetection`` is on, the recognizer told its new silence and threshold, and
    ``hints`` replacing its key terms; a bad ``config`` is an ``error`` and changes nothing."""
    web, relay = apps
    voices, stt = LanguageVoices(), ConfigurableStt()
    say = SayVoice(voices.make, {"alice": "EN_VOICE", "polly.lucia": "ES_VOICE",
                                 "hans": "DE_VOICE"}, "eleven_flash_v2_5")  # fmt: skip
    web.twiml = relay_with_languages(relay, hints="Acme", welcome_greeting=GREETING)
    agent, ticker, seen = await start_relay(web, relay, tts=say, stt=lambda: stt)
    await wait_for(lambda: voices.spoke("EN_VOICE", GREETING), 3)

    agent.on_dtmf("1")  # dtmfDetection is off: no dtmf
    await updated(seen, {"type": "config", "dtmfDetection": True, "speechTimeout": "1500",
                         "eotThreshold": 0.6, "interruptSensitivity": "low",
                         "languages": [{"code": "en-US", "voice": "Polly.Lucia"}]})  # fmt: skip
    agent.on_dtmf("2")
    await wait_for(lambda: seen.of_type("dtmf"), 3)
    assert seen.of_type("dtmf") == [{"type": "dtmf", "digit": "2"}]
    await wait_for(lambda: len(stt.configured) == 2, 3)
    assert stt.configured[1] == (
        {"max_turn_silence": 1500, "end_of_turn_confidence_threshold": 0.6},
        True,
    )
    session = session_of(agent)
    assert session.turns.commit_ms == 1200 and session.turns.min_words == 4  # low
    assert session.turns.vad.config.start_ms == 200
    await seen.ws.send(json.dumps({"type": "text", "token": "Hello again.", "last": True}))
    await wait_for(lambda: voices.spoke("ES_VOICE", "Hello again."), 3)
    assert ("ES_VOICE", "en") in [(v, lang) for v, lang, _ in voices.made]

    await updated(seen, {"type": "config", "ttsLanguage": "de-DE",
                         "languages": [{"code": "de-DE", "voice": "Hans"}]})  # fmt: skip
    await seen.ws.send(json.dumps({"type": "text", "token": "Guten Tag.", "last": True}))
    await wait_for(lambda: voices.spoke("DE_VOICE", "Guten Tag."), 3)
    assert ("DE_VOICE", "de") in [(v, lang) for v, lang, _ in voices.made]

    await updated(seen, {"type": "hints", "hints": ["Sonny", "Cher"]})
    await wait_for(lambda: len(stt.configured) == 3, 3)
    assert stt.configured[2] == ({"keyterms_prompt": ["Sonny", "Cher"]}, True)

    await seen.ws.send(json.dumps({"type": "config", "dtmfDetection": False,
                                   "welcomeGreeting": "Hi"}))  # fmt: skip
    await wait_for(lambda: seen.of_type("error"), 3)
    refused = seen.of_type("error")[0]["description"]
    assert "'welcomeGreeting' cannot change during a call" in refused
    agent.on_dtmf("3")  # the bad config changed nothing: still reported
    await wait_for(lambda: len(seen.of_type("dtmf")) == 2, 3)
    assert len(seen.of_type("configUpdated")) == 3 and session.updates == 3
    await ticker.stop()
    await agent.close("hangup")
    assert all(tts.closed for _, _, tts in voices.made)  # the replaced voice too
    ended = [x for x in agent.record.lines if x["type"] == "twiml_relay_ended"]
    assert ended and ended[0]["updates"] == 3


async def test_a_config_switches_echo_filtering_and_what_is_reported_while_the_agent_speaks(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    stt = ConfigurableStt()
    web.twiml = relay_with_languages(relay)
    agent, ticker, seen = await start_relay(web, relay, tts=lambda: ScriptedTts(),
                                            stt=lambda: stt)  # fmt: skip
    session = session_of(agent)
    assert session.listener.echo is None
    await updated(seen, {"type": "config", "echoPromptFiltering": True,
                         "reportInputDuringAgentSpeech": "dtmf", "partialPrompts": True,
                         "interruptible": "none", "preemptible": True})  # fmt: skip
    assert session.listener.echo is not None
    assert session.listener.relay.report_input_during_agent_speech == "dtmf"
    assert session.speaker.relay.interruptible == "none" and session.speaker.relay.preemptible
    assert stt.configured == []  # nothing the recognizer takes changed
    await updated(seen, {"type": "config", "session": {"echoPromptFiltering": False}})
    assert session.listener.echo is None
    await asyncio.sleep(0)
    await ticker.stop()
    await agent.close("hangup")
