"""Reading a menu's options and the rules' choice (agent/ivr/menu.py)."""

from __future__ import annotations

import pytest

from sipgw.agent.ivr.menu import MenuOption, goal_words, menu_options, rule_decision
from sipgw.agent.ivr.steps import Press, Reached, Voicemail, Wait

MAIN = "Welcome to Acme. For billing, press 1. For technical support, press 2. For sales, press 3."
BILLING = (
    "Billing. To hear your balance, press one. To pay a bill, press two. "
    "To return to the main menu, press star."
)

OPTIONS = [
    (MAIN, [("1", "billing"), ("2", "technical support"), ("3", "sales")]),
    (BILLING, [("1", "hear your balance"), ("2", "pay a bill"), ("*", "return to the main menu")]),
    (
        "Press 1 for billing, press 2 for support, or press pound to hear these options again.",
        [("1", "billing"), ("2", "support"), ("#", "hear these options again")],
    ),
    ("If you would like to speak to an agent, press 0.", [("0", "speak to an agent")]),
    ("For orders, dial 4 now.", [("4", "orders")]),
    # a transcript without punctuation: one sentence, read the same way
    (
        "welcome to acme for billing press 1 for technical support press 2",
        [("1", "billing"), ("2", "technical support")],
    ),
    ("press 1 for billing press 2 for support", [("1", "billing"), ("2", "support")]),
    ("Thank you for calling. Please hold.", []),
    ("Press 1. Press 1.", []),  # keys without words offer nothing to choose by
]


@pytest.mark.parametrize(("text", "expected"), OPTIONS)
def test_options_are_read_with_their_words(text: str, expected: list[tuple[str, str]]) -> None:
    assert menu_options(text) == tuple(MenuOption(k, label) for k, label in expected)


def test_goal_words_leave_out_the_little_words() -> None:
    assert goal_words("Reach billing and ask for the balance") == ("billing", "balance")


@pytest.mark.parametrize(
    ("goal", "heard", "expected"),
    [
        ("reach billing and ask for the balance", MAIN, Press("1")),
        ("talk to sales about a new contract", MAIN, Press("3")),
        ("reach billing and ask for the balance", BILLING, Press("1")),
        ("technical support for my router", MAIN, Press("2")),
        ("ask about a refund", MAIN, Wait()),
        ("reach billing", "Billing department, this is Sam speaking. How can I help you?",
         Reached()),
        ("reach billing", "Sorry, our sales office is closed.", Wait()),
        ("reach billing", "Please leave a message after the tone.", Voicemail()),
    ],
)  # fmt: skip
def test_the_rules_choose_by_the_goal_s_words(goal: str, heard: str, expected: object) -> None:
    decision = rule_decision(goal, heard)
    assert type(decision) is type(expected)
    if isinstance(expected, Press):
        assert isinstance(decision, Press) and decision.digits == expected.digits


def test_the_option_that_names_more_of_the_goal_wins() -> None:
    heard = "For bills, press 1. For a bill balance enquiry, press 2."
    decision = rule_decision("the balance of my bill", heard)
    assert decision == Press("2", "'a bill balance enquiry' matches the goal")
