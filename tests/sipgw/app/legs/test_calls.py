"""Leg calls through the call path (sipgw/app/legs/calls.py): admission, start, end, shutdown.

The gateway runs in-process; the leg's media is a double (tests/sipgw/app/legs/doubles.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from agent.base import CallControl, CallDetails
from sipgw.app.gateway import Gateway
from sipgw.app.legs.calls import LegCalls, party
from sipgw.app.legs.handle import LegHandle
from sipgw.testing.gateway_in_process import running_gateway
from sipgw.testing.metrics import sample_value
from tests.sipgw.app.legs.doubles import FakeMedia, NotingAgent, until

pytestmark = pytest.mark.timeout(30)

A = b"\x11" * 160


def start(calls: LegCalls, media: FakeMedia, call_id: str = "CA1") -> LegHandle:
    return calls.start(
        media, call_id=call_id, caller=party("tel:+15551234567", "Ann", fallback="x:y"),
        called=party("tel:+15557654321", fallback="x:y"),
        details=CallDetails(variables={"lang": "de"}),
    )  # fmt: skip


def agent_of(handle: LegHandle) -> NotingAgent:
    agent = handle.agent
    assert isinstance(agent, NotingAgent)
    return agent


async def test_a_leg_call_is_a_call_of_the_gateway_until_its_leg_ends() -> None:
    async with running_gateway(lambda call: NotingAgent(call, [A] * 3)) as (gateway, _):
        calls = LegCalls(gateway)
        media = FakeMedia(caller=[A] * 5)
        handle = start(calls, media)
        assert gateway.handles[("CA1", "twilio")] is handle and gateway.ua.other_calls == 1
        entry = gateway.feed.live[handle.call.log_id]
        assert (entry.leg, entry.caller, entry.caller_name) == ("twilio", "tel:+15551234567",
                                                                 "Ann")  # fmt: skip
        await until(lambda: handle.agent is not None and handle.answered)
        agent = agent_of(handle)
        assert agent.call is handle and media.listener == agent.on_caller_audio
        await until(lambda: media.sent.count(A) == 3)  # the agent's frames, one per tick
        assert A in agent.heard  # and the caller's frames reached it
        handle.end("remote-hangup")
        await calls.finished(handle)
        assert handle.ended and not gateway.handles and gateway.ua.other_calls == 0
        assert media.closed == 1 and media.played_out_asked == []  # the caller left: no wait
        await until(lambda: agent.closed == "remote-hangup")
        text, _ = gateway.metrics.render()
        ended = {"direction": "inbound", "leg": "twilio", "outcome": "remote-hangup", "line": ""}
        assert sample_value(text, "sipgw_calls_total", **ended) == 1
        ended_entry = gateway.feed.recent[-1]
        assert (ended_entry.outcome, ended_entry.hung_up_by) == ("remote-hangup", "remote")


async def test_our_hang_up_waits_for_the_last_words_to_be_heard() -> None:
    async with running_gateway(NotingAgent) as (gateway, _):
        calls = LegCalls(gateway)
        media = FakeMedia()
        handle = start(calls, media)
        await until(lambda: handle.answered)
        handle.hangup()
        await calls.finished(handle)
        assert media.played_out_asked == [5.0] and media.closed == 1
        assert handle.end_reason == "local-hangup"
        assert gateway.feed.recent[-1].hung_up_by == "agent"  # the webhooks' hung_up_by


async def test_an_agent_that_fails_to_prepare_rejects_the_call() -> None:
    class Failing(NotingAgent):
        async def prepare(self) -> None:
            raise ConnectionError("speech service unreachable")

    async with running_gateway(Failing) as (gateway, _):
        calls = LegCalls(gateway)
        media = FakeMedia()
        handle = start(calls, media)
        await calls.finished(handle)
        assert handle.end_reason == "rejected" and media.closed == 1 and not gateway.handles


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda g: setattr(g.ua, "draining", True), "draining"),
        (lambda g: setattr(g.overload, "overloaded", True), "overloaded"),
    ],
)
async def test_a_gateway_draining_or_overloaded_refuses_new_leg_calls(
    setup: Callable[[Gateway], None], reason: str
) -> None:
    async with running_gateway(NotingAgent) as (gateway, _):
        calls = LegCalls(gateway)
        assert calls.refusal() == ""
        setup(gateway)
        assert reason in calls.refusal()


async def test_max_calls_counts_every_leg() -> None:
    async with running_gateway(NotingAgent, max_calls=1) as (gateway, new_phone):
        calls = LegCalls(gateway)
        handle = start(calls, FakeMedia())
        assert "SIPGW_MAX_CALLS" in calls.refusal()
        phone = await new_phone()
        assert (await phone.invite()).status == 503  # the SIP core counts the leg call too
        handle.end("remote-hangup")
        await calls.finished(handle)
        assert calls.refusal() == ""


async def test_shutdown_ends_every_leg_call() -> None:
    def agent(call: CallControl) -> NotingAgent:
        return NotingAgent(call)

    async with running_gateway(agent) as (gateway, _):
        calls = LegCalls(gateway)
        media = [FakeMedia(), FakeMedia("browser")]
        handles = [start(calls, m, f"CA{n}") for n, m in enumerate(media)]
        await calls.shutdown()
        assert all(h.ended and h.end_reason == "shutdown" for h in handles)
        assert [m.closed for m in media] == [1, 1] and calls.up == []


async def test_the_gateways_stop_ends_a_leg_call_too() -> None:
    async with running_gateway(NotingAgent) as (gateway, _):
        calls = LegCalls(gateway)
        media = FakeMedia()
        handle = start(calls, media)
        await until(lambda: handle.answered)
    await asyncio.wait_for(calls.finished(handle), 5)
    assert handle.ended and media.closed == 1


def test_a_party_that_is_no_uri_is_named_by_the_fallback() -> None:
    assert str(party("sip:ann@example.com", fallback="x:y").uri) == "sip:ann@example.com"
    assert str(party("<not a uri>", "Ann", fallback="twilio:CA1").uri) == "twilio:CA1"
