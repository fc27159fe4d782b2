"""Leg calls through the call path (sipgw/app/legs/calls.py): admission, start, end, shutdown.

The gateway runs in-process; the leg's media is a double (tests/sipgw/app/legs/doubles.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sipgw.agent.base import CallControl, CallDetails
from sipgw.app.gateway import Gateway
from sipgw.app.legs.calls import LegCalls, Refusal, browser_caller, party, twilio_caller
from sipgw.app.legs.handle import LegHandle
from sipgw.sip.ratelimit import CallRateConfig, CallRateLimiter, Rate
from tests.sipgw.app.legs.doubles import FakeMedia, NotingAgent, noting, until
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.metrics import sample_value

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
    async with running_gateway(noting([A] * 3)) as (gateway, _):
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
    async with running_gateway(noting()) as (gateway, _):
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
    async with running_gateway(noting()) as (gateway, _):
        calls = LegCalls(gateway)
        assert calls.refusal() == ""
        setup(gateway)
        assert reason in calls.refusal()


async def test_max_calls_counts_every_leg() -> None:
    async with running_gateway(noting(), max_calls=1) as (gateway, new_phone):
        calls = LegCalls(gateway)
        handle = start(calls, FakeMedia())
        assert "SIPGW_MAX_CALLS" in calls.refusal()
        phone = await new_phone()
        assert (await phone.invite()).status == 503  # the SIP core counts the leg call too
        handle.end("remote-hangup")
        await calls.finished(handle)
        assert calls.refusal() == ""


def limit_calls(gateway: Gateway, overall: Rate, per_caller_per_minute: Rate) -> None:
    """The gateway's call rates from now (its SIP core's limiter, the one every leg uses)."""
    now = asyncio.get_running_loop().time()
    gateway.ua.call_rate = CallRateLimiter(CallRateConfig(overall, per_caller_per_minute), now)


async def test_the_call_rates_are_one_budget_with_sip_and_a_caller_budget_per_leg() -> None:
    async with running_gateway(noting()) as (gateway, new_phone):
        calls = LegCalls(gateway)
        limit_calls(gateway, Rate(0.01, 3), Rate(6, 1))  # 3 at once; a caller: 1 per 10 s
        browser = browser_caller("192.0.2.7")
        assert calls.admit(browser) is None
        refused = calls.admit(browser)  # the same address at once: its own rate
        assert refused is not None and refused.rate_limited
        assert "SIPGW_CALLS_PER_CALLER" in refused.reason and 9 <= (refused.retry_after or 0) <= 10
        assert calls.admit(twilio_caller("+15551234567")) is None
        phone = await new_phone()
        assert (await phone.invite()).status == 200  # SIP takes the last of the burst
        refused = calls.admit(browser_caller("192.0.2.8"))  # a new caller: the gateway's rate
        assert refused is not None and "SIPGW_CALLS_PER_SECOND" in refused.reason
        assert (refused.retry_after or 0) >= 90  # 0.01 a second: 100 s a call
        assert calls.admit(None, charge=False) is None  # a call charged already passes
        assert (gateway.ua.call_rate.limited_caller, gateway.ua.call_rate.limited_global) == (1, 1)
        await phone.bye()


async def test_the_state_refuses_before_the_rates_are_charged() -> None:
    async with running_gateway(noting()) as (gateway, _):
        calls = LegCalls(gateway)
        limit_calls(gateway, Rate(0.01, 1), Rate(0, 0))
        gateway.ua.draining = True
        assert calls.admit(None) == Refusal("the gateway is draining")
        gateway.ua.draining = False
        assert calls.admit(None) is None  # the draining refusal took no token


def test_the_callers_of_each_leg_are_keyed_apart_and_withheld_numbers_are_anonymous() -> None:
    assert browser_caller("192.0.2.7") == "browser:192.0.2.7"
    assert twilio_caller("+15551234567") == "twilio:+15551234567"
    assert twilio_caller("client:Alice") == "twilio:client:alice"
    # Twilio: "calls where the caller ID has been withheld will now display anonymous in
    # the From field" (Twilio changelog, "Changes to withheld caller ID behavior", 2023-05-17)
    assert twilio_caller("anonymous") is None and twilio_caller("") is None
    assert twilio_caller("RESTRICTED") is None


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
    async with running_gateway(noting()) as (gateway, _):
        calls = LegCalls(gateway)
        media = FakeMedia()
        handle = start(calls, media)
        await until(lambda: handle.answered)
    await asyncio.wait_for(calls.finished(handle), 5)
    assert handle.ended and media.closed == 1


def test_a_party_that_is_no_uri_is_named_by_the_fallback() -> None:
    assert str(party("sip:ann@example.com", fallback="x:y").uri) == "sip:ann@example.com"
    assert str(party("<not a uri>", "Ann", fallback="twilio:CA1").uri) == "twilio:CA1"
