"""The model's answers to the navigator, and the rules when it cannot (agent/ivr/decider.py)."""

from __future__ import annotations

import pytest

from sipgw.agent.ivr.decider import MenuDecider, parse_decision
from sipgw.agent.ivr.navigator import DecisionWanted, Step
from sipgw.agent.ivr.steps import Press, Reached, Say, Stuck, Voicemail, Wait
from tests.agent.parts import ScriptedLlm, Turn

pytestmark = pytest.mark.timeout(10)

GOAL = "reach billing and ask for the balance"
MAIN = "For billing, press 1. For support, press 2."
WANTED = DecisionWanted(
    MAIN, (Step("heard", "Welcome."), Step("pressed", "9"), Step("heard", MAIN))
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"action": "press", "digits": "1", "reason": "billing"}', Press("1", "billing")),
        ('Sure: {"action": "press", "digits": "1 2#"}', Press("12#")),
        ('{"action": "say", "words": "billing"}', Say("billing")),
        ('{"action": "wait"}', Wait()),
        ('{"action": "reached", "reason": "Sam answers"}', Reached("Sam answers")),
        ('{"action": "stuck"}', Stuck()),
        ('{"action": "voicemail"}', Voicemail()),
        ('{"action": "press", "digits": "call 911"}', None),
        ('{"action": "say", "words": " "}', None),
        ('{"action": "dance"}', None),
        ("press 1", None),
        ("[1, 2]", None),
        ('{"action": "press", "digits": "1"', None),
    ],
)
def test_answers_that_can_be_carried_out(text: str, expected: object) -> None:
    assert parse_decision(text) == expected


async def test_the_model_decides_from_the_goal_and_the_story_so_far() -> None:
    llm = ScriptedLlm([Turn(text='{"action": "press", "digits": "1", "reason": "billing"}')])
    decision, by, why = await MenuDecider(GOAL, llm).decide(WANTED)
    assert (decision, by, why) == (Press("1", "billing"), "model", "")
    (system, user) = llm.requests[0]
    assert GOAL in system["content"] and system["role"] == "system"
    assert user["content"] == (f"The menu said: Welcome.\nYou pressed: 9\nThe menu said: {MAIN}")


async def test_the_rules_decide_when_the_model_cannot() -> None:
    llm = ScriptedLlm([Turn(text="I would press one."), Turn(error="down"),
                       Turn(text='{"action": "wait"}', delay=1.0)])  # fmt: skip
    decider = MenuDecider(GOAL, llm, timeout=0.2)
    decision, by, why = await decider.decide(WANTED)
    assert (decision.__class__, by) == (Press, "rules") and "unusable answer" in why
    assert isinstance(decision, Press) and decision.digits == "1"
    decision, by, why = await decider.decide(WANTED)
    assert by == "rules" and why == "model error: down"
    decision, by, why = await decider.decide(WANTED)
    assert by == "rules" and why == "timeout"
    decision, by, why = await MenuDecider(GOAL, None).decide(WANTED)
    assert (decision, by, why) == (Press("1", "'billing' matches the goal"), "rules", "no model")
