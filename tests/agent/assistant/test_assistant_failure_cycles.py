"""A call, and a vendor's failure in it, leave nothing of the gateway's in reference cycles.

Each test runs one call through a failure the soak provokes (bench.soak: the fakes'
faults, sipgw/app/evaluation/fakes/faults.py) with the collector off, and asserts that
none of the gateway's objects (its exceptions, frames, tasks, WebSocket clients, the
call's parts) was left to it: freed by reference counting, not an hour later by the
collector's older generations (sipgw/app/operations/collector.py). Objects of the fakes
(in the soak, a process of their own) are not counted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.fakes.openai import FakeResponse
from tests.agent.assistant.test_agent import (
    LONG,
    LONG_HZ,
    REPLY_HZ,
    SPEECH,
    Stack,
    assistant,
    greeted,
    hang_up,
)
from tests.refcycles import garbage_of_ours

pytestmark = pytest.mark.timeout(60)


async def test_a_call_without_failures(tmp_path: Path) -> None:
    """The vendors' sockets close as they should: nothing left either (websockets' parser
    stays suspended on every connection that ended, holding its protocol)."""
    async with assistant(tmp_path) as s:
        s.stt.script(["Where is my order 1234?"])
        s.llm.script([FakeResponse(text="Your order has shipped.")])
        with garbage_of_ours() as leftovers:
            caller, ok, phone = await s.call()
            await greeted(phone)
            phone.say(tone_frames(SPEECH, 0.6))
            await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.2)
            await hang_up(caller, phone)
            await asyncio.sleep(1.0)
    assert leftovers == []


async def long_reply_cut(s: Stack, *, refuse_again: bool) -> None:
    """A call whose TTS socket drops while a long reply plays (the reconnection refused
    too, if ``refuse_again``: the apology, then a transfer or goodbye line, from memory)."""
    s.stt.script(["Tell me about shipping.", "Hello?"])
    s.llm.script([FakeResponse(text=LONG), FakeResponse(text="Your order has shipped.")])
    caller, ok, phone = await s.call()
    await greeted(phone)
    phone.say(tone_frames(SPEECH, 0.6))
    await phone.wait_for_tone(LONG_HZ, within=8, min_seconds=0.2)
    if refuse_again:
        s.tts.fail_next(500, times=3)
    s.tts.drop_connections()
    await asyncio.sleep(1.0)
    if refuse_again:  # the next reply's reconnection is refused
        phone.say(tone_frames(SPEECH, 0.6))
        for _ in range(50):
            if tts_errors(s) >= 2:
                break
            await asyncio.sleep(0.1)
    await hang_up(caller, phone)
    await asyncio.sleep(1.0)


def tts_errors(s: Stack) -> int:
    return sum(r["type"] == "error" and r["where"] == "tts" for r in s.record())


async def test_tts_dropping_its_socket_mid_reply(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        with garbage_of_ours() as leftovers:
            await long_reply_cut(s, refuse_again=False)
    assert leftovers == []
    assert tts_errors(s) == 1


async def test_tts_dropping_its_socket_and_refusing_the_next(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        with garbage_of_ours() as leftovers:
            await long_reply_cut(s, refuse_again=True)
    assert leftovers == []
    assert tts_errors(s) >= 2


@pytest.mark.parametrize("vendor", ["stt", "tts"])
async def test_a_vendor_refusing_the_call_at_its_start(tmp_path: Path, vendor: str) -> None:
    """The STT (HTTP 503 at the upgrade) or the TTS (500) refuses: the call is rejected
    (503), its prepare task failed, the other vendor's connection cancelled."""
    async with assistant(tmp_path) as s:
        if vendor == "stt":
            s.stt.reject_next(2, code=503, reason="Service Unavailable")
        else:
            s.tts.fail_next(500, times=2)
        with garbage_of_ours() as leftovers:
            caller = await s.new_caller()
            final = await caller.invite()
            assert final.status == 503, final
            await asyncio.sleep(1.0)
    assert leftovers == []


async def test_stt_dropping_its_session(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.stt.script(["Where is my order 1234?"])
        s.llm.script([FakeResponse(text="Your order has shipped.")])
        with garbage_of_ours() as leftovers:
            caller, ok, phone = await s.call()
            await greeted(phone)
            s.stt.drop_connections()
            await asyncio.sleep(0.5)  # the session reconnects
            await hang_up(caller, phone)
            await asyncio.sleep(1.0)
        assert len(s.stt.sessions) >= 2
    assert leftovers == []
