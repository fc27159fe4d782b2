"""How long the assistant's answer waits for text-to-speech (``SIPGW_ANSWER_WAIT_MS``).

The 200 OK normally waits for the greeting's first audio, so the caller hears it at
once; a slow, failing or unreachable TTS must not hold the answer past the limit:
the call is answered anyway and works.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.fakes.openai import FakeResponse
from sipgw.app.evaluation.phone import Phone, sdp_audio_port
from sipgw.sip.message import SipResponse
from tests.agent.assistant.test_agent import (
    GREETING_HZ,
    REPLY_HZ,
    SPEECH,
    Stack,
    assistant,
    hang_up,
)

pytestmark = pytest.mark.timeout(60)


async def answer_delay(s: Stack) -> tuple[Phone, Phone, float]:
    """INVITE; the seconds from the 180 to the 200, and the phone sending audio."""
    caller = await s.new_caller()
    caller.send(caller.request("INVITE", caller.sdp()))
    await caller.expect(lambda m: isinstance(m, SipResponse) and m.status == 180)
    ringing = time.monotonic()
    ok = await caller.expect(lambda m: isinstance(m, SipResponse) and m.status == 200)
    delay = time.monotonic() - ringing
    assert isinstance(ok, SipResponse)
    caller.to_tag = ok.to.tag
    caller.send(caller.request("ACK"))
    caller.acked = True
    return caller, caller.start_audio(("127.0.0.1", sdp_audio_port(ok))), delay


async def a_turn_is_answered(s: Stack, phone: Phone) -> None:
    s.stt.script(["Where is my order?"])
    s.llm.script([FakeResponse(text="Your order has shipped.")])
    phone.say(tone_frames(SPEECH, 0.8))
    await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.3)


async def test_fast_tts_greets_on_the_first_packet(tmp_path: Path) -> None:
    async with assistant(tmp_path, SIPGW_ANSWER_WAIT_MS="1000") as s:
        s.tts.first_byte_latency = 0.15  # a real service's first byte
        caller, phone, delay = await answer_delay(s)
        assert 0.1 < delay < 1.0  # it waited for the greeting's first audio ...
        answered = time.monotonic()
        first = await phone.wait_for_tone(GREETING_HZ, within=3)
        assert first - answered < 0.25  # ... which plays at once
        await hang_up(caller, phone)


async def test_slow_tts_first_byte_does_not_hold_the_answer(tmp_path: Path) -> None:
    async with assistant(tmp_path, SIPGW_ANSWER_WAIT_MS="300") as s:
        s.tts.first_byte_latency = 1.5
        caller, phone, delay = await answer_delay(s)
        assert 0.25 < delay < 0.6, delay
        answered = time.monotonic()
        # the greeting plays when its audio comes (1.5 s after the ring), and the call works
        first = await phone.wait_for_tone(GREETING_HZ, within=4)
        assert first - answered > 0.8
        await phone.wait_until_quiet(0.1, hz=GREETING_HZ)
        s.tts.first_byte_latency = 0.0
        await a_turn_is_answered(s, phone)
        await hang_up(caller, phone)


async def test_a_failing_greeting_answers_at_once_and_the_call_works(tmp_path: Path) -> None:
    env = {"SIPGW_ANSWER_WAIT_MS": "3000", "ELEVENLABS_TRANSPORT": "http"}
    async with assistant(tmp_path, **env) as s:
        s.tts.fail_next(500)  # the greeting's request
        caller, phone, delay = await answer_delay(s)
        assert delay < 1.0, delay  # not the 3 s limit: the greeting had already failed
        await a_turn_is_answered(s, phone)
        assert not phone.heard_tone(GREETING_HZ)
        await hang_up(caller, phone)
        await asyncio.sleep(0.2)
    errors = [r for r in s.record() if r["type"] == "error"]
    assert errors and errors[0]["where"] == "tts", errors


@asynccontextmanager
async def unresponsive_server() -> AsyncIterator[str]:
    """A TCP server that accepts and never answers (a TTS stuck in its handshake)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_tts_stuck_connecting_does_not_hold_the_answer(tmp_path: Path) -> None:
    async with (
        unresponsive_server() as url,
        assistant(tmp_path, SIPGW_ANSWER_WAIT_MS="300", ELEVENLABS_BASE_URL=url) as s,
    ):
        caller, phone, delay = await answer_delay(s)
        assert 0.25 < delay < 0.6, delay
        await asyncio.sleep(1.0)  # the call is up (no greeting: TTS is still connecting)
        assert not caller.bye_received and not phone.heard_tone(GREETING_HZ)
        assert (await caller.bye()).status == 200
