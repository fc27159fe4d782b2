"""The drain's trigger and its goodbye: DrainRequest, say_goodbyes, Gateway.drain's sequence."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

from sipgw.agent.base import NO_DETAILS, Agent, CallControl
from sipgw.agent.echo.agent import EchoAgent
from sipgw.app.calls.draining import DrainRequest, say_goodbyes
from sipgw.app.legs.calls import LegCalls, party
from sipgw.sip.message import SipRequest
from tests.sipgw.app.legs.doubles import FakeMedia, NotingAgent
from tests.toolkit.gateway_in_process import running_gateway


class GoodbyeAgent(Agent):
    """Says goodbye until told the line has played (``played``); records the order."""

    def __init__(self, log: list[str], played: asyncio.Event | None = None) -> None:
        self.log = log
        self.played = played or asyncio.Event()

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return None

    async def say_goodbye(self, text: str) -> None:
        self.log.append(f"goodbye: {text}")
        await self.played.wait()
        self.log.append("played")


class FailingAgent(GoodbyeAgent):
    async def say_goodbye(self, text: str) -> None:
        raise RuntimeError("TTS down")


async def test_first_signal_starts_the_drain_the_second_ends_it_now() -> None:
    drain = DrainRequest(300)
    assert drain.state(0) == {"draining": False, "calls_left": 0}
    drain.signal()
    assert drain.active and not drain.now.is_set() and drain.source == "signal"
    drain.signal()
    assert drain.now.is_set()
    assert drain.state(2)["ending_now"] is True and drain.state(2)["calls_left"] == 2


async def test_a_request_overrides_the_limit_once() -> None:
    drain = DrainRequest(300)
    assert drain.request("admin", 20.0)
    assert not drain.request("admin", 5.0)  # a drain under way keeps its limit
    state = drain.state(1)
    assert state["seconds"] == 20.0 and state["source"] == "admin" and state["draining"]
    drain.signal()  # SIGTERM during an API drain: end now
    assert drain.now.is_set()


async def test_say_goodbyes_returns_once_every_agent_has_played() -> None:
    log: list[str] = []
    played = asyncio.Event()
    agents = [
        GoodbyeAgent(log, played),
        GoodbyeAgent(log, played),
        EchoAgent(cast(CallControl, SimpleNamespace(details=NO_DETAILS))),  # reads its details
    ]
    waiting = asyncio.ensure_future(say_goodbyes(agents, "bye now", 10.0, asyncio.Event()))
    await _until(lambda: len(log) == 2)
    assert log == ["goodbye: bye now", "goodbye: bye now"] and not waiting.done()
    played.set()
    assert await waiting == 3  # the echo agent says nothing and is done at once
    assert log[2:] == ["played", "played"]


async def test_say_goodbyes_is_cut_short_by_a_second_signal_and_bounded() -> None:
    cut = asyncio.Event()
    log: list[str] = []
    waiting = asyncio.ensure_future(say_goodbyes([GoodbyeAgent(log)], "bye", 10.0, cut))
    await _until(lambda: bool(log))
    cut.set()
    assert await asyncio.wait_for(waiting, 1.0) == 0
    assert log == ["goodbye: bye"]  # cancelled before it played
    assert await say_goodbyes([GoodbyeAgent([])], "bye", 0.05, asyncio.Event()) == 0


async def test_a_failing_goodbye_does_not_hold_the_others() -> None:
    played = asyncio.Event()
    played.set()
    agents = [FailingAgent([]), GoodbyeAgent([], played)]
    assert await say_goodbyes(agents, "bye", 1.0, asyncio.Event()) == 1


async def test_drain_limit_goodbye_then_bye() -> None:
    """The limit passes, the agent says the configured line, and only after it has
    played does drain() return (stop() then sends the BYE)."""
    log: list[str] = []
    played = asyncio.Event()

    def factory(call: CallControl) -> Agent:
        return GoodbyeAgent(log, played)

    async with running_gateway(factory, drain_goodbye="Closing now.") as (gateway, new_phone):
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        draining = asyncio.ensure_future(gateway.drain(0.2, asyncio.Event()))
        await asyncio.sleep(0.1)
        assert gateway.ua.draining and log == []  # within the limit: the call goes on
        await _until(lambda: log == ["goodbye: Closing now."])
        await asyncio.sleep(0.1)
        assert not draining.done()  # waits for the line to play
        played.set()
        assert await asyncio.wait_for(draining, 2.0) == 1
        assert log[-1] == "played"
        # stop() sends the BYE and waits (up to 5 s) for its answer: the phone answers it
        stopping = asyncio.ensure_future(gateway.stop())
        bye = await phone.answer_bye()
        assert isinstance(bye, SipRequest) and bye.method == "BYE"
        await asyncio.wait_for(stopping, 2.0)


class RingingAgent(GoodbyeAgent):
    """Still preparing (the call rings) when the drain limit passes."""

    async def prepare(self) -> None:
        await asyncio.Event().wait()


async def test_a_call_still_ringing_gets_no_goodbye_and_ends_at_once() -> None:
    """The limit passes while an incoming call still rings (its agent is preparing, its
    audio held): no goodbye to wait GOODBYE_WAIT for; the caller gets 503 at once."""
    log: list[str] = []

    def factory(call: CallControl) -> Agent:
        return RingingAgent(log)  # its goodbye would never finish playing

    async with running_gateway(factory) as (gateway, new_phone):
        phone = await new_phone()
        ringing = asyncio.ensure_future(phone.invite(within=10.0))
        await _until(lambda: bool(gateway.handles))
        draining = asyncio.ensure_future(gateway.drain(0.1, asyncio.Event()))
        refused = await asyncio.wait_for(ringing, 3.0)
        assert refused.status == 503 and refused.headers.get("Retry-After") == "30"
        assert await asyncio.wait_for(draining, 3.0) <= 1
        assert log == []


async def test_second_signal_during_the_goodbye_ends_it_at_once() -> None:
    log: list[str] = []

    def factory(call: CallControl) -> Agent:
        return GoodbyeAgent(log)  # never finishes playing

    async with running_gateway(factory) as (gateway, new_phone):
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        cut = asyncio.Event()
        draining = asyncio.ensure_future(gateway.drain(0.05, cut))
        await _until(lambda: bool(log))
        assert log[0].startswith("goodbye: We need to end this call now.")  # the default
        cut.set()
        assert await asyncio.wait_for(draining, 1.0) == 1


async def _until(condition: object, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_drain_waits_for_the_calls_of_the_other_legs_too() -> None:
    async with running_gateway(NotingAgent) as (gateway, _):
        calls = LegCalls(gateway)
        handle = calls.start(
            FakeMedia(), call_id="CA1", caller=party("tel:+15551234567", fallback="x:y"),
            called=party("tel:+15557654321", fallback="x:y"),
        )  # fmt: skip
        draining = asyncio.ensure_future(gateway.drain(10.0, asyncio.Event()))
        await asyncio.sleep(0.3)  # the SIP core is idle at once; the browser call is not
        assert not draining.done() and "draining" in calls.refusal()
        handle.end("remote-hangup")
        assert await asyncio.wait_for(draining, 5) == 0
