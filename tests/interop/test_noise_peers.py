"""A real baresip callee with music behind it, under the assistant's opening.

The gateway (in-process, the assistant on the three fake AI services) places a call to
baresip, which answers and plays a WAV made at test time (``tests.toolkit.noisy_audio``:
sox's melody, at -40 dBFS, under the fake
recognizer's -35 dBFS so that only the gateway's own detector can take it for speech),
then the callee's own sentence at -20 dBFS. The agent opens the call at once with a long
line (the fake TTS: 20 ms a character) that the background plays under.

With the model voice detector (``SIPGW_VOICE_DETECTOR=model``) nothing of the background
pauses or cuts the agent, and the sentence is a turn; the detector's model steps went
through the process's batch (agent/conversation/caller_audio.py), run by the loop and the ticker.
With the energy detector, the same call is barged in on by the background (the control:
the test can tell the two apart).

A TV talks under the agent's opening from the first second, 10 dB under the callee, then
stops; the callee speaks after the opening: with the model detector the TV neither pauses
the agent nor is answered (the fake recognizer transcribes it as readily as the callee: its
turn is recorded as the room's), and the callee's sentence is the one turn answered.
The music tests lower ``SIPGW_VAD_MIN_LEVEL_DBFS`` to -50 dBFS so that the background is above the
energy detector's absolute floor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.agent.conversation.caller_audio import shared_batcher
from sipgw.app.evaluation.audio import write_wav
from sipgw.app.evaluation.fakes.openai import FakeResponse
from tests.interop.test_assistant_peers import call_record
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.noisy_audio import RATE, background, mix, speech
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

OPENING = "Hello, this is the shop calling about your order. " * 8
"""About 20 s of the agent's audio (the fake TTS speaks 20 ms a character)."""
SENTENCE = "I would like to change the delivery address please."
ROOM_S = 9.0


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    with fakes_in_threads(
        tmp_workdir, {"shop calling": 600, "new address": 900}, caller="speech"
    ) as fakes:
        yield fakes


def room_then_sentence(path: Path) -> tuple[Path, float]:
    """Music for :data:`ROOM_S` s, then the callee's sentence over it; the WAV and when
    the sentence starts."""
    quiet = mix([0], background("music", ROOM_S + 4.0), 20.0, speech_dbfs=-20.0)  # -40 dBFS
    said = speech(SENTENCE, "en-us")
    start = round(ROOM_S * RATE)
    voice = [0] * start + mix(said, [0] * len(said), 200.0)
    samples = [q + (voice[i] if i < len(voice) else 0) for i, q in enumerate(quiet)]
    write_wav(path, [max(-32768, min(32767, s)) for s in samples] + [0] * 20 * RATE)
    return path, ROOM_S


@pytest.mark.parametrize("detector", ["model", "energy"])
async def test_music_under_the_agent_neither_cuts_it_nor_makes_a_turn(
    tmp_workdir: Path, services: ThreadedFakes, detector: str
) -> None:
    wav, sentence_at = room_then_sentence(tmp_workdir / "room.wav")
    services.stt.script([SENTENCE])
    services.llm.script([FakeResponse(text="Sure, what is the new address?")])
    env = {
        **services.env,
        "SIPGW_OUTBOUND_GREETING": OPENING,
        "SIPGW_VOICE_DETECTOR": detector,
        "SIPGW_VAD_MIN_LEVEL_DBFS": "-50",
    }
    batcher = shared_batcher()
    flushes, steps = batcher.flushes, batcher.batch.steps if detector == "model" else 0
    with Baresip(tmp_workdir, "callee", user="callee", answermode="auto", source_wav=wav) as b:
        async with running_gateway(agent="assistant", env=env) as (gateway, _):
            task = asyncio.ensure_future(gateway.place_call(b.uri))
            # The sentence's turn is answered: the LLM is asked once, after the sentence.
            for _ in range(int((sentence_at + 12) * 10)):
                if services.llm.requests or task.done():
                    break
                await asyncio.sleep(0.1)
            b.hangup()
            await asyncio.wait_for(task, 10)
        b.wait_event("CALL_CLOSED", 5)
    record = call_record(tmp_workdir)
    barge_ins = [r for r in record if r["type"] == "barge_in"]
    if detector == "energy":
        assert barge_ins, "the control: the energy detector takes the room for the callee"
        return
    assert not barge_ins, barge_ins
    # Every frame of the call went through the batch: about 31 chunks a second of it.
    assert batcher.flushes > flushes and batcher.batch.steps - steps > 31 * sentence_at
    user_turns = [r for r in record if r["type"] == "user"]
    assert len(user_turns) == 1, user_turns
    assert len(services.llm.requests) == 1


TV_S = 7.0
SENTENCE_AT = 10.0


def tv_then_sentence(path: Path) -> Path:
    """A TV for :data:`TV_S` s (10 dB under -20 dBFS), quiet, then the callee's sentence at
    :data:`SENTENCE_AT` s; the WAV."""
    tv = mix([0], background("tv", TV_S), 10.0, speech_dbfs=-20.0)
    said = mix(speech(SENTENCE, "en-us"), [0] * 8 * RATE, 200.0)
    samples = tv + [0] * round((SENTENCE_AT - TV_S) * RATE) + said
    write_wav(path, [max(-32768, min(32767, s)) for s in samples] + [0] * 20 * RATE)
    return path


async def test_a_tv_under_the_opening_is_neither_a_barge_in_nor_a_turn(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    wav = tv_then_sentence(tmp_workdir / "tv.wav")
    # Every turn (the TV's too) carries the fake's default transcript.
    services.llm.script([FakeResponse(text="Sure, what is the new address?")])
    env = {**services.env, "SIPGW_OUTBOUND_GREETING": OPENING}  # the default detector: the model
    with Baresip(tmp_workdir, "callee", user="callee", answermode="auto", source_wav=wav) as b:
        async with running_gateway(agent="assistant", env=env) as (gateway, _):
            task = asyncio.ensure_future(gateway.place_call(b.uri))
            for _ in range(int((SENTENCE_AT + 12) * 10)):
                if services.llm.requests or task.done():
                    break
                await asyncio.sleep(0.1)
            b.hangup()
            await asyncio.wait_for(task, 10)
        b.wait_event("CALL_CLOSED", 5)
    record = call_record(tmp_workdir)
    assert not [r for r in record if str(r["type"]).startswith("barge_in")], record
    assert [r for r in record if r["type"] == "room_speech"]
    assert len([r for r in record if r["type"] == "user"]) == 1
    assert len(services.llm.requests) == 1
