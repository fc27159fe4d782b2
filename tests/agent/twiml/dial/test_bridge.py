"""A bridged ``<Dial>`` through the agent, against an app on the official ``twilio`` SDK (its
``VoiceResponse().dial(...)`` TwiML, its ``RequestValidator`` on the action): the second leg
placed through the call (a fake that plays the called party: answers and talks, is busy,
does not answer, is refused), audio and keys across, ring tone before the answer,
``DialCallStatus``/``DialCallSid``/``DialCallDuration`` posted, the TwiML after the
``<Dial>`` run, ``callerId``, ``timeLimit``, ``hangupOnStar``, ``record``, the caller
hanging up, and the REFER setting."""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.agent.base import Agent, AgentFactory, CallDetails
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.transfer.warm import LegEnded, LegProgress
from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.agent.twiml.dial.bridge import DialRelay, LegPlacingCall
from sipgw.agent.twiml.dial.rules import ringback_frame
from sipgw.twilio.document import Dial as DialVerb
from sipgw.twilio.document import DialTarget
from tests.agent.parts import FakeCall, wait_for
from tests.agent.twiml.test_agent import Ticker, caller_tone, settings
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

TOKEN = "a" * 32
CALLED_FRAME = b"\x22" * 160
"""What the called party says, each tick."""


@dataclass(eq=False)
class FakeLeg:
    """A second leg as the gateway would place it, its called party scripted by ``plan``:
    ``answer`` (answers after 0.1 s, talks, hangs up after ``talk`` seconds), ``busy``,
    ``no-answer``, ``never`` (rings until cancelled), ``late`` (answers after 1 s)."""

    target: str
    factory: AgentFactory
    ring_timeout: float
    caller_id: str
    plan: str
    talk: float = 30.0
    login: tuple[str, str] | None = None
    call: FakeCall = field(default_factory=lambda: FakeCall(call_id="leg@test"))
    outcome: asyncio.Future[LegEnded] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    agent: Agent | None = None
    heard: list[bytes | None] = field(default_factory=list)
    hangups: int = 0
    on_progress: Callable[[LegProgress], None] | None = None
    says: bytes = CALLED_FRAME
    custom: tuple[tuple[str, str], ...] = ()
    """The X- headers of its final response (its 2xx, or its refusal)."""

    async def ended(self) -> LegEnded:
        return await asyncio.shield(self.outcome)

    def hangup(self) -> None:
        self.hangups += 1
        answered = LegEnded("answered", custom=self.custom)
        self._end(answered if self.agent else LegEnded("failed", 487, "cancelled"))

    def _end(self, how: LegEnded) -> None:
        if not self.outcome.done():
            self.outcome.set_result(how)
            if self.agent is not None:
                asyncio.get_running_loop().create_task(self.agent.close("remote-bye"))

    async def play(self) -> None:
        await asyncio.sleep(0.95 if self.plan == "late" else 0.05)
        if self.on_progress is not None:  # its 180 Ringing
            self.on_progress(LegProgress("ringing", "sip:+15557654321@gw", self.target, 180))
        await asyncio.sleep(0.05)
        if self.plan == "busy":
            self._end(LegEnded("busy", 486, "Busy Here", self.call.call_id, self.custom))
            return
        if self.plan == "no-answer":
            self._end(LegEnded("no-answer", 487, "no answer"))
            return
        if self.plan == "never":
            await self.outcome
            return
        self.agent = agent = self.factory(self.call)
        await agent.prepare()
        agent.on_answered()
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while not self.outcome.done() and loop.time() - start < self.talk:
            agent.on_caller_frame(self.says)
            self.heard.append(agent.next_frame())
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))
        self._end(LegEnded("answered", custom=self.custom))  # the called party hangs up


@dataclass(eq=False)
class DialingCall(FakeCall):
    """A caller's call that places second legs (:class:`LegPlacingCall`)."""

    plans: dict[str, str] = field(default_factory=dict)
    talk: float = 30.0
    legs: list[FakeLeg] = field(default_factory=list)
    legs_call_id: str = "leg@test"
    """The SIP Call-ID of the legs placed."""
    legs_custom: tuple[tuple[str, str], ...] = ()
    """The X- headers of the legs' final responses."""
    called_frame: bytes = CALLED_FRAME
    """What the called parties say, each tick."""

    async def place_leg(
        self, target: str, agent: AgentFactory, ring_timeout: float, caller_id: str = "",
        login: tuple[str, str] | None = None,
        on_progress: Callable[[LegProgress], None] | None = None,
    ) -> FakeLeg:  # fmt: skip
        plan = self.plans.get(target, "answer")
        if plan == "refuse":
            raise DialRefused("transfer", target, "not in SIPGW_DIAL_ALLOW")
        leg = FakeLeg(target, agent, ring_timeout, caller_id, plan, self.talk, login,
                      FakeCall(call_id=self.legs_call_id))  # fmt: skip
        leg.says = self.called_frame
        leg.custom = self.legs_custom
        leg.on_progress = on_progress
        if on_progress is not None:  # its INVITE went out
            on_progress(LegProgress("initiated", "sip:+15557654321@gw", target))
        self.legs.append(leg)
        asyncio.get_running_loop().create_task(leg.play())
        return leg


@pytest.fixture
async def app() -> AsyncIterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN)
    await peer.start()
    yield peer
    await peer.stop()


def dial_then_hangup(**attrs: object) -> Callable[[TwilioSdkApp, WebhookRequest], VoiceResponse]:
    """``<Dial attrs><Number>+15550100</Number></Dial><Pause/><Hangup/>``; the action
    (``/dialled``) answers ``<Hangup/>``."""

    def build(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/dialled":
            response.hangup()
            return response
        dial = Dial(**attrs)
        dial.number("+15550100")
        response.append(dial)
        response.pause(length=1)
        response.hangup()
        return response

    return build


async def start(app: TwilioSdkApp, call: DialingCall, **kw: object) -> tuple[TwimlAgent, Ticker]:
    agent = TwimlAgent(call, settings(url=app.url, **kw))
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, caller_tone)
    ticker.start()
    return agent, ticker


def caller() -> DialingCall:
    return DialingCall(details=CallDetails(caller_number="+15551234567",
                                           called_number="+15557654321"))  # fmt: skip


def posted(app: TwilioSdkApp, path: str) -> list[WebhookRequest]:
    return [r for r in app.requests if r.path == path]


async def test_the_called_party_talks_with_the_caller_then_the_next_verb_runs(
    app: TwilioSdkApp,
) -> None:
    """Ring tone, then audio both ways through each side's frames, keys across, the
    called party hanging up: the verbs after the ``<Dial>`` run (no action)."""
    app.twiml = dial_then_hangup(caller_id="+1 555 765 4321")
    call = caller()
    call.talk = 1.0
    assert isinstance(call, LegPlacingCall)
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.legs and call.legs[0].agent is not None, within=5)
    leg = call.legs[0]
    assert (leg.target, leg.ring_timeout, leg.caller_id) == ("+15550100", 30, "+15557654321")
    await wait_for(lambda: CALLED_FRAME in ticker.heard(), within=2)
    agent.on_dtmf("5")  # the caller's key reaches the called party
    assert leg.agent is not None
    leg.agent.on_dtmf("7")  # and theirs the caller
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("remote-bye")
    heard = ticker.heard()
    assert heard[0] == ringback_frame(0)  # ring tone first, as Twilio plays it
    assert heard.count(CALLED_FRAME) >= 30  # about a second of the called party
    caller_frames = [f for f in leg.heard if f is not None]
    assert len(caller_frames) >= 30  # the caller's frames, each of its own byte, in order
    assert len({f[0] for f in caller_frames}) >= 25  # not the called party's own
    assert leg.call.dtmf == ["5"] and call.dtmf == ["7"]
    assert agent.steps == ["dial", "pause", "end hangup"]
    assert leg.hangups == 0  # they hung up, not us


async def test_send_digits_reach_the_called_party_once_it_answered(app: TwilioSdkApp) -> None:
    """``<Number sendDigits="ww12#W9">``: after the answer, half a second twice, ``12#``,
    a second, ``9``, as keys to the called party (none to the caller)."""

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        dial = Dial(time_limit=3)
        dial.number("+15550100", send_digits="ww12#W9")
        response.append(dial)
        response.hangup()
        return response

    app.twiml = build
    call = caller()
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.legs and call.legs[0].agent is not None, within=5)
    loop = asyncio.get_running_loop()
    answered = loop.time()
    leg = call.legs[0]
    await wait_for(lambda: leg.call.dtmf, within=3)
    first = loop.time() - answered
    assert leg.call.dtmf == ["12#"] and 0.8 <= first <= 1.6  # after ww
    await wait_for(lambda: len(leg.call.dtmf) == 2, within=3)
    assert leg.call.dtmf == ["12#", "9"] and loop.time() - answered >= 1.8  # after W
    assert call.dtmf == []
    await ticker.stop()
    await agent.close("remote-bye")


async def test_sip_credentials_reach_their_leg_and_ring_tone_is_the_countrys(
    app: TwilioSdkApp,
) -> None:
    """``<Sip username password>``: that leg answers its 401/407 with them;
    ``ringTone="uk"``: the caller hears the UK's ring tone; the leg's ``statusCallback`` is
    no longer recorded as ignored."""

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        dial = Dial(time_limit=1, ring_tone="uk", sequential=True)
        dial.sip(
            "sip:desk@pbx.example", username="desk7", password="s3cret-Pass", status_callback="/leg"
        )
        response.append(dial)
        response.hangup()
        return response

    app.twiml = build
    call = caller()
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.legs and call.legs[0].agent is not None, within=5)
    assert call.legs[0].login == ("desk7", "s3cret-Pass")
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("remote-bye")
    assert ticker.heard()[0] == ringback_frame(0, "uk") != ringback_frame(0)
    ignored = [x["attribute"] for x in agent.record.lines if x["type"] == "twiml_dial_ignored"]
    assert (
        ignored == []
    )  # <Sip statusCallback> is followed (tests/agent/twiml/dial/test_screening.py)


async def test_the_action_gets_completed_with_the_dial_sid_and_duration(
    app: TwilioSdkApp,
) -> None:
    app.twiml = dial_then_hangup(action="/dialled")
    call = caller()
    call.talk = 1.2
    call.legs_custom = (("X-Desk", "7"),)
    agent, ticker = await start(app, call)
    await wait_for(lambda: posted(app, "/dialled"), within=6)
    await wait_for(lambda: call.hangups, within=3)
    await ticker.stop()
    await agent.close("remote-bye")
    (action,) = posted(app, "/dialled")
    assert action.valid, "RequestValidator refused the action's signature"
    assert action.params["DialCallStatus"] == "completed"
    assert re.fullmatch(r"CA[0-9a-f]{32}", action.params["DialCallSid"])
    assert action.params["DialCallDuration"] == "1"
    assert action.params["DialBridged"] == "true"
    assert not [n for n in action.params if n.startswith("DialSip")]  # a <Number>: no SIP fields
    assert action.params["CallStatus"] == "in-progress"
    assert agent.steps == ["dial", "fetch <Dial action>", "end hangup"]  # not the <Pause>


@pytest.mark.parametrize(
    ("plan", "status"), [("busy", "busy"), ("no-answer", "no-answer"), ("refuse", "failed")]
)
async def test_an_unanswered_dial_posts_why_and_the_twiml_goes_on(
    app: TwilioSdkApp, plan: str, status: str
) -> None:
    app.twiml = dial_then_hangup(action="/dialled")
    call = caller()
    call.plans = {"+15550100": plan}
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("remote-bye")
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == status
    assert "DialCallDuration" not in action.params
    assert ("DialCallSid" in action.params) == (plan != "refuse")  # no leg, no SID
    assert action.params["DialBridged"] == "false"
    assert agent.steps == ["dial", "fetch <Dial action>", "end hangup"]


async def test_a_busy_target_and_one_that_answers_the_second_is_bridged(app: TwilioSdkApp) -> None:
    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        dial = Dial(action="/dialled", time_limit=1)
        dial.number("+15550100")
        dial.sip("sip:desk@pbx.example")
        response.append(dial)
        if request.path == "/dialled":
            response = VoiceResponse()
            response.hangup()
        return response

    app.twiml = twiml
    call = caller()
    call.plans = {"+15550100": "busy"}
    call.legs_custom = (("X-Desk", "7"), ("x-queue", "sales"))  # in its 200 OK
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.hangups, within=6)
    await ticker.stop()
    await agent.close("remote-bye")
    assert [leg.target for leg in call.legs] == ["+15550100", "sip:desk@pbx.example"]
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "completed"
    assert call.legs[1].hangups == 1  # timeLimit: we hung up on them after 1 s
    assert action.params["DialCallDuration"] == "1"
    # the <Sip> leg answered: its Call-ID and its INVITE's final response (Twilio's <Sip> page)
    assert action.params["DialSipCallId"] == "leg@test"
    assert action.params["DialSipResponseCode"] == "200"
    # and the X- headers of that final response, each as DialSipHeader_<name as sent>
    assert action.params["DialSipHeader_X-Desk"] == "7"
    assert action.params["DialSipHeader_x-queue"] == "sales"


async def test_a_busy_sip_target_posts_its_call_id_and_response_code(app: TwilioSdkApp) -> None:
    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/dialled":
            response.hangup()
            return response
        dial = Dial(action="/dialled")
        dial.sip("sip:desk@pbx.example")
        response.append(dial)
        return response

    app.twiml = twiml
    call = caller()
    call.plans = {"sip:desk@pbx.example": "busy"}
    call.legs_call_id = "busy-leg@pbx.example"
    call.legs_custom = (("X-Reason-Code", "agent-away"),)  # in its 486
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("remote-bye")
    (action,) = posted(app, "/dialled")
    assert action.valid, "RequestValidator refused the action's signature"
    assert action.params["DialCallStatus"] == "busy"
    assert action.params["DialBridged"] == "false"
    assert action.params["DialSipCallId"] == "busy-leg@pbx.example"
    assert action.params["DialSipResponseCode"] == "486"
    assert action.params["DialSipHeader_X-Reason-Code"] == "agent-away"


async def test_hangup_on_star_ends_the_leg_and_the_caller_goes_on(app: TwilioSdkApp) -> None:
    app.twiml = dial_then_hangup(action="/dialled", hangup_on_star=True)
    call = caller()
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.legs and call.legs[0].agent is not None, within=5)
    await wait_for(lambda: CALLED_FRAME in ticker.heard(), within=2)
    agent.on_dtmf("*")
    await wait_for(lambda: call.hangups, within=3)
    await ticker.stop()
    await agent.close("remote-bye")
    assert call.legs[0].hangups == 1 and call.legs[0].call.dtmf == []  # the * did not cross
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "completed"


async def test_a_caller_id_not_the_calls_own_is_not_presented(app: TwilioSdkApp) -> None:
    app.twiml = dial_then_hangup(caller_id="+15559999999", timeout=5)
    call = caller()
    call.talk = 0.2
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("remote-bye")
    assert call.legs[0].caller_id == ""  # the gateway's own caller id goes out
    assert call.legs[0].ring_timeout == 5
    refused = [r for r in agent.record.lines if r.get("type") == "twiml_refused"]
    assert refused and refused[0]["verb"] == "Dial callerId"


async def test_the_caller_hanging_up_cancels_the_ringing_leg_and_posts_canceled(
    app: TwilioSdkApp,
) -> None:
    app.twiml = dial_then_hangup(action="/dialled")
    call = caller()
    call.plans = {"+15550100": "never"}  # rings until cancelled
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.legs, within=5)
    await asyncio.sleep(0.3)
    await ticker.stop()
    await agent.close("remote-bye")
    assert call.legs[0].hangups == 1  # CANCEL
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "canceled"
    assert action.params["CallStatus"] == "completed"


async def test_record_dual_writes_both_sides_in_two_channels(
    app: TwilioSdkApp, tmp_path: Path
) -> None:
    app.twiml = dial_then_hangup(
        action="/dialled",
        record="record-from-answer-dual",
        recording_status_callback="/rec",
        recording_status_callback_method="GET",
        recording_status_callback_event="in-progress completed",
    )
    call = caller()
    call.talk = 1.0
    agent, ticker = await start(app, call, recording_dir=tmp_path,
                                recording_url="https://rec.example/r")  # fmt: skip
    await wait_for(lambda: call.hangups, within=6)
    await wait_for(lambda: len(posted(app, "/rec")) == 2, within=3)
    await ticker.stop()
    await agent.close("remote-bye")
    (action,) = posted(app, "/dialled")
    sid = action.params["RecordingSid"]
    started, status = posted(app, "/rec")  # in-progress once bridged, then completed
    assert started.valid and started.params["RecordingStatus"] == "in-progress"
    assert started.params["RecordingSid"] == sid and "RecordingUrl" not in started.params
    assert action.params["RecordingUrl"] == f"https://rec.example/r/{sid}"
    assert action.params["RecordingDuration"] == "1"
    assert status.method == "GET" and status.valid  # recordingStatusCallback: signed
    assert status.params["RecordingSid"] == sid and status.params["RecordingStatus"] == "completed"
    assert status.params["RecordingChannels"] == "2" and status.params["RecordingDuration"] == "1"
    assert status.params["RecordingSource"] == "DialVerb"
    began = email.utils.parsedate_to_datetime(status.params["RecordingStartTime"])
    assert 0.5 <= time.time() - began.timestamp() <= 30  # from the answer, a second before
    assert status.params["CallSid"] == agent.call_sid
    data = (tmp_path / f"{sid}.wav").read_bytes()
    assert data[20:24] == b"\x07\x00\x02\x00"  # μ-law, two channels
    samples = data[data.index(b"data") + 8 :]
    right = samples[1::2]
    assert right.count(0x22) > 0.8 * len(right)  # the called party on the second channel
    left = samples[0::2]
    assert left.count(0x22) < 0.1 * len(left)  # the caller (caller_tone) on the first


async def test_a_recording_silent_throughout_is_posted_absent(
    app: TwilioSdkApp, tmp_path: Path
) -> None:
    """Both sides silent, ``trim-silence``: no file, no ``RecordingUrl`` for the action, and
    ``absent`` to the callback that asked for it (``in-progress`` before it, same SID)."""
    app.twiml = dial_then_hangup(
        action="/dialled",
        record="record-from-answer",
        trim="trim-silence",
        recording_status_callback="/rec",
        recording_status_callback_event="in-progress absent",
    )
    call = caller()
    call.talk, call.called_frame = 1.0, b"\xff" * 160  # μ-law silence
    agent = TwimlAgent(call, settings(url=app.url, recording_dir=tmp_path,
                                      recording_url="https://rec.example/r"))  # fmt: skip
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, lambda n: b"\xff" * 160)
    ticker.start()
    await wait_for(lambda: call.hangups, within=6)
    await wait_for(lambda: len(posted(app, "/rec")) == 2, within=3)
    await ticker.stop()
    await agent.close("remote-bye")
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "completed" and "RecordingUrl" not in action.params
    started, absent = posted(app, "/rec")
    assert started.params["RecordingStatus"] == "in-progress"
    assert absent.valid and absent.params["RecordingStatus"] == "absent"
    assert absent.params["RecordingSid"] == started.params["RecordingSid"]
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("RE*.wav")))


async def test_refer_setting_transfers_instead_of_bridging(app: TwilioSdkApp) -> None:
    app.twiml = dial_then_hangup(action="/dialled")
    call = caller()
    call.accept_transfer = False
    agent, ticker = await start(app, call, dial="refer")
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("remote-bye")
    assert call.transfers == ["tel:+15550100"] and call.legs == []
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "failed"


async def test_a_leg_answering_once_the_dial_is_over_is_hung_up_at_once() -> None:
    """Our CANCEL crossed the called party's answer: nobody is bridged to them."""

    class Unanswered:
        hangups = 0

        async def ended(self) -> LegEnded:
            return LegEnded("no-answer", 487)

        def hangup(self) -> None:
            self.hangups += 1

    dial = DialVerb((DialTarget("sip", "sip:desk@pbx.example"),))
    relay = DialRelay(FakeCall(), dial, lambda kind, **fields: None)
    ended, talked = await relay.run(Unanswered())
    assert ended == LegEnded("no-answer", 487) and talked is None
    late = FakeCall(call_id="late@test")
    relay.leg_answered(late)
    assert late.hangups == 1 and relay.leg_call is None
    assert relay.frame_for_caller() is None  # no ring tone once it is over


async def test_the_called_partys_early_media_replaces_the_ring_tone() -> None:
    """Before the answer the caller hears ring tone until the called party sends audio (its
    early media: a ringback of its own, an announcement); from then on that audio."""
    dial = DialVerb((DialTarget("number", "+15550100"),))
    relay = DialRelay(FakeCall(), dial, lambda *a, **k: None)
    leg = relay.agent(FakeCall(call_id="leg@test"))
    assert relay.frame_for_caller() == ringback_frame(0)
    leg.on_caller_frame(None)  # nothing yet: still ring tone
    assert relay.frame_for_caller() == ringback_frame(1)
    leg.on_caller_frame(CALLED_FRAME)
    assert relay.early_media and relay.frame_for_caller() == CALLED_FRAME
    assert relay.frame_for_caller() is None  # nothing more sent: silence, no ring tone
    assert relay.frame_for_leg() is None  # the caller is not heard before the answer
