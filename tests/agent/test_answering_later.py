"""Answering later, as the TwiML agent asks it for ``<Dial answerOnBridge="true">`` (an app
on the official ``twilio`` SDK, a fake caller's call that places legs and can stay
unanswered): the call stays unanswered, hearing ring tone, while the target rings, and is
answered when the target answers; a busy target leaves it unanswered for what follows (a
``<Hangup>`` refuses it, a ``<Play>`` answers it first); without the attribute, or as
anything but the first verb on a call already answered, nothing waits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.agent.base import AnswersLater, CallDetails, DefersAnswer
from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.agent.twiml.dial.rules import ringback_frame
from tests.agent.parts import wait_for
from tests.agent.twiml.dial.test_bridge import CALLED_FRAME, DialingCall, app
from tests.agent.twiml.test_agent import Ticker, caller_tone, settings
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

__all__ = ["app"]


@dataclass(eq=False)
class EarlyCall(DialingCall):
    """A caller's call that stays unanswered until asked (:class:`AnswersLater`)."""

    answers: list[int] = field(default_factory=list)
    """How many legs had been placed at each answer."""
    answer_now: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.answer_now = lambda: self.answers.append(len(self.legs))


def early_call(**plans: str) -> EarlyCall:
    details = CallDetails(caller_number="+15551234567", called_number="+15557654321")
    return EarlyCall(details=details, plans=dict(plans), talk=0.5)


def dial_app(
    answer_on_bridge: bool = True, then: Callable[[VoiceResponse], object] = lambda r: r.hangup()
) -> Callable[[TwilioSdkApp, WebhookRequest], VoiceResponse]:
    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/dialled":
            then(response)
            return response
        dial = Dial(action="/dialled", answer_on_bridge=answer_on_bridge)
        dial.number("+15550100")
        response.append(dial)
        return response

    return build


async def started(app: TwilioSdkApp, call: EarlyCall) -> tuple[tuple[TwimlAgent, bool], Ticker]:
    agent = TwimlAgent(call, settings(url=app.url))
    await agent.prepare()
    assert isinstance(agent, DefersAnswer) and isinstance(call, AnswersLater)
    deferred = agent.answer_deferred
    agent.on_answered()  # the gateway starts it: unanswered when deferred (183)
    ticker = Ticker(agent, caller_tone)
    ticker.start()
    return (agent, deferred), ticker


async def test_the_call_is_answered_when_the_called_party_answers(app: TwilioSdkApp) -> None:
    app.twiml = dial_app()
    call = early_call()
    (agent, deferred), ticker = await started(app, call)
    assert deferred  # the gateway sends 183 and plays what the agent sends
    await wait_for(lambda: call.legs and call.legs[0].agent is not None, within=5)
    await wait_for(lambda: call.answers, within=2)
    assert call.answers == [1]  # once, when the leg answered
    heard = ticker.heard()
    assert heard[0] == ringback_frame(0)  # ring tone as the early media
    await wait_for(lambda: CALLED_FRAME in ticker.heard(), within=2)
    await wait_for(lambda: call.hangups, within=5)
    assert call.statuses == [480] and call.answers == [1]
    await ticker.stop()
    await agent.close("remote-bye")


async def test_a_busy_target_leaves_the_call_unanswered_and_a_hangup_refuses_it(
    app: TwilioSdkApp,
) -> None:
    app.twiml = dial_app()
    call = early_call(**{"+15550100": "busy"})
    (agent, deferred), ticker = await started(app, call)
    await wait_for(lambda: call.hangups, within=5)
    assert deferred and call.answers == []  # never answered: the <Hangup> refuses it
    await ticker.stop()
    await agent.close("remote-bye")


async def test_a_verb_heard_after_a_busy_target_answers_the_call_first(
    app: TwilioSdkApp,
) -> None:
    app.twiml = dial_app(then=lambda r: r.pause(length=1))
    call = early_call(**{"+15550100": "busy"})
    (agent, _), ticker = await started(app, call)
    await wait_for(lambda: call.hangups, within=5)
    assert call.answers == [1]  # the <Pause> answered it, before it ran
    assert agent.steps == ["dial", "fetch <Dial action>", "pause", "end end"]
    await ticker.stop()
    await agent.close("remote-bye")


async def test_without_answer_on_bridge_nothing_waits(app: TwilioSdkApp) -> None:
    app.twiml = dial_app(answer_on_bridge=False)
    call = early_call()
    (agent, deferred), ticker = await started(app, call)
    await wait_for(lambda: call.hangups, within=5)
    assert not deferred and call.answers == []
    await ticker.stop()
    await agent.close("remote-bye")
