"""Answering-machine detection on an outbound assistant call (agent/assistant/answering.py).

The assistant runs on the in-memory doubles (tests/agent/parts.py); the callee's audio is
fed at arrival on a real 20 ms schedule (tests/agent/amd/callee.py). The speech
recognizer's words come from the test.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from sipgw.agent.amd.settings import AmdMode, AmdRequest, AnsweringSettings
from sipgw.agent.base import CallDetails
from sipgw.agent.services.stt.base import SttPartialTranscript, SttTurnEnded
from tests.agent.amd.callee import (
    answered,
    beep,
    feed,
    silence,
    special_information_tone,
    voice,
)
from tests.agent.parts import (
    BYTES_PER_CHAR,
    Assistant,
    FakeCall,
    Turn,
    assistant,
    settle,
    wait_for,
)

pytestmark = pytest.mark.timeout(30)

MESSAGE = "Hi, this is Ana from the shop, please call us back."
SCREENER_LINE = "This is Ana from the shop, calling Bob about his order."


def outbound(
    mode: AmdMode,
    message: str | None = None,
    variables: dict[str, str] | None = None,
    **settings: object,
) -> Assistant:
    call = FakeCall(direction="outbound", called="sip:+15550001111@trunk.example",
                    amd=AmdRequest(mode, message),
                    details=CallDetails(variables=variables or {}))  # fmt: skip
    return assistant(call=call, **settings)  # type: ignore[arg-type]


async def tick_until_hung_up(a: Assistant, within: float = 10.0) -> None:
    """Run the agent's frames out as the ticker does, until it hangs up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not a.call.hangups:
        assert loop.time() < deadline, "the agent did not hang up"
        a.agent.next_frame()
        await asyncio.sleep(0.02)


OPENING = "Hi this is Ana from the shop about your order."
"""The LLM's opening line: asked for at the answer, held until a person is decided."""


def opening_unheard(a: Assistant) -> bool:
    """The opening the LLM wrote at the answer was cut before a frame of it played, and
    left nothing in the history."""
    cuts = [r for r in a.record("barge_in") if r["kind"] == "reply" and r["turn"] == 1]
    history = a.agent.conversation.messages
    return (
        [c["heard"] for c in cuts] == [""]
        and {"role": "assistant", "content": OPENING} not in history
        and a.observer.events.count(("barge_in", None)) == 0
    )


def turn_ended(text: str, order: int = 0) -> SttTurnEnded:
    return SttTurnEnded(text, order, (), asyncio.get_running_loop().time(), None)


async def test_a_person_s_hello_is_answered_240_ms_after_it_ends() -> None:
    a = outbound(AmdMode.LEAVE_MESSAGE, script=[Turn(text=OPENING)])
    await answered(a)
    start = asyncio.get_running_loop().time()
    # the LLM writes the opening at the answer; its audio waits, held, for the decision
    await wait_for(lambda: a.agent.playout.pending)
    assert a.agent.next_frame() is None
    end = await feed(a, [*silence(0.3), *voice(0.5), *silence(0.5)], start)
    (decision,) = a.record("amd")
    assert decision["kind"] == "human" and decision["reason"] == "short greeting"
    # decided 240 ms (+ a frame) after "Hello?" ends at 0.8 s
    assert 1000 <= decision["elapsed_ms"] <= 1140, decision
    assert a.record("amd_action") == [{**a.record("amd_action")[0], "action": "begin"}]
    assert a.agent.next_frame() is not None  # the opening plays at once: no LLM, no TTS wait
    # the recognizer's "Hello?" comes after the opening began: it joins the history,
    # and is neither answered again nor a barge-in
    a.stt.emit(turn_ended("Hello?"))
    await wait_for(lambda: a.record("user"))
    await settle()
    assert {"role": "user", "content": "Hello?"} in a.agent.conversation.messages
    assert len(a.llm.requests) == 1 and not a.record("barge_in")
    assert not a.record("amd_result")  # the callee might go on: "Hello? ... hi, it's Nina"
    # a pause of 1 s ends the greeting; a machine's words or a beep are listened for
    # until 2 s of quiet (greeting_end_silence)
    end = await feed(a, silence(0.8), end)
    assert not a.record("amd_result")
    await feed(a, silence(1.0), end)
    (result,) = a.record("amd_result")
    assert result["kind"] == "human" and result["action"] == "conversation"
    assert a.observer.events.count(("answer", ("human", pytest.approx(1.06, abs=0.1)))) == 1
    await a.agent.close()


async def test_a_longer_pickup_and_its_late_words_do_not_cut_the_opening() -> None:
    """ "Hi, this is Ana." is longer than the speech that commits a barge-in (0.6 s), and
    its partial and final come after the opening began: they are the turn the opening
    answers, not an interruption (both cut it at once when the held opening counted as
    started at the answer)."""
    a = outbound(AmdMode.LEAVE_MESSAGE, script=[Turn(text=OPENING)])
    await answered(a)
    await wait_for(lambda: a.agent.playout.pending)
    at = await feed(a, [*silence(0.3), *voice(1.2), *silence(0.3)])
    assert [line["action"] for line in a.record("amd_action")] == ["begin"]
    a.stt.emit(SttPartialTranscript("hi this is ana", 0, at))
    await settle()
    a.stt.emit(turn_ended("Hi, this is Ana."))
    await wait_for(lambda: a.record("user"))
    await feed(a, silence(0.3), at)
    assert not a.record("barge_in")
    assert a.agent.next_frame() is not None  # the opening plays on
    assert len(a.llm.requests) == 1  # her words are not answered again
    history = a.agent.conversation.messages
    said = {"role": "user", "content": "Hi, this is Ana."}
    assert history.index(said) < history.index({"role": "assistant", "content": OPENING})
    await a.agent.close()


async def test_a_person_who_goes_on_after_a_pause_hears_the_opening_from_its_start() -> None:
    """ "Hi, | this is Ana.": the opening begins at the pause after "Hi," (a person, 240 ms)
    and the callee goes on: the agent yields at once, the opening goes back to its first
    frame and plays whole once they stop. Their words are the turn it answers: no
    barge-in, the LLM not asked again, their words ahead of it in the history."""
    a = outbound(AmdMode.LEAVE_MESSAGE, script=[Turn(text=OPENING)])
    await answered(a)
    await wait_for(lambda: a.agent.playout.pending)
    at = await feed(a, [*silence(0.3), *voice(0.4), *silence(0.3)])  # "Hi," and its pause
    assert [r["action"] for r in a.record("amd_action")] == ["begin"]
    assert all(a.agent.next_frame() is not None for _ in range(3))  # 60 ms of it went out
    at = await feed(a, voice(1.0), at)  # "this is Ana."
    assert [r["action"] for r in a.record("amd_action")] == ["begin", "yield"]
    assert a.record("amd_action")[1]["started_over"] is True
    assert a.agent.next_frame() is None  # quiet while they speak
    await feed(a, silence(0.3), at)
    assert [r["action"] for r in a.record("amd_action")] == ["begin", "yield", "begin"]
    played = 0
    while a.agent.next_frame() is not None:
        played += 1
    assert played == -(-len(OPENING) * BYTES_PER_CHAR // 160)  # whole, from its start
    a.stt.emit(turn_ended("Hi, this is Ana."))
    await wait_for(lambda: a.record("user"))
    await settle()
    assert not a.record("barge_in") and len(a.llm.requests) == 1
    history = a.agent.conversation.messages
    said = {"role": "user", "content": "Hi, this is Ana."}
    assert history.index(said) < history.index({"role": "assistant", "content": OPENING})
    await a.agent.close()


async def test_the_opening_starts_over_at_most_twice() -> None:
    """A callee who keeps pausing: the agent yields twice, then goes on (the assistant's
    barge-in takes what they say next, as in the conversation)."""
    a = outbound(AmdMode.LEAVE_MESSAGE, script=[Turn(text=OPENING)])
    await answered(a)
    await wait_for(lambda: a.agent.playout.pending)
    at = await feed(a, [*silence(0.3), *voice(0.4), *silence(0.3)])
    for _ in range(3):
        a.agent.next_frame()
        at = await feed(a, [*voice(0.4), *silence(0.3)], at)
    actions = [r["action"] for r in a.record("amd_action")]
    assert actions == ["begin", "yield", "begin", "yield", "begin"], actions
    await a.agent.close()


async def test_a_voicemail_gets_the_message_after_its_beep_then_the_call_ends() -> None:
    a = outbound(AmdMode.LEAVE_MESSAGE, answering=AnsweringSettings(message=MESSAGE),
                 script=[Turn(text=OPENING)])  # fmt: skip
    await answered(a)
    loop = asyncio.get_running_loop()
    start = loop.time()
    greeting = [*voice(2.4), *silence(0.5)]
    at = await feed(a, greeting, start)
    beep_end = at + 0.5
    await feed(a, [*beep(0.5), *silence(0.4)], at)
    kinds = [line["kind"] for line in a.record("amd")]
    assert kinds == ["voicemail"] and a.record("amd")[0]["reason"] == "long greeting"
    (ready,) = a.record("amd_ready")
    assert ready["cause"] == "beep" and ready["beep_hz"] == pytest.approx(1000, abs=15)
    (message,) = [line for line in a.record("amd_action") if line["action"] == "message"]
    assert message["cause"] == "beep" and message["fixed"]
    assert a.tts.texts() == [OPENING, MESSAGE]  # the opening, synthesized and held
    assert opening_unheard(a)  # ... was dropped unheard
    said_at = a.agent.speaker.current.started_at
    assert 0.0 < said_at - beep_end <= 0.35  # right after the beep: quiet_after, a frame
    await tick_until_hung_up(a)
    assert a.agent.playout.finished(a.agent.speaker.current.tts.id)
    assert a.record("hangup") and a.record("amd_result")[0]["action"] == "message"
    assert len(a.llm.requests) == 1  # the opening only: no conversation with a machine
    await a.agent.close()


async def test_without_a_fixed_message_the_llm_writes_it() -> None:
    a = outbound(AmdMode.LEAVE_MESSAGE,
                 script=[Turn(text=OPENING), Turn(text="Hi, Ana here from the shop.")])  # fmt: skip
    await answered(a)
    at = await feed(a, [*voice(2.4), *silence(0.5)])
    await feed(a, [*beep(0.4), *silence(0.4)], at)
    await wait_for(lambda: len(a.llm.requests) == 2)
    note = a.llm.requests[1][-1]
    assert note["role"] == "user" and "voicemail" in note["content"]
    assert {"role": "assistant", "content": OPENING} not in a.llm.requests[1]
    await tick_until_hung_up(a)
    assert a.tts.texts() == [OPENING, "Hi, Ana here from the shop."]
    assert opening_unheard(a)
    await a.agent.close()


async def test_a_call_s_own_message_wins_with_its_variables() -> None:
    a = outbound(AmdMode.LEAVE_MESSAGE, "Hi {first_name}, your appointment is tomorrow at 3.",
                 {"first_name": "Ada"}, answering=AnsweringSettings(message=MESSAGE),
                 script=[Turn(text=OPENING)])  # fmt: skip
    await answered(a)
    at = await feed(a, [*voice(2.4), *silence(0.5)])
    await feed(a, [*beep(0.4), *silence(0.4)], at)
    assert a.tts.texts() == [OPENING, "Hi Ada, your appointment is tomorrow at 3."]
    await a.agent.close()


async def test_hang_up_on_a_voicemail_s_words() -> None:
    a = outbound(AmdMode.HANG_UP, script=[Turn(text=OPENING)])
    await answered(a)
    at = await feed(a, voice(2.2))
    assert not a.call.hangups  # long: maybe a person with an office greeting
    a.stt.emit(SttPartialTranscript("hi you have reached ana please leave a message", 0, at))
    await wait_for(lambda: a.call.hangups)
    assert [line["action"] for line in a.record("amd_action")] == ["hang_up"]
    assert a.record("amd_result")[0]["kind"] == "voicemail"
    assert a.tts.texts() == [OPENING] and len(a.llm.requests) == 1  # the held opening only
    assert opening_unheard(a)
    await a.agent.close()


async def test_hang_up_mode_talks_to_a_long_greeting_that_turns_out_a_person() -> None:
    """The hard case: a person answering with an office greeting is long, and is held for
    its words rather than called a voicemail for its length; the words, 0.3 s after they
    stop, make it a person: the agent talks, never hangs up."""
    a = outbound(AmdMode.HANG_UP, script=[Turn(text=OPENING)])
    await answered(a)
    await feed(a, [*voice(2.6), *silence(0.3)])
    assert not a.record("amd")  # long, but its words may name a person: held
    a.stt.emit(turn_ended("Hello, this is Doctor Smith's office, how can I help you?"))
    await wait_for(lambda: a.record("amd"))
    assert [line["kind"] for line in a.record("amd")] == ["human"]
    # the opening, written at the answer and held, plays at once, after the person's
    # words in the history
    assert a.agent.next_frame() is not None and len(a.llm.requests) == 1
    history = a.agent.conversation.messages
    said = {"role": "user", "content": "Hello, this is Doctor Smith's office, how can I help you?"}
    assert history.index(said) < history.index({"role": "assistant", "content": OPENING})
    assert not a.call.hangups
    await a.agent.close()


async def test_a_long_greeting_s_late_words_revise_the_length_decision() -> None:
    """The words come after words_wait (a slow recognizer): a voicemail by length first,
    then a person; hang_up mode never hangs up on the length alone."""
    a = outbound(AmdMode.HANG_UP, script=[Turn(text=OPENING)])
    await answered(a)
    await feed(a, [*voice(2.6), *silence(0.7)])
    assert [line["reason"] for line in a.record("amd")] == ["long greeting"]
    a.stt.emit(turn_ended("Hello, this is Doctor Smith's office, how can I help you?"))
    await wait_for(lambda: len(a.record("amd")) == 2)
    assert [line["kind"] for line in a.record("amd")] == ["voicemail", "human"]
    assert a.agent.next_frame() is not None and not a.call.hangups
    await a.agent.close()


async def test_a_person_named_while_speaking_hears_the_agent_once_they_stop() -> None:
    """ "Riverside Dental, this is Kim speaking, | how may I help you?": the partial that
    names a person comes while they still speak; the opening waits for their pause."""
    a = outbound(AmdMode.LEAVE_MESSAGE, script=[Turn(text=OPENING)])
    await answered(a)
    await wait_for(lambda: a.agent.playout.pending)
    loop = asyncio.get_running_loop()
    at = await feed(a, voice(1.4))
    a.stt.emit(SttPartialTranscript("good afternoon riverside dental this is kim speaking", 0, at))
    await wait_for(lambda: a.record("amd"))
    assert a.record("amd")[0]["kind"] == "human"
    at = await feed(a, voice(1.0), at)  # "how may I help you?"
    assert not a.record("amd_action") and a.agent.next_frame() is None  # not over them
    end = at
    await feed(a, silence(0.3), at)
    (begin,) = a.record("amd_action")
    assert begin["action"] == "begin"
    began = loop.time()
    assert 0.2 <= began - end <= 0.32  # their pause (240 ms, a frame), as for "Hello?"
    assert a.agent.next_frame() is not None
    await a.agent.close()


async def test_an_announcement_is_hung_up_on() -> None:
    a = outbound(AmdMode.LEAVE_MESSAGE)
    await answered(a)
    await feed(a, [*silence(0.2), *special_information_tone(), *silence(0.3)])
    await wait_for(lambda: a.call.hangups)
    (decision,) = a.record("amd")
    assert decision["kind"] == "announcement" and decision["evidence"] == "tone"
    assert a.record("amd_result")[0]["action"] == "hang_up"
    await a.agent.close()


async def test_a_screener_is_answered_then_the_person_who_picks_up_is_greeted() -> None:
    a = outbound(
        AmdMode.LEAVE_MESSAGE, answering=AnsweringSettings(screener_line=SCREENER_LINE),
        script=[Turn(text=OPENING), Turn(text="Hi Bob, this is Ana from the shop.")],
    )  # fmt: skip
    await answered(a)
    at = await feed(a, voice(3.0))
    prompt = "Hi, I'm Call Assist by Google. Can I ask what you're calling about?"
    a.stt.emit(turn_ended(prompt))
    at = await feed(a, silence(1.0), at)
    assert [line["kind"] for line in a.record("amd")][-1] == "screener"
    assert a.tts.texts() == [OPENING, SCREENER_LINE] and opening_unheard(a)
    # the screener hears the answer, then "stay on the line", then the person
    loop = asyncio.get_running_loop()
    while a.agent.playout.pending:
        a.agent.next_frame()
        await asyncio.sleep(0.02)
    await settle()
    at = await feed(a, [*voice(1.0), *silence(0.5)])
    a.stt.emit(turn_ended("Please stay on the line.", 1))
    at = await feed(a, silence(1.0), at)
    # its notice is over (0.8 s of silence) and asks nothing: detection listens again. Waited
    # for: on a loaded machine the frames above come late and bunched, and the detector's
    # timer, not their count, says when 0.8 s have passed (a CI run fed the person's
    # "Hello?" into the screener's round)
    await wait_for(lambda: [r["action"] for r in a.record("amd_action")][-1:] == ["wait"])
    at = await feed(a, [*voice(0.5), *silence(0.3)])
    assert len(a.llm.requests) == 1  # the screener's own words begin nothing
    a.stt.emit(turn_ended("Hello?", 2))
    await wait_for(lambda: len(a.llm.requests) == 2)
    history = a.llm.requests[1]
    assert {"role": "assistant", "content": SCREENER_LINE} in history
    assert history[-1] == {"role": "user", "content": "Hello?"}
    await wait_for(lambda: a.agent.playout.pending)
    assert a.agent.next_frame() is not None  # the person hears the greeting
    assert {"role": "user", "content": "Please stay on the line."} not in history
    await feed(a, silence(2.2), at)
    (result,) = a.record("amd_result")
    assert result["kind"] == "human" and result["screener_answers"] == 1
    assert loop.time() > at
    await a.agent.close()


SCREENER_PROMPT = "Hi, I'm Call Assist by Google. Can I ask what you're calling about?"


async def screener_asks(a: Assistant, question: str, order: int = 0) -> float:
    """The screener's question (3 s of it, its words at its end) and the 0.8 s of silence
    after which it is answered; returns when the next frame would be due."""
    at = await feed(a, voice(3.0))
    a.stt.emit(turn_ended(question, order))
    return await feed(a, silence(1.0), at)


async def screener_hears(a: Assistant) -> str:
    """Run the agent's answer out to the screener, as the ticker does; returns what of it
    was heard."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    answer = a.agent.speaker.current
    assert answer is not None
    while not a.agent.playout.finished(answer.tts.id):
        assert loop.time() < deadline, "the answer did not play out"
        a.agent.next_frame()
        await asyncio.sleep(0.02)
    await settle()
    return a.agent.playout.heard_text(answer.tts.id)


async def test_the_screener_s_question_finished_late_is_not_answered_again() -> None:
    """The recognizer's final of the question comes after the answer was said (its words
    were heard in part before): it is the question answered, not a new one in the round
    after it. A whole CI run answered the screener twice so, the second time over the
    person's "Hello?"."""
    settings = AnsweringSettings(screener_line=SCREENER_LINE)
    a = outbound(AmdMode.LEAVE_MESSAGE, answering=settings,
                 script=[Turn(text=OPENING), Turn(text="Hi Bob, this is Ana.")])  # fmt: skip
    await answered(a)
    at = await feed(a, voice(3.0))
    now = asyncio.get_running_loop().time()
    a.stt.emit(SttPartialTranscript(SCREENER_PROMPT.rstrip("?").lower(), 0, now))
    await feed(a, silence(1.0), at)
    assert [r["action"] for r in a.record("amd_action")] == ["screener_answer"]
    assert await screener_hears(a) == SCREENER_LINE
    a.stt.emit(turn_ended(SCREENER_PROMPT))  # late: the round after the answer has begun
    at = await feed(a, silence(0.5))
    at = await feed(a, [*voice(1.0), *silence(0.5)], at)
    a.stt.emit(turn_ended("Please stay on the line.", 1))
    await feed(a, silence(1.0), at)
    await wait_for(lambda: [r["action"] for r in a.record("amd_action")][-1:] == ["wait"])
    at = await feed(a, [*voice(0.5), *silence(0.3)])
    a.stt.emit(turn_ended("Hello?", 2))
    await wait_for(lambda: len(a.llm.requests) == 2)
    actions = [r["action"] for r in a.record("amd_action")]
    assert actions == ["screener_answer", "wait", "begin"], actions
    assert a.tts.texts().count(SCREENER_LINE) == 1
    await a.agent.close()


async def test_without_a_screener_line_the_llm_answers_what_the_screener_asked() -> None:
    """``SIPGW_AMD_SCREENER_LINE`` empty: the LLM is asked with the screener's words, and
    what it writes is said to the screener, whole (not held like the opening)."""
    answer = "This is Ana from the shop, calling Bob about his order."
    a = outbound(AmdMode.LEAVE_MESSAGE, script=[Turn(text=OPENING), Turn(text=answer)])
    await answered(a)
    await screener_asks(a, SCREENER_PROMPT)
    await wait_for(lambda: len(a.llm.requests) == 2)
    note = a.llm.requests[1][-1]
    assert note["role"] == "user" and "A call screener answered" in note["content"]
    assert f"said: {SCREENER_PROMPT} Answer it" in note["content"]
    assert {"role": "assistant", "content": OPENING} not in a.llm.requests[1]
    (action,) = a.record("amd_action")
    assert action["action"] == "screener_answer" and action["fixed"] is False
    await wait_for(lambda: a.agent.playout.pending)
    assert await screener_hears(a) == answer
    assert " ".join(a.tts.texts()[1:]) == answer and opening_unheard(a)
    assert not a.call.hangups
    await a.agent.close()


async def test_a_screener_asking_once_more_than_allowed_is_hung_up_on() -> None:
    """``SIPGW_AMD_SCREENER_ANSWERS`` (here 1): its first question is answered; asked
    again, the call hangs up, with no second answer, and the result says so."""
    settings = AnsweringSettings(screener_line=SCREENER_LINE, max_screener_answers=1)
    a = outbound(AmdMode.LEAVE_MESSAGE, answering=settings, script=[Turn(text=OPENING)])
    await answered(a)
    await screener_asks(a, SCREENER_PROMPT)
    assert [r["action"] for r in a.record("amd_action")] == ["screener_answer"]
    assert await screener_hears(a) == SCREENER_LINE
    assert not a.call.hangups
    await screener_asks(a, "Sorry, please say your name and reason for calling.", 1)
    await wait_for(lambda: a.call.hangups)
    actions = a.record("amd_action")
    assert [r["action"] for r in actions] == ["screener_answer", "hang_up"]
    assert actions[-1]["kind"] == "screener"
    assert [line["kind"] for line in a.record("amd")][-1] == "screener"
    (result,) = a.record("amd_result")
    assert result["kind"] == "screener" and result["action"] == "hang_up"
    assert result["screener_answers"] == 1
    assert a.tts.texts() == [OPENING, SCREENER_LINE] and len(a.llm.requests) == 1
    await a.agent.close()


async def test_when_no_one_comes_after_the_screener_the_agent_speaks_anyway() -> None:
    """``SIPGW_AMD_SCREENER_WAIT`` (here 1.5 s) of silence after the answer: detection's
    deadline, a decision of ``unknown``, and the agent begins as for a person (someone may
    be listening); it neither hangs up nor leaves a message."""
    settings = AnsweringSettings(screener_line=SCREENER_LINE, screener_wait=1.5)
    hello = "Hello, this is Ana from the shop, calling for Bob."
    a = outbound(AmdMode.LEAVE_MESSAGE, answering=settings,
                 script=[Turn(text=OPENING), Turn(text=hello)])  # fmt: skip
    await answered(a)
    await screener_asks(a, SCREENER_PROMPT)
    await screener_hears(a)
    at = await feed(a, silence(1.2))
    assert [r["action"] for r in a.record("amd_action")] == ["screener_answer"]
    assert len(a.llm.requests) == 1 and not a.record("amd_result")
    await feed(a, silence(0.6), at)
    await wait_for(lambda: len(a.llm.requests) == 2)
    waited = a.record("amd")[-1]
    assert waited["kind"] == "unknown" and waited["reason"] == "silence"
    assert waited["round"] == 1 and 1500 <= waited["elapsed_ms"] <= 1600, waited
    actions = a.record("amd_action")
    assert [r["action"] for r in actions] == ["screener_answer", "begin"]
    assert actions[-1]["reason"] == "silence"
    assert a.llm.requests[1][-1] == {"role": "assistant", "content": SCREENER_LINE}
    await wait_for(lambda: a.agent.playout.pending)
    assert a.agent.next_frame() is not None  # whoever is there hears the agent
    (result,) = a.record("amd_result")
    assert result["kind"] == "unknown" and result["action"] == "conversation"
    assert result["screener_answers"] == 1
    assert " ".join(a.tts.texts()[2:]) == hello and not a.call.hangups
    await a.agent.close()


async def test_detect_mode_speaks_at_once_and_only_records() -> None:
    a = outbound(AmdMode.DETECT, script=[Turn(text="Hi, this is Ana from the shop.")])
    await answered(a)
    await wait_for(lambda: a.llm.requests)  # the opening did not wait
    at = await feed(a, [*voice(2.4), *silence(0.5)])
    await feed(a, [*beep(0.4), *silence(0.4)], at)
    assert a.record("amd") and a.record("amd")[0]["kind"] == "voicemail"
    assert not a.record("amd_action") and not a.call.hangups
    assert a.record("amd_result")[0]["action"] == "conversation"
    await a.agent.close()


async def test_the_tool_sees_who_answered() -> None:
    a = outbound(AmdMode.LEAVE_MESSAGE, script=[Turn(text="Hi.")])
    await answered(a)
    context = a.agent.conversation.ctx  # what the tools get
    assert context.answered_by()["answered_by"] == "undecided"
    await feed(a, [*voice(0.5), *silence(2.2)])
    answer = context.answered_by()
    assert answer == {**answer, "mode": "leave_message", "answered_by": "human", "final": True,
                      "action": "conversation"}  # fmt: skip
    await a.agent.close()


async def test_an_inbound_call_runs_no_detection() -> None:
    a = assistant()
    assert a.agent.answering is None
    context = a.agent.conversation.ctx
    assert context.answered_by() == {"mode": "off"}
    await a.agent.close()


async def test_the_result_is_recorded_when_the_call_ends_undecided() -> None:
    a = outbound(AmdMode.HANG_UP)
    await answered(a)
    await feed(a, silence(0.5))
    await a.agent.close()
    (result,) = a.record("amd_result")
    assert result["kind"] == "undecided" and result["reason"] == "call ended"
    assert result["action"] == "none" and result["elapsed_ms"] is None  # docs/webhooks.md
    assert not [e for e in a.observer.events if e[0] == "answer"]


async def test_a_voicemail_s_words_after_the_conversation_began_stop_the_agent() -> None:
    """ "Hi, it's Nina!" is a person; the agent begins; the greeting pauses over a second
    (the conversation's now), then says "leave a message" and beeps: the agent stops, the
    LLM is told, and the message is left after the beep."""
    a = outbound(AmdMode.LEAVE_MESSAGE, answering=AnsweringSettings(message=MESSAGE),
                 script=[Turn(text=OPENING)])  # fmt: skip
    await answered(a)
    await wait_for(lambda: a.agent.playout.pending)
    at = await feed(a, [*voice(0.6), *silence(1.3)])
    assert [line["kind"] for line in a.record("amd")] == ["human"]
    assert a.agent.answering is not None and a.agent.answering.detector is not None
    assert a.agent.answering.detector.classifier.machines_only  # greeted, still listening
    at = await feed(a, voice(1.5), at)
    a.stt.emit(turn_ended("Leave a message after the tone.", 1))
    await wait_for(lambda: len(a.record("amd")) == 2)
    assert [line["kind"] for line in a.record("amd")] == ["human", "voicemail"]
    (stop,) = [line for line in a.record("amd_action") if line["action"] == "stop"]
    assert stop["late"] is True
    notes = [m["content"] for m in a.agent.conversation.messages if m["role"] == "user"]
    assert any("not a person: a voicemail answered" in n for n in notes), notes
    at = await feed(a, [*silence(0.4), *beep(0.5), *silence(0.4)], at)
    (message,) = [line for line in a.record("amd_action") if line["action"] == "message"]
    assert message["cause"] == "beep"
    assert a.tts.texts()[-1] == MESSAGE
    (result,) = a.record("amd_result")
    assert result["kind"] == "voicemail" and result["action"] == "message"
    await a.agent.close()


async def test_a_beep_after_the_conversation_began_hangs_up_in_hang_up_mode() -> None:
    a = outbound(AmdMode.HANG_UP, script=[Turn(text=OPENING)])
    await answered(a)
    at = await feed(a, [*voice(0.6), *silence(1.3)])
    assert a.record("amd_action")[0]["action"] == "begin"
    await feed(a, [*voice(1.0), *silence(0.5), *beep(0.5), *silence(0.3)], at)
    await wait_for(lambda: a.call.hangups)
    assert [line["kind"] for line in a.record("amd")] == ["human", "voicemail"]
    assert a.record("amd")[1]["reason"] == "beep"
    await a.agent.close()


async def test_a_person_s_long_answer_once_greeted_is_no_voicemail() -> None:
    """After the greeting is over, length and a weak machine phrase revise nothing."""
    a = outbound(AmdMode.LEAVE_MESSAGE, script=[Turn(text=OPENING)])
    await answered(a)
    at = await feed(a, [*voice(0.5), *silence(1.2)])
    at = await feed(a, [*voice(3.0), *silence(0.3)], at)
    a.stt.emit(turn_ended("Oh, my husband is not available right now, he is at work.", 1))
    await feed(a, silence(2.2), at)
    assert [line["kind"] for line in a.record("amd")] == ["human"]
    (result,) = a.record("amd_result")
    assert result["kind"] == "human" and result["action"] == "conversation"
    await a.agent.close()


async def test_a_stall_of_the_gateway_in_a_pause_does_not_begin_over_the_words() -> None:
    """ "Hi, | this is Ana.", and the gateway's loop kept from running for 0.3 s in the 120
    ms pause after "Hi,": the frames due meanwhile come together when it runs again, the
    pause's and then the words'. The pause is no longer than it was: the opening begins
    once, 240 ms after the words end. Timed at arrival, the first frame of the pause seemed
    to come 0.3 s after "Hi,": the opening began over "this is Ana" (and yielded, one of the
    two times it may)."""
    a = outbound(AmdMode.LEAVE_MESSAGE, script=[Turn(text=OPENING)])
    await answered(a)
    await wait_for(lambda: a.agent.playout.pending)
    at = await feed(a, [*silence(0.3), *voice(0.4)])  # "Hi,"
    words = [*silence(0.12), *voice(1.0)]  # its pause, "this is Ana."
    time.sleep(0.3)  # noqa: ASYNC251  # the stall: the loop runs nothing meanwhile
    for frame in words[:15]:  # the 300 ms due meanwhile
        a.agent.on_caller_audio(frame)
    assert not a.record("amd_action")
    at = await feed(a, words[15:], at + 0.3)
    assert not a.record("amd_action")  # not before their words end
    await feed(a, silence(0.3), at)
    assert [r["action"] for r in a.record("amd_action")] == ["begin"]
    (decision,) = a.record("amd")
    assert decision["kind"] == "human" and decision["reason"] == "short greeting"
    await a.agent.close()
