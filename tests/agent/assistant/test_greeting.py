"""The assistant's first words (agent/assistant/greeting.py): while it rings, or at the answer."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.base import CallPurpose
from tests.agent.parts import (
    FakeCall,
    ScriptedTts,
    Turn,
    assistant,
    play_out,
    settle,
    tts_refused,
    wait_for,
)

GREETING = "Hi, shop here."


async def test_the_greeting_waits_held_for_the_answer() -> None:
    a = assistant(greeting=GREETING)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await a.agent.greeter.greet_before_answer(started + 5.0)
    assert loop.time() - started < 2.5  # its first audio came: no need to wait longer
    assert a.tts.texts() == [GREETING]
    assert a.agent.conversation.messages[-1] == {"role": "assistant", "content": GREETING}
    assert a.record("assistant") == [{**a.record("assistant")[0], "greeting": True}]
    assert a.agent.playout.pending and a.agent.playout.next_frame(loop.time()) is None  # held


async def test_the_answer_releases_and_times_the_greeting() -> None:
    a = assistant(greeting=GREETING)
    await a.agent.greeter.greet_before_answer(asyncio.get_running_loop().time() + 1.0)
    a.agent.on_answered()
    assert a.call.ready == 1  # its first frame may go out before the next tick
    await play_out(a.agent.playout)
    await wait_for(lambda: a.record("greeting_metrics"))
    assert 0 <= a.record("greeting_metrics")[0]["first_rtp_after_answer_ms"] < 1000


async def test_no_greeting_nothing_to_wait_for() -> None:
    a = assistant(greeting="")
    await a.agent.greeter.greet_before_answer(asyncio.get_running_loop().time() + 1.0)
    assert a.tts.texts() == [] and a.agent.speaker.current is None


async def test_greeting_audio_that_does_not_come_is_waited_for_until_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = assistant(greeting=GREETING, tts=ScriptedTts(hold=True), answer_wait=0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await a.agent.greeter.greet_before_answer(started + 0.1)
    assert 0.09 <= loop.time() - started < 2.0  # the deadline, not the audio, ended it
    assert "no greeting audio after 0.1 s" in caplog.text


async def test_a_failed_greeting_answers_at_once_with_the_apology_from_memory() -> None:
    a = assistant(greeting=GREETING, tts=ScriptedTts(fail_on="shop"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await a.agent.greeter.greet_before_answer(started + 5.0)
    assert loop.time() - started < 2.5
    assert a.agent.speaker.audio_arrived.is_set()  # the caller hears something at once
    assert [line["decision"] for line in a.record("failure")] == ["tts_down_apology"]


async def test_a_late_tts_greets_once_connected() -> None:
    a = assistant(greeting=GREETING)
    connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    greeting = asyncio.ensure_future(a.agent.greeter.greet_once_connected(connected))
    await settle()
    assert a.tts.texts() == []
    connected.set_result(None)
    await greeting
    assert a.tts.texts() == [GREETING]


async def test_a_late_greeting_is_skipped_once_the_conversation_started(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = assistant(greeting=GREETING, script=[Turn(text="Hello!")])
    connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    greeting = asyncio.ensure_future(a.agent.greeter.greet_once_connected(connected))
    a.agent.responder.reply_to("Hello?")  # the caller spoke first
    connected.set_result(None)
    await greeting
    assert GREETING not in a.tts.texts()
    assert "greeting skipped: the conversation has started" in caplog.text


async def test_a_tts_that_fails_after_the_answer_means_no_greeting() -> None:
    a = assistant(greeting=GREETING)
    connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    connected.set_exception(tts_refused())
    await a.agent.greeter.greet_once_connected(connected)
    assert a.tts.texts() == []
    assert a.record("error")[0]["where"] == "tts"
    assert ("error", ("tts", "http_status")) in a.observer.events


async def test_the_llm_opens_a_call_the_gateway_placed() -> None:
    a = assistant(call=FakeCall(direction="outbound"), script=[Turn(text="Hi, this is the shop.")])
    await a.agent.greeter.greet_before_answer(asyncio.get_running_loop().time() + 1.0)
    assert a.tts.texts() == [] and a.llm.requests == []  # nothing before the answer
    a.agent.on_answered()
    await wait_for(lambda: a.tts.texts() == ["Hi, this is the shop."])
    assert a.llm.requests[0][-1]["role"] == "system"  # the model speaks first


async def test_a_callback_opens_with_its_fixed_greeting() -> None:
    a = assistant(
        call=FakeCall(direction="outbound", purpose=CallPurpose(reason="your refund")),
        callback_greeting="Hello, the shop calling you back.",
    )
    await a.agent.greeter.greet_before_answer(asyncio.get_running_loop().time() + 1.0)
    assert a.tts.texts() == ["Hello, the shop calling you back."]  # never the caller's words
    a.agent.on_answered()
    await settle()
    assert a.llm.requests == []  # the greeting is the opening: the model waits for the answer
