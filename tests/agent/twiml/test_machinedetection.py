"""``MachineDetection`` on a TwiML call: synchronous (the first document fetched with
``AnsweredBy``), a fax's answer tone, and asynchronous (posted to its callback)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sipgw.agent.base import CallDetails
from sipgw.agent.twiml.agent import TwimlAgent
from tests.agent.parts import FakeCall, wait_for
from tests.agent.twiml.test_agent import ACCOUNT, TOKEN, Ticker, settings
from tests.toolkit.twilio_app import TwilioSdkApp


@pytest.fixture
async def app() -> AsyncIterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN)
    await peer.start()
    yield peer
    await peer.stop()


SILENT = b"\xff" * 160


async def test_machine_detection_fetches_the_twiml_with_answered_by(app: TwilioSdkApp) -> None:
    """``MachineDetection=Enable`` (synchronous): nothing is fetched while it rings; once the
    detector decides (a callee who says nothing: ``unknown`` at its 4 s deadline) the
    webhook gets ``AnsweredBy`` and ``MachineDetectionDuration``, signed."""
    app.twiml = lambda a, r: "<Response><Hangup/></Response>"
    details = CallDetails(machine_detection={"MachineDetection": "Enable"})
    call = FakeCall(direction="outbound", details=details)
    agent = TwimlAgent(call, settings(url=app.url))
    await agent.prepare()
    assert not app.requests  # Twilio asks the app only once it has decided
    agent.on_answered()
    ticker = Ticker(agent, lambda n: SILENT)
    ticker.start()
    await wait_for(lambda: call.hangups, within=10)
    await ticker.stop()
    await agent.close("hangup")
    (request,) = app.requests
    assert request.valid and request.params["AnsweredBy"] == "unknown"
    assert request.params["CallStatus"] == "in-progress"
    assert 3000 <= int(request.params["MachineDetectionDuration"]) < 10000


async def test_a_fax_answer_tone_is_answered_by_fax_posted_by_get(app: TwilioSdkApp) -> None:
    """A callee answering with a fax's CED (2100 Hz): ``AnsweredBy=fax``, to an
    ``AsyncAmdStatusCallback`` asked with ``AsyncAmdStatusCallbackMethod=GET``, signed."""
    from sipgw.app.evaluation.audio import encode
    from tests.toolkit.amdset.channel import tone

    ced = encode([round(v) for v in [0.0] * 4000 + tone(2100.0, 3.5, -18.0)])
    frames = [ced[i : i + 160] for i in range(0, len(ced) - 159, 160)]
    callback = app.url.rsplit("/", 1)[0] + "/amd"
    app.twiml = lambda a, r: '<Response><Pause length="8"/></Response>'
    details = CallDetails(machine_detection={
        "MachineDetection": "Enable", "AsyncAmd": "true", "AsyncAmdStatusCallback": callback,
        "AsyncAmdStatusCallbackMethod": "GET",
    })  # fmt: skip
    call = FakeCall(direction="outbound", details=details)
    agent = TwimlAgent(call, settings(url=app.url))
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, lambda n: frames[n] if n < len(frames) else SILENT)
    ticker.start()
    await wait_for(lambda: any(r.path == "/amd" for r in app.requests), within=10)
    await ticker.stop()
    await agent.close("hangup")
    amd = next(r for r in app.requests if r.path == "/amd")
    assert amd.method == "GET" and amd.valid and amd.params["AnsweredBy"] == "fax"
    assert 1300 <= int(amd.params["MachineDetectionDuration"]) < 2500


async def test_async_amd_posts_answered_by_to_its_callback(app: TwilioSdkApp) -> None:
    """``AsyncAmd=true``: the TwiML runs at the answer, and ``AnsweredBy`` goes to
    ``AsyncAmdStatusCallback`` as Twilio posts it, signed."""
    callback = app.url.rsplit("/", 1)[0] + "/amd"
    app.twiml = lambda a, r: '<Response><Pause length="8"/></Response>'
    details = CallDetails(machine_detection={
        "MachineDetection": "DetectMessageEnd", "AsyncAmd": "true",
        "AsyncAmdStatusCallback": callback,
    })  # fmt: skip
    call = FakeCall(direction="outbound", details=details)
    agent = TwimlAgent(call, settings(url=app.url))
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, lambda n: SILENT)
    ticker.start()
    await wait_for(lambda: any(r.path == "/amd" for r in app.requests), within=10)
    await ticker.stop()
    await agent.close("hangup")
    first, amd = app.requests[0], next(r for r in app.requests if r.path == "/amd")
    assert "AnsweredBy" not in first.params  # fetched at once, before any decision
    assert amd.valid and amd.params["AnsweredBy"] == "unknown"
    assert amd.params["CallSid"] == first.params["CallSid"]
    assert amd.params["AccountSid"] == ACCOUNT and int(amd.params["MachineDetectionDuration"]) > 0
