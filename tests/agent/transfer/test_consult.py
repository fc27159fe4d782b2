"""The person a warm transfer calls (agent/transfer/consult.py): the summary said, their answer
heard."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sipgw.agent.amd.settings import AmdConfig
from sipgw.agent.services.stt.base import SttPartialTranscript, SttTurnEnded
from sipgw.agent.transfer.consult import (
    ConsultAgent,
    ConsultBrief,
    ConsultDecision,
    keyed_answer,
    spoken_answer,
)
from sipgw.agent.transfer.warm import CONSULT_AGENTS
from sipgw.app.evaluation.audio import tone_frames
from tests.agent.parts import (
    SILENT_FRAME,
    FakeCall,
    ScriptedStt,
    ScriptedTts,
    feed_audio,
    play_out,
    say_hello,
    settle,
    speech_frames,
    wait_for,
)

BRIEF = ConsultBrief("Hello, a caller for you.", "Bob wants a refund for order 1234.",
                     "Press 1 or say yes to take the call.", answer_timeout=0.3)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Yes.", True), ("Yeah, put them through.", True), ("Sure, no problem.", True),
        ("OK go ahead", True), ("I'll take it", True),
        ("No.", False), ("Not now, sorry.", False), ("I can't, I'm busy.", False),
        ("Who is it?", None), ("", None), ("Yes... no, wait.", None),
    ],
)  # fmt: skip
def test_spoken_answers(text: str, answer: bool | None) -> None:
    assert spoken_answer(text) is answer


def test_keys() -> None:
    assert [keyed_answer(d) for d in "1234#"] == [True, False, None, None, None]


def consult(stt: ScriptedStt | None = None) -> tuple[ConsultAgent, list[dict[str, Any]],
                                                     ScriptedTts]:  # fmt: skip
    loop = asyncio.get_running_loop()
    record: list[dict[str, Any]] = []
    tts = ScriptedTts()
    agent = ConsultAgent(FakeCall(direction="outbound"), BRIEF, tts, stt or ScriptedStt(),
                         loop.create_future(), record.append)  # fmt: skip
    return agent, record, tts


async def test_the_brief_is_said_once_answered_and_a_key_accepts() -> None:
    agent, record, tts = consult()
    await agent.prepare()
    assert agent.next_frame() is None  # nothing before the answer
    agent.on_answered()
    await settle()
    assert tts.texts() == list(BRIEF.parts)  # synthesized (a part each), held until a person
    assert agent.next_frame() is None
    await say_hello(agent.on_caller_audio)
    assert agent.begun
    assert [r["kind"] for r in record if r["stage"] == "answered_by"] == ["human"]
    assert BRIEF.text.startswith("Hello, a caller for you. Bob wants a refund")
    frames = await play_out(agent.playout)
    assert any(frame is not None for frame in frames)
    agent.on_dtmf("5")
    assert not agent.decision.done()
    agent.on_dtmf("1")
    assert agent.decision.result() is ConsultDecision.ACCEPTED
    agent.on_dtmf("2")  # decided once
    assert agent.decision.result() is ConsultDecision.ACCEPTED
    assert record[-1] == {"type": "consult", "stage": "decided", "decision": "accepted",
                          "by": "key 1"}  # fmt: skip
    await agent.close()


async def test_words_decline() -> None:
    stt = ScriptedStt()
    agent, _, _ = consult(stt)
    await agent.prepare()
    agent.on_answered()
    loop = asyncio.get_running_loop()
    stt.emit(SttTurnEnded("No.", 0, (), loop.time(), None))  # before the brief: no answer
    await say_hello(agent.on_caller_audio)
    assert stt.audio  # the person's audio goes to speech-to-text
    assert not agent.decision.done()
    stt.emit(SttTurnEnded("Who is it?", 0, (), loop.time(), None))
    stt.emit(SttTurnEnded("No, not now.", 1, (), loop.time(), None))
    await wait_for(agent.decision.done)
    assert agent.decision.result() is ConsultDecision.DECLINED
    await agent.close()


async def test_no_answer_after_the_prompt_was_heard() -> None:
    agent, _, _ = consult()
    await agent.prepare()
    agent.on_answered()
    await say_hello(agent.on_caller_audio)
    await play_out(agent.playout)
    loop = asyncio.get_running_loop()
    heard = loop.time()
    await wait_for(agent.decision.done, within=2.0)
    assert agent.decision.result() is ConsultDecision.NO_ANSWER
    assert loop.time() - heard >= 0.25  # the timeout counts from the prompt's end
    await agent.close()


async def test_a_call_that_ends_first_is_hung_up() -> None:
    agent, _, _ = consult()
    await agent.prepare()
    await agent.close("remote-bye")
    assert agent.decision.result() is ConsultDecision.HUNG_UP


async def test_keys_work_without_speech_recognition() -> None:
    agent, _, _ = consult(ScriptedStt(connect_error=OSError("refused")))
    await agent.prepare()
    agent.on_answered()
    agent.on_caller_audio(b"\x10" * 160)
    agent.on_dtmf("2")
    assert agent.decision.result() is ConsultDecision.DECLINED
    await agent.close()


async def test_a_brief_that_cannot_be_said_fails() -> None:
    agent, _, tts = consult()
    tts.fail_on = "refund"
    await agent.prepare()
    agent.on_answered()
    await wait_for(agent.decision.done)
    assert agent.decision.result() is ConsultDecision.FAILED
    await agent.close()


# -- who answered: a voicemail is no person to brief


async def test_a_voicemail_is_no_answer_at_once_and_hears_no_brief() -> None:
    stt = ScriptedStt()
    agent, record, _ = consult(stt)
    await agent.prepare()
    agent.on_answered()
    loop = asyncio.get_running_loop()
    stt.emit(SttPartialTranscript("hi you have reached ana please leave a message", 0,
                                  loop.time()))  # fmt: skip
    await wait_for(agent.decision.done)
    assert agent.decision.result() is ConsultDecision.VOICEMAIL
    assert [r["kind"] for r in record if r["stage"] == "answered_by"] == ["voicemail"]
    assert record[-1] == {**record[-1], "stage": "decided", "by": "answered by voicemail"}
    frames = await play_out(agent.playout, seconds=0.3)
    assert all(frame is None for frame in frames)  # the brief was never heard
    await agent.close()


async def test_a_beep_after_a_greeting_is_no_answer() -> None:
    agent, _, _ = consult()
    await agent.prepare()
    agent.on_answered()
    await feed_audio(agent.on_caller_audio, [*speech_frames(2.2), *[SILENT_FRAME] * 10,
                                             *tone_frames(1000, 0.4, -18.0),
                                             *[SILENT_FRAME] * 10])  # fmt: skip
    assert agent.decision.result() is ConsultDecision.VOICEMAIL
    assert not agent.begun
    await agent.close()


async def test_a_person_who_says_nothing_is_briefed_at_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    record: list[dict[str, Any]] = []
    agent = ConsultAgent(FakeCall(direction="outbound"), BRIEF, ScriptedTts(), ScriptedStt(),
                         loop.create_future(), record.append, AmdConfig(deadline=0.5))  # fmt: skip
    await agent.prepare()
    agent.on_answered()
    await settle()
    assert agent.next_frame() is None
    await wait_for(lambda: agent.begun, within=2.0)
    assert agent.next_frame() is not None  # the brief plays
    await agent.close()


async def test_a_hello_while_it_prepares_is_heard_and_the_brief_plays_at_the_answer() -> None:
    """The gateway hands the person's audio over from the answer on (it hears while it
    prepares): their "Hello?" is not lost while text-to-speech connects."""
    agent, _, _ = consult()
    assert CONSULT_AGENTS.hears_while_preparing and CONSULT_AGENTS.arrival_audio
    await say_hello(agent.on_caller_audio)  # before prepare() and on_answered()
    assert agent.begun
    await agent.prepare()
    agent.on_answered()
    await wait_for(lambda: agent.playout.pending)
    assert agent.next_frame() is not None
    await agent.close()
