"""Answering-machine detection on a ``<Dial>``'s leg (``<Number machineDetection>``): the
detector's ``AnsweredBy`` from the leg's audio, and through the agent against the SDK app:
ring tone while it listens, the screening request carrying ``AnsweredBy``, the
``amdStatusCallback`` posted and signed, the leg bridged after it when there is no ``url``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.agent.twiml.dial.legamd import LegDetection, amd_form
from sipgw.agent.twiml.dial.rules import ringback_frame
from sipgw.twilio.document import DialTarget
from tests.agent.parts import wait_for
from tests.agent.twiml.dial.test_bridge import CALLED_FRAME, app, caller, posted, start
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

__all__ = ["app"]  # the fixture

SILENT = b"\xff" * 160
QUICK = (("MachineDetection", "Enable"), ("MachineDetectionSilenceTimeout", "2000"))


async def test_silence_is_unknown_once_the_silence_timeout_passed() -> None:
    detection = LegDetection(DialTarget("number", "+15550100", amd=QUICK), 100.0)
    n = 0
    while not detection.decided.done() and n < 500:
        n += 1
        detection.frame(SILENT, 100.0 + n * 0.02)
    assert detection.decided.result() == "unknown"
    assert 1900 <= detection.elapsed_ms <= 4100  # about the 2 s asked, not the 30 s limit
    assert amd_form("AC1", "CA2", "unknown", 2000) == {
        "AccountSid": "AC1", "CallSid": "CA2", "AnsweredBy": "unknown",
        "MachineDetectionDuration": "2000",
    }  # fmt: skip


def detected(url: str) -> Callable[[TwilioSdkApp, WebhookRequest], VoiceResponse]:
    """``<Dial action="/dialled"><Number machineDetection url? amdStatusCallback="/amd">``;
    ``/screen`` accepts (an empty document); the action answers ``<Hangup/>``."""

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/dialled":
            response.hangup()
        elif request.path != "/screen":
            dial = Dial(action="/dialled", time_limit=1)
            extra = {"url": url} if url else {}
            dial.number("+15550100", machine_detection="Enable", amd_status_callback="/amd",
                        machine_detection_silence_timeout=2000, **extra)  # fmt: skip
            response.append(dial)
        return response

    return build


async def test_answered_by_reaches_the_screening_and_the_amd_callback(app: TwilioSdkApp) -> None:
    app.twiml = detected("/screen")
    call = caller()
    call.called_frame = SILENT  # the called party says nothing: unknown after 2 s
    agent, ticker = await start(app, call)
    await wait_for(lambda: posted(app, "/dialled"), within=10)
    await wait_for(lambda: call.hangups, within=3)
    await ticker.stop()
    await agent.close("remote-bye")
    (amd,) = posted(app, "/amd")
    (screen,) = posted(app, "/screen")
    assert amd.valid and amd.params["AnsweredBy"] == "unknown"
    assert amd.params["CallSid"] == screen.params["CallSid"]  # the leg's
    assert screen.params["AnsweredBy"] == "unknown"
    assert int(screen.params["MachineDetectionDuration"]) >= 1900
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "completed"  # screened, accepted, bridged
    heard = ticker.heard()
    assert heard[:50] == [ringback_frame(n) for n in range(50)]  # ring tone while it listens
    lines = [x for x in agent.record.lines if x["type"] == "twiml_dial_answered_by"]
    assert lines and lines[0]["answered_by"] == "unknown"


async def test_without_a_url_the_leg_is_bridged_once_detected(app: TwilioSdkApp) -> None:
    app.twiml = detected("")
    call = caller()
    call.talk = 3.5
    agent, ticker = await start(app, call)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await wait_for(lambda: posted(app, "/amd"), within=10)
    decided = loop.time() - started
    await wait_for(lambda: CALLED_FRAME in ticker.heard(), within=3)  # bridged after it
    await wait_for(lambda: call.hangups, within=6)
    await ticker.stop()
    await agent.close("remote-bye")
    (amd,) = posted(app, "/amd")
    assert amd.params["AnsweredBy"] in ("human", "machine_start", "unknown")
    assert decided >= 0.5  # not at the answer: it listened first
    (action,) = posted(app, "/dialled")
    assert action.params["DialCallStatus"] == "completed"


def test_a_timeout_of_60_the_number_pages_highest_is_taken() -> None:
    async def make() -> LegDetection:
        amd = (*QUICK, ("MachineDetectionTimeout", "60"))
        return LegDetection(DialTarget("number", "+15550100", amd=amd), 0.0)

    detection = asyncio.run(make())
    assert detection.deadline == 60.0  # 59 s and the second of grace
