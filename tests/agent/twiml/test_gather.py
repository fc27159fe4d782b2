"""``<Gather>``, ``<Say>``'s SSML, ``<Play digits>`` and ``<Stop><Stream>`` through the agent,
against an app on the official ``twilio`` SDK (its ``VoiceResponse().gather(...)`` TwiML, its
``RequestValidator`` on every action and callback) and, for speech, sipgw's AssemblyAI fake
hearing the caller's audio."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from functools import partial

import pytest
from twilio.twiml.voice_response import Gather, Start, VoiceResponse

from sipgw.agent.services.assemblyai.stt import AssemblyAISettings, AssemblyAISTTService
from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from tests.agent.parts import SILENT_FRAME, FakeCall, ScriptedTts, speech_frames, wait_for
from tests.agent.twiml.test_agent import Ticker, settings
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

TOKEN = "a" * 32
STT_KEY = "stt-key"


class Caller:
    """The caller's audio: silence, or the frames queued with :meth:`say`."""

    def __init__(self) -> None:
        self.frames: deque[bytes] = deque()

    def say(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)

    def __call__(self, n: int) -> bytes:
        return self.frames.popleft() if self.frames else SILENT_FRAME


@pytest.fixture
async def app() -> AsyncIterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN)
    await peer.start()
    yield peer
    await peer.stop()


@pytest.fixture
async def stt() -> AsyncIterator[FakeAssemblyAI]:
    fake = await FakeAssemblyAI(api_key=STT_KEY).start()
    yield fake
    await fake.aclose()


def stt_of(fake: FakeAssemblyAI) -> partial[AssemblyAISTTService]:
    return partial(AssemblyAISTTService, AssemblyAISettings(api_key=STT_KEY, url=fake.url))


async def start_call(
    app: TwilioSdkApp, caller: Caller | None = None, **kw: object
) -> tuple[TwimlAgent, FakeCall, Ticker]:
    call = FakeCall()
    agent = TwimlAgent(call, settings(**{"url": app.url, **kw}))
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, caller or Caller())
    ticker.start()
    return agent, call, ticker


async def end_call(agent: TwimlAgent, call: FakeCall, ticker: Ticker, within: float = 8) -> None:
    await wait_for(lambda: call.hangups, within=within)
    await ticker.stop()
    await agent.close("hangup")


def answers(first: VoiceResponse, **by_path: VoiceResponse) -> object:
    """The webhook's TwiML: ``first`` at /voice, ``by_path[name]`` at /name."""

    def twiml(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        return by_path.get(request.path.strip("/"), first)

    return twiml


def hangup() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response


def texts_of(value: object) -> Iterator[str]:
    """Every text in a record's lines (its numbers left out: a wall-clock time such as
    1795947308.75 once held the keys "947" when the whole record was read as text)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from texts_of(key)
            yield from texts_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts_of(item)


def posted(app: TwilioSdkApp, path: str) -> list[WebhookRequest]:
    return [r for r in app.requests if r.path == path]


# --------------------------------------------------------------------------- keys


async def test_keys_barge_in_on_the_prompt_and_are_posted_to_the_action(
    app: TwilioSdkApp,
) -> None:
    """Twilio's IVR menu: a key stops the nested <Say> at once; the keys until '#' go to
    action as Digits (FinishedOnKey '#'), signed; the action's TwiML runs."""
    response = VoiceResponse()
    gather = Gather(action="/gathered", method="POST", timeout=3)
    gather.say("Please enter your account number followed by the pound key. " * 5)  # ~3 s
    response.append(gather)
    response.say("We did not get your input")
    app.twiml = answers(response, gathered=hangup())  # type: ignore[assignment]
    tts = ScriptedTts()
    agent, call, ticker = await start_call(app, tts=lambda: tts)
    await wait_for(lambda: len(ticker.heard()) >= 10, within=5)  # the prompt is heard
    pressed = time.monotonic()
    for key in "947#":
        agent.on_dtmf(key)
        await asyncio.sleep(0.1)
    await end_call(agent, call, ticker)
    prompt_after_key = [t for t, f in ticker.played if f is not None and t > pressed + 0.04]
    assert not prompt_after_key, "the prompt went on after the key"
    (action,) = posted(app, "/gathered")
    assert action.valid, "RequestValidator refused the action's X-Twilio-Signature"
    assert action.params["Digits"] == "947" and action.params["FinishedOnKey"] == "#"
    (gathered,) = [x for x in agent.record.lines if x["type"] == "twiml_gather"]
    assert gathered["digits"] == 3  # counted, never the keys: no text of the record holds them
    assert not [text for text in texts_of(agent.record.lines) if "947" in text]
    assert action.params["CallStatus"] == "in-progress"
    assert agent.steps == ["gather", "say", "fetch <Gather action>", "end hangup"]
    assert tts.texts()[1:] == []  # "We did not get your input" never said


async def test_num_digits_ends_it_and_no_input_goes_to_the_next_verb(app: TwilioSdkApp) -> None:
    response = VoiceResponse()
    response.gather(num_digits=2, action="/gathered", timeout=1)
    response.gather(num_digits=2, action="/gathered", timeout=1)  # nothing pressed: on
    response.hangup()
    app.twiml = answers(response, gathered=hangup())  # type: ignore[assignment]
    agent, call, ticker = await start_call(app)
    await wait_for(lambda: agent.verbs.gather.gathering is not None, within=5)
    agent.on_dtmf("4")
    agent.on_dtmf("2")
    await end_call(agent, call, ticker)
    (action,) = posted(app, "/gathered")
    assert action.params["Digits"] == "42" and "FinishedOnKey" not in action.params
    assert agent.steps == ["gather", "fetch <Gather action>", "end hangup"]


async def test_silence_falls_through_or_posts_an_empty_result_when_asked(
    app: TwilioSdkApp,
) -> None:
    response = VoiceResponse()
    response.gather(action="/empty", timeout=1)  # no input: the next verb
    response.gather(action="/gathered", timeout=1, action_on_empty_result=True)
    response.say("never")
    app.twiml = answers(response, gathered=hangup())  # type: ignore[assignment]
    agent, call, ticker = await start_call(app)
    started = time.monotonic()
    await end_call(agent, call, ticker)
    assert time.monotonic() - started >= 2.0  # both timeouts ran
    assert not posted(app, "/empty")
    (action,) = posted(app, "/gathered")
    assert action.valid and "Digits" not in action.params and "SpeechResult" not in action.params
    assert agent.steps == ["gather", "gather", "fetch <Gather action>", "end hangup"]


async def test_the_timeout_between_keys_ends_it_and_no_action_posts_to_the_document(
    app: TwilioSdkApp,
) -> None:
    """Without action, Twilio posts to the document's own URL."""
    response = VoiceResponse()
    response.gather(timeout=1, finish_on_key="")
    first = response

    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        return first if "Digits" not in request.params else hangup()

    app.twiml = twiml
    agent, call, ticker = await start_call(app)
    await wait_for(lambda: agent.verbs.gather.gathering is not None, within=5)
    agent.on_dtmf("#")  # finishOnKey="": '#' is a digit like any other
    agent.on_dtmf("7")
    await end_call(agent, call, ticker)
    second = app.requests[1]
    assert second.path == "/voice" and second.params["Digits"] == "#7" and second.valid


# --------------------------------------------------------------------------- speech


async def test_speech_is_posted_with_its_confidence_and_partials_go_to_their_callback(
    app: TwilioSdkApp, stt: FakeAssemblyAI
) -> None:
    stt.script(["I want to pay my bill"])
    stt.partial_after_ms = 300
    response = VoiceResponse()
    gather = Gather(input="speech", action="/gathered", speech_timeout="auto", timeout=5,
                    partial_result_callback="/partial", hints="pay my bill, " + "x" * 60,
                    language="fr-FR")  # fmt: skip

    gather.say("How can I help?")
    response.append(gather)
    app.twiml = answers(response, gathered=hangup())  # type: ignore[assignment]
    caller = Caller()
    agent, call, ticker = await start_call(app, caller, tts=ScriptedTts, stt=stt_of(stt))
    await wait_for(lambda: agent.verbs.gather.gathering is not None, within=5)
    await asyncio.sleep(0.5)
    caller.say(speech_frames(1.2))
    await end_call(agent, call, ticker, within=10)
    (action,) = posted(app, "/gathered")
    assert action.valid
    assert action.params["SpeechResult"] == "I want to pay my bill"
    assert 0.0 < float(action.params["Confidence"]) <= 1.0
    partials = posted(app, "/partial")
    assert partials and all(p.valid for p in partials)
    assert (
        partials[0].params["SequenceNumber"] == "1" and partials[0].params["UnstableSpeechResult"]
    )
    assert partials[0].params["CallSid"] == action.params["CallSid"]
    (configured,) = stt.sessions[0].received_of_type("UpdateConfiguration")
    assert configured["keyterms_prompt"] == ["pay my bill"]  # the 60-character hint left out
    ignored = {x["attribute"] for x in agent.record.lines if x["type"] == "twiml_gather_ignored"}
    assert ignored == {"hints", "language"}


async def test_a_key_wins_over_speech_and_speech_without_stt_is_refused(
    app: TwilioSdkApp,
) -> None:
    response = VoiceResponse()
    response.gather(input="speech", timeout=1, action="/never")  # no STT: refused, on
    response.gather(input="dtmf speech", num_digits=1, action="/gathered", timeout=3)
    app.twiml = answers(response, gathered=hangup())  # type: ignore[assignment]
    agent, call, ticker = await start_call(app)
    await wait_for(lambda: agent.steps.count("gather") == 2, within=5)
    agent.on_dtmf("9")
    await end_call(agent, call, ticker)
    (action,) = posted(app, "/gathered")
    assert action.params["Digits"] == "9"
    refused = [x for x in agent.record.lines if x["type"] == "twiml_refused"]
    assert [x["verb"] for x in refused] == ["Gather speech", "Gather speech"]
    assert "SIPGW_TWIML_STT" in str(refused[0]["why"])


# --------------------------------------------------------------------------- Say, Play, Stop


async def test_say_speaks_its_ssml_and_a_break_is_silence(app: TwilioSdkApp) -> None:
    app.twiml = lambda a, r: (
        '<Response><Say>Hi<break time="500ms"/><prosody rate="slow">there</prosody> '
        '<sub alias="World Wide Web">WWW</sub><emphasis>now</emphasis></Say><Hangup/></Response>'
    )
    tts = ScriptedTts()
    agent, call, ticker = await start_call(app, tts=lambda: tts)
    await end_call(agent, call, ticker)
    assert tts.texts() == ["Hi", "there World Wide Web now"]
    heard = ticker.heard()
    spoken = [i for i, f in enumerate(heard) if f != SILENT_FRAME]
    assert spoken[0] + 1 + 25 == spoken[1]  # "Hi" (one frame), 500 ms of silence, "there"
    assert heard[spoken[0]][0] != heard[spoken[1]][0]  # two replies


async def test_play_digits_sends_dtmf_with_w_as_half_a_second(app: TwilioSdkApp) -> None:
    response = VoiceResponse()
    response.play(digits="ww12#w9")
    response.hangup()
    app.twiml = answers(response)  # type: ignore[assignment]
    agent, call, ticker = await start_call(app)
    started = time.monotonic()
    await wait_for(lambda: call.dtmf, within=5)
    first_after = time.monotonic() - started
    await end_call(agent, call, ticker)
    assert call.dtmf == ["12#", "9"]
    assert first_after >= 0.95  # "ww": a second first
    assert agent.steps == ["digits", "end hangup"]


async def test_stop_stream_ends_the_named_fork_and_no_media_follows(app: TwilioSdkApp) -> None:
    """A fork the app stops (a card number is about to be keyed): `stop`, then nothing."""
    response = VoiceResponse()
    start = Start()
    start.stream(url=app.ws_url, name="recorder", track="both_tracks")
    response.append(start)
    response.pause(length=1)
    response.append(_stop("recorder"))
    response.pause(length=1)
    response.hangup()
    app.twiml = answers(response)  # type: ignore[assignment]
    agent, call, ticker = await start_call(app)
    await app.stream_opened.wait()
    fork = app.streams[0]
    await fork.wait(lambda: fork.events("stop"), within=5)
    stopped_at = fork.arrived[fork.messages.index(fork.events("stop")[0])]
    await end_call(agent, call, ticker)
    late = [m for m, t in zip(fork.messages, fork.arrived, strict=True)
            if m.get("event") == "media" and t > stopped_at]  # fmt: skip
    assert not late, f"{len(late)} media messages after the stop"
    assert fork.messages[-1]["event"] == "stop"
    assert len(fork.events("media")) > 40  # it did stream until then
    assert agent.steps == ["start", "pause", "stop", "pause", "end hangup"]


def _stop(name: str) -> object:
    from twilio.twiml.voice_response import Stop

    stop = Stop()
    stop.stream(name=name)
    return stop


async def test_profanity_is_masked_unless_the_filter_is_off(
    app: TwilioSdkApp, stt: FakeAssemblyAI
) -> None:
    stt.script(["This is bullshit.", "This is bullshit."])
    response = VoiceResponse()
    response.gather(input="speech", action="/filtered", speech_timeout="auto", timeout=5)
    unfiltered = VoiceResponse()  # the action's TwiML replaces the rest of the document
    unfiltered.gather(input="speech", action="/raw", speech_timeout="auto", timeout=5,
                      profanity_filter=False)  # fmt: skip
    app.twiml = answers(response, filtered=unfiltered, raw=hangup())  # type: ignore[assignment]
    caller = Caller()
    agent, call, ticker = await start_call(app, caller, tts=ScriptedTts, stt=stt_of(stt))
    await wait_for(lambda: agent.verbs.gather.gathering is not None, within=5)
    caller.say(speech_frames(1.0))
    await wait_for(lambda: posted(app, "/filtered"), within=8)
    await wait_for(lambda: agent.verbs.gather.gathering is not None, within=5)
    caller.say(speech_frames(1.0))
    await end_call(agent, call, ticker, within=10)
    assert posted(app, "/filtered")[0].params["SpeechResult"] == "This is b*******."
    assert posted(app, "/raw")[0].params["SpeechResult"] == "This is bullshit."
