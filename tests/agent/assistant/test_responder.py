"""The agent's LLM replies (agent/assistant/responder.py): sentences to TTS, tools, fillers,
metrics."""

from __future__ import annotations

import asyncio
from unittest.mock import ANY

from sipgw.agent.conversation.caller_context import CallerContextSettings
from sipgw.agent.resilience.line_cache import fallback_audio
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.turns.actions import Cause
from sipgw.agent.turns.machine import StartReply
from tests.agent.parts import ScriptedTts, Turn, assistant, play_out, settle, slow_tool, wait_for


async def test_a_turn_is_answered_sentence_by_sentence() -> None:
    a = assistant(script=[Turn(text="Your order has shipped. It arrives tomorrow.")])
    a.agent.on_answered()
    responder, speaker = a.agent.responder, a.agent.speaker
    reply = responder.reply_to("Where is my order?", speech_end_at=1.0, stt_final_at=1.1)
    assert speaker.current is reply and reply.turn == 1
    assert reply.task is not None
    await wait_for(reply.task.done)
    assert a.tts.texts() == ["Your order has shipped.", "It arrives tomorrow."]
    assert a.llm.requests[0][-1] == {"role": "user", "content": "Where is my order?"}
    assert reply.text == "Your order has shipped. It arrives tomorrow."
    assert reply.first_sentence_at is not None and reply.first_token_at is not None
    await play_out(a.agent.playout)
    await wait_for(lambda: a.record("turn_metrics"))
    assert a.record("turn_metrics")[0]["turn"] == 1
    # Each sentence counted as spoken (the speculative waste's denominator), then the turn.
    assert a.observer.events == [("tts_spoken", 23), ("tts_spoken", 20), ("turn", ANY)]


async def test_a_new_reply_cuts_off_the_one_still_playing() -> None:
    a = assistant(script=[Turn(text="A long answer about shipping."), Turn(text="Sure.")])
    a.agent.on_answered()
    first = a.agent.responder.reply_to("Tell me about shipping.")
    assert first.task is not None
    await wait_for(first.task.done)
    second = a.agent.responder.reply_to_note("[The caller pressed keypad keys: 1]")
    (barge,) = a.record("barge_in")
    assert barge["cause"] == "new turn" and barge["turn"] == 1
    assert first.heard == "" and a.agent.speaker.current is second and second.turn == 2
    await wait_for(lambda: len(a.llm.requests) == 2)
    assert a.llm.requests[1][-1]["content"] == "[The caller pressed keypad keys: 1]"


async def test_a_slow_tool_round_gets_a_filler_line() -> None:
    a = assistant(
        script=[Turn(tool_calls=(("look_up", "{}"),)), Turn(text="Found it.")],
        tools=[slow_tool(0.15)],
        filler_after=0.05,
        filler_lines=("One moment.",),
    )
    a.agent.on_answered()
    reply = a.agent.responder.reply_to("Can you check?")
    assert reply.task is not None
    await wait_for(reply.task.done)
    assert a.tts.texts() == ["One moment.", "Found it."]
    (filler,) = a.record("filler")
    assert filler["text"] == "One moment." and filler["after_ms"] >= 45  # while the tool ran


async def test_a_quick_tool_round_says_no_filler() -> None:
    a = assistant(
        script=[Turn(tool_calls=(("look_up", "{}"),)), Turn(text="Found it.")],
        tools=[slow_tool(0.0)],
        filler_after=0.1,
    )
    reply = a.agent.responder.reply_to("Can you check?")
    assert reply.task is not None
    await wait_for(reply.task.done)
    await asyncio.sleep(0.15)
    assert a.tts.texts() == ["Found it."] and a.record("filler") == []


async def test_an_llm_failure_is_reported_and_the_apology_played_from_memory() -> None:
    a = assistant(script=[Turn(error="the model timed out")])
    a.agent.on_answered()
    reply = a.agent.responder.reply_to("Hello?")
    assert reply.task is not None
    await wait_for(reply.task.done)
    assert a.tts.texts() == []  # no TTS needed: the line comes from memory
    frames = await play_out(a.agent.playout)
    apology = fallback_audio(FallbackLine.APOLOGY, None)
    assert b"".join(f for f in frames if f is not None) == b"".join(apology.frames)
    assert ("error", ("llm", "timeout")) in a.observer.events
    assert a.observer.decisions == ["llm_apology"]
    (failure,) = a.record("failure")
    assert (failure["line"], failure["source"]) == ("apology", "shipped")


async def test_a_confirmed_preemptive_request_becomes_the_replys_first_round() -> None:
    a = assistant(script=[Turn(text="Sure, it is on its way.")], preemptive_pause_ms=100)
    a.agent.preemptive.start("where is my order")
    await settle()
    a.agent.responder.answer(StartReply("Where is my order?", 1.0, 1.2))
    reply = a.agent.speaker.current
    assert reply is not None and reply.preemptive is not None and reply.task is not None
    await wait_for(reply.task.done)
    assert len(a.llm.requests) == 1  # the preemptive request was the reply's LLM request
    assert a.tts.texts() == ["Sure, it is on its way."]
    assert [line["outcome"] for line in a.record("preemptive")] == ["started", "used"]


async def test_a_different_final_drops_the_preemptive_request_and_counts_it() -> None:
    a = assistant(script=[Turn(text="Early."), Turn(text="Right.")], preemptive_pause_ms=100)
    a.agent.preemptive.start("where is my order")
    a.agent.responder.answer(StartReply("Where is my parcel?", 1.0, 1.2))
    reply = a.agent.speaker.current
    assert reply is not None and reply.preemptive is None and reply.wasted == 1
    assert reply.task is not None
    await wait_for(reply.task.done)
    assert a.tts.texts() == ["Right."]
    outcomes = [(line["outcome"], line.get("why")) for line in a.record("preemptive")]
    assert outcomes == [("started", None), ("wasted", "final differs")]


async def test_the_caller_context_is_in_the_first_request() -> None:
    async def lookup(caller: str, called: str) -> str:
        return f"Caller {caller} is a gold customer."

    a = assistant(caller_context=CallerContextSettings(lookup, timeout=1.0))
    a.agent.caller_context.start("+15551234567", "shop", "test")  # the proven and called numbers
    reply = a.agent.responder.reply_to("Hi.")
    assert reply.task is not None
    await wait_for(reply.task.done)
    assert "Caller +15551234567 is a gold customer." in a.llm.requests[0][0]["content"]


async def test_keypad_input_is_one_user_message_and_a_reply() -> None:
    a = assistant(script=[Turn(text="Thanks, I have your number.")])
    a.agent.on_answered()
    a.agent.responder.reply_to_keypad("12#")
    await wait_for(lambda: a.tts.texts() == ["Thanks, I have your number."])
    assert a.llm.requests[0][-1] == {
        "role": "user",
        "content": "[The caller pressed keypad keys: 1 2 #]",
    }


async def test_the_caller_ending_a_turn_over_a_playing_reply_gets_its_answer() -> None:
    # The first reply's audio is still playing (its task waits on its audio) when the
    # caller's next turn ends: the machine cuts it (cause "turn") and the agent answers.
    # The cut reply's task ends a few loop steps later, after the new reply has begun
    # its LLM request (its first token 20 ms away): what the caller heard of the old
    # reply goes to the old reply's messages, and the new one is read to its end.
    a = assistant(
        script=[
            Turn(text="Thanks, I can help you with that."),
            Turn(text="Sure, go on.", delay=0.02),
        ],
        tts=ScriptedTts(hold=True),
    )
    a.agent.on_answered()
    responder, speaker = a.agent.responder, a.agent.speaker
    first = responder.reply_to("Hello, I have a question.")
    await wait_for(lambda: first.text != "")  # the LLM's reply is in, its audio held
    assert first.task is not None and not first.task.done()
    speaker.cut_current(Cause.TURN)
    second = responder.reply_to("It is about my order.")
    await wait_for(lambda: second.llm_done_at is not None)  # its LLM reply ended, somehow
    assert second.first_token_at is not None and second.text == "Sure, go on."
    assert a.tts.texts()[-1] == "Sure, go on."
    assert [line["cause"] for line in a.record("barge_in")] == ["turn"]
    history = [
        (m["role"], m["content"]) for m in a.agent.conversation.messages if m["role"] != "system"
    ]
    assert history == [
        ("user", "Hello, I have a question."),  # nothing of the first reply was heard
        ("user", "It is about my order."),
        ("assistant", "Sure, go on."),
    ]
