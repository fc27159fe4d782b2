"""``<Start><Siprec>`` and ``<Stop><Siprec>`` through the TwiML agent
(sipgw/agent/twiml/siprec.py), from the official SDK's ``Start().siprec(...)``: the
connector's SRS URI asked of the call, the document going on at once, a session stopped by
its name or its SID, all of them with no name, an unknown connector or a call that cannot
be recorded refused (logged, recorded), the SRS refusing; the connectors setting read. The
gateway's side is tests/sipgw/app/calls/test_siprecfork.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from twilio.twiml.voice_response import Start, Stop, VoiceResponse

from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.agent.twiml.siprec import SiprecCall, SiprecFailed, siprec_connectors
from tests.agent.parts import FakeCall, wait_for
from tests.agent.twiml.test_agent import Ticker, caller_tone, settings
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

TOKEN = "a" * 32
CONNECTORS = (("gridspace", "sip:rec@srs.example.com;transport=tcp"),)


@dataclass(eq=False)
class RecordedCall(FakeCall):
    """A call that can be recorded: it notes each session asked for and stopped."""

    started: list[tuple[str, str, str]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    refuse_with: str = ""

    async def start_siprec(self, uri: str, name: str, track: str = "both_tracks") -> None:
        self.started.append((uri, name, track))
        await asyncio.sleep(0.05)  # the SRS answering
        if self.refuse_with:
            raise SiprecFailed(self.refuse_with)

    def stop_siprec(self, name: str) -> bool:
        self.stopped.append(name)
        return True


@pytest.fixture
async def app() -> AsyncIterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN)
    await peer.start()
    yield peer
    await peer.stop()


def document(*verbs: Callable[[VoiceResponse], None]) -> Callable[..., VoiceResponse]:
    def build(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        for verb in verbs:
            verb(response)
        response.pause(length=1)
        response.hangup()
        return response

    return build


def start(connector: str = "gridspace", **attrs: str) -> Callable[[VoiceResponse], None]:
    def add(response: VoiceResponse) -> None:
        verb = Start()
        verb.siprec(connector_name=connector, **attrs)
        response.append(verb)

    return add


def stop(name: str = "") -> Callable[[VoiceResponse], None]:
    def add(response: VoiceResponse) -> None:
        verb = Stop()
        verb.siprec(**({"name": name} if name else {}))
        response.append(verb)

    return add


async def run(app: TwilioSdkApp, call: FakeCall) -> TwimlAgent:
    agent = TwimlAgent(call, settings(url=app.url, siprec_connectors=CONNECTORS))
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, caller_tone)
    ticker.start()
    await wait_for(lambda: call.hangups, within=6)
    await ticker.stop()
    await agent.close("remote-bye")
    return agent


def records(agent: TwimlAgent, kind: str) -> list[dict[str, object]]:
    return [line for line in agent.record.lines if line["type"] == f"twiml_{kind}"]


async def test_the_connectors_srs_is_asked_and_the_named_session_stopped(app: TwilioSdkApp) -> None:
    app.twiml = document(start(name="rec1"), start(track="inbound_track"), stop("rec1"))
    call = RecordedCall()
    assert isinstance(call, SiprecCall)
    agent = await run(app, call)
    uri = CONNECTORS[0][1]
    (first, second) = call.started
    assert first == (uri, "rec1", "both_tracks")
    assert second[0] == uri and second[1].startswith("SR") and len(second[1]) == 34  # its SID
    assert second[2] == "inbound_track"  # the caller's side only
    assert call.stopped == ["rec1"]  # by name; the other runs on (the call's end ends it)
    started = records(agent, "siprec")
    # both answered 50 ms after their start: in either order
    assert sorted(str(r["name"]) for r in started) == sorted(["rec1", second[1]])
    assert all(r["connector"] == "gridspace" for r in started)
    assert agent.steps[-1] == "end hangup"  # the document went on: the <Pause>, the <Hangup>


async def test_a_stop_without_a_name_stops_every_session(app: TwilioSdkApp) -> None:
    app.twiml = document(start(name="a"), start(name="b"), stop())
    call = RecordedCall()
    await run(app, call)
    assert sorted(call.stopped) == ["a", "b"]


async def test_an_unknown_connector_or_a_call_that_cannot_be_recorded_is_refused(
    app: TwilioSdkApp,
) -> None:
    app.twiml = document(start("nobody"))
    call = RecordedCall()
    agent = await run(app, call)
    assert call.started == []
    (refused,) = records(agent, "refused")
    assert refused["verb"] == "Start><Siprec" and "nobody" in str(refused["why"])
    app.twiml = document(start())
    plain = FakeCall()  # no start_siprec: a Twilio media-stream leg, a test call
    agent = await run(app, plain)
    (refused,) = records(agent, "refused")
    assert "cannot be recorded" in str(refused["why"])


async def test_an_srs_refusing_is_recorded_and_the_call_goes_on(app: TwilioSdkApp) -> None:
    app.twiml = document(start(name="rec1", status_callback="/siprec-status"))
    call = RecordedCall(refuse_with="the SRS did not answer: 503 rejected")
    agent = await run(app, call)
    (failed,) = records(agent, "siprec_failed")
    assert failed["name"] == "rec1" and "503" in str(failed["reason"])
    (ignored,) = records(agent, "siprec_ignored")
    assert ignored["attributes"] == ["statusCallback"]  # no status callbacks are posted


def test_the_connectors_setting_names_sip_uris() -> None:
    text = " a=sip:srs@10.0.0.9 , b.x=sips:rec@srs.example.com;transport=tls"
    assert siprec_connectors(text) == (
        ("a", "sip:srs@10.0.0.9"), ("b.x", "sips:rec@srs.example.com;transport=tls"),
    )  # fmt: skip
    assert siprec_connectors("") == ()
    for bad in ("a", "a=https://srs", "=sip:x@y", "a=sip:x@y,a=sip:z@w", "a b=sip:x@y"):
        with pytest.raises(ValueError):
            siprec_connectors(bad)
