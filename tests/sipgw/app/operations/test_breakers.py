"""A breaker per AI service across calls (sipgw/app/operations/breakers.py): fed by the agents'
reports, asked before each incoming call, in the log and /metrics; and the agents' warm-up."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import cast

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from sipgw.agent.base import Agent, CallControl
from sipgw.agent.factory import ServiceAgentFactory
from sipgw.agent.observer import Service
from sipgw.agent.resilience.announcement import AnnouncementAgent
from sipgw.agent.resilience.breaker import BreakerSettings, BreakerState
from sipgw.agent.resilience.settings import BreakerSection
from sipgw.app.gateway import Gateway
from sipgw.app.legs.calls import LegCalls
from sipgw.app.operations.breakers import VendorBreakers, warm_up
from sipgw.sip.message import SipResponse
from tests.agent.parts import RecordingObserver
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.metrics import sample_value

QUICK = BreakerSettings(failures=2, window=10.0, open_for=5.0, max_open_for=20.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def factory_using(*services: Service, **vendors: str) -> ServiceAgentFactory:
    named = {cast(Service, service): vendor for service, vendor in vendors.items()}
    return ServiceAgentFactory(
        lambda call: AnnouncementAgent(call, ()), frozenset(services), vendors=named
    )


def test_failures_open_the_breaker_of_their_vendor_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, registry = Clock(), CollectorRegistry()
    breakers = VendorBreakers(QUICK, None, registry, clock)
    pipeline = factory_using("stt", "llm", "tts", tts="elevenlabs")
    s2s = factory_using("s2s", s2s="openai-realtime")
    observer = breakers.observer(pipeline)
    observer.service_error("tts", "connect")
    assert breakers.refusal(pipeline) is None
    observer.service_error("tts", "http_status", 503)
    assert breakers.refusal(pipeline) == ("tts", "elevenlabs")
    assert breakers.refusal(s2s) is None
    assert breakers.refusal(lambda call: AnnouncementAgent(call, ())) is None  # no services
    assert "breaker tts elevenlabs opened: new calls turned away for 5 s" in caplog.text
    text = generate_latest(registry)
    assert sample_value(text, "sipgw_breaker_state", service="tts", vendor="elevenlabs") == 2
    assert sample_value(text, "sipgw_breaker_state", service="stt", vendor="stt") == 0
    assert sample_value(text, "sipgw_breaker_changes_total", service="tts", vendor="elevenlabs",
                        change="opened") == 1  # fmt: skip
    assert sample_value(text, "sipgw_breaker_refused_calls_total", service="tts",
                        vendor="elevenlabs") == 1  # fmt: skip
    clock.now += 5.0  # half-open: one call tries
    assert breakers.refusal(pipeline, probe=False) is None  # a peek takes no probe
    assert breakers.refusal(pipeline) is None and breakers.refusal(pipeline) is not None
    observer.service_ok("tts")  # it worked
    assert breakers.states()[("tts", "elevenlabs")] is BreakerState.CLOSED
    assert "breaker tts elevenlabs closed" in caplog.text


def test_each_speech_to_speech_vendor_has_its_own_breaker() -> None:
    """Two lines, two speech-to-speech agents: the Realtime API down for everyone turns
    away the Realtime calls only (one ``s2s`` breaker turned away both)."""
    breakers = VendorBreakers(QUICK, None, CollectorRegistry(), Clock())
    realtime = factory_using("s2s", s2s="openai-realtime")
    voice_agent = factory_using("s2s", s2s="assemblyai-voice-agent")
    for _ in range(2):
        breakers.observer(realtime).service_error("s2s", "connect")
    assert breakers.refusal(realtime) == ("s2s", "openai-realtime")
    assert breakers.refusal(voice_agent) is None


@pytest.mark.parametrize(
    ("status", "opens"),
    [(400, False), (404, False), (422, False), (3007, False), (None, True), (500, True),
     (429, True), (401, True), (403, True), (1011, True)],
)  # fmt: skip
def test_only_what_says_the_vendor_is_down_counts(status: int | None, opens: bool) -> None:
    """agent/resilience/breaker.py: a 400 (a reasoning model refusing a parameter) says
    nothing about the vendor being up; it is counted in the metrics, not the breaker."""
    inner = RecordingObserver()
    breakers = VendorBreakers(QUICK, None, CollectorRegistry(), Clock(), inner)
    llm = factory_using("llm", llm="openai")
    for _ in range(3):
        breakers.observer(llm).service_error("llm", "http_status", status)
    assert (breakers.refusal(llm) is not None) is opens
    assert inner.events == [("error", ("llm", "http_status"))] * 3  # all counted in metrics


def test_without_breakers_every_call_goes_through() -> None:
    inner = RecordingObserver()
    breakers = VendorBreakers(None, None, CollectorRegistry(), Clock(), inner)
    stt = factory_using("stt")
    for _ in range(10):
        breakers.observer(stt).service_error("stt", "connect")
    assert breakers.refusal(stt) is None and breakers.states() == {}
    assert breakers.observer(stt) is inner


def test_the_observer_forwards_everything() -> None:
    inner = RecordingObserver()
    breakers = VendorBreakers(QUICK, None, CollectorRegistry(), Clock(), inner)
    observer = breakers.observer(factory_using("llm"))
    observer.turn_measured({"llm_first_token": 0.2})
    observer.barge_in()
    observer.preemptive("used")
    observer.speculative_speech("wasted", 24)
    observer.service_error("llm", "timeout")
    observer.service_ok("llm")
    observer.failure_decision("llm_apology")
    assert inner.events == [("turn", {"llm_first_token": 0.2}), ("barge_in", None),
                            ("preemptive", "used"), ("speculative_speech", ("wasted", 24)),
                            ("error", ("llm", "timeout"))]  # fmt: skip
    assert inner.oks == ["llm"] and inner.decisions == ["llm_apology"]


async def test_warm_up_runs_each_factory_once_and_waits_only_so_long(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    ran: list[str] = []

    async def quick() -> None:
        ran.append("quick")

    async def slow() -> None:
        await asyncio.sleep(5)

    first = ServiceAgentFactory(lambda call: AnnouncementAgent(call, ()), frozenset(), quick)
    second = ServiceAgentFactory(lambda call: AnnouncementAgent(call, ()), frozenset(), slow)
    left = await warm_up([first, first, second, lambda call: AnnouncementAgent(call, ())], 0.1)
    assert ran == ["quick"] and len(left) == 1 and "goes on in the background" in caplog.text
    left[0].cancel()


WARMED: list[str] = []


def warming_agent() -> ServiceAgentFactory:
    """A plug-in (for a routes file's line) whose factory has a warm-up."""

    async def warm() -> None:
        WARMED.append("warmed")

    return ServiceAgentFactory(lambda call: AnnouncementAgent(call, ()), frozenset({"tts"}), warm)


async def test_the_lines_agents_warm_up_at_start_and_after_a_reload(tmp_path: Path) -> None:
    WARMED.clear()
    routes = tmp_path / "routes.toml"
    routes.write_text(
        f'[lines.a]\nagent = "{__name__}:warming_agent"\n[[routes]]\ncalled = "+1"\nline = "a"\n'
    )
    async with running_gateway(routes=routes) as (gateway, _):
        line = gateway.routes.line_named("a")
        assert line.factory in gateway.factories() and WARMED == ["warmed"]
        assert gateway.lines is not None
        gateway.lines.reload()  # a new factory for the line: warmed in the background
        for _ in range(5):
            await asyncio.sleep(0)
        assert WARMED == ["warmed", "warmed"]


class FailingAgent(Agent):
    """An agent whose speech-to-text never connects (as its report says)."""

    built = 0

    def __init__(self, call: CallControl) -> None:
        FailingAgent.built += 1

    async def prepare(self) -> None:
        assert self.observer is not None
        self.observer.service_error("stt", "connect")
        raise ConnectionRefusedError("speech-to-text unreachable")

    def on_caller_frame(self, frame: bytes | None) -> None: ...

    def next_frame(self) -> bytes | None:
        return None


@pytest.mark.parametrize("message", [False, True])
async def test_while_a_service_is_down_for_everyone_calls_are_turned_away(
    tmp_path: Path, message: bool
) -> None:
    """Two calls fail on speech-to-text: the third is refused before any agent is built,
    with a 503 (a trunk fails over) before it rings or takes an RTP port
    (docs/operations.md), or, when configured, the recorded message."""
    FailingAgent.built = 0
    path = tmp_path / "closed.ulaw"
    path.write_bytes(b"\x7f" * 800)  # 100 ms
    section = BreakerSection(breaker_failures=2, breaker_message=str(path) if message else "")
    factory = ServiceAgentFactory(FailingAgent, frozenset({"stt"}))
    async with running_gateway(factory, breakers=section) as (gateway, new_phone):
        for _ in range(2):
            assert (await (await new_phone()).invite()).status == 503
        assert FailingAgent.built == 2
        opened: list[object] = []
        open_rtp = gateway.calls.open_rtp

        async def counted_open_rtp() -> object:
            opened.append(True)
            return await open_rtp()

        gateway.calls.open_rtp = counted_open_rtp  # type: ignore[method-assign,assignment]
        phone = await new_phone()
        final = await phone.invite()
        assert FailingAgent.built == 2  # no agent built, no vendor tried
        statuses = [m.status for m in phone.received if isinstance(m, SipResponse)]
        text, _ = gateway.metrics.render()
        if message:
            assert final.status == 200
            phone.start_audio()
            bye = await phone.expect(lambda m: getattr(m, "method", "") == "BYE", 5)
            assert bye is not None
        else:
            assert final.status == 503
            assert 180 not in statuses and opened == [], statuses  # no ringing, no port
    assert sample_value(text, "sipgw_breaker_state", service="stt", vendor="stt") == 2
    assert sample_value(text, "sipgw_breaker_refused_calls_total", service="stt",
                        vendor="stt") == 1  # fmt: skip


def _open_stt_breaker(gateway: Gateway, factory: ServiceAgentFactory) -> None:
    observer = gateway.breakers.observer(factory)
    for _ in range(2):
        observer.service_error("stt", "connect")


async def test_twilio_browser_and_placed_calls_are_turned_away_too() -> None:
    """A Twilio or browser call (LegCalls.refusal: Twilio is told busy, the browser gets
    503) and a call to place (not dialled) meet the same breakers as a SIP call."""
    factory = ServiceAgentFactory(FailingAgent, frozenset({"stt"}), vendors={"stt": "assemblyai"})
    section = BreakerSection(breaker_failures=2)
    async with running_gateway(factory, breakers=section) as (gateway, _):
        legs = LegCalls(gateway)
        assert legs.refusal() == ""
        _open_stt_breaker(gateway, factory)
        assert legs.refusal(probe=False) == (
            "assemblyai (stt) is down for everyone (its breaker is open)"
        )
        placed = await gateway.originate("sip:someone@127.0.0.1:9", agent=factory)
        assert placed.handle is None
        outcome = placed.outcome.result()
        assert outcome.kind == "failed" and "not dialled: assemblyai (stt)" in outcome.describe()
        text, _ = gateway.metrics.render()
    refused = sample_value(text, "sipgw_breaker_refused_calls_total", service="stt",
                           vendor="assemblyai")  # fmt: skip
    assert refused == 2
