"""Two calls joined in-process (sipgw/app/calls/bridge.py): each hears the other; one ends,
both end."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.app.calls.bridge import BridgedLeg, bridge
from sipgw.app.evaluation.audio import tone_frames
from sipgw.media.codecs import ULAW_8K
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)


async def test_two_calls_hear_each_other_until_one_hangs_up() -> None:
    async with running_gateway() as (gw, new_phone):  # echo agents answer
        a, b = await new_phone(), await new_phone()
        await a.invite()
        await b.invite()
        handles = {h.call.call_id: h for h in gw.handles.values()}
        ha, hb = handles[a.call_id], handles[b.call_id]
        echo = ha.agent
        frames = bridge(gw.calls, ha, hb)
        assert isinstance(ha.agent, BridgedLeg) and isinstance(hb.agent, BridgedLeg)
        assert ha.agent is not echo
        assert ha.agent.audio_format == hb.agent.audio_format == ULAW_8K  # PCMU both
        a.start_audio()
        b.start_audio()
        a.say(tone_frames(700, 1.5, -12.0))
        b.say(tone_frames(1100, 1.5, -12.0))
        await a.wait_for_tone(1100, within=4.0)
        await b.wait_for_tone(700, within=4.0)
        assert not a.heard_tone(700)  # no echo agent any more
        assert frames.crossed[0] >= 5 and frames.crossed[1] >= 5
        await a.bye()
        await b.answer_bye()
        assert not gw.handles


async def test_a_digit_goes_across_when_the_allow_list_has_it() -> None:
    async with running_gateway(env={"SIPGW_DIAL_ALLOW": "5"}) as (gw, new_phone):
        a, b = await new_phone(), await new_phone()
        await a.invite()
        await b.invite()
        handles = {h.call.call_id: h for h in gw.handles.values()}
        ha, hb = handles[a.call_id], handles[b.call_id]
        bridge(gw.calls, ha, hb)
        b.start_audio()
        assert isinstance(ha.agent, BridgedLeg)
        ha.agent.on_dtmf("7")  # not allowed: not sent, logged
        ha.agent.on_dtmf("5")
        for _ in range(100):
            events = {p.payload[0] for p in b.packets() if p.payload_type == 101}
            if events:
                break
            await asyncio.sleep(0.05)
        assert events == {5}  # RFC 4733 event 5 only
        await b.bye()
        await a.answer_bye()
