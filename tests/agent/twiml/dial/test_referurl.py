"""``<Dial referUrl>`` (sipgw.agent.twiml.dial.referurl): the bridged called party's REFER, through
the TwiML agent, against an app on the official ``twilio`` SDK (``Dial(refer_url=...)``, its
``RequestValidator`` on the referUrl request): declined without ``referUrl`` (603, the two
stay connected), accepted with it (202, then NOTIFY 100 and 200), ``ReferTransferTarget``
posted signed, the called party hung up and the app's TwiML run for the caller; a failed
fetch (503 in the NOTIFY, the call's fallback; with ``answerOnBridge`` the two stay
connected); one REFER at a time; ``<Dial><Queue>`` takes none."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.agent.transfer.warm import LegEnded
from tests.agent.parts import wait_for
from tests.agent.twiml.dial.test_bridge import DialingCall, app, caller, posted, start
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

__all__ = ["app"]  # the fixture

REFER_TO = "<sip:agent-b@pbx.example.com?X-Ticket=42>"
TARGET_B = "sip:agent-b@pbx.example.com"


@dataclass
class FakeReferral:
    """A REFER as the gateway hands it to the leg's agent; records the answers."""

    refer_to: str = REFER_TO
    target: str = "sip:agent-b@pbx.example.com?X-Ticket=42"
    answers: list[int] = field(default_factory=list)
    reports: list[int] = field(default_factory=list)

    def accept(self) -> None:
        self.answers.append(202)

    def refuse(self, status: int = 603) -> None:
        self.answers.append(status)

    def report(self, status: int, reason: str = "") -> None:
        self.reports.append(status)


def dial_with_refer(
    *, refer: str | None = "/refer", refer_answer: str = "dial", **attrs: object
) -> Callable[[TwilioSdkApp, WebhookRequest], VoiceResponse]:
    """``<Dial referUrl=refer>+15550100</Dial><Say>after</Say>``; ``/refer`` answers a
    ``<Dial>`` to the target (``dial``), bad TwiML (``bad``) or an HTTP error (``error``)."""

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/refer":
            if refer_answer == "error":
                raise RuntimeError("the app is down")
            target = request.params["ReferTransferTarget"].strip("<>").split("?")[0]
            response.dial().sip(target)
            return response
        dial = Dial(refer_url=refer, **attrs) if refer else Dial(**attrs)
        dial.number("+15550100")
        response.append(dial)
        response.pause(length=5)
        return response

    return build


async def bridged(app: TwilioSdkApp, call: DialingCall) -> tuple[object, object]:
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.legs and call.legs[0].agent is not None, within=5)
    await wait_for(lambda: "dial_bridged" in notes(agent), within=2)
    return agent, ticker


def notes(agent: object) -> list[str]:
    return [line["type"].removeprefix("twiml_") for line in agent.record.lines]  # type: ignore[attr-defined]


async def test_a_refer_runs_the_refer_url_twiml_for_the_caller(app: TwilioSdkApp) -> None:
    app.twiml = dial_with_refer()
    call = caller()
    agent, ticker = await bridged(app, call)
    leg = call.legs[0]
    referral = FakeReferral()
    assert leg.agent is not None
    leg.agent.on_refer(referral)
    assert referral.answers == [202]
    await wait_for(lambda: len(call.legs) == 2, within=5)  # the app's <Dial> to the target
    assert call.legs[1].target == "sip:agent-b@pbx.example.com"
    (refer,) = posted(app, "/refer")
    assert refer.valid and refer.method == "POST"
    assert refer.params["ReferTransferTarget"] == REFER_TO
    assert refer.params["CallSid"] and refer.params["From"] == "+15551234567"
    assert referral.reports == [200]
    assert leg.hangups == 1  # the transferor is hung up, as Twilio does
    assert "dial_referred" in notes(agent)
    await ticker.stop()  # type: ignore[attr-defined]
    await agent.close("remote-bye")  # type: ignore[attr-defined]


async def test_without_refer_url_the_refer_is_declined(app: TwilioSdkApp) -> None:
    app.twiml = dial_with_refer(refer=None)
    call = caller()
    agent, ticker = await bridged(app, call)
    leg = call.legs[0]
    referral = FakeReferral()
    assert leg.agent is not None
    leg.agent.on_refer(referral)
    assert referral.answers == [603] and referral.reports == []
    assert leg.hangups == 0 and len(call.legs) == 1  # still talking
    assert "dial_refer_refused" in notes(agent)
    await ticker.stop()  # type: ignore[attr-defined]
    await agent.close("remote-bye")  # type: ignore[attr-defined]


async def test_a_failed_refer_url_is_the_calls_failure(app: TwilioSdkApp) -> None:
    app.twiml = dial_with_refer(refer_answer="error")
    call = caller()
    agent, ticker = await bridged(app, call)
    leg = call.legs[0]
    referral = FakeReferral()
    assert leg.agent is not None
    leg.agent.on_refer(referral)
    await wait_for(lambda: referral.reports, within=5)
    assert referral.reports == [503]
    await wait_for(lambda: call.hangups, within=5)  # the fallback (hangup) ends the call
    assert leg.hangups == 1 and "failure" in notes(agent)
    await ticker.stop()  # type: ignore[attr-defined]
    await agent.close("remote-bye")  # type: ignore[attr-defined]


async def test_with_answer_on_bridge_a_failed_refer_url_keeps_the_two(app: TwilioSdkApp) -> None:
    app.twiml = dial_with_refer(refer_answer="error", answer_on_bridge=True)
    call = caller()
    agent, ticker = await bridged(app, call)
    leg = call.legs[0]
    first, second = FakeReferral(), FakeReferral()
    assert leg.agent is not None
    leg.agent.on_refer(first)
    leg.agent.on_refer(second)  # while the first is fetched: one at a time
    assert first.answers == [202] and second.answers == [403]
    await wait_for(lambda: first.reports, within=5)
    assert first.reports == [503] and leg.hangups == 0 and not call.hangups
    third = FakeReferral()
    leg.agent.on_refer(third)  # the first is over: the next is taken
    assert third.answers == [202]
    await ticker.stop()  # type: ignore[attr-defined]
    await agent.close("remote-bye")  # type: ignore[attr-defined]


async def test_a_transferor_that_hangs_up_at_once_still_hands_the_caller_over(
    app: TwilioSdkApp,
) -> None:
    """Many phones end their call as soon as their blind transfer's REFER is accepted: the
    bridge is over before ``referUrl`` answers, and the app's TwiML still runs."""
    app.twiml = dial_with_refer()
    call = caller()
    agent, ticker = await bridged(app, call)
    leg = call.legs[0]
    referral = FakeReferral()
    assert leg.agent is not None
    leg.agent.on_refer(referral)
    leg._end(LegEnded("answered"))  # the transferor's BYE, before the fetch is done
    await wait_for(lambda: len(call.legs) == 2, within=5)
    assert call.legs[1].target == "sip:agent-b@pbx.example.com"
    assert referral.reports == [200] and not posted(app, "/dialled")
    await ticker.stop()  # type: ignore[attr-defined]
    await agent.close("remote-bye")  # type: ignore[attr-defined]


async def test_with_answer_on_bridge_the_transferor_stays_until_the_target_answers(
    app: TwilioSdkApp,
) -> None:
    """Twilio's second example: the caller talks with the called party while referUrl's
    ``<Dial>`` rings; its answer hangs the transferor up and bridges the caller to it."""
    app.twiml = dial_with_refer(answer_on_bridge=True)
    call = caller()
    call.plans[TARGET_B] = "late"  # answers after a second
    agent, ticker = await bridged(app, call)
    leg = call.legs[0]
    referral = FakeReferral()
    assert leg.agent is not None
    leg.agent.on_refer(referral)
    await wait_for(lambda: len(call.legs) == 2, within=5)  # the target rings
    target = call.legs[1]
    assert target.target == TARGET_B
    heard_before = len(leg.heard)
    await asyncio.sleep(0.3)
    assert referral.reports == [] and leg.hangups == 0  # still talking with the transferor
    assert len(leg.heard) > heard_before  # the caller reaches the transferor meanwhile
    await wait_for(lambda: referral.reports == [200], within=5)
    await wait_for(lambda: leg.hangups == 1, within=2)  # the transferor, once it answered
    await wait_for(lambda: len(target.heard) >= 10, within=3)  # and now reaches the target
    assert "dial_refer_ringing" in notes(agent) and "dial_referred" in notes(agent)
    await ticker.stop()  # type: ignore[attr-defined]
    await agent.close("remote-bye")  # type: ignore[attr-defined]


async def test_with_answer_on_bridge_an_unanswered_target_keeps_the_two(
    app: TwilioSdkApp,
) -> None:
    app.twiml = dial_with_refer(answer_on_bridge=True)
    call = caller()
    call.plans[TARGET_B] = "busy"
    agent, ticker = await bridged(app, call)
    leg = call.legs[0]
    referral = FakeReferral()
    assert leg.agent is not None
    leg.agent.on_refer(referral)
    await wait_for(lambda: referral.reports, within=5)
    assert referral.reports == [486]  # the target was busy
    heard = len(leg.heard)
    await asyncio.sleep(0.3)
    assert leg.hangups == 0 and len(leg.heard) > heard  # the two go on talking
    again = FakeReferral()
    call.plans[TARGET_B] = "answer"
    leg.agent.on_refer(again)  # and the called party may transfer again
    assert again.answers == [202]
    await wait_for(lambda: again.reports == [200], within=5)  # this time the target answers
    await wait_for(lambda: leg.hangups == 1, within=2)
    await ticker.stop()  # type: ignore[attr-defined]
    await agent.close("remote-bye")  # type: ignore[attr-defined]
