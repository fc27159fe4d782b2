"""Twilio's ``<Refer>``: its ``action``'s fields (sans-IO), and the verb through the agent
against an app on the official ``twilio`` SDK (``VoiceResponse().refer()``, its
``RequestValidator`` on the action): the REFER to the ``<Sip>`` URI, the phone refusing it,
the target busy (its NOTIFY), the target answering (the gateway's hang-up), the caller
hanging up first, the allow-list refusing it, and no ``action`` running the next verb."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from twilio.twiml.voice_response import Refer, VoiceResponse

from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.agent.twiml.referverb import GATEWAY_HANGUP, ReferResult
from tests.agent.parts import FakeCall, wait_for
from tests.agent.twiml.test_agent import Ticker, caller_tone, settings
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

TOKEN = "a" * 32
TARGET = "sip:desk@pbx.example?X-Account=123"


def test_the_action_form_follows_twilios_examples() -> None:
    # the target answered: in-progress, 202, 200 (Twilio's first example)
    assert ReferResult.answered().params() == (
        ("ReferCallStatus", "in-progress"), ("ReferSipResponseCode", "202"),
        ("NotifySipResponseCode", "200"),
    )  # fmt: skip
    # the new call failed: busy from a 486 (the second), failed from a 404
    assert ReferResult.not_reached(486).params() == (
        ("ReferCallStatus", "busy"), ("ReferSipResponseCode", "202"),
        ("NotifySipResponseCode", "486"),
    )  # fmt: skip
    assert ReferResult.not_reached(404).status == "failed"
    assert ReferResult.not_reached(480).status == "no-answer"
    # the phone refused the REFER: failed, with its answer's code (the third)
    assert ReferResult.refused(405).params() == (
        ("ReferCallStatus", "failed"), ("ReferSipResponseCode", "405"),
    )  # fmt: skip
    # no REFER went out (the allow-list refused the target): no code
    assert ReferResult.refused().params() == (("ReferCallStatus", "failed"),)
    # the caller hung up first (the fourth): canceled, 202 once it was accepted
    assert ReferResult.canceled(True).params() == (
        ("ReferCallStatus", "canceled"), ("ReferSipResponseCode", "202"),
    )  # fmt: skip
    assert ReferResult.canceled(False).params() == (("ReferCallStatus", "canceled"),)


@pytest.fixture
async def app() -> AsyncIterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN)
    await peer.start()
    yield peer
    await peer.stop()


def refer_then_say(
    action: str = "/referred",
) -> Callable[[TwilioSdkApp, WebhookRequest], VoiceResponse]:
    """``<Refer action><Sip>TARGET</Sip></Refer><Say>still here</Say>``; the action answers
    ``<Hangup/>``."""

    def build(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/referred":
            response.hangup()
            return response
        refer = Refer(action=action) if action else Refer()
        refer.sip(TARGET)
        response.append(refer)
        response.pause(length=1)
        response.hangup()
        return response

    return build


async def start(app: TwilioSdkApp, call: FakeCall) -> tuple[TwimlAgent, Ticker]:
    agent = TwimlAgent(call, settings(url=app.url))
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, caller_tone)
    ticker.start()
    return agent, ticker


def posted(app: TwilioSdkApp, path: str) -> list[WebhookRequest]:
    return [r for r in app.requests if r.path == path]


@dataclass(eq=False)
class RefusingCall(FakeCall):
    """A call whose phone answers the REFER with ``refusal`` (the gateway tells the agent
    that answer before ``transfer`` returns False, as ``CallHandle.transfer_updated`` does)."""

    refusal: int = 603
    agent: TwimlAgent | None = None

    async def transfer(self, target: str, summary: str = "") -> bool:
        self.transfers.append(target)
        assert self.agent is not None
        self.agent.on_transfer_refused(self.refusal, "refused")
        return False


@pytest.mark.parametrize("refusal", [403, 405, 603])
async def test_a_refused_refer_posts_failed_its_code_and_the_actions_twiml_runs(
    app: TwilioSdkApp, refusal: int
) -> None:
    app.twiml = refer_then_say()
    call = RefusingCall(refusal=refusal)
    agent = TwimlAgent(call, settings(url=app.url))
    call.agent = agent
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, caller_tone)
    ticker.start()
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("remote-bye")
    assert call.transfers == [TARGET]  # the <Sip> URI as written, its header with it
    (action,) = posted(app, "/referred")
    assert action.valid, "RequestValidator refused the action's signature"
    assert action.params["ReferCallStatus"] == "failed"
    assert action.params["ReferSipResponseCode"] == str(refusal)
    assert "NotifySipResponseCode" not in action.params
    assert action.params["CallStatus"] == "in-progress"
    assert agent.steps == ["refer", "fetch <Refer action>", "end hangup"]


async def test_the_target_busy_posts_its_notify_and_the_caller_stays(app: TwilioSdkApp) -> None:
    app.twiml = refer_then_say()
    call = FakeCall()
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.transfers, within=5)
    await asyncio.sleep(0.1)
    agent.on_transfer_failed(486, "Busy Here")  # the phone's last NOTIFY
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("remote-bye")
    (action,) = posted(app, "/referred")
    assert action.params["ReferCallStatus"] == "busy"
    assert action.params["ReferSipResponseCode"] == "202"
    assert action.params["NotifySipResponseCode"] == "486"


@pytest.mark.parametrize(
    ("reason", "status"), [(GATEWAY_HANGUP, "in-progress"), ("remote-bye", "canceled")]
)
async def test_the_call_ending_during_the_refer_posts_the_action(
    app: TwilioSdkApp, reason: str, status: str
) -> None:
    """The target answered (the gateway hangs up: the phone took the call over), or the
    caller hung up first: the action gets it with ``CallStatus=completed``."""
    app.twiml = refer_then_say()
    call = FakeCall()
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.transfers, within=5)
    await asyncio.sleep(0.1)
    await ticker.stop()
    await agent.close(reason)
    (action,) = posted(app, "/referred")
    assert action.valid and action.params["CallStatus"] == "completed"
    assert action.params["ReferCallStatus"] == status
    assert action.params["ReferSipResponseCode"] == "202"
    assert ("NotifySipResponseCode" in action.params) == (status == "in-progress")
    assert call.hangups == 0  # nothing of the document ran after it


async def test_no_action_runs_the_next_verb_and_the_allow_list_is_asked(
    app: TwilioSdkApp,
) -> None:
    app.twiml = refer_then_say(action="")
    call = FakeCall()
    call.refuse = True  # the target is not in SIPGW_DIAL_ALLOW: no REFER goes out
    agent, ticker = await start(app, call)
    await wait_for(lambda: call.hangups, within=5)
    await ticker.stop()
    await agent.close("remote-bye")
    assert call.transfers == [] and not posted(app, "/referred")
    assert agent.steps == ["refer", "pause", "end hangup"]
    refused = [x for x in agent.record.lines if x["type"] == "twiml_refused"]
    assert refused and refused[0]["verb"] == "Refer"
