"""``<Connect><ConversationRelay>`` through the TwiML agent, against a ConversationRelay app
written from Twilio's docs (tests/toolkit/apps/relay_app.py) and TwiML from the official SDK:
the signed handshake and ``setup``, the greeting spoken, the caller's turn as ``prompt``, the
app's tokens spoken sentence by sentence, a barge-in as ``interrupt`` with the text heard,
``dtmf``, ``sendDigits``, an ``error`` for a bad message, and ``end`` posting ``HandoffData``
to the action, whose TwiML runs next. Speech services: the in-memory STT and TTS."""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from twilio.twiml.voice_response import VoiceResponse

from sipgw.agent.base import CallDetails
from sipgw.agent.services.stt.base import SttPartialTranscript, SttTurnEnded
from sipgw.agent.twiml.agent import TwimlAgent, TwimlSettings
from sipgw.agent.twiml.webhook import TwilioIdentity
from tests.agent.parts import (
    SILENT_FRAME,
    FakeCall,
    ScriptedStt,
    ScriptedTts,
    speech_frames,
    wait_for,
)
from tests.toolkit.apps.relay_app import LONG_REPLY, RelayApp, RelaySessionSeen
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

TOKEN = "b" * 32
ACCOUNT = "AC" + "3" * 32
GREETING = "Hello! How can I help?"


class Ticker:
    """The gateway's 20 ms tick: the caller's frames in (silence unless :attr:`speech` has
    some), the agent's out."""

    def __init__(self, agent: TwimlAgent) -> None:
        self.agent = agent
        self.speech: list[bytes] = []
        self.played: list[bytes | None] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        start, n = time.monotonic(), 0
        while True:
            frame = self.speech.pop(0) if self.speech else SILENT_FRAME
            self.agent.on_caller_audio(frame)
            self.agent.on_caller_frame(frame)
            self.played.append(self.agent.next_frame())
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

    def heard(self) -> int:
        return sum(frame is not None for frame in self.played)

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()


def relay_twiml(
    relay: RelayApp, **attrs: object
) -> Callable[[TwilioSdkApp, WebhookRequest], VoiceResponse]:
    def build(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/after":  # the <Connect action>
            response.hangup()
            return response
        connect = response.connect(action=f"{app.url.rsplit('/', 1)[0]}/after")
        noun = connect.conversation_relay(url=relay.url, welcome_greeting=GREETING,
                                          dtmf_detection=True, **attrs)  # fmt: skip
        noun.parameter(name="customer", value="42")
        return response

    return build


@pytest.fixture
async def apps() -> AsyncIterator[tuple[TwilioSdkApp, RelayApp]]:
    web, relay = TwilioSdkApp(TOKEN), RelayApp(TOKEN)
    await web.start()
    await relay.start()
    yield web, relay
    await relay.stop()
    await web.stop()


async def start_call(
    web: TwilioSdkApp, relay: RelayApp, **attrs: object
) -> tuple[TwimlAgent, FakeCall, Ticker, ScriptedStt, ScriptedTts, RelaySessionSeen]:
    web.twiml = relay_twiml(relay, **attrs)
    stt, tts = ScriptedStt(), ScriptedTts()
    call = FakeCall(details=CallDetails(caller_number="+15551234567", called_number="+15557654321"))
    settings = TwimlSettings(TwilioIdentity(ACCOUNT, TOKEN), url=web.url, timeout=2.0,
                             stream_open_timeout=2.0)  # fmt: skip
    agent = TwimlAgent(call, replace(settings, stt=lambda: stt, tts=lambda: tts))
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent)
    ticker.start()
    await wait_for(lambda: relay.sessions and relay.sessions[0].of_type("setup"), within=5)
    return agent, call, ticker, stt, tts, relay.sessions[0]


def turn(stt: ScriptedStt, text: str, order: int) -> None:
    stt.emit(SttTurnEnded(text, order, (), asyncio.get_running_loop().time(), None))


async def quiet(agent: TwimlAgent) -> None:
    """Until the agent has nothing left to say: no reply still taking text or audio (a
    sentence sent to the TTS has no audio queued until its first chunk), none queued."""

    def done() -> bool:
        relayed = agent.verbs.relay.relayed
        if relayed is None:
            return False
        return not relayed.speaker.speaking() and not relayed.playout.pending

    await wait_for(done, 5)


async def test_a_conversation_relay_app_runs_unchanged(apps: tuple[TwilioSdkApp, RelayApp]) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay)
    assert seen.handshake_valid  # the SDK's RequestValidator accepts the wss handshake
    setup = seen.of_type("setup")[0]
    assert setup["callSid"] == agent.call_sid and setup["accountSid"] == ACCOUNT
    assert setup["sessionId"].startswith("VX") and len(setup["sessionId"]) == 34
    assert (setup["from"], setup["to"], setup["direction"]) == ("+15551234567", "+15557654321",
                                                                "inbound")  # fmt: skip
    assert setup["customParameters"] == {"customer": "42"}
    # the greeting, spoken through the TTS and heard
    await wait_for(lambda: " ".join(tts.texts()) == GREETING, 3)
    await quiet(agent)
    heard_greeting = ticker.heard()
    assert heard_greeting >= len(GREETING) // 2  # 10 ms of audio per character
    # the caller's turn -> prompt; the app's tokens -> sentences -> audio
    turn(stt, "What time is it", 0)
    await wait_for(lambda: seen.of_type("prompt"), 3)
    assert seen.of_type("prompt") == [{"type": "prompt", "voicePrompt": "What time is it",
                                       "lang": "en-US", "last": True}]  # fmt: skip
    await wait_for(lambda: "You said What time is it." in tts.texts(), 3)
    await quiet(agent)
    assert ticker.heard() > heard_greeting + 10
    # a key -> dtmf
    agent.on_dtmf("5")
    await wait_for(lambda: seen.of_type("dtmf"), 3)
    assert seen.of_type("dtmf") == [{"type": "dtmf", "digit": "5"}]
    # a bad message -> error, the session goes on
    await seen.ws.send('{"type": "text"}')
    await wait_for(lambda: seen.of_type("error"), 3)
    assert "'token' is missing" in seen.of_type("error")[0]["description"]
    await seen.ws.send(json.dumps({"type": "sendDigits", "digits": "1w2#"}))
    await wait_for(lambda: call.dtmf, 3)
    assert call.dtmf == ["12#"]
    # end -> the action gets HandoffData, signed; its TwiML (<Hangup/>) runs
    turn(stt, "Goodbye", 1)
    await wait_for(lambda: call.hangups, 5)
    after = [r for r in web.requests if r.path == "/after"]
    assert len(after) == 1 and after[0].valid
    form = after[0].params
    assert form["HandoffData"] == relay.handoff
    assert form["SessionId"] == setup["sessionId"]
    assert form["SessionStatus"] == "ended" and form["CallSid"] == agent.call_sid
    assert form["CallStatus"] == "in-progress" and form["SessionDuration"].isdigit()
    assert agent.steps == ["relay", "fetch <ConnectRelay action>", "end hangup"]
    await ticker.stop()
    await agent.close("hangup")
    assert stt.closed and tts.closed


async def test_a_barge_in_cuts_the_reply_and_tells_what_was_heard(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay)
    await quiet(agent)
    turn(stt, "Tell me something long", 0)
    await wait_for(lambda: len(tts.texts()) >= 3, 3)
    relayed = agent.verbs.relay.relayed
    assert relayed is not None
    await wait_for(lambda: relayed.playout.played_ms(relayed.speaker._playing.id) >= 600, 5)
    before = len(ticker.played)
    ticker.speech = speech_frames(1.2)
    await wait_for(lambda: seen.of_type("interrupt"), 5)
    (interrupt,) = seen.of_type("interrupt")
    heard, played_ms = interrupt["utteranceUntilInterrupt"], interrupt["durationUntilInterruptMs"]
    assert heard and LONG_REPLY.startswith(heard)  # the words heard, from the TTS alignment
    assert len(heard) < len(LONG_REPLY) / 2
    # what was played, at 10 ms a character: the reply's frames before the pause (60 ms in)
    assert 600 <= played_ms <= (len(ticker.played) - before) * 20 + 700
    assert abs(played_ms - len(heard) * 10) <= 40
    assert tts.cancelled  # the TTS reply was cancelled
    await asyncio.sleep(0.1)
    assert not relayed.playout.pending  # its audio dropped
    await ticker.stop()
    await agent.close("hangup")


async def test_a_reply_that_may_not_be_cut_plays_on(apps: tuple[TwilioSdkApp, RelayApp]) -> None:
    web, relay = apps
    # the greeting may not be cut either: under load it may still play when the caller speaks
    agent, call, ticker, stt, tts, seen = await start_call(
        web, relay, interruptible="none", welcome_greeting_interruptible="none"
    )
    await wait_for(lambda: " ".join(tts.texts()) == GREETING, 3)
    ticker.speech = speech_frames(1.0)
    await asyncio.sleep(1.2)
    assert not seen.of_type("interrupt")
    assert not tts.cancelled
    await ticker.stop()
    await agent.close("hangup")


async def test_without_speech_to_text_the_verb_is_refused_by_name(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    web.twiml = relay_twiml(relay)
    call = FakeCall()
    settings = TwimlSettings(TwilioIdentity(ACCOUNT, TOKEN), url=web.url, timeout=2.0)
    agent = TwimlAgent(call, settings)
    await agent.prepare()
    agent.on_answered()
    await wait_for(lambda: call.hangups, 5)
    await agent.close("hangup")
    refused = [x for x in agent.record.lines if x["type"] == "twiml_refused"]
    assert refused and refused[0]["why"] == "no SIPGW_TWIML_STT is configured"
    assert not relay.sessions


async def test_play_an_audio_url_and_switch_the_prompts_language(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    from aiohttp import web as aioweb

    pcm = io.BytesIO()
    with wave.open(pcm, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x10" * 1600)  # 200 ms: 10 frames

    async def wav_file(request: aioweb.Request) -> aioweb.Response:
        return aioweb.Response(body=pcm.getvalue(), content_type="audio/x-wav")

    files = aioweb.Application()
    files.router.add_get("/hello.wav", wav_file)
    runner = aioweb.AppRunner(files, access_log=None)
    await runner.setup()
    await aioweb.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay)
    await quiet(agent)
    heard = ticker.heard()
    source = f"http://127.0.0.1:{port}/hello.wav"
    await seen.ws.send(json.dumps({"type": "play", "source": source, "loop": 2}))
    await wait_for(lambda: ticker.heard() >= heard + 20, 3)
    await quiet(agent)
    assert ticker.heard() == heard + 20  # the file, twice
    await seen.ws.send(json.dumps({"type": "play", "source": f"http://127.0.0.1:{port}/none"}))
    await wait_for(lambda: seen.of_type("error"), 3)
    assert seen.of_type("error")[0]["description"].startswith(f"play http://127.0.0.1:{port}/none")
    await seen.ws.send(json.dumps({"type": "language", "transcriptionLanguage": "fr-FR"}))
    await asyncio.sleep(0.05)
    turn(stt, "Bonjour", 0)
    await wait_for(lambda: seen.of_type("prompt"), 3)
    assert seen.of_type("prompt")[0]["lang"] == "fr-FR"
    await ticker.stop()
    await agent.close("hangup")
    await runner.cleanup()


# --------------------------------------------------------------------------- providers, languages


class ConfigurableStt(ScriptedStt):
    """AssemblyAI's ``update_configuration``, recorded (and whether it came before the
    session connected)."""

    def __init__(self, language: str = "") -> None:
        super().__init__()
        self.language = language
        self.configured: list[tuple[dict[str, object], bool]] = []
        self.connected = False

    async def update_configuration(self, **fields: object) -> None:
        self.configured.append((fields, self.connected))

    async def connect(self) -> None:
        await super().connect()
        self.connected = True


class LanguageVoices:
    """``SIPGW_TWIML_SAY_VOICES`` and the ElevenLabs maker, each client it made kept."""

    def __init__(self) -> None:
        self.made: list[tuple[str | None, str | None, ScriptedTts]] = []

    def make(self, voice: str | None, language: str | None) -> ScriptedTts:
        tts = ScriptedTts()
        self.made.append((voice, language, tts))
        return tts

    def spoke(self, voice: str, text: str) -> bool:
        return any(v == voice and text in " ".join(tts.texts()) for v, _, tts in self.made)


def relay_with_languages(
    relay: RelayApp, **attrs: object
) -> Callable[[TwilioSdkApp, WebhookRequest], VoiceResponse]:
    """The verb in English (voice ``alice``), a ``<Language>`` for Spanish (Amazon's
    ``Polly.Lucia``), ``attrs`` on the verb."""

    def build(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        noun = response.connect().conversation_relay(url=relay.url, language="en-US",
                                                     voice="alice", **attrs)  # fmt: skip
        noun.language(code="es-ES", tts_provider="Amazon", voice="Polly.Lucia",
                      transcription_provider="Deepgram")  # fmt: skip
        return response

    return build


async def start_relay(
    web: TwilioSdkApp, relay: RelayApp, **changes: object
) -> tuple[TwimlAgent, Ticker, RelaySessionSeen]:
    call = FakeCall(details=CallDetails(caller_number="+15551234567", called_number="+15557654321"))
    settings = TwimlSettings(TwilioIdentity(ACCOUNT, TOKEN), url=web.url, timeout=2.0,
                             stream_open_timeout=2.0)  # fmt: skip
    agent = TwimlAgent(call, replace(settings, **changes))  # type: ignore[arg-type]
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent)
    ticker.start()
    await wait_for(lambda: relay.sessions and relay.sessions[0].of_type("setup"), within=5)
    return agent, ticker, relay.sessions[0]


async def test_voices_per_language_switched_by_the_app_and_hints_as_key_terms(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    """``<Language code="es-ES" voice="Polly.Lucia">``: a ``language`` message's
    ``ttsLanguage`` switches the next reply to that voice, a ``text``'s ``lang`` speaks in
    its own; the verb's ``voice`` speaks English; the ``hints`` go to the recognizer as
    key terms before it connects; what is not followed is in the record."""
    from sipgw.agent.twiml.say import SayVoice

    web, relay = apps
    voices, stt = LanguageVoices(), ConfigurableStt()
    say = SayVoice(voices.make, {"alice": "EN_VOICE", "polly.lucia": "ES_VOICE"},
                   "eleven_flash_v2_5")  # fmt: skip
    web.twiml = relay_with_languages(relay, hints="Acme,Sonny", welcome_greeting=GREETING)
    agent, ticker, seen = await start_relay(web, relay, tts=say, stt=lambda: stt)
    await wait_for(lambda: voices.spoke("EN_VOICE", GREETING), 3)
    assert voices.made[0][:2] == ("EN_VOICE", "en")
    assert stt.configured == [({"keyterms_prompt": ["Acme", "Sonny"]}, False)]
    await seen.ws.send(json.dumps({"type": "language", "ttsLanguage": "es-ES"}))
    await seen.ws.send(json.dumps({"type": "text", "token": "Hola amigo.", "last": True}))
    await wait_for(lambda: voices.spoke("ES_VOICE", "Hola amigo."), 3)
    assert ("ES_VOICE", "es") in [(v, lang) for v, lang, _ in voices.made]
    await seen.ws.send(json.dumps({"type": "text", "token": "Hello there.", "last": True,
                                   "lang": "en-US"}))  # fmt: skip
    await wait_for(lambda: voices.spoke("EN_VOICE", "Hello there."), 3)
    assert len(voices.made) == 2  # each language's client made once
    await ticker.stop()
    await agent.close("hangup")
    assert all(tts.closed for _, _, tts in voices.made)
    ignored = [x["attribute"] for x in agent.record.lines if x["type"] == "twiml_relay_ignored"]
    assert any("transcriptionProvider='Deepgram'" in what for what in ignored)


async def test_a_transcription_language_its_model_does_not_follow_reopens_the_recognizer(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    made: list[ConfigurableStt] = []

    def spoken(language: str) -> ConfigurableStt:
        made.append(ConfigurableStt(language))
        return made[-1]

    web.twiml = relay_twiml(relay, language="en-US", hints="Acme")
    agent, ticker, seen = await start_relay(web, relay, tts=lambda: ScriptedTts(),
                                            stt=ConfigurableStt, stt_spoken=spoken)  # fmt: skip
    assert [s.language for s in made] == ["en-US"]
    await seen.ws.send(json.dumps({"type": "language", "transcriptionLanguage": "fr-FR"}))
    await asyncio.sleep(0.1)
    assert len(made) == 1  # u3-rt-pro follows French by itself
    await seen.ws.send(json.dumps({"type": "language", "transcriptionLanguage": "ja-JP"}))
    await wait_for(lambda: len(made) == 2 and made[0].closed, 3)
    japanese = made[1]
    assert japanese.connected and japanese.configured == [({"keyterms_prompt": ["Acme"]}, False)]
    await wait_for(lambda: japanese.audio, 2)  # the caller's audio goes to it now
    turn(japanese, "Konnichiwa", 0)
    await wait_for(lambda: seen.of_type("prompt"), 3)
    assert seen.of_type("prompt")[0]["voicePrompt"] == "Konnichiwa"
    assert seen.of_type("prompt")[0]["lang"] == "ja-JP"
    await ticker.stop()
    await agent.close("hangup")
    assert japanese.closed


async def test_a_preemptible_reply_is_cut_by_the_next_one_without_an_interrupt(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay)
    await quiet(agent)
    await seen.ws.send(json.dumps({"type": "text", "token": LONG_REPLY, "last": True,
                                   "preemptible": True}))  # fmt: skip
    relayed = agent.verbs.relay.relayed
    assert relayed is not None
    await wait_for(lambda: len(tts.replies) == 2, 3)
    first = relayed.speaker._playing
    assert first is not None and first.tts is tts.replies[1]
    await wait_for(lambda: relayed.playout.played_ms(first.id) >= 200, 5)
    assert first is not None
    await seen.ws.send(json.dumps({"type": "text", "token": "Actually, never mind.",
                                   "last": True}))  # fmt: skip
    await wait_for(lambda: "Actually, never mind." in tts.texts(), 3)
    assert relayed.playout.finished(first.id)  # its audio dropped at once
    # its TTS stream is cancelled by a task of its own (the new reply's text may go first)
    await wait_for(lambda: tts.cancelled == [first.tts.id], 3)
    await quiet(agent)
    await seen.ws.send(json.dumps({"type": "text", "token": LONG_REPLY, "last": True}))
    await wait_for(lambda: len(tts.replies) == 4, 3)
    await seen.ws.send(json.dumps({"type": "text", "token": "And more.", "last": True}))
    await wait_for(lambda: "And more." in tts.texts(), 3)
    for _ in range(5):  # a cancel would be a task spawned by now: let it run
        await asyncio.sleep(0)
    assert len(tts.cancelled) == 1  # not preemptible: it plays on, the next after it
    assert not seen.of_type("interrupt")
    await ticker.stop()
    await agent.close("hangup")


@pytest.mark.parametrize("report", ["none", "speech", "dtmf", "any"])
async def test_input_while_the_agent_speaks_is_reported_as_asked(
    apps: tuple[TwilioSdkApp, RelayApp], report: str
) -> None:
    """``interruptible="none"``: the caller's turn and key during a reply do not cut it;
    they reach the app only as ``reportInputDuringAgentSpeech`` says."""
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(
        web, relay, interruptible="none", welcome_greeting_interruptible="none",
        report_input_during_agent_speech=report,
    )  # fmt: skip
    relayed = agent.verbs.relay.relayed
    assert relayed is not None
    await quiet(agent)
    await seen.ws.send(json.dumps({"type": "text", "token": LONG_REPLY, "last": True}))
    await wait_for(lambda: relayed.playout.audible, 3)
    turn(stt, "Are you there", 0)
    agent.on_dtmf("7")
    await asyncio.sleep(0.2)
    assert relayed.playout.pending  # still speaking
    assert bool(seen.of_type("prompt")) == (report in ("speech", "any"))
    assert bool(seen.of_type("dtmf")) == (report in ("dtmf", "any"))
    await quiet(agent)
    agent.on_dtmf("8")  # quiet now: always reported
    await wait_for(lambda: {"type": "dtmf", "digit": "8"} in seen.of_type("dtmf"), 3)
    await ticker.stop()
    await agent.close("hangup")


async def test_partial_prompts_go_as_the_words_come(apps: tuple[TwilioSdkApp, RelayApp]) -> None:
    from sipgw.agent.services.stt.base import SttPartialTranscript

    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay, partial_prompts=True)
    await quiet(agent)
    now = asyncio.get_running_loop().time()
    for text in ("What", "What time", "What time", ""):
        stt.emit(SttPartialTranscript(text, 0, now))
    turn(stt, "What time is it?", 0)
    await wait_for(lambda: any(p["last"] for p in seen.of_type("prompt")), 3)
    assert [(p["voicePrompt"], p["last"]) for p in seen.of_type("prompt")] == [
        ("What", False), ("What time", False), ("What time is it?", True),
    ]  # fmt: skip
    await ticker.stop()
    await agent.close("hangup")


async def test_events_tell_who_speaks_and_what_was_played(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(
        web, relay, events="speaker-events tokens-played"
    )
    await quiet(agent)
    await wait_for(lambda: len(seen.of_type("info")) >= 3, 3)
    infos = [(m["name"], m["value"]) for m in seen.of_type("info")]
    assert infos[:3] == [("agentSpeaking", "on"), ("tokensPlayed", GREETING),
                         ("agentSpeaking", "off")]  # fmt: skip
    # the caller speaks over a long reply: clientSpeaking, the interrupt, what was heard
    turn(stt, "Tell me something long", 0)
    relayed = agent.verbs.relay.relayed
    assert relayed is not None
    speaker = relayed.speaker
    await wait_for(lambda: speaker._playing is not None
                   and relayed.playout.played_ms(speaker._playing.id) >= 600, 5)  # fmt: skip
    ticker.speech = speech_frames(1.2)
    await wait_for(lambda: seen.of_type("interrupt"), 5)
    await wait_for(lambda: ("clientSpeaking", "off") in
                   [(m["name"], m["value"]) for m in seen.of_type("info")], 5)  # fmt: skip
    after = [m for m in seen.messages[seen.messages.index(seen.of_type("interrupt")[0]):]
             if m["type"] == "info"]  # fmt: skip
    heard = seen.of_type("interrupt")[0]["utteranceUntilInterrupt"]
    assert {"type": "info", "name": "tokensPlayed", "value": heard} in after
    names = [(m["name"], m["value"]) for m in seen.of_type("info")][3:]
    assert names.index(("agentSpeaking", "on")) < names.index(("clientSpeaking", "on"))
    assert names.index(("clientSpeaking", "on")) < names.index(("agentSpeaking", "off"))
    assert LONG_REPLY not in [value for name, value in names if name == "tokensPlayed"]
    await ticker.stop()
    await agent.close("hangup")


async def test_without_events_no_info_is_sent(apps: tuple[TwilioSdkApp, RelayApp]) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay)
    await quiet(agent)
    turn(stt, "What time is it", 0)
    await wait_for(lambda: seen.of_type("prompt"), 3)
    await quiet(agent)
    assert not seen.of_type("info")
    await ticker.stop()
    await agent.close("hangup")


# ----------------------------------------------------------------- the turn-taking attributes


async def long_reply_playing(agent: TwimlAgent, stt: ScriptedStt, tts: ScriptedTts) -> None:
    """The caller asks for the long reply; until 300 ms of it were heard."""
    await quiet(agent)
    turn(stt, "Tell me something long", 0)
    await wait_for(lambda: len(tts.texts()) >= 3, 3)
    relayed = agent.verbs.relay.relayed
    assert relayed is not None
    await wait_for(lambda: relayed.playout.played_ms(relayed.speaker._playing.id) >= 300, 5)


async def test_echoed_prompts_are_dropped_and_counted_in_the_record(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay, echo_prompt_filtering=True)
    await wait_for(lambda: " ".join(tts.texts()) == GREETING, 3)
    await quiet(agent)
    turn(stt, "How can I help?", 0)  # the greeting, back from the caller's line
    turn(stt, "What time is it", 1)
    await wait_for(lambda: seen.of_type("prompt"), 3)
    await wait_for(lambda: "You said What time is it." in tts.texts(), 3)
    turn(stt, "you said what time is it", 2)  # the reply, back: it cuts nothing
    await asyncio.sleep(0.2)
    assert not seen.of_type("interrupt") and len(seen.of_type("prompt")) == 1
    turn(stt, "Goodbye", 3)  # the caller's own: the app ends the session
    await wait_for(lambda: call.hangups, 5)
    assert [p["voicePrompt"] for p in seen.of_type("prompt")] == ["What time is it", "Goodbye"]
    ended = [x for x in agent.record.lines if x["type"] == "twiml_relay_ended"]
    assert ended and ended[0]["echoes"] == 2 and ended[0]["prompts"] == 2
    await ticker.stop()
    await agent.close("hangup")


async def test_a_backchannel_keeps_the_reply_going(apps: tuple[TwilioSdkApp, RelayApp]) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay, ignorebackchannel=True)
    await long_reply_playing(agent, stt, tts)
    heard = ticker.heard()
    turn(stt, "Uh-huh.", 1)
    await wait_for(lambda: ticker.heard() >= heard + 25, 3)  # the reply plays on
    assert not seen.of_type("interrupt") and not tts.cancelled
    assert [p["voicePrompt"] for p in seen.of_type("prompt")] == ["Tell me something long"]
    await ticker.stop()
    await agent.close("hangup")


async def test_a_backchannel_is_a_turn_when_the_app_says_not_to_ignore_it(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay, ignorebackchannel=False)
    await long_reply_playing(agent, stt, tts)
    turn(stt, "Uh-huh.", 1)
    await wait_for(lambda: seen.of_type("interrupt"), 3)
    await wait_for(lambda: len(seen.of_type("prompt")) == 2, 3)
    assert seen.of_type("prompt")[1]["voicePrompt"] == "Uh-huh."
    assert tts.cancelled
    await ticker.stop()
    await agent.close("hangup")


async def test_low_interrupt_sensitivity_plays_on_over_speech_that_high_cuts_at(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay, interrupt_sensitivity="low")
    await long_reply_playing(agent, stt, tts)
    ticker.speech = speech_frames(0.9)  # over the 600 ms that cut at high (the default)
    await asyncio.sleep(1.5)
    assert not seen.of_type("interrupt") and not tts.cancelled
    ticker.speech = speech_frames(1.6)  # over low's 1200 ms
    await wait_for(lambda: seen.of_type("interrupt"), 5)
    await ticker.stop()
    await agent.close("hangup")


async def test_speech_timeout_ends_the_turn_at_that_silence(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay, speechtimeout="400")
    await quiet(agent)
    relayed = agent.verbs.relay.relayed
    assert relayed is not None
    ticker.speech = speech_frames(0.6)
    await wait_for(lambda: not ticker.speech, 3)
    spoke_until = len(ticker.played)
    await wait_for(lambda: stt.turn_ends_asked == 1, 3)  # the STT asked to finalize now
    quiet_frames = len(ticker.played) - spoke_until
    assert 400 / 20 - 2 <= quiet_frames <= 400 / 20 + 15  # the ticks are loaded sometimes
    await ticker.stop()
    await agent.close("hangup")


async def test_the_unfinished_turn_reaches_the_app_when_the_caller_hangs_up(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    agent, _, ticker, stt, _, seen = await start_call(web, relay, partial_prompt_on_hangup=True)
    await quiet(agent)
    stt.emit(SttPartialTranscript("I wanted to ask about", 0, asyncio.get_running_loop().time()))
    await asyncio.sleep(0.1)
    await ticker.stop()
    await agent.close("hangup")
    await wait_for(lambda: seen.of_type("prompt"), 3)
    assert seen.of_type("prompt") == [{"type": "prompt", "voicePrompt": "I wanted to ask about",
                                       "lang": "en-US", "last": True}]  # fmt: skip


# --------------------------------------------------------------------------- applicationReconnect


def line_heard(tts: ScriptedTts) -> bool:
    return "One moment, please." in tts.texts()


async def test_the_app_away_gets_the_callers_turn_when_it_is_back_and_the_session_goes_on(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    """A crash (no close frame): the caller's turn and key while the app is away are kept,
    the session says its line once, and the app back gets ``setup`` again, then them; its
    answer is spoken and the session ends as usual."""
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay, application_reconnect=True)
    relayed = agent.verbs.relay.relayed
    assert relayed is not None
    await quiet(agent)
    heard = ticker.heard()
    relay.refusing = True  # the new instance is not up yet
    seen.ws.transport.abort()
    await wait_for(lambda: relayed.channel.absence is not None, 3)
    turn(stt, "Are you still there", 0)
    await wait_for(lambda: relayed.prompts == 1, 3)  # kept for the app
    agent.on_dtmf("3")
    await wait_for(lambda: line_heard(tts), 5)  # a second after nothing was heard
    line = "One moment, please."
    await wait_for(lambda: ticker.heard() >= heard + len(line) // 2, 3)  # 10 ms a character
    relay.refusing = False
    await wait_for(lambda: len(relay.sessions) == 2 and relay.sessions[1].of_type("dtmf"), 5)
    back = relay.sessions[1]
    assert back.handshake_valid and back.resumed
    assert [m["type"] for m in back.messages[:3]] == ["setup", "prompt", "dtmf"]
    assert back.messages[0] == seen.of_type("setup")[0]  # the same sessionId and callSid
    assert back.messages[1]["voicePrompt"] == "Are you still there"
    assert back.messages[2]["digit"] == "3"
    await wait_for(lambda: "You said Are you still there." in tts.texts(), 3)
    assert tts.texts().count("One moment, please.") == 1
    turn(stt, "Goodbye", 1)
    await wait_for(lambda: call.hangups, 5)
    assert [r.params["SessionStatus"] for r in web.requests if r.path == "/after"] == ["ended"]
    ended = [x for x in agent.record.lines if x["type"] == "twiml_relay_ended"]
    assert ended[0]["reconnects"] == 1 and ended[0]["events_dropped"] == 0
    assert ended[0]["prompts"] == 2
    await ticker.stop()
    await agent.close("hangup")


async def test_the_reply_streaming_when_the_app_goes_away_is_spoken_then_the_line(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    """A redeploy's close (1001) in the middle of a reply's tokens: what came of it is spoken
    whole, nothing is cut, and the line follows it."""
    web, relay = apps
    relay.token_gap = 0.05
    agent, call, ticker, stt, tts, seen = await start_call(web, relay, application_reconnect=True)
    relayed = agent.verbs.relay.relayed
    assert relayed is not None
    await quiet(agent)
    turn(stt, "Tell me something long", 0)
    await wait_for(lambda: len(tts.texts()) >= 3, 3)  # two sentences of it, more coming
    relay.refusing = True
    await seen.ws.close(1001)
    await wait_for(lambda: relayed.channel.absence is not None, 3)
    await wait_for(lambda: line_heard(tts), 10)
    texts = tts.texts()
    spoken = " ".join(texts[texts.index("Let me tell you about our opening hours.") :
                            texts.index("One moment, please.")])  # fmt: skip
    assert LONG_REPLY.startswith(spoken) and len(spoken) < len(LONG_REPLY)
    assert relayed.playout.played_ms(relayed.speaker._playing.id) > len(spoken) * 10 - 40
    assert not tts.cancelled and not seen.of_type("interrupt")
    relay.refusing = False
    await wait_for(lambda: len(relay.sessions) == 2, 5)
    await ticker.stop()
    await agent.close("hangup")


async def test_a_normal_close_still_ends_the_session(apps: tuple[TwilioSdkApp, RelayApp]) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay, application_reconnect=True)
    await quiet(agent)
    await seen.ws.close(1000)
    await wait_for(lambda: call.hangups, 5)
    assert [r.params["SessionStatus"] for r in web.requests if r.path == "/after"] == ["completed"]
    assert len(relay.sessions) == 1
    await ticker.stop()
    await agent.close("hangup")


async def test_an_app_not_back_within_the_bound_runs_the_fallback(
    apps: tuple[TwilioSdkApp, RelayApp],
) -> None:
    web, relay = apps
    agent, call, ticker, stt, tts, seen = await start_call(web, relay, application_reconnect=True)
    relayed = agent.verbs.relay.relayed
    assert relayed is not None and relayed.channel.reconnect is not None
    relayed.channel.reconnect = replace(relayed.channel.reconnect, within=0.3)
    relay.refusing = True  # never back
    seen.ws.transport.abort()
    await wait_for(lambda: call.hangups, 5)  # the fallback's hang-up
    failures = [x for x in agent.record.lines if x["type"] == "twiml_failure"]
    assert "was not back within 0.3 s" in failures[0]["reason"]
    assert relay.refused >= 1 and len(relay.sessions) == 1
    assert not [r for r in web.requests if r.path == "/after"]
    await ticker.stop()
    await agent.close("hangup")
