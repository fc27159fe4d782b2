"""The assistant on a line that returns its voice: the in-process gateway, the fake services,
and a phone whose microphone picks up its speaker (a 2-wire hybrid's echo, 6 dB down and
40 ms late: :mod:`tests.toolkit.echo_paths`), on the test's virtual clock.

The fake TTS speaks each line as a tone in syllables (its echo has a shape the guard can
follow); the fake STT hears any loud audio as speech, the echo too; the caller speaks with
espeak-ng's voice, and the gateway's voice detector is the model one (the default). With the
echo guard on (the default) the agent's own voice makes no turn and never pauses, ducks or
cuts a reply: what the transcriber made of the greeting's first syllables, heard before the
line showed its echo, is recorded as not the caller's. The caller's sentence is answered,
and a real interruption over the echo stops the agent. With the guard off, the same line's
echo makes turns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse
from sipgw.app.evaluation.phone import Phone
from tests.agent.assistant.test_agent import Stack
from tests.toolkit.amdset import channel
from tests.toolkit.amdset.speech import Voice, synthesize_clause
from tests.toolkit.canaries import ASSEMBLYAI_KEY, ELEVENLABS_KEY, OPENAI_KEY
from tests.toolkit.echo_paths import EchoPath, PhoneEcho, encode
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.virtual_time import virtual_time

pytestmark = pytest.mark.timeout(90)

GREETING = "Hi there, thanks for calling the order desk. How can I help you today?"
GREETING_HZ, REPLY_HZ, LONG_HZ = 500, 700, 900
LONG = (
    "Let me tell you a long story about shipping, about the trucks, the warehouses, the "
    "routes and the people who carry every parcel to your door, one by one, day by day. "
)


@asynccontextmanager
async def echoing(tmp_path: Path, guard: bool = True) -> AsyncIterator[Stack]:
    """The gateway with the assistant, the fakes and the echo guard on or off."""
    with virtual_time():
        stt = await FakeAssemblyAI(api_key=ASSEMBLYAI_KEY).start()
        llm = FakeOpenAI(api_key=OPENAI_KEY)
        await llm.start()
        tts = FakeElevenLabs(api_key=ELEVENLABS_KEY, ms_per_char=30, speed=4.0, syllables=True)
        await tts.start()
        tts.map_text("Hi there", GREETING_HZ)
        tts.map_text("shipped", REPLY_HZ)
        tts.map_text("story", LONG_HZ)
        env = {
            "ASSEMBLYAI_API_KEY": ASSEMBLYAI_KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
            "OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": llm.base_url,
            "ELEVENLABS_API_KEY": ELEVENLABS_KEY, "ELEVENLABS_BASE_URL": tts.base_url,
            "SIPGW_GREETING": GREETING, "SIPGW_CALL_RECORD_DIR": str(tmp_path / "calls"),
            "SIPGW_CALLBACK_DB": str(tmp_path / "callbacks.sqlite3"),
            "SIPGW_ECHO_GUARD": "on" if guard else "off",
        }  # fmt: skip
        try:
            async with running_gateway(agent="assistant", env=env) as (gateway, new_phone):
                yield Stack(gateway, new_phone, tmp_path / "calls", stt, llm, tts)
        finally:
            await asyncio.gather(stt.aclose(), llm.aclose(), tts.aclose())


def spoken(text: str, dbfs: float = -15.0) -> list[bytes]:
    """``text`` in espeak-ng's voice, about ``dbfs`` active, as μ-law frames."""
    said = synthesize_clause(text, Voice("en-us")).samples
    ulaw = encode(np.array(channel.scale_to([float(v) for v in said], dbfs - 2.0)))
    return [ulaw[i : i + 160] for i in range(0, len(ulaw) - 159, 160)]


HYBRID = EchoPath("hybrid", 40.0, -6.0)
"""A hybrid's echo without its few ms of dispersion: the fake TTS's lines are pure tones, and
dispersion makes their echo's level depend on each line's pitch by up to 7 dB (speech's echo
averages it out)."""


async def call(s: Stack) -> Phone:
    """A call from the echoing phone, its audio started."""
    caller: Phone = await s.new_caller(echo=PhoneEcho(HYBRID))
    ok = await caller.invite()
    assert ok.status == 200, ok
    return caller.start_audio()


async def greeted(phone: Phone) -> None:
    """The greeting played out (its two sentences, about 2 s; its first syllables' echo may
    pause it, before the line has shown its echo)."""
    await phone.wait_for_tone(GREETING_HZ, within=10)
    await asyncio.sleep(4.0)


async def hang_up(phone: Phone) -> None:
    await phone.stop_audio()
    await phone.bye()


def user_turns(s: Stack) -> list[str]:
    """What the LLM was told the caller said, request by request (the last user line)."""
    said = []
    for request in s.llm.requests:
        users = [m for m in request.body["messages"] if m["role"] == "user"]
        said.append(users[-1]["content"] if users else "")
    return said


async def test_the_agents_echo_makes_no_turn_and_the_caller_is_answered(tmp_path: Path) -> None:
    async with echoing(tmp_path) as s:
        s.stt.default_transcript = "Where is my order?"  # any final, the echo's too
        s.llm.script([FakeResponse(text="It shipped on Monday, it arrives on Thursday.")])
        phone = await call(s)
        await greeted(phone)
        assert s.llm.requests == []  # the greeting's echo was answered by nothing
        reply_from = len(s.record())
        phone.say(spoken("Where is my order?"))  # the caller's sentence, after the greeting
        await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.1)
        await asyncio.sleep(4.0)  # the reply and its echo are over; a turn of the echo
        assert len(s.llm.requests) == 1  # would have been answered by now
        await hang_up(phone)
        await asyncio.sleep(0.3)
    record = s.record()
    kinds = [r["type"] for r in record]
    assert "barge_in" not in kinds  # the greeting was not cut off by its echo
    # The reply played whole: its echo paused, ducked and cut nothing.
    during_reply = [r["type"] for r in record[reply_from:]]
    assert not {"barge_in_resumed", "barge_in_ducked"} & set(during_reply), during_reply
    # What the transcriber made of the greeting's first syllables, heard before the line
    # showed its echo, is recorded as not the caller's (before the caller spoke).
    assert all(n < reply_from for n, r in enumerate(record) if r["type"] == "room_speech")


async def test_a_real_interruption_over_the_echo_stops_the_agent(tmp_path: Path) -> None:
    async with echoing(tmp_path) as s:
        s.stt.default_transcript = "Tell me about shipping."  # any final, the echo's too
        s.llm.script([FakeResponse(text=LONG), FakeResponse(text="Sure, go ahead.")])
        phone = await call(s)
        await greeted(phone)
        phone.say(spoken("Tell me about shipping."))
        await phone.wait_for_tone(LONG_HZ, within=8, min_seconds=0.1)
        await asyncio.sleep(1.0)  # the reply and its echo play on
        onset = time.monotonic()
        phone.say(spoken("Stop, stop, I have a question about the delivery."))  # over the echo
        await asyncio.sleep(2.0)
        spans = phone.tone_spans(LONG_HZ)
        assert spans[-1][1] - onset < 1.2, (onset, spans)  # cut off: 600 ms of speech
        await s.llm.wait_for_request(2, within=5)  # the interruption's turn
        await hang_up(phone)
        await asyncio.sleep(0.3)
    assert [r for r in s.record() if r["type"] == "barge_in"]


async def test_without_the_guard_the_echo_makes_turns(tmp_path: Path) -> None:
    """The same line with the guard off: the echo of the greeting and of the reply reach
    the transcriber as speech, and it ends turns on them."""
    async with echoing(tmp_path, guard=False) as s:
        s.stt.script(["Where is my order?"])
        s.llm.script([FakeResponse(text="It shipped on Monday, it arrives on Thursday.")])
        phone = await call(s)
        await greeted(phone)
        await asyncio.sleep(2.0)
        assert len(s.stt.sessions[0].sent_of_type("Turn")) > 0
        await hang_up(phone)
        await asyncio.sleep(0.3)
