"""A ``<Dial>`` of several targets (sipgw/agent/twiml/dial/ringall.py), through the agent and
an app on the official ``twilio`` SDK, the legs placed through a fake of the call (the
called parties scripted as in test_bridge.py): all ring at once, the first to answer is
bridged, the others are cancelled or, answering late, hung up; ``DialCallStatus`` across
the targets; the caller hanging up cancels every leg."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.agent.base import AgentFactory
from sipgw.agent.transfer.warm import LegProgress
from sipgw.agent.twiml.dial.ringall import MAX_TARGETS, unanswered_status
from tests.agent.parts import wait_for
from tests.agent.twiml.dial.test_bridge import DialingCall, FakeLeg, app, caller, posted, start
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

__all__ = ["app"]  # the fixture

DESK = "sip:desk@pbx.example"
MOBILE = "+15550100"


def dial_both(**attrs: object) -> Callable[[TwilioSdkApp, WebhookRequest], VoiceResponse]:
    """``<Dial action="/dialled" attrs><Number>MOBILE</Number><Sip>DESK</Sip></Dial>``; the
    action answers ``<Hangup/>``."""

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/dialled":
            response.hangup()
            return response
        dial = Dial(action="/dialled", **attrs)
        dial.number(MOBILE)
        dial.sip(DESK)
        response.append(dial)
        return response

    return build


async def test_all_ring_at_once_the_first_to_answer_is_bridged_the_other_cancelled(
    app: TwilioSdkApp,
) -> None:
    app.twiml = dial_both(time_limit=1)
    call = caller()
    call.plans = {MOBILE: "never", DESK: "answer"}
    agent, ticker = await start(app, call)
    await wait_for(lambda: len(call.legs) == 2, within=5)
    assert all(leg.agent is None for leg in call.legs)  # both placed before either answered
    await wait_for(lambda: call.hangups, within=6)
    await ticker.stop()
    await agent.close("remote-bye")
    mobile, desk = call.legs
    assert mobile.hangups == 1 and mobile.agent is None  # CANCELed while it rang
    assert mobile.outcome.result().status == 487
    assert desk.agent is not None and desk.hangups == 1  # bridged, then the timeLimit
    assert any(frame not in (None, b"\xff" * 160) for frame in desk.heard)  # the caller
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "completed"
    assert action.params["DialCallDuration"] == "1"
    assert action.params["DialCallSid"].startswith("CA")
    ended = [r for r in agent.record.lines if r.get("type") == "twiml_dial_ended"]
    assert {r["target"]: r["ended_by"] for r in ended}[MOBILE] == "lost"


async def test_two_that_answer_only_the_first_is_bridged_the_other_hung_up(
    app: TwilioSdkApp,
) -> None:
    app.twiml = dial_both(time_limit=1)
    call = caller()
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.hangups, within=6)
    await ticker.stop()
    await agent.close("remote-bye")
    answered = [leg for leg in call.legs if leg.agent is not None]
    assert len(answered) == 2
    hung_up_at_once = [leg for leg in answered if leg.call.hangups]
    assert len(hung_up_at_once) == 1  # its answer came second: BYE, never bridged
    assert not any(f not in (None, b"\xff" * 160) for f in hung_up_at_once[0].heard)
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "completed"


@pytest.mark.parametrize(
    ("plans", "status"),
    [
        ({MOBILE: "busy", DESK: "no-answer"}, "no-answer"),
        ({MOBILE: "busy", DESK: "refuse"}, "busy"),
        ({MOBILE: "refuse", DESK: "refuse"}, "failed"),
    ],
)
async def test_none_answered_dial_call_status_is_the_most_hopeful(
    app: TwilioSdkApp, plans: dict[str, str], status: str
) -> None:
    app.twiml = dial_both()
    call = caller()
    call.plans = plans
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.hangups, within=6)
    await ticker.stop()
    await agent.close("remote-bye")
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == status
    assert "DialCallDuration" not in action.params
    assert ("DialCallSid" in action.params) == bool(call.legs)


async def test_the_caller_hanging_up_cancels_every_ringing_leg(app: TwilioSdkApp) -> None:
    app.twiml = dial_both()
    call = caller()
    call.plans = {MOBILE: "never", DESK: "never"}
    agent, ticker = await start(app, call)
    await wait_for(lambda: len(call.legs) == 2, within=5)
    await asyncio.sleep(0.3)
    await ticker.stop()
    assert any(frame for _, frame in ticker.played[-10:])  # ring tone meanwhile
    await agent.close("remote-bye")
    assert [leg.hangups for leg in call.legs] == [1, 1]
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "canceled"


@dataclass(eq=False)
class Watched(DialingCall):
    """A caller's call that notes, as each leg is placed, whether every earlier one is over."""

    earlier_over: list[bool] = field(default_factory=list)

    async def place_leg(
        self, target: str, agent: AgentFactory, ring_timeout: float, caller_id: str = "",
        login: tuple[str, str] | None = None,
        on_progress: Callable[[LegProgress], None] | None = None,
    ) -> FakeLeg:  # fmt: skip
        self.earlier_over.append(all(leg.outcome.done() for leg in self.legs))
        return await super().place_leg(target, agent, ring_timeout, caller_id, login, on_progress)


@pytest.mark.parametrize(("sequential", "in_turn"), [(True, [True, True]), (False, [True, False])])
async def test_sequential_rings_the_targets_one_after_another(
    app: TwilioSdkApp, sequential: bool, in_turn: list[bool]
) -> None:
    app.twiml = dial_both(time_limit=1, sequential=sequential)
    call = Watched(details=caller().details)
    call.plans = {MOBILE: "busy", DESK: "answer"}
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.hangups, within=6)
    await ticker.stop()
    await agent.close("remote-bye")
    assert [leg.target for leg in call.legs] == [MOBILE, DESK]
    assert call.earlier_over == in_turn  # in turn: the desk placed once the mobile was busy
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "completed"


def test_unanswered_status_and_the_limit() -> None:
    assert unanswered_status(["busy", "no-answer", "failed"]) == "no-answer"
    assert unanswered_status(["failed", "busy"]) == "busy"
    assert unanswered_status(["failed"]) == unanswered_status([]) == "failed"
    assert MAX_TARGETS == 10
