"""``<Dial><Queue>`` through the TwiML agent (the dequeuing call's side), against an app on
the official ``twilio`` SDK: an empty queue is waited on until a caller joins, a queue never
made fails; the bridge itself is tested with the waiting caller (test_enqueue.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sipgw.agent.base import Agent, CallDetails
from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.app.callqueues import CallQueueRegistry
from sipgw.media.codecs import PCM16_16K, ULAW_8K, AudioFormat
from tests.agent.parts import FakeCall, wait_for
from tests.agent.twiml.queues.test_enqueue import AGENT_FRAME, app, end, posted, queue_app, start
from tests.agent.twiml.test_agent import Ticker, caller_tone, settings
from tests.toolkit.twilio_app import TwilioSdkApp

__all__ = ["app"]


async def test_a_dequeuing_call_waits_for_a_caller_to_join(app: TwilioSdkApp) -> None:
    """An empty queue is waited on (within the ``<Dial>``'s timeout), as on Twilio."""
    app.twiml = queue_app()
    queues = CallQueueRegistry()
    first = await start(app, queues, "+15550001111", caller_tone)  # makes the queue
    await wait_for(lambda: posted(app, "/wait"), within=5)
    await first[0].close("remote-bye")  # and leaves it empty
    await first[2].stop()
    assert posted(app, "/queued")[0].params["QueueResult"] == "hangup"
    dequeuing = await start(app, queues, "+15557770000", lambda n: AGENT_FRAME)
    await asyncio.sleep(0.3)
    assert not posted(app, "/dialled")  # still waiting for a caller
    waiting = await start(app, queues, "+15550002222", caller_tone)
    await wait_for(lambda: AGENT_FRAME in waiting[2].heard(), within=5)
    await wait_for(lambda: posted(app, "/dialled"), within=5)
    assert posted(app, "/dialled")[0].params["DialCallStatus"] == "completed"
    await end(waiting, dequeuing)


async def test_dialling_a_queue_never_made_fails(app: TwilioSdkApp) -> None:
    app.twiml = queue_app()
    dequeuing = await start(app, CallQueueRegistry(), "+15557770000", lambda n: AGENT_FRAME)
    await wait_for(lambda: posted(app, "/dialled"), within=5)
    assert posted(app, "/dialled")[0].params["DialCallStatus"] == "failed"
    await end(dequeuing)


async def test_the_queue_leg_ends_once_with_how() -> None:
    """The dequeued caller as the relay's leg: the dequeuing side's hang-up ends the bridge
    (``answered``); a later finish does not change it."""
    from sipgw.agent.twiml.queues.queuedial import QueueLeg

    leg = QueueLeg()
    assert not leg.over
    leg.hangup()
    leg.finish("failed")
    assert leg.over and (await leg.ended()).kind == "answered"
    early = QueueLeg()
    early.finish("failed")  # the caller left before the bridge
    assert (await early.ended()).kind == "failed"


async def test_the_dequeued_caller_hanging_up_ends_the_dial(app: TwilioSdkApp) -> None:
    """Bridged, the caller who waited hangs up: the dequeuing ``<Dial>`` is over
    (``completed``) and the ``<Enqueue action>`` gets ``bridged`` (``CallStatus=completed``)."""
    app.twiml = queue_app()
    queues = CallQueueRegistry()
    waiting = await start(app, queues, "+15550001111", caller_tone)
    await wait_for(lambda: posted(app, "/wait"), within=5)
    dequeuing = await start(app, queues, "+15557770000", lambda n: AGENT_FRAME)
    await wait_for(lambda: AGENT_FRAME in waiting[2].heard(), within=5)
    await waiting[2].stop()
    await waiting[0].close("remote-bye")
    await wait_for(lambda: posted(app, "/dialled") and posted(app, "/queued"), within=5)
    assert posted(app, "/dialled")[0].params["DialCallStatus"] == "completed"
    queued = posted(app, "/queued")[0].params
    assert queued["QueueResult"] == "bridged" and queued["CallStatus"] == "completed"
    (ended,) = [e for e in dequeuing[0].record.lines if e["type"] == "twiml_dial_ended"]
    assert ended["ended_by"] == "called"  # the waiting caller's hang-up, not timeLimit
    await end(dequeuing)


@dataclass
class _WideCall(FakeCall):
    """A SIP call on G.722 whose media follows its agent's format (the gateway's)."""

    codec: str = "G722"
    agent: Agent | None = None
    followed: list[AudioFormat] = field(default_factory=list)

    def follow_agent_format(self) -> None:
        assert self.agent is not None
        self.followed.append(self.agent.audio_format)


async def _start_wide(app: TwilioSdkApp, queues: CallQueueRegistry, number: str,
                      caller: Callable[[int], bytes | None]) -> _WideCall:  # fmt: skip
    details = CallDetails(caller_number=number, called_number="+15559990000")
    call = _WideCall(call_id=f"{number}@test", details=details)
    agent = TwimlAgent(call, settings(url=app.url, queues=queues))
    call.agent = agent
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, caller)
    ticker.start()
    _PARTS[call.call_id] = (agent, call, ticker)
    return call


_PARTS: dict[str, tuple[TwimlAgent, FakeCall, Ticker]] = {}


async def test_two_g722_calls_bridged_from_a_queue_carry_16khz_then_mu_law_again(
    app: TwilioSdkApp,
) -> None:
    """The same decision as a placed ``<Dial>``'s (agent/twiml/dial/audioformat.py)."""
    app.twiml = queue_app()
    queues = CallQueueRegistry()
    waiting = await _start_wide(app, queues, "+15550001111", caller_tone)
    await wait_for(lambda: posted(app, "/wait"), within=5)
    dequeuing = await _start_wide(app, queues, "+15557770000", lambda n: AGENT_FRAME)
    await wait_for(lambda: waiting.followed and dequeuing.followed, within=5)
    assert waiting.followed == dequeuing.followed == [PCM16_16K]  # bridged: wideband
    await wait_for(lambda: posted(app, "/dialled") and posted(app, "/queued"), within=5)
    await wait_for(lambda: len(waiting.followed) == len(dequeuing.followed) == 2, within=3)
    assert waiting.followed == dequeuing.followed == [PCM16_16K, ULAW_8K]  # timeLimit: back
    await end(_PARTS.pop(waiting.call_id), _PARTS.pop(dequeuing.call_id))
