"""Call screening and a leg's status callbacks through the agent, against an app on the
official ``twilio`` SDK: ``<Number url>`` runs its TwiML for the called party alone (the
caller hears ring tone), a key accepts (bridged, ``completed``), ``<Hangup>`` refuses
(``no-answer``, the TwiML after the ``<Dial>`` runs), a ``<Dial>`` in it is refused; with
two targets the first to accept wins; ``<Number statusCallback>`` gets the leg's
``initiated``, ``ringing``, ``answered`` and ``completed``, signed, in order."""

from __future__ import annotations

from collections.abc import Callable

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from sipgw.agent.base import Agent
from sipgw.agent.transfer.warm import LegEnded
from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.agent.twiml.dial.bridge import DialedLeg
from sipgw.agent.twiml.dial.rules import ringback_frame
from tests.agent.parts import wait_for
from tests.agent.twiml.dial.test_bridge import CALLED_FRAME, app, caller, posted, start
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

__all__ = ["app"]  # the fixture

DESK = "sip:desk@pbx.example"
MOBILE = "+15550100"
EVERY = "initiated ringing answered completed"


def screened(*targets: str, events: str = "completed") -> Callable[..., VoiceResponse]:
    """``<Dial action="/dialled">`` of ``targets``, each ``url="/screen"`` and
    ``statusCallback="/leg"``; ``/screen`` gathers one key for ``/accept``, which accepts on
    ``1`` (an empty document) and hangs up on any other; the action answers ``<Hangup/>``."""

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/dialled":
            response.hangup()
        elif request.path == "/screen":
            response.append(Gather(num_digits=1, action="/accept", timeout=5))
            response.hangup()
        elif request.path == "/accept":
            if request.params.get("Digits") != "1":
                response.hangup()
        else:
            dial = Dial(action="/dialled", time_limit=1)
            for target in targets:
                add = dial.sip if target.startswith("sip:") else dial.number
                add(target, url="/screen", status_callback="/leg",
                    status_callback_event=events)  # fmt: skip
            response.append(dial)
            response.say("never: the action replaces the rest")
        return response

    return build


async def press_when_gathering(agent: Agent | None, key: str) -> None:
    """Press ``key`` on a screening leg once its ``<Gather>`` listens: ``/screen`` posted is
    not its answer applied, and a key between verbs is lost, as on Twilio."""
    assert isinstance(agent, DialedLeg)

    def gathering() -> bool:
        screening = agent.relay.screening
        return isinstance(screening, TwimlAgent) and screening.verbs.gather.gathering is not None

    await wait_for(gathering, within=5)
    agent.on_dtmf(key)


async def test_the_called_party_accepts_with_a_key_and_the_two_are_bridged(
    app: TwilioSdkApp,
) -> None:
    app.twiml = screened(MOBILE, events=EVERY)
    call = caller()
    agent, ticker = await start(app, call)
    await wait_for(lambda: posted(app, "/screen"), within=5)
    (leg,) = call.legs
    assert leg.agent is not None
    await wait_for(lambda: len(ticker.heard()) > 20, within=2)
    assert CALLED_FRAME not in ticker.heard()  # screening is private: the caller hears ring
    assert ticker.heard()[-1] in {ringback_frame(n) for n in range(len(ticker.heard()) + 5)}
    await press_when_gathering(leg.agent, "1")
    await wait_for(lambda: CALLED_FRAME in ticker.heard(), within=3)  # bridged
    await wait_for(lambda: posted(app, "/dialled"), within=5)
    await wait_for(lambda: call.hangups, within=3)
    await ticker.stop()
    await agent.close("remote-bye")
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "completed" and action.valid
    assert action.params["DialBridged"] == "true"  # what apps that screen read
    (screen,) = posted(app, "/screen")
    (accept,) = posted(app, "/accept")
    assert screen.valid and accept.valid and accept.params["Digits"] == "1"
    assert screen.params["CallSid"] == action.params["DialCallSid"] != action.params["CallSid"]
    assert screen.params["ParentCallSid"] == action.params["CallSid"]
    assert screen.params["Direction"] == "outbound-dial"
    assert screen.params["CallStatus"] == "in-progress" and screen.params["To"] == MOBILE
    assert agent.record.lines[-1]["type"] == "twiml_closed"
    kinds = [x["type"] for x in agent.record.lines]
    assert kinds.index("twiml_dial_screening") < kinds.index("twiml_dial_bridged")
    await wait_for(lambda: len(posted(app, "/leg")) == 4, within=3)
    legs = posted(app, "/leg")
    assert [r.params["CallStatus"] for r in legs] == [
        "initiated", "ringing", "in-progress", "completed",
    ]  # fmt: skip
    assert [r.params["SequenceNumber"] for r in legs] == ["0", "1", "2", "3"]
    assert all(r.valid and r.params["CallSid"] == action.params["DialCallSid"] for r in legs)
    assert legs[-1].params["CallDuration"].isdigit()


async def test_a_hangup_in_the_screening_refuses_and_the_dial_is_no_answer(
    app: TwilioSdkApp,
) -> None:
    app.twiml = screened(MOBILE)
    call = caller()
    agent, ticker = await start(app, call)
    await wait_for(lambda: posted(app, "/screen"), within=5)
    (leg,) = call.legs
    assert leg.agent is not None
    await press_when_gathering(leg.agent, "2")  # declined: /accept answers <Hangup/>
    await wait_for(lambda: posted(app, "/dialled"), within=5)
    await wait_for(lambda: call.hangups, within=3)
    await ticker.stop()
    await agent.close("remote-bye")
    assert leg.hangups == 1  # the gateway hung up the called party
    assert CALLED_FRAME not in ticker.heard()  # never bridged
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "no-answer"
    assert action.params["DialBridged"] == "false"  # screened out: never connected
    (completed,) = posted(app, "/leg")  # completed alone, by default
    assert completed.params["CallStatus"] == "completed"  # the leg itself was answered
    ended = [x for x in agent.record.lines if x["type"] == "twiml_dial_ended"]
    assert ended[0]["status"] == "no-answer" and ended[0]["ended_by"] == "screening"


async def test_a_dial_in_the_screening_is_refused_and_its_end_accepts(
    app: TwilioSdkApp,
) -> None:
    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/screen":
            response.dial("+15550199")  # not allowed there: refused, skipped
            response.pause(length=1)
            return response
        dial = Dial(time_limit=1)
        dial.number(MOBILE, url="/screen")
        response.append(dial)
        response.hangup()
        return response

    app.twiml = build
    call = caller()
    agent, ticker = await start(app, call)
    await wait_for(lambda: CALLED_FRAME in ticker.heard(), within=5)  # bridged after 1 s
    await wait_for(lambda: call.hangups, within=4)
    await ticker.stop()
    await agent.close("remote-bye")
    assert [leg.target for leg in call.legs] == [MOBILE]  # the screening placed nothing
    heard = ticker.heard()
    assert heard.index(CALLED_FRAME) >= 45  # the second of <Pause> first, ringing meanwhile


async def test_with_two_targets_the_first_to_accept_wins(app: TwilioSdkApp) -> None:
    app.twiml = screened(MOBILE, DESK)
    call = caller()
    agent, ticker = await start(app, call)
    await wait_for(lambda: len(posted(app, "/screen")) == 2, within=5)
    mobile, desk = call.legs
    assert desk.agent is not None and mobile.agent is not None
    await press_when_gathering(desk.agent, "1")  # the desk accepts; the mobile hears its prompt
    await wait_for(lambda: posted(app, "/dialled"), within=5)
    await wait_for(lambda: call.hangups, within=3)
    await ticker.stop()
    await agent.close("remote-bye")
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "completed"
    assert mobile.hangups == 1  # its screening stopped: hung up
    screens = {r.params["To"]: r.params["CallSid"] for r in posted(app, "/screen")}
    assert action.params["DialCallSid"] == screens[DESK]
    ended = {x["target"]: x for x in agent.record.lines if x["type"] == "twiml_dial_ended"}
    assert ended[MOBILE]["ended_by"] == "lost" and ended[DESK]["status"] == "completed"


async def test_the_called_party_hanging_up_during_its_screening_refuses(
    app: TwilioSdkApp,
) -> None:
    app.twiml = screened(MOBILE, events=EVERY)
    call = caller()
    agent, ticker = await start(app, call)
    await wait_for(lambda: posted(app, "/screen"), within=5)
    (leg,) = call.legs
    leg._end(LegEnded("answered"))  # they hang up before pressing anything
    await wait_for(lambda: posted(app, "/dialled"), within=5)
    await wait_for(lambda: call.hangups, within=3)
    await ticker.stop()
    await agent.close("remote-bye")
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "no-answer"
    assert not posted(app, "/accept") and CALLED_FRAME not in ticker.heard()
    await wait_for(lambda: len(posted(app, "/leg")) == 4, within=3)
    statuses = [r.params["CallStatus"] for r in posted(app, "/leg")]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]


async def test_the_caller_hanging_up_while_the_leg_rings_posts_its_completed_canceled(
    app: TwilioSdkApp,
) -> None:
    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        dial = Dial(action="/dialled")
        dial.number(MOBILE, status_callback="/leg", status_callback_event="ringing completed")
        response.append(dial)
        return response

    app.twiml = build
    call = caller()
    call.plans = {MOBILE: "never"}  # rings until cancelled
    agent, ticker = await start(app, call)
    await wait_for(lambda: posted(app, "/leg"), within=5)  # ringing
    await ticker.stop()
    await agent.close("remote-bye")  # the caller hung up: its callbacks are posted first
    ringing, completed = posted(app, "/leg")
    assert (ringing.params["CallStatus"], completed.params["CallStatus"]) == (
        "ringing", "canceled",
    )  # fmt: skip
    assert completed.params["CallDuration"] == "0" and completed.valid
    assert call.legs[0].hangups == 1  # CANCEL
