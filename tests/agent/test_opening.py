"""How a call opens (agent/opening.py): the first words and the per-call system prompt."""

from __future__ import annotations

import calendar

import pytest

from agent.base import CallPurpose
from agent.opening import NO_REASON, Opening, fixed_opening, llm_opens, plan_opening, system_prompt
from agent.settings import AssistantSettings, BuiltinToolSettings

NOW = calendar.timegm((2025, 3, 14, 15, 9, 26))  # a Friday, UTC
SETTINGS = AssistantSettings(
    system_prompt="You are the shop's agent.",
    greeting="Hi, shop here.",
    callback_greeting="Hello, calling back about {reason}.",
    builtin_tools=BuiltinToolSettings(callback_timezone="UTC"),
)
REFUND = CallPurpose(reason="your refund", notes="Order 1234.", requested_time="after 5 pm")


@pytest.mark.parametrize(
    ("direction", "purpose", "greeting", "llm_writes"),
    [
        ("inbound", None, "Hi, shop here.", False),
        ("outbound", REFUND, "Hello, calling back about your refund.", False),
        ("outbound", CallPurpose(), f"Hello, calling back about {NO_REASON}.", False),
        ("outbound", None, "", True),  # a plain outbound call: the LLM opens
    ],
)
def test_who_says_the_first_words(direction, purpose, greeting, llm_writes) -> None:
    assert fixed_opening(SETTINGS, direction, purpose) == greeting
    assert llm_opens(SETTINGS, direction, purpose) is llm_writes


def test_without_a_callback_greeting_the_llm_opens_a_callback() -> None:
    settings = AssistantSettings(callback_greeting="")
    assert fixed_opening(settings, "outbound", REFUND) == ""
    assert llm_opens(settings, "outbound", REFUND)


def test_an_inbound_call_without_a_greeting_waits_for_the_caller() -> None:
    settings = AssistantSettings(greeting="")
    assert fixed_opening(settings, "inbound", None) == ""
    assert not llm_opens(settings, "inbound", None)  # the caller speaks first


def test_every_prompt_has_the_date_and_time() -> None:
    prompt = system_prompt(SETTINGS, "inbound", None, NOW)
    assert prompt.startswith("You are the shop's agent.\n\n")
    assert "The current date and time is" in prompt and "2025" in prompt
    assert "placed this call" not in prompt


def test_a_callback_prompt_says_why_and_that_it_greeted() -> None:
    prompt = system_prompt(SETTINGS, "outbound", REFUND, NOW)
    assert "the call back the person asked for, about your refund" in prompt
    assert "They asked to be called: after 5 pm." in prompt
    assert "Notes from their earlier call: Order 1234." in prompt
    assert "You have greeted them already" in prompt


def test_a_plain_outbound_prompt_asks_the_llm_to_speak_first() -> None:
    prompt = system_prompt(SETTINGS, "outbound", None, NOW)
    assert "You placed this call; the person has just answered." in prompt
    assert "Speak first" in prompt and "greeted them already" not in prompt


def test_a_bad_time_zone_never_fails_a_call() -> None:
    settings = AssistantSettings(builtin_tools=BuiltinToolSettings(callback_timezone="Nowhere/X"))
    assert "The current date and time is" in system_prompt(settings, "inbound", None, NOW)


def test_plan_opening_decides_all_three_once() -> None:
    assert plan_opening(SETTINGS, "outbound", REFUND, NOW) == Opening(
        greeting="Hello, calling back about your refund.",
        llm_writes=False,
        system_prompt=system_prompt(SETTINGS, "outbound", REFUND, NOW),
    )
    plain = plan_opening(SETTINGS, "outbound", None, NOW)
    assert (plain.greeting, plain.llm_writes) == ("", True)
