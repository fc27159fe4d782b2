"""A ConversationRelay app on a SIP call: ``sipgw serve --agent twiml`` between a real baresip
caller and an app written from Twilio's docs (tests/toolkit/apps/relay_app.py), its TwiML
``<Connect action><ConversationRelay url>`` built with the official ``twilio`` SDK
(docs/twilio-apps.md, "ConversationRelay").

The speech services are the AssemblyAI and ElevenLabs fakes (tests/toolkit/fakes/threaded.py):
the fake STT hears the caller's tone bursts as turns and gives each the next scripted
transcript; the fake TTS speaks text as a tone. The conversation: the greeting heard; "What
time is it" -> ``prompt`` -> the app's tokens -> its reply heard; "Tell me something long"
-> a long reply, which the caller talks over -> ``interrupt`` with the text heard and the
reply cut at the caller's ear; that turn ("Goodbye") -> ``end`` with ``handoffData`` -> the
action (signed, with ``HandoffData``) -> its ``<Say>`` heard -> ``<Hangup>``. With
``echoPromptFiltering`` and ``interruptSensitivity="low"``: the caller's line sends the agent's
reply back (the fake STT's transcript of that burst is the reply's words), and that echo is no
prompt, cuts nothing, and is counted in the record. With ``applicationReconnect``: the app's
socket dropped mid-call (a redeploy's 1001, the new instance up seconds later), the caller
hears the session's line while it is away, and their next turn is answered once it is back. An app
that changes its voice and language mid-call (``config``): its next reply is heard in the new
voice, the next prompt comes in the new language.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.twiml.voice_response import VoiceResponse

from sipgw.app.evaluation.audio import analyse, tone_spans, write_pattern
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.toolkit.apps.relay_app import LONG_REPLY, RelayApp
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

TOKEN = "7" * 32
ACCOUNT = "AC" + "6" * 32
GREETING = "Hello, how can I help?"
SPEECH_HZ, GREETING_HZ, REPLY_HZ, LONG_HZ, AFTER_HZ = 300, 500, 700, 900, 1100
HOLD_HZ, STILL_HZ = 1300, 1500
TURNS = ["What time is it", "Tell me something long", "Goodbye"]


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    tones = {"One moment": HOLD_HZ, "still there": STILL_HZ,  # before "You said"
             "Hello": GREETING_HZ, "You said": REPLY_HZ, "opening hours": LONG_HZ,
             "weekdays": LONG_HZ, "Saturdays": LONG_HZ, "Sundays": LONG_HZ,
             "Transferring": AFTER_HZ}  # fmt: skip
    with fakes_in_threads(tmp_workdir, tones, tts_speed=4.0) as fakes:
        yield fakes


@pytest.fixture
def apps() -> Iterator[tuple[TwilioSdkApp, RelayApp]]:
    web = TwilioSdkApp(TOKEN).start_in_thread()
    relay = RelayApp(TOKEN)
    assert web._loop is not None
    asyncio.run_coroutine_threadsafe(relay.start(), web._loop).result(10)
    try:
        yield web, relay
    finally:
        asyncio.run_coroutine_threadsafe(relay.stop(), web._loop).result(10)
        web.stop_thread()


def relay_twiml(relay: RelayApp, **attrs: object) -> object:
    def build(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/after":
            response.say("Transferring you to a person.")
            response.hangup()
            return response
        connect = response.connect(action=app.url.rsplit("/", 1)[0] + "/after")
        noun = connect.conversation_relay(url=relay.url, welcome_greeting=GREETING,
                                          dtmf_detection=True, **attrs)  # fmt: skip
        noun.parameter(name="CallerNumber", value=request.params.get("From", ""))
        return response

    return build


def relay_env(services: ThreadedFakes, twiml_url: str, tmp_workdir: Path) -> dict[str, str]:
    """The twiml agent's settings: the app's URL and account, the fakes as its speech."""
    return {
        **services.env, "SIPGW_TWIML_URL": twiml_url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
        "SIPGW_TWIML_AUTH_TOKEN": TOKEN, "SIPGW_TWIML_RECORD_DIR": str(tmp_workdir / "calls"),
        "SIPGW_TWIML_STT": "assemblyai", "SIPGW_TWIML_TTS": "elevenlabs",
    }  # fmt: skip


def relay_call(
    tmp_workdir: Path,
    services: ThreadedFakes,
    web: TwilioSdkApp,
    pattern: list[Any],
    within: float = 40,
) -> tuple[Path, list[dict[str, Any]]]:
    """A baresip caller playing ``pattern`` (tone bursts, -12 dBFS) calls the gateway, whose
    TwiML app is ``web``, until the action's ``<Hangup>`` (at most ``within`` s): what the
    caller heard and the call's record."""
    caller_wav = write_pattern(tmp_workdir / "audio" / "caller.wav", pattern, -12.0)
    env = relay_env(services, web.url, tmp_workdir)
    with (
        GatewayProcess(tmp_workdir, agent="twiml", allow_from="127.0.0.0/8", extra_env=env) as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=caller_wav) as caller,
    ):
        caller.dial(gw.uri("relay"))
        caller.wait_event("CALL_ESTABLISHED", 10)
        caller.wait_event("CALL_CLOSED", within)
        heard, _ = caller.recordings()
        assert gw.stop() == 0
    record = [json.loads(line) for path in sorted((tmp_workdir / "calls").glob("*.jsonl"))
              for line in path.read_text().splitlines()]  # fmt: skip
    return heard, record


def test_a_conversation_relay_app_talks_with_a_baresip_caller(
    tmp_workdir: Path, services: ThreadedFakes, apps: tuple[TwilioSdkApp, RelayApp]
) -> None:
    web, relay = apps
    web.twiml = relay_twiml(relay)  # type: ignore[assignment]
    services.stt.script(TURNS)
    # the caller: quiet through the greeting, a question, quiet through the answer, a second
    # question, then talking over the long answer (that turn is the third transcript)
    heard, record = relay_call(tmp_workdir, services, web, [
        (None, 2.5), (SPEECH_HZ, 0.8), (None, 3.5), (SPEECH_HZ, 0.8), (None, 2.0),
        (SPEECH_HZ, 1.0), (None, 30.0),
    ])  # fmt: skip
    seen = relay.sessions[0]
    assert seen.handshake_valid, "the SDK's RequestValidator refused the wss handshake"
    setup = seen.of_type("setup")[0]
    voice = next(r for r in web.requests if r.path == "/voice")
    assert setup["callSid"] == voice.params["CallSid"]
    assert setup["customParameters"] == {"CallerNumber": voice.params["From"]}
    prompts = [m["voicePrompt"] for m in seen.of_type("prompt")]
    assert prompts == TURNS, seen.messages
    (interrupt,) = seen.of_type("interrupt")
    said = interrupt["utteranceUntilInterrupt"]
    assert said and LONG_REPLY.startswith(said) and len(said) < len(LONG_REPLY), interrupt
    assert 200 <= interrupt["durationUntilInterruptMs"] < len(LONG_REPLY) * 20, interrupt
    after = [r for r in web.requests if r.path == "/after"]
    assert len(after) == 1 and after[0].valid
    assert after[0].params["HandoffData"] == relay.handoff
    assert after[0].params["SessionStatus"] == "ended"
    report = analyse(heard)
    for hz in (GREETING_HZ, REPLY_HZ, LONG_HZ, AFTER_HZ):
        assert tone_spans(report, hz), (hz, report.describe())
    long_heard = sum(end - start for start, end in tone_spans(report, LONG_HZ))
    assert long_heard < len(LONG_REPLY) * 0.020 - 1.0, long_heard  # cut, not played whole
    ended = next(line for line in record if line["type"] == "twiml_relay_ended")
    assert ended["prompts"] == 3 and ended["interrupts"] == 1 and ended["handoff"]


def test_an_echo_of_the_agent_is_no_prompt_with_echo_prompt_filtering(
    tmp_workdir: Path, services: ThreadedFakes, apps: tuple[TwilioSdkApp, RelayApp]
) -> None:
    web, relay = apps
    web.twiml = relay_twiml(  # type: ignore[assignment]
        relay, echo_prompt_filtering=True, interrupt_sensitivity="low"
    )
    services.stt.script(["What time is it", "You said what time is it.", "Goodbye"])
    # a question, the reply coming back from the caller's side soon after, then goodbye
    _, record = relay_call(tmp_workdir, services, web, [
        (None, 2.5), (SPEECH_HZ, 0.8), (None, 2.0), (SPEECH_HZ, 0.8), (None, 3.0),
        (SPEECH_HZ, 0.8), (None, 30.0),
    ])  # fmt: skip
    seen = relay.sessions[0]
    prompts = [m["voicePrompt"] for m in seen.of_type("prompt")]
    assert prompts == ["What time is it", "Goodbye"], seen.messages
    assert not seen.of_type("interrupt"), seen.messages
    ended = next(line for line in record if line["type"] == "twiml_relay_ended")
    assert ended["prompts"] == 2 and ended["echoes"] == 1 and ended["interrupts"] == 0


def test_the_app_dropped_mid_call_comes_back_and_answers_the_next_turn(
    tmp_workdir: Path, services: ThreadedFakes, apps: tuple[TwilioSdkApp, RelayApp]
) -> None:
    web, relay = apps
    # the app answers the first turn, then its instance goes (1001) for 5 s: the caller's
    # second turn comes while it is away; the third ends the session
    relay.drop_after, relay.away_for = "time", 5.0
    web.twiml = relay_twiml(relay, application_reconnect=True)  # type: ignore[assignment]
    services.stt.script(["What time is it", "Are you still there", "Goodbye"])
    heard, record = relay_call(tmp_workdir, services, web, [
        (None, 2.5), (SPEECH_HZ, 0.8), (None, 3.5), (SPEECH_HZ, 0.8), (None, 7.0),
        (SPEECH_HZ, 0.8), (None, 30.0),
    ], within=50)  # fmt: skip
    first, back = relay.sessions[0], relay.sessions[1]
    assert [m["voicePrompt"] for m in first.of_type("prompt")] == ["What time is it"]
    assert back.handshake_valid and back.resumed, back.messages
    assert back.messages[0] == first.of_type("setup")[0]  # setup again, the same one
    prompts = [m["voicePrompt"] for m in back.of_type("prompt")]
    assert prompts == ["Are you still there", "Goodbye"], back.messages
    assert relay.refused >= 1 and len(relay.sessions) == 2
    after = [r for r in web.requests if r.path == "/after"]
    assert len(after) == 1 and after[0].params["SessionStatus"] == "ended"
    report = analyse(heard)
    for hz in (GREETING_HZ, REPLY_HZ, HOLD_HZ, STILL_HZ, AFTER_HZ):
        assert tone_spans(report, hz), (hz, report.describe())
    # the line while away, then the answer to the turn made then
    assert tone_spans(report, HOLD_HZ)[0][0] < tone_spans(report, STILL_HZ)[0][0]
    ended = next(line for line in record if line["type"] == "twiml_relay_ended")
    assert ended["reconnects"] == 1 and ended["prompts"] == 3 and ended["events_dropped"] == 0


VOICE_EN, VOICE_ES = "EnglishVoice0000001", "SpanishVoice0000002"
EN_HZ, ES_HZ = 600, 1700


def test_an_app_changes_its_voice_and_language_mid_call(
    tmp_workdir: Path, services: ThreadedFakes, apps: tuple[TwilioSdkApp, RelayApp]
) -> None:
    """The app answers the first turn in English, then sends a ``config`` that declares
    Spanish with another ElevenLabs voice and switches both languages to it: its answer to
    the second turn is heard in that voice (each voice its own tone at the caller's ear),
    the third prompt comes as ``es-ES``, and every update was answered ``configUpdated``."""
    web, relay = apps
    web.twiml = relay_twiml(relay, language="en-US", voice=VOICE_EN)  # type: ignore[assignment]
    services.tts.map_voice(VOICE_EN, EN_HZ)
    services.tts.map_voice(VOICE_ES, ES_HZ)
    relay.updates = {2: {"type": "config", "ttsLanguage": "es-ES",
                         "transcriptionLanguage": "es-ES",
                         "languages": [{"code": "es-ES", "voice": VOICE_ES}]}}  # fmt: skip
    services.stt.script(["What time is it", "Qué hora es", "Goodbye"])
    heard, record = relay_call(tmp_workdir, services, web, [
        (None, 2.5), (SPEECH_HZ, 0.8), (None, 3.5), (SPEECH_HZ, 0.8), (None, 3.5),
        (SPEECH_HZ, 0.8), (None, 30.0),
    ])  # fmt: skip
    seen = relay.sessions[0]
    prompts = [(m["voicePrompt"], m["lang"]) for m in seen.of_type("prompt")]
    assert prompts == [("What time is it", "en-US"), ("Qué hora es", "en-US"),
                       ("Goodbye", "es-ES")], seen.messages  # fmt: skip
    assert len(seen.of_type("configUpdated")) == 1 and not seen.of_type("error"), seen.messages
    report = analyse(heard)
    english, spanish = tone_spans(report, EN_HZ), tone_spans(report, ES_HZ)
    assert english and spanish, report.describe()
    assert max(end for _, end in english) <= min(start for start, _ in spanish) + 0.1, (
        english,
        spanish,
    )  # the greeting and the first reply in English, then Spanish
    ended = next(line for line in record if line["type"] == "twiml_relay_ended")
    assert ended["prompts"] == 3 and ended["updates"] == 1
