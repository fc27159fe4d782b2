"""The fallback after a failure (the webhook late, bad TwiML, a refused signature, a stream
that breaks or cannot open): the line heard whole, then the hang-up or the transfer; the
reason recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.agent.twiml.webhook import TwilioIdentity
from tests.agent.parts import FakeCall, wait_for
from tests.agent.twiml.test_agent import (
    ACCOUNT,
    GOODBYE,
    TOKEN,
    Ticker,
    connect_twiml,
    run_call,
)
from tests.toolkit.twilio_app import AppStream, TwilioSdkApp


@pytest.fixture
async def app() -> AsyncIterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN)
    await peer.start()
    yield peer
    await peer.stop()


async def heard_fallback(agent: TwimlAgent, call: FakeCall, ticker: Ticker) -> list[str]:
    await wait_for(lambda: call.hangups, within=8)
    await ticker.stop()
    await agent.close("hangup")
    assert ticker.heard()[-len(GOODBYE) :] == list(GOODBYE)  # the line, heard whole
    return [line["reason"] for line in agent.record.lines if line["type"] == "twiml_failure"]


async def test_a_late_webhook_gets_the_fallback(app: TwilioSdkApp) -> None:
    app.webhook_delay = 1.0
    agent, call, ticker = await run_call(app, timeout=0.3)
    (reason,) = await heard_fallback(agent, call, ticker)
    assert "no answer within 0.3 s" in reason


async def test_bad_twiml_gets_the_fallback(app: TwilioSdkApp) -> None:
    app.twiml = lambda a, r: "<Response><Say>unclosed</Response>"
    agent, call, ticker = await run_call(app)
    (reason,) = await heard_fallback(agent, call, ticker)
    assert "bad TwiML" in reason and "not well-formed" in reason


async def test_a_wrong_token_is_refused_by_the_app_and_gets_the_fallback(app: TwilioSdkApp) -> None:
    agent, call, ticker = await run_call(app, identity=TwilioIdentity(ACCOUNT, "b" * 32))
    (reason,) = await heard_fallback(agent, call, ticker)
    assert "answered 403" in reason and not app.requests[0].valid
    assert "b" * 32 not in str(agent.record.lines)


async def test_a_stream_that_breaks_mid_call_gets_the_fallback(app: TwilioSdkApp) -> None:
    app.twiml = connect_twiml(lambda r: r.say("never said"))

    async def bot(stream: AppStream) -> None:
        await stream.wait(lambda: len(stream.events("media")) >= 5)
        stream.ws.transport.abort()  # the bot's process dies: no close frame

    app.bot = bot
    agent, call, ticker = await run_call(app)
    (reason,) = await heard_fallback(agent, call, ticker)
    assert "broke" in reason
    assert "say" not in agent.steps


async def test_a_stream_that_cannot_open_gets_the_transfer_fallback(app: TwilioSdkApp) -> None:
    app.twiml = lambda a, r: (
        f'<Response><Connect><Stream url="ws://127.0.0.1:{a.http_port}/nope"/></Connect></Response>'
    )
    call = FakeCall(accept_transfer=False)
    agent, call, ticker = await run_call(app, call=call, fallback="transfer",
                                         fallback_target="sip:desk@pbx.example")  # fmt: skip
    (reason,) = await heard_fallback(agent, call, ticker)
    assert "could not be opened" in reason
    assert call.transfers == ["sip:desk@pbx.example"]
