"""Two calls joined in-process (sipgw/app/calls/bridge.py): each hears the other; one ends,
both end."""

from __future__ import annotations

import asyncio
import math
import struct

import pytest

from sipgw.app.calls.bridge import BridgedLeg, bridge
from sipgw.app.evaluation.audio import tone_frames, tone_samples
from sipgw.media.codecs import G722, PCM16_16K, ULAW_8K
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


def _g722_tone(hz: float, seconds: float) -> list[bytes]:
    samples = tone_samples(hz, seconds, -12.0, rate=16000)
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    encoder = G722.encoder()
    return [encoder.encode(pcm[i : i + 640]) for i in range(0, len(pcm), 640)]


def _share_at(packets: list[bytes], hz: float) -> float:
    """How much of the decoded G.722 audio is ``hz`` (one Goertzel bin over its energy)."""
    decoder = G722.decoder()
    pcm = b"".join(decoder.decode(p) for p in packets)
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    coeff = 2 * math.cos(2 * math.pi * hz / 16000)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    energy = sum(x * x for x in samples) or 1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (energy * len(samples) / 2)


async def test_two_g722_calls_bridged_carry_16_khz_a_6_khz_tone_crosses() -> None:
    async with running_gateway(codecs=("G722", "PCMU", "PCMA")) as (gw, new_phone):
        tone = _g722_tone(6000, 1.0)
        a = await new_phone(codec="G722", idle=lambda n: tone[n % len(tone)])
        b = await new_phone(codec="G722", idle=lambda n: G722.encode(bytes(640)))
        await a.invite()
        await b.invite()
        handles = {h.call.call_id: h for h in gw.handles.values()}
        ha, hb = handles[a.call_id], handles[b.call_id]
        assert ha.codec == hb.codec == "G722"
        frames = bridge(gw.calls, ha, hb)
        assert isinstance(ha.agent, BridgedLeg) and isinstance(hb.agent, BridgedLeg)
        assert ha.agent.audio_format == hb.agent.audio_format == PCM16_16K
        assert ha.session is not None and ha.session.heard_format == PCM16_16K
        a.start_audio()
        b.start_audio()
        for _ in range(100):  # 1 s of a's tone across
            if frames.crossed[0] >= 50:
                break
            await asyncio.sleep(0.05)
        heard = [p.payload for p in b.packets() if p.payload_type == 9][-40:]
        assert len(heard) == 40
        # 16 kHz across: b hears the 6 kHz itself (μ-law would fold it to 2 kHz)
        assert _share_at(heard, 6000) > 0.5 > _share_at(heard, 2000)
        await a.bye()
        await b.answer_bye()
