"""The one path every call takes (sipgw/app/calls/callpath.py), in both directions, over real
sockets.

Incoming calls come from a scripted phone; outbound calls go from one in-process gateway
to another (an echo gateway as the callee), so both ends speak real SIP and RTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from sipgw.agent.base import CallControl
from sipgw.agent.capabilities import AgentCapabilities, PluginFactory
from sipgw.agent.echo.agent import EchoAgent
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.gateway import Gateway
from sipgw.app.settings import GatewayConfig
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)


class StepAgent(EchoAgent):
    """The echo agent writing down the steps the gateway takes it through."""

    def __init__(self, call: CallControl, prepare_for: float = 0.0, fail: bool = False) -> None:
        super().__init__(call, delay_ms=0)
        self.steps: list[str] = []
        self.prepare_for = prepare_for
        self.fail = fail
        self.closed = asyncio.Event()

    async def prepare(self) -> None:
        self.steps.append("prepare")
        await asyncio.sleep(self.prepare_for)
        if self.fail:
            raise ConnectionError("speech service unreachable")

    def on_answered(self) -> None:
        handle = self.call
        assert isinstance(handle, CallHandle)
        up = handle.session is not None and handle.answered and handle.agent is self
        self.steps.append("answered, media up" if up else "answered, no media")

    async def close(self, reason: str = "") -> None:
        self.steps.append(f"close {reason}")
        self.closed.set()


def agents(**options: object) -> tuple[list[StepAgent], Callable[[CallControl], StepAgent]]:
    built: list[StepAgent] = []

    def factory(call: CallControl) -> StepAgent:
        built.append(StepAgent(call, **options))  # type: ignore[arg-type]
        return built[-1]

    return built, factory


@asynccontextmanager
async def callee(**settings: Any) -> AsyncIterator[tuple[Gateway, str]]:
    """An echo gateway to call: it and its SIP URI."""
    async with running_gateway(lambda call: EchoAgent(call, 0), **settings) as (gateway, _):
        yield gateway, f"sip:echo@127.0.0.1:{gateway.ua.config.sip_port}"


async def all_closed(built: list[StepAgent], count: int) -> None:
    assert len(built) == count
    await asyncio.wait_for(asyncio.gather(*(agent.closed.wait() for agent in built)), 3.0)


async def test_calls_in_both_directions_take_the_same_steps() -> None:
    built, factory = agents()
    async with (
        callee() as (_, target),
        running_gateway(factory, max_call_seconds=0.5) as (gateway, new_phone),
    ):
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        await phone.answer_bye(within=3)  # the call-length limit: the same timer both ways
        outcome = await gateway.place_call(target)
        await all_closed(built, 2)
        assert not gateway.handles and gateway.ports.in_use == 0
    assert outcome.answered and outcome.reason == "local-bye", outcome
    incoming, placed = built
    assert incoming.steps == placed.steps == ["prepare", "answered, media up", "close local-bye"]
    assert [incoming.call.direction, placed.call.direction] == ["inbound", "outbound"]
    # Both calls' details carry their addresses' numbers, read once by the SIP core's parser.
    numbers = [(a.call.details.caller_number, a.call.details.called_number) for a in built]
    assert numbers == [("caller", "echo"), ("sipgw", "echo")]  # From and To users, both ways


async def test_an_agent_that_fails_to_prepare_ends_the_call_either_way() -> None:
    built, factory = agents(fail=True)
    async with callee() as (far, target), running_gateway(factory) as (gateway, new_phone):
        phone = await new_phone()
        assert (await phone.invite()).status == 503  # not answered yet: a trunk may retry
        outcome = await gateway.place_call(target)  # answered: we hang up at once
        await all_closed(built, 2)
        assert not gateway.handles and gateway.ports.in_use == 0 and not far.handles
    assert outcome.answered and outcome.reason == "local-bye", outcome
    assert [a.steps for a in built] == [["prepare", "close prepare-failed"]] * 2


async def test_a_call_that_ends_while_its_agent_prepares_never_gets_it() -> None:
    built, factory = agents(prepare_for=1.0)
    async with (
        callee(max_call_seconds=0.3) as (_, target),
        running_gateway(factory) as (gateway, _),
    ):
        outcome = await gateway.place_call(target)  # the callee hangs up during the prepare
        await all_closed(built, 1)
        (agent,) = built
        assert agent.call.agent is None  # type: ignore[attr-defined]
    assert outcome.answered and outcome.reason == "remote-bye", outcome
    assert agent.steps == ["prepare", "close remote-bye"]  # closed, never answered


async def test_call_tasks_are_waited_for_with_the_tasks_they_start() -> None:
    path = Gateway(GatewayConfig(), EchoAgent).calls
    done: list[str] = []

    async def second() -> None:
        await asyncio.sleep(0.05)
        done.append("second")

    async def first() -> None:
        await asyncio.sleep(0.05)
        path.spawn(second())
        done.append("first")

    path.spawn(first())
    await path.wait_tasks(2.0)
    assert done == ["first", "second"]


HEARS = AgentCapabilities(arrival_audio=True)
"""A :class:`ListeningAgent`'s factory's record: it hears the caller's audio as it arrives."""


class ListeningAgent(StepAgent):
    """A step agent that listens at arrival and writes down when audio came."""

    def __init__(self, call: CallControl, prepare_for: float = 0.0) -> None:
        super().__init__(call, prepare_for)
        self.heard_while_preparing = 0
        self.preparing = False
        self.holds: list[bool] = []

    async def prepare(self) -> None:
        self.preparing = True
        await super().prepare()
        self.preparing = False

    def on_caller_audio(self, frame: bytes) -> None:
        if self.preparing:
            self.heard_while_preparing += 1

    def on_hold(self, held: bool) -> None:
        self.holds.append(held)


async def test_a_placed_call_with_detection_is_heard_from_the_answer_on() -> None:
    """Answering-machine detection needs the callee's first words ("Hello?"), which come
    while the agent still prepares (it connects to its speech services after the answer)."""
    from sipgw.agent.amd.settings import AmdMode, AmdRequest

    built: list[ListeningAgent] = []

    def make(call: CallControl) -> ListeningAgent:
        built.append(ListeningAgent(call, prepare_for=0.6))
        return built[-1]

    factory = PluginFactory(make, HEARS)

    async with callee(max_call_seconds=1.5) as (_, target), running_gateway(factory) as (gw, _):
        await gw.place_call(target)
        await gw.place_call(target, amd=AmdRequest(AmdMode.DETECT))
    plain, detecting = built
    assert plain.heard_while_preparing == 0  # an agent joins the call once prepared
    assert detecting.heard_while_preparing >= 10  # 20 ms frames during 0.6 s


async def test_the_caller_holding_the_call_and_resuming_reaches_the_agent() -> None:
    built: list[ListeningAgent] = []

    def make(call: CallControl) -> ListeningAgent:
        built.append(ListeningAgent(call))
        return built[-1]

    factory = PluginFactory(make, HEARS)

    async with running_gateway(factory) as (gw, new_phone):
        phone = await new_phone()
        await phone.invite()
        for cseq, direction in ((2, "sendonly"), (3, "sendonly"), (4, "sendrecv"), (5, "inactive")):
            sdp = phone.sdp().replace("a=sendrecv", f"a={direction}")
            phone.send(phone.request("INVITE", sdp, cseq=cseq))
            ok = await phone.expect(lambda m: getattr(m, "status", 0) == 200)
            assert ok is not None
            phone.send(phone.request("ACK", cseq=cseq))
        await asyncio.sleep(0.1)
        (agent,) = built
        assert agent.holds == [True, False, True]  # a repeated sendonly changes nothing


async def test_the_call_span_names_the_line_that_answered(tmp_path: Path) -> None:
    """Issue 67: docs/operations.md lists ``call.line`` on the ``call`` span; a call without
    a routes file had none. It is the routes file's line that answered the call, and empty
    without one, or for a call placed on no line (as the ``line`` label of
    ``sipgw_calls_total``; the call record and the dashboard name no line then). The spans
    are read from the OpenTelemetry SDK's in-memory exporter."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from sipgw.app.operations.opentelemetry import CallTracer

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    routes = tmp_path / "routes.toml"
    routes.write_text('default = "sales"\n[lines.sales]\nagent = "echo"\n')
    async with callee() as (_, target):
        for where in (None, routes):
            async with running_gateway(routes=where, max_call_seconds=0.3) as (gateway, _):
                gateway.calls.tracer = CallTracer(provider)
                line = None if where is None else "sales"
                assert (await gateway.place_call(target, line=line)).answered
    lines = [(span.attributes or {})["call.line"] for span in exporter.get_finished_spans()]
    assert lines == ["", "sales"]


async def test_a_placed_calls_length_counts_from_the_answer_not_from_its_agent_ready() -> None:
    """--max-call-seconds on a placed call: from the callee's 200 OK, as the outcome's
    duration counts, not from the end of its agent's preparation (a TTS slow to give the
    opening's audio held it back by seconds). An agent that takes longer to prepare than
    the limit never talks: the call ends while it prepares."""
    built, factory = agents(prepare_for=2.0)
    async with callee() as (_, target), running_gateway(factory, max_call_seconds=0.3) as (gw, _):
        outcome = await gw.place_call(target)
        await all_closed(built, 1)
    assert outcome.answered and outcome.reason == "local-bye", outcome
    (placed,) = built
    assert placed.steps == ["prepare", "close local-bye"], placed.steps
