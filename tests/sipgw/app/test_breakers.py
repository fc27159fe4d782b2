"""A breaker per AI service across calls (sipgw/app/breakers.py): fed by the agents' reports,
asked before each incoming call, in the log and /metrics; and the agents' warm-up."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from agent.announcement import AnnouncementAgent
from agent.base import Agent, CallControl
from agent.factory import ServiceAgentFactory
from agent.resilience.breaker import BreakerSettings, BreakerState
from sipgw.app.breakers import BreakerObserver, VendorBreakers, warm_up
from sipgw.app.resilience_settings import BreakerSection
from sipgw.testing.gateway_in_process import running_gateway
from sipgw.testing.metrics import sample_value
from tests.agent.parts import RecordingObserver

QUICK = BreakerSettings(failures=2, window=10.0, open_for=5.0, max_open_for=20.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def factory_using(*services: str) -> ServiceAgentFactory:
    return ServiceAgentFactory(lambda call: AnnouncementAgent(call, ()), frozenset(services))  # type: ignore[arg-type]


def test_failures_open_the_breaker_of_their_service_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, registry = Clock(), CollectorRegistry()
    breakers = VendorBreakers(QUICK, None, registry, clock)
    observer = BreakerObserver(RecordingObserver(), breakers)
    pipeline, s2s = factory_using("stt", "llm", "tts"), factory_using("s2s")
    observer.service_error("tts", "connect")
    assert breakers.refusal(pipeline) is None
    observer.service_error("tts", "http_status")
    assert breakers.refusal(pipeline) == "tts" and breakers.refusal(s2s) is None
    assert breakers.refusal(lambda call: AnnouncementAgent(call, ())) is None  # no services
    assert "breaker tts opened: new calls turned away for 5 s" in caplog.text
    text = generate_latest(registry)
    assert sample_value(text, "sipgw_breaker_state", service="tts") == 2
    assert sample_value(text, "sipgw_breaker_state", service="stt") == 0
    assert sample_value(text, "sipgw_breaker_changes_total", service="tts", change="opened") == 1
    assert sample_value(text, "sipgw_breaker_refused_calls_total", service="tts") == 1
    clock.now += 5.0  # half-open: one call tries
    assert breakers.refusal(pipeline) is None and breakers.refusal(pipeline) == "tts"
    observer.service_ok("tts")  # it worked
    assert breakers.states()["tts"] is BreakerState.CLOSED
    assert "breaker tts closed" in caplog.text


def test_without_breakers_every_call_goes_through() -> None:
    breakers = VendorBreakers(None, None, CollectorRegistry(), Clock())
    for _ in range(10):
        breakers.failure("stt")
    assert breakers.refusal(factory_using("stt")) is None and breakers.states() == {}


def test_the_observer_forwards_everything() -> None:
    inner = RecordingObserver()
    observer = BreakerObserver(inner, VendorBreakers(QUICK, None, CollectorRegistry(), Clock()))
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
    with a 503 (a trunk fails over) or, when configured, the recorded message."""
    FailingAgent.built = 0
    path = tmp_path / "closed.ulaw"
    path.write_bytes(b"\x7f" * 800)  # 100 ms
    section = BreakerSection(breaker_failures=2, breaker_message=str(path) if message else "")
    factory = ServiceAgentFactory(FailingAgent, frozenset({"stt"}))
    async with running_gateway(factory, breakers=section) as (gateway, new_phone):
        for _ in range(2):
            assert (await (await new_phone()).invite()).status == 503
        assert FailingAgent.built == 2
        phone = await new_phone()
        final = await phone.invite()
        assert FailingAgent.built == 2  # no agent built, no vendor tried
        text, _ = gateway.metrics.render()
        if message:
            assert final.status == 200
            phone.start_audio()
            bye = await phone.expect(lambda m: getattr(m, "method", "") == "BYE", 5)
            assert bye is not None
        else:
            assert final.status == 503
    assert sample_value(text, "sipgw_breaker_state", service="stt") == 2
    assert sample_value(text, "sipgw_breaker_refused_calls_total", service="stt") == 1
