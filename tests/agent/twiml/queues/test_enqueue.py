"""Call queues through the TwiML agent, against an app on the official ``twilio`` SDK (its
``VoiceResponse().enqueue(...)``, ``Dial().queue(...)``, ``leave()``): two agents share one
registry (the gateway's, :mod:`sipgw.app.callqueues`). The waiting caller hears the
``waitUrl``'s audio, fetched with Twilio's wait fields; a ``<Dial><Queue>`` takes them, the
``<Queue url>`` document is played to them, and the two hear each other; ``QueueResult``
(``bridged``, ``queue-full``, ``leave``, ``hangup``) and ``DialCallStatus`` are posted."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.agent.base import CallDetails
from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.agent.twiml.webhook import call_sid_of
from sipgw.app.callqueues import CallQueueRegistry
from tests.agent.parts import FakeCall, wait_for
from tests.agent.twiml.test_agent import Ticker, caller_tone, settings
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

TOKEN = "a" * 32
MUSIC = b"\x00\x10" * 800  # 100 ms of 16-bit PCM: the wait music
AGENT_FRAME = b"\x22" * 160
"""What the dequeuing call's caller says, each tick."""


def wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    return out.getvalue()


@pytest.fixture
async def app() -> AsyncIterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN)
    await peer.start()
    assert peer._runner is not None
    peer._runner.app.router._frozen = False  # the music file, beside the webhook

    async def music(request: web.Request) -> web.Response:
        return web.Response(body=wav(MUSIC), content_type="audio/x-wav")

    peer._runner.app.router.add_get("/music.wav", music)
    yield peer
    await peer.stop()


def posted(app: TwilioSdkApp, path: str) -> list[WebhookRequest]:
    return [r for r in app.requests if r.path == path]


def queue_app(
    wait: Callable[[VoiceResponse], object] | None = None, **enqueue: object
) -> Callable[[TwilioSdkApp, WebhookRequest], VoiceResponse]:
    """Callers from +1555000xxxx are enqueued in ``support``; others (the agent) dial it.
    ``/wait`` plays the music (or ``wait``'s verbs), ``/announce`` a short line, ``/queued``
    and ``/dialled`` answer ``<Hangup/>``."""

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path in ("/queued", "/dialled"):
            response.hangup()
        elif request.path == "/wait":
            if wait is None:
                response.play(f"http://127.0.0.1:{app_.http_port}/music.wav")
            else:
                wait(response)
        elif request.path == "/announce":
            response.play("/music.wav")  # relative: against /announce's URL
        elif request.params.get("From", "").startswith("+1555000"):
            response.enqueue("support", wait_url="/wait", action="/queued", **enqueue)
            response.say("after the queue")
        else:
            dial = Dial(action="/dialled", time_limit=1)
            dial.queue("support", url="/announce")
            response.append(dial)
        return response

    return build


async def start(
    app: TwilioSdkApp, queues: CallQueueRegistry, number: str, caller: Callable[[int], bytes | None]
) -> tuple[TwimlAgent, FakeCall, Ticker]:
    details = CallDetails(caller_number=number, called_number="+15559990000")
    call = FakeCall(call_id=f"{number}@test", details=details)
    agent = TwimlAgent(call, settings(url=app.url, queues=queues))
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, caller)
    ticker.start()
    return agent, call, ticker


async def end(*parts: tuple[TwimlAgent, FakeCall, Ticker]) -> None:
    for agent, _, ticker in parts:
        await ticker.stop()
        await agent.close("remote-bye")


def music_frames(ticker: Ticker) -> int:
    return len([f for f in ticker.heard() if f not in (b"\xff" * 160, AGENT_FRAME)])


async def test_the_waiting_caller_hears_the_music_then_talks_with_the_dequeuing_call(
    app: TwilioSdkApp,
) -> None:
    app.twiml = queue_app()
    queues = CallQueueRegistry()
    waiting = await start(app, queues, "+15550001111", caller_tone)
    a_agent, a_call, a_ticker = waiting
    await wait_for(lambda: len(posted(app, "/wait")) >= 2, within=5)  # fetched again, a loop
    assert music_frames(a_ticker) >= 5  # the 100 ms file, heard
    form = posted(app, "/wait")[0].params
    assert form["QueuePosition"] == "1" and form["CurrentQueueSize"] == "1"
    assert form["MaxQueueSize"] == "1000" and form["QueueSid"].startswith("QU")  # Twilio's
    assert {"QueueTime", "AvgQueueTime", "CallSid"} <= form.keys()
    assert all(r.valid for r in app.requests)  # signed as Twilio signs

    dequeuing = await start(app, queues, "+15557770000", lambda n: AGENT_FRAME)
    b_agent, b_call, b_ticker = dequeuing
    await wait_for(lambda: AGENT_FRAME in a_ticker.heard(), within=5)
    announce = posted(app, "/announce")[0].params
    assert announce["DequeingCallSid"] == call_sid_of(b_call.call_id)
    assert announce["CallSid"] == call_sid_of(a_call.call_id)
    assert announce["QueueSid"] == form["QueueSid"]
    a_agent.on_dtmf("4")  # keys cross both ways
    b_agent.on_dtmf("6")
    await wait_for(lambda: posted(app, "/dialled") and posted(app, "/queued"), within=5)
    dialled = posted(app, "/dialled")[0].params
    assert dialled["DialCallStatus"] == "completed"  # timeLimit=1 ended it
    assert dialled["DialCallSid"] == call_sid_of(a_call.call_id)
    queued = posted(app, "/queued")[0].params
    assert queued["QueueResult"] == "bridged" and queued["QueueSid"] == form["QueueSid"]
    await wait_for(lambda: a_call.hangups and b_call.hangups, within=3)
    await end(waiting, dequeuing)
    heard_by_b = [f for f in b_ticker.heard() if f != AGENT_FRAME and f[0] == f[-1]]
    assert len({f[0] for f in heard_by_b}) >= 20  # the waiting caller's own frames, varied
    assert a_call.dtmf == ["6"] and b_call.dtmf == ["4"]
    assert a_agent.steps[:2] == ["enqueue", "play"]
    assert "queue bridged" in a_agent.steps
    assert b_agent.steps[0] == "dial"


async def test_a_full_queue_refuses_the_caller_with_queue_full(app: TwilioSdkApp) -> None:
    app.twiml = queue_app(max_queue_size=1)
    queues = CallQueueRegistry()
    first = await start(app, queues, "+15550001111", caller_tone)
    await wait_for(lambda: posted(app, "/wait"), within=5)
    second = await start(app, queues, "+15550002222", caller_tone)
    await wait_for(lambda: posted(app, "/queued"), within=5)
    form = posted(app, "/queued")[0].params
    assert form["QueueResult"] == "queue-full" and "QueueSid" not in form
    assert form["From"] == "+15550002222"
    await wait_for(lambda: second[1].hangups, within=3)  # the action's <Hangup/>
    assert first[1].hangups == 0  # still waiting
    await end(first, second)


async def test_leave_in_the_wait_document_goes_on_after_the_enqueue(app: TwilioSdkApp) -> None:
    def wait(response: VoiceResponse) -> None:
        response.pause(length=1)
        response.leave()

    app.twiml = queue_app(wait=wait)
    app_twiml = app.twiml

    def no_action(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        if request.params.get("From") == "+15550001111" and request.path == "/voice":
            response = VoiceResponse()
            response.enqueue("support", wait_url="/wait")
            response.pause(length=1)
            return response
        return app_twiml(app_, request)

    app.twiml = no_action
    queues = CallQueueRegistry()
    waiting = await start(app, queues, "+15550001111", caller_tone)
    await wait_for(lambda: waiting[1].hangups, within=6)
    assert waiting[0].steps == ["enqueue", "queue leave", "pause", "end end"]
    assert queues.take("support") is None  # out of the queue
    await end(waiting)


async def test_leave_posts_queue_result_leave_to_the_action(app: TwilioSdkApp) -> None:
    app.twiml = queue_app(wait=lambda r: r.leave())
    waiting = await start(app, CallQueueRegistry(), "+15550001111", caller_tone)
    await wait_for(lambda: posted(app, "/queued"), within=5)
    form = posted(app, "/queued")[0].params
    assert form["QueueResult"] == "leave" and form["QueueSid"].startswith("QU")
    assert form["QueueTime"] == "0"
    await end(waiting)


async def test_hangup_in_the_wait_document_ends_the_call(app: TwilioSdkApp) -> None:
    app.twiml = queue_app(wait=lambda r: r.hangup())
    waiting = await start(app, CallQueueRegistry(), "+15550001111", caller_tone)
    await wait_for(lambda: waiting[1].hangups, within=5)
    assert waiting[0].steps == ["enqueue", "queue hangup", "end hangup"]
    assert not posted(app, "/queued")
    await end(waiting)


async def test_verbs_twilio_does_not_allow_while_waiting_are_refused(app: TwilioSdkApp) -> None:
    def wait(response: VoiceResponse) -> None:
        response.record()
        response.leave()

    app.twiml = queue_app(wait=wait)
    waiting = await start(app, CallQueueRegistry(), "+15550001111", caller_tone)
    await wait_for(lambda: posted(app, "/queued"), within=5)
    refused = [e for e in waiting[0].record.lines if e.get("type") == "twiml_refused"]
    assert refused and refused[0]["verb"] == "Record"
    await end(waiting)


async def test_no_queues_on_the_gateway_refuses_the_verbs(app: TwilioSdkApp) -> None:
    app.twiml = queue_app()
    call = FakeCall(details=CallDetails(caller_number="+15550001111"))
    agent = TwimlAgent(call, settings(url=app.url))
    await agent.prepare()
    agent.on_answered()
    await wait_for(lambda: call.hangups, within=5)
    assert agent.steps[:2] == ["enqueue", "refused <Enqueue>"]
    await agent.close("remote-bye")


async def test_a_mid_call_update_takes_the_caller_out_with_redirected(app: TwilioSdkApp) -> None:
    app.twiml = queue_app()
    queues = CallQueueRegistry()
    waiting = await start(app, queues, "+15550001111", caller_tone)
    await wait_for(lambda: posted(app, "/wait"), within=5)
    assert waiting[0].follow_twiml(None, "<Response><Hangup/></Response>")
    await wait_for(lambda: waiting[1].hangups, within=5)
    await wait_for(lambda: posted(app, "/queued"), within=5)
    form = posted(app, "/queued")[0].params
    assert form["QueueResult"] == "redirected" and form["CallStatus"] == "in-progress"
    assert queues.take("support") is None  # out of the queue
    await end(waiting)


async def test_a_key_gathered_while_waiting_posts_to_the_action_whose_twiml_runs_there(
    app: TwilioSdkApp,
) -> None:
    """``<Gather>`` in the wait document ("press 1 to leave a message"): the key goes to its
    action with the wait fields; the action's ``<Leave/>`` takes the caller out."""

    def wait(response: VoiceResponse) -> None:
        gather = response.gather(num_digits=1, action="/pressed", timeout=5)
        gather.play("/music.wav")

    build = queue_app(wait=wait)

    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        if request.path == "/pressed":
            response = VoiceResponse()
            response.leave()
            return response
        return build(app_, request)

    app.twiml = twiml
    waiting = await start(app, CallQueueRegistry(), "+15550001111", caller_tone)
    await wait_for(lambda: "gather" in waiting[0].steps, within=5)
    await asyncio.sleep(0.1)
    waiting[0].on_dtmf("1")
    await wait_for(lambda: posted(app, "/queued"), within=5)
    pressed = posted(app, "/pressed")[0].params
    assert pressed["Digits"] == "1" and pressed["QueuePosition"] == "1"
    assert posted(app, "/queued")[0].params["QueueResult"] == "leave"
    assert music_frames(waiting[2]) >= 3  # the nested <Play> (relative URL) was heard
    await end(waiting)
