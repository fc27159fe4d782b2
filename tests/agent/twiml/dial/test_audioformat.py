"""A bridged <Dial>'s format (sipgw/agent/twiml/dial/audioformat.py): wideband while bridged when
both calls' codecs are, the agents' own formats back after; a conference participant's alone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sipgw.agent.base import Agent
from sipgw.agent.multiparty.conferences import ConferenceRoom
from sipgw.agent.twiml.conference import ConferenceDial
from sipgw.agent.twiml.dial.audioformat import FollowsAgentFormat, widen
from sipgw.media.codecs import PCM16_16K, ULAW_8K
from sipgw.twilio.document import DialConference, parse_twiml
from tests.refcycles import cycles_left_by_our_code


class _Agent(Agent):
    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return None


class _Call:
    """The parts of a SIP call :func:`widen` uses; counts the media's re-decisions."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self.agent: Agent | None = _Agent()
        self.followed: list[object] = []

    def follow_agent_format(self) -> None:
        assert self.agent is not None
        self.followed.append(self.agent.audio_format)


def test_two_g722_calls_carry_16_khz_while_bridged_then_mu_law_again() -> None:
    caller, leg = _Call("G722"), _Call("g722")
    assert isinstance(caller, FollowsAgentFormat)
    widened = widen(caller, leg)  # type: ignore[arg-type]
    assert widened is not None and widened.audio == PCM16_16K
    for call in (caller, leg):
        assert call.agent is not None and call.agent.audio_format == PCM16_16K
        assert call.followed == [PCM16_16K]
    widened.restore()
    widened.restore()  # once only
    for call in (caller, leg):
        assert call.agent is not None and call.agent.audio_format == ULAW_8K
        assert call.followed == [PCM16_16K, ULAW_8K]


def test_a_narrowband_side_or_a_call_without_media_keeps_mu_law() -> None:
    for codecs in (("G722", "PCMU"), ("PCMA", "OPUS"), ("G722", "")):
        caller, leg = _Call(codecs[0]), _Call(codecs[1])
        assert widen(caller, leg) is None  # type: ignore[arg-type]
        assert caller.followed == leg.followed == []


def test_a_call_whose_media_cannot_follow_keeps_mu_law() -> None:
    class _Stream:  # a Media Streams leg: no follow_agent_format
        codec = "G722"
        agent = None

    assert widen(_Stream(), _Call("G722")) is None  # type: ignore[arg-type]


def test_an_agent_replaced_meanwhile_is_not_followed_at_the_end() -> None:
    caller, leg = _Call("G722"), _Call("G722")
    widened = widen(caller, leg)  # type: ignore[arg-type]
    assert widened is not None
    leg.agent = _Agent()  # the leg moved on (another agent took it)
    widened.restore()
    assert leg.followed == [PCM16_16K]
    assert caller.followed == [PCM16_16K, ULAW_8K]


def test_a_caller_bridged_anew_before_its_first_bridge_ends_stays_with_the_new_one() -> None:
    """``<Dial referUrl answerOnBridge>``: the caller, bridged with the transferor, is
    bridged with referUrl's target before the first bridge ends; that end leaves the caller
    in the new bridge's format, and the new bridge's end brings back μ-law."""
    caller, transferor, target = _Call("G722"), _Call("G722"), _Call("G722")
    first = widen(caller, transferor)  # type: ignore[arg-type]
    second = widen(caller, target)  # type: ignore[arg-type]
    assert first is not None and second is not None
    first.restore()
    assert caller.agent is not None and caller.agent.audio_format == PCM16_16K
    assert transferor.agent is not None and transferor.agent.audio_format == ULAW_8K
    second.restore()
    assert caller.agent.audio_format == ULAW_8K
    assert caller.followed == [PCM16_16K, PCM16_16K, ULAW_8K]
    third = widen(caller, _Call("G722"))  # type: ignore[arg-type]
    assert third is not None and caller.agent.audio_format == PCM16_16K
    third.restore()
    assert caller.agent.audio_format == ULAW_8K


# -- a conference participant (agent/twiml/conference.py)


class _Rooms:
    def __init__(self) -> None:
        self.the = ConferenceRoom("r", "CF1", lambda _: None)

    def room(self, name: str) -> ConferenceRoom:
        return self.the


async def _dial(rooms: _Rooms, call: _Call, who: str) -> ConferenceDial:
    async def waiting() -> None:
        await asyncio.sleep(3600)

    (verb,) = parse_twiml("<Response><Dial><Conference>r</Conference></Dial></Response>")
    assert isinstance(verb, DialConference)
    return ConferenceDial(who, verb, rooms, waiting, None, "AC1", lambda *a, **k: None,
                          time.time, call=call, wideband=True)  # type: ignore[arg-type]  # fmt: skip


async def test_a_wideband_participant_switches_once_the_room_mixes_it_and_back_as_it_leaves() -> (
    None
):
    rooms = _Rooms()
    wide, narrow = _Call("G722"), _Call("PCMU")
    first = await _dial(rooms, wide, "w")
    second = await _dial(rooms, narrow, "n")
    assert first.audio == PCM16_16K and second.audio == ULAW_8K
    running = asyncio.ensure_future(first.run())
    await asyncio.sleep(0.01)
    assert wide.followed == [] and rooms.the.rate == 16000  # waiting: the wait music in μ-law
    other = asyncio.ensure_future(second.run())
    await asyncio.sleep(0.01)
    assert rooms.the.started and wide.followed == [PCM16_16K]  # the room mixes it: wideband
    assert narrow.followed == []  # a μ-law seat: nothing to switch
    first.stop("star")
    await running
    assert wide.followed == [PCM16_16K, ULAW_8K]  # left: the TwiML after plays in μ-law
    assert wide.agent is not None and wide.agent.audio_format == ULAW_8K
    assert rooms.the.rate == 8000  # the last wideband participant left
    second.stop("star")
    await other


async def test_a_participant_not_allowed_wideband_joins_in_mu_law() -> None:
    rooms = _Rooms()
    (verb,) = parse_twiml("<Response><Dial><Conference>r</Conference></Dial></Response>")
    assert isinstance(verb, DialConference)
    call: Any = _Call("G722")
    dial = ConferenceDial("w", verb, rooms, asyncio.sleep, None, "AC1",  # type: ignore[arg-type]
                          lambda *a, **k: None, time.time, call=call)  # fmt: skip
    assert dial.audio == ULAW_8K


async def test_a_participant_that_left_leaves_no_cycle_of_its_agent() -> None:
    with cycles_left_by_our_code() as leftovers:
        rooms = _Rooms()
        dials = [await _dial(rooms, _Call("G722"), who) for who in ("w1", "w2")]
        runs = [asyncio.ensure_future(dial.run()) for dial in dials]
        await asyncio.sleep(0.01)
        for dial in dials:
            dial.stop("star")
        await asyncio.gather(*runs)
        del dials, runs, rooms
    assert leftovers == []
