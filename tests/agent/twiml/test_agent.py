"""The TwiML agent against an app built on the official ``twilio`` SDK (tests/toolkit/
twilio_app.py): the SDK's RequestValidator accepts our signatures, its VoiceResponse TwiML is
followed, its Media Streams bot gets the call's audio and plays its own, marks, clear, dtmf,
the stream closing moves the TwiML on (the fallback after a failure: test_fallback.py;
MachineDetection: test_machinedetection.py)."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from twilio.twiml.voice_response import Connect, Dial, Start, Stream, VoiceResponse

from sipgw.agent.base import CallDetails
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.shipped_prompts import shipped_frames
from sipgw.agent.twiml.agent import TwimlAgent, TwimlSettings
from sipgw.agent.twiml.plugin import TWIML_CAPABILITIES
from sipgw.agent.twiml.webhook import TwilioIdentity
from tests.agent.parts import FakeCall, ScriptedTts, wait_for
from tests.agent.twiml.test_say import VOICE as SAY_VOICE
from tests.agent.twiml.test_say import voicing
from tests.toolkit.twilio_app import AppStream, TwilioSdkApp, WebhookRequest

TOKEN = "a" * 32
ACCOUNT = "AC" + "1" * 32
GOODBYE = shipped_frames(FallbackLine.GOODBYE)


class Ticker:
    """The gateway's 20 ms tick, for one agent: caller frames in (at arrival and from the
    playout, as the gateway gives both), agent frames out (timed)."""

    def __init__(self, agent: TwimlAgent, caller: Callable[[int], bytes | None]) -> None:
        self.agent, self.caller = agent, caller
        self.played: list[tuple[float, bytes | None]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        start, n = time.monotonic(), 0
        while True:
            frame = self.caller(n)
            if frame is not None:
                self.agent.on_caller_audio(frame)
            self.agent.on_caller_frame(frame)
            self.played.append((time.monotonic(), self.agent.next_frame()))
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

    def heard(self) -> list[bytes]:
        return [f for _, f in self.played if f is not None]

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()


def caller_tone(n: int) -> bytes:
    return bytes([n % 200 + 1]) * 160  # a recognisable frame per tick


def settings(**kw: object) -> TwimlSettings:
    base = TwimlSettings(TwilioIdentity(ACCOUNT, TOKEN), timeout=2.0, stream_open_timeout=2.0,
                         fallback_frames=GOODBYE)  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def app() -> AsyncIterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN)
    await peer.start()
    yield peer
    await peer.stop()


async def run_call(
    app: TwilioSdkApp, call: FakeCall | None = None, **kw: object
) -> tuple[TwimlAgent, FakeCall, Ticker]:
    call = call or FakeCall(details=CallDetails(caller_number="+15551234567",
                                                called_number="+15557654321",
                                                headers={"X-Customer": "42"}))  # fmt: skip
    agent = TwimlAgent(call, settings(**{"url": app.url, **kw}))
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, caller_tone)
    ticker.start()
    return agent, call, ticker


def connect_twiml(
    then: Callable[[VoiceResponse], object] = lambda r: None,
) -> Callable[..., VoiceResponse]:
    def build(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        connect = Connect()
        stream = Stream(url=app.ws_url)
        stream.parameter(name="first_name", value="Ada")
        connect.append(stream)
        response.append(connect)
        then(response)
        return response

    return build


async def test_a_twilio_sdk_app_runs_unchanged(app: TwilioSdkApp) -> None:
    """Signature, form, start, audio both ways at 20 ms, mark after its audio, dtmf, the bot
    closing the stream moves on to the next verbs (<Say> with TTS, then <Hangup>)."""
    app.twiml = connect_twiml(lambda r: (r.say("Goodbye now"), r.hangup()))
    mark_echo: list[float] = []

    async def bot(stream: AppStream) -> None:
        await stream.wait(lambda: len(stream.events("media")) >= 10)
        await stream.send_media(b"\x10" * 800)  # 100 ms
        await stream.send_mark("after-hello")
        await stream.wait(lambda: stream.events("mark"))
        mark_echo.append(time.monotonic())
        await stream.wait(lambda: stream.events("dtmf"))
        await stream.ws.close()  # the bot is done: the TwiML goes on

    app.bot = bot
    tts = ScriptedTts()
    agent, call, ticker = await run_call(app, tts=lambda: tts)
    await app.stream_opened.wait()
    stream = app.streams[0]
    await wait_for(lambda: mark_echo, within=5)
    agent.on_dtmf("7")
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("remote-bye")

    (request,) = app.requests
    assert request.valid, "RequestValidator refused our X-Twilio-Signature"
    assert stream.handshake_valid, "RequestValidator refused the handshake's signature"
    form = request.params
    assert (
        form["AccountSid"] == ACCOUNT
        and form["CallSid"].startswith("CA")
        and len(form["CallSid"]) == 34
    )
    fields = ("From", "To", "Direction", "CallStatus", "ApiVersion")
    assert [form[name] for name in fields] == [
        "+15551234567", "+15557654321", "inbound", "ringing", "2010-04-01",
    ]  # fmt: skip
    assert form["SipCallId"] == call.call_id and form["SipHeader_X-Customer"] == "42"
    connected, start = stream.messages[:2]
    assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert start["start"]["callSid"] == form["CallSid"]
    assert start["start"]["customParameters"] == {"first_name": "Ada"}
    assert start["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw",
        "sampleRate": 8000,
        "channels": 1,
    }
    media = stream.events("media")
    assert [int(m["media"]["chunk"]) for m in media[:5]] == [1, 2, 3, 4, 5]
    assert [int(m["media"]["timestamp"]) for m in media[:3]] == [0, 20, 40]
    seqs = [int(m["sequenceNumber"]) for m in stream.messages[1:]]
    assert seqs == list(range(1, len(seqs) + 1))
    audio = stream.caller_audio()
    first = audio[0] - 1  # the tick the stream opened at
    assert audio[:1600] == b"".join(caller_tone(first + n) for n in range(10))  # in order, whole
    gaps = [b - a for a, b in zip(stream.arrived[2:40], stream.arrived[3:41], strict=False)]
    assert sum(gaps) / len(gaps) == pytest.approx(0.02, abs=0.005)  # paced, not bursts
    app_frames = [(t, f) for t, f in ticker.played if f == b"\x10" * 160]
    assert len(app_frames) == 5
    print(f"mark: echoed {1000 * (mark_echo[0] - app_frames[-1][0]):.1f} ms after its last frame")
    assert mark_echo[0] >= app_frames[-1][0]  # echoed after its audio was played, not before
    assert stream.events("dtmf")[0]["dtmf"] == {"track": "inbound_track", "digit": "7"}
    assert tts.texts() == ["Goodbye now"]  # <Say> after the stream closed
    assert agent.steps == ["connect", "say", "end hangup"]


async def test_a_clear_stops_the_callers_audio_within_100_ms(app: TwilioSdkApp) -> None:
    app.twiml = connect_twiml()
    cleared_at: list[float] = []

    async def bot(stream: AppStream) -> None:
        await stream.wait(lambda: stream.events("start"))
        await stream.send_media(b"\x22" * 8000 * 5)  # 5 s of the bot talking
        await stream.send_mark("reply-1")
        await stream.wait(lambda: len(stream.events("media")) >= 25)  # the caller barges in
        cleared_at.append(time.monotonic())
        await stream.send_clear()
        await stream.wait(lambda: stream.events("mark"))
        await stream.wait(lambda: stream.events("stop"), within=30)

    app.bot = bot
    agent, call, ticker = await run_call(app)
    await wait_for(lambda: cleared_at, within=5)
    await wait_for(lambda: app.streams[0].events("mark"), within=2)
    await ticker.stop()
    await agent.close("remote-bye")
    bot_frames = [t for t, f in ticker.played if f == b"\x22" * 160]
    assert bot_frames and len(bot_frames) < 250
    print(f"clear: last bot frame {1000 * (bot_frames[-1] - cleared_at[0]):.1f} ms after it")
    assert bot_frames[-1] - cleared_at[0] <= 0.1, "caller still heard the bot 100 ms after clear"
    assert app.streams[0].events("mark")[0]["mark"]["name"] == "reply-1"  # echoed by the clear
    assert app.streams[0].events("stop")  # stop at hang-up


async def test_dial_sip_transfers_and_play_and_pause(app: TwilioSdkApp) -> None:
    pcm = io.BytesIO()
    with wave.open(pcm, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x10" * 1600)  # 200 ms

    from aiohttp import web

    async def wav_file(request: web.Request) -> web.Response:
        return web.Response(body=pcm.getvalue(), content_type="audio/x-wav")

    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        response.play(f"http://127.0.0.1:{app_.http_port}/hello.wav")
        response.pause(length=1)
        dial = Dial()
        dial.number("+1 555 0100")
        dial.sip("sip:desk@pbx.example")
        response.append(dial)
        return response

    app.twiml = twiml
    assert app._runner is not None
    app._runner.app.router._frozen = False  # one more route on the running app, for the file
    app._runner.app.router.add_get("/hello.wav", wav_file)
    call = FakeCall(accept_transfer=False)
    agent, call, ticker = await run_call(app, call=call)
    await wait_for(lambda: call.hangups, within=6)
    await ticker.stop()
    await agent.close("remote-bye")
    assert call.transfers == ["tel:+15550100", "sip:desk@pbx.example"]  # each tried in turn
    assert len([f for f in ticker.heard() if f != b"\xff" * 160]) == 10  # the 200 ms file
    assert agent.steps == ["play", "pause", "dial", "end end"]


@pytest.mark.parametrize(("reason", "status"), [("busy", 486), ("rejected", 480), (None, 480)])
async def test_reject_refuses_the_call_unanswered(
    app: TwilioSdkApp, reason: str | None, status: int
) -> None:
    """``<Reject reason="busy">`` is 486 Busy Here, the default ``rejected`` 480."""

    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        response.reject(**({} if reason is None else {"reason": reason}))
        return response

    app.twiml = twiml
    call = FakeCall()
    agent = TwimlAgent(call, settings(url=app.url))
    await agent.prepare()
    assert call.statuses == [status]
    await agent.close("rejected")


async def test_a_fork_gets_both_tracks_and_the_twiml_goes_on(app: TwilioSdkApp) -> None:
    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        start = Start()
        start.stream(url=app_.ws_url, track="both_tracks")
        response.append(start)
        response.pause(length=1)
        response.hangup()
        return response

    app.twiml = twiml
    agent, call, ticker = await run_call(app)
    await app.stream_opened.wait()
    fork = app.streams[0]
    await fork.wait(
        lambda: {m["media"]["track"] for m in fork.events("media")} == {"inbound", "outbound"}
    )
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("hangup")
    assert fork.messages[1]["start"]["tracks"] == ["inbound", "outbound"]
    assert agent.steps == ["start", "pause", "end hangup"]


async def test_say_without_tts_is_refused_by_name_and_the_twiml_goes_on(app: TwilioSdkApp) -> None:
    app.twiml = lambda a, r: "<Response><Say>hi</Say><Pay/><Hangup/></Response>"
    agent, call, ticker = await run_call(app)
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("hangup")
    refused = [(x["verb"], x["why"]) for x in agent.record.lines if x["type"] == "twiml_refused"]
    assert refused == [
        ("Say", "no text-to-speech is configured (SIPGW_TWIML_TTS)"),
        ("Pay", "card payments are not taken (no PCI-scoped capture)"),
    ]


async def test_an_update_mid_call_stops_what_runs_and_runs_the_new_twiml(
    app: TwilioSdkApp,
) -> None:
    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        response.pause(length=60)
        return response

    app.twiml = twiml
    agent, call, ticker = await run_call(app)
    try:
        await wait_for(lambda: "pause" in agent.steps)
        with pytest.raises(ValueError, match="bad TwiML"):
            agent.follow_twiml(None, "<Response><Nope>")
        assert agent.follow_twiml(None, "<Response><Hangup/></Response>")
        await wait_for(lambda: call.hangups == 1, within=2.0)
        assert agent.steps[-1] == "end hangup"
        assert not agent.follow_twiml(None, "<Response/>")  # ended: nothing to update
    finally:
        await ticker.stop()
        await agent.close("test")


async def _stream_started(app: TwilioSdkApp) -> tuple[TwimlAgent, FakeCall, AppStream]:
    """A ``<Connect><Stream>`` call with no ticker running: only what a test sends moves."""
    app.twiml = connect_twiml()
    call = FakeCall()
    agent = TwimlAgent(call, settings(url=app.url))
    await agent.prepare()
    agent.on_answered()
    await app.stream_opened.wait()
    stream = app.streams[0]
    await stream.wait(lambda: stream.events("start"))
    return agent, call, stream


async def test_the_callers_audio_goes_to_the_app_as_it_arrives(app: TwilioSdkApp) -> None:
    """Issue 41's latency: the caller's frames go at arrival, not after the jitter buffer's
    playout delay and the tick; the playout's copy of them is not sent a second time."""
    agent, _, stream = await _stream_started(app)
    assert TWIML_CAPABILITIES.arrival_audio  # the gateway gives it on_caller_audio at arrival
    agent.on_caller_frame(b"\x05" * 160)  # the playout's (late) copy: not sent
    agent.on_caller_audio(b"\x06" * 160)
    agent.on_caller_audio(b"\x07" * 160)
    await stream.wait(lambda: len(stream.caller_audio()) >= 320, within=5)
    assert stream.caller_audio() == b"\x06" * 160 + b"\x07" * 160
    assert [m["media"]["chunk"] for m in stream.events("media")] == ["1", "2"]
    await agent.close("remote-bye")


async def test_the_apps_first_frame_goes_at_once_not_at_the_next_tick(
    app: TwilioSdkApp,
) -> None:
    """The app's audio after a silence asks the call to send its first frame now
    (``audio_ready``), once: the frame behind it waits for the tick, as paced."""
    agent, call, stream = await _stream_started(app)
    assert call.ready == 0
    await stream.send_media(b"\x11" * 320)
    await wait_for(lambda: call.ready, within=5)
    assert agent.next_frame() == b"\x11" * 160  # what audio_ready's send takes
    assert agent.next_frame() == b"\x11" * 160  # the next tick's
    assert agent.next_frame() is None
    assert call.ready == 1
    # an app streaming in real time: each frame that comes to an empty buffer goes at once,
    # within the talkspurt too (no tick's phase added to the app's time)
    await stream.send_media(b"\x12" * 160)
    await wait_for(lambda: call.ready == 2, within=5)
    assert call.continuing == 2 and agent.next_frame() == b"\x12" * 160
    await agent.close("remote-bye")


async def test_say_with_a_voice_and_language_through_the_agent(
    app: TwilioSdkApp, caplog: pytest.LogCaptureFixture
) -> None:
    app.twiml = lambda a, r: (
        '<Response><Say voice="Polly.Joanna" language="fr-FR">Bonjour</Say>'
        '<Say voice="Google.en-US-Neural2-F">Hello</Say><Hangup/></Response>'
    )
    say, asked = voicing()
    with caplog.at_level(logging.WARNING):
        agent, call, ticker = await run_call(app, tts=say)
        await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("hangup")
    assert asked == [(SAY_VOICE, "fr"), (None, None)]
    ignored = [x["attribute"] for x in agent.record.lines if x["type"] == "twiml_say_ignored"]
    assert ignored == ["voice='Google.en-US-Neural2-F' (not in SIPGW_TWIML_SAY_VOICES: the "
                       "configured voice speaks)"]  # fmt: skip
    assert "TwiML <Say> voice='Google.en-US-Neural2-F'" in caplog.text


async def test_stream_status_callbacks_are_twilios_and_signed(app: TwilioSdkApp) -> None:
    """<Start><Stream statusCallback statusCallbackMethod=GET> and <Connect><Stream
    statusCallback>: stream-started then stream-stopped (the app closing its stream, the call
    ending), stream-error for a stream that cannot open; each accepted by the SDK's
    RequestValidator, with Twilio's fields."""
    base = app.url.rsplit("/", 1)[0]
    app.twiml = lambda a, r: (
        "<Response><Start>"
        f'<Stream name="fork1" url="{a.ws_url}" statusCallback="/fork-status" '
        'statusCallbackMethod="GET"/></Start><Start>'
        '<Stream url="ws://127.0.0.1:1/nothing" statusCallback="/error-status"/></Start>'
        f'<Connect><Stream url="{a.ws_url}" statusCallback="{base}/connect-status">'
        '<Parameter name="role" value="bot"/></Stream></Connect><Pause length="1"/>'
        "<Hangup/></Response>"
    )

    async def bot(stream: AppStream) -> None:
        await stream.wait(lambda: len(stream.messages) >= 2)
        if stream.messages[1]["start"]["customParameters"].get("role") == "bot":
            await stream.wait(lambda: len(stream.events("media")) >= 3)
            await stream.ws.close()  # the app is done: stream-stopped, the TwiML goes on

    app.bot = bot
    agent, call, ticker = await run_call(app)
    await wait_for(lambda: call.hangups, within=8)
    await ticker.stop()
    await agent.close("hangup")

    call_sid = app.requests[0].params["CallSid"]
    sids = {s.messages[1]["start"]["customParameters"].get("role", "fork"):
            s.messages[1]["streamSid"] for s in app.streams}  # fmt: skip
    by_path: dict[str, list[dict[str, str]]] = {}
    for request in app.requests[1:]:
        assert request.valid, f"RequestValidator refused the callback to {request.path}"
        by_path.setdefault(request.path, []).append(request.params)
    assert sorted(by_path) == ["/connect-status", "/error-status", "/fork-status"]
    fork, connect, error = (by_path[p] for p in ("/fork-status", "/connect-status",
                                                 "/error-status"))  # fmt: skip
    assert [f["StreamEvent"] for f in fork] == ["stream-started", "stream-stopped"]
    assert [f["StreamEvent"] for f in connect] == ["stream-started", "stream-stopped"]
    assert [f["StreamEvent"] for f in error] == ["stream-error"]
    assert {f["StreamName"] for f in fork} == {"fork1"}
    assert {f["StreamSid"] for f in fork} == {sids["fork"]}
    assert {(f["StreamSid"], f["StreamName"]) for f in connect} == {(sids["bot"], sids["bot"])}
    for form in fork + connect + error:
        assert form["AccountSid"] == ACCOUNT and form["CallSid"] == call_sid
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", form["Timestamp"])
        assert ("StreamError" in form) == (form["StreamEvent"] == "stream-error")
    assert "could not be opened" in error[0]["StreamError"]
    assert error[0]["StreamSid"].startswith("MZ") and error[0]["StreamSid"] not in sids.values()


async def test_a_close_cut_short_by_the_gateway_still_closes_the_session(
    app: TwilioSdkApp,
) -> None:
    """The gateway bounds an agent's close (5 s); cut short while a stream is being stopped
    (an app that never answers our close frame), the agent's aiohttp session is closed all
    the same: no "Unclosed client session" at the gateway's shutdown."""
    app.twiml = connect_twiml()

    async def deaf(stream: AppStream) -> None:  # our stop and close frame get no answer
        await stream.wait(lambda: stream.events("start"))
        stream.ws.transport.pause_reading()
        await asyncio.sleep(3)

    app.bot = deaf
    agent, call, ticker = await run_call(app)
    await app.stream_opened.wait()
    await app.streams[0].wait(lambda: app.streams[0].events("start"))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(agent.close("remote-bye"), 0.3)
    await ticker.stop()
    assert agent.session is not None and agent.session.closed
