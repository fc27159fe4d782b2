"""The audio queued for the caller: cut into 20 ms frames (the last padded with μ-law
silence), taken one a tick, ``done`` once the last is taken or when dropped."""

from __future__ import annotations

import asyncio

from sipgw.agent.twiml.verbs.outbox import Outbox
from tests.agent.parts import FakeCall


async def test_audio_is_played_in_frames_and_done_once_the_last_is_taken() -> None:
    call = FakeCall()
    out = Outbox(call)
    audio = bytes(range(1, 201)) * 2  # 400 bytes: two frames and a half
    playing = asyncio.ensure_future(out.play_audio(audio))
    await asyncio.sleep(0)
    assert call.ready == 1 and not out.done.is_set() and len(out.frames) == 3
    taken = [out.next_frame(), out.next_frame()]
    assert not playing.done() and not out.done.is_set()
    last = out.next_frame()
    assert out.done.is_set() and out.next_frame() is None
    await asyncio.wait_for(playing, 1)
    assert taken == [audio[:160], audio[160:320]]
    assert last == audio[320:] + b"\xff" * 80  # padded with silence to a whole frame


async def test_dropping_what_is_queued_ends_its_playing_at_once() -> None:
    out = Outbox(FakeCall())
    playing = asyncio.ensure_future(out.play_frames([b"\x01" * 160] * 50))
    await asyncio.sleep(0)
    out.clear()
    await asyncio.wait_for(playing, 1)
    assert out.next_frame() is None and out.done.is_set()


async def test_nothing_to_play_returns_at_once_without_waking_the_tick() -> None:
    call = FakeCall()
    out = Outbox(call)
    await asyncio.wait_for(out.play_frames([]), 1)
    await asyncio.wait_for(out.play_audio(b""), 1)
    assert call.ready == 0 and out.done.is_set()
