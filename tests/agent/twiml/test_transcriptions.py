"""``<Start><Transcription>``/``<Stop><Transcription>`` through the agent: sipgw's AssemblyAI
fake hears the call's tracks, the app on the official ``twilio`` SDK gets the events
(``RequestValidator`` on each)."""

from __future__ import annotations

import asyncio
import json
from typing import cast

from twilio.twiml.voice_response import Start, Stop, VoiceResponse

from sipgw.agent.services.stt.base import SpeechToText, SttConnectError
from sipgw.agent.twiml.transcriptions import LiveTranscription, stability
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.twilio.transcriptiontwiml import Transcription, TranscriptionEvents
from tests.agent.parts import ScriptedTts, speech_frames, wait_for
from tests.agent.twiml.test_gather import (
    Caller,
    answers,
    app,
    end_call,
    posted,
    start_call,
    stt,
    stt_of,
)
from tests.toolkit.twilio_app import TwilioSdkApp

__all__ = ["app", "stt"]  # the fixtures


def transcribing(**attrs: object) -> VoiceResponse:
    """Start a transcription, wait 6 s, stop it, wait a little, hang up."""
    response = VoiceResponse()
    start = Start()
    start.transcription(name="notes", status_callback_url="/events", **attrs)
    response.append(start)
    response.pause(length=4)
    stop = Stop()
    stop.transcription(name="notes")
    response.append(stop)
    response.pause(length=1)
    response.hangup()
    return response


async def test_the_callers_words_are_posted_in_order_then_the_stop(
    app: TwilioSdkApp, stt: FakeAssemblyAI
) -> None:
    stt.script(["I want to pay my damn bill."])
    stt.partial_after_ms = 300
    app.twiml = answers(transcribing(track="inbound_track", partial_results=True))  # type: ignore[assignment]
    caller = Caller()
    agent, call, ticker = await start_call(app, caller, stt=stt_of(stt))
    await wait_for(lambda: posted(app, "/events"), within=5)
    caller.say(speech_frames(1.2))
    await end_call(agent, call, ticker, within=12)
    events = posted(app, "/events")
    assert all(e.valid for e in events)
    kinds = [e.params["TranscriptionEvent"] for e in events]
    assert kinds[0] == "transcription-started" and kinds[-1] == "transcription-stopped"
    assert [e.params["SequenceId"] for e in events] == [str(n + 1) for n in range(len(events))]
    assert len({e.params["TranscriptionSid"] for e in events}) == 1
    content = [
        e.params for e in events if e.params["TranscriptionEvent"] == "transcription-content"
    ]
    finals = [c for c in content if c["Final"] == "true"]
    assert len(finals) == 1 and finals[0]["Track"] == "inbound_track"
    data = json.loads(finals[0]["TranscriptionData"])
    assert data["transcript"] == "I want to pay my d*** bill."  # profanityFilter's default
    # partialResults: Stability on each, no confidence (Twilio's page's rule)
    assert "confidence" not in data and finals[0]["Stability"] == "1.0"
    partials = [c for c in content if c["Final"] == "false"]
    assert partials and all(0.0 <= float(c["Stability"]) <= 1.0 for c in partials)
    assert events[0].params["Name"] == "notes"
    assert len(stt.sessions) == 1  # one track, one session
    stopped = [x for x in agent.record.lines if x["type"] == "twiml_transcription_stopped"]
    assert stopped and stopped[0]["content"] == 1


async def test_both_tracks_open_two_sessions_and_the_call_end_stops_them(
    app: TwilioSdkApp, stt: FakeAssemblyAI
) -> None:
    response = VoiceResponse()
    start = Start()
    start.transcription(status_callback_url="/events", speech_model="telephony")
    response.append(start)
    response.say("Hello")
    response.pause(length=2)
    response.hangup()
    app.twiml = answers(response)  # type: ignore[assignment]
    agent, call, ticker = await start_call(app, Caller(), stt=stt_of(stt), tts=ScriptedTts)
    await end_call(agent, call, ticker, within=10)
    kinds = [e.params["TranscriptionEvent"] for e in posted(app, "/events")]
    assert kinds[0] == "transcription-started" and kinds[-1] == "transcription-stopped"
    assert len(stt.sessions) == 2
    ignored = [x["value"] for x in agent.record.lines if x["type"] == "twiml_transcription_ignored"]
    assert any("speechModel" in str(v) for v in ignored)
    contents = [e.params for e in posted(app, "/events")
                if e.params["TranscriptionEvent"] == "transcription-content"]  # fmt: skip
    for content in contents:  # no partialResults: a confidence, no Stability
        assert "Stability" not in content
        assert 0.0 <= json.loads(content["TranscriptionData"])["confidence"] <= 1.0


async def test_without_a_speech_to_text_it_is_refused_with_an_error_event(
    app: TwilioSdkApp,
) -> None:
    response = transcribing()
    app.twiml = answers(response)  # type: ignore[assignment]
    agent, call, ticker = await start_call(app)
    await end_call(agent, call, ticker, within=12)
    (event,) = posted(app, "/events")
    assert event.valid and event.params["TranscriptionEvent"] == "transcription-error"
    assert "SIPGW_TWIML_STT" in event.params["TranscriptionError"]
    refused = [x["verb"] for x in agent.record.lines if x["type"] == "twiml_refused"]
    assert refused == ["Start><Transcription", "Stop><Transcription"]
    await asyncio.sleep(0)


async def test_a_stop_mid_sentence_posts_the_words_so_far_before_stopped(
    app: TwilioSdkApp, stt: FakeAssemblyAI
) -> None:
    stt.script(["I was saying that"])
    response = VoiceResponse()
    start = Start()
    start.transcription(name="notes", status_callback_url="/events", track="inbound_track")
    response.append(start)
    response.pause(length=2)
    stop = Stop()
    stop.transcription(name="notes")
    response.append(stop)
    response.hangup()
    app.twiml = answers(response)  # type: ignore[assignment]
    caller = Caller()
    agent, call, ticker = await start_call(app, caller, stt=stt_of(stt))
    await wait_for(lambda: posted(app, "/events"), within=5)
    caller.say(speech_frames(4.0))  # still talking when the stop comes
    await end_call(agent, call, ticker, within=10)
    kinds = [e.params["TranscriptionEvent"] for e in posted(app, "/events")]
    assert kinds == ["transcription-started", "transcription-content", "transcription-stopped"]
    content = posted(app, "/events")[1].params
    assert json.loads(content["TranscriptionData"])["transcript"] == "I was saying that"


def test_a_partials_stability_is_the_share_of_its_words_already_heard_in_place() -> None:
    assert stability(["I", "want"], []) == 0.0
    assert stability(["I", "want", "to"], ["I", "want"]) == 2 / 3
    assert stability(["I", "won't", "to"], ["I", "want", "to"]) == 2 / 3
    assert stability([], ["I"]) == 0.0


class _Unreachable:
    """A speech-to-text whose session cannot be opened."""

    closed = False

    async def connect(self) -> None:
        raise SttConnectError("HTTP 503")

    async def close(self) -> None:
        self.closed = True


async def test_a_speech_to_text_that_cannot_be_opened_posts_provider_unavailable() -> None:
    forms: list[dict[str, str]] = []
    noun = Transcription(track="inbound_track", status_callback_url="/events")
    live = LiveTranscription(noun, TranscriptionEvents(noun, "AC1", "CA1", "GT1"),
                             forms.append, "call-1")  # fmt: skip
    stt = _Unreachable()
    assert not await live.start(lambda: cast(SpeechToText, stt))
    assert stt.closed and live.stopped
    (error,) = forms
    assert error["TranscriptionEvent"] == "transcription-error"
    assert error["TranscriptionErrorCode"] == "32655" and "HTTP 503" in error["TranscriptionError"]
