"""One call on another leg (sipgw/app/legs/handle.py): the tick, in-band DTMF, hang-up, barge-in."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from sipgw.agent.base import CallDetails
from sipgw.agent.dialpolicy import DialRefused
from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.calls.dialing import DialGate
from sipgw.app.evaluation.audio import decode, goertzel_dbfs
from sipgw.app.legs.handle import LegHandle
from sipgw.app.operations.counters import CallCounters
from sipgw.sip.call import CallInfo
from sipgw.sip.dialpolicy import DialPolicy
from sipgw.sip.headers import NameAddr
from sipgw.sip.uri import parse_uri
from tests.sipgw.app.legs.doubles import FakeMedia, NotingAgent

A, B, C = b"\x11" * 160, b"\x22" * 160, b"\x33" * 160


def make_handle(media: FakeMedia, allow: tuple[str, ...] = ("+1555*", "[0-9]*")) -> LegHandle:
    call = CallInfo(
        ("CA123", media.name), NameAddr(parse_uri("tel:+15551234567")), NameAddr(parse_uri("x:y"))
    )
    counted = CallCounters()
    gate = DialGate(DialPolicy(allow), counted)
    details = CallDetails(variables={"order": "1234"})
    return LegHandle(call, media, cast(SipEndpoint, None), gate, counted, details)


async def test_it_is_a_call_of_its_leg_with_its_variables() -> None:
    handle = make_handle(FakeMedia("browser"))
    assert (handle.leg, handle.caller, handle.direction) == ("browser", "tel:+15551234567",
                                                             "inbound")  # fmt: skip
    assert handle.details.variables == {"order": "1234"} and handle.call.key == ("CA123", "browser")
    assert handle.state == "connecting"
    handle.answered = True
    assert handle.state == "answered"
    handle.hangup()
    assert handle.state == "ending" and await handle.ending == "local-hangup"


async def test_before_the_agent_the_caller_is_drained_and_silence_goes_out() -> None:
    media = FakeMedia(caller=[A, B])
    handle = make_handle(media)
    handle.tick(0.0)
    assert media.caller == [B] and media.sent == [None] and media.polled == 1


async def test_the_tick_moves_the_caller_to_the_agent_and_the_agent_to_the_leg() -> None:
    media = FakeMedia(caller=[A, None])
    handle = make_handle(media)
    agent = handle.agent = NotingAgent(handle, [C])
    agent.answered = True
    handle.tick(0.0)
    handle.tick(0.02)
    assert agent.heard == [A, None] and media.sent == [C, None]


async def test_keyed_digits_are_tones_in_place_of_the_agents_audio() -> None:
    media = FakeMedia()
    handle = make_handle(media)
    agent = handle.agent = NotingAgent(handle, [C] * 10)
    agent.answered = True
    handle.send_dtmf("1")
    for n in range(9):
        handle.tick(n * 0.02)
    tone = decode(b"".join(f for f in media.sent[:5] if f is not None))
    assert goertzel_dbfs(tone, 697) > -20 and goertzel_dbfs(tone, 1209) > -20
    assert media.sent[8] == C and agent.frames == [C]  # 8 frames of tone replaced 8 of audio


async def test_digits_the_allow_list_refuses_play_nothing() -> None:
    handle = make_handle(FakeMedia(), allow=("+1555*",))
    with pytest.raises(DialRefused):
        handle.send_dtmf("9")
    assert not handle.tones.pending


async def test_the_allow_list_judges_all_the_digits_a_leg_keyed() -> None:
    """As on SIP (issue 21): keys allowed one at a time do not add up to more."""
    handle = make_handle(FakeMedia(), allow=("1", "#", "12#"))
    handle.send_dtmf("1")
    with pytest.raises(DialRefused):
        handle.send_dtmf("#")  # "1#" is not on the list, though "#" is
    handle.send_dtmf("2#")  # "12#" is
    assert handle.dtmf_sent == "12#"


async def test_a_barge_in_clears_the_leg_and_reports_what_was_not_heard() -> None:
    media = FakeMedia(unheard=7)
    handle = make_handle(media)
    assert handle.clear_audio() == 7 and media.clears == 1


async def test_a_transfer_fails_after_the_gate_judged_the_target() -> None:
    handle = make_handle(FakeMedia(), allow=("sip:*@pbx.example",))
    assert await handle.transfer("sip:desk@pbx.example") is False
    with pytest.raises(DialRefused):
        await handle.transfer("sip:premium@elsewhere.example")


async def test_the_early_frame_takes_the_next_ticks_place() -> None:
    media = FakeMedia()
    handle = make_handle(media)
    agent = handle.agent = NotingAgent(handle, [A, B])
    agent.answered = True
    handle.audio_ready()
    assert media.sent == [A] and handle.sent_ahead
    handle.tick(0.0)  # nothing more this tick
    handle.tick(0.02)
    assert media.sent == [A, B] and handle.counted.early_sends == 1


async def test_no_audio_from_the_caller_for_the_timeout_ends_the_call() -> None:
    media = FakeMedia(idle=0.0)
    handle = make_handle(media)
    handle.watch_media(0.05)
    await asyncio.sleep(0.08)
    assert not handle.ending.done()  # audio came meanwhile: the timer moved on
    media.idle = 1.0
    assert await asyncio.wait_for(handle.ending, 1.0) == "no-media"


async def test_a_release_from_outside_ends_the_leg_too() -> None:
    handle = make_handle(FakeMedia())
    handle.watch_media(30.0)
    handle.end_reason = "ended"
    handle.cancel_timers()
    assert handle.idle_timer is None and await handle.ending == "ended"
