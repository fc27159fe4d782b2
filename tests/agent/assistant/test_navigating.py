"""A placed call's way through a phone menu on the assistant (agent/assistant/navigating.py).

The assistant runs on the in-memory doubles (tests/agent/parts.py); the menu's words come
from the test as the speech recognizer's finished turns, the model's answers from its
script (an answer it cannot use leaves the decision to the rules).
"""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.amd.settings import AmdMode, AmdRequest
from sipgw.agent.services.stt.base import SttTurnEnded
from tests.agent.parts import Assistant, FakeCall, Turn, assistant, settle, wait_for

pytestmark = pytest.mark.timeout(30)

GOAL = "reach billing and ask for the balance"
MAIN = "Welcome to Acme. For billing, press 1. For support, press 2."
HELLO = "Billing department, this is Sam speaking. How can I help you?"
OPENING = "Hi Sam, I am calling about the balance of account 42."


def placed(goal: str = GOAL, script: tuple[Turn, ...] = (), **call: object) -> Assistant:
    return assistant(
        call=FakeCall(direction="outbound", ivr_goal=goal, **call),  # type: ignore[arg-type]
        script=script,
    )


async def answered(a: Assistant) -> None:
    await a.agent.prepare()
    a.agent.on_answered()


def heard(a: Assistant, text: str, order: int) -> None:
    a.stt.emit(SttTurnEnded(text, order, (), asyncio.get_running_loop().time(), None))


async def test_the_menu_leads_to_the_goal_and_the_agent_takes_over() -> None:
    a = placed(script=(Turn(text='{"action": "press", "digits": "1", "reason": "billing"}'),
                       Turn(text='{"action": "reached", "reason": "Sam answers"}'),
                       Turn(text=OPENING)))  # fmt: skip
    await answered(a)
    assert a.record("ivr_start") == [{**a.record("ivr_start")[0], "goal": GOAL}]
    heard(a, MAIN, 0)
    await wait_for(lambda: a.call.dtmf == ["1"])
    (system, user) = a.llm.requests[0]
    assert GOAL in system["content"] and MAIN in user["content"]
    (step,) = a.record("ivr_step")
    assert {k: step[k] for k in ("heard", "decision", "digits", "by")} == {
        "heard": MAIN, "decision": "press", "digits": "1", "by": "model"
    }  # fmt: skip
    assert not a.agent.playout.pending  # the agent says nothing to the menu
    heard(a, HELLO, 1)
    await wait_for(lambda: a.record("ivr_result"))
    (result,) = a.record("ivr_result")
    assert {k: result[k] for k in ("goal", "outcome", "reason", "digits", "steps")} == {
        "goal": GOAL, "outcome": "reached", "reason": "Sam answers", "digits": "1", "steps": 1
    }  # fmt: skip
    # the line's agent takes over: the LLM writes the opening, told what the menu led to
    await wait_for(lambda: len(a.llm.requests) == 3)
    note = [m["content"] for m in a.llm.requests[2] if "phone menu" in str(m["content"])]
    assert note and HELLO in note[0] and "keys pressed: 1" in note[0]
    await wait_for(lambda: a.agent.playout.pending)
    assert not a.call.hangups
    await a.agent.close("remote-bye")
    assert len(a.record("ivr_result")) == 1


async def test_the_same_prompt_three_times_is_stuck_and_hangs_up() -> None:
    # The model's answers are unusable ("Okay."): the rules decide, and find no option for
    # a refund; the menu repeats itself.
    a = placed(goal="ask about a refund")
    await answered(a)
    for n in range(3):
        heard(a, MAIN, n)
        await settle()
    await wait_for(lambda: a.call.hangups == 1)
    (result,) = a.record("ivr_result")
    assert result["outcome"] == "stuck" and "the same prompt 3 times" in result["reason"]
    assert a.record("hangup") == [{**a.record("hangup")[0], "reason": "ivr_stuck"}]
    steps = a.record("ivr_step")
    assert steps and all(s["by"] == "rules" and s["decision"] == "wait" for s in steps)
    assert "unusable answer" in steps[0]["fallback"]
    assert a.call.dtmf == []


async def test_digits_the_allow_list_refuses_are_stuck() -> None:
    a = placed(script=(Turn(text='{"action": "press", "digits": "1"}'),), refuse=True)
    await answered(a)
    heard(a, MAIN, 0)
    await wait_for(lambda: a.call.hangups == 1)
    (result,) = a.record("ivr_result")
    assert result["outcome"] == "stuck" and "refused" in result["reason"]
    assert a.record("dial_refused")


async def test_a_voicemail_ends_it_and_the_call_ending_first_is_hung_up() -> None:
    a = placed(script=(Turn(text='{"action": "voicemail", "reason": "a beep"}'),))
    await answered(a)
    heard(a, "Please leave a message after the tone.", 0)
    await wait_for(lambda: a.call.hangups == 1)
    assert a.record("ivr_result")[0]["outcome"] == "voicemail"
    b = placed()
    await answered(b)
    await b.agent.close("remote-bye")
    (result,) = b.record("ivr_result")
    assert result["outcome"] == "hung_up" and not b.call.hangups


async def test_a_goal_takes_the_call_instead_of_answering_machine_detection() -> None:
    a = placed(amd=AmdRequest(AmdMode.LEAVE_MESSAGE))
    assert a.agent.navigation is not None and a.agent.answering is None
    b = assistant(call=FakeCall(direction="outbound", amd=AmdRequest(AmdMode.LEAVE_MESSAGE)))
    assert b.agent.navigation is None and b.agent.answering is not None
    await a.agent.close()
    await b.agent.close()


async def test_a_prompt_heard_while_the_agent_prepared_is_taken_at_the_answer() -> None:
    """The callee's audio reaches the agent from the answer on, while it still prepares
    (the menu speaks at once): a prompt finished by then is the navigator's first."""
    a = placed(script=(Turn(text='{"action": "press", "digits": "1"}'),))
    await a.agent.prepare()
    heard(a, MAIN, 0)
    await settle()
    assert a.call.dtmf == [] and not a.record("ivr_heard")
    a.agent.on_answered()
    await wait_for(lambda: a.call.dtmf == ["1"])
    assert [r["text"] for r in a.record("ivr_heard")] == [MAIN]
    await a.agent.close()


async def test_a_menu_that_listens_hears_the_words_in_the_agent_s_voice() -> None:
    """``say``: the words are spoken (the playout let out for them), then the menu goes on."""
    a = placed(script=(Turn(text='{"action": "say", "words": "billing"}'),
                       Turn(text='{"action": "reached"}'), Turn(text=OPENING)))  # fmt: skip
    await answered(a)
    heard(a, "Please say the name of the department you want.", 0)
    await wait_for(lambda: "billing" in a.tts.texts())
    await wait_for(lambda: a.agent.playout.pending)
    assert not a.agent.playout.held and a.call.dtmf == []
    (step,) = a.record("ivr_step")
    assert (step["decision"], step["words"], step["by"]) == ("say", "billing", "model")
    heard(a, HELLO, 1)
    await wait_for(lambda: a.record("ivr_result"))
    assert a.record("ivr_result")[0]["outcome"] == "reached"
    await a.agent.close()
